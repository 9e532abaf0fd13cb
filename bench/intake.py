"""Batching amortizes model loads: 20 short recordings through the sensor path vs bare whisperx.

Drops 20 short recordings (pyannote's real call cut at 20 different points: 20-30 s each) into
a fresh inbox, then measures in the same run, each in a fresh process with the same model:
- whisper_pipeline: the inbox sensor evaluated as the daemon does, its partitions added, and
  every requested batch run executed (all steps: metadata, transcript with word timestamps,
  diarization step, speaker transcript, analytics, warehouse and exports);
- bare whisperx: load the model once, then load_audio + transcribe for each file.
Each is measured `--rounds` times, alternating; prints every wall time and the ratio of the
best ones (this 2-core machine's timings drift by ~10% between runs). Target: ratio <= 1.25.
Bare whisperx only transcribes, so by default the pipeline runs with `diarizer.backend: none`
(same work, like for like); `--diarization offline` measures the default product instead.

    .venv/bin/python -m bench.intake [--files 20] [--repeat 1] [--rounds 2] [--diarization none]
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.common import bare_whisperx, measure
from whisper_pipeline.samples import pyannote_sample_dir

ARCHIVE_AGE_S = 3600  # the files are an archive dropped at once: stable at first sight


def short_recordings(folder: Path, count: int, repeat: int = 1) -> list[Path]:
    """`count` distinct short recordings: the sample call (`repeat` times over) from a
    different start each."""
    folder.mkdir(parents=True, exist_ok=True)
    sample = str(pyannote_sample_dir() / "sample.wav")
    paths = []
    old = time.time() - ARCHIVE_AGE_S
    for index in range(count):
        path = folder / f"call {index:02d}.wav"
        command = ["sox", *[sample] * repeat, str(path), "trim", f"{index * 0.5:.1f}"]
        subprocess.run(command, check=True)
        os.utime(path, (old, old))
        paths.append(path)
    return paths


def sensor_path(pipeline_home: Path) -> None:
    """What the daemon does for one tick of the inbox sensor, then the launched batch runs."""
    from dagster import DagsterInstance, build_sensor_context

    from whisper_pipeline.batch import PROCESS_BATCH
    from whisper_pipeline.definitions import defs, resources
    from whisper_pipeline.instance import prepare_dagster_home
    from whisper_pipeline.sensors.inbox import INBOX_SENSOR

    prepare_dagster_home(pipeline_home)
    instance = DagsterInstance.get()
    with build_sensor_context(instance=instance, resources=resources) as context:
        result = defs.get_sensor_def(INBOX_SENSOR)(context)
    for request in result.dynamic_partitions_requests:
        instance.add_dynamic_partitions(request.partitions_def_name, list(request.partition_keys))
    job = defs.resolve_job_def(PROCESS_BATCH)
    for request in result.run_requests:
        outcome = job.execute_in_process(
            run_config=request.run_config, instance=instance, tags=request.tags
        )
        assert outcome.success
    with resources["storage"].warehouse.query_connection() as connection:
        (done,) = connection.execute("SELECT count(*) FROM recordings WHERE words > 0").fetchone()
    print(f"{len(result.run_requests)} batch run(s), {done} recordings transcribed", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--files", type=int, default=20)
    parser.add_argument(
        "--repeat", type=int, default=1, help="each recording is the 30 s call this many times over"
    )
    parser.add_argument("--rounds", type=int, default=2, help="measurements of each, alternated")
    parser.add_argument(
        "--diarization",
        choices=("none", "offline"),
        default="none",
        help="diarizer backend of the pipeline runs (bare whisperx does not diarize)",
    )
    parser.add_argument("--sensor-path", help=argparse.SUPPRESS)  # the measured child process
    args = parser.parse_args()
    if args.sensor_path:
        sensor_path(Path(args.sensor_path))
        return
    with tempfile.TemporaryDirectory(prefix="bench-intake-") as tmp:
        pipeline_home = Path(tmp) / "home"
        files = short_recordings(pipeline_home / "inbox", args.files, args.repeat)
        audio_s = sum(float(subprocess.check_output(["sox", "--i", "-D", str(f)])) for f in files)
        env = {**os.environ}
        env.pop("DAGSTER_HOME", None)
        env.pop("WHISPER_PIPELINE_SETTINGS", None)
        ours, theirs = [], []
        for round_index in range(args.rounds):  # alternate, so drift hits both alike
            run_home = Path(tmp) / f"home-{round_index}"
            shutil.copytree(pipeline_home / "inbox", run_home / "inbox", copy_function=shutil.copy2)
            (run_home / "settings.yaml").write_text(
                f"resources:\n  diarizer:\n    config: {{backend: {args.diarization}}}\n"
            )
            command = [sys.executable, "-m", "bench.intake", "--sensor-path", str(run_home)]
            ours.append(measure(command, {**env, "WHISPER_PIPELINE_HOME": str(run_home)}))
            theirs.append(bare_whisperx(files))
        print(f"\n{len(files)} recordings, {audio_s:.0f} s of audio in all (CPU, bundled tiny.en)")
        print(f"{'':40} {'best s':>8} {'all runs s':>20} {'peak MB':>8}")
        for name, measured in (
            (f"whisper_pipeline (diarization: {args.diarization})", ours),
            ("bare whisperx (one process)", theirs),
        ):
            failed = " (FAILED)" if any(m.returncode for m in measured) else ""
            best = min(m.seconds for m in measured)
            runs = " ".join(f"{m.seconds:.1f}" for m in measured)
            peak = max(m.peak_rss_mb for m in measured)
            print(f"{name:<40} {best:>8.1f} {runs:>20} {peak:>8.0f}{failed}")
        ratio = min(m.seconds for m in ours) / min(m.seconds for m in theirs)
        print(f"\nratio of the best runs {ratio:.2f} (target <= 1.25)")


if __name__ == "__main__":
    main()
