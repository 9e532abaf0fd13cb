"""Registering recordings and materializing `process_recording` through a Dagster instance.

The CLI uses this; it is the same job, assets and resources the UI and the sensors run."""

from __future__ import annotations

import copy
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from dagster import AssetKey, DagsterInstance

from whisper_pipeline.lib.registry import RecordingRegistry, RegisteredRecording
from whisper_pipeline.partitions import RECORDINGS_PARTITION

PARTITION_CHUNK = 500  # SQLite refuses statements with too many variables
MODEL_RESOURCES = ("asr", "alignment", "diarizer")
SOURCE_NAME_TAG = "whisper/source_name"


STATUSES = ("succeeded", "failed", "skipped")


@dataclass(frozen=True)
class RunOutcome:
    recording_id: str
    source_path: str
    run_id: str | None
    status: str  # succeeded | failed | skipped
    error: str | None = None
    steps: tuple[str, ...] = ()
    interrupted: bool = False  # terminated (SIGTERM, Ctrl+C, UI), not failed by its input


def add_partitions(instance: DagsterInstance, recording_ids: Sequence[str]) -> None:
    known = set(instance.get_dynamic_partitions(RECORDINGS_PARTITION))
    new = [key for key in dict.fromkeys(recording_ids) if key not in known]
    for start in range(0, len(new), PARTITION_CHUNK):
        instance.add_dynamic_partitions(RECORDINGS_PARTITION, new[start : start + PARTITION_CHUNK])


def register(
    instance: DagsterInstance, registry: RecordingRegistry, paths: Iterable[Path]
) -> list[RegisteredRecording]:
    """Register each file and add its recording id as a partition (once)."""
    known = registry.ids()
    entries: list[RegisteredRecording] = []
    for path in paths:
        entry = registry.register(path, known_ids=known)
        if entry.recording_id not in known:
            known.append(entry.recording_id)
        entries.append(entry)
    add_partitions(instance, [e.recording_id for e in entries])
    return entries


def steps_to_run(job, instance: DagsterInstance, recording_id: str, force: bool) -> list[AssetKey]:
    """The job's assets not yet materialized for this recording, and everything downstream of
    them: a re-run repeats only the failed step and what depends on it."""
    graph = job.asset_layer.asset_graph
    keys = list(graph.toposorted_asset_keys)
    if force:
        return keys
    missing = {key for key in keys if recording_id not in instance.get_materialized_partitions(key)}
    selected = set(missing)
    for key in keys:  # topological order: parents are decided first
        if any(parent in selected for parent in graph.get(key).parent_keys):
            selected.add(key)
    return [key for key in keys if key in selected]


INTERRUPT_ERRORS = {"DagsterExecutionInterruptedError", "KeyboardInterrupt"}


def was_interrupted(result) -> bool:
    for event in result.all_events:
        data = event.step_failure_data if event.is_step_failure else None
        if data and data.error and data.error.cls_name in INTERRUPT_ERRORS:
            return True
    return False


def failure_message(instance: DagsterInstance, result) -> str:
    """The first step failure's message, which names the file, step and problem."""
    if was_interrupted(result):
        return interrupted_message(instance, result.run_id)
    for event in result.all_events:
        if event.is_step_failure and event.step_failure_data:
            error = event.step_failure_data.user_failure_data
            if error is not None and error.description:
                return error.description
            if event.step_failure_data.error:
                return event.step_failure_data.error.message.strip()
    return "failed"


def interrupted_message(instance: DagsterInstance, run_id: str) -> str:
    """'Step transcribe interrupted after 12 segments (run terminated)', from the progress tags."""
    from whisper_pipeline.assets.step import TAG_SEGMENTS, TAG_STEP

    run = instance.get_run_by_id(run_id)
    tags = run.tags if run else {}
    segments = tags.get(TAG_SEGMENTS)
    where = f" after {segments} segments" if segments is not None else ""
    return f"Step {tags.get(TAG_STEP, 'unknown')} interrupted{where} (run terminated)"


def shared_models_run_config(run_config: dict | None, pipeline_home: Path) -> dict:
    """Run config for several runs in one process: the given config, results under
    `pipeline_home`, and models kept loaded from one run to the next (the caller releases
    them after the last one)."""
    from whisper_pipeline.settings import as_run_config, load_resource_settings

    config = copy.deepcopy(run_config or {})
    resources = config.setdefault("resources", {})
    resources.setdefault("storage", {}).setdefault("config", {})["home_dir"] = str(pipeline_home)
    # run config for a resource replaces what the settings file bound to it: start from those
    settings = as_run_config(load_resource_settings())
    for model_family in MODEL_RESOURCES:
        given = resources.setdefault(model_family, {}).setdefault("config", {})
        family_config = {**settings.get(model_family, {}).get("config", {}), **given}
        family_config.setdefault("release_after_run", False)
        resources[model_family]["config"] = family_config
    return config


def process(
    job,
    instance: DagsterInstance,
    entries: Sequence[RegisteredRecording],
    force: bool = False,
    run_config: dict | None = None,
    tags: dict[str, str] | None = None,
) -> list[RunOutcome]:
    """One run of `process_recording` per recording that has work left; a failed recording
    never stops the others."""
    outcomes: list[RunOutcome] = []
    for entry in entries:
        selection = steps_to_run(job, instance, entry.recording_id, force)
        if not selection:
            outcomes.append(RunOutcome(entry.recording_id, entry.source_path, None, "skipped"))
            continue
        result = job.execute_in_process(
            instance=instance,
            partition_key=entry.recording_id,
            asset_selection=selection,
            raise_on_error=False,
            run_config=run_config or {},
            tags={**(tags or {}), SOURCE_NAME_TAG: entry.source_name[:200]},
        )
        steps = tuple(key.to_user_string() for key in selection)
        if result.success:
            outcomes.append(
                RunOutcome(
                    entry.recording_id, entry.source_path, result.run_id, "succeeded", steps=steps
                )
            )
        else:
            outcomes.append(
                RunOutcome(
                    entry.recording_id,
                    entry.source_path,
                    result.run_id,
                    "failed",
                    failure_message(instance, result),
                    steps,
                    interrupted=was_interrupted(result),
                )
            )
    return outcomes
