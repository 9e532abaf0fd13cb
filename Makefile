# The two commands: `make demo` (set up, then process the sample recordings) and `make test`.
VENV ?= .venv

.PHONY: setup demo test test-fast ui lint bench

setup:
	bash scripts/setup.sh

demo: setup
	$(VENV)/bin/whisper-pipeline samples samples
	$(VENV)/bin/whisper-pipeline run samples

test: setup
	bash scripts/test.sh

# the inner loop: the unit tier, pure lib/ code and the code location's shape (no model loaded
# by a step, no daemon, worker or broker; under a minute). `-m integration` / `-m system`: the others
test-fast: setup
	$(VENV)/bin/python -m pytest -p no:cacheprovider -m unit

ui: setup
	$(VENV)/bin/whisper-pipeline ui

lint: setup
	$(VENV)/bin/ruff check whisper_pipeline whisper_pipeline_tests
	$(VENV)/bin/ruff format --check whisper_pipeline whisper_pipeline_tests

bench: setup
	$(VENV)/bin/python -m bench.intake
	$(VENV)/bin/python -m bench.memory
	$(VENV)/bin/python -m bench.diarization
	$(VENV)/bin/python -m bench.models
	$(VENV)/bin/python -m bench.threads
	$(VENV)/bin/python -m bench.non_speech
	$(VENV)/bin/python -m bench.event_log
	$(VENV)/bin/python -m bench.api
	$(VENV)/bin/python -m bench.metrics
