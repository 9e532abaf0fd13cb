"""The per-recording job: every step of one recording in one process, sharing loaded models.

Its runs go to the `gpu` Celery queue (launcher.py): the workers that hold the models.
A failed step frees accelerator memory itself (assets/step.py), so no failure hook is needed:
hooks add an event to every step of every run."""

from dagster import AssetSelection, define_asset_job, in_process_executor

from whisper_pipeline.assets import PER_RECORDING_ASSETS
from whisper_pipeline.tags import CELERY_QUEUE_TAG, GPU_QUEUE

PROCESS_RECORDING = "process_recording"

process_recording = define_asset_job(
    name=PROCESS_RECORDING,
    selection=AssetSelection.assets(*PER_RECORDING_ASSETS),
    executor_def=in_process_executor,
    tags={CELERY_QUEUE_TAG: GPU_QUEUE},
    description="Metadata, transcript, diarization, speaker transcript and analytics of one recording.",
)
