"""Deployment files: the compose file validates, the image's entry command serves the code
location, and secrets never reach logs, run config or the warehouse."""

import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from whisper_pipeline_tests.conftest import cli_env, kill_group, spawn_group

REPO = Path(__file__).resolve().parents[2]


def compose_config(**env):
    docker_compose = shutil.which("docker-compose")
    if docker_compose is None:
        pytest.fail("docker-compose is not installed: run scripts/setup.sh")
    environment = {
        k: v for k, v in os.environ.items() if k not in ("POSTGRES_PASSWORD", "HF_TOKEN")
    }
    environment.update(env)
    return subprocess.run(
        [docker_compose, "-f", str(REPO / "docker" / "compose.yaml"), "config"],
        capture_output=True,
        text=True,
        env=environment,
        cwd=REPO / "docker",
    )


def test_compose_file_validates_with_postgres_redis_code_webserver_daemon_api_and_a_gpu_worker():
    result = compose_config(POSTGRES_PASSWORD="example", GRAFANA_PASSWORD="example")
    assert result.returncode == 0, result.stderr
    config = yaml.safe_load(result.stdout)
    services = config["services"]
    assert set(services) == {
        "postgres",
        "redis",
        "code",
        "webserver",
        "daemon",
        "api",
        "worker",
        "metrics",
        "prometheus",
        "grafana",
    }
    for name in (
        "webserver",
        "api",
        "prometheus",
        "grafana",
    ):  # loopback only until a proxy (and TLS) is put in front
        (port,) = services[name]["ports"]  # compose v1 prints short syntax, v2 long syntax
        assert (port["host_ip"] if isinstance(port, dict) else port.split(":")[0]) == "127.0.0.1"
    assert services["api"]["command"][:2] == ["whisper-pipeline", "api"]
    assert services["metrics"]["command"][:2] == ["whisper-pipeline", "metrics"]
    assert "--metrics-port" in services["worker"]["command"]
    mounted = {
        v["source"] if isinstance(v, dict) else v.split(":")[0]
        for v in services["grafana"]["volumes"]
    }
    assert any(str(m).endswith("grafana/dashboards") for m in mounted)
    worker = services["worker"]  # runs execute in the worker: it gets the GPU and the data
    devices = worker["deploy"]["resources"]["reservations"]["devices"]
    assert devices[0]["capabilities"] == ["gpu"]
    assert worker["command"][:2] == ["whisper-pipeline", "worker"]
    for name in ("code", "worker", "daemon", "api"):
        mounts = {
            v["target"] if isinstance(v, dict) else v.split(":")[1]
            for v in services[name]["volumes"]
        }
        assert {"/data/inbox", "/data/outputs", "/data/warehouse", "/data/uploads"} <= mounts
    for name in ("daemon", "webserver", "worker", "api"):
        environment = services[name]["environment"]
        assert environment["WHISPER_PIPELINE_INSTANCE"] == "production"
        assert environment["WHISPER_PIPELINE_BROKER"] == "redis://redis:6379/0"


def test_compose_refuses_to_start_without_a_database_password():
    result = compose_config()
    assert result.returncode != 0 and "POSTGRES_PASSWORD" in result.stderr


def test_the_image_entry_command_serves_the_code_location(tmp_path):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = cli_env(tmp_path / "home")
    server = spawn_group(
        [
            sys.executable,
            "-m",
            "whisper_pipeline.cli",
            "with-instance",
            "dagster",
            "code-server",
            "start",
            "-h",
            "127.0.0.1",
            "-p",
            str(port),
            "-m",
            "whisper_pipeline.definitions",
        ],
        env,
        cwd=REPO,
    )
    try:
        deadline = time.monotonic() + 120
        while True:
            check = subprocess.run(
                [
                    sys.executable,
                    "-m",
                    "dagster",
                    "api",
                    "grpc-health-check",
                    "-p",
                    str(port),
                    "--host",
                    "127.0.0.1",
                ],
                capture_output=True,
                text=True,
                env=env,
            )
            if check.returncode == 0:
                break
            assert server.poll() is None, "code server exited"
            assert time.monotonic() < deadline, check.stderr
            time.sleep(2)
        assert (tmp_path / "home" / "dagster" / "dagster.yaml").exists()
    finally:
        kill_group(server)


def test_the_token_never_reaches_logs_run_config_or_the_warehouse(tmp_path, sample_call):
    secret = "hf_SECRETtoken1234567890"
    home = tmp_path / "home"
    config = tmp_path / "run.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "resources": {
                    "diarizer": {"config": {"pipeline": str(tmp_path / "no-such-pipeline")}}
                }
            }
        )
    )
    env = {**cli_env(home), "HF_TOKEN": secret}
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "whisper_pipeline.cli",
            "-v",
            "run",
            "--config",
            str(config),
            str(sample_call),
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert (
        result.returncode == 1 and "Step diarization failed" in result.stderr
    )  # the token was read
    assert secret not in result.stdout + result.stderr
    leaked = [p for p in home.rglob("*") if p.is_file() and secret.encode() in p.read_bytes()]
    assert leaked == []  # event log, run config (SQLite), registry, warehouse Parquet, exports
