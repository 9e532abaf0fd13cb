"""The pipeline home: the registry of recordings, step outputs, the DuckDB/Parquet warehouse and its query sandbox, search, summaries, the inbox's files."""
