"""What a user knows of the number of speakers (a recording's own counts over the run's), and
the automatic count: the eigengap of the windows' affinity graph."""

import numpy as np
import pytest

from whisper_pipeline.core.errors import ConfigurationError
from whisper_pipeline.core.speaker_count import (
    CountSettings,
    SpeakerCounts,
    cluster_voices,
    count_note,
    estimate_count,
)


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


def unit_directions(rng: np.random.Generator, count: int) -> np.ndarray:
    """`count` random unit vectors in 192 dimensions: one voice each."""
    centres = rng.normal(size=(count, 192))
    return centres / np.linalg.norm(centres, axis=1, keepdims=True)


def windows_near(rng: np.random.Generator, centre: np.ndarray, count: int, spread: float):
    """`count` window vectors of the voice at `centre`, with noise of relative size `spread`."""
    return centre + spread * rng.normal(size=(count, 192)) / np.sqrt(192)


def voices_in_windows(counts: list[int], spread: float, seed: int = 0) -> np.ndarray:
    """Window vectors of len(counts) voices (counts[i] windows each): a random direction per
    voice in 192 dimensions plus per-window noise of relative size `spread`."""
    rng = np.random.default_rng(seed)
    centres = unit_directions(rng, len(counts))
    return np.concatenate(
        [
            windows_near(rng, centre, count, spread)
            for centre, count in zip(centres, counts, strict=True)
        ]
    )


@pytest.mark.parametrize("counts", [[40], [30, 25], [20, 30, 12], [15, 15, 15, 15, 15]])
def test_the_eigengap_counts_the_voices_among_the_windows(counts):
    rows = voices_in_windows(counts, spread=0.8)
    assert estimate_count(rows, CountSettings()) == len(counts)
    labels = cluster_voices(rows)
    truth = np.repeat(np.arange(len(counts)), counts)
    # every voice's windows end up together, in a cluster of their own
    assert len(set(zip(labels, truth, strict=True))) == len(counts)


def test_pyannote_s_default_bound_does_not_open_the_count_to_every_window():
    rows = voices_in_windows([20, 20, 20], spread=1.2, seed=3)
    # pyannote passes max_clusters = number of rows when the user gave no bound
    labels = cluster_voices(rows, min_clusters=1, max_clusters=len(rows))
    assert len(set(labels)) == 3
    assert len(set(cluster_voices(rows, max_clusters=2))) == 2  # a user's bound is obeyed
    assert len(set(cluster_voices(rows, num_clusters=4))) == 4


def test_a_count_stopped_at_its_ceiling_says_so_and_max_speakers_lifts_it():
    """Twelve voices of 20 windows each: the automatic count looks for at most ten and says
    ten, where the largest gap among the first ten eigenvalues said 2 to 10 depending on the
    noise; the note says ten is its limit. With max_speakers 12 all twelve are found and
    nothing is flagged."""
    for spread in (0.4, 0.8):
        assert len(set(cluster_voices(voices_in_windows([20] * 12, spread)))) == 10
    rows = voices_in_windows([20] * 12, spread=0.6)
    ceiling = CountSettings().max_speakers
    found = len(set(cluster_voices(rows)))
    note, at_ceiling = count_note(SpeakerCounts(), found, ceiling)
    assert found == ceiling and at_ceiling
    assert note == "automatic; 10 is the most it looks for: set max_speakers if more people speak"
    lifted = SpeakerCounts(max_speakers=12)
    found = len(set(cluster_voices(rows, max_clusters=12)))
    assert found == 12
    assert count_note(lifted, found, ceiling) == ("automatic, between 1 and 12", False)
    assert count_note(SpeakerCounts(), 3, ceiling) == ("automatic", False)
    assert count_note(SpeakerCounts(num_speakers=3), 3, ceiling) == ("given: 3", False)
    # a backend that counts its own way (pyannote's pretrained pipelines) is never flagged
    assert count_note(SpeakerCounts(min_speakers=2), 10, None) == (
        "automatic, between 2 and any",
        False,
    )
    # a min_speakers above the ceiling raises what the count looks for
    assert count_note(SpeakerCounts(min_speakers=12), 11, ceiling)[1] is False


def people_heard_in_halves(seed: int) -> np.ndarray:
    """Window vectors of eleven people, five of whom are heard in two slightly different halves
    of 16 windows each (one person at two moments of a long meeting), the others in 20."""
    rng = np.random.default_rng(seed)
    parts = []
    for index, centre in enumerate(unit_directions(rng, 11)):
        if index < 5:
            offset = rng.normal(size=192)
            offset *= 0.2 / np.linalg.norm(offset)
            parts += [windows_near(rng, centre + side, 16, 0.6) for side in (offset, -offset)]
        else:
            parts.append(windows_near(rng, centre, 20, 0.6))
    return np.concatenate(parts)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_a_max_speakers_the_user_gives_is_trusted(seed):
    """Past the user's bound the graph's gaps are pieces of people, not more people: eleven
    people heard in sixteen groups of windows give the largest gap at sixteen. Told at most
    twelve, the count looks for the gap up to twelve and finds the eleven; looking past the
    bound too would say twelve, the bound itself, as it did on a real 9.6-minute recording of
    eleven people."""
    rows = people_heard_in_halves(seed)
    assert estimate_count(rows, CountSettings(), most=12, look_past=True) == 12
    assert len(set(cluster_voices(rows, max_clusters=12))) == 11
    # with no bound the count stops at its ceiling, and says so (test above)
    assert len(set(cluster_voices(rows))) == CountSettings().max_speakers
