"""One test per whisperx / faster-whisper internal the pipeline relies on, on the real bundled
model: an upgrade that changes one fails here, named."""

import numpy as np
import pytest

from whisper_pipeline.adapters import whisperx_internals as internals
from whisper_pipeline.defs.resources.asr import WhisperASR
from whisper_pipeline.inference.audio import SAMPLE_RATE, load_audio


@pytest.fixture(scope="module")
def speech(sample_call) -> np.ndarray:
    return load_audio(sample_call)[: 12 * SAMPLE_RATE]


def test_the_chunk_length_is_whisperx_s():
    from whisperx.audio import N_SAMPLES

    assert internals.CHUNK_SAMPLES == N_SAMPLES == 30 * SAMPLE_RATE


def test_multilingual_or_not_and_unloading_the_weights():
    resource = WhisperASR(device="cpu", compute_type="float32", eager_release=True)
    with resource.borrow() as borrowed:
        pipeline = borrowed.model
        assert internals.is_multilingual(pipeline) is False  # tiny.en
        assert internals.is_loaded(pipeline)
    assert not internals.is_loaded(pipeline)  # eager release went through `unload`
    assert pipeline.vad_model is None


def test_the_vad_step_is_set_on_whisperx_s_pyannote_inference(asr):
    with asr.borrow() as borrowed:
        inference = borrowed.model.vad_model.vad_pipeline._segmentation
        before = inference.step
        try:
            assert internals.set_vad_step(borrowed.model, 1.5)
            assert inference.step == 1.5
            assert internals.set_vad_step(borrowed.model, 1000.0)
            assert inference.step == inference.duration  # never beyond one window
        finally:
            inference.step = before


def test_the_encoder_outputs_of_whisperx_s_batches_are_kept_only_inside_the_block(asr, speech):
    with asr.borrow() as borrowed:
        pipeline = borrowed.model
        with internals.keeping_encoder_outputs(pipeline.model) as outputs:
            result = pipeline.transcribe(speech, batch_size=4, language="en")
        assert sum(int(output.shape[0]) for output in outputs) == len(result["segments"]) > 0
        pipeline.transcribe(speech, batch_size=4, language="en")
        assert internals._encoder_capture(pipeline.model).outputs is None  # nothing kept now


def test_word_alignment_from_whisper_s_cross_attention(asr, speech):
    with asr.borrow() as borrowed:
        model = borrowed.model.model
        chunk = borrowed.model.transcribe(speech, batch_size=4, language="en")["segments"][0]
        piece = speech[int(chunk["start"] * SAMPLE_RATE) : int(chunk["end"] * SAMPLE_RATE)]
        tokenizer = internals.word_tokenizer(model, "en")
        tokens = internals.text_tokens(tokenizer, chunk["text"])
        assert tokenizer.decode(tokens).strip() == chunk["text"].strip()
        encoded = internals.encode_pieces(model, [piece])
        (words,) = internals.align_words(
            model, tokenizer, [tokens], encoded, [len(piece)], "\"'([{-", "\"'.,!?:)]}"
        )
    text = "".join(word["word"] for word in words).strip()
    assert text == chunk["text"].strip()  # punctuation merged into its words
    starts = [word["start"] for word in words]
    assert starts == sorted(starts) and starts[0] >= 0 and words[-1]["end"] <= len(piece) / 16000
    assert all(0 <= word["probability"] <= 1 for word in words)


def test_the_bundled_segmentation_checkpoint_ships_with_whisperx():
    from pathlib import Path

    checkpoint = Path(internals.bundled_segmentation_checkpoint())
    assert checkpoint.is_file() and checkpoint.stat().st_size > 1_000_000
