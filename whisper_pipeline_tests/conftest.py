"""Shared fixtures: real recordings (pyannote's call, espeak-ng conversations, bad files), the
real bundled model loaded once, and a real Dagster instance per test."""

from __future__ import annotations

import contextlib
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from whisper_pipeline.core.records import SpeakerTurn
from whisper_pipeline.evaluation.samples import (
    DEMO_CONVERSATION,
    pyannote_sample_dir,
    synthesize_conversation,
)

REPO = Path(__file__).resolve().parents[1]


TIERS = ("unit", "integration", "system")  # pyproject.toml describes the markers
# run config for tests about transcription: no long diarization before it starts
NO_DIARIZATION = {"resources": {"diarizer": {"config": {"backend": "none"}}}}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Each test's tier is the folder it lives in: unit/, integration/ or system/."""
    tests = Path(__file__).resolve().parent
    for item in items:
        tier = Path(str(item.path)).resolve().relative_to(tests).parts[0]
        if tier not in TIERS:
            raise pytest.UsageError(f"{item.path}: tests live in {', '.join(TIERS)} (a tier each)")
        item.add_marker(getattr(pytest.mark, tier))


@pytest.fixture(scope="session")
def sample_call() -> Path:
    return pyannote_sample_dir() / "sample.wav"


@pytest.fixture(scope="session")
def sample_call_reference_text() -> str:
    from whisper_pipeline.core.scoring import read_reference_text

    return read_reference_text(pyannote_sample_dir() / "sample.stm")


@pytest.fixture(scope="session")
def conversation(tmp_path_factory) -> tuple[Path, list[SpeakerTurn], str]:
    """A synthetic two-voice meeting with the reference turns it was built from."""
    path = tmp_path_factory.mktemp("conversation") / "budget meeting.wav"
    reference = synthesize_conversation(DEMO_CONVERSATION, path)
    text = " ".join(text for _voice, text in DEMO_CONVERSATION)
    return path, reference, text


def _sox(*args: str) -> None:
    subprocess.run(["sox", *args], check=True, capture_output=True)


@pytest.fixture(scope="session")
def recordings_dir(tmp_path_factory, sample_call, conversation) -> Path:
    """Good recordings with awkward names: spaces, non-ASCII letters, dots; wav and mp3."""
    folder = tmp_path_factory.mktemp("recordings")
    shutil.copyfile(sample_call, folder / "Café call v1.2 (final).wav")
    subprocess.run(
        [
            "ffmpeg",
            "-nostdin",
            "-v",
            "error",
            "-i",
            str(conversation[0]),
            "-b:a",
            "64k",
            str(folder / "réunion budget.mp3"),
        ],
        check=True,
    )
    return folder


