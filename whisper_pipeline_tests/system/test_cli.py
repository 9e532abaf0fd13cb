"""`whisper-pipeline` as a user runs it: a real subprocess on a real instance."""

import contextlib
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from whisper_pipeline.core.tags import TAG_WORKER
from whisper_pipeline_tests.conftest import (
    cli,
    cli_env,
    env_for,
    graphql,
    kill_group,
    launch_chromium,
    reexecute,
    start_webserver,
    start_worker,
    wait_for,
)


@pytest.fixture(scope="module")
def processed(tmp_path_factory, sample_call, bad_files):
    """One `run` over a folder holding a real call and a text file posing as audio."""
    home = tmp_path_factory.mktemp("home")
    inbox = tmp_path_factory.mktemp("inbox")
    shutil.copyfile(sample_call, inbox / "team call.wav")
    shutil.copyfile(bad_files["text"], inbox / "notes.wav")
    return home, cli(home, "run", str(inbox))


def test_run_processes_good_files_and_exits_nonzero_naming_the_bad_one(processed):
    home, result = processed
    assert result.returncode == 1
    assert "notes.wav" in result.stderr and "not decodable audio" in result.stderr
    assert "Step recording_metadata failed" in result.stderr
    summary = result.stdout[result.stdout.index("Summary") :]
    line = next(line for line in summary.splitlines() if line.startswith("team-call-"))
    assert "30.0s" in line and " en " in line
    assert str(home / "outputs") in line
    assert "transcribe" in result.stderr  # progress lines while it works
    # the command's worker runs two recordings at a time without a GPU, one with a GPU
    from whisper_pipeline.runtime.local_worker import default_concurrency

    (worker_log,) = (home / "logs").glob("worker-*.log")
    assert f".> concurrency: {default_concurrency(2)} (prefork)" in worker_log.read_text()


def test_daily_totals_follow_a_cli_run(processed):
    """`run` refreshes the summaries itself: no daemon or schedule needed for today's row."""
    from dagster import AssetKey

    home, _ = processed
    sql = "SELECT sum(transcribed) AS transcribed, sum(failures) AS failures FROM daily_totals"
    (totals,) = json.loads(cli(home, "query", "--format", "json", sql, check=True).stdout)
    assert totals == {"transcribed": 1, "failures": 1}
    with instance_of(home) as instance:
        assert instance.fetch_materializations(AssetKey("daily_totals"), limit=1).records


def test_query_formats(processed):
    home, _ = processed
    as_json = cli(
        home,
        "query",
        "--format",
        "json",
        "SELECT source_name, language FROM recordings",
        check=True,
    )
    assert json.loads(as_json.stdout) == [{"source_name": "team call.wav", "language": "en"}]
    as_csv = cli(
        home, "query", "--format", "csv", "SELECT step, source_name FROM failures", check=True
    )
    assert as_csv.stdout.splitlines() == ["step,source_name", "recording_metadata,notes.wav"]
    table = cli(home, "query", "SELECT count(*) AS words FROM words", check=True)
    assert "words" in table.stdout


@pytest.mark.parametrize(
    "sql",
    [
        "COPY (SELECT 1) TO 'out.csv'",
        "EXPLAIN ANALYZE COPY (SELECT 1) TO 'out.csv'",
        "SELECT * FROM read_text('/etc/passwd')",
        "SELECT 1; DROP VIEW words; COPY (SELECT 1) TO 'out.csv'",
    ],
)
def test_query_is_read_only(processed, sql):
    """(Every other way is tried in unit/storage/test_query_sandbox.py, in process.)"""
    home, _ = processed
    before = sorted(p.name for p in (home / "warehouse").iterdir())
    result = cli(home, "query", sql)
    assert result.returncode == 2 and "query refused" in result.stderr
    assert sorted(p.name for p in (home / "warehouse").iterdir()) == before
    assert cli(home, "query", "SELECT count(*) FROM words", check=True).returncode == 0


def test_query_reports_sql_errors_clearly(processed):
    home, _ = processed
    result = cli(home, "query", "SELECT nope FROM recordings")
    assert result.returncode == 2 and "query failed" in result.stderr and "nope" in result.stderr


