"""The real meeting speech the evaluation sets are made of: AMI excerpts fetched once from
PyPI (pyannote.audio 3.0.0's source distribution), checked, and cut to what is annotated."""

import numpy as np
import pytest

from whisper_pipeline.cli import main as cli_main
from whisper_pipeline.core.scoring import read_rttm
from whisper_pipeline.evaluation import ami_excerpts
from whisper_pipeline.inference.audio import SAMPLE_RATE, load_audio
from whisper_pipeline_tests.evaluation_sets import evaluate_samples


def test_the_excerpts_are_annotated_meetings_of_real_people(tmp_path):
    folder = ami_excerpts.ami_excerpts_dir()
    assert all((folder / f"{name}.wav").exists() for name in ami_excerpts.EXCERPTS)
    assert ami_excerpts.annotated_span_s("dev00") == (0.0, 30.0)
    assert abs(len(load_audio(folder / "dev00.wav")) - 30 * SAMPLE_RATE) <= 1
    assert {turn.speaker for turn in ami_excerpts.reference_turns("dev00")} == {
        "MEE009",
        "MEE012",
    }
    out = tmp_path / "ami"
    assert cli_main(["samples", str(out), "--ami"]) == 0
    written = sorted(out.glob("*.wav"))
    assert len(written) == 14
    for path in written:  # cut to the annotated 30 s, every turn inside it
        assert abs(len(load_audio(path)) - 30 * SAMPLE_RATE) <= 1
        assert all(
            0 <= turn.start_s < turn.end_s <= 30.0 for turn in read_rttm(path.with_suffix(".rttm"))
        )
    tst00 = read_rttm(out / "ami_tst00.rttm")
    assert len({turn.speaker for turn in tst00}) == 4


def test_real_people_conversations_never_repeat_an_utterance(tmp_path):
    """Each conversation is of different real people, no stretch of audio is said twice
    (repeats would give identical window vectors that cluster by utterance), and the reference
    gives nobody the silence put between two utterances of a turn."""
    from whisper_pipeline.evaluation.samples import real_people, write_real_people_set

    people = real_people()
    assert len(people) == 11 and min(len(said) for said in people.values()) >= 3
    for path in write_real_people_set(tmp_path, 3, seed=9):
        turns = read_rttm(path.with_suffix(".rttm"))
        assert len({turn.speaker for turn in turns}) == int(path.stem.split("_")[-1][0])
        audio = load_audio(path)
        solo = [  # turns overlapping no other turn hold one utterance or more, each said once
            audio[round(t.start_s * SAMPLE_RATE) : round(t.end_s * SAMPLE_RATE)]
            for t in turns
            if not any(o is not t and o.start_s < t.end_s and t.start_s < o.end_s for o in turns)
        ]
        heads = [piece[:800].tobytes() for piece in solo]
        assert len(set(heads)) == len(heads)
        for piece in solo:  # no 0.1 s of digital silence inside anyone's speech
            frames = piece[: len(piece) // 1600 * 1600].reshape(-1, 1600)
            assert np.abs(frames).max(axis=1).min() > 0


@pytest.fixture
def empty_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("WHISPER_PIPELINE_DATA", str(tmp_path / "data"))
    ami_excerpts.ami_excerpts_dir.cache_clear()
    yield tmp_path
    ami_excerpts.ami_excerpts_dir.cache_clear()


def test_a_failed_or_altered_download_is_refused_by_name(empty_cache, monkeypatch, capsys):
    monkeypatch.setattr(ami_excerpts, "SDIST_URL", (empty_cache / "missing.tar.gz").as_uri())
    with pytest.raises(ami_excerpts.AmiExcerptsUnavailable, match="cannot download"):
        ami_excerpts.ami_excerpts_dir()
    assert cli_main(["samples", str(empty_cache / "out"), "--ami"]) == 1
    assert "cannot download the AMI excerpts" in capsys.readouterr().err
    altered = empty_cache / "altered.tar.gz"
    altered.write_bytes(b"not the archive")
    monkeypatch.setattr(ami_excerpts, "SDIST_URL", altered.as_uri())
    with pytest.raises(ami_excerpts.AmiExcerptsUnavailable, match="SHA-256"):
        ami_excerpts.ami_excerpts_dir()
    assert not (empty_cache / "data" / "ami-excerpts-pyannote-3.0.0").exists()


def test_real_meeting_excerpts_are_diarized(tmp_path, capsys):
    """The 14 AMI excerpts: real meetings, 1-4 people, up to 18 s of overlap in 30 s, some
    people saying less than a second. A guard on what the offline diarizer does there today
    (mean DER 0.39; docs/diarization.md has the rows), not a goal."""
    report = evaluate_samples(tmp_path, "--ami")
    rows = {row["file"]: row for row in report["files"]}
    assert len(rows) == 14 and report["summary"]["mean_der"] <= 0.45, rows
    # the two people of dev00, talking in turns, are two speakers
    assert rows["ami_dev00.wav"]["found_speakers"] == 2, rows["ami_dev00.wav"]
    assert rows["ami_dev00.wav"]["der"] <= 0.3, rows["ami_dev00.wav"]
    capsys.readouterr()