@pytest.fixture(scope="session")
def bad_files(tmp_path_factory, sample_call) -> dict[str, Path]:
    """Files that are not decodable audio, each with the reason a user would see."""
    folder = tmp_path_factory.mktemp("bad")
    files = {
        "empty": folder / "empty.wav",
        "text": folder / "notes.wav",
        "random": folder / "noise bytes.mp3",
        "truncated": folder / "cut off.m4a",
    }
    files["empty"].write_bytes(b"")
    files["text"].write_text("These are meeting notes, not audio.\n" * 20)
    files["random"].write_bytes(random.Random(7).randbytes(50_000))
    whole = folder / "whole.m4a"
    subprocess.run(
        ["ffmpeg", "-nostdin", "-v", "error", "-i", str(sample_call), "-c:a", "aac", str(whole)],
        check=True,
    )
    data = whole.read_bytes()
    # the moov atom sits at the end of an ffmpeg-written m4a: cutting it off breaks the file
    files["truncated"].write_bytes(data[: len(data) // 2])
    whole.unlink()
    return files


@pytest.fixture(scope="session")
def silent_file(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("silent") / "silence.wav"
    _sox("-n", "-r", "16000", "-c", "1", "-b", "16", str(path), "trim", "0", "5")
    return path


@pytest.fixture(scope="session")
def tiny_file(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("tiny") / "blip.wav"
    _sox("-n", "-r", "16000", "-c", "1", "-b", "16", str(path), "trim", "0", "0.3")
    return path


@pytest.fixture(scope="session")
def asr():
    """The real bundled tiny.en model through the real resource (loaded once, then cached)."""
    from whisper_pipeline.defs.resources.asr import WhisperASR

    resource = WhisperASR(device="cpu")
    with resource.borrow():
        pass
    return resource


@pytest.fixture
def pipeline_home(tmp_path, monkeypatch) -> Path:
    home = tmp_path / "home"
    monkeypatch.setenv("WHISPER_PIPELINE_HOME", str(home))
    monkeypatch.delenv("DAGSTER_HOME", raising=False)
    return home


@pytest.fixture
def instance(tmp_path):
    from dagster import instance_for_test

    folder = tmp_path / "dagster"
    folder.mkdir()
    with instance_for_test(temp_dir=str(folder)) as dagster_instance:
        yield dagster_instance


def spawn_group(
    command: list[str], env: dict[str, str], cwd: Path | None = None
) -> subprocess.Popen:
    """A background server (daemon, code server) in its own process group, output discarded."""
    return subprocess.Popen(
        command,
        env=env,
        cwd=cwd,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )


def kill_group(process: subprocess.Popen) -> None:
    """SIGKILL a spawned server with everything it started (code servers, run workers)."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    process.wait(timeout=30)


def no_diarization_file(folder: Path) -> Path:
    """NO_DIARIZATION as a `run --config` file."""
    import yaml

    path = folder / "no_diarization.yaml"
    path.write_text(yaml.safe_dump(NO_DIARIZATION))
    return path


def cli_env(home: Path) -> dict[str, str]:
    env = dict(os.environ)
    env["WHISPER_PIPELINE_HOME"] = str(home)
    env.pop("DAGSTER_HOME", None)
    return env


def env_for(home: Path) -> dict[str, str]:
    """cli_env with the home's Dagster instance selected, for Dagster's own commands."""
    env = cli_env(home)
    env["DAGSTER_HOME"] = str(home / "dagster")
    return env


def start_daemon(home: Path) -> subprocess.Popen:
    """The real Dagster daemon (sensors, schedules, run queue) over the repo's workspace."""
    return spawn_group(
        [sys.executable, "-m", "dagster._daemon", "run", "-w", str(REPO / "workspace.yaml")],
        env_for(home),
        cwd=REPO,
    )


def wait_for(condition, timeout_s: float, what: str, interval_s: float = 0.5):
    """Poll `condition` until it returns something truthy, which is returned."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(interval_s)
    raise AssertionError(f"timed out after {timeout_s:.0f}s waiting for {what}")


def start_worker(home: Path, name: str, env: dict[str, str] | None = None) -> subprocess.Popen:
    """A real run worker (`whisper-pipeline worker`, Celery) for the home's instance; its log
    goes to <home>/logs/<name>.log."""
    log_dir = home / "logs"
    log_dir.mkdir(parents=True, exist_ok=True)
    with open(log_dir / f"{name.split('@')[0]}.log", "ab") as log:
        return subprocess.Popen(
            [sys.executable, "-m", "whisper_pipeline.cli", "worker", "--name", name],
            env=env or env_for(home),
            cwd=REPO,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def free_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def start_webserver(env: dict[str, str]) -> tuple[subprocess.Popen, str]:
    """dagster-webserver on loopback over the repo's workspace, as `make ui` starts it."""
    import urllib.request

    port = free_port()
    server = spawn_group(
        [sys.executable, "-m", "dagster_webserver", "-w", "workspace.yaml"]
        + ["-h", "127.0.0.1", "-p", str(port)],
        env,
        cwd=REPO,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while True:
        try:
            with urllib.request.urlopen(f"{url}/server_info", timeout=5):
                return server, url
        except OSError:
            if time.monotonic() > deadline:
                kill_group(server)
                raise AssertionError("webserver did not come up") from None
            time.sleep(1)


def graphql(url: str, query: str, variables: dict | None = None) -> dict:
    import json
    import urllib.request

    request = urllib.request.Request(
        f"{url}/graphql",
        data=json.dumps({"query": query, "variables": variables or {}}).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=120) as response:
        body = json.loads(response.read())
    assert "errors" not in body, body
    return body["data"]


REEXECUTE = """
mutation($params: ReexecutionParams) {
  launchPipelineReexecution(reexecutionParams: $params) {
    __typename
    ... on LaunchRunSuccess { run { runId } }
    ... on PythonError { message stack }
    ... on RunConfigValidationInvalid { errors { message } }
  }
}
"""


def reexecute(url: str, run_id: str) -> str:
    """The UI's "Re-execute all": the new run's id (asserting the UI would not show an error)."""
    params = {"parentRunId": run_id, "strategy": "ALL_STEPS"}
    result = graphql(url, REEXECUTE, {"params": params})["launchPipelineReexecution"]
    assert result["__typename"] == "LaunchRunSuccess", result
    return result["run"]["runId"]


def status_rows(home: Path) -> list[dict]:
    """`whisper-pipeline status --format json` for the home, as a user runs it."""
    import json

    result = subprocess.run(
        [sys.executable, "-m", "whisper_pipeline.cli", "status", "--format", "json"],
        env=cli_env(home),
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(result.stdout)


def cli(home: Path, *args: str, check: bool = False) -> subprocess.CompletedProcess:
    """`whisper-pipeline ARGS` on the home, as a user runs it (a subprocess)."""
    command = [sys.executable, "-m", "whisper_pipeline.cli", *args]
    result = subprocess.run(command, capture_output=True, text=True, env=cli_env(home), timeout=600)
    if check:
        assert result.returncode == 0, result.stderr
    return result


# Debian's chromium, headless, with nothing reaching for the network (this machine has none)
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def launch_chromium(playwright):
    """Headless Chromium from Debian's package (Playwright downloads no browser here)."""
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        pytest.fail("chromium is not installed: run scripts/setup.sh (apt-get install chromium)")
    return playwright.chromium.launch(executable_path=chromium, headless=True, args=CHROMIUM_ARGS)


def answers(url: str) -> bool:
    """Whether a Dagster webserver answers at `url`."""
    import urllib.request

    try:
        with urllib.request.urlopen(f"{url}/server_info", timeout=5):
            return True
    except OSError:
        return False


def start_ui(home: Path, cwd: Path, log: Path) -> tuple[subprocess.Popen, str]:
    """`whisper-pipeline ui` on a free port, started from `cwd`, as a user starts it; waits
    until it answers."""
    port = free_port()
    with log.open("w") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "whisper_pipeline.cli", "ui", "--port", str(port)],
            env=cli_env(home),
            cwd=cwd,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_for(lambda: answers(url), 180, "the UI to answer")
    except AssertionError:
        kill_group(process)
        raise
    return process, url
