"""Classify a whole folder of images with a trained model (`cnnstudio predict --folder`, "Classify a folder…").

Every image below the folder goes through the one user-image path (open_image, then the Predictor's
preparation and normalisation), so a file gets the answer Draw, Inspect and `cnnstudio predict` give it.
Unreadable files are reported and skipped. When images sit in subfolders named after the model's
classes, those names are taken as the truth: the result then has an accuracy and an Evaluation (the
same metrics, confusion matrix and gallery as a test split).
"""

from __future__ import annotations

import csv
import os
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np

from cnnstudio.core.errors import CNNStudioError
from cnnstudio.core.text import csv_cell

if TYPE_CHECKING:  # torch-heavy modules: the CLI loads them only when it classifies
    from cnnstudio.core.inference import Predictor
    from cnnstudio.core.metrics import Evaluation

BATCH = 64  # prepared images per forward pass


@dataclass
class FileResult:
    path: str  # relative to the folder, with "/" separators
    index: int  # predicted class
    label: str
    confidence: float
    top: list[tuple[str, float]]  # (class, probability), best first
    truth: int | None = None  # the class named by the image's subfolder, if any
    empty: bool = False  # no content found (a blank drawing): the prediction is a guess

    @property
    def correct(self) -> bool | None:
        return None if self.truth is None else self.truth == self.index


@dataclass
class FolderClassification:
    folder: str
    classes: list[str]
    results: list[FileResult]
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (path, why)
    ignored: dict[str, int] = field(default_factory=dict)  # files without an image extension, by extension
    unreadable_folders: list[str] = field(default_factory=list)
    probabilities: np.ndarray | None = None  # (N, K) float32, rows as results
    pixels: np.ndarray | None = None  # uint8 (N, C, H, W): what the model saw, for the gallery
    cancelled: bool = False

    @property
    def labelled(self) -> list[int]:
        """Indices of results whose subfolder names a class."""
        return [i for i, r in enumerate(self.results) if r.truth is not None]

    @property
    def accuracy(self) -> float | None:
        idx = self.labelled
        return sum(bool(self.results[i].correct) for i in idx) / len(idx) if idx else None

    def evaluation(self) -> Evaluation | None:
        """The labelled images as a core Evaluation (confusion matrix, per-class metrics), or None."""
        from cnnstudio.core.metrics import Evaluation

        idx = self.labelled
        if not idx or self.probabilities is None:
            return None
        labels = np.array([self.results[i].truth for i in idx], dtype=np.int64)
        return Evaluation(list(self.classes), labels, self.probabilities[idx])

    def summary(self) -> str:
        parts = [f"{len(self.results):,} image{'s' if len(self.results) != 1 else ''} classified"]
        if self.skipped:
            reasons = Counter(why.split(":")[0] for _, why in self.skipped)
            counts = ", ".join(f"{n} {r}" for r, n in reasons.most_common())
            parts.append(f"{len(self.skipped)} skipped ({counts})")
        acc = self.accuracy
        if acc is not None:
            parts.append(f"accuracy {acc:.2%} on the {len(self.labelled):,} in class folders")
        if self.cancelled:
            parts.append("cancelled before the end")
        return "; ".join(parts)

    CSV_FIELDS = ("file", "predicted", "confidence", "second", "second_confidence", "truth", "correct")

    def write_csv(self, path: str | os.PathLike[str]) -> Path:
        """One row per image (file, predicted class, confidence, runner-up, truth, correct), then the skipped
        files. Every cell through csv_cell: a file or class named "=..." is text in a spreadsheet, not a formula."""
        path = Path(path)
        try:
            with path.open("w", newline="", encoding="utf-8") as f:
                writer = csv.writer(f)
                writer.writerow(self.CSV_FIELDS)
                for r in self.results:
                    second = r.top[1] if len(r.top) > 1 else ("", "")
                    writer.writerow(map(csv_cell, [r.path, r.label, f"{r.confidence:.6f}", second[0],
                                                   f"{second[1]:.6f}" if second[1] != "" else "",
                                                   "" if r.truth is None else self.classes[r.truth],
                                                   "" if r.correct is None else ("yes" if r.correct else "no")]))
                for name, why in self.skipped:
                    writer.writerow(map(csv_cell, [name, "", "", "", "", "", f"skipped: {why}"]))
        except OSError as exc:
            raise CNNStudioError(f"cannot write {path}: {exc.strerror or exc}") from None
        return path

    def to_dict(self) -> dict[str, Any]:
        return {"folder": self.folder, "classes": list(self.classes), "images": len(self.results),
                "accuracy": self.accuracy, "labelled": len(self.labelled), "cancelled": self.cancelled,
                "results": [{"file": r.path, "label": r.label, "index": r.index, "confidence": r.confidence,
                             "top": [{"label": c, "probability": p} for c, p in r.top],
                             "truth": None if r.truth is None else self.classes[r.truth], "empty": r.empty}
                            for r in self.results],
                "skipped": [{"file": name, "reason": why} for name, why in self.skipped],
                "ignored": dict(self.ignored), "unreadable_folders": list(self.unreadable_folders)}


