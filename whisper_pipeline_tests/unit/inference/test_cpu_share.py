"""The cores a worker may use and the threads it runs: cgroup quotas, other processes' load read
from /proc/stat-shaped counters, and the governor's choice."""

import os

from whisper_pipeline.inference.cpu_share import (
    CpuTimes,
    ThreadGovernor,
    cgroup_cpu_quota,
    cores_allowed,
    cores_busy_elsewhere,
    free_cores,
    read_cpu_times,
    threads_budget,
    threads_per_process,
)


def test_a_cgroup_quota_is_read_in_cores(tmp_path):
    (tmp_path / "cpu.max").write_text("150000 100000\n")
    assert cgroup_cpu_quota(tmp_path) == 1.5
    (tmp_path / "cpu.max").write_text("max 100000\n")
    assert cgroup_cpu_quota(tmp_path) is None
    v1 = tmp_path / "v1"
    (v1 / "cpu").mkdir(parents=True)
    (v1 / "cpu" / "cpu.cfs_quota_us").write_text("50000")
    (v1 / "cpu" / "cpu.cfs_period_us").write_text("100000")
    assert cgroup_cpu_quota(v1) == 0.5
    (v1 / "cpu" / "cpu.cfs_quota_us").write_text("-1")
    assert cgroup_cpu_quota(v1) is None
    assert cgroup_cpu_quota(tmp_path / "nothing here") is None


def test_the_budget_is_the_affinity_capped_by_omp_num_threads(monkeypatch):
    assert cores_allowed() <= len(os.sched_getaffinity(0))
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    assert threads_budget() == 1
    monkeypatch.setenv("OMP_NUM_THREADS", "999")
    assert threads_budget() == cores_allowed()  # never more than the cores it may use
    assert threads_per_process(2, cores=16) == 8 and threads_per_process(4, cores=2) == 1


def times(per_cpu: dict[int, tuple[int, int]], own_s: float, at: float) -> CpuTimes:
    return CpuTimes(per_cpu, own_s, at)


def test_other_processes_load_is_the_busy_time_less_our_own():
    before = times({0: (0, 0), 1: (0, 0)}, own_s=0.0, at=0.0)
    # over 1 s, CPU 0 fully busy and CPU 1 half busy; we used 0.5 s of CPU ourselves
    after = times({0: (100, 100), 1: (50, 100)}, own_s=0.5, at=1.0)
    assert cores_busy_elsewhere(before, after, {0, 1}) == 1.0
    # only the CPUs the process may run on count
    assert cores_busy_elsewhere(before, after, {1}) == 0.0
    assert cores_busy_elsewhere(before, before, {0, 1}) == 0.0


def test_threads_are_the_free_cores_at_least_one():
    assert free_cores(2, 0.0) == 2
    assert free_cores(2, 0.3) == 2  # a core busy a third of the time is still ours
    assert free_cores(2, 0.9) == 1
    assert free_cores(2, 2.0) == 1
    assert free_cores(16, 3.2) == 13


def test_the_governor_sets_torchs_threads_and_says_how_many_it_used(monkeypatch):
    import torch

    before = torch.get_num_threads()
    try:
        fixed = ThreadGovernor(allowed=1, adaptive=False)
        assert fixed.start() == 1 and torch.get_num_threads() == 1
        fixed.tick()
        assert fixed.describe() == "1 of 1 core"
        governor = ThreadGovernor(allowed=2, adaptive=True)
        governor.start()
        governor._set(1)  # as a tick does when another process takes a core
        assert torch.get_num_threads() == 1
        assert governor.describe().startswith("1-2 of 2 cores")
    finally:
        torch.set_num_threads(before)


def test_proc_stat_is_read_here():
    reading = read_cpu_times()
    assert reading is not None and set(reading.per_cpu) >= os.sched_getaffinity(0)
