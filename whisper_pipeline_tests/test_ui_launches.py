"""Everything the UI offers, launched as users launch it: `whisper-pipeline ui` started from a
folder without workspace.yaml, every job of the code location launched through the UI's GraphQL
API (what the Launchpad and the Materialize button send) into the instance's real run launcher
and the ui command's Celery worker, the schedule ticked by the ui command's daemon, a CLI-made
run re-executed, and SIGTERM stopping all of it."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
import yaml

from whisper_pipeline import CODE_LOCATION
from whisper_pipeline_tests.conftest import (
    cli_env,
    free_port,
    graphql,
    kill_group,
    reexecute,
    wait_for,
)

LAUNCH = """
mutation($params: ExecutionParams!) {
  launchPipelineExecution(executionParams: $params) {
    __typename
    ... on LaunchRunSuccess { run { runId } }
    ... on RunConfigValidationInvalid { errors { message } }
    ... on PythonError { message stack }
    ... on InvalidSubsetError { message }
  }
}
"""
RUN = """
query($runId: ID!) {
  runOrError(runId: $runId) {
    ... on Run { status tags { key value } }
  }
}
"""
RUN_FAILURE = """
query($runId: ID!) {
  logsForRun(runId: $runId) {
    ... on EventConnection { events { __typename ... on MessageEvent { message } } }
  }
}
"""
PARTITION_CONFIG = """
query($selector: PipelineSelector!, $partition: String!) {
  pipelineOrError(params: $selector) {
    ... on Pipeline { partition(partitionName: $partition, selectedAssetKeys: null) {
      runConfigOrError { ... on PartitionRunConfig { yaml } } } }
  }
}
"""


def cli(home: Path, *args: str, check: bool = False) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "whisper_pipeline.cli", *args]
    result = subprocess.run(command, capture_output=True, text=True, env=cli_env(home), timeout=600)
    if check:
        assert result.returncode == 0, result.stderr
    return result


def descendants(pid: int) -> set[int]:
    """Every live process below `pid` (read from /proc)."""
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            parents[int(entry.name)] = int(fields[1])
    found, frontier = set(), {pid}
    while frontier:
        frontier = {child for child, parent in parents.items() if parent in frontier} - found
        found |= frontier
    return found


def answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/server_info", timeout=5):
            return True
    except OSError:
        return False


@pytest.fixture(scope="module")
def ui(tmp_path_factory, sample_call, bad_files):
    """A home with one processed call and one undecodable file (`whisper-pipeline run`), then
    `whisper-pipeline ui` from an empty folder, its schedule set to tick every minute."""
    home = tmp_path_factory.mktemp("home")
    home.joinpath("settings.yaml").write_text(
        yaml.safe_dump({"resources": {"intake": {"config": {"summaries_cron": "* * * * *"}}}})
    )
    inbox = tmp_path_factory.mktemp("inbox")
    shutil.copyfile(sample_call, inbox / "hot interview.wav")
    shutil.copyfile(bad_files["text"], inbox / "notes.wav")
    cli(home, "run", str(inbox))
    elsewhere = tmp_path_factory.mktemp("elsewhere")  # no workspace.yaml here
    port = free_port()
    log = home / "ui.log"
    with log.open("w") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "whisper_pipeline.cli", "ui", "--port", str(port)],
            env=cli_env(home),
            cwd=elsewhere,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_for(lambda: answers(url), 180, "the UI to answer")
        yield home, url, process
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=90)
            except subprocess.TimeoutExpired:
                kill_group(process)


def launch(url: str, job: str, tags: dict[str, str] | None = None, **extra) -> str:
    """What the Launchpad's Launch button (or the asset page's Materialize) sends."""
    selector = {
        "repositoryLocationName": CODE_LOCATION,
        "repositoryName": "__repository__",
        "pipelineName": job,
    }
    if "assets" in extra:
        selector["assetSelection"] = [{"path": [key]} for key in extra.pop("assets")]
    params = {
        "selector": selector,
        "runConfigData": extra.pop("config", {}),
        "mode": "default",
        "executionMetadata": {"tags": [{"key": k, "value": v} for k, v in (tags or {}).items()]},
    }
    answer = graphql(url, LAUNCH, {"params": params})["launchPipelineExecution"]
    assert answer["__typename"] == "LaunchRunSuccess", answer
    return answer["run"]["runId"]


def finished_run(url: str, run_id: str, timeout_s: float = 300) -> dict:
    def done():
        run = graphql(url, RUN, {"runId": run_id})["runOrError"]
        return run if run["status"] in ("SUCCESS", "FAILURE", "CANCELED") else None

    return wait_for(done, timeout_s, f"run {run_id}", interval_s=1)


def why_failed(url: str, run_id: str) -> str:
    events = graphql(url, RUN_FAILURE, {"runId": run_id})["logsForRun"]["events"]
    return "\n".join(e.get("message", "") for e in events if "Failure" in e["__typename"])


def partition_of(url: str, prefix: str) -> str:
    nodes = graphql(url, "{ assetNodes { partitionKeys } }")["assetNodes"]
    return next(k for node in nodes for k in node["partitionKeys"] if k.startswith(prefix))


def launch_every_job(url: str, home: Path) -> dict[str, list[str]]:
    """Each job of the code location launched the way the UI launches it; its run ids."""
    team = partition_of(url, "hot-interview-")
    selector = {
        "repositoryLocationName": CODE_LOCATION,
        "repositoryName": "__repository__",
        "pipelineName": "rename_speaker",
    }
    # the Launchpad's scaffold for the picked recording names its speakers
    scaffold = graphql(url, PARTITION_CONFIG, {"selector": selector, "partition": team})
    config = yaml.safe_load(scaffold["pipelineOrError"]["partition"]["runConfigOrError"]["yaml"])
    names = config["ops"]["rename_speaker_op"]["config"]["names"]
    assert names == {"SPEAKER_00": "SPEAKER_00", "SPEAKER_01": "SPEAKER_01"}, names
    names["SPEAKER_00"] = "Ana"
    partition = {"dagster/partition": team}
    return {
        "process_recording": [launch(url, "process_recording", partition)],
        "refresh_summaries": [launch(url, "refresh_summaries")],
        "rename_speaker": [launch(url, "rename_speaker", partition, config=config)],
        # the asset pages' Materialize button: a partition of one step, and the summary
        "__ASSET_JOB": [
            launch(url, "__ASSET_JOB", partition, assets=["transcript"]),
            launch(url, "__ASSET_JOB", assets=["daily_totals"]),
        ],
    }


def test_every_job_succeeds_when_launched_from_the_ui(ui):
    from whisper_pipeline.definitions import defs

    home, url, _ = ui
    launched = launch_every_job(url, home)
    jobs = {job.name for job in defs.get_repository_def().get_all_jobs()}
    assert set(launched) == jobs, "a job without a launch through the UI in this test"
    failed = {}
    for job, run_ids in launched.items():
        for run_id in run_ids:
            run = finished_run(url, run_id)
            if run["status"] != "SUCCESS":
                failed[f"{job} {run_id}"] = why_failed(url, run_id)
            tags = {tag["key"]: tag["value"] for tag in run["tags"]}
            assert tags.get("dagster-celery/task_id"), "not executed by a Celery worker"
    assert not failed, failed
    # the rename shows in the warehouse
    sql = "SELECT DISTINCT speaker FROM speaker_stats ORDER BY speaker"
    rows = json.loads(cli(home, "query", "--format", "json", sql, check=True).stdout)
    assert [row["speaker"] for row in rows] == ["Ana", "SPEAKER_01"]


def test_the_daemon_ticks_the_schedule_and_its_run_succeeds(ui):
    from dagster import DagsterInstance, RunsFilter

    from whisper_pipeline.schedules import SUMMARIES_SCHEDULE

    home, url, _ = ui
    os.environ["DAGSTER_HOME"] = str(home / "dagster")
    try:
        with DagsterInstance.get() as instance:

            def scheduled_run():
                runs = instance.get_runs(
                    RunsFilter(tags={"dagster/schedule_name": SUMMARIES_SCHEDULE})
                )
                return next((run for run in runs if run.is_finished), None)

            run = wait_for(scheduled_run, 200, "a finished run of the schedule", interval_s=2)
            assert run.status.value == "SUCCESS", why_failed(url, run.run_id)
    finally:
        os.environ.pop("DAGSTER_HOME", None)


def test_a_cli_run_re_executes_from_a_ui_started_elsewhere(ui):
    home, url, _ = ui
    rows = json.loads(cli(home, "status", "--format", "json", check=True).stdout)
    first = next(
        row
        for row in rows
        if row["source_name"] == "hot interview.wav" and row["status"] == "SUCCESS"
    )
    again = reexecute(url, first["run_id"])
    assert finished_run(url, again)["status"] == "SUCCESS"


def test_sigterm_stops_everything_the_ui_started(ui):
    home, url, process = ui
    started = descendants(process.pid)
    assert started, "the ui command started nothing"
    began = time.monotonic()
    process.send_signal(signal.SIGTERM)
    process.wait(timeout=120)
    took = time.monotonic() - began
    assert not answers(url), "port still served after SIGTERM"
    left = {pid for pid in started if Path(f"/proc/{pid}").exists()}
    left = {pid for pid in left if "Z" not in Path(f"/proc/{pid}/stat").read_text().split()[2]}
    assert not left, f"left running after {took:.0f}s: {left}"
