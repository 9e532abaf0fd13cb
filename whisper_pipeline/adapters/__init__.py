"""Every use of a library's internals, fenced in one module per library.

Each adapter checks on import that the installed library is a version its internals were
tested against (adapters/versions.py), so an upgrade fails here, once, with a message naming
the package, instead of somewhere deep in a run. whisper_pipeline_tests/integration/adapters/ holds one
test per internal relied on; test_layers.py refuses such touches anywhere else."""