def test_status_shows_runs_with_state_step_and_error(processed):
    home, _ = processed
    result = cli(home, "status", "--format", "json", check=True)
    rows = {row["recording_id"].split("-")[0]: row for row in json.loads(result.stdout)}
    assert rows["team"]["status"] == "SUCCESS"
    assert rows["notes"]["status"] == "FAILURE"
    assert rows["notes"]["step"] == "recording_metadata"
    assert "not decodable audio" in rows["notes"]["error"]
    table = cli(home, "status", check=True)
    assert "FAILURE" in table.stdout and "SUCCESS" in table.stdout


def test_status_finds_a_recording_by_its_file_name(processed):
    """`status NAME`: spaces, case and dashes aside, a part of the file name is enough."""
    home, _ = processed
    result = cli(home, "status", "--format", "json", "TEAM call", check=True)
    assert {row["source_name"] for row in json.loads(result.stdout)} == {"team call.wav"}
    table = cli(home, "status", "team-call", check=True).stdout
    assert "team-call-" in table and "notes-" not in table
    missing = cli(home, "status", "zebra crossing")
    assert missing.returncode == 2 and "no recording named like 'zebra crossing'" in missing.stderr


def test_duckdb_file_serves_the_views_to_other_tools(processed):
    import duckdb

    home, _ = processed
    con = duckdb.connect(str(home / "warehouse" / "whisper.duckdb"), read_only=True)
    try:
        assert con.execute("SELECT count(*) FROM recordings").fetchone() == (1,)
        assert con.execute("SELECT count(*) FROM failures").fetchone() == (1,)
    finally:
        con.close()


