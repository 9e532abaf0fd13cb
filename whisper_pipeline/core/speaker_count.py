"""How many voices a recording holds, and which window-level voice vectors belong together;
`SpeakerCounts`: what a user knows of the number beforehand.

The count is spectral clustering's eigengap: an affinity graph links each window's voice
vector (CAM++, cosine similarity) to its nearest neighbours only (the closest 20 %, at least
10 and at most 16), and the number of near-zero eigenvalues of its Laplacian, found as the
largest gap between consecutive ones, is the number of groups of windows that are alike among
themselves and unlike the rest (the count selection of 3D-Speaker's diarization recipe). How
the three neighbour settings were chosen, and how the count moves with them, is in
docs/diarization.md. All windows are then split into that many speakers by k-means on the
unit vectors."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from whisper_pipeline.core.errors import ConfigurationError


@dataclass(frozen=True)
class SpeakerCounts:
    """What is known about how many people speak (None: automatic)."""

    num_speakers: int | None = None
    min_speakers: int | None = None
    max_speakers: int | None = None

    def override(self, other: SpeakerCounts | None) -> SpeakerCounts:
        """`other`'s values where it sets them (a recording's own over the run's)."""
        if other is None:
            return self
        if other.num_speakers is not None:
            return other
        return SpeakerCounts(
            self.num_speakers
            if other.min_speakers is None and other.max_speakers is None
            else None,
            other.min_speakers if other.min_speakers is not None else self.min_speakers,
            other.max_speakers if other.max_speakers is not None else self.max_speakers,
        )

    def check(self) -> None:
        for name, value in vars(self).items():
            if value is not None and value < 1:
                raise ConfigurationError(f"{name} must be at least 1 (got {value})")
        if self.min_speakers and self.max_speakers and self.min_speakers > self.max_speakers:
            raise ConfigurationError(
                f"min_speakers ({self.min_speakers}) is larger than max_speakers ({self.max_speakers})"
            )


@dataclass(frozen=True)
class CountSettings:
    """One set for every recording (docs/diarization.md gives what it measures)."""

    neighbour_share: float = 0.2  # each window keeps its links to this share of the others
    min_neighbours: int = 10  # ... to at least this many (short recordings)
    # ... and to at most this many: 16 windows are 20 s of one voice, so in a long meeting a
    # voice heard for a few minutes stays its own part of the graph instead of being linked
    # to the others because a share of hundreds of windows outgrew its own
    max_neighbours: int = 16
    max_speakers: int = 10  # the most the automatic count considers (max_speakers raises it)


def count_note(counts: SpeakerCounts, found: int, ceiling: int | None) -> tuple[str, bool]:
    """How the number of speakers was chosen, in words, and whether the automatic count stopped
    at `ceiling`, the most it looks for (None: a backend whose limit is its own). A meeting of
    more people than that comes out with that many speakers and nothing else says so."""
    if counts.num_speakers:
        return f"given: {counts.num_speakers}", False
    note = "automatic"
    if counts.min_speakers or counts.max_speakers:
        note += f", between {counts.min_speakers or 1} and {counts.max_speakers or 'any'}"
    if ceiling is None or counts.max_speakers:
        return note, False
    ceiling = max(ceiling, counts.min_speakers or 0)
    if found < ceiling:
        return note, False
    return (
        f"{note}; {found} is the most it looks for: set max_speakers if more people speak",
        True,
    )


def unit_rows(rows: np.ndarray) -> np.ndarray:
    rows = np.asarray(rows, dtype=np.float64)
    return rows / np.maximum(np.linalg.norm(rows, axis=1, keepdims=True), 1e-12)


def neighbours_kept(count: int, settings: CountSettings) -> int:
    """How many of the `count` windows each window keeps its links to."""
    share = round(settings.neighbour_share * count)
    return min(count, settings.max_neighbours, max(settings.min_neighbours, share))


def pruned_affinity(vectors: np.ndarray, settings: CountSettings) -> np.ndarray:
    """Cosine similarities, each row kept only for its nearest neighbours, made symmetric."""
    count = len(vectors)
    keep = neighbours_kept(count, settings)
    affinity = vectors @ vectors.T
    farthest = np.argsort(affinity, axis=1)[:, : count - keep]
    np.put_along_axis(affinity, farthest, 0.0, axis=1)
    affinity = np.clip(affinity, 0.0, None)
    return 0.5 * (affinity + affinity.T)


def estimate_count(
    rows: np.ndarray, settings: CountSettings, most: int | None = None, look_past: bool = True
) -> int:
    """Number of speakers among the window vectors `rows`: the largest eigengap of the pruned
    affinity graph's Laplacian, at most `most` (settings.max_speakers when None).

    With `look_past` (no bound from the user), the gaps are looked at past `most` too, as far
    as the windows could form groups of their own (a group needs more windows than each window
    keeps links to): when the largest gap lies there, more voices are heard than `most` and
    the count is `most`. Looking only up to `most` would take the largest of the gaps among
    those voices instead, an arbitrary number (twelve voices came out as 2 to 10). A bound the
    user gives is trusted: the count is looked for below it only (past it, the gaps of a long
    recording of 11 real people lie at 14-18)."""
    vectors = unit_rows(rows)
    if len(vectors) < 4:
        return 1
    most = most or settings.max_speakers
    affinity = pruned_affinity(vectors, settings)
    laplacian = np.diag(affinity.sum(axis=1)) - affinity
    eigenvalues = np.linalg.eigvalsh(laplacian)
    furthest = most
    if look_past:  # as far as groups of more windows than each keeps links to could form
        furthest = max(most, len(vectors) // (neighbours_kept(len(vectors), settings) + 1))
    furthest = min(furthest, len(vectors) - 1)
    return min(int(np.argmax(np.diff(eigenvalues[: furthest + 1]))) + 1, most)


def cluster_voices(
    rows: np.ndarray,
    min_clusters: int = 1,
    max_clusters: int | None = None,
    num_clusters: int | None = None,
    settings: CountSettings | None = None,
) -> np.ndarray:
    """0-based speaker index per row; `num_clusters` fixes the count, the bounds clamp it
    (pyannote passes the number of rows as max_clusters when the user set none)."""
    from sklearn.cluster import KMeans

    settings = settings or CountSettings()
    vectors = unit_rows(rows)
    user_max = max_clusters if max_clusters and max_clusters < len(vectors) else 0
    # the count looks as far as the larger of the default and the user's bounds, then is
    # clamped; a max_speakers the user gives is where it stops looking (gaps past it are
    # pieces of people), the default ceiling is not (more voices than it give the ceiling)
    most = max(settings.max_speakers, min_clusters or 1, user_max)
    count = num_clusters or estimate_count(vectors, settings, most, look_past=not user_max)
    count = max(min_clusters or 1, min(count, max_clusters or count, len(vectors)))
    if count <= 1:
        return np.zeros(len(vectors), dtype=int)
    return KMeans(count, n_init=10, random_state=0).fit_predict(vectors)
