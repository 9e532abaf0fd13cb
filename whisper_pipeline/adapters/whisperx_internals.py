"""What the pipeline uses of whisperx and faster-whisper beyond their public API.

- the Whisper model inside a whisperx pipeline (`pipeline.model`, a faster-whisper
  WhisperModel) and its CTranslate2 model (`.model`): multilingual or not, unloading weights;
- the pyannote Inference of whisperx's VAD (`vad_model.vad_pipeline._segmentation`): its step;
- `encode` / `generate_segment_batched` of whisperx's WhisperModel, wrapped so the encoder
  outputs of a window's batches are kept for word timestamps (nothing encoded twice);
- faster-whisper's word alignment: its Tokenizer, `find_alignment`, `merge_punctuations`, and
  whisperx's log-mel features and 30 s chunk length;
- CTranslate2's `generate(return_no_speech_prob=True)`: Whisper's no-speech probability of a
  chunk, which whisperx's batched decoding does not return;
- whisperx's bundled pyannote segmentation checkpoint (the offline diarization reuses it)."""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import numpy as np

from whisper_pipeline.adapters.versions import require

WHISPERX_VERSION = require("whisperx", ">=3.8,<3.9")
FASTER_WHISPER_VERSION = require("faster-whisper", ">=1.2,<1.3")

CHUNK_SAMPLES = 480_000  # whisperx.audio.N_SAMPLES: 30 s at 16 kHz, one Whisper input


def is_multilingual(pipeline: Any) -> bool:
    """Whether a loaded whisperx pipeline's Whisper model knows other languages than English."""
    return bool(pipeline.model.model.is_multilingual)


def unload(pipeline: Any) -> None:
    """Hand back a whisperx pipeline's memory: Whisper's weights and the VAD model."""
    pipeline.model.model.unload_model()
    pipeline.vad_model = None


def is_loaded(pipeline: Any) -> bool:
    return bool(pipeline.model.model.model_is_loaded)


def set_vad_step(pipeline: Any, step_s: float) -> bool:
    """Space whisperx's voice-activity windows `step_s` apart; False where the VAD is not the
    pyannote one this knows."""
    vad = getattr(pipeline.vad_model, "vad_pipeline", None)
    inference = getattr(vad, "_segmentation", None)
    if inference is None or not hasattr(inference, "step"):
        return False
    inference.step = min(step_s, inference.duration)
    return True


def bundled_segmentation_checkpoint() -> str:
    """whisperx's bundled pyannote segmentation weights (its VAD model)."""
    import whisperx

    return os.path.join(os.path.dirname(whisperx.__file__), "assets", "pytorch_model.bin")


class _EncoderOutputs(threading.local):
    """Per thread: the encoder outputs of whisperx's batches while a window is transcribed."""

    def __init__(self) -> None:
        self.outputs: list | None = None
        self.generating = False


def _encoder_capture(whisper_model: Any) -> _EncoderOutputs:
    """Make the loaded model keep the encoder outputs whisperx computes for its batches.
    Installed once per loaded model; outputs are only kept inside `keeping_encoder_outputs`."""
    capture = getattr(whisper_model, "_encoder_capture", None)
    if capture is not None:
        return capture
    capture = _EncoderOutputs()
    encode, generate = whisper_model.encode, whisper_model.generate_segment_batched

    def encode_and_keep(features: np.ndarray) -> Any:
        output = encode(features)
        if capture.generating and capture.outputs is not None:
            capture.outputs.append(output)
        return output

    def generate_batch(*args: Any, **kwargs: Any) -> Any:
        capture.generating = True  # language detection encodes too: not a batch of chunks
        try:
            return generate(*args, **kwargs)
        finally:
            capture.generating = False

    whisper_model.encode = encode_and_keep
    whisper_model.generate_segment_batched = generate_batch
    whisper_model._encoder_capture = capture
    return capture


@contextmanager
def keeping_encoder_outputs(whisper_model: Any) -> Iterator[list]:
    """The encoder outputs of the batches whisperx transcribes inside the block, in order."""
    capture = _encoder_capture(whisper_model)
    capture.outputs = []
    try:
        yield capture.outputs
    finally:
        capture.outputs = None


def word_tokenizer(whisper_model: Any, language: str) -> Any:
    """faster-whisper's tokenizer for transcribing `language` with this model."""
    import faster_whisper.tokenizer

    return faster_whisper.tokenizer.Tokenizer(
        whisper_model.hf_tokenizer,
        whisper_model.model.is_multilingual,
        task="transcribe",
        language=language,
    )


def text_tokens(tokenizer: Any, text: str) -> list[int]:
    """The tokens of `text` as Whisper would have produced them (no timestamps, no specials)."""
    tokens = tokenizer.encode(text if text.startswith(" ") else " " + text)
    return [token for token in tokens if token < tokenizer.eot]


def encode_pieces(whisper_model: Any, pieces: Sequence[np.ndarray]) -> Any:
    """Whisper's encoder output for pieces of audio (each at most CHUNK_SAMPLES, padded)."""
    from whisperx.audio import log_mel_spectrogram

    n_mels = whisper_model.feat_kwargs.get("feature_size") or 80
    features = [
        log_mel_spectrogram(piece, n_mels=n_mels, padding=CHUNK_SAMPLES - piece.shape[0]).numpy()
        for piece in pieces
    ]
    return whisper_model.encode(np.stack(features))


def no_speech_probabilities(whisper_model: Any, tokenizer: Any, encoder_output: Any) -> list[float]:
    """Whisper's probability of its no-speech token after the start of transcript, per item of
    the encoder output (one decoding step, as faster-whisper computes it for its segments)."""
    size = int(encoder_output.shape[0])
    if size == 0:
        return []
    prompt = [*tokenizer.sot_sequence, tokenizer.no_timestamps]
    results = whisper_model.model.generate(
        encoder_output, [prompt] * size, max_length=len(prompt) + 1, return_no_speech_prob=True
    )
    return [float(result.no_speech_prob) for result in results]


def align_words(
    whisper_model: Any,
    tokenizer: Any,
    tokens: Sequence[list[int]],
    encoder_output: Any,
    num_samples: Sequence[int],
    prepend_punctuations: str,
    append_punctuations: str,
) -> list[list[dict]]:
    """Words with start, end, word and probability per piece, from Whisper's cross-attention
    (faster-whisper's word timestamps), punctuation merged into its words."""
    import faster_whisper.transcribe

    alignments = whisper_model.find_alignment(
        tokenizer, list(tokens), encoder_output, [max(1, n // 160) for n in num_samples]
    )
    for alignment in alignments:
        faster_whisper.transcribe.merge_punctuations(
            alignment, prepend_punctuations, append_punctuations
        )
    return alignments
