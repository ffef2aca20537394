"""Classifying a folder from the app: the core's classify_folder with the model in use, in the background.

Progress is reported per image (throttled by the task: only changed values cross to the GUI thread);
Cancel keeps what was classified so far. The result can be shown on the Evaluate page when the folder
is sorted into class subfolders (EvaluateSession.show_folder).
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING

from PySide6.QtCore import QObject, Signal

from cnnstudio.ui.tasks import IsCancelled, Report, Task, run_in_background

if TYPE_CHECKING:  # both import torch: only their types are needed here
    from cnnstudio.core.classify import FolderClassification
    from cnnstudio.core.inference import Predictor


class ClassifySession(QObject):
    started = Signal(str)  # the folder
    progress = Signal(int, int)  # images done, total
    finished = Signal(object)  # cnnstudio.core.classify.FolderClassification (.cancelled when stopped early)
    failed = Signal(str)

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.result: FolderClassification | None = None
        self.predictor: Predictor | None = None
        self._task: Task | None = None
        # The user's Stop: the core call returns what it has (a Task's cancel would drop the result).
        self._stop = threading.Event()

    @property
    def running(self) -> bool:
        return self._task is not None and self._task.running

    def start(self, predictor: Predictor, folder: str) -> bool:
        """Classify every image below `folder` with a core Predictor; False while a run is going."""
        if self.running:
            return False
        self.predictor, self.result = predictor, None
        stop = self._stop = threading.Event()

        def work(report: Report[tuple[int, int]], is_cancelled: IsCancelled) -> FolderClassification:
            from cnnstudio.core.classify import classify_folder

            # The percentage is what is shown: reporting it (not every image) keeps the signals few.
            def progress(done: int, total: int) -> None:
                report((done if done == total else done - done % max(1, total // 200), total))

            return classify_folder(predictor, folder, progress=progress,
                                   cancelled=lambda: stop.is_set() or is_cancelled())

        # Bound methods, not lambdas: Qt drops their connections if the session is deleted first.
        self._task = run_in_background(work, self._on_done, self._on_failed, on_progress=self._on_progress)
        self.started.emit(folder)
        return True

    def cancel(self) -> None:
        """Stop after the current image; the images done so far are still delivered."""
        self._stop.set()

    def _on_done(self, result: FolderClassification) -> None:
        self.result = result
        self.finished.emit(result)

    def _on_failed(self, message: str, details: str) -> None:
        self.failed.emit(message)

    def _on_progress(self, value: tuple[int, int]) -> None:
        self.progress.emit(*value)
