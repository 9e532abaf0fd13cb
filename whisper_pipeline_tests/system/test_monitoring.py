"""Metrics as a team watches them: a real Prometheus started here scrapes the exporter and a run
worker while real recordings go through `whisper-pipeline run` (one good, one that fails in
metadata, one whose worker process is killed mid-transcription), and its PromQL answers are
checked; the alert rules pass promtool's check and unit tests; every query of the Grafana
dashboard is valid PromQL the server answers."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest
import requests

from whisper_pipeline_tests.conftest import (
    REPO,
    cli_env,
    free_port,
    kill_group,
    spawn_group,
    wait_for,
)

PROMETHEUS_DIR = REPO / "docker" / "prometheus"
DASHBOARD = REPO / "docker" / "grafana" / "dashboards" / "whisper-pipeline.json"


def tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        pytest.fail(f"{name} is not installed: run scripts/setup.sh (Debian package prometheus)")
    return path


def test_alert_rules_pass_promtools_check_and_unit_tests():
    checked = subprocess.run(
        [tool("promtool"), "check", "rules", "alerts.yml"],
        cwd=PROMETHEUS_DIR,
        capture_output=True,
        text=True,
    )
    assert checked.returncode == 0 and "6 rules found" in checked.stdout, (
        checked.stdout + checked.stderr
    )
    tested = subprocess.run(
        [tool("promtool"), "test", "rules", "alerts_test.yml"],
        cwd=PROMETHEUS_DIR,
        capture_output=True,
        text=True,
    )
    assert tested.returncode == 0 and "SUCCESS" in tested.stdout, tested.stdout + tested.stderr


class Prometheus:
    def __init__(self, url: str) -> None:
        self.url = url

    def query(self, expr: str) -> list[dict]:
        answer = requests.get(f"{self.url}/api/v1/query", params={"query": expr}, timeout=30).json()
        assert answer["status"] == "success", (expr, answer)
        return answer["data"]["result"]

    def value(self, expr: str) -> float | None:
        result = self.query(expr)
        return float(result[0]["value"][1]) if result else None


@pytest.fixture
def prometheus(tmp_path):
    """A Prometheus on loopback scraping the exporter and a worker every second."""
    ports = {"exporter": free_port(), "worker": free_port(), "prometheus": free_port()}
    config = tmp_path / "prometheus.yml"
    config.write_text(
        json.dumps(
            {
                "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
                "rule_files": [str(PROMETHEUS_DIR / "alerts.yml")],
                "scrape_configs": [
                    {
                        "job_name": "whisper-exporter",
                        "static_configs": [{"targets": [f"127.0.0.1:{ports['exporter']}"]}],
                    },
                    {
                        "job_name": "whisper-worker",
                        "static_configs": [{"targets": [f"127.0.0.1:{ports['worker']}"]}],
                    },
                ],
            }
        )
    )
    server = spawn_group(
        [
            tool("prometheus"),
            f"--config.file={config}",
            f"--storage.tsdb.path={tmp_path / 'tsdb'}",
            f"--web.listen-address=127.0.0.1:{ports['prometheus']}",
        ],
        dict(os.environ),
    )
    url = f"http://127.0.0.1:{ports['prometheus']}"

    def ready():
        try:
            return requests.get(f"{url}/-/ready", timeout=2).ok
        except requests.ConnectionError:
            return False

    wait_for(ready, 60, "Prometheus to be ready")
    try:
        yield Prometheus(url), ports
    finally:
        kill_group(server)


def test_prometheus_sees_processed_failed_and_killed_recordings(prometheus, tmp_path, sample_call):
    server, ports = prometheus
    home = tmp_path / "home"
    env = cli_env(home)
    exporter = spawn_group(
        [sys.executable, "-m", "whisper_pipeline.cli", "metrics", "--port", str(ports["exporter"])],
        env,
        cwd=REPO,
    )
    try:
        three_recordings_as_prometheus_sees_them(server, ports, home, env, tmp_path, sample_call)
    finally:
        kill_group(exporter)


def three_recordings_as_prometheus_sees_them(server, ports, home, env, tmp_path, sample_call):
    """One good, one not audio, one whose pool process is killed in transcription."""
    from dagster import RunsFilter

    from whisper_pipeline.core.tags import SOURCE_NAME_TAG, TAG_PID, TAG_STEP

    inbox = tmp_path / "recordings"
    inbox.mkdir()
    shutil.copyfile(sample_call, inbox / "a good call.wav")
    (inbox / "b notes.wav").write_text("minutes of the meeting, not audio\n" * 50)
    long_call = inbox / "c long call.wav"  # 2.5 minutes: time to catch it in transcription
    subprocess.run(["sox", *[str(sample_call)] * 5, str(long_call)], check=True)
    run_env = {
        **env,
        "WHISPER_PIPELINE_WORKER_METRICS_PORT": str(ports["worker"]),
        "WHISPER_PIPELINE_METRICS_ADDR": "127.0.0.1",
    }
    command = subprocess.Popen(
        [sys.executable, "-m", "whisper_pipeline.cli", "run", str(inbox), "--workers", "1"],
        env=run_env,
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    try:
        wait_for(
            lambda: server.value('up{job="whisper-worker"}') == 1, 120, "the worker's endpoint"
        )
        with _instance(home) as instance:

            def long_call_transcribing():
                runs = instance.get_runs(
                    RunsFilter(tags={SOURCE_NAME_TAG: long_call.name}), limit=1
                )
                return runs[0] if runs and runs[0].tags.get(TAG_STEP) == "transcribe" else None

            run = wait_for(long_call_transcribing, 600, "the long call to be in transcription", 0.2)
            progress = f'whisper_run_progress_percent{{run_id="{run.run_id}"}}'
            transcribing = progress.replace("}", ', step="transcribe"}')
            wait_for(lambda: server.query(transcribing), 30, "its progress series in Prometheus")
            os.kill(int(run.tags[TAG_PID]), signal.SIGKILL)
        output, _ = command.communicate(timeout=600)
    finally:
        if command.poll() is None:
            kill_group(command)
    assert command.returncode == 1, output

    def settled():
        return server.value("whisper_recordings_processed_total") == 1 and server.query(
            'whisper_failures_total{kind="worker_died"}'
        )

    wait_for(settled, 60, "the exporter's counts to reach Prometheus")
    assert not server.query(progress)  # the run ended: its series is gone
    assert server.value('whisper_failures_total{step="recording_metadata",kind="decode"}') == 1
    (died,) = server.query('whisper_failures_total{kind="worker_died"}')
    assert died["metric"]["step"] == "transcribe" and float(died["value"][1]) == 1
    assert server.value('whisper_runs_ended_from_outside_total{reason="worker_died"}') == 1
    assert server.value('whisper_runs{dagster_job="process_recording",status="failure"}') == 2
    assert server.value('whisper_recordings{state="registered"}') == 3
    assert server.value("whisper_audio_seconds_processed_total") == pytest.approx(30.0, abs=0.1)
    assert server.value("sum(whisper_exporter_source_up)") == 7
    # what the worker said of itself while it lived
    assert server.value('max_over_time(whisper_model_cache_misses_total{family="asr"}[10m])') >= 1
    assert (
        server.value('max_over_time(whisper_step_duration_seconds_count{step="transcribe"}[10m])')
        >= 1
    )
    rtf = server.value('max_over_time(whisper_step_realtime_factor_sum{step="transcribe"}[10m])')
    assert rtf is not None and 0 < rtf < 5
    pool_memory = server.value(
        'max(max_over_time(whisper_worker_resident_memory_bytes{process="pool"}[10m]))'
    )
    assert pool_memory is not None and pool_memory > 200e6  # it held the models

    # every query of the dashboard is PromQL this server answers
    for panel in json.loads(DASHBOARD.read_text())["panels"]:
        for target in panel["targets"]:
            server.query(target["expr"])


class _instance:
    """The home's Dagster instance, opened here (DAGSTER_HOME set only inside)."""

    def __init__(self, home: Path) -> None:
        self.home = home

    def __enter__(self):
        from dagster import DagsterInstance

        self.before = os.environ.get("DAGSTER_HOME")
        os.environ["DAGSTER_HOME"] = str(self.home / "dagster")
        self.instance = DagsterInstance.get()
        return self.instance

    def __exit__(self, *_):
        self.instance.dispose()
        if self.before is None:
            os.environ.pop("DAGSTER_HOME", None)
        else:
            os.environ["DAGSTER_HOME"] = self.before


def test_a_scrape_with_a_damaged_warehouse_answers_with_an_error_metric(tmp_path, sample_call):
    """A broken warehouse file and an instance being read are no reason to fail a scrape."""
    home = tmp_path / "home"
    failures = home / "warehouse" / "failures"
    failures.mkdir(parents=True)
    (failures / "x__recording_metadata__r1.parquet").write_bytes(b"not parquet at all")
    port = free_port()
    exporter = spawn_group(
        [sys.executable, "-m", "whisper_pipeline.cli", "metrics", "--port", str(port)],
        cli_env(home),
        cwd=REPO,
    )
    try:

        def scraped():
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as r:
                    return r.status, r.read().decode()
            except OSError:
                return None

        status, text = wait_for(scraped, 60, "the exporter")
        assert status == 200
        assert 'whisper_exporter_source_up{source="runs"} 1.0' in text
        assert 'whisper_exporter_source_up{source="failures"} 1.0' in text  # the file is skipped
        assert 'whisper_warehouse_unreadable_files{table="failures"} 1.0' in text
        assert "\nwhisper_failures_total{" not in text
    finally:
        kill_group(exporter)
