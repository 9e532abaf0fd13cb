"""A worker's pool processes share the cores for inference threads."""

from whisper_pipeline.lib.devices import usable_cores
from whisper_pipeline.local_worker import worker_environment


def test_each_of_several_pool_processes_gets_its_share_of_the_cores():
    env = worker_environment(2, {"PATH": "/usr/bin"})
    assert env == {"PATH": "/usr/bin", "OMP_NUM_THREADS": str(max(1, usable_cores() // 2))}


def test_one_pool_process_or_a_users_own_setting_is_left_alone():
    assert "OMP_NUM_THREADS" not in worker_environment(1, {"PATH": "/usr/bin"})
    assert worker_environment(4, {"OMP_NUM_THREADS": "3"})["OMP_NUM_THREADS"] == "3"
