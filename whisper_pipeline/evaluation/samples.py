"""Sample recordings: pyannote's real two-speaker call, and synthetic conversations spoken by
espeak-ng voices joined with sox, with the reference timings we wrote them with."""

from __future__ import annotations

import functools
import shutil
import subprocess
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from whisper_pipeline.core.records import SpeakerTurn
from whisper_pipeline.inference.audio import require_tool


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

# Known text in other languages, for language detection and WER checks with espeak-ng's voices
FOREIGN_SPEECH = {
    "de": "Guten Morgen. Wir besprechen heute das Budget für das nächste Jahr. Die Kosten für"
    " die Schulung sind gestiegen, aber der Umsatz ist auch gewachsen. Bitte schicken Sie mir"
    " den Bericht bis Freitag.",
    "es": "Buenos días a todos. Hoy vamos a hablar del presupuesto para el próximo año. Los"
    " costos de la formación han subido, pero las ventas también han crecido. Por favor,"
    " envíenme el informe antes del viernes.",
    "fr": "Bonjour à tous. Aujourd'hui nous parlons du budget de l'année prochaine. Les coûts"
    " de la formation ont augmenté, mais les ventes ont aussi progressé. Merci de m'envoyer le"
    " rapport avant vendredi.",
}


def speak_language(language: str, text: str, out_path: Path) -> float:
    """`text` said by espeak-ng's voice for `language` (e.g. 'de'); its duration."""
    return speak(Voice(language, language, 50, 150), text, out_path, dither=False)


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


