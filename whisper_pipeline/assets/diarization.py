"""Step 3: who spoke when (speaker turns), or a clear note that diarization was skipped."""

from dagster import AssetExecutionContext, MaterializeResult, MetadataValue, asset

from whisper_pipeline.assets.metadata import RecordingFacts, recording_metadata
from whisper_pipeline.assets.step import hand_on, handed_over, recording_step
from whisper_pipeline.assets.transcript import _still_there
from whisper_pipeline.lib.audio import load_audio
from whisper_pipeline.lib.records import Diarization
from whisper_pipeline.partitions import recordings_partitions
from whisper_pipeline.resources.diarization import NOT_CONFIGURED, SpeakerDiarizer
from whisper_pipeline.resources.storage import PipelineStorage


@asset(
    deps=[recording_metadata],
    partitions_def=recordings_partitions,
    group_name="recordings",
    kinds={"pyannote"},
    pool="gpu",
    description="Speaker turns from a pyannote pipeline; skipped (with the reason) when none is configured.",
)
def diarization(
    context: AssetExecutionContext,
    storage: PipelineStorage,
    diarizer: SpeakerDiarizer,
) -> MaterializeResult:
    facts: RecordingFacts = handed_over(context, storage, "recording_metadata")
    with recording_step(context, storage, "diarization", facts.duration_s) as step:
        if not diarizer.pipeline:
            result = Diarization(backend="none", skipped_reason=NOT_CONFIGURED)
        else:
            path = _still_there(storage, facts)
            with diarizer.borrow() as loaded:
                result = diarizer.diarize(
                    loaded.model, load_audio(path), on_progress=lambda at: step.progress.update(at)
                )
            cache = "hit" if loaded.cache_hit else f"miss (loaded in {loaded.load_seconds:.1f}s)"
        storage.warehouse.write(
            "speaker_turns",
            step.recording_id,
            [
                {
                    "recording_id": step.recording_id,
                    "turn_index": index,
                    "speaker": turn.speaker,
                    "start_s": turn.start_s,
                    "end_s": turn.end_s,
                    "duration_s": round(turn.duration_s, 3),
                    "backend": result.backend,
                }
                for index, turn in enumerate(result.turns)
            ],
        )
        if result.skipped:
            context.log.warning("diarization skipped: %s", result.skipped_reason)
            return hand_on(
                context,
                storage,
                result,
                {
                    "status": "skipped",
                    "note": f"diarization skipped: {result.skipped_reason}",
                },
            )
        return hand_on(
            context,
            storage,
            result,
            {
                "status": "diarized",
                "backend": result.backend,
                "speakers": MetadataValue.int(len(result.speakers)),
                "speaker_labels": ", ".join(result.speakers),
                "turns": MetadataValue.int(len(result.turns)),
                "diarize_s": MetadataValue.float(float(result.seconds)),
                "model_cache": cache,
            },
        )
