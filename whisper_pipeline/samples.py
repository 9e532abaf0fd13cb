"""Sample recordings: pyannote's real two-speaker call, and synthetic conversations spoken by
espeak-ng voices joined with sox, with the reference timings we wrote them with."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from whisper_pipeline.lib.audio import require_tool
from whisper_pipeline.lib.records import SpeakerTurn


@dataclass(frozen=True)
class Voice:
    """An espeak-ng voice: variant, pitch (0-99) and words per minute."""

    name: str
    espeak_voice: str
    pitch: int
    speed: int


VOICES = {
    "alice": Voice("alice", "en-us+f3", 70, 160),
    "bob": Voice("bob", "en-gb+m3", 30, 150),
    "carol": Voice("carol", "en-us+f5", 55, 175),
    "dave": Voice("dave", "en-us+m7", 15, 140),
}

DEMO_CONVERSATION = (
    ("alice", "Good morning, thanks for joining the call about the quarterly budget."),
    ("bob", "Happy to be here. I have the numbers from the sales team ready."),
    ("alice", "Great. Can you start with the revenue for the last three months?"),
    ("bob", "Revenue grew by twelve percent, mostly from new customers in Europe."),
    ("alice", "That is excellent news. What about the costs?"),
    ("bob", "Costs stayed flat, so the margin improved as well."),
)


def pyannote_sample_dir() -> Path:
    """pyannote.audio's bundled 30 s call with its reference RTTM and STM transcript."""
    import pyannote.audio

    return Path(pyannote.audio.__file__).parent / "sample"


WAV_16K_MONO = ("-r", "16000", "-c", "1", "-b", "16")  # sox output format: 16 kHz mono 16-bit


def _tool(name: str) -> str:
    return require_tool(name, package="espeak-ng sox")


def _silence(path: Path, seconds: float) -> Path:
    """A 16 kHz mono 16-bit wav of silence."""
    command = [
        _tool("sox"),
        "-n",
        *WAV_16K_MONO,
        str(path),
        "trim",
        "0",
        f"{seconds}",
    ]
    subprocess.run(command, check=True)
    return path


def _duration_s(path: Path) -> float:
    out = subprocess.run(
        [_tool("soxi"), "-D", str(path)], capture_output=True, text=True, check=True
    )
    return float(out.stdout.strip())


def synthesize_conversation(
    turns: Sequence[tuple[str, str]], out_path: Path, gap_s: float = 0.5, lead_s: float = 0.5
) -> list[SpeakerTurn]:
    """Speak each (voice name, text) turn, join them with `gap_s` of silence into a 16 kHz mono
    wav at `out_path`, and return the reference speaker turns (speech extent of each turn)."""
    out_path = Path(out_path)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    reference: list[SpeakerTurn] = []
    with tempfile.TemporaryDirectory() as tmp:
        tmpdir = Path(tmp)
        pieces: list[Path] = []
        silence = _silence(tmpdir / "gap.wav", gap_s)
        lead = _silence(tmpdir / "lead.wav", lead_s)
        pieces.append(lead)
        position = lead_s
        for index, (voice_name, text) in enumerate(turns):
            voice = VOICES[voice_name]
            raw = tmpdir / f"raw{index}.wav"
            subprocess.run(
                [
                    _tool("espeak-ng"),
                    "-v",
                    voice.espeak_voice,
                    "-p",
                    str(voice.pitch),
                    "-s",
                    str(voice.speed),
                    "-w",
                    str(raw),
                    text,
                ],
                check=True,
            )
            turn = tmpdir / f"turn{index}.wav"
            # resample, and trim espeak's leading/trailing silence so the reference is tight
            subprocess.run(
                [
                    _tool("sox"),
                    str(raw),
                    *WAV_16K_MONO,
                    str(turn),
                    "silence",
                    "1",
                    "0.02",
                    "0.5%",
                    "reverse",
                    "silence",
                    "1",
                    "0.02",
                    "0.5%",
                    "reverse",
                ],
                check=True,
            )
            length = _duration_s(turn)
            reference.append(
                SpeakerTurn(round(position, 3), round(position + length, 3), voice_name)
            )
            pieces.extend([turn, silence])
            position += length + gap_s
        subprocess.run([_tool("sox"), *map(str, pieces), str(out_path)], check=True)
    return reference


def write_samples(folder: Path) -> list[Path]:
    """The demo set: pyannote's real call and a synthetic two-voice budget meeting."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    call = folder / "sample_call.wav"
    if not call.exists():
        shutil.copyfile(pyannote_sample_dir() / "sample.wav", call)
    meeting = folder / "budget meeting.wav"
    if not meeting.exists():
        synthesize_conversation(DEMO_CONVERSATION, meeting)
    return [call, meeting]
