"""Evaluation: class probabilities for a whole split, and the metrics built from them."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

# A uint8 batch on the device -> the model's float input (the trainer's BatchPreprocessor.normalise).
Normalise = Callable[[torch.Tensor], torch.Tensor]


@torch.inference_mode()
def predict_probabilities(model: torch.nn.Module, images_u8: torch.Tensor, normalise: Normalise, device: torch.device,
                          amp_dtype: torch.dtype | None = None, batch_size: int = 1024) -> torch.Tensor:
    """Softmax probabilities (N, K) as float32 on the CPU, computed in large batches.

    `images_u8` may live on the CPU or already on `device`; `normalise` maps a uint8 batch on the
    device to the model's float input (the trainer's BatchPreprocessor.normalise).
    """
    was_training = model.training
    model.eval()
    out = []
    # At most ~32 MB of float input per batch: 1,024 MNIST digits, but 54 pictures at 224 px (a batch of
    # 1,024 of those would need 600 MB for its input alone, and read that much from a folder on disk).
    batch_size = max(1, min(batch_size, (32 << 20) // max(1, 4 * math.prod(images_u8.shape[1:]))))
    autocast = torch.autocast(device.type, dtype=amp_dtype) if amp_dtype is not None else nullcontext()
    try:
        for start in range(0, images_u8.shape[0], batch_size):
            batch = images_u8[start:start + batch_size].to(device, non_blocking=True)
            with autocast:
                logits = model(normalise(batch))
            out.append(F.softmax(logits.float(), dim=1).cpu())
    finally:
        model.train(was_training)
    if not out:
        return torch.zeros(0, 0)
    return torch.cat(out)


@dataclass
class Evaluation:
    """Everything the evaluation views and `cnnstudio evaluate` show for one split."""

    classes: list[str]
    labels: np.ndarray  # (N,) int64
    probabilities: np.ndarray  # (N, K) float32

    @property
    def predictions(self) -> np.ndarray:
        predicted: np.ndarray = self.probabilities.argmax(axis=1)
        return predicted

    @property
    def accuracy(self) -> float:
        return float((self.predictions == self.labels).mean()) if len(self.labels) else 0.0

    @property
    def loss(self) -> float:
        """Mean cross-entropy (natural log) of the true class."""
        if not len(self.labels):
            return 0.0
        p = self.probabilities[np.arange(len(self.labels)), self.labels]
        return float(-np.log(np.clip(p, 1e-12, 1.0)).mean())

    def confusion_matrix(self) -> np.ndarray:
        """counts[true, predicted]"""
        k = len(self.classes)
        return np.bincount(self.labels * k + self.predictions, minlength=k * k).reshape(k, k)

    def per_class(self) -> list[dict[str, Any]]:
        cm = self.confusion_matrix()
        rows = []
        for i, name in enumerate(self.classes):
            tp = int(cm[i, i])
            support = int(cm[i].sum())
            predicted = int(cm[:, i].sum())
            precision = tp / predicted if predicted else 0.0
            recall = tp / support if support else 0.0
            f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
            rows.append({"class": name, "precision": precision, "recall": recall, "f1": f1, "support": support})
        return rows

    def macro_averages(self) -> dict[str, float]:
        """Precision, recall and F1 averaged over classes, each class counting the same."""
        rows = self.per_class()
        k = max(1, len(rows))
        return {key: sum(r[key] for r in rows) / k for key in ("precision", "recall", "f1")}

    def most_common_mistake(self) -> tuple[int, int]:
        """The (true, predicted) cell with the most wrong answers: the most instructive first look. With no
        mistakes, the diagonal cell of the class with the most right answers."""
        cm = self.confusion_matrix()
        off = cm.copy()
        np.fill_diagonal(off, -1)
        if off.size and off.max() > 0:
            t, p = np.unravel_index(int(np.argmax(off)), off.shape)
            return int(t), int(p)
        d = int(np.argmax(np.diag(cm))) if len(self.classes) else 0
        return d, d

    def samples_for_cell(self, true_class: int, predicted_class: int) -> np.ndarray:
        """Indices with this (true, predicted) pair, most confident prediction first."""
        preds = self.predictions
        idx = np.flatnonzero((self.labels == true_class) & (preds == predicted_class))
        conf = self.probabilities[idx, predicted_class]
        return idx[np.argsort(-conf, kind="stable")]

    def misclassified(self) -> np.ndarray:
        """Indices of wrong predictions, the most confidently wrong first."""
        preds = self.predictions
        idx = np.flatnonzero(preds != self.labels)
        conf = self.probabilities[idx, preds[idx]]
        return idx[np.argsort(-conf, kind="stable")]

    CSV_FIELDS = ("class", "precision", "recall", "f1", "support")

    def write_csv(self, path: str | Path) -> Path:
        """The per-class table (class, precision, recall, f1, support) as CSV (cells through csv_cell: a
        class named "=..." is text in a spreadsheet, not a formula)."""
        import csv

        from cnnstudio.core.text import csv_cell

        path = Path(path)
        with path.open("w", newline="", encoding="utf-8") as f:
            writer = csv.DictWriter(f, fieldnames=list(self.CSV_FIELDS))
            writer.writeheader()
            for row in self.per_class():
                writer.writerow({k: csv_cell(row[k]) for k in self.CSV_FIELDS})
        return path

    def to_dict(self, top_misclassified: int = 100) -> dict[str, Any]:
        wrong = self.misclassified()[:top_misclassified]
        preds = self.predictions
        return {
            "accuracy": self.accuracy,
            "loss": self.loss,
            "samples": int(len(self.labels)),
            "classes": list(self.classes),
            "per_class": self.per_class(),
            "confusion_matrix": self.confusion_matrix().tolist(),
            "misclassified": [
                {"index": int(i), "true": int(self.labels[i]), "predicted": int(preds[i]),
                 "confidence": float(self.probabilities[i, preds[i]])}
                for i in wrong
            ],
        }


def evaluate(model: torch.nn.Module, images_u8: torch.Tensor, labels: torch.Tensor | np.ndarray,
             classes: Sequence[str], normalise: Normalise, device: torch.device, amp_dtype: torch.dtype | None = None,
             batch_size: int = 1024,
             chunk: int | None = None, progress: Callable[[tuple[int, int]], None] | None = None,
             cancelled: Callable[[], bool] | None = None) -> Evaluation | None:
    """The one evaluation: probabilities for every image of a split, then the Evaluation built from them.

    The trainer (validation and test), `cnnstudio evaluate` and the Evaluate page all call this. With
    `chunk`, the split is done in chunks of that many images, calling progress((done, total)) before
    each and returning None as soon as cancelled() turns True (a newer checkpoint was chosen).
    """
    n = int(images_u8.shape[0])
    step = chunk or max(1, n)
    parts = []
    for first in range(0, n, step):
        if cancelled is not None and cancelled():
            return None
        if progress is not None:
            progress((first, n))
        parts.append(predict_probabilities(model, images_u8[first:first + step], normalise, device, amp_dtype,
                                           batch_size))
    probs = torch.cat(parts) if parts else torch.zeros(0, len(classes))
    labels_np = labels.cpu().numpy() if isinstance(labels, torch.Tensor) else np.asarray(labels)
    return Evaluation(list(classes), labels_np.astype(np.int64), probs.numpy())
