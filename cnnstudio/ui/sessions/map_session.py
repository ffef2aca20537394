"""The embedding map's session: the current model's map of its test set, computed in the background, and
the Draw page's drawing placed on it as a live point.

It observes the app's current model. The map is computed when the view asks (the Map tab is shown), from
the cache when the same model and pictures were mapped before (core/inspection/embedding_map.py), with
progress and Cancel. A newer model makes the map in flight stale: it stops at its next check.

The map works on its own copy of the model: reading features hooks the model's last linear layer, and the
Draw and Evaluate pages run the shared model on other threads at the same time (their passes would be
caught by the hook). The drawing's live point uses the same copy, on a stream of its own where only the
newest drawing matters.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from PySide6.QtCore import QObject, Signal

from cnnstudio.core.model_context import ModelContext
from cnnstudio.ui.state import AppState
from cnnstudio.ui.tasks import Failure, LatestRunner
from cnnstudio.ui.values import LivePoint, MapProgress, MapShown

__all__ = ["LivePoint", "MapProgress", "MapSession", "MapShown", "compute", "place"]


def compute(context: ModelContext, report: Callable[[MapProgress], None], cancelled: Callable[[], bool]) -> MapShown:
    """Background: the map of the context's test set, with the model's own copy for it."""
    from cnnstudio.core.inference import Predictor
    from cnnstudio.core.inspection.embedding_map import compute_map

    dataset = context.dataset
    assert dataset is not None, "MapSession.compute asks for a dataset instead when there is none"
    own = Predictor(context.predictor.checkpoint)
    emap = compute_map(context.path, dataset, predictor=own, split="test", cancelled=cancelled,
                       progress=lambda done, total, what: report(MapProgress(round(done / total, 2), what)))
    summary = context.summary
    return MapShown(emap, dataset.test_images, f"{summary.model_name} on {summary.dataset_title}", own)


def place(shown: MapShown, pixels: np.ndarray) -> LivePoint:
    """Background: the drawing's point on the map, and what the model predicts for it."""
    from cnnstudio.core.inspection.embedding_map import place_pixels

    placed = place_pixels(shown.emap, shown.predictor, pixels)
    x, y = (float(v) for v in placed.xy[0])
    return LivePoint((x, y), shown.emap.classes[int(placed.predictions[0])])


class MapSession(QObject):
    progress = Signal(object)  # MapProgress
    ready = Signal(object)  # MapShown
    failed = Signal(str)
    cancelled = Signal()
    needsModel = Signal(str)  # why there is no map to compute (no model, no test set)
    livePoint = Signal(object)  # LivePoint

    def __init__(self, state: AppState, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.state = state
        self.shown: MapShown | None = None
        self.active = False  # the view is on screen: a new model's map is computed at once
        self.drawing: np.ndarray | None = None  # the last drawing's prepared pixels (C, H, W)
        self._runner = LatestRunner(self)
        self._live = LatestRunner(self)
        model = state.model
        model.loadingStarted.connect(lambda _path: self._forget("Loading the model…"))
        model.loaded.connect(lambda _context: self._on_model())
        model.cleared.connect(lambda: self._forget("No model yet: train one, or open a run on the Runs page."))

    @property
    def busy(self) -> bool:
        return self._runner.busy

    def set_active(self, active: bool) -> None:
        """The view is shown (True) or hidden: shown without a map, it computes one."""
        self.active = bool(active)
        if self.active and self.shown is None and not self._runner.busy:
            self.compute()

    def compute(self) -> None:
        """The current model's map of its test set, in the background (from the cache when it is there)."""
        context = self.state.model.context
        if context is None:
            self.needsModel.emit("No model yet: train one, or open a run on the Runs page.")
            return
        if context.dataset is None:
            self.needsModel.emit(context.dataset_note or "The model's test set is not loaded.")
            return
        self._runner.submit(lambda report, cancelled: compute(context, report, cancelled), self._on_ready,
                            self._on_failed, on_progress=self.progress.emit, on_cancelled=self.cancelled.emit)
        self.progress.emit(MapProgress(0.0, "starting"))

    def cancel(self) -> None:
        self._runner.cancel()

    def on_drawing(self, pixels: np.ndarray | None) -> None:
        """The Draw page's prepared drawing (None: cleared): placed on the map when there is one."""
        self.drawing = None if pixels is None else np.array(pixels, dtype=np.uint8)
        self._place()

    def _place(self) -> None:
        shown, pixels = self.shown, self.drawing
        if shown is None or pixels is None or pixels.shape != tuple(shown.predictor.input_shape):
            self._live.discard()
            self.livePoint.emit(LivePoint(None))
            return
        self._live.submit(lambda: place(shown, pixels), self.livePoint.emit,
                          lambda failure: self.livePoint.emit(LivePoint(None)))

    def _on_model(self) -> None:
        self._forget("")
        if self.active:
            self.compute()

    def _forget(self, why: str) -> None:
        self._runner.discard()
        self._live.discard()
        self.shown = None
        if why:
            self.needsModel.emit(why)
        self.livePoint.emit(LivePoint(None))

    def _on_ready(self, shown: MapShown) -> None:
        self.shown = shown
        self.ready.emit(shown)
        self._place()

    def _on_failed(self, failure: Failure) -> None:
        self.failed.emit(failure.message)

    def shutdown(self) -> None:
        self._runner.close()
        self._live.close()
