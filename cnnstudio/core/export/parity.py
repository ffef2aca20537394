"""Does the exported file compute what the PyTorch model computes? Always checked after writing.

Both run on the same normalised images (the checkpoint's test images when they can be found); the
report gives the largest absolute logit difference and the share of images whose top class agrees.
An fp32 export that disagrees on any image is a failed export (core/export/exporter.py), and so is
any output that is NaN or infinite: a difference of NaN compares as "not larger" than anything, so
those images are counted apart and never hidden inside the largest difference.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:  # torch is imported when a check runs
    from torch import nn


@dataclass(frozen=True)
class Parity:
    images: int
    source: str  # "test images of Fashion-MNIST", or random images and why
    max_abs_diff: float  # largest |logit_exported - logit_pytorch|
    agreement: float  # share of images with the same top-1 class, 0..1
    nonfinite: int = 0  # images whose exported logits hold NaN or inf

    @property
    def perfect(self) -> bool:
        return self.images > 0 and self.agreement == 1.0 and self.nonfinite == 0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def text(self) -> str:
        if self.nonfinite:
            return (f"the exported file gives NaN or infinite outputs for {self.nonfinite} of {self.images} "
                    f"{self.source}")
        return (f"{self.agreement:.2%} top-1 agreement with PyTorch on {self.images} {self.source}, "
                f"largest logit difference {self.max_abs_diff:.2e}")


def torch_logits(model: nn.Module, inputs: np.ndarray, batch: int = 256) -> np.ndarray:
    import torch

    outs = []
    with torch.inference_mode():
        for i in range(0, len(inputs), batch):
            outs.append(model(torch.from_numpy(np.ascontiguousarray(inputs[i:i + batch]))).float().numpy())
    return np.concatenate(outs)


def nonfinite_rows(logits: np.ndarray) -> int:
    """How many images' logits hold a NaN or an infinity."""
    return int((~np.isfinite(logits)).reshape(len(logits), -1).any(1).sum()) if len(logits) else 0


def compare(reference: np.ndarray, exported: np.ndarray, source: str) -> Parity:
    """The exported file's logits against PyTorch's (which the caller has checked are finite)."""
    if reference.shape != exported.shape:
        return Parity(len(reference), source, float("inf"), 0.0)
    bad = nonfinite_rows(exported)
    diff = float("inf") if bad else float(np.abs(reference - exported).max()) if reference.size else 0.0
    agree = float((reference.argmax(1) == exported.argmax(1)).mean()) if len(reference) else 0.0
    return Parity(len(reference), source, diff, agree, nonfinite=bad)


def accuracy(logits: np.ndarray, labels: np.ndarray) -> float:
    return float((logits.argmax(1) == labels).mean()) if len(labels) else 0.0