def speak(voice: Voice, text: str, out_path: Path, dither: bool = True) -> float:
    """Say `text` with `voice` into a 16 kHz mono wav, trimmed to its speech; its duration.
    Without `dither` the same text gives the same samples, run after run."""
    with tempfile.TemporaryDirectory() as tmp:
        raw = Path(tmp) / "raw.wav"
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
        # resample, and trim espeak's leading/trailing silence so the reference is tight
        subprocess.run(
            [
                _tool("sox"),
                *(() if dither else ("-D",)),
                str(raw),
                *WAV_16K_MONO,
                str(out_path),
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
    return _duration_s(out_path)


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
            turn = tmpdir / f"turn{index}.wav"
            length = speak(VOICES[voice_name], text, turn)
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


def write_stereo_call(out_path: Path, bleed_db: float = -30.0) -> list[SpeakerTurn]:
    """pyannote's real call as a call centre records it: each speaker on a channel of their own
    (from its reference turns; where both talk, both channels hold the mix), the other side
    leaking in `bleed_db` quieter. Returns the reference turns, labelled by channel
    (SPEAKER_00 left, SPEAKER_01 right)."""
    import numpy as np

    from whisper_pipeline.core.scoring import read_rttm
    from whisper_pipeline.inference.audio import SAMPLE_RATE, load_audio

    audio = load_audio(pyannote_sample_dir() / "sample.wav")
    turns = read_rttm(pyannote_sample_dir() / "sample.rttm")
    speakers = sorted(
        {turn.speaker for turn in turns},
        key=lambda s: min(t.start_s for t in turns if t.speaker == s),
    )
    bleed = 10 ** (bleed_db / 20)
    channels = np.full((2, len(audio)), bleed, dtype=np.float32)
    for turn in turns:
        side = speakers.index(turn.speaker)
        start, end = (round(t * SAMPLE_RATE) for t in (turn.start_s - 0.1, turn.end_s + 0.1))
        channels[side, max(start, 0) : end] = 1.0
    _write_wav(out_path, channels * audio)
    return [
        SpeakerTurn(turn.start_s, turn.end_s, f"SPEAKER_{speakers.index(turn.speaker):02d}")
        for turn in turns
    ]


def call_utterances() -> list[tuple[str, float, float, str]]:
    """(speaker, start_s, end_s, text) of each utterance of pyannote's call, from its STM."""
    stm = (pyannote_sample_dir() / "sample.stm").read_text().splitlines()
    return [
        (speaker, float(start), float(end), text)
        for _, _, speaker, start, end, text in (line.split(maxsplit=5) for line in stm)
    ]


def write_overlapping_stereo_call(out_path: Path, bleed_db: float = -30.0) -> dict[str, str]:
    """Both speakers of pyannote's real call talking at once, each on a channel of their own:
    every utterance of its reference transcript (STM) cut out, one speaker's utterances laid
    end to end on the left, the other's on the right, from the same start, the other side
    leaking in `bleed_db` quieter. Mixed to mono this is speech over speech throughout.
    Returns each channel speaker's reference text (SPEAKER_00 left, SPEAKER_01 right)."""
    import numpy as np

    from whisper_pipeline.inference.audio import SAMPLE_RATE, load_audio

    audio = load_audio(pyannote_sample_dir() / "sample.wav")
    utterances = call_utterances()
    speakers = list(dict.fromkeys(speaker for speaker, *_ in utterances))
    tracks: list[list[np.ndarray]] = [[], []]
    texts: list[list[str]] = [[], []]
    gap = np.zeros(int(0.4 * SAMPLE_RATE), dtype=np.float32)
    for speaker, start, end, text in utterances:
        side = speakers.index(speaker)
        tracks[side] += [audio[round(start * SAMPLE_RATE) : round(end * SAMPLE_RATE)], gap]
        texts[side].append(text)
    left, right = (np.concatenate(track) for track in tracks)
    length = max(len(left), len(right))
    own = np.zeros((2, length), dtype=np.float32)
    own[0, : len(left)], own[1, : len(right)] = left, right
    bleed = 10 ** (bleed_db / 20)
    _write_wav(out_path, np.stack([own[0] + bleed * own[1], own[1] + bleed * own[0]]))
    return {f"SPEAKER_{side:02d}": " ".join(texts[side]) for side in (0, 1)}


def _write_wav(path: Path, audio) -> None:
    """Float audio, (samples,) or (channels, samples), as a 16 kHz 16-bit WAV."""
    import wave

    import numpy as np

    from whisper_pipeline.inference.audio import SAMPLE_RATE

    channels = np.atleast_2d(audio)
    pcm = np.clip(np.round(channels.T * 32768), -32768, 32767).astype("<i2").tobytes()
    with wave.open(str(path), "wb") as out:
        out.setnchannels(len(channels))
        out.setsampwidth(2)
        out.setframerate(SAMPLE_RATE)
        out.writeframes(pcm)


# A wider cast for synthetic meetings (the evaluation set draws 2-4 per file): espeak-ng
# accents, variants and pitches picked from 80 candidates so that no two of them sound alike to
# a voice encoder (mean d-vectors below 0.91 cosine similarity). Variants that differ only
# slightly (en-us+m1 vs en-gb+m3 at similar pitch) are one voice to any listener.
MEETING_VOICES = (
    Voice("ann", "en-029+f3", 60, 160),
    Voice("ben", "en-us+m7", 25, 150),
    Voice("cat", "en-us+f2", 25, 170),
    Voice("dan", "en-029+m1", 25, 145),
    Voice("eve", "en-029+f5", 60, 165),
    Voice("fred", "en-029+m4", 60, 155),
    Voice("gina", "en-us+f4", 25, 160),
    Voice("hugo", "en-gb-scotland+f4", 60, 150),
)

MEETING_SENTENCES = (
    "we should move the launch to next month because the vendor is late",
    "the customer asked for a discount on the annual plan",
    "I will send the summary to everyone after this call",
    "our support team closed most of the open tickets last week",
    "can you share the slides before the board meeting",
    "the new office opens in the spring if the permits arrive",
    "marketing wants a bigger budget for the summer campaign",
    "let us review the hiring plan for the engineering team",
    "the server costs went down after we changed the storage",
    "I think the contract needs another legal review",
    "sales in the northern region are above the forecast",
    "please check the numbers in the second table again",
    "the training session is scheduled for Thursday morning",
    "we agreed to test the product with three pilot customers",
    "the weather delayed the delivery of the new laptops",
)


@dataclass(frozen=True)
class MeetingTurn:
    """One turn of a synthetic meeting: who, what, and the pause before it (negative: overlap)."""

    voice: Voice
    text: str
    gap_s: float


def random_meeting(rng, num_speakers: int, num_turns: int) -> list[MeetingTurn]:
    """Turns of 1-8 s by `num_speakers` distinct voices; about one turn in four overlaps the
    previous one by up to a second. `rng` is a `random.Random`, so a seed gives the same set."""
    cast = rng.sample(MEETING_VOICES, num_speakers)
    words = " ".join(MEETING_SENTENCES).split()
    turns: list[MeetingTurn] = []
    previous: Voice | None = None
    for _ in range(num_turns):
        voice = rng.choice([v for v in cast if v is not previous] or cast)
        target_s = rng.uniform(1.0, 8.0)
        count = max(2, round(target_s * voice.speed / 60 * 0.9))
        start = rng.randrange(len(words))
        text = " ".join(words[(start + i) % len(words)] for i in range(count))
        gap = -rng.uniform(0.3, 1.0) if turns and rng.random() < 0.25 else rng.uniform(0.2, 1.2)
        turns.append(MeetingTurn(voice, text, round(gap, 2)))
        previous = voice
    return turns


def synthesize_meeting(turns: Sequence[MeetingTurn], out_path: Path) -> list[SpeakerTurn]:
    """Mix the turns into one 16 kHz mono wav (overlapping where a gap is negative); the
    reference speaker turns, labelled with the voice names. The same turns give the same file
    (no dither), so an evaluation set of a seed is the same set on every machine and run."""
    import wave

    import numpy as np

    pieces = []
    with tempfile.TemporaryDirectory() as tmp:
        for index, turn in enumerate(turns):
            piece = Path(tmp) / f"turn{index}.wav"
            speak(turn.voice, turn.text, piece, dither=False)
            with wave.open(str(piece)) as reader:
                samples = np.frombuffer(reader.readframes(reader.getnframes()), dtype=np.int16)
            pieces.append((turn.voice.name, [samples.astype(np.float32) / 32768], turn.gap_s))
    return _mix_turns(pieces, out_path)


def _mix_turns(
    pieces: Sequence[tuple[str, Sequence[Any], float]], out_path: Path, pause_s: float = 0.15
) -> list[SpeakerTurn]:
    """(speaker, utterances as float samples at 16 kHz, gap before the turn) laid one after
    another, overlapping where a gap is negative, into a mono 16-bit wav; a turn's utterances
    are joined with `pause_s` of silence. The reference has one turn per utterance: the pause
    put between two utterances is nobody's speech."""
    import numpy as np

    out_path = Path(out_path)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    rate = 16_000
    pause = round(pause_s * rate)
    placed: list[tuple[int, np.ndarray]] = []
    reference: list[SpeakerTurn] = []
    previous_start_s = previous_end_s = position_s = 0.5
    for index, (speaker, utterances, gap_s) in enumerate(pieces):
        if index:
            position_s = max(previous_start_s + 0.2, previous_end_s + gap_s)
        start = round(position_s * rate)
        for utterance in utterances:
            placed.append((start, utterance))
            reference.append(
                SpeakerTurn(
                    round(start / rate, 3), round((start + len(utterance)) / rate, 3), speaker
                )
            )
            start += len(utterance) + pause
        previous_start_s, previous_end_s = position_s, reference[-1].end_s
    mix = np.zeros(max(start + len(s) for start, s in placed) + rate // 2, dtype=np.float32)
    for start, samples in placed:
        mix[start : start + len(samples)] += samples
    _write_wav(out_path, mix)
    return reference


def write_meeting_set(folder: Path, count: int, seed: int = 0) -> list[Path]:
    """`count` synthetic meetings (2-4 voices, 12-24 turns) with their references: `<name>.wav`,
    `<name>.rttm` (who spoke when) and `<name>.txt` (what was said), the layout the evaluation
    command reads."""
    import random

    from whisper_pipeline.core.exports import to_rttm

    rng = random.Random(seed)
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    for index in range(count):
        num_speakers = rng.choice((2, 2, 3, 3, 4))
        turns = random_meeting(rng, num_speakers, rng.randrange(12, 25))
        name = f"meeting_{seed:03d}_{index:02d}_{num_speakers}spk"
        path = folder / f"{name}.wav"
        reference = synthesize_meeting(turns, path)
        (folder / f"{name}.rttm").write_text(to_rttm(name, reference))
        (folder / f"{name}.txt").write_text(" ".join(turn.text for turn in turns) + "\n")
        written.append(path)
    return written


@dataclass(frozen=True)
class RealVoice:
    """A voice made from one of the two real speakers of pyannote's call, its pitch shifted by
    `cents` (sox `pitch`: formants move with it, as between two people of one accent)."""

    name: str
    speaker: str  # Diane or Sheila, as the call's STM names them
    cents: int


# Picked from 12 candidates (each speaker shifted -700 to +450 cents) so that no two have mean
# d-vectors more than 0.91 alike, the rule of the synthetic cast. Diane and Sheila themselves
# are 0.89 alike to Resemblyzer: real voices of one accent and channel are that close.
REAL_VOICES = (
    RealVoice("diane", "Diane", 0),
    RealVoice("sheila", "Sheila", 0),
    RealVoice("diane_low", "Diane", -700),
    RealVoice("sheila_high", "Sheila", 450),
    RealVoice("sheila_low", "Sheila", -450),
)


def _solo_pieces(audio, turns: Sequence[SpeakerTurn], speaker: str, start_s: float, end_s: float):
    """The stretches of `audio` between `start_s` and `end_s` where only `speaker` talks (their
    turns minus everyone else's), at least 0.4 s each."""
    from pyannote.core import Segment as Span
    from pyannote.core import Timeline

    from whisper_pipeline.inference.audio import SAMPLE_RATE

    own = Timeline([Span(t.start_s, t.end_s) for t in turns if t.speaker == speaker])
    other = Timeline([Span(t.start_s, t.end_s) for t in turns if t.speaker != speaker])
    solo = own.support().extrude(other.support()).crop(Span(start_s, end_s))
    return [
        audio[round(piece.start * SAMPLE_RATE) : round(piece.end * SAMPLE_RATE)]
        for piece in solo
        if piece.duration >= 0.4
    ]


@functools.cache
def real_utterances() -> dict[str, tuple]:
    """Each speaker's utterances in pyannote's call (its STM), cut to where only that speaker
    talks: {speaker: (samples, ...)}."""
    from whisper_pipeline.core.scoring import read_rttm
    from whisper_pipeline.inference.audio import load_audio

    folder = pyannote_sample_dir()
    audio = load_audio(folder / "sample.wav")
    turns = sorted(read_rttm(folder / "sample.rttm"), key=lambda turn: turn.start_s)
    utterances = call_utterances()
    names = list(dict.fromkeys(name for name, *_ in utterances))  # both files: Diane first
    labels = list(dict.fromkeys(turn.speaker for turn in turns))
    found: dict[str, list] = {name: [] for name in names}
    for name, start, end, _text in utterances:
        found[name] += _solo_pieces(audio, turns, labels[names.index(name)], start, end)
    return {name: tuple(pieces) for name, pieces in found.items()}


# AMI speakers with at least 6 s of solo speech in the annotated halves of the excerpts
AMI_PEOPLE = (
    "FEE078",
    "FEE083",
    "FEE087",
    "FEO070",
    "MEE009",
    "MEE012",
    "MEE068",
    "MEE075",
    "MEO069",
)


@functools.cache
def ami_utterances() -> dict[str, tuple]:
    """Each AMI_PEOPLE speaker's solo stretches in the annotated parts of the AMI excerpts:
    {AMI speaker id: (samples, ...)}."""
    from whisper_pipeline.evaluation.ami_excerpts import (
        EXCERPTS,
        ami_excerpts_dir,
        annotated_span_s,
        reference_turns,
    )
    from whisper_pipeline.inference.audio import load_audio

    found: dict[str, list] = {speaker: [] for speaker in AMI_PEOPLE}
    for excerpt in EXCERPTS:
        turns = reference_turns(excerpt)
        span = annotated_span_s(excerpt)
        audio = load_audio(ami_excerpts_dir() / f"{excerpt}.wav")
        for speaker in sorted({turn.speaker for turn in turns} & set(AMI_PEOPLE)):
            found[speaker] += _solo_pieces(audio, turns, speaker, *span)
    return {speaker: tuple(pieces) for speaker, pieces in found.items()}


def write_ami_set(folder: Path) -> list[Path]:
    """The 14 AMI excerpts cut to their annotated 30 s: `<excerpt>.wav` and `<excerpt>.rttm`."""
    from whisper_pipeline.core.exports import to_rttm
    from whisper_pipeline.evaluation.ami_excerpts import (
        EXCERPTS,
        ami_excerpts_dir,
        annotated_span_s,
        reference_turns,
    )
    from whisper_pipeline.inference.audio import SAMPLE_RATE, load_audio

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for excerpt in EXCERPTS:
        start_s, end_s = annotated_span_s(excerpt)
        audio = load_audio(ami_excerpts_dir() / f"{excerpt}.wav")
        path = folder / f"ami_{excerpt}.wav"
        _write_wav(path, audio[round(start_s * SAMPLE_RATE) : round(end_s * SAMPLE_RATE)])
        turns = [
            SpeakerTurn(
                round(max(t.start_s, start_s) - start_s, 3),
                round(min(t.end_s, end_s) - start_s, 3),
                t.speaker,
            )
            for t in reference_turns(excerpt)
            if t.end_s > start_s and t.start_s < end_s
        ]
        (folder / f"ami_{excerpt}.rttm").write_text(to_rttm(path.stem, turns))
        written.append(path)
    return written


def pitch_shifted(samples, cents: int):
    """16 kHz float samples with their pitch moved by `cents` (sox, without dither: the same
    every run), the length kept."""
    from whisper_pipeline.inference.audio import load_audio

    if cents == 0:
        return samples
    with tempfile.TemporaryDirectory() as tmp:
        source, shifted = Path(tmp) / "in.wav", Path(tmp) / "out.wav"
        _write_wav(source, samples)
        subprocess.run(
            [_tool("sox"), "-D", str(source), str(shifted), "pitch", str(cents)],  # no dither
            check=True,
            capture_output=True,
        )
        return load_audio(shifted)[: len(samples)]


def pitch_shifted_voices() -> dict[str, tuple]:
    """REAL_VOICES' utterances: {voice name: (samples, ...)}."""
    utterances = real_utterances()
    return {
        voice.name: tuple(pitch_shifted(u, voice.cents) for u in utterances[voice.speaker])
        for voice in REAL_VOICES
    }


def real_people() -> dict[str, tuple]:
    """Eleven real people, none made from another: the call's two women and the nine AMI
    meeting speakers with at least 6 s alone: {name: (samples, ...)}."""
    return {**{name.lower(): said for name, said in real_utterances().items()}, **ami_utterances()}


def write_real_voice_set(folder: Path, count: int, seed: int = 0) -> list[Path]:
    """`count` conversations of 2-5 of REAL_VOICES (the call's two women and pitch-shifted
    copies of them): `real_<seed>_<index>_<n>spk.wav` and `.rttm`."""
    return write_conversations(folder, count, seed, pitch_shifted_voices(), prefix="real")


def write_real_people_set(folder: Path, count: int, seed: int = 0) -> list[Path]:
    """`count` conversations of 2-5 different real people (`real_people()`):
    `people_<seed>_<index>_<n>spk.wav` and `.rttm`."""
    return write_conversations(folder, count, seed, real_people(), prefix="people")


def write_conversations(
    folder: Path, count: int, seed: int, voices: dict[str, tuple], prefix: str
) -> list[Path]:
    """`count` conversations of 2-5 of `voices` ({name: utterances}): up to 12-24 turns of 1-3
    consecutive utterances, pauses of 0.2-1 s, one turn in five overlapping the previous by
    0.3-0.8 s; `<prefix>_<seed>_<index>_<n>spk.wav` and `.rttm`. No utterance is said twice
    in one conversation: repeated audio gives identical window vectors, which cluster by
    utterance instead of by voice and would test the diarizer on something no recording has."""
    import random

    from whisper_pipeline.core.exports import to_rttm

    rng = random.Random(seed)
    names = list(voices)
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    for index in range(count):
        num_speakers = rng.choice((2, 3, 4, 5))
        cast = rng.sample(names, num_speakers)
        left = {name: rng.sample(voices[name], len(voices[name])) for name in cast}
        pieces, previous = [], None
        for turn in range(rng.randrange(12, 25)):
            unheard = [n for n in cast if left[n] and n not in {p[0] for p in pieces}]
            able = [n for n in cast if left[n] and n != previous]
            if not able:
                break
            # everyone speaks at least once before anyone runs out of things to say
            name = rng.choice([n for n in unheard if n != previous] or able)
            joined = [left[name].pop() for _ in range(min(rng.randint(1, 3), len(left[name])))]
            overlap = turn and rng.random() < 0.2
            gap = -rng.uniform(0.3, 0.8) if overlap else rng.uniform(0.2, 1.0)
            pieces.append((name, joined, round(gap, 2)))
            previous = name
        name = f"{prefix}_{seed:03d}_{index:02d}_{num_speakers}spk"
        path = folder / f"{name}.wav"
        (folder / f"{name}.rttm").write_text(to_rttm(name, _mix_turns(pieces, path)))
        written.append(path)
    return written


# Sounds that are not speech, each a sox `synth` (after "-n <format> FILE"), held out from
# the ones the no-speech thresholds were chosen on (core/quality.py): other pitches, lengths
# and mixes. Whisper invents words on such audio ("you", "Thank you.", "Whoo!").
NON_SPEECH: dict[str, list[str]] = {
    "tone 0.3s": ["synth", "0.3", "sine", "523"],
    "tone 1.7s square": ["synth", "1.7", "square", "1200", "vol", "0.3"],
    "tone 4s sawtooth": ["synth", "4", "sawtooth", "220", "vol", "0.4"],
    "beep 0.5s": ["synth", "0.5", "sine", "660"],
    "beeps": ["synth", "0.15", "sine", "1500", "pad", "0", "0.45", "repeat", "5"],
    "clicks": ["synth", "3", "square", "3", "vol", "0.4"],
    "hum": ["synth", "5", "sine", "50", "sine", "100", "sine", "150", "remix", "1-3"],
    "music arpeggio": [
        *("synth", "0.7", "pluck", "D4", ":", "synth", "0.7", "pluck", "F#4"),
        *(":", "synth", "0.7", "pluck", "A4", ":", "synth", "1.4", "pluck", "D5"),
    ],
    "music chord tremolo": [
        *("synth", "5", "triangle", "196", "triangle", "246.9", "triangle", "293.7"),
        *("remix", "1-3", "tremolo", "3", "60"),
    ],
    "white noise": ["synth", "2.3", "whitenoise", "vol", "0.2"],
    "pink noise": ["synth", "6", "pinknoise", "vol", "0.4"],
    "brown noise 1s": ["synth", "1", "brownnoise", "vol", "0.6"],
    "noise floor": ["synth", "3", "whitenoise", "vol", "0.001"],
    "silence 0.1s": ["trim", "0", "0.1"],
    "silence 0.5s": ["trim", "0", "0.5"],
    "silence 7.3s": ["trim", "0", "7.3"],
}


def write_non_speech_set(folder: Path) -> list[Path]:
    """NON_SPEECH as 16 kHz wav files in `folder`: no word should come of any of them."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, effects in NON_SPEECH.items():
        path = folder / f"{name}.wav"
        subprocess.run([_tool("sox"), "-n", *WAV_16K_MONO, str(path), *effects], check=True)
        paths.append(path)
    return paths
