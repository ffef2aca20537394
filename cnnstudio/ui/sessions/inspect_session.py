"""The Inspect page's session: which model is looked inside, and its three background streams.

The model is the app's current model (loaded once for every page) or, while "Update during training" is
on, the run's last.pt reloaded after each epoch (a copy of the weights, never the trainer's live model).
Three LatestRunners replace the page's old generation counters: inspections (an input with the chosen
heatmap settings), filter mosaics (a layer with a contrast), and picture framing. A newer request
supersedes an older one, whose result is dropped; a new model discards everything asked of the old one.
Workers return numpy arrays ready to draw (cnnstudio.core.inspection.mosaic).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from PySide6.QtCore import QObject, Signal

from cnnstudio.core.model_context import ModelContext
from cnnstudio.ui.sessions.explain_session import ExplainSession
from cnnstudio.ui.state import AppState
from cnnstudio.ui.tasks import LatestRunner

if TYPE_CHECKING:
    from PIL import Image

    from cnnstudio.core.datasets.base import Dataset
    from cnnstudio.core.preparation import PreparedImage
    from cnnstudio.core.inspection.mosaic import FilterMosaic, InspectionResult


@dataclass(frozen=True)
class InspectRequest:
    """What to compute for one input: the heatmap's method, layer and class, and the maps' brightness."""

    pixels: np.ndarray  # uint8 (C, H, W), exactly what the model sees
    cam_key: str | None  # the Grad-CAM layer (None: the default, or saliency)
    target: int | None  # the class to explain (None: the predicted one)
    saliency: bool
    levels: str  # "map" or "layer"


@dataclass(frozen=True)
class InspectInput:
    """What is inspected now: the pixels the model sees (None: nothing yet, and why) and what they are."""

    kind: str  # "test", "image" or "drawing"
    pixels: np.ndarray | None  # uint8 (C, H, W)
    description: str
    true_class: int | None = None  # a test image's label


@dataclass(frozen=True)
class Inspected:
    """An inspection and the request it answers (the view keeps the heatmap's settings with it)."""

    result: InspectionResult
    request: InspectRequest


def load_live_context(path: str, app_dataset: Dataset | None) -> ModelContext:
    """Background: a training run's last.pt as a ModelContext marked live."""
    from cnnstudio.core.model_context import load_context

    return load_context(path, app_dataset, live=True)


class InspectSession(QObject):
    modelLoading = Signal(str)
    modelLoaded = Signal(object)  # ModelContext (context.live: a training run's last.pt)
    modelFailed = Signal(str, str)  # path, message
    modelCleared = Signal()
    inspected = Signal(object)  # Inspected
    inspectFailed = Signal(str)
    filtersReady = Signal(object)  # core.inspection.mosaic.FilterMosaic: a layer's weights or top patches
    filtersFailed = Signal(str)
    inputChosen = Signal(object)  # InspectInput: what to inspect now
    inputRefused = Signal(str)  # an input that cannot be shown (the shown one stays)
    imageOpened = Signal(object, str)  # PIL image, name
    imageFailed = Signal(str)

    def __init__(self, state: AppState, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.state = state
        self.context: ModelContext | None = None
        # The input: a test image (by number), a picture (re-framed when the model changes), or the Draw
        # page's latest prepared input.
        self.input_kind = "test"
        self.test_index = 0
        self.input_name = ""
        self._raw_image: Image.Image | np.ndarray | None = None
        self._drawing: np.ndarray | None = None
        self._deferred: str | None = None  # an epoch's last.pt, loaded when the page is shown
        # A model chosen since (the run's best.pt when it ends, or "Use this model" on the Runs page) makes
        # an epoch's last.pt waiting for the page to be shown stale: it must not replace the choice.
        state.checkpointChanged.connect(lambda _path: setattr(self, "_deferred", None))
        self._live = LatestRunner(self)
        self._inspections = LatestRunner(self)
        self._filters = LatestRunner(self)
        self._images = LatestRunner(self)
        self.explain = ExplainSession(self)  # the Compare tab: several attribution methods, the sanity check
        model = state.model
        model.loadingStarted.connect(self._on_loading)
        model.loaded.connect(self._use)
        model.failed.connect(self.modelFailed)
        model.cleared.connect(self._on_cleared)
        if model.context is not None:
            self.context = model.context
            self.explain.set_context(model.context)

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
        self._deferred = None
        self.state.set_checkpoint(str(path) if path else None)

    def training_epoch(self, path: str, now: bool) -> None:
        """A training epoch saved last.pt: reload it now, or (now=False: the page is hidden) when shown."""
        if now:
            self.load_live(path)
        else:
            self._deferred = str(path)

    def load_deferred(self) -> None:
        """The page is shown: load the epoch's last.pt that waited for it, if any."""
        if self._deferred:
            path, self._deferred = self._deferred, None
            self.load_live(path)

    def load_live(self, path: str) -> None:
        """Reload a training run's last.pt (after an epoch)."""
        app_dataset = self.state.dataset
        self.modelLoading.emit(str(path))
        self._live.submit(lambda: load_live_context(str(path), app_dataset), self._use,
                          lambda failure: self.modelFailed.emit(str(path), failure.message))

    def _on_loading(self, path: str) -> None:
        self._live.discard()  # the app's model wins over a training reload still on its way
        self.modelLoading.emit(path)

    def _on_cleared(self) -> None:
        self._discard_all()
        self.context = None
        self.explain.set_context(None)
        self.modelCleared.emit()

    def _use(self, context: ModelContext) -> None:
        self._discard_all()
        self.context = context
        self.explain.set_context(context)
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
        ds = self.context.dataset if self.context is not None else None
        assert ds is not None, "test_count() is 0 without a model or its dataset"
        return ds.test_images[index].numpy(), int(ds.test_labels[index]), n

    # -- inspections and filters --------------------------------------------------------------------
    def inspect(self, request: InspectRequest) -> None:
        ctx = self.context
        if ctx is None:
            return

        def work() -> Inspected:
            from cnnstudio.core.inspection.mosaic import inspect_sections

            result = inspect_sections(ctx.predictor, request.pixels, request.cam_key, request.target,
                                      request.saliency, request.levels)
            return Inspected(result, request)

        self._inspections.submit(work, self.inspected.emit,
                                 lambda failure: self.inspectFailed.emit(failure.message))

    def show_filters(self, key: str, per_filter: bool) -> bool:
        """Compute a layer's weight mosaic (filtersReady follows); False when there is no model."""
        ctx = self.context
        if ctx is None:
            return False

        def work() -> FilterMosaic:
            from cnnstudio.core.inspection.mosaic import filter_mosaic

            return replace(filter_mosaic(ctx.predictor.model, key, per_filter), key=key)

        self._filters.submit(work, self.filtersReady.emit, lambda failure: self.filtersFailed.emit(failure.message))
        return True

    def show_patches(self, key: str, kind: str = "patches") -> bool:
        """What each channel of layer `key` responds to (filtersReady follows): its top test-image patches
        (kind "patches", searched in the background), or a picture synthesised to excite it (kind "synthesised",
        activation maximisation on a copy of the model). False when nothing was started."""
        ctx = self.context
        if ctx is None:
            return False
        if kind == "synthesised":
            def synthesise() -> FilterMosaic:
                from cnnstudio.core.inspection.maximise import maximise_channels, synthesis_mosaic
                from cnnstudio.core.inspection.methods import private_copy

                summary = ctx.summary
                # Its own copy: the hooks and passes of a long optimisation never meet an inspection's.
                result = maximise_channels(private_copy(ctx.predictor.model), key, ctx.input_shape, summary.mean,
                                           summary.std)
                return replace(synthesis_mosaic(result), key=key)

            self._filters.submit(synthesise, self.filtersReady.emit,
                                 lambda failure: self.filtersFailed.emit(failure.message))
            return True
        if ctx.dataset is None or not len(ctx.dataset.test_labels):
            self.filtersFailed.emit("this model has no test images to search; open its dataset on the Data page "
                                    "or show the weights instead")
            return False

        dataset = ctx.dataset

        def work() -> FilterMosaic:
            from cnnstudio.core.inspection.patches import patch_mosaic, top_patches

            result = top_patches(ctx.predictor.model, key, dataset.test_images, ctx.predictor.normalise)
            return replace(patch_mosaic(result), key=key)

        self._filters.submit(work, self.filtersReady.emit, lambda failure: self.filtersFailed.emit(failure.message))
        return True

    # -- the input ----------------------------------------------------------------------------------
    def show_input(self) -> None:
        """Choose the current input again (after a model load: framed for this model); inputChosen follows."""
        if self.input_kind == "drawing":
            self.set_drawing(self._drawing)
        elif self.input_kind == "image" and self._raw_image is not None:
            self.show_image(self._raw_image, self.input_name)
        else:
            self.show_test(self.test_index)

    def choose_test(self, index: int) -> None:
        """Make test image `index` the input (shown by show_input or show_test)."""
        self.input_kind, self.test_index, self._raw_image = "test", int(index), None

    def show_test(self, index: int) -> None:
        self.choose_test(index)
        if self.context is None:
            return  # shown once the model is loaded
        picked = self.test_image(self.test_index)
        if isinstance(picked, str):
            if self.test_count():
                self.inputRefused.emit(picked)  # out of range: the shown image stays
            else:
                self.inputChosen.emit(InspectInput("test", None, picked))
            return
        pixels, label, n = picked
        self.input_name = f"test image {self.test_index}"
        self.inputChosen.emit(InspectInput("test", pixels, f"Test image {self.test_index} of {n:,} · true class: "
                                                          f"{self.context.classes[label]}", label))

    def step_test(self, step: int) -> None:
        n = self.test_count()
        if n:
            self.show_test((self.test_index + step) % n if self.input_kind == "test" else self.test_index)

    def random_test(self) -> None:
        n = self.test_count()
        if n:
            self.show_test(int(np.random.default_rng().integers(0, n)))

    def follow_drawing(self) -> None:
        self.input_kind = "drawing"
        self.set_drawing(self._drawing)

    def set_drawing(self, pixels: np.ndarray | None) -> None:
        """The Draw page's prepared input (None when nothing is drawn); chosen while following it."""
        self._drawing = None if pixels is None else np.ascontiguousarray(pixels, dtype=np.uint8)
        if self.input_kind != "drawing":
            return
        self.input_name = "the drawing"
        if self._drawing is None:
            chosen = InspectInput("drawing", None, "Draw something on the Draw page (7  Draw): it appears here as "
                                                   "the model sees it.")
        elif self.context is not None and tuple(self._drawing.shape) != self.context.input_shape:
            chosen = InspectInput("drawing", None, "The drawing was prepared for another model; draw again.")
        else:
            chosen = InspectInput("drawing", self._drawing, "The drawing from the Draw page, framed like the "
                                                             "training images.")
        self.inputChosen.emit(chosen)

    def choose_image(self, image: Image.Image | np.ndarray, name: str) -> None:
        """Make a picture the input (shown by show_input or show_image)."""
        self.input_kind, self._raw_image, self.input_name = "image", image, name

    def show_image(self, image: Image.Image | np.ndarray, name: str) -> None:
        """A picture: a uint8 (C, H, W) array of the model's input shape is used as it is; anything else is
        framed like the training images (Predictor.prepare), in the background."""
        from cnnstudio.core.framing import describe_preparation

        self.choose_image(image, name)
        ctx = self.context
        if ctx is None:
            return  # framed once the model is loaded
        if isinstance(image, np.ndarray) and image.dtype == np.uint8 and image.ndim == 3 \
                and tuple(image.shape) == ctx.input_shape:
            self.inputChosen.emit(InspectInput("image", np.ascontiguousarray(image),
                                               f"{name}, as given ({'×'.join(map(str, image.shape))})"))
            return
        predictor = ctx.predictor

        def framed(prepared: PreparedImage) -> None:
            if self.input_kind != "image" or self.context is None:
                return
            how = describe_preparation(self.context.predictor.framing, prepared.inverted)
            note = " (it looks empty to the model)" if prepared.empty else ""
            self.inputChosen.emit(InspectInput("image", prepared.pixels,
                                               f"{name}: framed like the training images ({how}){note}"))

        self._images.submit(lambda: predictor.prepare(image), framed,
                            lambda failure: self.imageFailed.emit(f"Cannot use {name}: {failure.message}"))

    def describe_model(self, last_ms: float) -> str:
        """The model line: its name, the run folder, the epoch while training, the last inspection's time."""
        ctx = self.context
        if ctx is None:
            return ""
        path = Path(ctx.path)
        when = f", after epoch {ctx.predictor.checkpoint.get('epoch', '?')} (training)" if ctx.live else ""
        ms = f" · inspected in {last_ms:.0f} ms" if last_ms else ""
        return f"Model {ctx.summary.model_name} · {path.parent.name}/{path.name}{when}{ms}"

    # -- pictures -------------------------------------------------------------------------------------

    def open_image(self, path: str, name: str) -> None:
        def work() -> Image.Image:
            from cnnstudio.core.preparation import open_image

            return open_image(path)

        self._images.submit(work, lambda image: self.imageOpened.emit(image, name),
                            lambda failure: self.imageFailed.emit(failure.message))

    def shutdown(self) -> None:
        for runner in (self._live, self._inspections, self._filters, self._images):
            runner.close()
        self.explain.shutdown()
