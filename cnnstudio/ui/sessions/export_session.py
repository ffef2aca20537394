"""Exporting a model from the app: one export at a time, in the background, with progress and Cancel.

The export itself is the core's (cnnstudio.core.export.export_model), the same call `cnnstudio export`
makes. The session hands it the app's loaded dataset when that is the model's (no second copy is loaded
for the parity check) and turns its progress into signals; it never touches a widget.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtCore import QObject, Signal

from cnnstudio.ui.state import AppState
from cnnstudio.ui.tasks import IsCancelled, Report, Task, run_in_background
from cnnstudio.ui.values import ExportRequest

if TYPE_CHECKING:  # imports torch: only its type is needed here
    from cnnstudio.core.export.exporter import ExportResult


__all__ = ["ExportRequest", "ExportSession"]  # the request is the session's input: importable from here too


class ExportSession(QObject):
    started = Signal(object)  # ExportRequest
    progress = Signal(float, str)  # fraction done, what is happening
    finished = Signal(object)  # cnnstudio.core.export.ExportResult (ok or not: the result says)
    failed = Signal(str)  # why nothing was exported
    cancelled = Signal()

    def __init__(self, state: AppState, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.state = state
        self.result: ExportResult | None = None
        self._task: Task | None = None

    @property
    def running(self) -> bool:
        return self._task is not None and self._task.running

    def start(self, request: ExportRequest) -> bool:
        """Start exporting; False (and nothing starts) while an export is running."""
        if self.running:
            return False
        from cnnstudio.core.model_context import dataset_fits

        app_dataset = self.state.dataset
        self.result = None

        def work(report: Report[tuple[float, str]], is_cancelled: IsCancelled) -> ExportResult:
            from cnnstudio.core.checkpoint import load_checkpoint
            from cnnstudio.core.export import export_model

            checkpoint = load_checkpoint(request.checkpoint)
            dataset = app_dataset if app_dataset is not None and dataset_fits(checkpoint, app_dataset) else None
            return export_model(checkpoint, request.format, request.out, int8=request.int8, bundle=request.bundle,
                                overwrite=request.overwrite, source=request.checkpoint, dataset=dataset,
                                progress=lambda fraction, text: report((round(fraction, 2), text)),
                                cancelled=is_cancelled)

        # Bound methods, not lambdas: Qt drops their connections if the session is deleted first.
        self._task = run_in_background(work, self._on_done, self._on_failed, on_progress=self._on_progress)
        self._task.cancelled.connect(self.cancelled)
        self.started.emit(request)
        return True

    def cancel(self) -> None:
        if self._task is not None:
            self._task.cancel()

    def _on_done(self, result: ExportResult) -> None:
        self.result = result
        self.finished.emit(result)

    def _on_failed(self, message: str, details: str) -> None:
        self.failed.emit(message)

    def _on_progress(self, value: tuple[float, str]) -> None:
        self.progress.emit(*value)
