"""Pure functions and records: what a recording's results are and how they are measured, shown and exported; no model, no Dagster, no database."""
