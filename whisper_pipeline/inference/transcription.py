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
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from whisper_pipeline.adapters.whisperx_internals import (
    CHUNK_SAMPLES,
    align_words,
    encode_pieces,
    is_multilingual,
    keeping_encoder_outputs,
    no_speech_probabilities,
    text_tokens,
    word_tokenizer,
)
from whisper_pipeline.core.quality import (
    MAX_COMPRESSION_RATIO,
    compression_ratio,
    sounds_like_non_speech,
    text_loops,
)
from whisper_pipeline.core.records import Segment, Word, shifted
from whisper_pipeline.inference.audio import SAMPLE_RATE, AudioWindow, frame_power
from whisper_pipeline.inference.cpu_share import governor
from whisper_pipeline.inference.language import (
    KEEP_PREVIOUS_BELOW,
    detect_language,
    windows_by_language,
)
from whisper_pipeline.inference.model_cache import free_memory_logged

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


def _batches_with_encoder_outputs(
    chunks: Sequence[dict], encoder_outputs: Sequence[Any], batch_size: int
) -> list[tuple[Sequence[dict], Any]]:
    """Chunks grouped as whisperx batched them, each group with its encoder output; groups of
    `batch_size` without one when the outputs do not match the chunks."""
    sizes = [int(output.shape[0]) for output in encoder_outputs]
    if sizes and sum(sizes) == len(chunks):
        groups, first = [], 0
        for size, output in zip(sizes, encoder_outputs, strict=True):
            groups.append((chunks[first : first + size], output))
            first += size
        return groups
    step = max(1, batch_size)
    return [(chunks[first : first + step], None) for first in range(0, len(chunks), step)]


def _pieces(audio: np.ndarray, chunks: Sequence[dict]) -> list[np.ndarray]:
    return [
        audio[int(chunk["start"] * SAMPLE_RATE) : int(chunk["end"] * SAMPLE_RATE)][:CHUNK_SAMPLES]
        for chunk in chunks
    ]


def drop_non_speech(
    whisper_model: Any,
    language: str,
    audio: np.ndarray,
    chunks: Sequence[dict],
    batch_size: int,
    encoder_outputs: Sequence[Any] = (),
) -> tuple[list[dict], int]:
    """Each chunk with Whisper's no-speech probability (`no_speech_prob`); the text of chunks
    that sound like non-speech (core/quality.sounds_like_non_speech: tones, music, noise that
    the VAD let through) is dropped and the chunk marked `non_speech`. One decoding step per
    batch, on the encoder outputs the transcription kept. Returns the chunks and how many
    lost their text."""
    tokenizer = word_tokenizer(whisper_model, language)
    kept: list[dict] = []
    dropped = 0
    for batch, encoder_output in _batches_with_encoder_outputs(chunks, encoder_outputs, batch_size):
        if encoder_output is None:
            encoder_output = encode_pieces(whisper_model, _pieces(audio, batch))
        probabilities = no_speech_probabilities(whisper_model, tokenizer, encoder_output)
        for chunk, probability in zip(batch, probabilities, strict=True):
            chunk = {**chunk, "no_speech_prob": round(probability, 4)}
            text = chunk["text"]
            if text.strip() and sounds_like_non_speech(probability, chunk.get("avg_logprob"), text):
                log.info(
                    "chunk %.1f-%.1fs sounds like non-speech (no-speech probability %.2f): %r"
                    " dropped",
                    chunk["start"],
                    chunk["end"],
                    probability,
                    text[:60],
                )
                chunk = {**chunk, "text": "", "non_speech": True}
                dropped += 1
            kept.append(chunk)
    return kept, dropped


