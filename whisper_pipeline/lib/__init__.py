"""Pure audio, speaker and warehouse code: no Dagster imports, testable without an instance."""
