"""The HTTP API measured against the CLI in the same run, on pyannote's real 30 s call:

- `POST /asr` (whisper-asr-webservice's request, waiting for the run) against
  `whisper-pipeline run` on the same content: each cold (a fresh worker loads the models), and
  the API warm (its worker has processed a recording before); ratios API / CLI;
- status polls: `GET /v1/recordings/{id}` from 32 threads, requests per second, on a finished
  recording and while a run goes on.

    .venv/bin/python -m bench.api
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import requests

from whisper_pipeline.evaluation.samples import pyannote_sample_dir

POLLS = 2000
THREADS = 32


def padded(folder: Path, name: str, pad_s: float) -> Path:
    """The call with `pad_s` of silence first: new content, so nothing is answered from before."""
    path = folder / name
    sample = pyannote_sample_dir() / "sample.wav"
    subprocess.run(["sox", str(sample), str(path), "pad", str(pad_s), "0"], check=True)
    return path


def env_for(home: Path) -> dict[str, str]:
    env = {**os.environ, "WHISPER_PIPELINE_HOME": str(home)}
    env.pop("DAGSTER_HOME", None)
    return env


def cli(home: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "whisper_pipeline.cli", *args],
        env=env_for(home),
        capture_output=True,
        text=True,
        check=True,
    )


def timed_cli_run(home: Path, path: Path) -> float:
    started = time.perf_counter()
    cli(home, "run", str(path))
    return time.perf_counter() - started


def timed_asr(url: str, token: str, path: Path) -> float:
    started = time.perf_counter()
    with open(path, "rb") as audio:
        answer = requests.post(
            f"{url}/asr?output=json",
            files={"audio_file": audio},
            headers={"Authorization": f"Bearer {token}"},
            timeout=900,
        )
    answer.raise_for_status()
    return time.perf_counter() - started


def polls_per_second(url: str, token: str, recording_id: str) -> float:
    session_headers = {"Authorization": f"Bearer {token}"}

    def poll(_: int) -> None:
        requests.get(
            f"{url}/v1/recordings/{recording_id}", headers=session_headers, timeout=60
        ).raise_for_status()

    started = time.perf_counter()
    with ThreadPoolExecutor(THREADS) as pool:
        list(pool.map(poll, range(POLLS)))
    return POLLS / (time.perf_counter() - started)


def main() -> None:
    with tempfile.TemporaryDirectory() as folder:
        folder = Path(folder)
        cli_seconds = timed_cli_run(folder / "cli-home", padded(folder, "cli call.wav", 0.1))
        home = folder / "api-home"
        token = cli(home, "api-token", "create", "bench").stdout.strip()
        port = 8700 + os.getpid() % 200
        url = f"http://127.0.0.1:{port}"
        server = subprocess.Popen(
            [sys.executable, "-m", "whisper_pipeline.cli", "api", "--port", str(port)],
            env=env_for(home),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            while True:
                try:
                    if requests.get(f"{url}/health", timeout=2).ok:
                        break
                except requests.ConnectionError:
                    time.sleep(0.5)
            api_cold = timed_asr(url, token, padded(folder, "api cold.wav", 0.2))
            api_warm = timed_asr(url, token, padded(folder, "api warm.wav", 0.3))
            ids = requests.get(
                f"{url}/v1/recordings", headers={"Authorization": f"Bearer {token}"}, timeout=60
            ).json()["data"]
            finished = polls_per_second(url, token, ids[0]["id"])
            with open(padded(folder, "polled.wav", 0.4), "rb") as audio:
                submitted = requests.post(
                    f"{url}/v1/recordings",
                    files={"file": audio},
                    headers={"Authorization": f"Bearer {token}"},
                    timeout=120,
                )
            running = polls_per_second(url, token, submitted.json()["id"])
        finally:
            server.terminate()
            server.wait(timeout=60)
    print("30 s call, new content each time (this machine)")
    print(f"  whisper-pipeline run (its own worker, cold): {cli_seconds:6.1f} s")
    print(
        f"  POST /asr, the API's worker cold:            {api_cold:6.1f} s"
        f"  ratio API/CLI {api_cold / cli_seconds:.2f}"
    )
    print(
        f"  POST /asr, the API's worker warm:            {api_warm:6.1f} s"
        f"  ratio API/CLI {api_warm / cli_seconds:.2f}"
    )
    print(
        f"status polls, {THREADS} threads: {finished:6.0f}/s on a finished recording,"
        f" {running:6.0f}/s while a run goes on"
    )


if __name__ == "__main__":
    main()
