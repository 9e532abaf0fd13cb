"""whisper_pipeline: a Dagster code location turning recordings into speaker-attributed
transcripts and DuckDB analytics. Importing it loads no model and touches no disk."""
