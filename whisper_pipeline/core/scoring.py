"""Scoring against references nobody in this project wrote: RTTM speaker turns, STM or TXT
transcripts; DER and JER with pyannote.metrics, WER with jiwer."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

from whisper_pipeline.core.records import SpeakerTurn


def read_rttm(path: Path, file_id: str | None = None) -> list[SpeakerTurn]:
    """Speaker turns of an RTTM file: every SPEAKER line, or those of `file_id` only (a file
    that holds several recordings)."""
    turns = []
    for number, line in enumerate(Path(path).read_text().splitlines(), start=1):
        fields = line.split()
        if not fields or fields[0] != "SPEAKER":
            continue
        if file_id is not None and fields[1:2] != [file_id]:
            continue
        if len(fields) < 8:
            raise ValueError(f"{path}:{number}: an RTTM SPEAKER line needs at least 8 fields")
        start, duration = float(fields[3]), float(fields[4])
        turns.append(SpeakerTurn(start, start + duration, fields[7]))
    return turns


def read_reference_text(path: Path) -> str:
    """The words of a reference transcript: an STM file (the transcript after the 5th field,
    its optional <label> and other tags removed, ignore-time-segments skipped) or plain text."""
    text = Path(path).read_text()
    if Path(path).suffix.lower() != ".stm":
        return text
    words = []
    for line in text.splitlines():
        fields = line.split(maxsplit=5)
        if line.startswith(";;") or len(fields) < 6 or fields[2] == "inter_segment_gap":
            continue
        words.append(re.sub(r"<[^>]*>", " ", fields[5]))
    return " ".join(" ".join(words).split())


def normalize_words(text: str) -> str:
    """Lower case, no punctuation, single spaces: WER counts words, not typography."""
    text = re.sub(r"[^\w' ]+", " ", text.lower().replace("-", " "))
    return " ".join(text.split())


def speaker_annotation(turns: Sequence[SpeakerTurn], uri: str | None = None):
    """`turns` as a pyannote Annotation (overlapping turns kept as separate tracks)."""
    from pyannote.core import Annotation, Segment

    annotation = Annotation(uri=uri)
    for index, turn in enumerate(turns):
        if turn.end_s > turn.start_s:
            annotation[Segment(turn.start_s, turn.end_s), index] = turn.speaker
    return annotation


@dataclass(frozen=True)
class DiarizationScore:
    der: float
    jer: float
    missed_s: float
    false_alarm_s: float
    confusion_s: float
    reference_speakers: int
    found_speakers: int
    reference_speech_s: float = 0.0  # scored speech of all reference speakers (DER's denominator)

    @property
    def count_error(self) -> int:
        return self.found_speakers - self.reference_speakers


def score_diarization(
    reference: Sequence[SpeakerTurn], found: Sequence[SpeakerTurn], collar_s: float = 0.25
) -> DiarizationScore:
    """DER (overlap scored, `collar_s` forgiven around reference boundaries, pyannote's
    convention of a collar given as its total width) and JER."""
    from pyannote.core import Timeline
    from pyannote.metrics.diarization import DiarizationErrorRate, JaccardErrorRate

    ref, hyp = speaker_annotation(reference), speaker_annotation(found)
    # scored over the extent of both, as pyannote.metrics assumes without a UEM (and warns)
    uem = Timeline([ref.get_timeline().union(hyp.get_timeline()).extent()])
    der_metric = DiarizationErrorRate(collar=collar_s, skip_overlap=False)
    components = der_metric(ref, hyp, detailed=True, uem=uem)
    jer_metric = JaccardErrorRate(collar=collar_s, skip_overlap=False)
    jer = jer_metric(ref, hyp, uem=uem) if reference else 0.0
    return DiarizationScore(
        der=round(float(components["diarization error rate"]), 4),
        jer=round(float(jer), 4),
        missed_s=round(float(components["missed detection"]), 3),
        false_alarm_s=round(float(components["false alarm"]), 3),
        confusion_s=round(float(components["confusion"]), 3),
        reference_speakers=len({turn.speaker for turn in reference}),
        found_speakers=len({turn.speaker for turn in found}),
        reference_speech_s=round(float(components["total"]), 3),
    )


def word_error_rate(reference_text: str, found_text: str) -> float:
    """WER of normalized words (1.0 when the reference is empty but words were found)."""
    import jiwer

    reference, found = normalize_words(reference_text), normalize_words(found_text)
    if not reference:
        return 0.0 if not found else 1.0
    return round(float(jiwer.wer(reference, found or "")), 4)


def speaker_attributed_wer(references: dict[str, str], found: dict[str, str]) -> float:
    """Who said what, scored (cpWER, as in CHiME-6): each reference speaker's words against
    the words of the found speaker they are best matched with (one to one; a found speaker
    left over counts as insertions, a reference speaker without one as deletions)."""
    import itertools

    import jiwer

    refs = {name: normalize_words(text) for name, text in references.items()}
    hyps = [normalize_words(text) for text in found.values()]
    total = sum(len(text.split()) for text in refs.values())
    if not total:
        return 0.0 if not any(hyps) else 1.0
    width = max(len(refs), len(hyps))
    padded_refs = [*refs.values(), *[""] * (width - len(refs))]
    padded_hyps = [*hyps, *[""] * (width - len(hyps))]

    def errors(reference: str, hypothesis: str) -> int:
        if not reference:
            return len(hypothesis.split())
        if not hypothesis:
            return len(reference.split())
        out = jiwer.process_words(reference, hypothesis)
        return out.substitutions + out.deletions + out.insertions

    best = min(
        sum(errors(r, h) for r, h in zip(padded_refs, order, strict=True))
        for order in itertools.permutations(padded_hyps)
    )
    return round(best / total, 4)


@dataclass(frozen=True)
class FileResult:
    """One recording's evaluation row (the JSON the evaluate command writes)."""

    file: str
    audio_s: float
    diarize_s: float
    realtime_factor: float
    der: float | None = None
    jer: float | None = None
    missed_s: float | None = None
    false_alarm_s: float | None = None
    confusion_s: float | None = None
    reference_speech_s: float | None = None
    reference_speakers: int | None = None
    found_speakers: int | None = None
    count_error: int | None = None
    wer: float | None = None
    transcribe_s: float | None = None

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


