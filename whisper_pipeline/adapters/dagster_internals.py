"""What the pipeline uses of Dagster (and dagster-celery) beyond their public API.

- run-launcher classes (`CheckRunHealthResult`, `WorkerStatus`, `ConfigurableClassData`) and
  dagster-celery's launcher, which runtime/launcher.py extends;
- executing a launched run inside a long-lived worker process (what `dagster api
  execute_run` does in a fresh process) and Dagster's SIGTERM-as-interrupt handling, and
  whether a terminate arrived outside a step's body (Dagster notes it for later);
- loading the code location in this process and creating a run from it exactly as the UI
  does (origin, job snapshot, execution plan), so the UI can re-execute CLI runs;
- the failure reason a run monitor gives a run it ends (so Dagster's run retries act on it).

docs/architecture.md lists each with why the public API does not do it."""

from __future__ import annotations

import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

from dagster import AssetKey, DagsterInstance, DagsterRun
from dagster._core.definitions.assets.graph.remote_asset_graph import RemoteRepositoryAssetGraph
from dagster._core.definitions.selector import JobSubsetSelector
from dagster._core.events import JobFailureData, RunFailureReason
from dagster._core.launcher import CheckRunHealthResult, WorkerStatus
from dagster._core.remote_origin import InProcessCodeLocationOrigin
from dagster._core.remote_representation.external import RemoteJob
from dagster._core.snap.execution_plan_snapshot import ExecutionPlanSnapshot
from dagster._core.types.loadable_target_origin import LoadableTargetOrigin
from dagster._core.workspace.context import WorkspaceProcessContext, WorkspaceRequestContext
from dagster._core.workspace.load_target import InProcessWorkspaceLoadTarget
from dagster._serdes import ConfigurableClassData
from dagster_celery.launcher import CeleryRunLauncher

from whisper_pipeline.adapters.versions import require

DAGSTER_VERSION = require("dagster", ">=1.13,<1.14")
DAGSTER_CELERY_VERSION = require("dagster-celery", ">=0.29,<0.30")

__all__ = [
    "CeleryRunLauncher",
    "CheckRunHealthResult",
    "ConfigurableClassData",
    "PlannedJob",
    "WorkerStatus",
    "WorkspaceRequestContext",
    "code_location_workspace",
    "create_planned_run",
    "execute_launched_run",
    "interrupts_on_sigterm",
    "launched_run_id",
    "plan_job",
    "unexpected_termination",
]


def launched_run_id(packed_args: dict) -> str:
    """The run id in the ExecuteRunArgs dagster-celery's launcher packed into its task."""
    from dagster._grpc.types import ExecuteRunArgs
    from dagster._serdes import unpack_value

    return unpack_value(packed_args, as_type=ExecuteRunArgs).run_id


def execute_launched_run(instance: DagsterInstance, packed_args: dict) -> int:
    """Execute the run whose ExecuteRunArgs the launcher packed, in this process (the body of
    `dagster api execute_run`); the exit code it would have."""
    from dagster._cli.api import _execute_run_command_body
    from dagster._grpc.types import ExecuteRunArgs
    from dagster._serdes import unpack_value

    args = unpack_value(packed_args, as_type=ExecuteRunArgs)
    return _execute_run_command_body(
        instance=instance,
        run_id=args.run_id,
        write_stream_fn=lambda _event: None,
        set_exit_code_on_failure=args.set_exit_code_on_failure is not False,
    )


@contextmanager
def interrupts_deferred() -> Iterator[None]:
    """Further Ctrl+C or SIGTERM wait while the body runs (a step recording where it was
    interrupted must not be interrupted in turn); Dagster's own capture."""
    from dagster._utils.interrupts import capture_interrupts

    with capture_interrupts():
        yield


def terminate_noted() -> bool:
    """A terminate (SIGTERM/SIGINT) arrived where Dagster does not raise it at once (as a step
    ends): it would be raised in the next step's body, after that step's start."""
    from dagster._utils.interrupts import check_captured_interrupt

    return check_captured_interrupt()


def interrupts_on_sigterm() -> None:
    """SIGTERM interrupts the running step as SIGINT does (Dagster's own mapping)."""
    from dagster._utils.interrupts import setup_interrupt_handlers

    setup_interrupt_handlers()


def unexpected_termination() -> JobFailureData:
    """The failure data of a run ended from outside (Dagster's run retries act on it)."""
    return JobFailureData(error=None, failure_reason=RunFailureReason.UNEXPECTED_TERMINATION)


@contextmanager
def code_location_workspace(
    instance: DagsterInstance, module_name: str, location_name: str
) -> Iterator[WorkspaceRequestContext]:
    """The code location in `module_name` loaded in this process under `location_name` (the
    name the UI and daemon know it by): runs created from it carry that origin."""
    origin = InProcessCodeLocationOrigin(
        LoadableTargetOrigin(executable_path=sys.executable, module_name=module_name),
        location_name=location_name,
    )
    with WorkspaceProcessContext(instance, InProcessWorkspaceLoadTarget(origin)) as process:
        yield process.create_request_context()


@dataclass(frozen=True)
class PlannedJob:
    """A job (or its asset subset) and its execution plan, as the UI would launch it."""

    job_name: str
    remote_job: RemoteJob
    plan: ExecutionPlanSnapshot
    asset_graph: RemoteRepositoryAssetGraph


def plan_job(
    instance: DagsterInstance,
    workspace: WorkspaceRequestContext,
    location_name: str,
    job_name: str,
    assets: Sequence[AssetKey] | None,
    run_config: dict,
) -> PlannedJob:
    location = workspace.get_code_location(location_name)
    (repository,) = location.get_repositories().values()
    selector = JobSubsetSelector(
        location_name=location_name,
        repository_name=repository.name,
        job_name=job_name,
        op_selection=None,
        asset_selection=list(assets) if assets else None,
    )
    remote_job = location.get_job(selector)
    plan = location.get_execution_plan(
        remote_job, run_config, step_keys_to_execute=None, known_state=None, instance=instance
    ).execution_plan_snapshot
    return PlannedJob(job_name, remote_job, plan, repository.asset_graph)


def create_planned_run(
    instance: DagsterInstance,
    planned: PlannedJob,
    assets: Sequence[AssetKey] | None,
    run_config: dict,
    tags: dict[str, str],
) -> DagsterRun:
    """A run of the planned job, with its code origin and snapshots (not yet submitted)."""
    remote_job, plan = planned.remote_job, planned.plan
    return instance.create_run(
        job_name=planned.job_name,
        run_id=None,
        run_config=run_config,
        resolved_op_selection=remote_job.resolved_op_selection,
        step_keys_to_execute=plan.step_keys_to_execute,
        op_selection=None,
        status=None,
        root_run_id=None,
        parent_run_id=None,
        tags={**remote_job.tags, **tags},
        job_snapshot=remote_job.job_snapshot,
        execution_plan_snapshot=plan,
        parent_job_snapshot=remote_job.parent_job_snapshot,
        remote_job_origin=remote_job.get_remote_origin(),
        job_code_origin=remote_job.get_python_origin(),
        asset_selection=frozenset(assets) if assets else None,
        asset_check_selection=None,
        asset_graph=planned.asset_graph,
    )