def test_run_without_recordings_says_so(tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    result = cli(tmp_path / "home", "run", str(empty))
    assert result.returncode == 2 and "no recordings found" in result.stderr


@pytest.fixture(scope="module")
def webserver(processed):
    """dagster-webserver on loopback, on the CLI's instance, as `make ui` starts it."""
    home, _ = processed
    server, url = start_webserver(env_for(home))
    try:
        yield url
    finally:
        kill_group(server)


@contextlib.contextmanager
def instance_of(home: Path):
    import os

    from dagster import DagsterInstance

    previous = os.environ.get("DAGSTER_HOME")
    os.environ["DAGSTER_HOME"] = str(home / "dagster")
    try:
        with DagsterInstance.get() as instance:
            yield instance
    finally:
        if previous is None:
            os.environ.pop("DAGSTER_HOME")
        else:
            os.environ["DAGSTER_HOME"] = previous


def test_a_cli_made_run_is_re_executed_from_the_ui(webserver, processed):
    """The UI's Re-execute (its GraphQL mutation) on a run `whisper-pipeline run` made: it is
    launched like any UI run and executed by a worker."""
    from dagster import DagsterRunStatus, RunsFilter

    home, _ = processed
    worker = start_worker(home, "ui@test")
    try:
        with instance_of(home) as instance:
            (team,) = [
                run
                for run in instance.get_runs(RunsFilter(statuses=[DagsterRunStatus.SUCCESS]))
                if run.tags.get("whisper/source_name") == "team call.wav"
            ]
            again = reexecute(webserver, team.run_id)
            rerun = wait_for(
                lambda: (run := instance.get_run_by_id(again)).is_finished and run,
                300,
                "the re-executed run",
            )
            assert rerun.status == DagsterRunStatus.SUCCESS and rerun.parent_run_id == team.run_id
            assert rerun.tags[TAG_WORKER] == "ui@test"
    finally:
        kill_group(worker)


LAUNCH = """
mutation($params: ExecutionParams!) {
  launchPipelineExecution(executionParams: $params) {
    __typename
    ... on RunConfigValidationInvalid { errors { message } }
  }
}
"""
SECRET = "hf_NotARealTokenButSecret"


def test_a_literal_token_is_refused_by_the_launchpad_and_by_run(
    webserver, processed, tmp_path, sample_call
):
    """The launchpad (its GraphQL mutation) refuses a literal Hugging Face token before a run
    exists; `run --config` refuses it naming the variable; no run stores it."""
    from dagster import RunsFilter

    home, _ = processed
    with instance_of(home) as instance:
        before = instance.get_runs_count(RunsFilter())
    params = {
        "selector": {
            "repositoryLocationName": "whisper_pipeline",
            "repositoryName": "__repository__",
            "pipelineName": "process_recording",
        },
        "runConfigData": {"resources": {"diarizer": {"config": {"hf_token": SECRET}}}},
        "mode": "default",
    }
    answer = graphql(webserver, LAUNCH, {"params": params})["launchPipelineExecution"]
    assert answer["__typename"] == "RunConfigValidationInvalid", answer
    assert any("hf_token" in e["message"] for e in answer["errors"]), answer
    config = tmp_path / "run.yaml"
    config.write_text(f"resources:\n  diarizer:\n    config:\n      hf_token: {SECRET}\n")
    result = cli(home, "run", "--config", str(config), str(sample_call))
    assert result.returncode != 0 and "set HF_TOKEN" in result.stderr
    assert SECRET not in result.stderr + result.stdout
    with instance_of(home) as instance:
        assert instance.get_runs_count(RunsFilter()) == before
        assert not any(SECRET in str(run.run_config) for run in instance.get_runs())


def test_the_dagster_ui_serves_the_asset_graph_partitions_and_metadata(webserver):
    """What a user sees, read through the webserver's GraphQL API."""
    nodes = graphql(webserver, "{ assetNodes { assetKey { path } partitionKeys } }")["assetNodes"]
    keys = {node["assetKey"]["path"][0]: node["partitionKeys"] for node in nodes}
    assert set(keys) >= {
        "recording_metadata",
        "transcript",
        "diarization",
        "speaker_transcript",
        "recording_analytics",
    }
    team = [k for k in keys["transcript"] if k.startswith("team-call-")]
    assert len(team) == 1 and any(k.startswith("notes-") for k in keys["transcript"])
    data = graphql(
        webserver,
        '{ assetOrError(assetKey: {path: ["transcript"]}) { ... on Asset { assetMaterializations(limit: 1) {'
        " partition metadataEntries { label ... on TextMetadataEntry { text }"
        " ... on IntMetadataEntry { intValue } } } } } }",
    )
    (materialization,) = data["assetOrError"]["assetMaterializations"]
    entries = {
        e["label"]: e.get("text", e.get("intValue")) for e in materialization["metadataEntries"]
    }
    assert materialization["partition"] == team[0]
    assert entries["language"] == "en" and entries["words"] > 50


def test_the_ui_in_a_real_browser(webserver, processed, tmp_path):
    """Headless Chromium on the asset graph, a recording's partition page with its metadata and
    a run's log with progress lines. Screenshots go to tmp (or docs/images with
    WHISPER_PIPELINE_SCREENSHOTS=docs/images)."""
    import os

    from playwright.sync_api import sync_playwright

    home, _ = processed
    shots = Path(os.environ.get("WHISPER_PIPELINE_SCREENSHOTS", tmp_path))
    shots.mkdir(parents=True, exist_ok=True)
    partition = next(
        k
        for node in graphql(webserver, "{ assetNodes { partitionKeys } }")["assetNodes"]
        for k in node["partitionKeys"]
        if k.startswith("team-call-")
    )
    runs = json.loads(cli(home, "status", "--format", "json", check=True).stdout)
    run_id = next(r["run_id"] for r in runs if r["recording_id"] == partition)
    with sync_playwright() as playwright:
        browser = launch_chromium(playwright)
        page = browser.new_page(viewport={"width": 1600, "height": 1000})

        def no_welcome_dialog() -> None:
            """Dagster greets a new browser profile with a community pop-up unless the
            instance turns `nux` off, as ours does: nothing may be in the user's face."""
            skip = page.get_by_role("button", name="Skip")
            with contextlib.suppress(Exception):
                skip.wait_for(timeout=5_000)
            assert skip.count() == 0, "a welcome pop-up greeted the user"

        try:
            page.goto(f"{webserver}/asset-groups/recordings", wait_until="networkidle")
            no_welcome_dialog()
            page.get_by_text("summaries", exact=True).last.wait_for(timeout=60_000)
            page.get_by_text("recordings", exact=True).last.dblclick()  # expand the group
            for name in ("recording_metadata", "transcript", "diarization", "speaker_transcript"):
                page.get_by_text(name, exact=True).first.wait_for(timeout=60_000)
            # the graph shortens long names in the middle: "recordi…_analytics"
            page.get_by_text(re.compile(r"^recordi.*_analytics$")).first.wait_for(timeout=60_000)
            page.wait_for_timeout(3_000)  # let the graph finish its zoom animation
            page.screenshot(path=str(shots / "asset-graph.png"))

            page.goto(
                f"{webserver}/assets/transcript?view=partitions&partition={partition}",
                wait_until="networkidle",
            )
            page.get_by_text("realtime_factor").first.wait_for(timeout=60_000)
            body = page.inner_text("body")
            assert partition in body and "tiny.en (bundled)" in body and "word_timestamps" in body
            page.screenshot(path=str(shots / "partition-metadata.png"))

            # the transcript view: speakers, times and text, and the speaker timeline picture
            page.goto(
                f"{webserver}/assets/speaker_transcript?view=partitions&partition={partition}",
                wait_until="networkidle",
            )
            page.get_by_text("speaker_timeline").first.wait_for(timeout=60_000)

            def show_markdown(label: str):
                """The UI keeps long Markdown behind [Show Markdown]: open it in its dialog."""
                row = page.locator("tr", has=page.get_by_text(label, exact=True)).first
                row.get_by_text("[Show Markdown]").click()
                dialog = page.get_by_role("dialog")
                dialog.wait_for(timeout=30_000)
                return dialog

            dialog = show_markdown("speaker_timeline")
            timeline = dialog.locator('img[src^="data:image/png;base64,"]')
            timeline.first.wait_for(timeout=30_000)
            assert timeline.first.evaluate("img => img.naturalWidth") >= 600
            page.screenshot(path=str(shots / "speaker-timeline.png"))
            page.keyboard.press("Escape")
            dialog.wait_for(state="hidden", timeout=30_000)
            dialog = show_markdown("transcript")
            rows = dialog.locator("tr", has_text=re.compile(r"0:\d\d\s*SPEAKER_0\d"))
            rows.first.wait_for(timeout=30_000)
            assert rows.count() >= 3, dialog.inner_text()[:2000]
            page.screenshot(path=str(shots / "transcript-view.png"))
            page.keyboard.press("Escape")

            # a failed recording says why on its asset's Events tab, without opening the logs
            failed = next(
                k
                for node in graphql(webserver, "{ assetNodes { partitionKeys } }")["assetNodes"]
                for k in node["partitionKeys"]
                if k.startswith("notes-")
            )
            page.goto(
                f"{webserver}/assets/recording_metadata?view=events&partition={failed}",
                wait_until="networkidle",
            )
            page.get_by_text("not decodable audio").first.wait_for(timeout=60_000)
            page.screenshot(path=str(shots / "failed-partition.png"))

            # the Checks tab lists the transcript's checks, with their last results
            page.goto(f"{webserver}/assets/transcript?view=checks", wait_until="networkidle")
            for check in ("no_repetition_loops", "decodes_completely"):
                page.get_by_text(check).first.wait_for(timeout=60_000)
            page.screenshot(path=str(shots / "asset-checks.png"))

            page.goto(f"{webserver}/runs/{run_id}?logs=step%3Atranscript", wait_until="networkidle")
            progress_line = page.get_by_text("transcribe:").first
            progress_line.wait_for(timeout=60_000)
            progress_line.scroll_into_view_if_needed()
            body = page.inner_text("body")
            assert "of 30s audio" in body and "segments" in body
            page.screenshot(path=str(shots / "run-progress-log.png"))
        finally:
            browser.close()
    assert all(
        (shots / f"{n}.png").stat().st_size > 10_000
        for n in (
            "asset-graph",
            "partition-metadata",
            "speaker-timeline",
            "transcript-view",
            "failed-partition",
            "asset-checks",
            "run-progress-log",
        )
    )


def test_the_same_content_twice_in_one_call_is_processed_once(tmp_path, silent_file):
    folder = tmp_path / "drop"
    folder.mkdir()
    shutil.copyfile(silent_file, folder / "quiet.wav")
    shutil.copyfile(silent_file, folder / "quiet (copy).wav")
    home = tmp_path / "home"
    result = cli(home, "run", str(folder / "quiet.wav"), str(folder / "quiet (copy).wav"))
    assert result.returncode == 0, result.stderr
    (line,) = [line for line in result.stdout.splitlines() if "already being processed" in line]
    run_id = line.rsplit(" ", 1)[1]
    rows = json.loads(cli(home, "status", "--format", "json", check=True).stdout)
    assert [(row["run_id"], row["status"]) for row in rows] == [(run_id, "SUCCESS")]


def test_two_concurrent_commands_over_the_same_files_process_each_once(tmp_path, sample_call):
    """The second command finds the recordings claimed by the first one's runs and says so;
    every recording has exactly one run."""
    folder = tmp_path / "drop"
    folder.mkdir()
    shutil.copyfile(sample_call, folder / "a call.wav")
    subprocess.run(
        ["sox", str(sample_call), str(folder / "b call.wav"), "speed", "1.1"], check=True
    )
    home = tmp_path / "home"
    command = [sys.executable, "-m", "whisper_pipeline.cli", "run", str(folder)]
    both = [
        subprocess.Popen(
            command, env=cli_env(home), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        for _ in range(2)
    ]
    outputs = [process.communicate(timeout=600) for process in both]
    # a command that launched a run exits 0; one that found both claimed has nothing to do: 2
    launched_any = [": run " in out for out, _ in outputs]
    assert [p.returncode for p in both] == [0 if any_ else 2 for any_ in launched_any], outputs
    assert any(launched_any)
    for (_out, err), any_ in zip(outputs, launched_any, strict=True):
        assert ("nothing to do: " in err) is not any_, err
    said = "".join(out for out, _ in outputs)
    assert said.count("already being processed by run") + said.count("already processed") == 2
    rows = json.loads(cli(home, "status", "--format", "json", check=True).stdout)
    assert sorted((row["source_name"], row["status"]) for row in rows) == [
        ("a call.wav", "SUCCESS"),
        ("b call.wav", "SUCCESS"),
    ]


def test_a_speaker_is_renamed_without_processing_again(processed):
    """`speakers rename` rewrites the warehouse rows and the files from the stored results: no
    run is made; the UI's rename_speaker job does the same and shows it on the partition."""
    from dagster import AssetKey, RunsFilter

    from whisper_pipeline.definitions import defs

    home, _ = processed
    sql = "SELECT DISTINCT speaker FROM segments WHERE starts_with(recording_id, 'team')"
    before = json.loads(cli(home, "query", "--format", "json", sql, check=True).stdout)
    speakers = sorted(row["speaker"] for row in before)
    assert "SPEAKER_00" in speakers and len(speakers) >= 2, speakers
    with instance_of(home) as instance:
        runs_before = instance.get_runs_count(RunsFilter())

    voices = home / "voices"
    result = cli(
        home,
        "speakers",
        "rename",
        "team call.wav",
        "SPEAKER_00",
        "Ana",
        "--voices-dir",
        str(voices),
        check=True,
    )
    assert "SPEAKER_00 is now Ana" in result.stdout and "voice remembered" in result.stdout
    (clip,) = (voices / "Ana").glob("team-call-*.wav")
    assert clip.stat().st_size > 2 * 16_000 * 2  # over 2 s of her speech, 16 kHz 16-bit
    for table in ("segments", "words", "speaker_turns", "speaker_stats", "speaker_embeddings"):
        query = f"SELECT DISTINCT speaker FROM {table} WHERE starts_with(recording_id, 'team')"
        names = {
            r["speaker"] for r in json.loads(cli(home, "query", "--format", "json", query).stdout)
        }
        assert "Ana" in names and "SPEAKER_00" not in names, (table, names)
    named = cli(
        home,
        "query",
        "--format",
        "csv",
        "SELECT named FROM speaker_embeddings WHERE speaker = 'Ana'",
    )
    assert named.stdout.splitlines() == ["named", "True"]
    (srt,) = (home / "outputs").glob("team-*/*.srt")
    assert "[Ana]" in srt.read_text() and "[SPEAKER_00]" not in srt.read_text()
    (rttm,) = (home / "outputs").glob("team-*/*.rttm")
    assert " Ana " in rttm.read_text()
    with instance_of(home) as instance:
        assert instance.get_runs_count(RunsFilter()) == runs_before  # nothing processed again
        latest = instance.fetch_materializations(AssetKey("speaker_transcript"), limit=1).records[0]
        shown = latest.asset_materialization.metadata  # the partition page's transcript view
        assert shown["renamed"].value == "SPEAKER_00 -> Ana"
        assert "| **Ana** |" in shown["transcript"].value
        assert "SPEAKER_00" not in shown["transcript"].value

    refused = cli(home, "speakers", "rename", "team call.wav", "SPEAKER_07", "Bo")
    assert refused.returncode == 2 and "its speakers: Ana, SPEAKER_01" in refused.stderr
    taken = cli(home, "speakers", "rename", "team call.wav", "SPEAKER_01", "Ana")
    assert taken.returncode == 2 and "already has a speaker 'Ana'" in taken.stderr

    with instance_of(home) as instance:  # the same from the UI: the rename_speaker job
        config = {
            "ops": {"rename_speaker_op": {"config": {"names": {"Ana": "Ana Lopez"}}}},
            "resources": {"storage": {"config": {"home_dir": str(home)}}},
        }
        team = next(key for key in instance.get_dynamic_partitions("recordings") if "team" in key)
        outcome = defs.resolve_job_def("rename_speaker").execute_in_process(
            run_config=config, instance=instance, partition_key=team
        )
        assert outcome.success
        latest = instance.fetch_materializations(AssetKey("speaker_transcript"), limit=1).records[0]
        assert latest.asset_materialization.metadata["renamed"].value == "Ana -> Ana Lopez"
        # every page that shows speakers says the new name: the analytics' speaker table too
        analytics = instance.fetch_materializations(AssetKey("recording_analytics"), limit=1)
        table = analytics.records[0].asset_materialization.metadata["speakers"].value
        assert "Ana Lopez" in {record.data["speaker"] for record in table.records}
    assert "[Ana Lopez]" in srt.read_text()

    # the name feeds the voices library: processing the call again recognises her by voice
    config = home / "voices.yaml"
    config.write_text(f"resources:\n  diarizer:\n    config:\n      voices_dir: {voices}\n")
    where = "SELECT source_path FROM recordings WHERE source_name = 'team call.wav'"
    (row,) = json.loads(cli(home, "query", "--format", "json", where, check=True).stdout)
    cli(home, "run", "--force", "--config", str(config), row["source_path"], check=True)
    named = "SELECT DISTINCT speaker FROM speaker_embeddings WHERE named"
    rows = json.loads(cli(home, "query", "--format", "json", named, check=True).stdout)
    assert [r["speaker"] for r in rows] == ["Ana"]


def test_search_finds_a_known_phrase_in_its_recording_first(processed):
    """The sample call says 'New Jersey' twice (sample.stm): both found, in that recording."""
    home, _ = processed
    result = cli(home, "search", "--format", "json", "New Jersey", check=True)
    hits = json.loads(result.stdout)
    assert hits and hits[0]["source_name"] == "team call.wav", hits
    jersey = [hit for hit in hits if "new jersey" in hit["text"].lower()]
    assert len(jersey) >= 2 and hits[: len(jersey)] == jersey  # the phrase ranks first
    assert all(hit["source_name"] == "team call.wav" and hit["end_s"] <= 30.1 for hit in jersey)
    table = cli(home, "search", "New Jersey", check=True).stdout
    assert table.splitlines()[0].split()[1] == "team"  # "<score>  team call.wav @ 12s ..."
    assert "no segment matches" in cli(home, "search", "zebra crossing", check=True).stdout


def test_ui_starts_quietly_on_the_pipelines_instance(tmp_path):
    """`whisper-pipeline ui` from the repository (which holds the dagster.yaml template): the
    UI answers, on the pipeline's instance, without Dagster's "dagster.yaml ignored" warning."""
    import signal
    import time

    from whisper_pipeline_tests.conftest import REPO, start_ui

    home = tmp_path / "home"
    log = tmp_path / "ui.log"
    process, url = start_ui(home, REPO, log)
    try:
        data = graphql(url, "{ instance { info } }")
        assert str(home / "dagster") in data["instance"]["info"]
        time.sleep(2)  # what dagster dev says while starting is in the log by now
    finally:
        os.killpg(process.pid, signal.SIGINT)  # Ctrl+C, as a user stops it
        try:
            process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            kill_group(process)
    text = log.read_text()
    assert "will not be used to configure Dagster" not in text, text
    assert "Found a dagster instance configuration" not in text, text


def test_the_worker_runs_as_many_threads_as_the_cores_it_is_given(tmp_path, sample_call):
    """A command limited to one core (taskset, as a container's cpuset would) runs its worker's
    torch and CTranslate2 on one thread each; the steps' metadata say what the libraries got."""
    from dagster import AssetKey

    home = tmp_path / "home"
    env = cli_env(home)
    env.pop("OMP_NUM_THREADS", None)  # the worker decides from its affinity alone
    command = ["taskset", "-c", "0", sys.executable, "-m", "whisper_pipeline.cli", "run"]
    result = subprocess.run(
        [*command, str(sample_call)], capture_output=True, text=True, env=env, timeout=600
    )
    assert result.returncode == 0, result.stderr
    with instance_of(home) as instance:

        def shown(asset: str) -> str:
            records = instance.fetch_materializations(AssetKey(asset), limit=1).records
            return records[0].asset_materialization.metadata["cpu_threads"].value

        assert shown("transcript") == "ctranslate2 1, torch 1 of 1 core"
        assert shown("diarization") == "torch 1 of 1 core"


# Names that try to forge a finished line, clear the terminal, recolour it and reverse what
# follows: every place a person reads a name shows it escaped (core/display.label).
FORGED_GOOD = "call\n[2∕2] payroll.wav: done (forged)\r\x1b[31mred\u202ekcab.wav"
FORGED_BAD = "notes\n[1∕1] fine.wav: done\x1b[2J.wav"
RAW_CONTROLS = ("\r", "\x1b", "\u202e")


def test_file_names_are_labels_never_control(tmp_path, sample_call, bad_files):
    from dagster import AssetKey, DagsterEventType, EventRecordsFilter

    from whisper_pipeline.core.display import label

    folder = tmp_path / "drop"
    folder.mkdir()
    subprocess.run(
        ["sox", str(sample_call), str(folder / FORGED_GOOD), "trim", "0", "6"], check=True
    )
    shutil.copyfile(bad_files["text"], folder / FORGED_BAD)
    home = tmp_path / "home"
    run = cli(home, "run", str(folder))
    status = cli(home, "status", check=True)
    assert run.returncode == 1, run.stderr
    shown = {"run": run.stdout + run.stderr, "status": status.stdout}
    for command, text in shown.items():
        assert not [c for c in RAW_CONTROLS if c in text], (command, text)
        lines = text.splitlines()
        forged = [
            line for line in lines if line.lstrip().startswith(("[2∕2] payroll", "[1∕1] fine"))
        ]
        assert forged == [], (command, text)
    assert label(FORGED_BAD) in run.stderr  # in the failures list, escaped
    assert label(FORGED_BAD) in status.stdout  # in "recent failures"
    assert label(FORGED_GOOD) in run.stdout  # the launch line and the finished line
    rows = json.loads(cli(home, "status", "--format", "json", check=True).stdout)
    assert {row["source_name"] for row in rows} == {label(FORGED_GOOD), label(FORGED_BAD)}
    # the exports' headers, and the file as the UI's partition pages show it
    (document,) = (home / "outputs").glob("*/*.json")
    assert json.loads(document.read_text())["source"] == label(FORGED_GOOD)
    with instance_of(home) as instance:
        records = instance.get_event_records(
            EventRecordsFilter(DagsterEventType.ASSET_MATERIALIZATION, AssetKey("transcript"))
        )
        files = {r.asset_materialization.metadata["file"].value for r in records}
    assert files == {label(FORGED_GOOD)}
    # the warehouse keeps the name as it is: it is data, and queries can match it
    sql = (
        "SELECT source_name FROM recording_files UNION ALL SELECT source_name FROM failures"
        " ORDER BY source_name"
    )  # the undecodable file has a failures row only
    names = [
        r["source_name"] for r in json.loads(cli(home, "query", "--format", "json", sql).stdout)
    ]
    assert names == sorted([FORGED_GOOD, FORGED_BAD])
    table = cli(home, "query", sql, check=True).stdout
    assert not [c for c in RAW_CONTROLS if c in table] and label(FORGED_BAD) in table
