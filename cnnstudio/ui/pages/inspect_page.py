"""Inspect: look inside the network with one input (a test image, a picture, or the Draw page's drawing),
framed exactly like the training data: the prediction, a heatmap, every layer's feature maps, any convolution's
filters, and several attribution methods compared (the Compare tab, ui/widgets/compare_panel.py).

This module is the view. The model, the inspections, the filter mosaics, picture framing and the comparisons
live in InspectSession (cnnstudio/ui/sessions/inspect_session.py, with its ExplainSession); the mosaics are
computed by the core (cnnstudio/core/inspection/mosaic.py). The Train page's epochs and the Draw page's drawing
reach this page through the main window (on_training_epoch, on_drawing): pages never look each other up.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from PySide6.QtCore import QEvent, Qt, Signal
from PySide6.QtGui import QAction, QImage, QKeySequence
from PySide6.QtWidgets import QFileDialog, QMenu, QStackedWidget, QVBoxLayout, QWidget

from cnnstudio.core.inspection.display import layer_number
from cnnstudio.ui.image_input import IMAGE_FILTER, ImageInputMixin
from cnnstudio.ui.picture_export import PictureExportMixin
from cnnstudio.ui.qimage import qimage_to_numpy
from cnnstudio.ui.compose import app_state
from cnnstudio.ui.state import AppState
from cnnstudio.core.inspection.mosaic import FilterMosaic, MosaicLayout
from cnnstudio.core.model_context import ModelContext
from cnnstudio.ui.sessions.inspect_session import Inspected, InspectInput, InspectRequest, InspectSession
from cnnstudio.ui.widgets.banner import Banner
from cnnstudio.ui.widgets.empty_state import EmptyState
from cnnstudio.ui.widgets.feature_section import FeatureSection
from cnnstudio.ui.widgets.inspect_panels import InspectContent
from cnnstudio.ui.widgets.muted import muted_color, paint_muted

if TYPE_CHECKING:  # torch-heavy: the page works while torch is still loading
    import pyqtgraph as pg
    from PIL import Image
    from cnnstudio.core.training.events import EpochEvent
    from cnnstudio.core.inspection.attribution import Inspection

NO_MODEL = ("Nothing to look inside yet.\n\nTrain a model on the Train page (3  Train) or open a run on the Runs "
            "page (4  Runs). This page then shows its filters, what each layer sees in an image, and where "
            "the model looks when it decides.")


class InspectPage(PictureExportMixin, ImageInputMixin, QWidget):
    """Filters, feature maps, prediction and Grad-CAM of the current model for one input."""

    modelLoaded = Signal(object)  # cnnstudio.core.model_context.ModelContext
    modelFailed = Signal(str)
    inspectionReady = Signal(object)  # cnnstudio.core.inspection.Inspection of the shown input
    filtersReady = Signal(object)  # the FilterGrid (weights), ChannelPatches or ChannelImages (synthesised) shown
    inputChanged = Signal(object)  # uint8 (C, H, W) now inspected, or None
    imageError = Signal(str)  # a picture could not be opened or used (also shown in the banner)

    def __init__(self, state: AppState | None = None, parent: QWidget | None = None):
        super().__init__(parent)
        self.state = state or app_state()
        self.session = InspectSession(self.state, self)
        self.inspection: Inspection | None = None  # the last one shown
        self.input_pixels: np.ndarray | None = None  # uint8 (C, H, W): exactly what the model sees
        self.last_ms = 0.0
        self._true_class: int | None = None

        self.setAcceptDrops(True)
        self._build()
        session = self.session
        session.modelLoading.connect(self._on_loading)
        session.modelLoaded.connect(self._on_loaded)
        session.modelFailed.connect(self._on_load_failed)
        session.modelCleared.connect(lambda: self.stack.setCurrentIndex(0))
        session.inspected.connect(self._on_inspected)
        session.inspectFailed.connect(lambda m: self.banner.show_message(f"Inspection failed: {m}", "error"))
        session.filtersReady.connect(self._on_filters)
        session.filtersFailed.connect(self._on_filters_failed)
        session.modelCleared.connect(lambda: self.filters.set_busy(None))
        session.inputChosen.connect(self._on_input)
        session.inputRefused.connect(lambda message: self.banner.show_message(message, "warning"))
        session.imageOpened.connect(self._on_file_opened)
        session.imageFailed.connect(self._image_failed)
        if session.context is not None:
            self._on_loaded(session.context)

    # The model in use and the filters shown, read from the session and the filter panel.
    @property
    def context(self) -> ModelContext | None:
        return self.session.context

    @property
    def checkpoint_path(self) -> str | None:
        return self.session.checkpoint_path

    @property
    def filter_mosaic(self) -> np.ndarray | None:
        return self.filters.mosaic

    @property
    def filter_layout(self) -> MosaicLayout | None:
        return self.filters.layout_info

    @property
    def filter_tile_count(self) -> int:
        return self.filters.tile_count

    @property
    def filter_item(self) -> pg.ImageItem:
        return self.filters.item

    def filter_text_at(self, y: float, x: float) -> str | None:
        return self.filters.text_at(y, x)

    # ------------------------------------------------------------------------------------------------
    # UI (the layout is widgets/inspect_panels.InspectContent; this page wires it)
    def _build(self) -> None:
        self.banner = Banner()
        self.stack = QStackedWidget()
        self.empty = EmptyState(NO_MODEL)
        self.stack.addWidget(self.empty)
        self.content = content = InspectContent()
        self.stack.addWidget(content)
        self.input_bar, self.explain, self.maps, self.filters, self.tabs = (
            content.input_bar, content.explain, content.maps, content.filters, content.tabs)
        # The controls under the names other code and tests use.
        bar, explain = self.input_bar, self.explain
        self.index_spin, self.count_label = bar.index_spin, bar.count_label
        self.prev_button, self.next_button, self.random_button = bar.prev_button, bar.next_button, bar.random_button
        self.open_button, self.follow_draw_check, self.follow_train_check = (bar.open_button, bar.follow_draw_check,
                                                                             bar.follow_train_check)
        self.input_label, self.model_label = bar.input_label, bar.model_label
        self.headline, self.bars, self.input_view, self.heat_view = (explain.headline, explain.bars, explain.input_view,
                                                                     explain.heat_view)
        self.input_caption, self.cam_caption = explain.input_caption, explain.cam_caption
        self.class_combo, self.method_combo = explain.class_combo, explain.method_combo
        self.cam_layer_combo, self.alpha_slider = explain.cam_layer_combo, explain.alpha_slider
        content.bind_compare(self.session.explain, lambda: (self.input_pixels, self.input_name))
        self.heat_help, self.maps_help, self.levels_combo = explain.heat_help, self.maps.help, self.maps.levels_combo
        self._connect_controls()

        layout = QVBoxLayout(self)
        layout.setContentsMargins(10, 8, 10, 8)
        layout.addWidget(self.banner)
        layout.addWidget(self.stack, 1)
        self._muted = [self.input_label, self.model_label, self.cam_caption, self.input_caption, self.heat_help,
                       self.filters.help, self.filters.hover, self.maps_help]
        self._apply_theme()

        paste = QAction(self)
        paste.setShortcut(QKeySequence.StandardKey.Paste)
        paste.setShortcutContext(Qt.ShortcutContext.WindowShortcut)
        paste.triggered.connect(self.paste)
        self.addAction(paste)

    def _connect_controls(self) -> None:
        self.index_spin.valueChanged.connect(self.show_test_sample)
        self.prev_button.clicked.connect(lambda: self.step_test_sample(-1))
        self.next_button.clicked.connect(lambda: self.step_test_sample(1))
        self.random_button.clicked.connect(self.random_test_sample)
        self.open_button.clicked.connect(self.open_image_dialog)
        self.follow_draw_check.toggled.connect(self.set_follow_drawing)
        self.explain.pictureMenuRequested.connect(self._png_menu)
        self.class_combo.currentIndexChanged.connect(lambda _i: self.request_inspection())
        self.method_combo.currentIndexChanged.connect(self._on_method)
        self.cam_layer_combo.currentIndexChanged.connect(lambda _i: self.request_inspection())
        self.alpha_slider.valueChanged.connect(self._redraw_heat)
        self.levels_combo.currentIndexChanged.connect(lambda _i: self.request_inspection())
        self.maps.pictureMenuRequested.connect(self._png_menu)
        self.filters.requested.connect(self._request_weights)
        self.filters.patchesRequested.connect(self._request_patches)
        self.filters.saveRequested.connect(lambda: self.save_png_dialog("filters"))

    def _apply_theme(self) -> None:
        color = muted_color(self)
        self._muted_name = color.name()
        paint_muted(self._muted, color)
        self.maps.set_muted(self._muted_name)
        self.filters.apply_theme()

    def changeEvent(self, event: QEvent) -> None:
        if event.type() == QEvent.Type.PaletteChange and hasattr(self, "_muted"):
            self._apply_theme()
            if self.inspection is not None:
                self._show_prediction()
        super().changeEvent(event)

    # ------------------------------------------------------------------------------------------------
    # What other pages send (the main window connects them)
    def on_training_epoch(self, event: EpochEvent) -> None:
        """After each training epoch: reload the run's last.pt (a copy of the weights, never the live model)."""
        if event.checkpoint and self.follow_train_check.isChecked():
            self.session.training_epoch(event.checkpoint, now=self.isVisible())

    def showEvent(self, event) -> None:
        super().showEvent(event)
        self.session.load_deferred()

    def on_drawing(self, pixels: np.ndarray | None) -> None:
        """The Draw page's prepared input (None when nothing is drawn); inspected while following it."""
        self.session.set_drawing(pixels)

    def set_follow_drawing(self, follow: bool) -> None:
        """Inspect the Draw page's prepared input, live (True), or go back to the test image (False)."""
        if self.follow_draw_check.isChecked() != bool(follow):
            self.follow_draw_check.setChecked(bool(follow))  # calls back here
            return
        if follow:
            self.session.follow_drawing()
        elif self.input_kind == "drawing":
            self.show_test_sample(self.index_spin.value())

    # ------------------------------------------------------------------------------------------------
    # The model
    def set_checkpoint(self, path: str | None) -> None:
        """Use this checkpoint (the app's current model: every page follows); None clears the page."""
        self.session.set_checkpoint(path)

    def _on_loading(self, path: str) -> None:
        if self.context is None:
            self.empty.show_text(f"Loading {Path(path).name}…")
        else:
            self.model_label.setText(f"Loading {Path(path).name}…")

    def _on_load_failed(self, path: str, message: str) -> None:
        self.banner.show_message(f"Could not load the model {Path(path).name}: {message}", "error")
        if self.context is None:
            self.empty.show_text(NO_MODEL)
        else:
            self._show_model_label()
        self.modelFailed.emit(message)

    def _on_loaded(self, context: ModelContext) -> None:
        if not context.live:
            self.banner.clear_message()
        if context.dataset is None:
            self.banner.show_message(context.dataset_note + " Meanwhile you can open, paste or draw an image.",
                                     "warning")
        self.content.show_model(context, self.session.test_count(), self.test_index)
        self._on_method()
        self._show_model_label()
        self.stack.setCurrentIndex(1)
        self.modelLoaded.emit(context)
        self.session.show_input()  # the same input, framed for this model
        self.filters.request()

    def _show_model_label(self) -> None:
        text = self.session.describe_model(self.last_ms)
        self.model_label.setText(text)
        if self.context is not None:
            self.model_label.setToolTip(f"{text}\n{self.context.path}")

    # ------------------------------------------------------------------------------------------------
    # Inputs: chosen by the session (inputChosen), shown here
    @property
    def input_kind(self) -> str:
        """"test", "image" or "drawing"."""
        return self.session.input_kind

    @property
    def test_index(self) -> int:
        return self.session.test_index

    @property
    def input_name(self) -> str:
        return self.session.input_name

    def show_test_sample(self, index: int, checkpoint: str | None = None) -> None:
        """Inspect test image `index` (of the checkpoint's own dataset); `checkpoint`, when not the current one, is
        loaded first (the Evaluate page passes its own, so the index means the same image on both pages)."""
        self.session.choose_test(int(index))  # before unchecking Follow, which then does not go back
        self.follow_draw_check.setChecked(False)
        if checkpoint and checkpoint != self.checkpoint_path:
            self.set_checkpoint(checkpoint)  # shown once that model is loaded
            return
        self.session.show_test(int(index))

    def step_test_sample(self, step: int) -> None:
        self.session.step_test(step)

    def random_test_sample(self) -> None:
        self.session.random_test()

    def set_input_image(self, image: Image.Image | np.ndarray | QImage, name: str = "image") -> None:
        """Inspect a picture: numpy array (any size; a uint8 (C, H, W) of the model's input shape is used
        as it is), PIL image or QImage. It is framed like the training images (Predictor.prepare)."""
        if isinstance(image, QImage):
            image = qimage_to_numpy(image)
        self.session.choose_image(image, name)
        self.follow_draw_check.setChecked(False)
        self.session.show_image(image, name)

    def open_image_dialog(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Open an image to inspect", "", IMAGE_FILTER)
        if path:
            self.open_image_file(path)

    def open_image_file(self, path: str) -> None:
        """Open a picture in the background and inspect it; a bad file shows a message (imageError)."""
        self.session.open_image(str(path), Path(path).name)

    def _on_file_opened(self, image: Image.Image, name: str) -> None:
        self.banner.clear_message()
        self.set_input_image(image, name)

    def _image_failed(self, message: str) -> None:
        self.banner.show_message(message, "error")
        self.imageError.emit(message)

    # Paste, drag and drop: ImageInputMixin, through these two hooks.
    def _take_image(self, image, name: str) -> None:
        self.set_input_image(image, name)

    def _reject_input(self, message: str) -> None:
        self._image_failed(message)

    def _on_input(self, chosen: InspectInput) -> None:
        if chosen.kind == "test" and chosen.pixels is not None:
            self.input_bar.set_test_count(self.session.test_count(), self.test_index)
        self._true_class = chosen.true_class
        self.input_pixels = None if chosen.pixels is None else np.ascontiguousarray(chosen.pixels, dtype=np.uint8)
        self.input_label.setText(chosen.description)
        self.input_label.setToolTip(chosen.description)
        self.input_view.set_pixels(self.input_pixels)
        self.inputChanged.emit(self.input_pixels)
        self.content.compare.input_changed()
        if self.input_pixels is None:
            self.inspection = None
            self.explain.clear_heatmap()
            self.headline.setText("")
            self.bars.clear("Nothing to inspect yet.")
            return
        self.request_inspection()

    # ------------------------------------------------------------------------------------------------
    # Inspection
    def select_cam_class(self, class_index: int | None) -> None:
        """Explain this class (None: the predicted one)."""
        self.explain.select(self.class_combo, class_index if class_index is not None else None)

    def select_cam_layer(self, key: str) -> bool:
        return self.explain.select(self.cam_layer_combo, str(key))

    def set_heatmap_method(self, method: str) -> None:
        """"gradcam" or "saliency"."""
        self.explain.select(self.method_combo, method)

    def _on_method(self, *_args) -> None:
        self.explain.describe_method()
        self.request_inspection()

    def request_inspection(self) -> None:
        """Inspect the current input with the current settings (a newer request supersedes this one)."""
        if self.context is None or self.input_pixels is None:
            return
        saliency = self.explain.method() == "saliency"
        self.session.inspect(InspectRequest(
            pixels=self.input_pixels, cam_key=None if saliency else self.cam_layer_combo.currentData(),
            target=self.explain.target_class(), saliency=saliency, levels=self.levels_combo.currentData() or "map"))

    def _on_inspected(self, inspected: Inspected) -> None:
        """The newest inspection (a newer request supersedes an older one, whose result never arrives)."""
        result = inspected.result
        ins = result.inspection
        self.inspection = ins
        self.last_ms = result.ms
        self._show_prediction()
        context = self.context
        assert context is not None, "an inspection is asked for only with a model loaded"
        self.explain.show_heatmap(ins, context.classes, self.input_pixels)
        if result.cam_note:
            self.banner.show_message(f"Grad-CAM fell back to its default layer: {result.cam_note}", "warning")
        self.maps.show_sections(result.sections, context.classes)
        self._show_model_label()
        self.inspectionReady.emit(ins)

    def _show_prediction(self) -> None:
        if self.inspection is not None and self.context is not None:
            self.explain.show_prediction(self.inspection.probabilities, int(self.inspection.predicted),
                                         self.context.classes, self._true_class)

    def _redraw_heat(self, *_args) -> None:
        self.explain.redraw_heat(self.input_pixels)

    @property
    def cam_image(self) -> np.ndarray | None:
        """uint8 (H, W, 3): the heatmap blended over the input, as shown."""
        return self.explain.cam_image

    @property
    def heatmap(self) -> np.ndarray | None:
        return self.explain.heatmap

    @property
    def feature_sections(self) -> list[FeatureSection]:
        return self.maps.sections

    def section(self, key: str) -> FeatureSection | None:
        return self.maps.section(key)

    # ------------------------------------------------------------------------------------------------
    # Filters
    def select_layer(self, key: str) -> bool:
        """Show the filters of convolution `key` ("0", "5.conv1", ...)."""
        return self.filters.select_layer(key)

    def conv_layer_keys(self) -> list[str]:
        return self.filters.layer_keys()

    def request_filters(self) -> None:
        self.filters.request()

    # The busy sign while the session computes them (nothing is started without a model).
    def _request_weights(self, key: str, per_filter: bool) -> None:
        if self.session.show_filters(key, per_filter):
            self.filters.set_busy(f"Computing the filters of layer {layer_number(key)}…")

    def _request_patches(self, key: str, kind: str) -> None:
        if self.session.show_patches(key, kind):
            what = "top image patches" if kind == "patches" else "synthesised pictures (a few seconds)"
            self.filters.set_busy(f"Computing the {what} of layer {layer_number(key)}…")

    def _on_filters_failed(self, message: str) -> None:
        self.filters.set_busy(None)
        self.banner.show_message(f"Could not show the filters: {message}", "error")

    def _on_filters(self, result: FilterMosaic) -> None:
        self.filters.set_busy(None)
        self.filters.show_result(result)
        self.filtersReady.emit(self.filters.shown)

    # ------------------------------------------------------------------------------------------------
    # Pictures
    def grab_image(self, what: str) -> QImage:
        """A picture of "filters", "input", "heatmap" or "layer:<key>" (InspectContent.grab)."""
        return self.content.picture(what, self.input_pixels)

    def png_name(self, what: str) -> str:
        stem = Path(self.checkpoint_path or "model").parent.name or "model"
        return f"{stem}-{what.replace(':', '-')}.png"

    def png_menu_actions(self, menu: QMenu, what: str) -> None:
        self.content.add_layer_actions(menu, what)

    # ------------------------------------------------------------------------------------------------
    def busy(self) -> bool:
        """Whether a model load, an inspection or a filter mosaic is under way (tests wait for False)."""
        return self.session.busy

    def shutdown(self) -> None:
        """Drop late results; the main window then waits for the background calls."""
        self.session.shutdown()
