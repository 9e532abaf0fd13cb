"""Executing `process_recording` inside the test process (Dagster's execute_in_process), for
tests of what the steps do. What users run goes through the run launcher and a worker: those
paths are tested in test_cli.py and test_celery.py."""

from __future__ import annotations

from collections.abc import Sequence

from dagster import DagsterInstance

from whisper_pipeline.definitions import defs
from whisper_pipeline.defs.jobs import PROCESS_RECORDING
from whisper_pipeline.defs.partitions import recording_run_tags
from whisper_pipeline.runtime import runner
from whisper_pipeline.runtime.status import run_error
from whisper_pipeline.storage.registry import RegisteredRecording


def process_in_process(
    instance: DagsterInstance,
    entries: Sequence[RegisteredRecording],
    force: bool = False,
    run_config: dict | None = None,
) -> list[runner.RunOutcome]:
    """One in-process run per recording with work left, as `whisper-pipeline run` would."""
    job = defs.resolve_job_def(PROCESS_RECORDING)
    outcomes = []
    for entry in entries:
        selection = runner.steps_to_run(job, instance, entry.recording_id, force)
        if not selection:
            outcomes.append(
                runner.RunOutcome(entry.recording_id, entry.source_path, None, "skipped")
            )
            continue
        result = job.execute_in_process(
            instance=instance,
            partition_key=entry.recording_id,
            asset_selection=selection,
            raise_on_error=False,
            run_config=run_config or {},
            tags=recording_run_tags(entry),
        )
        status = "succeeded" if result.success else "failed"
        error = None if result.success else run_error(instance, result.run_id)
        steps = tuple(key.to_user_string() for key in selection)
        outcomes.append(
            runner.RunOutcome(
                entry.recording_id, entry.source_path, result.run_id, status, error, steps
            )
        )
    return outcomes
