"""How faithful an explanation is: deletion and insertion curves (Petsiuk et al. 2018, RISE).

Deletion: the pixels an explanation ranks highest are removed first (set to the baseline, black), and the
class's probability is read after each step; a faithful map makes it fall fast (a small area under the curve).
Insertion: from the baseline picture the pixels are put back in the same order; a faithful map makes the
probability rise fast (a large area). Pixels the map ranks equally (a CAM's zero background) are taken in a
fixed random order, not row by row. Every step of both curves goes through the model in one batch. Qt-free.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from cnnstudio.core.inspection.activations import as_input, inspecting

STEPS = 24


@dataclass(frozen=True)
class Faithfulness:
    """Both curves of one explanation: the class's probability at each fraction of pixels removed / added."""

    fractions: np.ndarray  # float32 (steps + 1,), 0..1
    deletion: np.ndarray  # float32 (steps + 1,)
    insertion: np.ndarray  # float32 (steps + 1,)
    deletion_auc: float  # area under the deletion curve, 0..1: lower is more faithful
    insertion_auc: float  # area under the insertion curve, 0..1: higher is more faithful


def auc(fractions: np.ndarray, values: np.ndarray) -> float:
    """Trapezoidal area under a curve over fractions 0..1."""
    f = np.asarray(fractions, np.float64)
    v = np.asarray(values, np.float64)
    return float(np.sum((f[1:] - f[:-1]) * (v[1:] + v[:-1]) / 2))


def pixel_order(heatmap: np.ndarray, seed: int = 0) -> np.ndarray:
    """Flat pixel indices, most highlighted first; ties in a fixed random order."""
    h = np.asarray(heatmap, np.float64).ravel()
    tiebreak = np.random.default_rng(seed).random(h.size)
    return np.lexsort((tiebreak, -h))


def faithfulness(model: nn.Module, x: torch.Tensor | np.ndarray, heatmap: np.ndarray, class_index: int,
                 baseline: torch.Tensor | None = None, steps: int = STEPS, batch: int = 64) -> Faithfulness:
    """Deletion and insertion curves of `heatmap` (H, W) for `class_index` on one normalised picture x.

    baseline: the normalised picture that stands for "removed" (default zeros: the mean colour); Predictor
    users pass the normalised black picture (methods.black_baseline).
    """
    xi = as_input(model, x).detach()
    base = torch.zeros_like(xi) if baseline is None else as_input(model, baseline).detach().to(xi.dtype)
    _, c, h, w = xi.shape
    if tuple(np.shape(heatmap)) != (h, w):
        raise ValueError(f"the heatmap is {np.shape(heatmap)} but the picture is {(h, w)}")
    steps = max(1, int(steps))
    order = torch.from_numpy(pixel_order(heatmap))
    counts = np.round(np.linspace(0, h * w, steps + 1)).astype(np.int64)
    # rank[p] = when pixel p is taken; a step's mask is rank < count (one comparison per step, no loop).
    rank = torch.empty(h * w, dtype=torch.int64)
    rank[order] = torch.arange(h * w)
    masks = (rank[None, :] < torch.from_numpy(counts)[:, None]).reshape(steps + 1, 1, h, w).to(xi.dtype)
    deleted = xi * (1 - masks) + base * masks
    inserted = base * (1 - masks) + xi * masks
    both = torch.cat([deleted, inserted])
    probs = []
    with inspecting(model), torch.inference_mode():
        for start in range(0, len(both), batch):
            logits = model(both[start:start + batch].to(xi.device))
            probs.append(torch.softmax(logits.float(), dim=1)[:, class_index].cpu())
    p = torch.cat(probs).numpy().astype(np.float32)
    fractions = (counts / (h * w)).astype(np.float32)
    deletion, insertion = p[:steps + 1], p[steps + 1:]
    return Faithfulness(fractions, deletion, insertion, auc(fractions, deletion), auc(fractions, insertion))
