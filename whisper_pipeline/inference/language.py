"""Which language is spoken: per window of a recording, with Whisper's probability, and a
summary for the recording that says so when several languages are spoken.

Detection uses faster-whisper's own `WhisperModel.detect_language` (on the window's speech, found
by its bundled Silero VAD). English-only models (`*.en`) cannot detect anything: for them a
transcript that looks wrong (low confidence, repetition loops) is checked with the bundled
multilingual `base` model, so English-sounding nonsense made from other speech gets a warning
instead of passing silently."""

from __future__ import annotations

import zlib
from collections import defaultdict
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from whisper_pipeline.core.records import Segment
from whisper_pipeline.inference.audio import SAMPLE_RATE, AudioWindow, quietest_point

SURE = 0.9  # a window detected with less confidence may hold two languages: it is split
MIN_PART_S = 6.0  # parts shorter than this are not split further (detection needs speech)
KEEP_PREVIOUS_BELOW = 0.5  # a window detected with less confidence keeps the previous language
MINOR_SHARE = 0.1  # languages with less of the speech are not listed
SUSPICIOUS_LOGPROB = -0.7  # mean avg_logprob of a transcript that may be the wrong language
SUSPICIOUS_COMPRESSION = 2.4  # Whisper's own threshold for repetition loops


@dataclass(frozen=True)
class Detected:
    language: str
    probability: float


def detect_language(whisper_model: Any, samples: np.ndarray) -> Detected | None:
    """The language of the speech in `samples` (a faster-whisper WhisperModel, multilingual);
    None when there is no speech to judge."""
    try:
        language, probability, _ = whisper_model.detect_language(samples, vad_filter=True)
    except (ValueError, IndexError):  # no speech in the window
        return None
    return Detected(language, round(float(probability), 3))


def choose(detected: Detected | None, previous: Detected | None) -> Detected | None:
    """A window's language: its own detection unless that is unsure and an earlier window's
    is known (a short or noisy window says little)."""
    if detected is None:
        return previous
    if previous is not None and detected.probability < KEEP_PREVIOUS_BELOW:
        return previous
    return detected


def windows_by_language(
    whisper_model: Any, windows: Iterable[AudioWindow], language: str | None
) -> Iterator[tuple[AudioWindow, Detected | None]]:
    """Each window with its language (None when `language` is fixed): a window whose language is
    unsure is cut where it is quietest and each part judged again, so a window holding the
    switch from one language to another is transcribed in both."""
    previous: Detected | None = None
    for window in windows:
        if language is not None:
            yield window, None
            continue
        for part, detected in split_by_language(whisper_model, window, previous):
            previous = detected or previous
            yield part, detected


def split_by_language(
    whisper_model: Any, window: AudioWindow, previous: Detected | None
) -> list[tuple[AudioWindow, Detected | None]]:
    """`window` in parts of one language each (adjacent parts of the same language joined)."""
    detected = detect_language(whisper_model, window.samples)
    length = len(window.samples)
    if detected is None or detected.probability >= SURE or length < 2 * MIN_PART_S * SAMPLE_RATE:
        return [(window, choose(detected, previous))]
    third = length // 3
    cut = third + quietest_point(window.samples[third : 2 * third])
    first = split_by_language(
        whisper_model, AudioWindow(window.start_s, window.samples[:cut]), previous
    )
    rest = split_by_language(
        whisper_model,
        AudioWindow(window.start_s + cut / SAMPLE_RATE, window.samples[cut:]),
        first[-1][1],
    )
    return _joined(first + rest)


def _joined(
    parts: list[tuple[AudioWindow, Detected | None]],
) -> list[tuple[AudioWindow, Detected | None]]:
    joined: list[tuple[AudioWindow, Detected | None]] = []
    for window, detected in parts:
        if joined and detected and joined[-1][1] and joined[-1][1].language == detected.language:
            last, last_detected = joined[-1]
            samples = np.concatenate([last.samples, window.samples])
            probability = max(last_detected.probability, detected.probability)
            joined[-1] = (
                AudioWindow(last.start_s, samples),
                Detected(detected.language, probability),
            )
        else:
            joined.append((window, detected))
    return joined


@dataclass(frozen=True)
class LanguageSummary:
    language: str
    probability: float | None
    languages: str  # "de 55%, es 45%" when several are spoken, else ""


def summarize(
    segments: Sequence[Segment], probabilities: dict[str, list[float]]
) -> LanguageSummary:
    """The recording's main language (most speech), its mean detection probability, and the
    share of speech of each language when there are several."""
    speech: dict[str, float] = defaultdict(float)
    for segment in segments:
        if segment.language:
            speech[segment.language] += max(segment.end_s - segment.start_s, 0.0)
    total = sum(speech.values())
    if not total:
        return LanguageSummary("unknown", None, "")
    main = max(speech, key=speech.get)
    seen = probabilities.get(main) or []
    probability = round(sum(seen) / len(seen), 3) if seen else None
    shares = sorted(
        ((lang, seconds / total) for lang, seconds in speech.items()), key=lambda x: -x[1]
    )
    listed = [f"{lang} {share:.0%}" for lang, share in shares if share >= MINOR_SHARE]
    return LanguageSummary(main, probability, ", ".join(listed) if len(listed) > 1 else "")


def compression_ratio(text: str) -> float:
    data = text.encode("utf-8")
    return len(data) / len(zlib.compress(data)) if data else 0.0


def looks_like_wrong_language(segments: Sequence[Segment]) -> bool:
    """An English-only model's transcript of other speech: low confidence or loops."""
    logprobs = [s.avg_logprob for s in segments if s.avg_logprob is not None]
    if logprobs and sum(logprobs) / len(logprobs) < SUSPICIOUS_LOGPROB:
        return True
    return compression_ratio(" ".join(s.text for s in segments)) > SUSPICIOUS_COMPRESSION


def english_only_warning(model_label: str, detected: Detected | None) -> str | None:
    if detected is None or detected.language == "en" or detected.probability < KEEP_PREVIOUS_BELOW:
        return None
    return (
        f"model {model_label} is English-only, but the speech is {detected.language}"
        f" (p {detected.probability:.2f}): this transcript is likely nonsense; set"
        f" asr.language: {detected.language} with a multilingual model (asr.model: bundled:base)"
    )
