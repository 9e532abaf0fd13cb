"""Step 3: who spoke when (speaker turns), a voice vector per speaker, and names for the
voices the voices folder knows; or a clear note that diarization was switched off."""

from dataclasses import replace

from dagster import AssetExecutionContext, Config, MaterializeResult, MetadataValue, asset
from pydantic import Field

from whisper_pipeline.core.records import Diarization, RecordingFacts
from whisper_pipeline.core.speaker_count import SpeakerCounts
from whisper_pipeline.core.timeline import clip_turns
from whisper_pipeline.defs.assets.checks import (
    SPEAKER_COUNT_WITHIN_LIMIT,
    diarization_checks,
    record_checks,
)
from whisper_pipeline.defs.assets.step import (
    PER_RECORDING,
    hand_on,
    handed_on,
    recording_step,
    run_id_of,
    source_file,
)
from whisper_pipeline.defs.resources.diarization import DISABLED, SpeakerDiarizer
from whisper_pipeline.defs.resources.storage import PipelineStorage
from whisper_pipeline.inference.audio import SAMPLE_RATE, load_audio
from whisper_pipeline.inference.channels import PER_CHANNEL
from whisper_pipeline.inference.cpu_share import governor
from whisper_pipeline.storage.results import write_speaker_turns


def speakers_view(result: Diarization) -> dict[str, object]:
    """The speakers as the partition page shows them (also after a speaker is renamed)."""
    named = ", ".join(
        f"{name} ({similarity:.2f})" if similarity is not None else f"{name} (named by hand)"
        for name, similarity in result.named.items()
    )
    return {
        "speakers": MetadataValue.int(len(result.speakers)),
        "speaker_labels": ", ".join(result.speakers) or "none (no speech)",
        "named_voices": named or "none",
    }


class DiarizationConfig(Config):
    """This recording's speaker count, when known (overrides the diarizer resource's)."""

    num_speakers: int | None = Field(default=None, description="Exact number of speakers.")
    min_speakers: int | None = Field(default=None, description="At least this many speakers.")
    max_speakers: int | None = Field(default=None, description="At most this many speakers.")


@asset(
    **PER_RECORDING,
    dagster_type=handed_on(Diarization),
    kinds={"pyannote"},
    pool="gpu",
    check_specs=[SPEAKER_COUNT_WITHIN_LIMIT],
    description="Speaker turns (offline bundled models by default, or a pretrained pyannote pipeline), a voice vector per speaker, named voices.",
)
def diarization(
    context: AssetExecutionContext,
    config: DiarizationConfig,
    recording_metadata: RecordingFacts,
    storage: PipelineStorage,
    diarizer: SpeakerDiarizer,
) -> MaterializeResult:
    facts = recording_metadata
    with recording_step(context, storage, "diarization", facts.duration_s) as step:
        step.model, step.device = diarizer.resolved_backend(), diarizer.resolved_device()
        cache = "not used"
        duration_s = facts.duration_s  # or less, when less decodes (a truncated file)
        if diarizer.resolved_backend() == "none":
            result = Diarization(backend="none", skipped_reason=DISABLED)
        else:
            path = source_file(storage, facts)
            counts = SpeakerCounts(config.num_speakers, config.min_speakers, config.max_speakers)
            with diarizer.borrow() as loaded:
                if facts.channel_layout == PER_CHANNEL:  # a call recorded per side
                    result = diarizer.diarize_by_channel(loaded.model, facts)
                else:
                    audio = load_audio(path)
                    result = diarizer.diarize(
                        loaded.model,
                        audio,
                        counts,
                        on_progress=lambda at: step.progress.update(at),
                    )
                    duration_s = min(duration_s, len(audio) / SAMPLE_RATE)
            result = replace(result, turns=clip_turns(result.turns, duration_s))
            cache = "hit" if loaded.cache_hit else f"miss (loaded in {loaded.load_seconds:.1f}s)"
        write_speaker_turns(storage.warehouse, step.recording_id, result)
        checks = diarization_checks(result)
        record_checks(storage, step.recording_id, "diarization", checks, run_id_of(context))
        if result.skipped:
            context.log.warning("diarization skipped: %s", result.skipped_reason)
            metadata = {
                "status": "skipped",
                "note": f"diarization skipped: {result.skipped_reason}",
            }
            return hand_on(context, storage, result, metadata, checks)
        if result.extra.get("count_at_ceiling"):
            context.log.warning("speaker count: %s", result.extra["speaker_count"])
        audio_s = float(result.extra.get("audio_s") or facts.duration_s or 0.0)
        return hand_on(
            context,
            storage,
            result,
            {
                "status": "diarized",
                "backend": result.backend,
                **speakers_view(result),
                "speaker_count": result.extra.get("speaker_count", "automatic"),
                "turns": MetadataValue.int(len(result.turns)),
                "diarize_s": MetadataValue.float(float(result.seconds)),
                "realtime_factor": MetadataValue.float(
                    round(audio_s / result.seconds, 1) if result.seconds else 0.0
                ),
                "model_cache": cache,
                "cpu_threads": f"torch {governor().describe()}",
            },
            checks,
        )
