"""The Data page's session: loading a dataset (the newest request wins) and downloading one (one at a time).

Loads run on a LatestRunner: a load asked for later supersedes an earlier one, whose result is
dropped (and which stops at its next progress check). Downloads run as one Task with progress and
Cancel. Progress reaches the view only when the percentage changes: a download reports every 256 KB.
The loaded dataset goes to AppState.set_dataset (the view learns of it through datasetChanged, like
every other page).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, TypeVar
from collections.abc import Callable

import numpy as np
from PySide6.QtCore import QObject, Signal

from cnnstudio.ui.state import AppState
from cnnstudio.ui.tasks import Failure, IsCancelled, LatestRunner, Report, Task, run_in_background

if TYPE_CHECKING:  # imports torch: only its type is needed here
    from cnnstudio.core.datasets.base import Dataset

R = TypeVar("R")  # what a progress report carries


def percent_reporter(report: Report[R], pack: Callable[[int, int, int], R]) -> Callable[[int, int], None]:
    """progress(done, total) that calls report(pack(done, total, pct)) only when the percent changes."""
    last = [-1]

    def progress(done: int, total: int) -> None:
        pct = int(100 * done / total) if total > 0 else 0
        if pct != last[0]:
            last[0] = pct
            report(pack(done, total, pct))

    return progress


@dataclass(frozen=True)
class Samples:
    """Training images shown as samples: their pixels, class indices and class names."""

    images: np.ndarray  # uint8 (N, C, H, W)
    labels: np.ndarray  # int64 (N,)
    captions: list[str]


class SamplePicker:
    """Random training images of one class or all, the same first view of a dataset every time."""

    def __init__(self, dataset: Dataset | None = None) -> None:
        self.dataset = dataset
        # numpy views of the loaded tensors (shared memory: no copy)
        self.images = dataset.train_images.numpy() if dataset is not None else np.zeros((0, 1, 1, 1), np.uint8)
        self.labels = dataset.train_labels.numpy() if dataset is not None else np.zeros(0, np.int64)
        self.counts = np.bincount(self.labels, minlength=dataset.num_classes if dataset is not None else 0)
        self._rng = np.random.default_rng(0)
        self._picked = np.zeros(0, np.int64)

    def pick(self, class_index: int | None, count: int) -> Samples:
        """New random training images (of one class, or all with None), in the dataset's order."""
        pool = np.arange(len(self.labels)) if class_index is None else np.flatnonzero(self.labels == class_index)
        n = min(count, len(pool))
        self._picked = np.sort(self._rng.choice(pool, size=n, replace=False)) if n else pool[:0]
        return self.picked()

    def picked(self, count: int | None = None) -> Samples:
        """The images picked last (the first `count` of them)."""
        idx = self._picked[:count]
        labels = self.labels[idx].copy()
        classes = self.dataset.classes if self.dataset is not None else []
        return Samples(self.images[idx], labels, [classes[int(k)] for k in labels])


class DataSession(QObject):
    loadProgress = Signal(int)  # percent
    loaded = Signal(str, object)  # key, Dataset
    loadFailed = Signal(str, str)  # message, details
    loadCancelled = Signal()
    downloadProgress = Signal(int, int, int)  # bytes done, bytes total, percent
    downloaded = Signal(str, str)  # key, path
    downloadFailed = Signal(str, str, str)  # key, message, details
    downloadCancelled = Signal(str)  # key

    def __init__(self, state: AppState, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.state = state
        self.loading_key: str | None = None
        self.download_key: str | None = None
        self._loads = LatestRunner(self)
        self._download: Task | None = None

    # -- loading --------------------------------------------------------------------------------------
    @property
    def loading(self) -> bool:
        return self._loads.busy

    def load(self, key: str) -> None:
        """Load a registered dataset (by name) or a folder (by path); a later load supersedes this one."""
        self.loading_key = key
        self.state.datasetLoading.emit(key)

        def work(report: Report[int], is_cancelled: IsCancelled) -> Dataset:
            from cnnstudio.core.datasets import load_dataset  # imports torch on first use

            progress = percent_reporter(report, lambda done, total, pct: pct)
            return load_dataset(key, progress=progress, cancel=is_cancelled)

        self._loads.submit(work, lambda ds: self._on_loaded(key, ds), self._on_load_failed,
                           on_progress=self.loadProgress.emit, on_cancelled=self.loadCancelled.emit)

    def cancel_load(self) -> bool:
        return self._loads.cancel()

    def _on_loaded(self, key: str, dataset: Dataset) -> None:
        self.loading_key = None
        self.loaded.emit(key, dataset)

    def _on_load_failed(self, failure: Failure) -> None:
        self.loading_key = None
        self.loadFailed.emit(failure.message, failure.details)

    # -- downloading ----------------------------------------------------------------------------------
    @property
    def downloading(self) -> bool:
        return self._download is not None

    def download(self, key: str) -> Task:
        self.download_key = key

        def work(report: Report[tuple[int, int, int]], is_cancelled: IsCancelled) -> str:
            from cnnstudio.core import datasets as api  # looked up at call time (tests replace it)

            progress = percent_reporter(report, lambda done, total, pct: (done, total, pct))
            return str(api.download_dataset(key, progress=progress, cancel=is_cancelled))

        task = run_in_background(work, with_progress=True,
                                 on_success=lambda path: self._end_download(self.downloaded.emit, key, path),
                                 on_error=lambda msg, details: self._end_download(self.downloadFailed.emit, key,
                                                                                  msg, details),
                                 on_progress=self._on_download_progress)
        task.cancelled.connect(lambda: self._end_download(self.downloadCancelled.emit, key))
        self._download = task
        return task

    def cancel_download(self) -> None:
        if self._download is not None:
            self._download.cancel()

    def _on_download_progress(self, value: tuple[int, int, int]) -> None:
        self.downloadProgress.emit(*value)

    def _end_download(self, signal: Callable[..., None], key: str, *args: str) -> None:
        self._download = None
        self.download_key = None
        signal(key, *args)

    def shutdown(self) -> None:
        """Window closing: ask running loads and downloads to stop (the window waits for them)."""
        self._loads.close()
        self.cancel_download()
