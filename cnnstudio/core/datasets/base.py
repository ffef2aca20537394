"""The one in-memory dataset form every loader produces.

Images stay uint8 (N, C, H, W): 4x smaller than float32, cheap to move to the training device in one
copy, and normalised per batch there (see cnnstudio.core.training). Labels are int64.
"""

from __future__ import annotations

import math

from dataclasses import dataclass, field
from typing import Any, TYPE_CHECKING

from cnnstudio.core.framing import FramingProfile

if TYPE_CHECKING:  # torch is imported lazily by loaders; the registry listing stays torch-free
    import torch


@dataclass
class SkippedFile:
    path: str
    reason: str


@dataclass
class LoadReport:
    """What happened while loading a folder of files: shown to the user, never silently dropped."""

    files_seen: int = 0
    files_loaded: int = 0
    skipped: list[SkippedFile] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def files_skipped(self) -> int:
        return len(self.skipped)

    def summary(self) -> str:
        text = f"{self.files_loaded} of {self.files_seen} files loaded"
        if self.skipped:
            reasons: dict[str, int] = {}
            for item in self.skipped:
                reasons[item.reason] = reasons.get(item.reason, 0) + 1
            text += ", skipped: " + ", ".join(f"{n} {r}" for r, n in sorted(reasons.items()))
        return text

    def to_dict(self) -> dict[str, Any]:
        return {
            "files_seen": self.files_seen,
            "files_loaded": self.files_loaded,
            "files_skipped": self.files_skipped,
            "skipped": [{"path": s.path, "reason": s.reason} for s in self.skipped],
            "notes": list(self.notes),
        }


@dataclass
class Dataset:
    """A loaded dataset: uint8 image tensors, int64 labels and the metadata to use them."""

    name: str
    title: str
    classes: list[str]
    # uint8 (N, C, H, W): a tensor, or DiskImages for a folder larger than the memory budget (disk_images.py)
    train_images: torch.Tensor
    train_labels: torch.Tensor  # int64 (N,)
    test_images: torch.Tensor
    test_labels: torch.Tensor
    mean: tuple[float, ...]  # per channel, in 0..1 units
    std: tuple[float, ...]
    framing: FramingProfile
    source: str = ""  # where it was loaded from
    report: LoadReport | None = None
    hflip_ok: bool = False  # whether horizontal flips are a label-preserving augmentation
    # For a folder: each picture's file, relative to `source` (POSIX separators), training rows then test
    # rows; None for the built-in sets, whose pictures are named by their split and index.
    files: list[str] | None = None
    # After the data doctor's exclusions in a built-in set (core/doctor/fixes.py): each row's original number
    # in its split, training rows then test rows; None when every row is where the files put it.
    origin: Any = None  # numpy int64 (N,)

    def original_index(self, split: str, index: int) -> int:
        """The number picture `index` of `split` has in the dataset's files (changed by exclusions only)."""
        if self.origin is None:
            return index
        return int(self.origin[index if split == "train" else len(self.train_labels) + index])

    def file_of(self, split: str, index: int) -> str | None:
        """The file of picture `index` of `split` ("train" or "test"), relative to `source`, or None."""
        if self.files is None:
            return None
        return self.files[index if split == "train" else len(self.train_labels) + index]

    @property
    def input_shape(self) -> tuple[int, int, int]:
        _, c, h, w = self.train_images.shape
        return (int(c), int(h), int(w))

    @property
    def num_classes(self) -> int:
        return len(self.classes)


STATS_VALUES = 64 << 20  # pixel values counted at most for a dataset's mean and std


def channel_stats(images: torch.Tensor) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """Per-channel mean and std of uint8 (N, C, H, W) images, in 0..1 units.

    Exact, from each channel's histogram of the 256 pixel values, a chunk of about 4 M values at a time
    (a float64 copy of 8,192 pictures at 224 px would have been 10 GB). Above STATS_VALUES values, an
    evenly spaced sample of the pictures is counted: a normalisation needs the statistics, not every
    pixel, and a second load of a large folder from the picture cache should not spend its time here.
    """
    import torch

    n, c = images.shape[0], images.shape[1]
    per_image = max(1, math.prod(images.shape[1:]))
    picked = torch.arange(n)
    if n * per_image > STATS_VALUES:
        picked = torch.linspace(0, n - 1, max(1, STATS_VALUES // per_image)).round().long().unique()
    # Chunks of about 4 M values, read by index: for pictures that stay on disk, only the chunk in hand
    # is in memory. bincount counts uint8 directly (10x faster than widening to int64 first).
    step = max(1, (4 << 20) // per_image)
    hist = torch.zeros(c, 256, dtype=torch.int64)
    for start in range(0, len(picked), step):
        rows = picked[start:start + step]
        chunk = images[int(rows[0]):int(rows[-1]) + 1] if len(picked) == n else images[rows]
        for ch in range(c):
            hist[ch] += torch.bincount(chunk[:, ch].reshape(-1), minlength=256)
    values = torch.arange(256, dtype=torch.float64) / 255.0
    count = hist.sum(dim=1).clamp_min(1).double()
    mean = (hist.double() * values).sum(dim=1) / count
    std = ((hist.double() * values.pow(2)).sum(dim=1) / count - mean.pow(2)).clamp_min(1e-12).sqrt()
    return tuple(float(m) for m in mean), tuple(max(float(s), 1e-3) for s in std)
