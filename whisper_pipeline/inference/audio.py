"""Probing and decoding recordings with ffmpeg: decode once, 16 kHz mono float32, in bounded pieces."""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np

from whisper_pipeline.core.errors import ConfigurationError, RecordingError

SAMPLE_RATE = 16_000
AUDIO_EXTENSIONS = frozenset(
    {".wav", ".mp3", ".m4a", ".flac", ".ogg", ".opus", ".webm", ".mp4", ".mkv", ".aac", ".wma"}
)


@dataclass(frozen=True)
class AudioInfo:
    """What ffprobe says about a recording's first audio stream."""

    duration_s: float
    codec: str
    sample_rate_hz: int
    channels: int
    container: str
    size_bytes: int


def require_tool(name: str, package: str = "ffmpeg") -> str:
    """The path of a command-line tool, or a ConfigurationError saying what to install."""
    found = shutil.which(name)
    if not found:
        raise ConfigurationError(
            f"'{name}' was not found on PATH; install it (Debian/Ubuntu: apt-get install {package})"
        )
    return found


def probe(path: Path) -> AudioInfo:
    """Return the audio facts of `path`, or raise RecordingError saying why it is not audio."""
    path = Path(path)
    if not path.exists():
        raise RecordingError(str(path), "file not found", "it was moved or deleted after intake")
    size = path.stat().st_size
    if size == 0:
        raise RecordingError(str(path), "file is empty (0 bytes)", "was the copy interrupted?")
    command = [
        require_tool("ffprobe"),
        "-v",
        "error",
        "-print_format",
        "json",
        "-show_format",
        "-show_streams",
        "-select_streams",
        "a",
        str(path),
    ]
    completed = subprocess.run(command, capture_output=True, text=True, timeout=120)
    if completed.returncode != 0:
        raise RecordingError(
            str(path), f"not decodable audio: {_last_error_line(completed.stderr, path)}"
        )
    facts = json.loads(completed.stdout or "{}")
    streams = facts.get("streams") or []
    if not streams:
        raise RecordingError(str(path), "contains no audio stream")
    stream = streams[0]
    container = facts.get("format", {})
    duration = _first_number(stream.get("duration"), container.get("duration"))
    if duration is None or duration <= 0:
        # Some containers (raw streams, truncated files) carry no duration: measure by decoding.
        duration = _decoded_duration(path)
    if duration <= 0:
        raise RecordingError(str(path), "audio stream decodes to no samples", "file is truncated?")
    return AudioInfo(
        duration_s=round(duration, 3),
        codec=str(stream.get("codec_name", "unknown")),
        sample_rate_hz=int(stream.get("sample_rate") or 0),
        channels=int(stream.get("channels") or 0),
        container=str(container.get("format_name", "unknown")),
        size_bytes=size,
    )


def _last_error_line(stderr: str, path: Path) -> str:
    """FFmpeg's last error line, without the file name it repeats."""
    lines = [line.strip() for line in stderr.strip().splitlines() if line.strip()]
    if not lines:
        return "ffmpeg could not read it"
    return lines[-1].removeprefix(f"{path}: ").strip()


def _first_number(*values: object) -> float | None:
    for value in values:
        try:
            number = float(value)  # type: ignore[arg-type]
        except (TypeError, ValueError):
            continue
        if number == number:  # not NaN
            return number
    return None


def _decoded_duration(path: Path) -> float:
    samples = sum(len(chunk) for chunk in iter_chunks(path, chunk_s=60.0))
    return samples / SAMPLE_RATE


# what to decode: the channels mixed to mono, both channels of a stereo file interleaved, or
# one channel (0: left, 1: right) alone
Channels = Literal["mono", "stereo"] | int


def _ffmpeg_decoder(path: Path, channels: Channels = "mono") -> subprocess.Popen[bytes]:
    if channels == "mono":
        layout = ["-ac", "1"]
    elif channels == "stereo":
        layout = ["-ac", "2"]
    else:
        layout = ["-af", f"pan=mono|c0=c{int(channels)}"]
    command = [
        require_tool("ffmpeg"),
        "-nostdin",
        "-v",
        "error",
        "-threads",
        "0",
        "-i",
        str(path),
        "-vn",
        "-f",
        "s16le",
        *layout,
        "-ar",
        str(SAMPLE_RATE),
        "-",
    ]
    return subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def iter_chunks(path: Path, chunk_s: float, channels: Channels = "mono") -> Iterator[np.ndarray]:
    """Yield the recording as consecutive float32 pieces of `chunk_s` seconds (the last shorter);
    with `channels="stereo"` each piece is (samples, 2).

    One ffmpeg process streams the whole file, so memory is bounded by one piece whatever the
    recording's length, and no sample is decoded twice.
    """
    width = 2 if channels == "stereo" else 1
    chunk_bytes = int(chunk_s * SAMPLE_RATE) * 2 * width
    process = _ffmpeg_decoder(Path(path), channels)
    assert process.stdout is not None and process.stderr is not None
    try:
        while True:
            data = process.stdout.read(chunk_bytes)
            if not data:
                break
            usable = len(data) - len(data) % (2 * width)
            samples = np.frombuffer(data[:usable], dtype=np.int16).astype(np.float32) / 32768.0
            yield samples.reshape(-1, 2) if width == 2 else samples
        error = process.stderr.read().decode(errors="replace")
        if process.wait() != 0:
            raise RecordingError(str(path), f"not decodable audio: {_last_error_line(error, path)}")
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        process.stdout.close()
        process.stderr.close()


