"""Stereo recordings with one voice per channel (the usual call-centre format: agent on one
side, customer on the other), told apart from stereo mixes and duplicated mono by the
channels' levels. Such a call is diarized by channel and transcribed channel by channel, so
speech over speech is never mixed into one garbled stream.

Levels are 20 ms RMS frames in dBFS, computed while the file streams (an hour of stereo is
360 000 numbers, not 460 MB of samples)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from whisper_pipeline.inference.audio import SAMPLE_RATE, AudioWindow, frame_power, iter_chunks

FRAME_S = 0.02
FRAME = int(FRAME_S * SAMPLE_RATE)
SILENCE_DB = -120.0

MONO = "mono"  # one channel, or two copies of the same signal
STEREO_MIX = "stereo mix"  # voices spread over both channels: mixed to mono as usual
PER_CHANNEL = "one voice per channel"

DOMINANT_DB = 10.0  # a channel this much louder than the other holds the voice of the frame
MIN_SIDE_SHARE = 0.05  # each side leads in at least this share of speech frames
MAX_CORRELATION = 0.2  # and the channels are this unalike at most (different voices),
MIN_LED_SHARE = 0.7  # or one side or the other leads in most speech frames
COPIES_DB = 1.0  # channels this close are one signal twice


@dataclass(frozen=True)
class ChannelLayout:
    """What the channels hold, with the measures that decided it."""

    kind: str
    separation_db: float = 0.0  # median |left - right| over speech frames
    left_share: float = 0.0  # share of speech frames the left channel leads
    right_share: float = 0.0
    correlation: float = 1.0  # of the two waveforms

    @property
    def per_channel(self) -> bool:
        return self.kind == PER_CHANNEL

    def describe(self) -> str:
        if self.kind == MONO:
            return MONO
        return (
            f"{self.kind} (correlation {self.correlation:.2f}; channels {self.separation_db:.0f} dB"
            f" apart; left leads {self.left_share:.0%}, right {self.right_share:.0%} of speech)"
        )


def describe_channels(channels: int, layout: ChannelLayout) -> str:
    """The channel count and what they hold, in one phrase: "1 (mono)", "2, the same signal in
    both (mixed to mono)", "2, one voice per channel (...)"."""
    if channels == 1:
        return "1 (mono)"
    if layout.kind == MONO:
        return f"{channels}, the same signal in each (mixed to mono)"
    return f"{channels}, {layout.describe()}"


def frame_levels(samples: np.ndarray) -> np.ndarray:
    """dBFS of each whole 20 ms frame of a (samples,) or (samples, channels) array."""
    power = frame_power(samples, FRAME)
    with np.errstate(divide="ignore"):
        levels = 10.0 * np.log10(power)
    return np.maximum(levels, SILENCE_DB).T.squeeze()


@dataclass(frozen=True)
class StereoMeasures:
    """A stereo file's channel levels ((2, frames) dBFS) and how alike its two waveforms are
    (zero-lag correlation, 1.0 for one signal in both, near 0 for two different voices)."""

    levels: np.ndarray
    correlation: float


def measure_stereo(path: Path) -> StereoMeasures:
    """Levels and correlation of a stereo file's channels, streamed."""
    pieces, cross, left_power, right_power = [], 0.0, 0.0, 0.0
    for chunk in iter_chunks(path, 60.0, "stereo"):
        pieces.append(frame_levels(chunk).reshape(2, -1))
        left, right = chunk[:, 0].astype(np.float64), chunk[:, 1].astype(np.float64)
        cross += float(left @ right)
        left_power += float(left @ left)
        right_power += float(right @ right)
    levels = np.concatenate(pieces, axis=1) if pieces else np.zeros((2, 0))
    scale = np.sqrt(left_power * right_power)
    return StereoMeasures(levels, round(cross / scale, 4) if scale > 0 else 0.0)


def speech_floor(levels: np.ndarray) -> float:
    """The level above which a frame holds more than background noise."""
    if levels.size == 0:
        return 0.0
    return float(max(-55.0, np.percentile(levels, 10) + 12.0))


def channel_layout(measures: StereoMeasures) -> ChannelLayout:
    """Whether two channels hold one voice each, one signal twice, or a mix. One voice per
    channel: each channel has speech the other only leaks (≥ DOMINANT_DB louder), and either
    the waveforms are unalike (a mix, or two microphones in one room, hear the same voices in
    both) or one side clearly leads in most speech."""
    left, right = measures.levels
    louder = np.maximum(left, right)
    speech = louder > speech_floor(louder)
    if speech.sum() < 1.0 / FRAME_S:  # under a second of sound: nothing to tell
        return ChannelLayout(MONO)
    difference = (left - right)[speech]
    separation = float(np.median(np.abs(difference)))
    left_share = float(np.mean(difference >= DOMINANT_DB))
    right_share = float(np.mean(difference <= -DOMINANT_DB))
    if separation < COPIES_DB:
        kind = MONO
    elif min(left_share, right_share) >= MIN_SIDE_SHARE and (
        abs(measures.correlation) <= MAX_CORRELATION or left_share + right_share >= MIN_LED_SHARE
    ):
        kind = PER_CHANNEL
    else:
        kind = STEREO_MIX
    return ChannelLayout(
        kind,
        round(separation, 1),
        left_share=round(left_share, 3),
        right_share=round(right_share, 3),
        correlation=measures.correlation,
    )


def _runs(active: np.ndarray) -> list[tuple[int, int]]:
    """[start, end) frame indices of each run of True."""
    edges = np.diff(np.concatenate([[0], active.astype(np.int8), [0]]))
    return list(zip(np.flatnonzero(edges == 1), np.flatnonzero(edges == -1), strict=True))


def channel_activity(
    levels: np.ndarray, min_gap_s: float = 0.3, min_turn_s: float = 0.25
) -> list[list[tuple[float, float]]]:
    """For each channel, the (start, end) seconds where its own voice speaks: above the noise
    floor and not merely the other side's voice leaking in (within DOMINANT_DB of the other
    channel, so both count where both talk). Pauses under `min_gap_s` are bridged, blips
    under `min_turn_s` dropped."""
    floor = speech_floor(np.maximum(levels[0], levels[1]))
    spans: list[list[tuple[float, float]]] = []
    for channel in (0, 1):
        own, other = levels[channel], levels[1 - channel]
        active = (own > floor) & (own > other - DOMINANT_DB)
        runs = _runs(active)
        bridged: list[list[int]] = []
        for start, end in runs:
            if bridged and (start - bridged[-1][1]) * FRAME_S < min_gap_s:
                bridged[-1][1] = end
            else:
                bridged.append([start, end])
        spans.append(
            [
                (round(start * FRAME_S, 3), round(end * FRAME_S, 3))
                for start, end in bridged
                if (end - start) * FRAME_S >= min_turn_s
            ]
        )
    return spans


def gated(
    windows: Iterable[AudioWindow], spans: Sequence[tuple[float, float]], pad_s: float = 0.2
) -> Iterator[AudioWindow]:
    """`windows` of one channel silenced outside its own voice's `spans` (padded by `pad_s`):
    the other side leaking in is quiet, but Whisper hears quiet speech as well as loud."""
    for window in windows:
        keep = np.zeros(len(window.samples), dtype=bool)
        for start_s, end_s in spans:
            low = max(round((start_s - pad_s - window.start_s) * SAMPLE_RATE), 0)
            high = min(round((end_s + pad_s - window.start_s) * SAMPLE_RATE), len(keep))
            if low < high:
                keep[low:high] = True
        yield AudioWindow(window.start_s, np.where(keep, window.samples, 0.0).astype(np.float32))
