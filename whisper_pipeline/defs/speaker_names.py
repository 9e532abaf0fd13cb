"""Naming a recording's speakers after the fact ("SPEAKER_01" is Ana), without transcribing or
diarizing again: the steps' stored results are relabelled, and everything made from them (the
warehouse rows, the transcript files) is written again from those results.

Used by `whisper-pipeline speakers rename` and by the `rename_speaker` job in the UI."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

from whisper_pipeline.core.errors import PipelineError
from whisper_pipeline.core.exports import (
    DEFAULT_STYLE,
    SubtitleStyle,
)
from whisper_pipeline.core.records import Diarization, Segment, SpeakerTurn
from whisper_pipeline.defs.resources.hand_off import RecordingResults
from whisper_pipeline.defs.resources.storage import PipelineStorage
from whisper_pipeline.inference.audio import SAMPLE_RATE, read_spans, write_wav
from whisper_pipeline.inference.voices import solo_spans, voice_folder_name
from whisper_pipeline.storage.results import write_speaker_results


class RenameError(PipelineError):
    """The rename cannot be done; the message says why (unknown speaker, name taken...)."""


@dataclass(frozen=True)
class Renamed:
    recording_id: str
    old: str
    new: str
    segments: int
    files: tuple[str, ...]
    view: Mapping[str, object] = field(default_factory=dict)  # speaker_transcript's metadata
    voice_sample: str | None = None  # the clip added to the voices folder
    voice_note: str | None = None  # why no clip was added
    diarization_view: Mapping[str, object] = field(default_factory=dict)  # its speaker entries
    analytics_view: Mapping[str, object] = field(default_factory=dict)  # recording_analytics'


def relabel_segments(segments: list[Segment], old: str, new: str) -> list[Segment]:
    return [
        replace(
            segment,
            speaker=new if segment.speaker == old else segment.speaker,
            words=tuple(
                replace(word, speaker=new) if word.speaker == old else word
                for word in segment.words
            ),
        )
        for segment in segments
    ]


def relabel_diarization(diarization: Diarization, old: str, new: str) -> Diarization:
    """`new` becomes a name a person gave (named, with no voice similarity)."""
    named = {(new if key == old else key): value for key, value in diarization.named.items()}
    named[new] = None  # type: ignore[assignment]  (named by hand, not by a voice match)
    return replace(
        diarization,
        turns=tuple(replace(t, speaker=new) if t.speaker == old else t for t in diarization.turns),
        voice_vectors={
            (new if key == old else key): vector
            for key, vector in diarization.voice_vectors.items()
        },
        named=named,
        extra={**diarization.extra, **_relabelled_channels(diarization.extra, old, new)},
    )


def _relabelled_channels(extra: dict, old: str, new: str) -> dict:
    """A call recorded per channel keeps saying which channel is whose under the new name."""
    channel_speakers = extra.get("channel_speakers")
    if not channel_speakers:
        return {}
    return {"channel_speakers": [new if s == old else s for s in channel_speakers]}


def resolve_recording(storage: PipelineStorage, recording: str) -> str:
    """A recording id from an id or a file name."""
    registry = storage.registry
    ids = registry.ids()
    if recording in ids:
        return recording
    matches = [rid for rid in ids if registry.get(rid).source_name == recording]
    if len(matches) == 1:
        return matches[0]
    if matches:
        raise RenameError(f"{len(matches)} recordings are named {recording!r}: give the id")
    raise RenameError(f"no recording {recording!r} (an id or a file name, see `status`)")


# Enough solo speech for a voice vector that recognises the person; not so much that the
# voices folder grows large.
VOICE_SAMPLE_S = 30.0
MIN_VOICE_SAMPLE_S = 2.0


def remember_voice(
    storage: PipelineStorage,
    recording_id: str,
    name: str,
    turns: Sequence[SpeakerTurn],
    voices_dir: Path,
) -> tuple[Path | None, str | None]:
    """Add the named speaker's solo speech (up to 30 s) to the voices folder as
    `<voices_dir>/<Name>/<recording_id>.wav`, so later recordings call that voice by name.
    Returns the clip, or why there is none."""
    source = Path(storage.registry.get(recording_id).source_path)
    if not source.exists():
        return None, f"the recording's file {source} is gone: no voice sample taken"
    spans = solo_spans(turns, VOICE_SAMPLE_S).get(name, [])
    speech = read_spans(source, spans)
    if len(speech) < MIN_VOICE_SAMPLE_S * SAMPLE_RATE:
        return None, f"{name} speaks alone for under {MIN_VOICE_SAMPLE_S:.0f} s: no voice sample"
    clip = Path(voices_dir) / voice_folder_name(name) / f"{recording_id}.wav"
    write_wav(clip, speech)
    return clip, None


def rename_speaker(
    storage: PipelineStorage,
    recording: str,
    old: str,
    new: str,
    voices_dir: str | None = None,
    style: SubtitleStyle = DEFAULT_STYLE,
) -> Renamed:
    """Relabel `old` as `new` in the recording's results, warehouse rows and files; with a
    voices folder, the voice joins the library under the new name."""
    recording_id = resolve_recording(storage, recording)
    new = new.strip()
    if not new or any(char in new for char in "\n\r\t"):
        raise RenameError("a speaker name must be non-empty text on one line")
    results = RecordingResults(storage, recording_id)
    try:
        transcript = results.transcript
        diarization = results.diarization
        segments = results.speaker_transcript
    except FileNotFoundError as error:
        raise RenameError(f"{recording_id} has no speakers to rename yet: {error}") from None
    speakers = set(diarization.speakers) | {s.speaker for s in segments if s.speaker}
    if old not in speakers:
        listed = ", ".join(sorted(speakers)) or "none (diarization was skipped)"
        raise RenameError(f"{recording_id} has no speaker {old!r}; its speakers: {listed}")
    if new in speakers and new != old:
        raise RenameError(f"{recording_id} already has a speaker {new!r}: choose another name")
    segments = relabel_segments(segments, old, new)
    diarization = relabel_diarization(diarization, old, new)
    files, stats = write_speaker_results(
        storage.warehouse,
        storage.outputs_for(recording_id),
        recording_id,
        transcript,
        diarization,
        segments,
        storage.shown_name(recording_id),
        style,
    )
    results.replace_speakers(diarization, segments)  # a later re-run keeps the name
    from whisper_pipeline.defs.assets.analytics import analytics_view
    from whisper_pipeline.defs.assets.diarization import speakers_view
    from whisper_pipeline.defs.assets.speaker_transcript import transcript_view

    sample, note = None, "no voices folder (diarizer.voices_dir): the name is not remembered"
    if voices_dir:
        sample, note = remember_voice(storage, recording_id, new, diarization.turns, voices_dir)
    return Renamed(
        recording_id,
        old,
        new,
        sum(1 for s in segments if s.speaker == new),
        tuple(str(path) for path in files.values()),
        transcript_view(segments, diarization.turns, transcript.duration_s, files, storage),
        str(sample) if sample else None,
        note,
        speakers_view(diarization),
        analytics_view(stats),
    )


def renamed_materializations(instance, renamed: Renamed) -> list:
    """The recording's partitions that show speakers (diarization, speaker_transcript,
    recording_analytics), each as its last materialization with the new names: every page says
    the new name, and, all reported in data-flow order, none is left unsynced."""
    from dagster import AssetKey, AssetMaterialization, AssetRecordsFilter, MetadataValue

    note = f"speaker {renamed.old} renamed {renamed.new}"
    views = {
        "diarization": renamed.diarization_view,
        "speaker_transcript": {
            "renamed": f"{renamed.old} -> {renamed.new}",
            "voice_sample": MetadataValue.path(renamed.voice_sample)
            if renamed.voice_sample
            else (renamed.voice_note or "none"),
            **renamed.view,
            "renamed_segments": MetadataValue.int(renamed.segments),
        },
        "recording_analytics": renamed.analytics_view,
    }
    materializations = []
    for asset, view in views.items():
        last = instance.fetch_materializations(
            AssetRecordsFilter(AssetKey(asset), asset_partitions=[renamed.recording_id]), limit=1
        ).records
        before = dict(last[0].asset_materialization.metadata) if last else {}
        materializations.append(
            AssetMaterialization(
                asset_key=asset,
                partition=renamed.recording_id,
                description=note,
                metadata={**before, **view},
            )
        )
    return materializations