def whisper_word_timestamps(
    whisper_model: Any,
    language: str,
    audio: np.ndarray,
    chunks: Sequence[dict],
    batch_size: int,
    encoder_outputs: Sequence[Any] = (),
) -> list[list[Word]]:
    """Words with times for each whisperx chunk ({start, end, text}, times relative to `audio`),
    from Whisper's cross-attention alignment of the chunk's own text. With the encoder outputs
    of the transcription (`keeping_encoder_outputs`) nothing is encoded again."""
    tokenizer = word_tokenizer(whisper_model, language)
    words_per_chunk: list[list[Word]] = []
    for batch, encoder_output in _batches_with_encoder_outputs(chunks, encoder_outputs, batch_size):
        pieces = _pieces(audio, batch)
        tokens = [
            text_tokens(tokenizer, chunk["text"]) if chunk["text"].strip() else []
            for chunk in batch
        ]
        spoken = [index for index, chunk_tokens in enumerate(tokens) if chunk_tokens]
        if spoken and (encoder_output is None or len(spoken) < len(batch)):
            # encode just the chunks with text (whisperx's batch had silent ones too)
            encoder_output = encode_pieces(whisper_model, [pieces[i] for i in spoken])
        alignments = (
            align_words(
                whisper_model,
                tokenizer,
                [tokens[i] for i in spoken],
                encoder_output,
                [pieces[i].shape[0] for i in spoken],
                PREPEND_PUNCTUATIONS,
                APPEND_PUNCTUATIONS,
            )
            if spoken
            else []
        )
        aligned = dict(zip(spoken, alignments, strict=True))
        del encoder_output
        for index, chunk in enumerate(batch):
            alignment = aligned.get(index, [])
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
    spans = _word_spans(chunk_text, words)

    def close() -> None:
        if current:
            first, last = len(closed_words), len(closed_words) + len(current) - 1
            if (
                spans is not None
            ):  # the chunk's own spacing: "aujourd'hui", "你好", not "aujourd 'hui"
                text = chunk_text[spans[first][0] : spans[last][1]].strip()
            else:
                text = " ".join(w.text for w in current)
            segments.append(Segment(current[0].start_s, current[-1].end_s, text, tuple(current)))
            closed_words.extend(current)
            current.clear()

    closed_words: list[Word] = []

    for index, word in enumerate(words):
        if current and word.start_s - current[-1].end_s >= pause_s:
            close()
        current.append(word)
        at_end = word.text.endswith(SENTENCE_END)
        if at_end or len(current) >= max_words or index == len(words) - 1:
            close()
    return segments


def _word_spans(text: str, words: Sequence[Word]) -> list[tuple[int, int]] | None:
    """Where each word lies in the chunk's text, in order; None when they cannot all be found
    (the words then get joined with spaces)."""
    spans = []
    cursor = 0
    for word in words:
        found = text.find(word.text.strip(), cursor)
        if not word.text.strip() or found < 0:
            return None
        cursor = found + len(word.text.strip())
        spans.append((found, cursor))
    return spans


SILENCE_PEAK = 10 ** (-50 / 20)  # -50 dBFS: quieter than any speech worth transcribing


def is_silent(samples: np.ndarray) -> bool:
    """True when no sample of the window rises above -50 dBFS."""
    return samples.size == 0 or float(np.max(np.abs(samples))) < SILENCE_PEAK


def _report(on_progress: ProgressCallback | None, position_s: float, segments: int) -> None:
    """Call the progress callback; a callback that raises is logged, never fails the work."""
    governor().tick()  # between windows: as many threads as there are free cores
    if on_progress is None:
        return
    try:
        # to the millisecond: a window's last segment and the audio's end may differ by 1e-14
        on_progress(round(position_s, 3), segments)
    except Exception:
        log.warning("progress callback failed (ignored)", exc_info=True)


@dataclass(frozen=True)
class TranscribedWindow:
    """What one window gave: its language (with the detection's probability, None when the
    language was fixed) and its segments, in recording time."""

    language: str
    probability: float | None
    segments: list[Segment]
    redecoded: int = 0  # chunks whose looping text was decoded again
    recovered: int = 0  # chunks decoded again because speech in them had no words
    non_speech: int = 0  # chunks whose text was dropped: it came from non-speech


# Whisper's fallback: decode again at rising temperatures while the text compresses like a loop
FALLBACK_TEMPERATURES = (0.0, 0.2, 0.4, 0.6, 0.8, 1.0)


def decode_sequentially(
    whisper_model: Any, audio: np.ndarray, language: str | None, word_times: bool = False
) -> list[Any]:
    """faster-whisper's own decoding of a piece of audio, as plain faster-whisper does it: beam
    search, temperature fallback while the text compresses like a loop, no conditioning on
    earlier text, no VAD (the piece is already speech)."""
    segments, _ = whisper_model.transcribe(
        audio,
        language=language,
        beam_size=5,
        temperature=list(FALLBACK_TEMPERATURES),
        compression_ratio_threshold=MAX_COMPRESSION_RATIO,
        condition_on_previous_text=False,
        vad_filter=False,
        word_timestamps=word_times,
    )
    return list(segments)


