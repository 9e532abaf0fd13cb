"""Voice vectors: CAM++ (inference/speaker_embedding.py, the offline diarizer's speaker model), one
vector per speaker of a recording, and names for speakers whose voice matches a labelled
sample in a voices folder. CAM++ replaced Resemblyzer's d-vectors here: on eleven real people
(a held-out stretch of each against two utterances as the sample) the right name was the
nearest for 9 of 11 with CAM++ and for 5 of 11 with Resemblyzer, whose different people
scored up to 0.87 alike (docs/diarization.md)."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from whisper_pipeline.core.errors import ConfigurationError
from whisper_pipeline.core.records import SpeakerTurn
from whisper_pipeline.core.speaker_count import unit_rows
from whisper_pipeline.inference.audio import AUDIO_EXTENSIONS, SAMPLE_RATE
from whisper_pipeline.inference.speaker_embedding import SpeakerEmbedder

# cosine similarity of CAM++ voice vectors at or above which a speaker gets a sample's name
DEFAULT_VOICE_MATCH = 0.65
# CAM++ sees long speech in pieces of at most this long: one 60 s pass holds ~440 MB more than
# the model, a 10 s one ~110 MB, so memory stays flat in the length of a recording
MAX_PIECE_S = 10.0
# the least sample audio per name the docs recommend (5-30 s of the person alone)
MIN_SAMPLE_S = 5.0
# two names whose samples are this alike are probably one person: on eleven real people, one
# person's two samples scored 0.81-0.86, two different people's at most 0.71
LIKELY_SAME_PERSON = 0.8


def unit(vector: np.ndarray) -> np.ndarray:
    return vector / max(float(np.linalg.norm(vector)), 1e-8)


def solo_spans(
    turns: Sequence[SpeakerTurn], max_seconds: float = 60.0
) -> dict[str, list[tuple[float, float]]]:
    """Each speaker's stretches where nobody else speaks, cut to at most `max_seconds` in all
    (spread over the recording), so a vector costs the same for a 5-minute and a 5-hour
    recording."""
    bounds = sorted({t for turn in turns for t in (turn.start_s, turn.end_s)})
    alone: dict[str, list[tuple[float, float]]] = {}
    for start, end in zip(bounds, bounds[1:], strict=False):
        middle = (start + end) / 2
        speaking = {turn.speaker for turn in turns if turn.start_s <= middle < turn.end_s}
        if len(speaking) == 1:
            alone.setdefault(speaking.pop(), []).append((start, end))
    spans: dict[str, list[tuple[float, float]]] = {}
    for speaker, stretches in alone.items():
        total = sum(end - start for start, end in stretches)
        keep = min(1.0, max_seconds / total) if total else 1.0
        spans[speaker] = [(start, start + (end - start) * keep) for start, end in stretches]
    return spans


def speaker_speech(
    audio: np.ndarray, turns: Sequence[SpeakerTurn], max_seconds: float = 60.0
) -> dict[str, np.ndarray]:
    """Each speaker's solo speech (solo_spans), when there is at least a quarter second."""
    speech: dict[str, np.ndarray] = {}
    for speaker, spans in solo_spans(turns, max_seconds).items():
        pieces = [
            audio[round(start * SAMPLE_RATE) : round(end * SAMPLE_RATE)] for start, end in spans
        ]
        joined = np.concatenate(pieces) if pieces else np.zeros(0, dtype=np.float32)
        if len(joined) >= SAMPLE_RATE // 4:
            speech[speaker] = joined
    return speech


