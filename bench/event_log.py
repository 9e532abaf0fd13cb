"""What the steps' hand-off through Dagster's IO manager costs in the event log: the events of
one `process_recording` run on pyannote's real 30 s call (SQLite instance, models warm from a
first run), by type, the ones the hand-off adds (inputs loaded, outputs handled), and what a
stored event costs on this instance, measured in the same run.

    .venv/bin/python -m bench.event_log
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from collections import Counter
from pathlib import Path

from dagster import DagsterInstance, instance_for_test

from whisper_pipeline.definitions import defs
from whisper_pipeline.defs.jobs import PROCESS_RECORDING
from whisper_pipeline.defs.partitions import recording_run_tags
from whisper_pipeline.defs.resources.storage import PipelineStorage
from whisper_pipeline.evaluation.samples import pyannote_sample_dir
from whisper_pipeline.runtime import runner
from whisper_pipeline.storage.home import HOME_ENV

# the events an IO manager hand-off adds to a run: two per input, one per output (a step's
# STEP_OUTPUT events are there without it: one per output and check)
HAND_OFF_EVENTS = ("STEP_INPUT", "LOADED_INPUT", "HANDLED_OUTPUT")
SAMPLES = 200


def one_run(instance: DagsterInstance, entry) -> tuple[str, float]:
    job = defs.resolve_job_def(PROCESS_RECORDING)
    started = time.perf_counter()
    result = job.execute_in_process(
        instance=instance,
        partition_key=entry.recording_id,
        tags=recording_run_tags(entry),
        raise_on_error=True,
    )
    return result.run_id, time.perf_counter() - started


def event_cost_ms(instance: DagsterInstance, run_id: str) -> float:
    """Mean time to store one event in this run's log."""
    run = instance.get_run_by_id(run_id)
    started = time.perf_counter()
    for index in range(SAMPLES):
        instance.report_engine_event(f"bench event {index}", run)
    return (time.perf_counter() - started) / SAMPLES * 1000


def main() -> None:
    with tempfile.TemporaryDirectory() as folder:
        home = Path(folder) / "home"
        call = Path(folder) / "sample call.wav"
        shutil.copyfile(pyannote_sample_dir() / "sample.wav", call)
        os.environ[HOME_ENV] = str(home)  # the code location's storage resource: this home
        storage = PipelineStorage(home_dir=str(home))
        (Path(folder) / "dagster").mkdir()
        with instance_for_test(temp_dir=str(Path(folder) / "dagster")) as instance:
            (entry,) = runner.register(instance, storage.registry, [call])
            one_run(instance, entry)  # loads the models
            run_id, seconds = one_run(instance, entry)
            types = Counter(
                record.dagster_event.event_type_value
                for record in instance.all_logs(run_id)
                if record.dagster_event
            )
            cost = event_cost_ms(instance, run_id)
    hand_off = sum(types[name] for name in HAND_OFF_EVENTS)
    print(f"one run of {PROCESS_RECORDING} on a 30 s call (models warm): {seconds:.2f} s")
    print(f"events stored: {sum(types.values())}")
    for name, count in sorted(types.items(), key=lambda item: -item[1]):
        print(f"  {name:<32} {count}")
    print(f"stored event, mean of {SAMPLES}: {cost:.2f} ms")
    print(
        f"hand-off events ({', '.join(HAND_OFF_EVENTS)}): {hand_off},"
        f" about {hand_off * cost:.0f} ms = {hand_off * cost / 1000 / seconds:.1%} of the run"
    )


if __name__ == "__main__":
    main()
