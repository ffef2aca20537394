"""The learning-rate finder's session: the range test (cnnstudio/core/training/lr_find.py) on the Train
form's settings, in the background (ui/tasks.py) with progress and Cancel.

What crosses to the view: `progress` (step, steps), `finished` (an LrFindResult, frozen), `failed` (one
line for the user) and `cancelled`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtCore import QObject, Signal

from cnnstudio.core.training.config import TrainConfig
from cnnstudio.core.training.control import RunControl
from cnnstudio.ui.tasks import IsCancelled, LatestRunner, Report

if TYPE_CHECKING:  # both import torch: only their types are needed here
    from cnnstudio.core.datasets.base import Dataset
    from cnnstudio.core.training.lr_find import LrFindResult


class LrFindSession(QObject):
    progress = Signal(int, int)  # step, steps
    finished = Signal(object)  # LrFindResult
    failed = Signal(str)
    cancelled = Signal()

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.result: LrFindResult | None = None  # the last one
        self._runner = LatestRunner(self)
        self._control = RunControl()

    @property
    def busy(self) -> bool:
        return self._runner.busy

    def start(self, config: TrainConfig, dataset: Dataset | None = None) -> None:
        """Run the finder on this configuration and dataset (None: the finder loads config.dataset)."""
        from cnnstudio.core.training.lr_find import find_lr

        self.result = None
        self._control.stop()  # a finder still running is stale: it stops at its next step
        self._control = control = RunControl()  # each run its own stop flag: a cancelled one stays cancelled

        def work(report: Report[tuple[int, int]], cancelled: IsCancelled) -> LrFindResult:
            def progress(step: int, steps: int, lr: float, loss: float) -> None:
                report((step, steps))
                if cancelled():  # stale (a newer start, the window closing): stop spending the CPU
                    control.stop()

            return find_lr(config, dataset, control=control, progress=progress)

        self._runner.submit(work, self._on_finished, lambda failure: self.failed.emit(failure.message),
                            on_progress=self._on_progress, on_cancelled=self.cancelled.emit)

    def cancel(self) -> bool:
        """Stop the finder at its next step; `cancelled` follows once it has."""
        self._control.stop()
        return self._runner.cancel()

    def _on_progress(self, value: tuple[int, int]) -> None:
        self.progress.emit(*value)

    def _on_finished(self, result: LrFindResult) -> None:
        self.result = result
        self.finished.emit(result)

    def shutdown(self) -> None:
        self._control.stop()
        self._runner.close()
