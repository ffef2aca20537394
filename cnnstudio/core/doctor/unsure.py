"""New pictures to label, the ones the model is least sure of first (uncertainty sampling by margin).

The margin is the top probability minus the second: near 0 the model hesitates between two classes, so a
person's label there teaches it most; a picture it is sure of can wait. The pictures come from
classify.classify_folder; labelling one moves its file into the dataset (fixes.FolderFixes.add).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from cnnstudio.core.classify import FolderClassification


@dataclass(frozen=True)
class UnsurePicture:
    path: str  # the file, absolute
    name: str  # relative to the folder that was classified
    guess: str  # the model's top class
    margin: float  # top probability minus the second: 0 is a coin toss, 1 is certain
    top: tuple[tuple[str, float], ...]  # (class, probability), best first
    pixels: np.ndarray  # uint8 (C, H, W): what the model saw

    @property
    def why(self) -> str:
        second = f" or {self.top[1][0]} {self.top[1][1]:.0%}" if len(self.top) > 1 else ""
        return f"{self.top[0][0]} {self.top[0][1]:.0%}{second}"


def by_uncertainty(result: FolderClassification) -> list[UnsurePicture]:
    """Every classified picture, the smallest margin first (ties: by name, so the order is stable)."""
    probs = result.probabilities
    pixels = result.pixels
    if probs is None or not len(result.results):
        return []
    ordered = np.sort(probs, axis=1)[:, ::-1]
    margins = ordered[:, 0] - (ordered[:, 1] if probs.shape[1] > 1 else 0.0)
    root = Path(result.folder)
    out = []
    for k, r in enumerate(result.results):
        picture = pixels[k] if pixels is not None else np.zeros((1, 1, 1), np.uint8)
        out.append(UnsurePicture(str(root / r.path), r.path, r.label, float(margins[k]),
                                 tuple((c, float(p)) for c, p in r.top), picture))
    return sorted(out, key=lambda u: (u.margin, u.name))
