"""The exporter's scrape time on a large instance: 10,000 process_recording runs and 10,000
recordings (registry entries, warehouse rows of four tables, 1,000 failures), SQLite instance.
Prints the first scrape (every warehouse file read once) and the steady scrapes after it (only
what changed is read), with one new recording arriving between scrapes.

    .venv/bin/python -m bench.metrics [N]
"""

from __future__ import annotations

import json
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

from dagster import DagsterRun, DagsterRunStatus, instance_for_test
from prometheus_client import CollectorRegistry, generate_latest

from whisper_pipeline.core.tags import PARTITION_TAG
from whisper_pipeline.runtime.exporter import PipelineCollector
from whisper_pipeline.storage import home
from whisper_pipeline.storage.warehouse import Warehouse

STEADY = 5


def fill(instance, pipeline_home: Path, count: int) -> None:
    registry = home.registry_dir(pipeline_home)
    registry.mkdir(parents=True)
    warehouse = Warehouse(home.warehouse_dir(pipeline_home))
    now = datetime.now(UTC)
    for index in range(count):
        recording_id = f"call-{index:06d}"
        run_id = str(uuid.uuid4())
        status = DagsterRunStatus.FAILURE if index % 10 == 0 else DagsterRunStatus.SUCCESS
        instance.add_run(
            DagsterRun(
                job_name="process_recording",
                run_id=run_id,
                status=status,
                tags={PARTITION_TAG: recording_id},
            )
        )
        (registry / f"{recording_id}.json").write_text(json.dumps({"recording_id": recording_id}))
        add_recording(warehouse, recording_id, run_id, now, failed=index % 10 == 0)


def add_recording(warehouse: Warehouse, recording_id: str, run_id: str, now, failed: bool) -> None:
    warehouse.write(
        "recording_files",
        recording_id,
        [
            {
                "recording_id": recording_id,
                "source_name": f"{recording_id}.wav",
                "duration_s": 600.0,
                "registered_at": now,
                "run_id": run_id,
            }
        ],
    )
    if failed:
        warehouse.add_failure(
            {
                "recording_id": recording_id,
                "step": "transcribe",
                "error": "worker died",
                "error_type": "WorkerDied",
                "run_id": run_id,
                "failed_at": now,
            }
        )
        return
    warehouse.write(
        "transcripts",
        recording_id,
        [
            {
                "recording_id": recording_id,
                "language": "en",
                "segments": 120,
                "words": 1500,
                "run_id": run_id,
            }
        ],
    )
    warehouse.write(
        "recording_stats",
        recording_id,
        [{"recording_id": recording_id, "speakers": 2, "speech_s": 500.0, "run_id": run_id}],
    )


def scrape(registry: CollectorRegistry) -> float:
    started = time.perf_counter()
    generate_latest(registry)
    return time.perf_counter() - started


def main() -> None:
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 10_000
    with tempfile.TemporaryDirectory() as folder:
        pipeline_home = Path(folder) / "home"
        (Path(folder) / "dagster").mkdir()
        with instance_for_test(temp_dir=str(Path(folder) / "dagster")) as instance:
            started = time.perf_counter()
            fill(instance, pipeline_home, count)
            print(f"{count} runs and recordings written in {time.perf_counter() - started:.0f} s")
            registry = CollectorRegistry()
            registry.register(PipelineCollector(instance, pipeline_home))
            first = scrape(registry)
            warehouse = Warehouse(home.warehouse_dir(pipeline_home))
            steady = []
            for index in range(STEADY):
                add_recording(warehouse, f"new-{index}", "r", datetime.now(UTC), failed=False)
                steady.append(scrape(registry))
    print(f"first scrape: {first:.2f} s (reads every warehouse file once)")
    print(
        f"steady scrapes (one new recording each): mean {sum(steady) / len(steady):.3f} s,"
        f" max {max(steady):.3f} s; budget at a 15 s interval: {max(steady) / 15:.1%}"
    )


if __name__ == "__main__":
    main()
