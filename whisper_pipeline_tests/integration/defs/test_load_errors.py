"""A model that cannot be loaded says why: offline downloads and unknown languages are named
as such (alignment falls back to Whisper's timing), anything else keeps its own message."""

import pytest

from whisper_pipeline.core.errors import ConfigurationError
from whisper_pipeline.defs.resources.alignment import WordAlignment
from whisper_pipeline.defs.resources.asr import WhisperASR


def test_an_alignment_model_that_is_not_there_falls_back(tmp_path):
    """(A Hub name would take minutes of retries offline before the same fallback.)"""
    aligner = WordAlignment(model=str(tmp_path / "no-such-wav2vec2"), model_dir=str(tmp_path))
    with aligner.borrow_if_configured() as (model, reason):
        assert model is None and "unavailable" in reason


def test_other_alignment_failures_are_not_swallowed():
    """Asking for CUDA where there is none used to become a quiet fallback."""
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    aligner = WordAlignment(model="WAV2VEC2_ASR_BASE_960H", device="cuda")
    with pytest.raises(ConfigurationError, match="CUDA"), aligner.borrow_if_configured():
        pass


def test_a_named_whisper_model_not_available_offline_says_so(tmp_path):
    asr = WhisperASR(model="large-v3", model_dir=str(tmp_path), local_files_only=True, device="cpu")
    with pytest.raises(ConfigurationError, match="could not be loaded.*Without internet"):
        asr.load_model()


def test_an_unknown_whisper_name_keeps_its_own_message(tmp_path):
    asr = WhisperASR(model="larg-v3", model_dir=str(tmp_path), local_files_only=True, device="cpu")
    with pytest.raises(ValueError, match="Invalid model size 'larg-v3'"):
        asr.load_model()
