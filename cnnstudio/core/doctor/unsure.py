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
        """The model's two best guesses: "4: 71%, 7: 19%"."""
        return ", ".join(f"{name}: {p:.0%}" for name, p in self.top[:2])


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


def class_keys(classes: list[str] | tuple[str, ...]) -> list[str | None]:
    """The key that labels a picture with each class: the class's own name when every name is one distinct
    digit ("0".."9": the key 7 is the class "7"), else 1..9 then 0 for the first ten classes; None for a
    class without a key. Never a letter: A, K and X are Review's own keys."""
    names = [c.strip() for c in classes]
    if all(len(n) == 1 and n.isdigit() for n in names) and len(set(names)) == len(names):
        own: list[str | None] = list(names)
        return own
    return [str((k + 1) % 10) if k < 10 else None for k in range(len(classes))]
