"""whisper_pipeline: a Dagster code location turning recordings into speaker-attributed
transcripts and DuckDB analytics. Importing it loads no model and touches no disk."""

# The code location's name wherever it is loaded (the repository's workspace.yaml, the one
# `whisper-pipeline ui` writes into DAGSTER_HOME, the CLI's runs): a run re-executes from the UI
# only when the UI's location has the name the run was made under.
CODE_LOCATION = "whisper_pipeline"
