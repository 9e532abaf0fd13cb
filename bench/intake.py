"""Warm workers amortize model loads: 20 short recordings through `whisper-pipeline run` vs bare
whisperx, and 2 workers vs 1.

Makes 20 short recordings (pyannote's real call cut at 20 different points: 20-30 s each), then
measures in the same run, each in fresh processes with the same model:
- whisper_pipeline: `whisper-pipeline run --force FILES` on the embedded default (SQLite
  instance, embedded broker, the CLI's own Celery worker): one real run per recording, launched
  through the code location and executed in the worker, which keeps its models from run to run
  (all steps: metadata, transcript with word timestamps, diarization step, speaker transcript,
  analytics, warehouse and exports);
- the same with `--workers 2` (two pool processes, each with its own models and half the
  cores' threads);
- bare whisperx: load the model once, then load_audio + transcribe for each file, with every
  core's threads.
The command's default is 2 on a CPU host and 1 on a GPU host (local_worker.default_concurrency):
the ratio against bare whisperx is printed for the default and for 1 worker. Each is measured
`--rounds` times, alternating; prints every wall time and the ratios of the best ones (this
2-core machine's timings drift by ~10% between runs). Target: default / bare <= 1.25.
Bare whisperx only transcribes, so by default the pipeline runs with `diarizer.backend: none`
(same work, like for like); `--diarization offline` measures the default product instead.

    .venv/bin/python -m bench.intake [--files 20] [--repeat 1] [--rounds 2] [--diarization none]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.common import Measured, bare_whisperx, measure
from whisper_pipeline.evaluation.samples import pyannote_sample_dir
from whisper_pipeline.runtime.local_worker import default_concurrency

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


def pipeline(home: Path, files: list[Path], workers: int, env: dict[str, str]) -> Measured:
    command = [sys.executable, "-m", "whisper_pipeline.cli", "run", "--force"]
    command += ["--workers", str(workers), *map(str, files)]
    return measure(command, {**env, "WHISPER_PIPELINE_HOME": str(home)})


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
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-intake-") as tmp:
        pipeline_home = Path(tmp) / "home"
        files = short_recordings(pipeline_home / "inbox", args.files, args.repeat)
        audio_s = sum(float(subprocess.check_output(["sox", "--i", "-D", str(f)])) for f in files)
        env = {**os.environ}
        env.pop("DAGSTER_HOME", None)
        env.pop("WHISPER_PIPELINE_SETTINGS", None)
        one, two, theirs = [], [], []
        for round_index in range(args.rounds):  # alternate, so drift hits all alike
            for workers, results in ((1, one), (2, two)):
                run_home = Path(tmp) / f"home-{round_index}-{workers}"
                run_home.mkdir()
                (run_home / "settings.yaml").write_text(
                    f"resources:\n  diarizer:\n    config: {{backend: {args.diarization}}}\n"
                )
                results.append(pipeline(run_home, files, workers, env))
            theirs.append(bare_whisperx(files))
        print(f"\n{len(files)} recordings, {audio_s:.0f} s of audio in all (CPU, bundled tiny.en)")
        print(f"{'':44} {'best s':>8} {'all runs s':>20} {'peak MB':>8}")
        for name, measured in (
            (f"whisper_pipeline, 1 worker (diarization: {args.diarization})", one),
            (f"whisper_pipeline, 2 workers (diarization: {args.diarization})", two),
            ("bare whisperx (one process)", theirs),
        ):
            failed = " (FAILED)" if any(m.returncode for m in measured) else ""
            best = min(m.seconds for m in measured)
            runs = " ".join(f"{m.seconds:.1f}" for m in measured)
            peak = max(m.peak_rss_mb for m in measured)
            print(f"{name:<44} {best:>8.1f} {runs:>20} {peak:>8.0f}{failed}")
        best = {
            name: min(m.seconds for m in ms)
            for name, ms in (("1", one), ("2", two), ("bare", theirs))
        }
        default = str(default_concurrency(len(files)))
        print(
            f"\nratio default ({default} worker(s) here) / bare whisperx: "
            f"{best[default] / best['bare']:.2f} (target <= 1.25)"
        )
        print(f"ratio 1 worker / bare whisperx: {best['1'] / best['bare']:.2f}")
        print(f"ratio 2 workers / 1 worker: {best['2'] / best['1']:.2f}")


if __name__ == "__main__":
    main()
