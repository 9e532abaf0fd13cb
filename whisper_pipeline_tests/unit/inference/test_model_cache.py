import logging

import pytest

from whisper_pipeline.inference.model_cache import ModelCache


class Model:
    def __init__(self, name):
        self.name = name
        self.released = False


def release(model):
    model.released = True


def test_borrow_counts_references_and_hits_after_first_load():
    cache, loads = ModelCache(max_models=2), []
    with cache.borrow("a", lambda: loads.append("a") or Model("a"), release) as first:
        with cache.borrow("a", lambda: loads.append("a") or Model("a"), release) as second:
            assert first.model is second.model and cache.borrowers("a") == 2
            assert (first.cache_hit, second.cache_hit) == (False, True)
        assert cache.borrowers("a") == 1
    assert loads == ["a"] and cache.borrowers("a") == 0 and "a" in cache


def test_least_recently_used_idle_model_is_evicted_never_one_in_use():
    cache = ModelCache(max_models=1)
    with cache.borrow("a", lambda: Model("a"), release) as a:
        with cache.borrow("b", lambda: Model("b"), release) as b:
            assert cache.loaded_keys() == ["a", "b"]  # both in use: bound waits
        assert a.model.released is False
    assert cache.loaded_keys() == ["a"]  # b was the only idle model when the bound was enforced
    assert b.model.released and not a.model.released
    with cache.borrow("c", lambda: Model("c"), release) as c:
        pass
    assert cache.loaded_keys() == ["c"] and a.model.released and not c.model.released


def test_eager_release_and_release_on_exception():
    cache = ModelCache()
    with (
        pytest.raises(ValueError),
        cache.borrow("a", lambda: Model("a"), release, eager_release=True) as a,
    ):
        raise ValueError("step failed")
    assert a.model.released and "a" not in cache


def test_release_failure_is_logged_with_traceback_not_swallowed_silently(caplog):
    cache = ModelCache()

    def broken(_model):
        raise RuntimeError("driver said no")

    with cache.borrow("a", lambda: Model("a"), broken):
        pass
    with caplog.at_level(logging.ERROR):
        assert cache.clear() == 1
    assert "releasing model failed" in caplog.text and "driver said no" in caplog.text


def test_clear_force_releases_borrowed_models_too():
    cache = ModelCache()
    with cache.borrow("a", lambda: Model("a"), release) as a:
        assert cache.clear() == 0
        assert cache.clear(force=True) == 1
        assert a.model is None or a.model.released


def test_concurrent_borrowers_share_one_load():
    import threading
    import time

    cache, loads = ModelCache(), []

    def slow_load():
        loads.append(1)
        time.sleep(0.3)
        return Model("a")

    seen = []

    def worker():
        with cache.borrow("a", slow_load, release) as borrowed:
            seen.append(borrowed.model)
            time.sleep(0.05)

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(loads) == 1 and len({id(m) for m in seen}) == 1
    assert cache.borrowers("a") == 0 and cache.stats.hits == 7 and cache.stats.misses == 1
