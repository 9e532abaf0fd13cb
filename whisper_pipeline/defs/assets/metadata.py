"""Step 1: what the recording is (ffprobe facts, content hash); rejects what is not audio."""

from datetime import UTC, datetime
from pathlib import Path

from dagster import AssetExecutionContext, MaterializeResult, MetadataValue, asset

from whisper_pipeline.core.display import clock, megabytes
from whisper_pipeline.core.errors import RecordingError
from whisper_pipeline.core.recording_id import HASH_CHARS
from whisper_pipeline.core.records import RecordingFacts
from whisper_pipeline.defs.assets.step import (
    PER_RECORDING,
    hand_on,
    handed_on,
    recording_step,
    run_id_of,
)
from whisper_pipeline.defs.resources.storage import PipelineStorage
from whisper_pipeline.inference.audio import probe
from whisper_pipeline.inference.channels import (
    MONO,
    ChannelLayout,
    channel_activity,
    channel_layout,
    describe_channels,
    measure_stereo,
)


@asset(
    **PER_RECORDING,
    dagster_type=handed_on(RecordingFacts),
    kinds={"ffmpeg"},
    description="ffprobe facts of the recording; fails with a clear message when it is not decodable audio.",
)
def recording_metadata(
    context: AssetExecutionContext, storage: PipelineStorage
) -> MaterializeResult:
    with recording_step(context, storage, "recording_metadata") as step:
        entry = storage.registry.get(step.recording_id)
        path = storage.registry.check_unchanged(entry)
        info = probe(path)
        layout, voices = _layout(context, path, info.channels)
        facts = RecordingFacts(
            recording_id=step.recording_id,
            source_path=str(path),
            content_sha256=entry.content_sha256,
            size_bytes=info.size_bytes,
            mtime_ns=entry.mtime_ns,
            duration_s=info.duration_s,
            codec=info.codec,
            sample_rate_hz=info.sample_rate_hz,
            channels=info.channels,
            container=info.container,
            channel_layout=layout.kind,
            channel_voices=voices,
        )
        storage.warehouse.write(
            "recording_files",
            step.recording_id,
            [
                {
                    "recording_id": step.recording_id,
                    "source_path": str(path),
                    "source_name": path.name,
                    "content_sha256": entry.content_sha256,
                    "size_bytes": info.size_bytes,
                    "duration_s": info.duration_s,
                    "codec": info.codec,
                    "sample_rate_hz": info.sample_rate_hz,
                    "channels": info.channels,
                    "channel_layout": layout.kind,
                    "container": info.container,
                    "registered_at": datetime.fromisoformat(entry.registered_at).astimezone(UTC),
                    "run_id": run_id_of(context),
                }
            ],
        )
        return hand_on(
            context,
            storage,
            facts,
            {
                "source_path": MetadataValue.path(str(path)),
                "duration": clock(info.duration_s),
                "codec": info.codec,
                "sample_rate": f"{info.sample_rate_hz / 1000:g} kHz"
                if info.sample_rate_hz
                else "?",
                "channels": describe_channels(info.channels, layout),
                "container": info.container,
                "size": megabytes(info.size_bytes),
                # the id's hash part; the warehouse's recording_files has the whole SHA-256
                "content_hash": entry.content_sha256[:HASH_CHARS],
            },
        )


def _layout(
    context: AssetExecutionContext, path: Path, channels: int
) -> tuple[ChannelLayout, tuple[tuple[tuple[float, float], ...], ...]]:
    """What a stereo file's channels hold and, for one voice per channel, where each voice
    speaks (measured once here; diarization and transcription use it). A file that does not
    decode to its end is mixed to mono as any other (transcription then says how much of it
    decoded)."""
    if channels != 2:
        return ChannelLayout(MONO), ()
    try:
        measures = measure_stereo(path)
    except RecordingError as error:
        context.log.warning("channel layout not measured (%s): mixed to mono", error)
        return ChannelLayout(MONO), ()
    layout = channel_layout(measures)
    if not layout.per_channel:
        return layout, ()
    return layout, tuple(tuple(spans) for spans in channel_activity(measures.levels))
