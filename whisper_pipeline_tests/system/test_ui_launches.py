"""Everything the UI offers, launched as users launch it: `whisper-pipeline ui` started from a
folder without workspace.yaml, every job of the code location launched through the UI's GraphQL
API (what the Launchpad and the Materialize button send) into the instance's real run launcher
and the ui command's Celery worker, the schedule ticked by the ui command's daemon, a CLI-made
run re-executed, and SIGTERM stopping all of it."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pytest
import yaml

from whisper_pipeline import CODE_LOCATION
from whisper_pipeline.core.processes import descendants
from whisper_pipeline_tests.conftest import (
    answers,
    cli,
    graphql,
    kill_group,
    launch_chromium,
    reexecute,
    start_ui,
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


@pytest.fixture(scope="module")
def ui(tmp_path_factory, sample_call, bad_files, looped_speech):
    """A home with a processed call, a file whose transcript has a repetition loop (a red
    check), a truncated one (a yellow check) and an undecodable one (`whisper-pipeline run`),
    then `whisper-pipeline ui` from an empty folder, its schedule set to tick every minute."""
    home = tmp_path_factory.mktemp("home")
    home.joinpath("settings.yaml").write_text(
        yaml.safe_dump({"resources": {"intake": {"config": {"summaries_cron": "* * * * *"}}}})
    )
    inbox = tmp_path_factory.mktemp("inbox")
    shutil.copyfile(sample_call, inbox / "hot interview.wav")
    shutil.copyfile(bad_files["text"], inbox / "notes.wav")
    whole = tmp_path_factory.mktemp("whole") / "whole.mp3"
    subprocess.run(
        ["ffmpeg", "-nostdin", "-v", "error", "-i", str(sample_call), "-b:a", "64k", str(whole)],
        check=True,
    )  # cut to a third, its header still promising the whole length: a half-copied file
    (inbox / "cut short.mp3").write_bytes(whole.read_bytes()[: whole.stat().st_size // 3])
    shutil.copyfile(looped_speech, inbox / "thanks loop.wav")
    cli(home, "run", str(inbox))
    elsewhere = tmp_path_factory.mktemp("elsewhere")  # no workspace.yaml here
    process, url = start_ui(home, elsewhere, home / "ui.log")
    try:
        yield home, url, process
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=90)
            except subprocess.TimeoutExpired:
                kill_group(process)


@pytest.fixture(scope="module")
def looped_speech(tmp_path_factory) -> Path:
    """Real speech that repeats a phrase seven times: the loop check reports it (red)."""
    folder = tmp_path_factory.mktemp("loop")
    text = "Please listen. " + "Thank you. " * 8 + "That is all."
    subprocess.run(["espeak-ng", "-w", str(folder / "raw.wav"), text], check=True)
    subprocess.run(
        ["sox", str(folder / "raw.wav"), "-r", "16000", str(folder / "loop.wav")], check=True
    )
    return folder / "loop.wav"


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
    call = partition_of(url, "hot-interview-")
    sql = f"SELECT DISTINCT speaker FROM speaker_stats WHERE recording_id = '{call}' ORDER BY 1"
    rows = json.loads(cli(home, "query", "--format", "json", sql, check=True).stdout)
    assert [row["speaker"] for row in rows] == ["Ana", "SPEAKER_01"]


def test_the_daemon_ticks_the_schedule_and_its_run_succeeds(ui):
    from dagster import DagsterInstance, RunsFilter

    from whisper_pipeline.defs.schedules import SUMMARIES_SCHEDULE

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


STALE = """
query($key: AssetKeyInput!, $partition: String!) {
  assetNodeOrError(assetKey: $key) { ... on AssetNode { staleStatus(partition: $partition) } }
}
"""
SCREENSHOTS = (
    "launchpad-rename",
    "schedule-ticks",
    "runs-list",
    "failed-recording",
    "not-made-recording",
    "recording-checks",
    "asset-checks",
    "recording-index",
)


def test_the_ui_in_a_real_browser(ui, tmp_path):
    """What a person does in the UI, in headless Chromium: rename a speaker from the Launchpad,
    see the schedule's runs, re-execute a CLI-made run, read why a recording failed on its
    pages, see a recording's red and yellow checks, find a recording by its file name.
    Screenshots go to tmp (or docs/images with WHISPER_PIPELINE_SCREENSHOTS=docs/images)."""
    from playwright.sync_api import sync_playwright

    home, url, _ = ui
    shots = Path(os.environ.get("WHISPER_PIPELINE_SCREENSHOTS", tmp_path))
    shots.mkdir(parents=True, exist_ok=True)
    call = partition_of(url, "hot-interview-")
    looped = partition_of(url, "thanks-loop-")
    cut = partition_of(url, "cut-short-")
    bad = partition_of(url, "notes-")
    with sync_playwright() as playwright:
        browser = launch_chromium(playwright)
        page = browser.new_page(viewport={"width": 1600, "height": 1000})

        def shoot(name: str) -> None:
            page.mouse.move(1, 1)  # no tooltip left under the pointer
            page.wait_for_timeout(1500)  # animations and late renders end
            page.screenshot(path=str(shots / f"{name}.png"))

        def open_page(path: str) -> None:
            page.goto(f"{url}{path}", wait_until="networkidle")

        try:
            # 1. rename a speaker from the Launchpad: pick the recording, name its speaker
            open_page(f"/locations/{CODE_LOCATION}/jobs/rename_speaker/playground")
            picker = page.get_by_placeholder("Partition")
            picker.click()
            picker.fill("hot-interview")
            page.get_by_text(call, exact=True).first.click()
            editor = page.locator(".CodeMirror").first
            wait_for(
                lambda: "SPEAKER_01" in editor.evaluate("e => e.CodeMirror.getValue()"),
                30,
                "the scaffold naming the recording's speakers",
            )
            scaffold = editor.evaluate("e => e.CodeMirror.getValue()")
            edited = scaffold.replace("SPEAKER_01: 'SPEAKER_01'", "SPEAKER_01: 'Bo'")
            assert edited != scaffold, scaffold
            editor.evaluate("(e, text) => e.CodeMirror.setValue(text)", edited)
            shoot("launchpad-rename")
            page.get_by_role("button", name="Launch Run").click()
            page.wait_for_url(re.compile(r".*/runs/[0-9a-f-]{36}.*"), timeout=60_000)
            run_id = re.search(r"/runs/([0-9a-f-]{36})", page.url).group(1)
            assert finished_run(url, run_id)["status"] == "SUCCESS", why_failed(url, run_id)
            for asset in ("diarization", "speaker_transcript", "recording_analytics"):
                status = graphql(url, STALE, {"key": {"path": [asset]}, "partition": call})
                assert status["assetNodeOrError"]["staleStatus"] == "FRESH", asset
            open_page(f"/assets/recording_analytics?view=partitions&partition={call}")
            page.get_by_text("Bo", exact=True).first.wait_for(timeout=60_000)

            # 2. the schedule's page shows its ticks and runs
            open_page(f"/locations/{CODE_LOCATION}/schedules/refresh_summaries_hourly")
            page.get_by_text("1 run requested").first.wait_for(timeout=60_000)  # a tick ran
            shoot("schedule-ticks")

            # 3. the runs list: the file name and state, no machine tags; a CLI-made run
            #    re-executed with the run page's button
            open_page("/runs")
            page.get_by_text("whisper/source_name: hot interview.wav").first.wait_for(
                timeout=60_000
            )
            listed = page.inner_text("body")
            assert "whisper/progress: done" in listed
            assert ".dagster" not in listed and "step_started_at" not in listed
            shoot("runs-list")
            rows = json.loads(cli(home, "status", "--format", "json", check=True).stdout)
            made_by_cli = next(r["run_id"] for r in rows if r["recording_id"] == looped)
            open_page(f"/runs/{made_by_cli}")
            page.get_by_role("button", name=re.compile("Re-execute all")).first.click()
            page.wait_for_url(lambda u: made_by_cli not in u, timeout=60_000)
            again = re.search(r"/runs/([0-9a-f-]{36})", page.url).group(1)
            assert finished_run(url, again)["status"] == "SUCCESS", why_failed(url, again)

            # 4. why a recording failed: on the page of the step that failed and on those of
            #    the steps it kept from being made
            for asset, said, name in (
                ("recording_metadata", "not decodable audio", "failed-recording"),
                ("transcript", "not made", "not-made-recording"),
            ):
                open_page(f"/assets/{asset}?view=partitions&partition={bad}")
                page.get_by_text("failed, and did not materialize").first.wait_for(timeout=60_000)
                page.get_by_text(re.compile(r"View all historical events")).first.click()
                dialog = page.get_by_role("dialog")
                event = dialog.locator("tr", has_text="Observation").first
                event.wait_for(timeout=30_000)
                event.locator("td").first.click()  # unfold the event: its description, why
                dialog.get_by_text(re.compile(said)).first.wait_for(timeout=30_000)
                assert "notes.wav" in dialog.inner_text()
                shoot(name)
                page.keyboard.press("Escape")

            # 5. a recording's checks on its page: red for the loop, yellow for the cut file
            open_page(f"/assets/transcript?view=partitions&partition={looped}")
            checks = page.locator("tr", has=page.get_by_text("no_repetition_loops")).first
            checks.wait_for(timeout=60_000)
            assert "ERROR" in checks.inner_text(), checks.inner_text()
            shoot("recording-checks")
            open_page(f"/assets/transcript?view=partitions&partition={cut}")
            checks = page.locator("tr", has=page.get_by_text("decodes_completely")).first
            checks.wait_for(timeout=60_000)
            assert "WARNING" in checks.inner_text(), checks.inner_text()
            open_page("/assets/transcript?view=checks")
            page.get_by_text("no_repetition_loops").first.wait_for(timeout=60_000)
            shoot("asset-checks")

            # 6. find a recording by its file name: the index lists it with a link to its pages
            open_page("/assets/recording_index")
            page.get_by_text("index", exact=True).first.wait_for(timeout=60_000)
            index = page.locator("body")
            shown_behind = page.get_by_text("[Show Markdown]")
            if shown_behind.count():  # a long index opens in a dialog: click 1
                shown_behind.first.click()
                index = page.get_by_role("dialog")
            index.get_by_text("hot interview.wav").first.wait_for(timeout=30_000)
            assert "thanks loop.wav" in index.inner_text() and "failed" in index.inner_text()
            shoot("recording-index")
            index.get_by_role("link", name=call).first.click()  # click 2 (or 1)
            page.wait_for_url(re.compile(f".*partition={call}.*"), timeout=30_000)
            page.get_by_text("hot interview.wav").first.wait_for(timeout=60_000)
            # the partitions' filter finds it by a word of its name
            open_page("/assets/transcript?view=partitions")
            page.get_by_placeholder("Filter by name…").fill("interview")
            page.get_by_text(call).first.wait_for(timeout=30_000)
        finally:
            browser.close()
    assert all((shots / f"{name}.png").stat().st_size > 10_000 for name in SCREENSHOTS)


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
