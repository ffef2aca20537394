"""Pictures unlike the rest: blank ones, and those far from every other picture in feature space.

The score is cleanlab's out-of-distribution score for features (Kuan & Mueller 2022, cleanlab.outlier):
the mean cosine distance to the k nearest neighbours, here from the neighbours already computed for the
duplicates (neighbours.py). A picture is reported when its score lies far out in the folder's own
distribution (above the third quartile plus three interquartile ranges: Tukey's "far out"), so the
threshold follows the data rather than a constant.
"""

from __future__ import annotations

import numpy as np

from cnnstudio.core.doctor.neighbours import Neighbours
from cnnstudio.core.doctor.pool import Pool
from cnnstudio.core.doctor.report import Outlier

BLANK_STD = 2.0  # a picture whose pixels vary by less than this (of 255) shows nothing
MAX_SHARE = 0.02  # at most this share of the pictures is reported as far from the others


def neighbour_scores(neighbours: Neighbours) -> np.ndarray:
    """Mean cosine distance to the nearest neighbours: 0 for a picture among its copies, up to 2."""
    if neighbours.similarity.shape[1] == 0:
        return np.zeros(len(neighbours.similarity), dtype=np.float32)
    scores: np.ndarray = (1.0 - neighbours.similarity).mean(axis=1)
    return scores


def pixel_spread(pool: Pool) -> np.ndarray:
    """Each picture's standard deviation of pixel values (0..255)."""
    out = np.empty(len(pool), dtype=np.float32)
    for start, batch in pool.batches():
        out[start:start + len(batch)] = batch.reshape(len(batch), -1).float().std(dim=1).numpy()
    return out


def find_outliers(pool: Pool, neighbours: Neighbours, spread: np.ndarray) -> list[Outlier]:
    classes = pool.data.classes
    scores = neighbour_scores(neighbours)
    found: dict[int, Outlier] = {}
    for i in np.flatnonzero(spread < BLANK_STD):
        found[int(i)] = Outlier(pool.ref(int(i)), classes[pool.labels[i]], 1.0, "blank: one flat colour")
    if len(scores) >= 20:
        q1, q3 = np.percentile(scores, [25, 75])
        limit = q3 + 3 * (q3 - q1)
        far = np.flatnonzero(scores > limit)
        far = far[np.argsort(-scores[far])][:max(1, int(MAX_SHARE * len(scores)))]
        for i in far:
            found.setdefault(int(i), Outlier(pool.ref(int(i)), classes[pool.labels[i]], float(scores[i]),
                                             "unlike every other picture"))
    return sorted(found.values(), key=lambda o: -o.score)
