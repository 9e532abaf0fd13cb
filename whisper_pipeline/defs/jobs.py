"""The per-recording job: every step of one recording in one process, sharing loaded models.

Its runs go to the `gpu` Celery queue (runtime/launcher.py): the workers that hold the models.
A failed step frees accelerator memory itself (assets/step.py), so no failure hook is needed;
the one hook, stop_between_steps, ends a run terminated as a step ends (an event per step)."""

from dagster import (
    AssetSelection,
    Config,
    Failure,
    JobDefinition,
    OpExecutionContext,
    Output,
    PartitionedConfig,
    define_asset_job,
    in_process_executor,
    job,
    op,
)
from pydantic import Field

from whisper_pipeline.core.tags import CELERY_QUEUE_TAG, CPU_QUEUE, GPU_QUEUE
from whisper_pipeline.defs.assets import PER_RECORDING_ASSETS
from whisper_pipeline.defs.partitions import recordings_partitions
from whisper_pipeline.defs.resources.diarization import SpeakerDiarizer
from whisper_pipeline.defs.resources.hand_off import RecordingResults
from whisper_pipeline.defs.resources.storage import PipelineStorage
from whisper_pipeline.defs.resources.subtitles import SubtitleSettings

PROCESS_RECORDING = "process_recording"


RENAME_SPEAKER = "rename_speaker"

process_recording = define_asset_job(
    name=PROCESS_RECORDING,
    selection=AssetSelection.assets(*PER_RECORDING_ASSETS),
    executor_def=in_process_executor,
    tags={CELERY_QUEUE_TAG: GPU_QUEUE},
    description="Metadata, transcript, diarization, speaker transcript and analytics of one recording.",
)


class RenameSpeakerConfig(Config):
    """New names for a recording's speakers (the recording is the run's partition)."""

    names: dict[str, str] = Field(
        description="Each speaker label with the name to give it, e.g. SPEAKER_01: Ana; a"
        " speaker left under its own label keeps it. The Launchpad fills in the recording's"
        " speakers when you pick its partition."
    )


@op(
    description="Name a recording's speakers: warehouse rows, transcript files and the"
    " partition pages are rewritten from the stored results, nothing is transcribed or"
    " diarized again."
)
def rename_speaker_op(
    context: OpExecutionContext,
    config: RenameSpeakerConfig,
    storage: PipelineStorage,
    diarizer: SpeakerDiarizer,
    subtitles: SubtitleSettings,
):
    from whisper_pipeline.defs.assets.step import file_name_tag
    from whisper_pipeline.defs.speaker_names import (
        RenameError,
        rename_speaker,
        renamed_materializations,
    )

    if not context.has_partition_key:
        raise Failure("rename_speaker: choose the recording (its partition) to rename speakers of")
    shown = file_name_tag(context.run.tags, storage, context.partition_key)
    if shown:
        context.instance.add_run_tags(context.run.run_id, shown)
    renames = {old: new for old, new in config.names.items() if new.strip() and new != old}
    if not renames:
        raise Failure(
            f"rename_speaker: no new name given; its speakers: {', '.join(config.names)}"
            " (give each the name to change to)"
        )
    for old, new in renames.items():
        try:
            renamed = rename_speaker(
                storage, context.partition_key, old, new, diarizer.voices_dir, subtitles.style()
            )
        except RenameError as error:
            raise Failure(f"rename_speaker refused: {error}") from None
        if renamed.voice_note:
            context.log.info(f"voice not remembered: {renamed.voice_note}")
        context.log.info(f"{renamed.recording_id}: {renamed.old} is now {renamed.new}")
        # every partition page that shows speakers shows the new names (and stays in sync)
        yield from renamed_materializations(context.instance, renamed)
    storage.warehouse.refresh_database()
    yield Output(None)


def rename_config_for(storage: PipelineStorage):
    """The Launchpad's scaffold for a recording: each of its speakers under its own label."""

    def config_for_recording(recording_id: str) -> dict:
        try:
            speakers = RecordingResults(storage, recording_id).diarization.speakers
        except Exception:  # not diarized (yet): nothing to name
            speakers = ()
        names = {speaker: speaker for speaker in speakers}
        return {"ops": {"rename_speaker_op": {"config": {"names": names}}}}

    return config_for_recording


def build_rename_speaker_job(storage: PipelineStorage) -> JobDefinition:
    """`rename_speaker`, partitioned by recording: the Launchpad offers the recording and a
    config naming its speakers."""

    @job(
        name=RENAME_SPEAKER,
        partitions_def=recordings_partitions,
        config=PartitionedConfig(
            partitions_def=recordings_partitions,
            run_config_for_partition_key_fn=rename_config_for(storage),
        ),
        tags={CELERY_QUEUE_TAG: CPU_QUEUE},
        description="Name the speakers of one recording (pick its partition, give each speaker"
        " a name) without processing it again; `whisper-pipeline speakers rename` does the same.",
    )
    def rename_speaker_job():
        rename_speaker_op()

    return rename_speaker_job