def redecode_loops(
    whisper_model: Any, audio: np.ndarray, chunks: list[dict], language: str | None
) -> tuple[list[dict], int]:
    """WhisperX decodes chunks in batches, greedily and without Whisper's temperature fallback,
    so a chunk can come out as one phrase repeated for its whole length. Such a chunk is decoded
    again by faster-whisper's own sequential decoder, which falls back to higher temperatures
    while the text compresses more than 2.4x and is not conditioned on the looping text; the
    chunk keeps whichever text loops less. Returns the chunks and how many were decoded again."""
    fixed, count = [], 0
    for chunk in chunks:
        text = chunk["text"]
        if not text_loops(text):
            fixed.append(chunk)
            continue
        piece = audio[int(chunk["start"] * SAMPLE_RATE) : int(chunk["end"] * SAMPLE_RATE)]
        segments = decode_sequentially(whisper_model, piece, language)
        again = " ".join(segment.text.strip() for segment in segments).strip()
        if again and compression_ratio(again) < compression_ratio(text):
            log.info(
                "chunk %.1f-%.1fs looped (%r...): decoded again with temperature fallback",
                chunk["start"],
                chunk["end"],
                text[:60],
            )
            chunk = {**chunk, "text": " " + again}
            count += 1
        fixed.append(chunk)
    return fixed, count


# A stretch of a chunk this long without a word, as loud as the chunk's speech, is speech the
# batched decoding skipped (it sometimes drops a chunk's first sentences).
MIN_WORDLESS_S = 1.5
# Cross-attention timing gives a skipped stretch to the next word, which then "lasts" seconds:
# a word counts as covering at most its last MAX_WORD_S.
MAX_WORD_S = 1.2
SPEECH_LEVEL_DB = 20.0  # frames within this of the words' median loudness sound like speech
FRAME = 480  # 30 ms at 16 kHz


def _frame_db(audio: np.ndarray) -> np.ndarray:
    return 10 * np.log10(frame_power(audio, FRAME) + 1e-10)


