"""The Inspect page's session: which model is looked inside, and its three background streams.

The model is the app's current model (loaded once for every page) or, while "Update during training" is
on, the run's last.pt reloaded after each epoch (a copy of the weights, never the trainer's live model).
Three LatestRunners replace the page's old generation counters: inspections (an input with the chosen
heatmap settings), filter mosaics (a layer with a contrast), and picture framing. A newer request
supersedes an older one, whose result is dropped; a new model discards everything asked of the old one.
Workers return numpy arrays ready to draw (cnnstudio.core.inspection.mosaic).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from PySide6.QtCore import QObject, Signal

from cnnstudio.ui.state import AppState
from cnnstudio.ui.tasks import LatestRunner


@dataclass(frozen=True)
class InspectRequest:
    """What to compute for one input: the heatmap's method, layer and class, and the maps' brightness."""

    pixels: np.ndarray  # uint8 (C, H, W), exactly what the model sees
    cam_key: str | None  # the Grad-CAM layer (None: the default, or saliency)
    target: int | None  # the class to explain (None: the predicted one)
    saliency: bool
    levels: str  # "map" or "layer"


def load_live_context(path: str, app_dataset: Any) -> Any:
    """Background: a training run's last.pt as a ModelContext marked live."""
    from cnnstudio.ui.checkpoint_data import load_context

    context = load_context(path, app_dataset)
    context.live = True
    return context


class InspectSession(QObject):
    modelLoading = Signal(str)
    modelLoaded = Signal(object)  # ModelContext (context.live: a training run's last.pt)
    modelFailed = Signal(str, str)  # path, message
    modelCleared = Signal()
    inspected = Signal(object)  # {"inspection", "sections", "cam_note", "ms", "request"}
    inspectFailed = Signal(str)
    filtersReady = Signal(object)  # {"kind": "weights", "grid", ...} or {"kind": "patches", "patches", ...}
    filtersFailed = Signal(str)
    imagePrepared = Signal(object, str)  # PreparedImage, name
    imageOpened = Signal(object, str)  # PIL image, name
    imageFailed = Signal(str)

    def __init__(self, state: AppState, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.state = state
        self.context: Any = None
        self._live = LatestRunner(self)
        self._inspections = LatestRunner(self)
        self._filters = LatestRunner(self)
        self._images = LatestRunner(self)
        model = state.model
        model.loadingStarted.connect(self._on_loading)
        model.loaded.connect(self._use)
        model.failed.connect(self.modelFailed)
        model.cleared.connect(self._on_cleared)
        if model.context is not None:
            self.context = model.context

    @property
    def checkpoint_path(self) -> str | None:
        return self.state.model.path

    @property
    def loading(self) -> bool:
        return self.state.model.loading or self._live.busy

    @property
    def filters_busy(self) -> bool:
        """A filter mosaic (weights or top patches) is being computed."""
        return self._filters.busy

    @property
    def busy(self) -> bool:
        return self.loading or self._inspections.busy or self._filters.busy or self._images.busy

    # -- the model ----------------------------------------------------------------------------------
    def set_checkpoint(self, path: str | None) -> None:
        self.state.set_checkpoint(str(path) if path else None)

    def load_live(self, path: str) -> None:
        """Reload a training run's last.pt (after an epoch)."""
        app_dataset = self.state.dataset
        self.modelLoading.emit(str(path))
        self._live.submit(lambda: load_live_context(str(path), app_dataset), self._use,
                          lambda failure, p=str(path): self.modelFailed.emit(p, failure.message))

    def _on_loading(self, path: str) -> None:
        self._live.discard()  # the app's model wins over a training reload still on its way
        self.modelLoading.emit(path)

    def _on_cleared(self) -> None:
        self._discard_all()
        self.context = None
        self.modelCleared.emit()

    def _use(self, context: Any) -> None:
        self._discard_all()
        self.context = context
        self.modelLoaded.emit(context)

    def _discard_all(self) -> None:
        for runner in (self._inspections, self._filters, self._images):
            runner.discard()

    # -- the test images -------------------------------------------------------------------------------
    def test_count(self) -> int:
        ctx = self.context
        return len(ctx.dataset.test_labels) if ctx is not None and ctx.dataset is not None else 0

    def test_image(self, index: int) -> tuple[np.ndarray, int, int] | str:
        """Test image `index` of the model's test set as (pixels, true class, count), or why there is none."""
        n = self.test_count()
        if not n:
            return "No test set for this model: open, paste or draw an image."
        if not 0 <= index < n:
            return f"There is no test image {index}: the test set has {n:,} (0 to {n - 1})."
        ds = self.context.dataset
        return ds.test_images[index].numpy(), int(ds.test_labels[index]), n

    # -- inspections and filters --------------------------------------------------------------------
    def inspect(self, request: InspectRequest) -> None:
        ctx = self.context
        if ctx is None:
            return

        def work() -> dict[str, Any]:
            from cnnstudio.core.inspection.mosaic import inspect_sections

            result = inspect_sections(ctx.predictor, request.pixels, request.cam_key, request.target,
                                      request.saliency, request.levels)
            return {**result, "request": request}

        self._inspections.submit(work, self.inspected.emit,
                                 lambda failure: self.inspectFailed.emit(failure.message))

    def show_filters(self, key: str, per_filter: bool) -> None:
        ctx = self.context
        if ctx is None:
            return

        def work() -> dict[str, Any]:
            from cnnstudio.core.inspection.mosaic import filter_mosaic

            return {**filter_mosaic(ctx.predictor.model, key, per_filter), "key": key, "kind": "weights"}

        self._filters.submit(work, self.filtersReady.emit, lambda failure: self.filtersFailed.emit(failure.message))

    def show_patches(self, key: str) -> None:
        """What each channel of layer `key` responds to: its top test-image patches (filtersReady with
        kind "patches"), searched in the background."""
        ctx = self.context
        if ctx is None:
            return
        if ctx.dataset is None or not len(ctx.dataset.test_labels):
            self.filtersFailed.emit("this model has no test images to search; open its dataset on the Data page "
                                    "or show the weights instead")
            return

        def work() -> dict[str, Any]:
            from cnnstudio.core.inspection.patches import patch_mosaic, top_patches

            result = top_patches(ctx.predictor.model, key, ctx.dataset.test_images, ctx.predictor.normalise)
            return {**patch_mosaic(result), "patches": result, "key": key, "kind": "patches"}

        self._filters.submit(work, self.filtersReady.emit, lambda failure: self.filtersFailed.emit(failure.message))

    # -- pictures -------------------------------------------------------------------------------------
    def prepare_image(self, image: Any, name: str) -> None:
        """Frame a picture like the training images (Predictor.prepare), in the background."""
        predictor = self.context.predictor
        self._images.submit(lambda: predictor.prepare(image), lambda prepared: self.imagePrepared.emit(prepared, name),
                            lambda failure: self.imageFailed.emit(f"Cannot use {name}: {failure.message}"))

    def open_image(self, path: str, name: str) -> None:
        def work() -> Any:
            from cnnstudio.core.preparation import open_image

            return open_image(path)

        self._images.submit(work, lambda image: self.imageOpened.emit(image, name),
                            lambda failure: self.imageFailed.emit(failure.message))

    def shutdown(self) -> None:
        for runner in (self._live, self._inspections, self._filters, self._images):
            runner.close()
