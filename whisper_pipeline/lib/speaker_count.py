"""How many voices a recording holds, and which window-level voice rows belong together;
`SpeakerCounts`: what a user knows of the number beforehand.

A row is [d-vector (256), log F0, log-mel envelope (40)] (see offline_diarization.py). The count
comes from the rows in dense parts of voice space (the 30 % whose nearest neighbours are least
alike are mostly windows spoiled by cross-talk or too little speech), clustered by average
linkage on a distance that adds pitch and timbre differences to the d-vectors' cosine distance
(pitch only beyond the natural variation of one voice), cut at one fixed threshold; clusters
too small to be a speaker do not count. All windows are then split into that many speakers by
k-means on the d-vectors, which places boundaries better than a linkage cut."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from whisper_pipeline.lib.errors import ConfigurationError


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


DVECTOR = slice(0, 256)
PITCH = slice(256, 257)
ENVELOPE = slice(257, None)


@dataclass(frozen=True)
class CountSettings:
    """One set for every recording; measured on the synthetic and real sets (docs/diarization.md)."""

    threshold: float = 0.4
    pitch_weight: float = 2.0
    pitch_margin: float = 0.2  # log F0 difference one voice spans by intonation alone
    envelope_weight: float = 0.2
    min_cluster_share: float = 0.05
    min_cluster_rows: int = 3  # a speaker is heard in at least this many windows
    outlier_share: float = 0.3  # least typical rows left out of the count
    neighbours: int = 5


def voice_distances(rows: np.ndarray, settings: CountSettings) -> np.ndarray:
    """Condensed pairwise distances between window rows."""
    from scipy.spatial.distance import pdist

    envelope = rows[:, ENVELOPE]
    pitch = np.maximum(pdist(rows[:, PITCH], "cityblock") - settings.pitch_margin, 0.0)
    distance = pdist(rows[:, DVECTOR], "cosine") + settings.pitch_weight * pitch
    if envelope.shape[1]:
        distance += (
            settings.envelope_weight * pdist(envelope, "euclidean") / np.sqrt(envelope.shape[1])
        )
    return distance


def typical_rows(rows: np.ndarray, settings: CountSettings) -> np.ndarray:
    """Mask of the rows whose nearest neighbours' d-vectors are most alike."""
    if len(rows) <= 2 * settings.neighbours:
        return np.ones(len(rows), dtype=bool)
    vectors = rows[:, DVECTOR] / np.linalg.norm(rows[:, DVECTOR], axis=1, keepdims=True)
    similarity = vectors @ vectors.T
    np.fill_diagonal(similarity, -1.0)
    density = np.sort(similarity, axis=1)[:, -settings.neighbours :].mean(axis=1)
    return density >= np.percentile(density, 100 * settings.outlier_share)


def estimate_count(rows: np.ndarray, settings: CountSettings) -> int:
    """Number of speakers: large clusters of the thresholded average-linkage tree over the
    typical rows."""
    from scipy.cluster.hierarchy import fcluster, linkage

    rows = rows[typical_rows(rows, settings)]
    if len(rows) < 2:
        return 1
    tree = linkage(voice_distances(rows, settings), method="average")
    labels = fcluster(tree, settings.threshold, criterion="distance")
    sizes = np.bincount(labels)
    smallest = max(settings.min_cluster_rows, settings.min_cluster_share * len(rows))
    return max(1, int(np.sum(sizes >= smallest)))


def cluster_voices(
    rows: np.ndarray,
    min_clusters: int = 1,
    max_clusters: int | None = None,
    num_clusters: int | None = None,
    settings: CountSettings | None = None,
) -> np.ndarray:
    """0-based speaker index per row; `num_clusters` fixes the count, the bounds clamp it."""
    from sklearn.cluster import KMeans

    settings = settings or CountSettings()
    rows = np.asarray(rows, dtype=np.float64)
    count = num_clusters or estimate_count(rows, settings)
    count = max(min_clusters or 1, min(count, max_clusters or count, len(rows)))
    if count <= 1:
        return np.zeros(len(rows), dtype=int)
    vectors = rows[:, DVECTOR] / np.linalg.norm(rows[:, DVECTOR], axis=1, keepdims=True)
    return KMeans(count, n_init=10, random_state=0).fit_predict(vectors)
