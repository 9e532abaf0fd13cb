"""Recordings handed in over HTTP: kept in `<home>/uploads/<upload id>/<name>`, the client's file
name only ever a label, the content checked by ffprobe, and nothing left behind by an upload
that does not finish or is refused."""

from __future__ import annotations

import shutil
import struct
import unicodedata
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from whisper_pipeline.core.errors import RecordingError
from whisper_pipeline.inference.audio import SAMPLE_RATE, AudioInfo, probe
from whisper_pipeline.storage import home

CHUNK = 1 << 20
MAX_NAME_BYTES = 200  # well under every file system's 255
PARTIAL = ".partial"


class UploadRefused(Exception):
    """An upload that is not kept; `status` is the HTTP status that says why."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def safe_file_name(given: str | None, fallback: str = "recording") -> str:
    """The last part of the client's name, printable, not hidden, at most 200 bytes (its
    extension kept): never a path, so `../../etc/passwd`, NUL or a 10,000-character name only
    ever label a file inside its own upload folder."""
    name = (given or "").replace("\\", "/").rsplit("/", 1)[-1]
    name = unicodedata.normalize("NFC", name)
    name = "".join(char for char in name if char.isprintable()).strip().lstrip(".").strip()
    if not name:
        return fallback
    stem, dot, extension = name.rpartition(".")
    if not dot or len(extension.encode()) > 16:
        stem, dot, extension = name, "", ""
    room = MAX_NAME_BYTES - len((dot + extension).encode())
    stem = stem.encode()[:room].decode("utf-8", errors="ignore").strip() or fallback
    return stem + dot + extension


@dataclass(frozen=True)
class Upload:
    path: Path
    info: AudioInfo

    def discard(self) -> None:
        """Remove the upload's folder (a duplicate of a recording already here, or refused)."""
        shutil.rmtree(self.path.parent, ignore_errors=True)


def keep_upload(
    source: BinaryIO, file_name: str | None, pipeline_home: Path, raw_pcm: bool = False
) -> Upload:
    """Copy the uploaded stream into its own folder under the uploads folder and check it is
    audio ffmpeg decodes (UploadRefused 415 when not). `raw_pcm`: the bytes are 16 kHz mono
    16-bit PCM without a header (whisper-asr-webservice's `encode=false`), kept as WAV."""
    folder = home.uploads_dir(pipeline_home) / uuid.uuid4().hex
    folder.mkdir(parents=True)
    name = safe_file_name(file_name)
    if raw_pcm:
        name = f"{Path(name).stem or 'recording'}.wav"
    partial = folder / (name + PARTIAL)
    try:
        with open(partial, "wb") as target:
            if raw_pcm:
                target.write(b"\0" * 44)  # the WAV header, once the length is known
            shutil.copyfileobj(source, target, CHUNK)
            if raw_pcm:
                _write_wav_header(target)
        path = partial.rename(folder / name)
        try:
            info = probe(path)
        except RecordingError as error:
            raise UploadRefused(415, f"{name}: {error.problem}") from None
        return Upload(path, info)
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        raise


def _write_wav_header(target: BinaryIO) -> None:
    data = target.tell() - 44
    target.seek(0)
    target.write(
        b"RIFF"
        + struct.pack("<I", 36 + data)
        + b"WAVEfmt "
        + struct.pack("<IHHIIHH", 16, 1, 1, SAMPLE_RATE, SAMPLE_RATE * 2, 2, 16)
        + b"data"
        + struct.pack("<I", data)
    )


def is_upload(path: Path, pipeline_home: Path) -> bool:
    """Whether `path` is a file the API keeps (removed with its recording), not the user's."""
    try:
        Path(path).resolve().relative_to(home.uploads_dir(pipeline_home).resolve())
    except ValueError:
        return False
    return True
