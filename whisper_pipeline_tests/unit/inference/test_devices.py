import os

from whisper_pipeline.inference.devices import resolve_threads


def test_explicit_threads_are_used_as_given(monkeypatch):
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    assert resolve_threads(3) == 3


def test_automatic_ctranslate2_threads_are_half_the_budget_at_least_one(monkeypatch):
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    assert resolve_threads(0) == 1
    monkeypatch.delenv("OMP_NUM_THREADS")
    assert resolve_threads(0) == max(1, len(os.sched_getaffinity(0)) // 2)
    monkeypatch.setenv("OMP_NUM_THREADS", "not a number")
    assert resolve_threads(0) == max(1, len(os.sched_getaffinity(0)) // 2)