def voice_vectors(embedder: SpeakerEmbedder, speeches: Sequence[np.ndarray]) -> np.ndarray:
    """One unit vector per stretch of speech: the length-weighted mean of the CAM++ vectors of
    its pieces (equal parts of at most MAX_PIECE_S)."""
    longest = round(MAX_PIECE_S * SAMPLE_RATE)
    pieces: list[np.ndarray] = []
    owners: list[int] = []
    for owner, speech in enumerate(speeches):
        parts = np.array_split(speech, max(1, -(-len(speech) // longest)))
        pieces += parts
        owners += [owner] * len(parts)
    weighted = embedder.embed(pieces) * np.array([len(p) for p in pieces])[:, None]
    sums = np.zeros((len(speeches), weighted.shape[1]), dtype=np.float64)
    np.add.at(sums, owners, weighted)
    return unit_rows(sums).astype(np.float32)


def speaker_vectors(
    embedder: SpeakerEmbedder, audio: np.ndarray, turns: Sequence[SpeakerTurn]
) -> dict[str, np.ndarray]:
    """A voice vector per speaker with at least a quarter second of solo speech."""
    speech = speaker_speech(audio, turns)
    vectors = voice_vectors(embedder, list(speech.values()))
    return dict(zip(speech, vectors, strict=True))


NAME_PATTERN = re.compile(r"^(?P<name>.+?)(?:[_-]\d+)?$")


@dataclass(frozen=True)
class VoiceLibrary:
    """Named voices: one mean vector per name, from `voices/<Name>.wav` (or `<Name>_2.wav`,
    `<Name>-3.mp3`, ... or `voices/<Name>/*.wav` for several samples)."""

    vectors: Mapping[str, np.ndarray]
    folder: str
    seconds: Mapping[str, float] = field(default_factory=dict)  # of sample audio, per name

    @property
    def names(self) -> list[str]:
        return sorted(self.vectors)

    def alike_names(self, min_similarity: float) -> list[tuple[str, str, float]]:
        """Pairs of names whose voices are at least `min_similarity` alike, most alike first:
        a speaker who matches one may match the other (two names for one person, or two
        people the samples do not tell apart)."""
        names = self.names
        pairs = [
            (first, second, round(float(np.dot(self.vectors[first], self.vectors[second])), 4))
            for index, first in enumerate(names)
            for second in names[index + 1 :]
        ]
        return sorted(
            (pair for pair in pairs if pair[2] >= min_similarity), key=lambda pair: -pair[2]
        )


def voice_samples(folder: Path) -> dict[str, list[Path]]:
    """Sample files by name, as the folder layout says."""
    folder = Path(folder)
    if not folder.is_dir():
        raise ConfigurationError(
            f"voices folder {folder} does not exist; create it with one short clip per person"
            " (voices/<Name>.wav) or unset diarizer.voices_dir"
        )
    samples: dict[str, list[Path]] = {}
    for path in sorted(folder.rglob("*")):
        if not path.is_file() or path.suffix.lower() not in AUDIO_EXTENSIONS:
            continue
        if path.name.startswith("."):
            continue
        if path.parent != folder:
            name = path.relative_to(folder).parts[0]
        else:
            match = NAME_PATTERN.match(path.stem)
            name = match.group("name") if match else path.stem
        samples.setdefault(name, []).append(path)
    return samples


def folder_fingerprint(folder: str | Path | None) -> tuple:
    """What the voices folder holds (names, sizes, times): a loaded library is stale when it
    changes, e.g. after a speaker was named and their voice added."""
    if not folder or not Path(folder).is_dir():
        return ()
    return tuple(
        (str(path.relative_to(folder)), path.stat().st_size, path.stat().st_mtime_ns)
        for path in sorted(Path(folder).rglob("*"))
        if path.is_file()
    )


def voice_folder_name(name: str) -> str:
    """A person's name as a folder of the voices library (no path separators, no dot first)."""
    cleaned = " ".join(name.replace("/", " ").replace("\\", " ").split())
    cleaned = cleaned.lstrip(". ")
    if not cleaned:
        raise ConfigurationError(f"{name!r} cannot name a voice")
    return cleaned


def load_voice_library(folder: Path, embedder: SpeakerEmbedder) -> VoiceLibrary:
    """Decode and embed every sample of the folder; a sample that cannot be decoded is a clear
    error naming it (a silently missing voice would just never be recognised)."""
    from whisper_pipeline.core.errors import RecordingError
    from whisper_pipeline.inference.audio import load_audio

    vectors: dict[str, np.ndarray] = {}
    seconds: dict[str, float] = {}
    for name, paths in voice_samples(folder).items():
        clips = []
        for path in paths:
            try:
                clips.append(load_audio(path))
            except RecordingError as error:
                raise ConfigurationError(f"voice sample {path} for {name!r}: {error}") from error
        vectors[name] = unit(voice_vectors(embedder, clips).mean(axis=0))
        seconds[name] = round(sum(len(clip) for clip in clips) / SAMPLE_RATE, 1)
    return VoiceLibrary(vectors=vectors, folder=str(folder), seconds=seconds)


def name_speakers(
    vectors: Mapping[str, np.ndarray], library: VoiceLibrary, min_similarity: float
) -> dict[str, tuple[str, float]]:
    """Speaker label -> (name, similarity) for the best one-to-one matches at or above
    `min_similarity`; speakers without such a match keep their label (absent here)."""
    pairs = sorted(
        (
            (float(np.dot(unit(vector), named)), speaker, name)
            for speaker, vector in vectors.items()
            for name, named in library.vectors.items()
        ),
        reverse=True,
    )
    named: dict[str, tuple[str, float]] = {}
    used: set[str] = set()
    for similarity, speaker, name in pairs:
        if similarity < min_similarity:
            break
        if speaker in named or name in used:
            continue
        named[speaker] = (name, round(similarity, 4))
        used.add(name)
    return named
