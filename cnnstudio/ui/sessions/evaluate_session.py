"""The Evaluate page's session: the current model evaluated on its test set, in the background.

It observes the app's current model (loaded once for every page). When the model's test set is known it
runs the core's one evaluation (cnnstudio.core.metrics.evaluate) in chunks, reporting progress; a newer
model makes the evaluation in flight stale, and it stops at its next chunk. When the test set is not
available, `needsDataset` says what to load; the model is evaluated once the app loads it.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
from PySide6.QtCore import QObject, Signal

from cnnstudio.core.model_context import ModelContext
from cnnstudio.ui.sessions.map_session import MapSession
from cnnstudio.ui.state import AppState
from cnnstudio.ui.tasks import LatestRunner

if TYPE_CHECKING:  # imports torch: only its type is needed here
    from cnnstudio.core.classify import FolderClassification
    from cnnstudio.core.metrics import Evaluation

EVAL_CHUNK = 1000  # test images per progress step (and per check for a newer model)


@dataclass(frozen=True)
class EvaluationResult:
    context: ModelContext
    evaluation: Evaluation
    images: np.ndarray  # uint8 (N, C, H, W): the test images, for the gallery
    seconds: float
    # "" for the model's test split; else what was evaluated instead (a classified folder: "the folder
    # photos"), whose images are not test images (the page then offers no "open in Inspect").
    source: str = ""


def evaluate_context(context: ModelContext, report=None, cancelled=None) -> EvaluationResult | None:
    """Background: the core's evaluation of a loaded model on its test set (None if cancelled)."""
    import torch

    from cnnstudio.core.metrics import evaluate

    ds, p = context.dataset, context.predictor
    assert ds is not None, "EvaluateSession.evaluate asks for a dataset instead when there is none"
    start = time.perf_counter()
    evaluation = evaluate(p.model, ds.test_images, ds.test_labels, p.classes, p.normalise, torch.device("cpu"),
                          batch_size=500, chunk=EVAL_CHUNK, progress=report, cancelled=cancelled)
    if evaluation is None:
        return None
    return EvaluationResult(context, evaluation, ds.test_images.numpy(), time.perf_counter() - start)


class EvaluateSession(QObject):
    loading = Signal(str)  # checkpoint path
    progress = Signal(int, int)  # images done, total
    evaluated = Signal(object)  # EvaluationResult
    failed = Signal(str)
    needsDataset = Signal(str)  # what to load before this model can be evaluated
    cleared = Signal()

    def __init__(self, state: AppState, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.state = state
        self.result: EvaluationResult | None = None
        self.context: ModelContext | None = None  # the model being (or last) evaluated
        self._runner = LatestRunner(self)
        self.map = MapSession(state, self)  # the Map tab: the test set laid out by the model's features
        model = state.model
        model.loadingStarted.connect(self._on_loading)
        model.loaded.connect(self.evaluate)
        model.failed.connect(lambda path, message: self._fail(message))
        model.cleared.connect(self._on_cleared)

    @property
    def busy(self) -> bool:
        return self._runner.busy or self.state.model.loading

    @property
    def checkpoint_path(self) -> str | None:
        return self.state.model.path

    def _on_loading(self, path: str) -> None:
        self._runner.discard()  # an evaluation of the previous model is stale: it stops at its next chunk
        self.loading.emit(path)

    def _on_cleared(self) -> None:
        self._runner.discard()
        self.result = self.context = None
        self.cleared.emit()

    def evaluate(self, context: ModelContext) -> None:
        """Evaluate a loaded model on its test set (or say which dataset it needs)."""
        self.context = context
        if context.dataset is None:
            self._runner.discard()
            self.needsDataset.emit(context.dataset_note)
            return
        self._runner.submit(lambda report, cancelled: evaluate_context(context, report, cancelled),
                            self._on_evaluated, lambda failure: self._fail(failure.message),
                            on_progress=self._on_progress)

    def _on_progress(self, value: tuple[int, int]) -> None:
        self.progress.emit(*value)

    def show_folder(self, classification: FolderClassification, seconds: float = 0.0) -> bool:
        """Show a classified folder's labelled images (core.classify.FolderClassification) as an
        evaluation of the model in use; False when none of its images is in a class folder."""
        evaluation = classification.evaluation()
        if evaluation is None or self.context is None or classification.pixels is None:
            return False
        self._runner.discard()  # a test-set evaluation in flight would replace it
        from pathlib import Path

        images = classification.pixels[classification.labelled]
        result = EvaluationResult(self.context, evaluation, images, seconds,
                                  source=f"the folder {Path(classification.folder).name}")
        self._on_evaluated(result)
        return True

    def reevaluate(self) -> None:
        if self.context is not None:
            self.evaluate(self.context)

    def _on_evaluated(self, result: EvaluationResult | None) -> None:
        if result is None:
            return  # cancelled: a newer model is on its way
        self.result = result
        self.evaluated.emit(result)

    def _fail(self, message: str) -> None:
        self.failed.emit(message)

    def shutdown(self) -> None:
        self._runner.close()
        self.map.shutdown()
