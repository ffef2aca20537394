"""Each picture's nearest neighbours by the cosine of their features: what near duplicates and outliers are
judged by.

Computed as chunked matrix products with torch (the pictures in rows of 1,024 against all of them, the k
best kept), after PCA to at most 64 dimensions: for 20,000 Fashion-MNIST pictures this took 7.7 s on a busy
2-core machine where scikit-learn's NearestNeighbors with the cosine metric (what cleanlab's
OutOfDistribution builds) took 44.8 s on the same components, finding the same neighbours
(benchmarks/doctor_speed.py).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

MAX_DIMENSIONS = 64
CHUNK = 1024


@dataclass(frozen=True)
class Neighbours:
    index: np.ndarray  # (N, k) int64: the k nearest other pictures, nearest first
    similarity: np.ndarray  # (N, k) float32: their cosine similarity


def reduce(features: np.ndarray, dimensions: int = MAX_DIMENSIONS, seed: int = 0) -> np.ndarray:
    """Centred features projected on their top principal components (at most `dimensions`)."""
    import torch

    x = torch.from_numpy(np.ascontiguousarray(features, dtype=np.float32))
    x = x - x.mean(dim=0, keepdim=True)
    q = min(dimensions, x.shape[0], x.shape[1])
    if x.shape[1] <= dimensions or q < 1:
        return x.numpy()
    torch.manual_seed(seed)
    _, _, v = torch.pca_lowrank(x, q=q, center=False)
    reduced: np.ndarray = (x @ v[:, :q]).numpy()
    return reduced


def nearest(features: np.ndarray, k: int = 10, cancelled: Callable[[], bool] | None = None) -> Neighbours:
    """The k nearest neighbours of every row (itself excluded) by cosine similarity."""
    import torch

    x = torch.from_numpy(np.ascontiguousarray(reduce(features), dtype=np.float32))
    x = torch.nn.functional.normalize(x, dim=1)
    n = x.shape[0]
    k = max(0, min(k, n - 1))
    index = np.zeros((n, k), dtype=np.int64)
    similarity = np.zeros((n, k), dtype=np.float32)
    if k == 0:
        return Neighbours(index, similarity)
    with torch.inference_mode():
        for start in range(0, n, CHUNK):
            if cancelled is not None and cancelled():
                from cnnstudio.core.doctor.crossval import DoctorCancelled

                raise DoctorCancelled("the data doctor was cancelled")
            sims = x[start:start + CHUNK] @ x.T
            rows = torch.arange(sims.shape[0])
            sims[rows, rows + start] = -2.0  # never its own neighbour
            top = sims.topk(k, dim=1)
            index[start:start + CHUNK] = top.indices.numpy()
            similarity[start:start + CHUNK] = top.values.numpy()
    return Neighbours(index, similarity)