def _truth_index(classes: list[str]) -> dict[str, int]:
    """Subfolder name -> class index: exact names, then case-insensitive ones when those are unambiguous."""
    exact = {name: i for i, name in enumerate(classes)}
    folded: dict[str, int] = {}
    for name, i in exact.items():
        folded.setdefault(name.casefold(), i)
    return {**{k: v for k, v in folded.items() if k not in exact}, **exact}


def classify_folder(predictor: Predictor, folder: str | os.PathLike[str], *, top_k: int = 3,
                    progress: Callable[[int, int], None] | None = None,
                    cancelled: Callable[[], bool] = lambda: False, keep_pixels: bool = True) -> FolderClassification:
    """Classify every image below `folder` with a core Predictor. progress(done, total) after each
    image; cancelled() stops early with the images done so far (result.cancelled is then True)."""
    from cnnstudio.core.datasets.imagefolder import list_image_files
    from cnnstudio.core.preparation import open_image

    root = Path(folder).expanduser()
    if not root.is_dir():
        raise CNNStudioError(f"{root} is not a folder" if root.exists() else f"folder not found: {root}")
    files, ignored, unreadable = list_image_files(root)
    classes = list(predictor.classes)
    truth_of = _truth_index(classes)
    out = FolderClassification(str(root), classes, [], ignored=dict(ignored),
                               unreadable_folders=[str(p) for p in unreadable])
    probs_parts: list[np.ndarray] = []
    pixel_parts: list[np.ndarray] = []
    pending: list[tuple[str, Any, int | None]] = []  # (relative path, PreparedImage, truth)

    def flush() -> None:
        if not pending:
            return
        batch = np.stack([prepared.pixels for _, prepared, _ in pending])
        probs = predictor.probabilities(batch)
        for (name, prepared, truth), p in zip(pending, probs):
            order = np.argsort(-p)[:max(1, top_k)]
            out.results.append(FileResult(name, int(order[0]), classes[order[0]], float(p[order[0]]),
                                          [(classes[i], float(p[i])) for i in order], truth, prepared.empty))
        probs_parts.append(probs.astype(np.float32))
        if keep_pixels:
            pixel_parts.append(batch)
        pending.clear()

    total = len(files)
    for done, path in enumerate(files):
        if cancelled():
            out.cancelled = True
            break
        name = path.relative_to(root).as_posix()
        try:
            if path.stat().st_size == 0:
                raise CNNStudioError("empty file")
            prepared = predictor.prepare(open_image(path, predictor.framing))
        except OSError as exc:  # gone or locked since the walk listed it
            out.skipped.append((name, exc.strerror or "unreadable"))
        except CNNStudioError as exc:
            out.skipped.append((name, _reason(exc, path)))
        except MemoryError:
            out.skipped.append((name, "too large to decode"))
        else:
            parts = Path(name).parts
            pending.append((name, prepared, truth_of.get(parts[0]) if len(parts) > 1 else None))
            if len(pending) >= BATCH:
                flush()
        if progress is not None:
            progress(done + 1, total)
    flush()
    if probs_parts:
        out.probabilities = np.concatenate(probs_parts)
    if pixel_parts:
        out.pixels = np.concatenate(pixel_parts)
    return out


def _reason(exc: CNNStudioError, path: Path) -> str:
    """open_image's sentence without the path (the table shows the file): "not an image or damaged"."""
    text = str(exc)
    head, sep, tail = text.partition(": ")
    if sep and head.startswith("image not found"):
        return "not found"
    if sep and head.startswith("cannot read"):
        text = tail
    if str(path) in text:  # the decoder's own detail names the file again
        text = text.split(" (")[0]
    return text
