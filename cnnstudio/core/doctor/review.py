"""What Review shows of a DoctorReport: one suspect per picture a person decides on, most likely first.

A label issue is a picture to relabel (its suggested class); a duplicate is the copy to exclude (for
leakage the copy in train, so the test set stays as it was; otherwise every copy after the first); an
outlier is a picture to exclude. The pictures' pixels and current labels come from the dataset the report
was made on, so the view shows what the model saw.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from cnnstudio.core.datasets.base import Dataset
from cnnstudio.core.doctor.report import DoctorReport, PictureRef

KINDS = ("label", "duplicate", "outlier")


@dataclass(frozen=True)
class Suspect:
    kind: str  # "label", "duplicate" or "outlier"
    picture: PictureRef
    given: str  # its label now
    suggested: str  # the class to move it to ("label"), or "" when the suggestion is to exclude it
    score: float  # higher is more likely a problem
    why: str  # in words, for the grid's cell
    leakage: bool = False  # a duplicate with a copy in test

    @property
    def key(self) -> str:
        """One name per (kind, picture): what "keep" remembers and an undo finds again."""
        return f"{self.kind}:{self.picture.split}:{self.picture.index}:{self.picture.file or ''}"

    @property
    def suggestion(self) -> str:
        return f"→ {self.suggested}" if self.suggested else "→ exclude"


def suspects(report: DoctorReport, data: Dataset) -> dict[str, tuple[Suspect, ...]]:
    """The report's findings as suspects, by kind: label issues by score, duplicates with leakage first,
    outliers by score."""
    refs = [p for g in report.duplicates for p in g.pictures]
    labels_of = dict(zip((p.name for p in refs), _labels_of(data, refs)))
    issues = sorted(report.label_issues, key=lambda i: -i.score)
    label_items = tuple(Suspect("label", i.picture, i.given, i.suggested, i.score,
                                f"looks like {i.suggested} ({i.score:.2f})") for i in issues)
    dupes: list[Suspect] = []
    for group in sorted(report.duplicates, key=lambda g: (not g.leakage, g.kind != "exact")):
        keep = [p for p in group.pictures if p.split == "test"] if group.leakage else list(group.pictures[:1])
        kept = keep[0]
        for p in group.pictures:
            if p in keep:
                continue
            # Leakage says "in train and test" on its own line in the view (Suspect.leakage).
            where = "" if group.leakage else f" (twice in {p.split})"
            score = 1.0 if group.kind == "exact" else 0.9
            dupes.append(Suspect("duplicate", p, labels_of.get(p.name, ""), "", score,
                                 f"{group.kind} copy of {kept.name}{where}", leakage=group.leakage))
    outliers = sorted(report.outliers, key=lambda o: -o.score)
    outlier_items = tuple(Suspect("outlier", o.picture, o.label, "", o.score, f"{o.reason} ({o.score:.2f})")
                          for o in outliers)
    return {"label": label_items, "duplicate": tuple(dupes), "outlier": outlier_items}


def pool_rows(data: Dataset, pictures: list[PictureRef]) -> np.ndarray:
    """Each picture's row among the dataset's training rows then test rows; -1 for one not in it (a picture
    excluded since)."""
    n_train = len(data.train_labels)
    origin = None if data.origin is None else np.asarray(data.origin)
    rows = np.full(len(pictures), -1, dtype=np.int64)
    for k, p in enumerate(pictures):
        offset, size = (0, n_train) if p.split == "train" else (n_train, len(data.test_labels))
        if origin is None:
            row = p.index if 0 <= p.index < size else -1
        else:
            found = np.flatnonzero(origin[offset:offset + size] == p.index)
            row = int(found[0]) if len(found) else -1
        rows[k] = -1 if row < 0 else offset + row
    return rows


def pixels_of(data: Dataset, pictures: list[PictureRef]) -> np.ndarray:
    """uint8 (N, C, H, W): the pictures as the dataset holds them (black for one not in it any more)."""
    import torch

    c, h, w = data.input_shape
    out = np.zeros((len(pictures), c, h, w), dtype=np.uint8)
    n_train = len(data.train_labels)
    for k, row in enumerate(pool_rows(data, pictures)):
        if row < 0:
            continue
        images = data.train_images if row < n_train else data.test_images
        picture = images[int(row) if row < n_train else int(row) - n_train]
        out[k] = picture.numpy() if isinstance(picture, torch.Tensor) else np.asarray(picture)
    return out


def _labels_of(data: Dataset, pictures: list[PictureRef]) -> list[str]:
    n_train = len(data.train_labels)
    out = []
    for row in pool_rows(data, pictures):
        if row < 0:
            out.append("")
        else:
            labels = data.train_labels if row < n_train else data.test_labels
            out.append(data.classes[int(labels[int(row) if row < n_train else int(row) - n_train])])
    return out
