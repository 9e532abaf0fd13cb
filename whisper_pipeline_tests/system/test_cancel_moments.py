"""Ctrl+C on `whisper-pipeline run` at every moment of a run's life, each moment recognised
from the run's own events and tags (never a sleep): the run is queued, starting, at the start
of each step, inside the model steps, between steps. Each time the command exits 130
promptly, no step starts once the run is canceling, the step that was running is interrupted
and named alike by the failures row, `status` and the recording's page in the UI, and the
worker releases the models it loaded."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from dagster import DagsterEventType, DagsterInstance

from whisper_pipeline.core.tags import TAG_PERCENT, TAG_SEGMENTS, TAG_STEP, TAG_WORKER, own_tags
from whisper_pipeline.defs.resources.storage import PipelineStorage
from whisper_pipeline_tests.conftest import cli_env, status_rows, wait_for

# op (asset) -> the step name failures rows, tags and status use
STEP_OF = {
    "recording_metadata": "recording_metadata",
    "diarization": "diarization",
    "transcript": "transcribe",
    "speaker_transcript": "speaker_transcript",
    "recording_analytics": "recording_analytics",
}
PROMPT_S = 15.0  # the command returns within this of Ctrl+C (measured: docs/running.md)


@dataclass
class Seen:
    """What the test has seen of the run so far."""

    status: str = ""
    tags: dict = field(default_factory=dict)
    started: list[str] = field(default_factory=list)
    succeeded: list[str] = field(default_factory=list)


def step_started(op: str) -> Callable[[Seen], bool]:
    return lambda seen: op in seen.started


def step_done(op: str) -> Callable[[Seen], bool]:
    return lambda seen: op in seen.succeeded


def inside(step: str, tag: str) -> Callable[[Seen], bool]:
    """The step reports progress: a percentage or segment count above zero."""

    def moment(seen: Seen) -> bool:
        value = seen.tags.get(tag) or "0"
        return seen.tags.get(TAG_STEP) == step and float(value) > 0 and step not in seen.succeeded

    return moment


MOMENTS: dict[str, Callable[[Seen], bool]] = {
    "queued": lambda seen: True,
    "starting": lambda seen: bool(seen.tags.get(TAG_WORKER)) or seen.status != "QUEUED",
    "metadata starts": step_started("recording_metadata"),
    "after metadata": step_done("recording_metadata"),
    "diarization starts": step_started("diarization"),
    "inside diarization": inside("diarization", TAG_PERCENT),
    "after diarization": step_done("diarization"),
    "transcription starts": step_started("transcript"),
    "inside transcription": inside("transcribe", TAG_SEGMENTS),
    "after transcription": step_done("transcript"),
    "speaker transcript starts": step_started("speaker_transcript"),
    "analytics starts": step_started("recording_analytics"),
}


def watch(instance: DagsterInstance, run_id: str, seen: Seen) -> None:
    run = instance.get_run_by_id(run_id)
    if run is None:
        return
    seen.status, seen.tags = run.status.value, own_tags(run)
    records = instance.get_records_for_run(
        run_id, of_type={DagsterEventType.STEP_START, DagsterEventType.STEP_SUCCESS}
    ).records
    for record in records:
        event = record.event_log_entry.dagster_event
        into = seen.started if event.event_type == DagsterEventType.STEP_START else seen.succeeded
        if event.step_key not in into:
            into.append(event.step_key)


def open_instance(home: Path) -> DagsterInstance:
    os.environ["DAGSTER_HOME"] = str(home / "dagster")
    return DagsterInstance.get()


# before and between the first steps here; the later ones in test_cancel_in_steps.py (two
# files: the suite's two processes each take one)
EARLY = list(MOMENTS)[:6]


@pytest.mark.parametrize("moment", EARLY)
def test_ctrl_c_stops_the_work_at_every_moment(moment, tmp_path, sample_call, monkeypatch):
    stop_at(moment, tmp_path, sample_call, monkeypatch)


def stop_at(moment: str, tmp_path: Path, sample_call: Path, monkeypatch) -> None:
    """Ctrl+C at `moment` of a `run`, and everything that must then be true."""
    monkeypatch.delenv("DAGSTER_HOME", raising=False)
    home = tmp_path / "home"
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    (inbox / "a call.wav").symlink_to(sample_call)
    command = subprocess.Popen(
        [sys.executable, "-m", "whisper_pipeline.cli", "run", "--workers", "1", str(inbox)],
        env={**cli_env(home), "PYTHONUNBUFFERED": "1"},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        for line in command.stdout:
            if ": run " in line:  # the run exists (queued for the command's worker)
                run_id = line.split(": run ")[1].strip()
                break
        else:
            pytest.fail(f"no run was launched: {command.communicate()}")
        instance = open_instance(home)
        seen, deadline = Seen(), time.monotonic() + 120
        while not MOMENTS[moment](seen):
            assert time.monotonic() < deadline and seen.status != "SUCCESS", (moment, seen)
            watch(instance, run_id, seen)
            time.sleep(0.02)
        signaled = time.monotonic()
        os.killpg(command.pid, signal.SIGINT)  # Ctrl+C in the command's terminal
        out, err = command.communicate(timeout=120)
        took = time.monotonic() - signaled
    finally:
        if command.poll() is None:
            os.killpg(command.pid, signal.SIGKILL)
    print(f"{moment}: the command returned {took:.1f}s after Ctrl+C")
    assert command.returncode == 130, out + err
    assert took < PROMPT_S, (moment, took, err)
    run = instance.get_run_by_id(run_id)
    assert run.status.value == "CANCELED", (moment, run.status)
    events = instance.get_records_for_run(run_id).records
    cancel_at = min(
        r.storage_id
        for r in events
        if r.event_log_entry.dagster_event
        and r.event_log_entry.dagster_event.event_type
        in (DagsterEventType.RUN_CANCELING, DagsterEventType.RUN_CANCELED)
    )
    started_after = [
        r.event_log_entry.dagster_event.step_key
        for r in events
        if r.storage_id > cancel_at
        and r.event_log_entry.dagster_event
        and r.event_log_entry.dagster_event.event_type == DagsterEventType.STEP_START
    ]
    assert started_after == [], (moment, started_after)
    final = Seen()
    watch(instance, run_id, final)
    running = [op for op in final.started if op not in final.succeeded]
    assert len(running) <= 1, running
    interrupted = STEP_OF[running[0]] if running else None
    # the failures row, `status` and the UI name the same step, the one that was running
    storage = PipelineStorage(home_dir=str(home))
    with storage.warehouse.query_connection() as con:
        rows = con.execute("SELECT step, error FROM failures WHERE run_id = ?", [run_id]).fetchall()
    (row,) = [r for r in status_rows(home) if r["run_id"] == run_id]
    if interrupted is None:
        assert rows == [], (moment, rows)
        assert row["error"] == "stopped by SIGINT", (moment, row)
    else:
        assert [step for step, _ in rows] == [interrupted], (moment, rows)
        assert row["step"] == interrupted, (moment, row)
        assert row["error"].startswith(f"Step {interrupted} interrupted"), (moment, row)
        shown = _failed_step_on_the_partition_page(instance, running[0], run_id)
        assert shown == interrupted, (moment, shown)

    # the worker, told to stop, releases the models it loaded (after the command returned)
    def worker_log() -> str:
        return "".join(path.read_text() for path in (home / "logs").glob("worker-*.log"))

    def released() -> bool:
        return worker_log().count("model released") >= worker_log().count("model loaded")

    wait_for(released, 60, f"the worker to release its models ({moment})")


def _failed_step_on_the_partition_page(instance: DagsterInstance, op: str, run_id: str) -> str:
    """The `failed_step` the recording's page shows for the asset (its observation)."""
    from dagster import AssetKey, EventRecordsFilter

    records = instance.get_event_records(
        EventRecordsFilter(DagsterEventType.ASSET_OBSERVATION, AssetKey(op)), limit=5
    )
    for record in records:
        metadata = record.asset_observation.metadata
        if "run" in metadata and metadata["run"].value == run_id:
            return metadata["failed_step"].value
    return "(nothing shown)"
