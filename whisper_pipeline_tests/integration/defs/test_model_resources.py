"""The model resources with the real bundled model: cache, release, teardown, signals."""

import shutil
import signal
import subprocess
import sys
import time

import pytest

from whisper_pipeline.defs.resources.asr import WhisperASR
from whisper_pipeline.defs.resources.storage import PipelineStorage
from whisper_pipeline.inference.model_cache import MODEL_CACHE
from whisper_pipeline_tests.conftest import cli_env, no_diarization_file, status_rows, wait_for


def loaded(pipeline) -> bool:
    return pipeline.model.model.model_is_loaded


@pytest.fixture
def bounded_cache():
    yield MODEL_CACHE
    MODEL_CACHE.configure(max_models=3)


def test_reference_counts_and_eviction_order_with_real_models(bounded_cache):
    int8 = WhisperASR(device="cpu", compute_type="int8", max_loaded_models=1)
    float32 = WhisperASR(device="cpu", compute_type="float32", max_loaded_models=1)
    with int8.borrow() as a:
        with int8.borrow() as a_again:
            assert a_again.model is a.model and MODEL_CACHE.borrowers(int8.cache_key()) == 2
            assert a_again.cache_hit
        with float32.borrow() as b:
            assert b.model is not a.model and not b.cache_hit
            assert loaded(a.model) and loaded(b.model)  # both in use: the bound waits
        assert not loaded(b.model)  # the only idle model over the bound goes
        assert float32.cache_key() not in MODEL_CACHE and loaded(a.model)
    with float32.borrow() as b2:
        assert not b2.cache_hit
    assert not loaded(a.model) and int8.cache_key() not in MODEL_CACHE  # least recently used
    assert loaded(b2.model)


def test_release_on_exception_and_eager_release(bounded_cache):
    eager = WhisperASR(device="cpu", compute_type="float32", eager_release=True)
    with pytest.raises(RuntimeError, match="step blew up"), eager.borrow() as borrowed:
        assert loaded(borrowed.model)
        raise RuntimeError("step blew up")
    assert not loaded(borrowed.model) and eager.cache_key() not in MODEL_CACHE


def _materialize(instance, home, tiny_file, release_after_run):
    from whisper_pipeline.defs.resources.storage import PipelineStorage
    from whisper_pipeline.runtime import runner
    from whisper_pipeline_tests.in_process import process_in_process

    storage = PipelineStorage(home_dir=str(home))
    entries = runner.register(instance, storage.registry, [tiny_file])
    config = {
        "resources": {
            "storage": {"config": {"home_dir": str(home)}},
            "asr": {"config": {"device": "cpu", "release_after_run": release_after_run}},
        }
    }
    (outcome,) = process_in_process(instance, entries, True, config)
    assert outcome.status == "succeeded", outcome.error


def test_resource_teardown_releases_models_after_a_real_run(instance, pipeline_home, tiny_file):
    key = WhisperASR(device="cpu").cache_key()
    _materialize(instance, pipeline_home, tiny_file, release_after_run=False)
    assert key in MODEL_CACHE  # kept for the next run of this process (the CLI's batch)
    _materialize(instance, pipeline_home, tiny_file, release_after_run=True)
    assert key not in MODEL_CACHE


def test_idle_models_are_released_in_long_lived_processes(bounded_cache):
    idle = WhisperASR(device="cpu", compute_type="float32", idle_release_s=0.5)
    try:
        with idle.borrow() as borrowed:
            time.sleep(1.0)
            assert loaded(borrowed.model)  # in use: never released
        deadline = time.monotonic() + 10
        while idle.cache_key() in MODEL_CACHE and time.monotonic() < deadline:
            time.sleep(0.2)
        assert idle.cache_key() not in MODEL_CACHE and not loaded(borrowed.model)
    finally:
        MODEL_CACHE.idle_seconds = None


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_signal_mid_transcription_stops_cleanly_releases_models_and_fails_the_run(
    sig, tmp_path, sample_call
):
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    long_file = inbox / "long call.wav"
    subprocess.run(["sox", *[str(sample_call)] * 8, str(long_file)], check=True)
    shutil.copyfile(sample_call, inbox / "zz next.wav")
    home = tmp_path / "home"
    config = no_diarization_file(tmp_path)  # transcription starts at once
    process = subprocess.Popen(  # one at a time: the second recording waits, never started
        [sys.executable, "-m", "whisper_pipeline.cli", "run", "--workers", "1"]
        + ["--config", str(config), str(inbox)],
        env=cli_env(home),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    seen = []
    for line in process.stderr:  # progress lines arrive while it transcribes
        seen.append(line)
        # as transcription starts (the step's first progress line): ~15 s of it remain, where
        # later lines come only every 10 s and the last one at its very end
        if "transcribe: 0 segments" in line:
            break

    def asr_loaded() -> bool:  # the step has its model: the signal comes mid-transcription
        logs = "".join(path.read_text() for path in (home / "logs").glob("worker-*.log"))
        return any("model loaded" in line and "asr" in line for line in logs.splitlines())

    wait_for(asr_loaded, 60, "the transcription model to be loaded", interval_s=0.1)
    process.send_signal(sig)
    stdout, rest = process.communicate(timeout=120)
    stderr = "".join(seen) + rest
    assert process.returncode == 128 + sig, stderr
    assert f"stopped by {signal.Signals(sig).name}: 2 unfinished run(s) canceled" in stderr
    (worker_log,) = (home / "logs").glob("worker-*.log")
    # the worker's models, released as it exits on its own after the command returned
    wait_for(
        lambda: "model released (process shutdown" in worker_log.read_text(),
        60,
        "the worker to release its models",
    )
    runs = {run["source_name"]: run for run in status_rows(home)}
    interrupted, never_started = runs["long call.wav"], runs["zz next.wav"]
    assert interrupted["status"] == "CANCELED" and interrupted["step"] == "transcribe"
    assert interrupted["error"].startswith("Step transcribe interrupted after ")
    assert never_started["status"] == "CANCELED" and never_started["step"] is None
    with PipelineStorage(home_dir=str(home)).warehouse.query_connection() as con:
        rows = con.execute("SELECT source_name, step FROM failures").fetchall()
    assert rows == [("long call.wav", "transcribe")]  # where it stopped, for DuckDB users


cuda = pytest.importorskip("torch").cuda


@pytest.mark.skipif(not cuda.is_available(), reason="needs a CUDA GPU")
def test_cuda_memory_returns_to_baseline_after_release(sample_call, bounded_cache):
    from whisper_pipeline.inference.audio import iter_windows, probe
    from whisper_pipeline.inference.transcription import transcribe_windows

    cuda.synchronize()
    free_before, _total = cuda.mem_get_info()
    asr = WhisperASR(device="cuda", compute_type="float16", window_s=30.0)
    with asr.borrow() as whisper:
        peaks = []
        for _ in transcribe_windows(
            whisper.model, iter_windows(sample_call, 30.0), probe(sample_call).duration_s, None, 8
        ):
            peaks.append(cuda.mem_get_info()[0])
        assert cuda.mem_get_info()[0] < free_before  # the model is on the GPU
        # memory does not grow window after window
        assert max(peaks) - min(peaks) < 64 * 2**20
    MODEL_CACHE.release(asr.cache_key())
    cuda.synchronize()
    assert abs(cuda.mem_get_info()[0] - free_before) < 64 * 2**20