def load_audio(path: Path, channels: Channels = "mono") -> np.ndarray:
    """Decode a whole recording (mixed to mono, or one channel); for short files, diarization
    and tests (transcription goes through iter_windows)."""
    pieces = list(iter_chunks(path, chunk_s=60.0, channels=channels))
    return np.concatenate(pieces) if pieces else np.zeros(0, dtype=np.float32)


def read_spans(path: Path, spans: list[tuple[float, float]]) -> np.ndarray:
    """The samples of `spans` (seconds, in order) joined, decoding the file once as a stream:
    a few seconds of a long recording without holding all of it."""
    wanted = [(round(start * SAMPLE_RATE), round(end * SAMPLE_RATE)) for start, end in spans]
    pieces, offset = [], 0
    for chunk in iter_chunks(path, chunk_s=60.0):
        for start, end in wanted:
            low, high = max(start, offset), min(end, offset + len(chunk))
            if low < high:
                pieces.append(chunk[low - offset : high - offset])
        offset += len(chunk)
        if wanted and offset >= wanted[-1][1]:
            break
    return np.concatenate(pieces) if pieces else np.zeros(0, dtype=np.float32)


def write_wav(path: Path, samples: np.ndarray) -> None:
    """16 kHz mono 16-bit PCM, written under a temporary name and renamed."""
    import wave

    from whisper_pipeline.core.fileio import replace_atomic

    pcm = (np.clip(samples, -1.0, 1.0) * 32767).astype("<i2").tobytes()

    def write(tmp: Path) -> None:
        with wave.open(str(tmp), "wb") as out:
            out.setnchannels(1)
            out.setsampwidth(2)
            out.setframerate(SAMPLE_RATE)
            out.writeframes(pcm)

    replace_atomic(Path(path), write)


@dataclass(frozen=True)
class AudioWindow:
    """A piece of a recording and where it starts, in seconds from the recording's start."""

    start_s: float
    samples: np.ndarray

    @property
    def end_s(self) -> float:
        return self.start_s + len(self.samples) / SAMPLE_RATE


def iter_windows(
    path: Path, window_s: float = 300.0, search_s: float = 5.0, channel: int | None = None
) -> Iterator[AudioWindow]:
    """Yield windows of about `window_s` seconds, each cut at the quietest point of its last
    `search_s` seconds, so that a word is rarely split between two windows (of one `channel`
    alone when given, else of the mono mix)."""
    window = int(window_s * SAMPLE_RATE)
    search = min(int(search_s * SAMPLE_RATE), window // 2)
    pending = np.zeros(0, dtype=np.float32)
    start_sample = 0
    decode: Channels = "mono" if channel is None else channel
    for chunk in iter_chunks(path, chunk_s=window_s, channels=decode):
        pending = np.concatenate([pending, chunk]) if len(pending) else chunk
        while len(pending) >= window + search:
            cut = window - search + quietest_point(pending[window - search : window])
            yield AudioWindow(start_sample / SAMPLE_RATE, pending[:cut].copy())
            start_sample += cut
            pending = pending[cut:]
    if len(pending):
        yield AudioWindow(start_sample / SAMPLE_RATE, pending)


class CountedWindows:
    """Windows passed through while counting the seconds that decoded, to compare with the
    duration the container claims (a truncated file decodes less)."""

    def __init__(self, windows: Iterator[AudioWindow]) -> None:
        self._windows = windows
        self.samples = 0

    def __iter__(self) -> Iterator[AudioWindow]:
        for window in self._windows:
            self.samples += len(window.samples)
            yield window

    @property
    def seconds(self) -> float:
        return round(self.samples / SAMPLE_RATE, 3)


def frame_power(samples: np.ndarray, frame: int) -> np.ndarray:
    """Mean square of each whole `frame`-sample frame of a (samples,) or (samples, channels)
    array: (frames,) or (frames, channels). The level meter behind pause search, channel
    activity and the speech-without-words check."""
    frames = len(samples) // frame
    shaped = samples[: frames * frame].reshape(frames, frame, *samples.shape[1:])
    return np.square(shaped, dtype=np.float64).mean(axis=1)


def quietest_point(samples: np.ndarray, frame: int = 320, smooth_frames: int = 15) -> int:
    """Index of the middle of the quietest stretch of about `smooth_frames` 20 ms frames
    (300 ms): a pause between sentences or turns, not a gap between two words."""
    frames = len(samples) // frame
    if frames == 0:
        return len(samples)
    energy = frame_power(samples, frame)
    width = max(1, min(smooth_frames, frames))
    smoothed = np.convolve(energy, np.ones(width) / width, mode="valid")
    best = int(np.argmin(smoothed)) + width // 2
    return best * frame + frame // 2
