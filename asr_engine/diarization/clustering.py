"""Grouping speaker embeddings into speakers: spectral clustering with the count found by eigengap.

The affinity is the cosine similarity of the windows' embeddings, pruned to each window's nearest
neighbours (a k-nearest-neighbour graph keeps one speaker's windows connected while cutting the weak
links between speakers), made symmetric. The speaker count is where the eigenvalues of the graph
Laplacian jump (the eigengap), brought within the hints' bounds (three clear speakers under
`max_speakers=2` give 2, not whatever gap is largest below 3); k-means on the first eigenvectors
gives the labels. Two guards follow, because eigengap alone cannot say "one speaker" reliably and
tends to split a speaker whose windows differ (a laugh, a cough): clusters smaller than a few
windows join their nearest cluster, and clusters whose mean embeddings are closer than `MERGE_COSINE`
are merged, never below `min_speakers`. A `num_speakers` hint skips all of that and asks k-means for
exactly that many.

Recordings with very few windows (a few seconds of speech) have no usable graph: they are grouped
by merging the closest pair of clusters while they are closer than `MERGE_COSINE`.
"""

from __future__ import annotations

import numpy as np
from scipy.cluster.vq import kmeans2

from common.asr_options import DEFAULT_MAX_SPEAKERS, SpeakerHints

MERGE_COSINE = 0.58  # mean embeddings closer than this are one speaker (tuning voices: 0.50-0.65 all right)
MIN_NEIGHBOURS = 6  # kept per row of the affinity; 3D-Speaker's recipe keeps at least 6 too
NEIGHBOUR_FRACTION = 0.1  # and at least this fraction of all windows on long recordings
MIN_CLUSTER_WINDOWS = 3  # a cluster this small is folded into its nearest neighbour
SPECTRAL_MIN_WINDOWS = 12  # below this, merge closest pairs instead of building a graph


def cluster(embeddings: np.ndarray, hints: SpeakerHints) -> np.ndarray:
    """Labels 0..k-1 for L2-normalised embeddings (numbered in order of first appearance)."""
    count = len(embeddings)
    if count == 0:
        return np.zeros(0, dtype=np.int64)
    lower, upper = hints.bounds(count)
    if count < SPECTRAL_MIN_WINDOWS and hints.num_speakers is None:
        labels = np.arange(count)
    else:
        k = hints.num_speakers or int(
            np.clip(_eigengap_count(embeddings, max(upper, DEFAULT_MAX_SPEAKERS)), lower, upper)
        )
        labels = _spectral(embeddings, min(k, count))
        if hints.num_speakers is not None:
            return _in_order(labels)
        labels = _fold_small(embeddings, labels, lower)
    return _in_order(_merge_close(embeddings, labels, lower, upper))


def _affinity(embeddings: np.ndarray) -> np.ndarray:
    similarity = np.clip(embeddings @ embeddings.T, 0.0, 1.0)
    count = len(similarity)
    keep = min(count, max(MIN_NEIGHBOURS, int(np.ceil(NEIGHBOUR_FRACTION * count))))
    pruned = np.zeros_like(similarity)
    nearest = np.argsort(-similarity, axis=1)[:, :keep]
    rows = np.arange(count)[:, None]
    pruned[rows, nearest] = similarity[rows, nearest]
    pruned = 0.5 * (pruned + pruned.T)
    np.fill_diagonal(pruned, 0.0)
    return pruned


def _laplacian_eigen(embeddings: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    affinity = _affinity(embeddings)
    laplacian = np.diag(affinity.sum(axis=1)) - affinity
    values, vectors = np.linalg.eigh(laplacian)
    return values, vectors


def _eigengap_count(embeddings: np.ndarray, upper: int) -> int:
    """The count in 1..upper after which the Laplacian's eigenvalues jump the most."""
    values, _ = _laplacian_eigen(embeddings)
    gaps = np.diff(values[: upper + 1])  # gaps[i]: between i + 1 clusters and i + 2
    return int(np.argmax(gaps)) + 1


def _spectral(embeddings: np.ndarray, k: int) -> np.ndarray:
    if k <= 1:
        return np.zeros(len(embeddings), dtype=np.int64)
    _, vectors = _laplacian_eigen(embeddings)
    _, labels = kmeans2(vectors[:, :k], k, minit="++", seed=0)
    return labels.astype(np.int64)


def _centroids(embeddings: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    names = np.unique(labels)
    means = np.stack([embeddings[labels == name].mean(axis=0) for name in names])
    return names, means / np.maximum(np.linalg.norm(means, axis=1, keepdims=True), 1e-8)


def _fold_small(embeddings: np.ndarray, labels: np.ndarray, lower: int) -> np.ndarray:
    labels = labels.copy()
    while True:
        names, sizes = np.unique(labels, return_counts=True)
        if len(names) <= lower or sizes.min() >= MIN_CLUSTER_WINDOWS:
            return labels
        smallest = names[np.argmin(sizes)]
        names, centroids = _centroids(embeddings, labels)
        others = names != smallest
        target = names[others][np.argmax(centroids[others] @ centroids[names == smallest][0])]
        labels[labels == smallest] = target


def _merge_close(embeddings: np.ndarray, labels: np.ndarray, lower: int, upper: int) -> np.ndarray:
    labels = labels.copy()
    while True:
        names, centroids = _centroids(embeddings, labels)
        if len(names) <= lower:
            return labels
        similarity = centroids @ centroids.T
        np.fill_diagonal(similarity, -np.inf)
        a, b = np.unravel_index(np.argmax(similarity), similarity.shape)
        if similarity[a, b] < MERGE_COSINE and len(names) <= upper:
            return labels
        labels[labels == names[b]] = names[a]


def _in_order(labels: np.ndarray) -> np.ndarray:
    """Renumber so that the first window's speaker is 0, the next new one 1, and so on."""
    mapping: dict[int, int] = {}
    return np.array([mapping.setdefault(int(label), len(mapping)) for label in labels], dtype=np.int64)
