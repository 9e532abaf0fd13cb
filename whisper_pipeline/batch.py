"""Several recordings in one run, so the models load once for the whole batch.

The batch run executes `process_recording` for each recording inside its own process: every
recording still gets its own run (partition, status, logs, lineage, failure message, failures
row), and one recording's failure never touches its neighbours. The sensor and the
failed-recordings schedule request this job; the UI's launchpad can too."""

import time

from dagster import (
    Config,
    MetadataValue,
    Nothing,
    OpExecutionContext,
    Out,
    Output,
    in_process_executor,
    job,
    op,
)
from dagster._core.errors import DagsterExecutionInterruptedError
from pydantic import Field

from whisper_pipeline import runner
from whisper_pipeline.assets.step import TAG_PROGRESS, TAG_UPDATED, worker_tags
from whisper_pipeline.jobs import PROCESS_RECORDING
from whisper_pipeline.lib.model_cache import MODEL_CACHE
from whisper_pipeline.resources.storage import PipelineStorage

PROCESS_BATCH = "process_batch"
BATCH_OP = "process_recordings"
BATCH_TAG = "whisper/batch_run_id"  # on each recording's run: the batch run that made it
BATCH_SIZE_TAG = "whisper/batch_size"


class BatchConfig(Config):
    recording_ids: list[str] = Field(
        description="Registered recording ids (partition keys) to process, in order."
    )
    force: bool = Field(
        default=False, description="Process every step again, also for finished recordings."
    )


def batch_run_config(recording_ids: list[str], force: bool = False) -> dict:
    """The run config of a batch run over `recording_ids`."""
    config = {"recording_ids": list(recording_ids), "force": force}
    return {"ops": {BATCH_OP: {"config": config}}}


def requested_ids(run_config: dict) -> list[str]:
    """The recording ids a batch run was asked to process."""
    config = run_config.get("ops", {}).get(BATCH_OP, {}).get("config", {})
    return list(config.get("recording_ids", []))


def _outcome_table(outcomes: list[runner.RunOutcome]) -> str:
    lines = ["| recording | status | run | error |", "|---|---|---|---|"]
    for outcome in outcomes:
        error = (outcome.error or "").replace("|", "/").replace("\n", " ")[:300]
        lines.append(
            f"| {outcome.recording_id} | {outcome.status} | {outcome.run_id or '-'} | {error} |"
        )
    return "\n".join(lines)


@op(
    name=BATCH_OP,
    out=Out(Nothing),
    description="One run of process_recording per recording, all in this process.",
)
def process_recordings(context: OpExecutionContext, config: BatchConfig, storage: PipelineStorage):
    from whisper_pipeline.definitions import defs  # the code location that defines this job

    recording_job = defs.resolve_job_def(PROCESS_RECORDING)
    instance, batch_run_id = context.instance, context.run.run_id
    instance.add_run_tags(batch_run_id, worker_tags())  # the run monitor sees if this process dies
    run_config = runner.shared_models_run_config(
        {"resources": context.run.run_config.get("resources", {})}, storage.home
    )
    runner.add_partitions(instance, config.recording_ids)
    outcomes: list[runner.RunOutcome] = []
    total = len(config.recording_ids)
    loads_before, reuses_before = MODEL_CACHE.stats.misses, MODEL_CACHE.stats.hits
    try:
        for index, recording_id in enumerate(config.recording_ids, start=1):
            try:
                entry = storage.registry.get(recording_id)
            except KeyError as error:
                context.log.error(str(error))
                outcomes.append(runner.RunOutcome(recording_id, "", None, "failed", str(error)))
                continue
            instance.add_run_tags(
                batch_run_id,
                {
                    TAG_PROGRESS: f"recording {index} of {total}: {entry.source_name[:150]}",
                    TAG_UPDATED: f"{time.time():.0f}",
                },
            )
            (outcome,) = runner.process(
                recording_job,
                instance,
                [entry],
                force=config.force,
                run_config=run_config,
                tags={BATCH_TAG: batch_run_id},
            )
            outcomes.append(outcome)
            if outcome.status == "failed":
                context.log.warning(f"{entry.source_name} ({recording_id}) failed: {outcome.error}")
            else:
                context.log.info(f"{entry.source_name} ({recording_id}): {outcome.status}")
            if outcome.interrupted:
                raise DagsterExecutionInterruptedError(
                    f"batch interrupted in recording {index} of {total} ({recording_id})"
                )
    finally:  # models stay loaded only for the batch (counted before the release)
        loads, reuses = MODEL_CACHE.stats.misses, MODEL_CACHE.stats.hits
        MODEL_CACHE.clear(reason="batch finished")
    storage.warehouse.refresh_database()
    counts = {status: sum(o.status == status for o in outcomes) for status in runner.STATUSES}
    counts["model_loads"] = loads - loads_before
    counts["model_reuses"] = reuses - reuses_before
    summary = ", ".join(f"{count} {status}" for status, count in counts.items())
    context.log.info(f"batch of {total}: {summary}")
    yield Output(
        None,
        metadata={
            **{name: MetadataValue.int(count) for name, count in counts.items()},
            "recordings": MetadataValue.md(_outcome_table(outcomes)),
        },
    )


@job(
    name=PROCESS_BATCH,
    executor_def=in_process_executor,
    description=(
        "Several recordings in one process: models load once per batch, each recording still "
        "gets its own process_recording run."
    ),
)
def process_batch():
    process_recordings()
