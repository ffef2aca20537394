"""How long the Train page's run will take, before Start (core/training/estimate.py): asked again a moment
after the settings change, computed in the background (ui/tasks.py), the newest request winning.

What crosses to the view: `estimated` (a DurationEstimate) and `failed` (one line).
"""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import QObject, QTimer, Signal

from cnnstudio.core.datasets.base import Dataset
from cnnstudio.core.errors import CNNStudioError
from cnnstudio.core.training.config import TrainConfig
from cnnstudio.core.training.estimate import DurationEstimate, estimate_duration
from cnnstudio.ui.tasks import Failure, LatestRunner

SETTLE_MS = 1200  # the probe trains a few steps: wait for the typing to pause first


class EstimateSession(QObject):
    estimated = Signal(object)  # DurationEstimate
    failed = Signal(str)

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.estimate: DurationEstimate | None = None
        self._asked: tuple[str, int] | None = None  # the config and data last asked about
        self._next: tuple[TrainConfig, Dataset] | None = None
        self._runner = LatestRunner(self)
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(SETTLE_MS)
        self._timer.timeout.connect(self._start)

    def ask(self, make_config: Callable[[], TrainConfig], data: Dataset | None, ready: bool) -> str | None:
        """The page's settings changed: estimate them when they can run (`ready`, data loaded, a valid
        config), else cancel. Returns the text to show now ("estimating…", "" for none), None to keep it."""
        cfg = None
        if ready and data is not None:
            try:
                cfg = make_config()
            except CNNStudioError:
                cfg = None
        if cfg is None or data is None:
            self.cancel()
            return ""
        return "estimating…" if self.request(cfg, data) else None

    def request(self, cfg: TrainConfig, data: Dataset) -> bool:
        """Estimate this run (once the settings have settled); False when it is the one estimated already."""
        key = (repr(cfg), id(data))
        if key == self._asked:
            return False
        self._asked, self._next, self.estimate = key, (cfg, data), None
        self._timer.start()
        return True

    def cancel(self) -> None:
        """Settings that cannot run, or a run started: no estimate is wanted now."""
        self._timer.stop()
        self._asked = self._next = None
        self._runner.discard()

    def _start(self) -> None:
        if self._next is None:
            return
        cfg, data = self._next

        def work() -> DurationEstimate:
            return estimate_duration(cfg, data)

        self._runner.submit(work, self._done, self._failed)

    def _done(self, estimate: DurationEstimate) -> None:
        self.estimate = estimate
        self.estimated.emit(estimate)

    def _failed(self, failure: Failure) -> None:
        self.failed.emit(failure.message)
