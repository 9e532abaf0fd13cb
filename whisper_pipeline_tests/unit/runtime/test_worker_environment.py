"""How many runs a command runs at a time, and how its pool processes share the cores."""

from whisper_pipeline.inference.cpu_share import cores_allowed
from whisper_pipeline.inference.devices import cuda_devices
from whisper_pipeline.runtime.local_worker import default_concurrency, worker_environment


def test_each_of_several_pool_processes_gets_its_share_of_the_cores():
    env = worker_environment(2, {"PATH": "/usr/bin"})
    assert env == {"PATH": "/usr/bin", "OMP_NUM_THREADS": str(max(1, cores_allowed() // 2))}


def test_one_pool_process_or_a_users_own_setting_is_left_alone():
    assert "OMP_NUM_THREADS" not in worker_environment(1, {"PATH": "/usr/bin"})
    assert worker_environment(4, {"OMP_NUM_THREADS": "3"})["OMP_NUM_THREADS"] == "3"


def test_the_run_command_runs_two_at_a_time_on_the_cpu_and_one_on_a_gpu():
    assert default_concurrency(20, "cpu") == 2
    assert default_concurrency(1, "cpu") == 1  # no second process for a single recording
    assert default_concurrency(20, "cuda") == 1  # a second copy of the models in GPU memory
    assert default_concurrency(20, "auto") == (1 if cuda_devices() else 2)
