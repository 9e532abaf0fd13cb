"""Stereo layouts told apart on real voices (pyannote's call), and a call recorded one voice per
channel diarized from its channels."""

import subprocess

import numpy as np
import pytest

from whisper_pipeline.core.records import SpeakerTurn
from whisper_pipeline.core.scoring import score_diarization, speaker_attributed_wer
from whisper_pipeline.evaluation.samples import write_overlapping_stereo_call, write_stereo_call
from whisper_pipeline.inference.audio import SAMPLE_RATE, AudioWindow
from whisper_pipeline.inference.channels import (
    MONO,
    PER_CHANNEL,
    STEREO_MIX,
    channel_activity,
    channel_layout,
    gated,
    measure_stereo,
)


@pytest.fixture(scope="module")
def stereo_files(tmp_path_factory, sample_call):
    """The same real call in every stereo layout, with the reference turns of the per-side one."""
    folder = tmp_path_factory.mktemp("stereo")
    files = {"per side": folder / "per side.wav", "talking at once": folder / "at once.wav"}
    reference = write_stereo_call(files["per side"])
    write_overlapping_stereo_call(files["talking at once"])
    remixes = {
        "copied to both": ["remix", "1", "1"],
        "panned mix": ["remix", "1v0.8", "1v0.5"],
        "left only": ["remix", "1", "0"],
        "two mics in one room": ["remix", "1", "1v0.7", "delay", "0", "0.015"],
    }
    for name, effect in remixes.items():
        files[name] = folder / f"{name}.wav"
        subprocess.run(["sox", str(sample_call), str(files[name]), *effect], check=True)
    return files, reference


@pytest.mark.parametrize(
    "name, kind",
    [
        ("per side", PER_CHANNEL),
        ("talking at once", PER_CHANNEL),
        ("copied to both", MONO),
        ("panned mix", STEREO_MIX),
        ("left only", STEREO_MIX),
        ("two mics in one room", STEREO_MIX),
    ],
)
def test_each_layout_is_recognised(stereo_files, name, kind):
    files, _ = stereo_files
    layout = channel_layout(measure_stereo(files[name]))
    assert layout.kind == kind, layout.describe()


def test_the_channels_voices_are_the_speaker_turns(stereo_files):
    files, reference = stereo_files
    spans = channel_activity(measure_stereo(files["per side"]).levels)
    found = [
        SpeakerTurn(start, end, f"SPEAKER_{channel:02d}")
        for channel, channel_spans in enumerate(spans)
        for start, end in channel_spans
    ]
    score = score_diarization(reference, found, collar_s=0.0)
    assert score.der <= 0.1 and score.confusion_s < 0.2, score
    assert score.found_speakers == 2


def test_a_channel_is_silenced_outside_its_own_voice():
    window = AudioWindow(10.0, np.ones(3 * SAMPLE_RATE, dtype=np.float32))
    (quiet,) = gated([window], [(10.5, 11.0), (20.0, 21.0)], pad_s=0.1)
    kept = np.flatnonzero(quiet.samples)
    assert quiet.start_s == 10.0 and len(quiet.samples) == len(window.samples)
    assert kept[0] == round(0.4 * SAMPLE_RATE) and kept[-1] == round(1.1 * SAMPLE_RATE) - 1


def test_who_said_what_is_scored_under_the_best_speaker_mapping():
    references = {"ana": "good morning everyone", "bo": "thanks for coming"}
    assert (
        speaker_attributed_wer(references, {"x": "thanks for coming", "y": "good morning everyone"})
        == 0
    )
    # one found speaker with everybody's words: the other reference speaker's words are missing
    merged = speaker_attributed_wer(references, {"x": "good morning everyone thanks for coming"})
    assert merged == pytest.approx(6 / 6, abs=1e-3)
    assert speaker_attributed_wer(references, {"x": "good morning", "y": "thanks for coming"}) == (
        pytest.approx(1 / 6, abs=1e-3)
    )
