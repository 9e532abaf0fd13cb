"""The Dagster internals the pipeline relies on: creating a run as the UI does, the packed
arguments of dagster-celery's task, interruption and failure vocabulary."""

import signal

from dagster import DagsterRunStatus
from dagster._core.launcher import WorkerStatus as CoreWorkerStatus

from whisper_pipeline.adapters import dagster_internals as internals
from whisper_pipeline.defs.jobs import PROCESS_RECORDING
from whisper_pipeline.runtime.runner import CODE_LOCATION, DEFINITIONS_MODULE


def test_a_run_created_from_the_in_process_code_location_carries_its_origin(instance):
    with internals.code_location_workspace(instance, DEFINITIONS_MODULE, CODE_LOCATION) as ws:
        planned = internals.plan_job(instance, ws, CODE_LOCATION, PROCESS_RECORDING, None, {})
        run = internals.create_planned_run(instance, planned, None, {}, {"a": "b"})
    assert run.status == DagsterRunStatus.NOT_STARTED and run.tags["a"] == "b"
    assert run.remote_job_origin.location_name == CODE_LOCATION  # the UI can re-execute it
    assert run.job_code_origin.repository_origin.code_pointer.module == DEFINITIONS_MODULE
    keys = {key.path[-1] for key in planned.asset_graph.get_all_asset_keys()}
    assert {"transcript", "diarization", "recording_analytics"} <= keys
    planned_steps = {step.key for step in planned.plan.steps}
    assert {"transcript", "diarization"} <= planned_steps


def test_the_run_id_travels_in_dagster_celery_s_packed_arguments(instance):
    from dagster._grpc.types import ExecuteRunArgs
    from dagster._serdes import pack_value

    with internals.code_location_workspace(instance, DEFINITIONS_MODULE, CODE_LOCATION) as ws:
        planned = internals.plan_job(instance, ws, CODE_LOCATION, PROCESS_RECORDING, None, {})
        run = internals.create_planned_run(instance, planned, None, {}, {})
    packed = pack_value(
        ExecuteRunArgs(job_origin=run.job_code_origin, run_id=run.run_id, instance_ref=None)
    )
    assert internals.launched_run_id(packed) == run.run_id


def test_sigterm_interrupts_like_sigint():
    before = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        signal.signal(signal.SIGINT, signal.default_int_handler)
        internals.interrupts_on_sigterm()
        assert signal.getsignal(signal.SIGTERM) is signal.default_int_handler
    finally:
        for sig, handler in before.items():
            signal.signal(sig, handler)


def test_launcher_vocabulary_and_the_failure_reason_retries_act_on():
    assert internals.WorkerStatus is CoreWorkerStatus
    assert {"RUNNING", "FAILED", "SUCCESS"} <= set(internals.WorkerStatus.__members__)
    assert internals.unexpected_termination().failure_reason.value == "UNEXPECTED_TERMINATION"
    for method in ("check_run_worker_health", "terminate", "launch_run"):
        assert callable(getattr(internals.CeleryRunLauncher, method))