def wordless_speech(
    level: np.ndarray, chunk: dict, words: Sequence[Word]
) -> list[tuple[float, float]]:
    """Stretches of at least MIN_WORDLESS_S inside the chunk with no word (a word covering at
    most its last MAX_WORD_S) whose 30 ms frames mostly sound as loud as the chunk's words:
    speech that got no text. `level`: the window's loudness per 30 ms frame (_frame_db)."""
    start, end = float(chunk["start"]), float(chunk["end"])
    if not len(level):
        return []
    inside = [
        level[int(w.start_s * SAMPLE_RATE) // FRAME : int(w.end_s * SAMPLE_RATE) // FRAME + 1]
        for w in words
    ]
    voiced = np.concatenate([x for x in inside if len(x)]) if any(len(x) for x in inside) else None
    reference = np.median(voiced) if voiced is not None else np.percentile(level, 90)
    spans = sorted((max(w.start_s, w.end_s - MAX_WORD_S), w.end_s) for w in words)
    edges = [start, *[t for span in spans for t in span], end]
    found = []
    for gap_start, gap_end in zip(edges[::2], edges[1::2], strict=False):
        if gap_end - gap_start < MIN_WORDLESS_S:
            continue
        frames = level[int(gap_start * SAMPLE_RATE) // FRAME : int(gap_end * SAMPLE_RATE) // FRAME]
        if len(frames) and np.mean(frames > reference - SPEECH_LEVEL_DB) >= 0.5:
            found.append((gap_start, gap_end))
    return found


# Detection on a few seconds of speech holds (as for windows, inference/language.py: unless its
# probability is under KEEP_PREVIOUS_BELOW); shorter stretches keep the window's language.
MIN_STRETCH_FOR_LANGUAGE_S = 3.0


def _stretch_language(
    whisper_model: Any, piece: np.ndarray, window_language: str | None
) -> str | None:
    """The stretch's own language when it is long enough to tell; else the window's."""
    if len(piece) < MIN_STRETCH_FOR_LANGUAGE_S * SAMPLE_RATE:
        return window_language
    detected = detect_language(whisper_model, piece)
    if detected is None or detected.probability < KEEP_PREVIOUS_BELOW:
        return window_language
    return detected.language


def recover_wordless_speech(
    whisper_model: Any,
    audio: np.ndarray,
    chunks: list[dict],
    words: list[list[Word]],
    language: str | None,
    detect: bool = False,
) -> tuple[list[dict], list[list[Word]], int]:
    """Speech that got no words (wordless_speech) is decoded again, stretch by stretch, by
    faster-whisper's sequential decoder with its own word times, and added as a chunk of its
    own (unless the new text loops); the chunk's word that had absorbed the stretch keeps only
    its own time. With `detect` (the window's language was detected, not given) a stretch long
    enough to tell gets its own language when it is surely another: skipped speech is often
    where a speaker switches language.
    Returns the chunks and their words in time order, and how many stretches were recovered."""
    found: list[tuple[dict, list[Word]]] = []
    recovered = 0
    level = _frame_db(audio)  # the window's loudness, 30 ms frames: once for all its chunks
    for chunk, chunk_words in zip(chunks, words, strict=True):
        gaps = [] if chunk.get("non_speech") else wordless_speech(level, chunk, chunk_words)
        kept = list(chunk_words)
        for gap_start, gap_end in gaps:
            piece = audio[int(gap_start * SAMPLE_RATE) : int(gap_end * SAMPLE_RATE)]
            gap_language = _stretch_language(whisper_model, piece, language) if detect else language
            segments = [
                segment
                for segment in decode_sequentially(
                    whisper_model, piece, gap_language, word_times=True
                )
                if not sounds_like_non_speech(
                    segment.no_speech_prob, segment.avg_logprob, segment.text
                )
            ]
            text = "".join(segment.text for segment in segments)
            again = [
                Word(
                    round(gap_start + w.start, 3),
                    round(min(gap_start + w.end, gap_end), 3),
                    w.word,
                    round(w.probability, 4),
                )
                for segment in segments
                for w in segment.words or ()
            ]
            if not again or text_loops(text):
                continue
            log.info(
                "speech at %.1f-%.1fs had no words: decoded again (%d words, %s)",
                gap_start,
                gap_end,
                len(again),
                gap_language,
            )
            recovered += 1
            kept = [
                replace(w, start_s=gap_end) if w.start_s < gap_end < w.end_s else w for w in kept
            ]
            found.append(
                (
                    {
                        "start": gap_start,
                        "end": gap_end,
                        "text": text,
                        "recovered_language": gap_language,
                    },
                    again,
                )
            )
        found.append((chunk, kept))
    found.sort(key=lambda pair: float(pair[0]["start"]))
    return [c for c, _ in found], [w for _, w in found], recovered


def transcribe_windows(
    pipeline: Any,
    windows: Iterable[AudioWindow],
    duration_s: float,
    language: str | None,
    batch_size: int,
    alignment: AlignmentModel | None = None,
    on_progress: ProgressCallback | None = None,
    keep_non_speech: bool = False,
) -> Iterator[TranscribedWindow]:
    """Transcribe window after window. With no `language`, a multilingual model detects it in
    each window (a recording may switch). Text from chunks that sound like non-speech is
    dropped unless `keep_non_speech`. Nothing is kept of a window once it is yielded."""
    if language is None and not is_multilingual(pipeline):
        language = "en"  # English-only models (*.en) have no language detection
    segments_so_far = 0
    for window, detected in windows_by_language(pipeline.model, windows, language):
        window_s = len(window.samples) / SAMPLE_RATE
        if window_s < 0.1 or is_silent(window.samples):
            # nothing to hear: Whisper would only hallucinate ("Thank you.") on silence
            _report(on_progress, min(window.end_s, duration_s), segments_so_far)
            continue
        window_language = language or (detected.language if detected else None)

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
        with keeping_encoder_outputs(pipeline.model) as encoder_outputs:
            result = pipeline.transcribe(
                window.samples,
                batch_size=batch_size,
                language=window_language,
                progress_callback=window_progress,
            )
        window_language = window_language or result["language"]
        chunks, redecoded = redecode_loops(
            pipeline.model, window.samples, result["segments"], window_language
        )
        non_speech = 0
        if not keep_non_speech:
            chunks, non_speech = drop_non_speech(
                pipeline.model, window_language, window.samples, chunks, batch_size, encoder_outputs
            )
        if alignment is not None and window_language == alignment.metadata.get("language"):
            chunks = [c for c in chunks if c["text"].strip()]
            words = wav2vec2_word_timestamps(alignment, window.samples, chunks)
        else:
            words = whisper_word_timestamps(
                pipeline.model, window_language, window.samples, chunks, batch_size, encoder_outputs
            )
        del encoder_outputs
        chunks, words, recovered = recover_wordless_speech(
            pipeline.model,
            window.samples,
            list(chunks),
            list(words),
            window_language,
            detect=language is None and is_multilingual(pipeline),
        )
        segments: list[Segment] = []
        for chunk, chunk_words in zip(chunks, words, strict=True):
            if not chunk["text"].strip():
                continue
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
                            language=chunk.get("recovered_language") or window_language,
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
        yield TranscribedWindow(
            window_language or "unknown",
            detected.probability if detected else None,
            segments,
            redecoded,
            recovered,
            non_speech,
        )
