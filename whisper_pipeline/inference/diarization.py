"""Who spoke when: a pyannote diarization pipeline's turns (for a call recorded one voice per
channel, the channels'), a voice vector per speaker, and names from a voices folder where a
speaker matches one."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from whisper_pipeline.core.records import Diarization, SpeakerTurn
from whisper_pipeline.core.speaker_count import CountSettings, SpeakerCounts, count_note
from whisper_pipeline.inference.audio import SAMPLE_RATE, load_audio
from whisper_pipeline.inference.cpu_share import governor
from whisper_pipeline.inference.speaker_embedding import SpeakerEmbedder
from whisper_pipeline.inference.voices import (
    DEFAULT_VOICE_MATCH,
    VoiceLibrary,
    name_speakers,
    speaker_vectors,
)

MIN_AUDIO_SAMPLES = SAMPLE_RATE // 2  # pyannote needs some audio to look at


def diarize(
    pipeline: Any,
    embedder: SpeakerEmbedder,
    audio: np.ndarray,
    counts: SpeakerCounts,
    voices: VoiceLibrary | None = None,
    voice_match_threshold: float = DEFAULT_VOICE_MATCH,
    backend: str = "offline",
    on_progress: Callable[[float], None] | None = None,
) -> Diarization:
    """Speaker turns of `audio` (overlaps kept), a voice vector per speaker, and the names of
    `voices` a speaker matches; `on_progress(position_s)` as the pipeline moves along."""
    counts.check()
    started = time.monotonic()
    duration_s = len(audio) / SAMPLE_RATE
    turns: tuple[SpeakerTurn, ...] = ()
    if len(audio) >= MIN_AUDIO_SAMPLES:
        import torch

        output = pipeline(
            {"waveform": torch.from_numpy(audio[None, :]), "sample_rate": SAMPLE_RATE},
            num_speakers=counts.num_speakers,
            min_speakers=counts.min_speakers,
            max_speakers=counts.max_speakers,
            hook=progress_hook(duration_s, on_progress),
        )
        annotation = getattr(output, "speaker_diarization", output)
        turns = tuple(
            SpeakerTurn(round(segment.start, 3), round(segment.end, 3), str(label))
            for segment, _, label in annotation.itertracks(yield_label=True)
        )
    vectors = speaker_vectors(embedder, audio, turns)
    names = name_speakers(vectors, voices, voice_match_threshold) if voices else {}
    ceiling = CountSettings().max_speakers if backend == "offline" else None
    note, at_ceiling = count_note(counts, len({turn.speaker for turn in turns}), ceiling)
    extra = {"audio_s": duration_s, "speaker_count": note, "count_at_ceiling": at_ceiling}
    return _result(turns, vectors, names, backend, started, extra)


def diarize_by_channel(
    path: Path,
    channel_voices: Sequence[Sequence[tuple[float, float]]],
    duration_s: float,
    embedder: SpeakerEmbedder,
    voices: VoiceLibrary | None = None,
    voice_match_threshold: float = DEFAULT_VOICE_MATCH,
) -> Diarization:
    """Turns of a call recorded one voice per channel, from where each channel's own voice
    speaks (`channel_voices`, inference/channels.py): SPEAKER_00 the left's, SPEAKER_01 the right's;
    overlaps kept. Each voice
    vector comes from its own channel. `extra["channel_speakers"]` gives each channel's
    speaker (None for a channel nobody speaks on)."""
    started = time.monotonic()
    labels = ("SPEAKER_00", "SPEAKER_01")
    turns = tuple(
        sorted(
            (
                SpeakerTurn(start, end, labels[channel])
                for channel, spans in enumerate(channel_voices)
                for start, end in spans
            ),
            key=lambda turn: (turn.start_s, turn.speaker),
        )
    )
    vectors: dict[str, np.ndarray] = {}
    for channel, label in enumerate(labels):
        own = [turn for turn in turns if turn.speaker == label]
        if own:
            vectors |= speaker_vectors(embedder, load_audio(path, channels=channel), own)
    names = name_speakers(vectors, voices, voice_match_threshold) if voices else {}
    channel_speakers = [
        names.get(label, (label,))[0] if label in vectors else None for label in labels
    ]
    extra = {
        "audio_s": duration_s,
        "channel_speakers": channel_speakers,
        "speaker_count": "one per channel",
    }
    return _result(turns, vectors, names, "channels", started, extra)


def _result(
    turns: tuple[SpeakerTurn, ...],
    vectors: dict[str, np.ndarray],
    names: dict[str, tuple[str, float]],
    backend: str,
    started: float,
    extra: dict[str, Any],
) -> Diarization:
    """The diarization, with the speakers the voices folder knows under their names."""
    turns = tuple(
        SpeakerTurn(t.start_s, t.end_s, names[t.speaker][0]) if t.speaker in names else t
        for t in turns
    )
    vectors = {names.get(s, (s,))[0]: v for s, v in vectors.items()}
    return Diarization(
        turns=turns,
        backend=backend,
        seconds=round(time.monotonic() - started, 3),
        voice_vectors={s: tuple(float(x) for x in v) for s, v in vectors.items()},
        named={name: similarity for name, similarity in names.values()},
        extra=extra,
    )


def progress_hook(duration_s: float, on_progress: Callable[[float], None] | None):
    """A pyannote pipeline hook turning its step/batch callbacks into an estimated position in
    the audio (segmentation ~ first 40 %, embeddings the rest)."""
    shares = {"segmentation": (0.0, 0.4), "embeddings": (0.4, 0.6)}

    def hook(step_name, step_artifact, file=None, total=None, completed=None):
        governor().tick()  # between batches: as many threads as there are free cores
        if on_progress is None or step_name not in shares or not total or completed is None:
            return
        start, width = shares[step_name]
        on_progress(duration_s * (start + width * min(completed / total, 1.0)))

    return hook
