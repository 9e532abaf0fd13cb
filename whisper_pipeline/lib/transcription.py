"""Transcription with whisperx: VAD, batched ASR, language, and word timestamps.

Word timestamps come from a wav2vec2 alignment model when one is given, otherwise from
Whisper's own cross-attention alignment of the transcribed text (faster-whisper's method),
which needs no download. Recordings are processed in bounded windows so memory does not
grow with their length.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from whisper_pipeline.lib.audio import SAMPLE_RATE, AudioWindow
from whisper_pipeline.lib.model_cache import free_memory_logged
from whisper_pipeline.lib.records import Segment, Word, shifted

log = logging.getLogger(__name__)

PREPEND_PUNCTUATIONS = "\"'“¿([{-"
APPEND_PUNCTUATIONS = "\"'.。,，!！?？:：”)]}、"
SENTENCE_END = (".", "?", "!", "。", "？", "！")

# (position reached in seconds, segments so far) -> None; must never raise into the work.
ProgressCallback = Callable[[float, int], None]


@dataclass(frozen=True)
class AlignmentModel:
    """A loaded wav2vec2 alignment model, as `whisperx.load_align_model` returns it."""

    model: Any
    metadata: dict
    device: str
    name: str


def _chunk_tokens(tokenizer: Any, text: str) -> list[int]:
    return tokenizer.encode(text if text.startswith(" ") else " " + text)


def whisper_word_timestamps(
    whisper_model: Any, language: str, audio: np.ndarray, chunks: Sequence[dict], batch_size: int
) -> list[list[Word]]:
    """Words with times for each whisperx chunk ({start, end, text}, times relative to `audio`),
    from Whisper's cross-attention alignment of the chunk's own text."""
    import faster_whisper.tokenizer
    import faster_whisper.transcribe
    from whisperx.audio import N_SAMPLES, log_mel_spectrogram

    tokenizer = faster_whisper.tokenizer.Tokenizer(
        whisper_model.hf_tokenizer,
        whisper_model.model.is_multilingual,
        task="transcribe",
        language=language,
    )
    n_mels = whisper_model.feat_kwargs.get("feature_size") or 80
    words_per_chunk: list[list[Word]] = []
    for first in range(0, len(chunks), max(1, batch_size)):
        batch = chunks[first : first + max(1, batch_size)]
        features, frames, tokens = [], [], []
        for chunk in batch:
            piece = audio[int(chunk["start"] * SAMPLE_RATE) : int(chunk["end"] * SAMPLE_RATE)]
            piece = piece[:N_SAMPLES]
            features.append(
                log_mel_spectrogram(
                    piece, n_mels=n_mels, padding=N_SAMPLES - piece.shape[0]
                ).numpy()
            )
            frames.append(max(1, piece.shape[0] // 160))
            tokens.append([t for t in _chunk_tokens(tokenizer, chunk["text"]) if t < tokenizer.eot])
        encoder_output = whisper_model.encode(np.stack(features))
        alignments = whisper_model.find_alignment(tokenizer, tokens, encoder_output, frames)
        del encoder_output
        for chunk, alignment in zip(batch, alignments, strict=True):
            faster_whisper.transcribe.merge_punctuations(
                alignment, PREPEND_PUNCTUATIONS, APPEND_PUNCTUATIONS
            )
            words = [
                Word(
                    start_s=round(chunk["start"] + float(timing["start"]), 3),
                    end_s=round(chunk["start"] + float(timing["end"]), 3),
                    text=timing["word"].strip(),
                    probability=round(float(timing["probability"]), 4),
                )
                for timing in alignment
                if timing["word"].strip()
            ]
            words_per_chunk.append(_clamp(words, chunk["start"], chunk["end"]))
    return words_per_chunk


def _clamp(words: list[Word], start_s: float, end_s: float) -> list[Word]:
    """Keep word times inside their chunk and monotonic."""
    clamped: list[Word] = []
    previous_end = start_s
    for word in words:
        start = min(max(word.start_s, previous_end), end_s)
        end = min(max(word.end_s, start), end_s)
        clamped.append(Word(start, end, word.text, word.probability))
        previous_end = start
    return clamped


def wav2vec2_word_timestamps(
    alignment: AlignmentModel, audio: np.ndarray, chunks: Sequence[dict]
) -> list[list[Word]]:
    """Words with times from a wav2vec2 model through `whisperx.align`, one list per chunk."""
    import whisperx

    words_per_chunk: list[list[Word]] = []
    for chunk in chunks:
        aligned = whisperx.align(
            [dict(chunk)],
            alignment.model,
            alignment.metadata,
            audio,
            alignment.device,
            return_char_alignments=False,
        )
        words = [
            Word(
                start_s=round(float(w["start"]), 3),
                end_s=round(float(w["end"]), 3),
                text=w["word"].strip(),
                probability=round(float(w.get("score", 0.0)), 4),
            )
            for w in aligned.get("word_segments", [])
            if "start" in w and w.get("word", "").strip()
        ]
        words_per_chunk.append(words)
    return words_per_chunk


def split_sentences(
    chunk_text: str, words: Sequence[Word], max_words: int = 30, pause_s: float = 1.0
) -> list[Segment]:
    """Cut a whisperx chunk (up to 30 s) into subtitle-sized segments: at sentence ends,
    long pauses, or after `max_words` words."""
    if not words:
        return []
    segments: list[Segment] = []
    current: list[Word] = []

    def close() -> None:
        if current:
            text = " ".join(w.text for w in current)
            segments.append(Segment(current[0].start_s, current[-1].end_s, text, tuple(current)))
            current.clear()

    for index, word in enumerate(words):
        if current and word.start_s - current[-1].end_s >= pause_s:
            close()
        current.append(word)
        at_end = word.text.endswith(SENTENCE_END)
        if at_end or len(current) >= max_words or index == len(words) - 1:
            close()
    return segments


SILENCE_PEAK = 10 ** (-50 / 20)  # -50 dBFS: quieter than any speech worth transcribing


def is_silent(samples: np.ndarray) -> bool:
    """True when no sample of the window rises above -50 dBFS."""
    return samples.size == 0 or float(np.max(np.abs(samples))) < SILENCE_PEAK


def _report(on_progress: ProgressCallback | None, position_s: float, segments: int) -> None:
    """Call the progress callback; a callback that raises is logged, never fails the work."""
    if on_progress is None:
        return
    try:
        on_progress(position_s, segments)
    except Exception:
        log.warning("progress callback failed (ignored)", exc_info=True)


def transcribe_windows(
    pipeline: Any,
    windows: Iterable[AudioWindow],
    duration_s: float,
    language: str | None,
    batch_size: int,
    alignment: AlignmentModel | None = None,
    on_progress: ProgressCallback | None = None,
) -> Iterator[tuple[str, list[Segment]]]:
    """Transcribe window after window; yield (language, segments of that window) with
    recording-relative times. Nothing is kept of a window once its segments are yielded."""
    if language is None and not pipeline.model.model.is_multilingual:
        language = "en"  # English-only models (*.en) have no language detection
    segments_so_far = 0
    for window in windows:
        window_s = len(window.samples) / SAMPLE_RATE
        if window_s < 0.1 or is_silent(window.samples):
            # nothing to hear: Whisper would only hallucinate ("Thank you.") on silence
            _report(on_progress, min(window.end_s, duration_s), segments_so_far)
            continue

        chunks_done = [0]  # whisperx calls back once per transcribed speech chunk

        def window_progress(
            percent: float,
            window: AudioWindow = window,
            window_s: float = window_s,
            done: int = segments_so_far,
            chunks_done: list[int] = chunks_done,
        ) -> None:
            chunks_done[0] += 1
            position = min(window.start_s + window_s * percent / 100.0, duration_s)
            _report(on_progress, position, done + chunks_done[0])

        started = time.monotonic()
        result = pipeline.transcribe(
            window.samples,
            batch_size=batch_size,
            language=language,
            progress_callback=window_progress,
        )
        language = language or result["language"]
        chunks = [c for c in result["segments"] if c["text"].strip()]
        if alignment is not None and language == alignment.metadata.get("language"):
            words = wav2vec2_word_timestamps(alignment, window.samples, chunks)
        else:
            words = whisper_word_timestamps(
                pipeline.model, language, window.samples, chunks, batch_size
            )
        segments: list[Segment] = []
        for chunk, chunk_words in zip(chunks, words, strict=True):
            logprob = chunk.get("avg_logprob")
            for piece in split_sentences(chunk["text"], chunk_words):
                segments.append(
                    shifted(
                        Segment(
                            piece.start_s,
                            piece.end_s,
                            piece.text,
                            piece.words,
                            avg_logprob=None if logprob is None else round(float(logprob), 4),
                        ),
                        window.start_s,
                    )
                )
        del result, chunks, words
        free_memory_logged("between windows")  # nothing of this window is kept but its segments
        segments_so_far += len(segments)
        log.debug(
            "window at %.1fs: %d segments in %.1fs",
            window.start_s,
            len(segments),
            time.monotonic() - started,
        )
        _report(on_progress, min(window.end_s, duration_s), segments_so_far)
        yield language or "unknown", segments
