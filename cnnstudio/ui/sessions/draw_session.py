"""The Draw page's session: which model predicts, and one prediction stream for the drawing or a picture.

Every input goes through the core's single preprocessing path (Predictor.predict_image ->
prepare_image), so what the page shows is exactly what `cnnstudio predict` says about the same picture.
Predictions run on a LatestRunner in "answer each stroke" mode (supersede=False): the stroke in flight
still answers, only the newest pending stroke runs next, so the GUI never waits and never builds a
backlog. A new context (another model, a cleared page, another picture) discards what was asked before.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING
from collections.abc import Callable

import numpy as np
from PySide6.QtCore import QObject, Signal

from cnnstudio.core.inference import Prediction, Predictor
from cnnstudio.core.model_context import ModelContext
from cnnstudio.ui.state import AppState
from cnnstudio.ui.tasks import Failure, LatestRunner

if TYPE_CHECKING:
    from PIL import Image

TOP_K = 5
DISPLAY_MAX = 1024  # a loaded picture is shown from a thumbnail of at most this many pixels a side


@dataclass(frozen=True)
class OpenedPicture:
    """A picture file as the core opens it (what is classified), with a thumbnail to show."""

    image: Image.Image
    display: np.ndarray  # uint8 RGBA (H, W, 4), at most DISPLAY_MAX a side
    name: str
    path: str


def open_for_display(path: str) -> OpenedPicture:
    """Background: the picture as the core opens it, plus a display thumbnail as numpy."""
    from PIL import Image

    from cnnstudio.core.preparation import open_image

    img = open_image(path)
    thumb = img.copy()
    thumb.thumbnail((DISPLAY_MAX, DISPLAY_MAX), Image.Resampling.LANCZOS)
    return OpenedPicture(img, np.asarray(thumb.convert("RGBA")), Path(path).name, path)


class DrawSession(QObject):
    """State and background calls of the Draw page; no widgets."""

    modelChanged = Signal(object)  # the Predictor now in use (None: no model)
    modelLoading = Signal(str)
    modelFailed = Signal(str, str)  # path, message: the previous model, if any, stays
    predicted = Signal(object)  # core.inference.Prediction
    predictionFailed = Signal(str)
    imageOpened = Signal(object)  # OpenedPicture
    imageFailed = Signal(str)

    def __init__(self, state: AppState, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.state = state
        self.predictor: Predictor | None = None
        self._predictions = LatestRunner(self)
        self._files = LatestRunner(self)
        model = state.model
        model.loadingStarted.connect(self.modelLoading)
        model.loaded.connect(self._on_model)
        model.failed.connect(self.modelFailed)
        model.cleared.connect(lambda: self._on_model(None))
        if model.context is not None:
            self.predictor = model.context.predictor

    @property
    def loading(self) -> bool:
        return self.state.model.loading

    @property
    def busy(self) -> bool:
        return self.loading or self._predictions.busy or self._files.busy

    @property
    def checkpoint_path(self) -> str | None:
        return self.state.model.path

    def set_checkpoint(self, path: str | None) -> None:
        self.state.set_checkpoint(str(path) if path else None)

    def _on_model(self, context: ModelContext | None) -> None:
        self._predictions.discard()  # answers of the previous model are stale
        self.predictor = None if context is None else context.predictor
        self.modelChanged.emit(self.predictor)

    def new_context(self) -> None:
        """The input changed in kind (cleared, another picture): what was asked before is stale."""
        self._predictions.discard()

    def predict(self, current_input: Callable[[], tuple[Image.Image | np.ndarray, str]]) -> None:
        """Predict the page's input in the background; `predicted` follows.

        current_input() returns (data, source): the canvas as numpy ("drawing") or a picture ("image").
        It is called on the GUI thread when the prediction starts, so while one runs, a burst of strokes
        costs one read of the canvas, for the newest state, not one per stroke.
        """
        self._predictions.submit_latest(lambda: self._call_for(*current_input()), self._on_predicted,
                                        self._on_prediction_failed, supersede=False)

    def _call_for(self, data: Image.Image | np.ndarray, source: str) -> Callable[[], Prediction] | None:
        predictor = self.predictor
        if predictor is None:
            return None
        # One intra-op thread for one small image (tasks.py sets it for every background call): as fast as
        # two on an idle machine, and with the cores busy two OpenMP threads wait on each other and a 1 ms
        # inference takes 20-70 ms.
        return lambda: predictor.predict(data, source, TOP_K)

    def clear_prediction(self) -> None:
        """A blank page: the neutral state at once, never a guess (and late results are dropped)."""
        self.new_context()
        self.predicted.emit(Prediction.nothing("drawing"))

    def _on_predicted(self, prediction: Prediction) -> None:
        self.predicted.emit(prediction)

    def _on_prediction_failed(self, failure: Failure) -> None:
        self.predictionFailed.emit(failure.message)

    def open_image(self, path: str) -> None:
        self._files.submit(lambda: open_for_display(str(path)), self.imageOpened.emit,
                           lambda failure: self.imageFailed.emit(failure.message))

    def shutdown(self) -> None:
        self._predictions.close()
        self._files.close()
