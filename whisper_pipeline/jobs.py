"""The per-recording job: every step of one recording in one process, sharing loaded models."""

from dagster import AssetSelection, HookContext, define_asset_job, failure_hook, in_process_executor

from whisper_pipeline.assets import PER_RECORDING_ASSETS
from whisper_pipeline.lib.model_cache import MODEL_CACHE, describe_key, free_memory_logged

PROCESS_RECORDING = "process_recording"


@failure_hook
def free_memory_on_failure(context: HookContext) -> None:
    """After a failed step: give accelerator memory back before anything else runs."""
    free_memory_logged(f"after failed step {context.step_key}")
    loaded = ", ".join(describe_key(key) for key in MODEL_CACHE.loaded_keys()) or "none"
    context.log.info(
        "step %s failed; accelerator memory freed; models still loaded: %s",
        context.step_key,
        loaded,
    )


process_recording = define_asset_job(
    name=PROCESS_RECORDING,
    selection=AssetSelection.assets(*PER_RECORDING_ASSETS),
    executor_def=in_process_executor,
    hooks={free_memory_on_failure},
    description="Metadata, transcript, diarization, speaker transcript and analytics of one recording.",
)
