"""What a user knows of the number of speakers: a recording's own counts over the run's."""

import pytest

from whisper_pipeline.lib.errors import ConfigurationError
from whisper_pipeline.lib.speaker_count import SpeakerCounts


def test_a_recording_s_own_counts_override_the_run_s():
    run = SpeakerCounts(num_speakers=2)
    assert run.override(None) == run
    assert run.override(SpeakerCounts(num_speakers=4)) == SpeakerCounts(num_speakers=4)
    # bounds given for the recording replace the run's exact number
    assert run.override(SpeakerCounts(min_speakers=3)) == SpeakerCounts(None, 3, None)
    bounded = SpeakerCounts(min_speakers=2, max_speakers=6)
    assert bounded.override(SpeakerCounts(max_speakers=3)) == SpeakerCounts(None, 2, 3)
    assert bounded.override(SpeakerCounts()) == bounded


@pytest.mark.parametrize(
    "counts, problem",
    [
        (SpeakerCounts(num_speakers=0), "num_speakers must be at least 1"),
        (SpeakerCounts(min_speakers=4, max_speakers=2), "min_speakers (4) is larger"),
    ],
)
def test_impossible_counts_are_refused_by_name(counts, problem):
    with pytest.raises(ConfigurationError, match=problem.replace("(", r"\(").replace(")", r"\)")):
        counts.check()