def summarize(results: Sequence[FileResult]) -> dict[str, object]:
    """Means over the scored files, share of files whose speaker count is right, the errors
    pooled over all scored speech (DER as one long recording would have it, and its parts:
    which of missed speech, false alarms and confusion to work on), and the diarization speed
    over all audio."""

    def mean(values: list[float]) -> float | None:
        return round(sum(values) / len(values), 4) if values else None

    scored = [r for r in results if r.der is not None]
    speech = sum(r.reference_speech_s or 0.0 for r in scored)

    def pooled(*names: str) -> float | None:
        if not speech:
            return None
        return round(sum(getattr(r, name) or 0.0 for r in scored for name in names) / speech, 4)

    audio = sum(r.audio_s for r in results)
    seconds = sum(r.diarize_s for r in results)
    return {
        "files": len(results),
        "mean_der": mean([r.der for r in scored]),
        "mean_jer": mean([r.jer for r in scored if r.jer is not None]),
        "pooled_der": pooled("missed_s", "false_alarm_s", "confusion_s"),
        "missed": pooled("missed_s"),
        "false_alarm": pooled("false_alarm_s"),
        "confusion": pooled("confusion_s"),
        "count_right": mean([float(r.count_error == 0) for r in scored]),
        "mean_abs_count_error": mean([abs(r.count_error or 0) for r in scored]),
        "mean_wer": mean([r.wer for r in results if r.wer is not None]),
        "audio_s": round(audio, 1),
        "diarize_s": round(seconds, 1),
        "realtime_factor": round(audio / seconds, 1) if seconds else None,
    }
