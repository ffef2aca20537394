"""Inspect: look inside the network with one image.

For the current checkpoint the page shows
  - the input (a test image, a picture file, a pasted or dropped image, or the Draw page's drawing),
    framed exactly like the training data (cnnstudio.core.inference: Predictor.prepare),
  - the predicted probabilities, and where the model looks: a Grad-CAM heatmap for the predicted class
    or any chosen class, at a chosen layer, or gradient saliency, blended over the input,
  - the feature maps of every layer for that input (a scrollable list of sections; vectors as bars
    or a heat strip), and
  - the filters of a chosen convolution as a zoomable mosaic (pyqtgraph), hover names filter and weights.

Threading: the model is loaded from the checkpoint file on a background Task (never the trainer's
live model; after each training epoch the page reloads last.pt when "Update during training" is on).
Inspections run on a background Task too: at most one in flight, later requests coalesced into one
follow-up, stale results dropped by a generation counter. Workers return numpy arrays ready to draw
(uint8 mosaics with explicit levels); the GUI thread only sets images on widgets created once per
model.
"""

from __future__ import annotations

import math
import time
from pathlib import Path
from typing import Any

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QEvent, QPointF, Qt, QTimer, Signal
from PySide6.QtGui import (QAction, QIcon, QImage,
                           QKeySequence, QPalette)
from PySide6.QtWidgets import (QCheckBox, QComboBox, QFileDialog, QFrame, QGridLayout, QHBoxLayout, QLabel,
                               QPushButton, QScrollArea, QSlider, QSpinBox, QStackedWidget, QTabWidget,
                               QVBoxLayout, QWidget)

from cnnstudio.core.inspection.display import layer_number  # numpy only: no torch at start-up
from cnnstudio.ui.image_input import ImageInputMixin
from cnnstudio.ui.qimage import qimage_to_numpy
from cnnstudio.ui.state import AppState
from cnnstudio.ui.tasks import Task
from cnnstudio.ui.widgets.banner import Banner
from cnnstudio.ui.widgets.mosaic import MosaicView, VectorView
from cnnstudio.ui.widgets.prediction import PixelView, ProbabilityBars, format_probability
from cnnstudio.ui.widgets.muted import muted_color, paint_muted
from cnnstudio.ui.widgets.section_title import section_title

TOP_K = 5
MAX_FILTER_INPUTS = 64  # wider layers show the kernels of their first 64 input channels
NO_MODEL = ("Nothing to look inside yet.\n\nTrain a model on the Train page (3  Train) or open a run on the Runs "
            "page (4  Runs). This page then shows its filters, what each layer sees in an image, and where "
            "the model looks when it decides.")
IMAGE_FILTER = "Images (*.png *.jpg *.jpeg *.bmp *.gif *.webp *.tif *.tiff *.ppm *.pgm);;All files (*)"


def _html(text: str) -> str:
    return str(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


ONE_ROW = 12  # up to this many maps or filters go in a single row


def wide_columns(count: int, h: int, w: int) -> int:
    """Columns for a mosaic about three times wider than tall (sections are wide strips); a few maps: one row."""
    if count <= ONE_ROW:
        return max(1, count)
    return max(1, min(count, math.ceil(math.sqrt(count * 3 * h / max(w, 1)))))


def filter_layout(grid: Any, max_inputs: int = MAX_FILTER_INPUTS) -> dict[str, Any]:
    """How FilterGrid.mosaic lays out its tiles: columns, tile count, tile shape, inputs per row."""
    from cnnstudio.core.inspection.display import grid_columns

    o, i = grid.out_channels, grid.in_channels
    kh, kw = grid.weights.shape[2:]
    if grid.color or i == 1:
        cols = o if o <= ONE_ROW else grid_columns(o, kh, kw)
        return {"cols": cols, "count": o, "tile": (kh, kw), "inputs": 1, "shown_inputs": 1}
    n_in = max(1, min(i, max_inputs))
    return {"cols": n_in, "count": o * n_in, "tile": (kh, kw), "inputs": i, "shown_inputs": n_in}


# ----------------------------------------------------------------------------------------------------
# Background work (no widgets here)


def _load_model(path: str, app_dataset: Any) -> dict[str, Any]:
    from cnnstudio.core.inspection import cam_layers, conv_layers, default_cam_layer
    from cnnstudio.ui.checkpoint_data import load_context

    context = load_context(path, app_dataset)
    model, shape = context.predictor.model, context.predictor.input_shape
    context.extra["conv_layers"] = conv_layers(model)
    context.extra["cam_layers"] = cam_layers(model, shape)
    try:
        context.extra["default_cam"] = default_cam_layer(model, shape)
    except Exception:
        context.extra["default_cam"] = None
    return {"context": context}


def _inspect(predictor: Any, pixels: np.ndarray, cam_key: str | None, target: int | None, saliency: bool,
             levels: str) -> dict[str, Any]:
    import torch

    from cnnstudio.core.inspection import InspectionError, inspect_image

    start = time.perf_counter()
    x = predictor.normalise(torch.from_numpy(np.ascontiguousarray(pixels))[None])[0]
    cam_note = None
    try:
        ins = inspect_image(predictor.model, x, layer_ref=cam_key, target_class=target, with_saliency=saliency)
    except InspectionError as exc:  # the chosen Grad-CAM layer cannot be used: fall back to the default
        cam_note = str(exc)
        ins = inspect_image(predictor.model, x, layer_ref=None, target_class=target, with_saliency=saliency)
    sections = []
    for fm in ins.feature_maps:
        if fm.is_spatial:
            t = fm.tiles(levels)
            c, h, w = t.images.shape
            cols = wide_columns(c, h, w)
            sections.append({"key": fm.key, "index": fm.index, "label": fm.label, "shape": fm.shape, "kind": "maps",
                             "image": _rgba_mosaic(t.images, cols), "tile": (h, w), "cols": cols,
                             "count": c, "lo": t.lo, "hi": t.hi})
        else:
            sections.append({"key": fm.key, "index": fm.index, "label": fm.label, "shape": fm.shape,
                             "kind": "vector", "values": np.array(fm.values, dtype=np.float32)})
    return {"inspection": ins, "sections": sections, "cam_note": cam_note,
            "ms": (time.perf_counter() - start) * 1000}


def tile_mask(count: int, tile_shape: tuple[int, int], cols: int, pad: int = 1) -> np.ndarray:
    """uint8 mask of a tile() mosaic: 255 on tiles, 0 on padding and empty cells."""
    from cnnstudio.core.inspection import tile

    return tile(np.full((count, *tile_shape), 255, np.uint8), cols, pad, pad_value=0)


def with_transparent_padding(mosaic: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """A grey (H, W) or RGB (H, W, 3) mosaic as RGBA whose padding is transparent: the view's own
    background shows between the tiles, so dark tiles stay apart in light and dark themes alike."""
    rgb = np.repeat(mosaic[:, :, None], 3, axis=2) if mosaic.ndim == 2 else mosaic
    return np.ascontiguousarray(np.concatenate([rgb, mask[:, :, None]], axis=2))


def _rgba_mosaic(images: np.ndarray, cols: int) -> np.ndarray:
    from cnnstudio.core.inspection import tile

    grey = tile(images, cols, 1, pad_value=0)
    return with_transparent_padding(grey, tile_mask(len(images), images.shape[1:3], cols))


def _filters(model: Any, key: str, per_filter: bool) -> dict[str, Any]:
    from cnnstudio.core.inspection import filters

    grid = filters(model, key, per_filter=per_filter)
    layout = filter_layout(grid)
    mosaic = grid.mosaic(pad=1, cols=layout["cols"] if (grid.color or grid.in_channels == 1) else None,
                         max_inputs=MAX_FILTER_INPUTS)
    display = with_transparent_padding(mosaic, tile_mask(layout["count"], layout["tile"], layout["cols"]))
    return {"grid": grid, "mosaic": np.ascontiguousarray(mosaic), "display": display, "layout": layout}


def _open_picture(path: str) -> Any:
    from cnnstudio.core.inference import open_image

    return open_image(path)


# ----------------------------------------------------------------------------------------------------
# Widgets


class FeatureSection(QFrame):
    """One layer's output: a title line and a mosaic of channel maps (or a vector view)."""

    def __init__(self, key: str, index: int, label: str, shape: tuple[int, ...], kind: str):
        super().__init__()
        self.key, self.index, self.label, self.shape, self.kind = key, index, label, tuple(shape), kind
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 6, 0, 6)
        layout.setSpacing(3)
        self.title = QLabel()
        self.title.setTextFormat(Qt.TextFormat.RichText)
        layout.addWidget(self.title)
        self.view: MosaicView | VectorView = MosaicView() if kind == "maps" else VectorView()
        layout.addWidget(self.view)
        self._data: dict[str, Any] | None = None
        self.set_title()

    def set_title(self, muted: str = "#888") -> None:
        if self.kind == "maps":
            c, h, w = self.shape
            what = f"{c} map{'s' if c != 1 else ''} of {h}×{w}"
        else:
            what = f"a vector of {self.shape[0]:,} values"
        self.title.setText(f"<b>{_html(layer_number(self.index))}: {_html(self.label)}</b>"
                           f"&nbsp;&nbsp;<span style='color:{muted}'>{what}</span>")

    def set_data(self, data: dict[str, Any], labels: list[str] | None = None) -> None:
        self._data = data
        if self.kind == "maps":
            lo, hi = data["lo"], data["hi"]
            self.view.set_mosaic(data["image"], data["tile"], data["cols"], data["count"], 1,
                                 describe=lambda i: f"{self.label}, channel {i}: values {lo[i]:.3g} … {hi[i]:.3g}")
        else:
            self.view.set_values(data["values"], labels)

    def image(self) -> np.ndarray | None:
        """The mosaic (uint8) for map layers, the heat strip for long vectors, None for bars."""
        return self.view.image()

    def values(self) -> np.ndarray | None:
        return self.view.values() if isinstance(self.view, VectorView) else None

    def tile_count(self) -> int:
        return self.view.tile_count() if isinstance(self.view, MosaicView) else 0


class InspectPage(ImageInputMixin, QWidget):
    """Filters, feature maps, prediction and Grad-CAM of the current model for one input."""

    modelLoaded = Signal(object)  # cnnstudio.ui.checkpoint_data.ModelContext
    modelFailed = Signal(str)
    inspectionReady = Signal(object)  # cnnstudio.core.inspection.Inspection of the shown input
    filtersReady = Signal(object)  # cnnstudio.core.inspection.FilterGrid now shown
    inputChanged = Signal(object)  # uint8 (C, H, W) now inspected, or None
    imageError = Signal(str)  # a picture could not be opened or used (also shown in the banner)

    def __init__(self, state: AppState | None = None, parent: QWidget | None = None):
        super().__init__(parent)
        self.state = state or AppState()
        self.checkpoint_path: str | None = None
        self.context: Any = None  # ModelContext once loaded
        self.inspection: Any = None  # the last Inspection shown
        self.cam_image: np.ndarray | None = None  # uint8 (H, W, 3): the heatmap blended over the input
        self.heatmap: np.ndarray | None = None  # float (H, W) 0..1 shown (Grad-CAM or saliency)
        self.filter_grid: Any = None
        self.filter_mosaic: np.ndarray | None = None  # the core's mosaic (FilterGrid.mosaic), uint8
        self.filter_layout: dict[str, Any] = {}
        self.feature_sections: list[FeatureSection] = []
        self.input_pixels: np.ndarray | None = None  # uint8 (C, H, W): exactly what the model sees
        self.input_kind = "test"  # "test", "image", "drawing"
        self.test_index = 0
        self.input_name = ""
        self.last_ms = 0.0
        self._raw_image: Any = None  # the opened / pasted picture, re-framed when the model changes
        self._model_gen = 0
        self._input_gen = 0
        self._inflight: Task | None = None
        self._pending = False
        self._filter_gen = 0
        self._filter_task: Task | None = None
        self._filter_pending = False
        self._loading = False
        self._deferred_checkpoint: str | None = None
        self._live_path: str | None = None
        self._hooked_train = False
        self._draw_page: Any = None
        self._shut_down = False
        self._autorange_key: tuple | None = None
        self._arch: list[tuple[str, str, tuple]] = []
        self._true_class: int | None = None

        self.setAcceptDrops(True)
        self._build()
        self.state.checkpointChanged.connect(self.set_checkpoint)
        self.state.datasetChanged.connect(self._on_dataset_changed)
        QTimer.singleShot(0, self._hook_window)
        if self.state.checkpoint_path:
            self.set_checkpoint(self.state.checkpoint_path)

    # ------------------------------------------------------------------------------------------------
    # UI
    def _build(self) -> None:
        self.banner = Banner()
        self.stack = QStackedWidget()
        empty = QWidget()
        el = QVBoxLayout(empty)
        el.addStretch(1)
        self.empty_label = QLabel(NO_MODEL)
        self.empty_label.setWordWrap(True)
        self.empty_label.setAlignment(Qt.AlignmentFlag.AlignCenter)
        font = self.empty_label.font()
        font.setPointSizeF(max(font.pointSizeF(), 9.0) * 1.25)
        self.empty_label.setFont(font)
        el.addWidget(self.empty_label)
        el.addStretch(2)
        self.stack.addWidget(empty)

        content = QWidget()
        cl = QVBoxLayout(content)
        cl.setContentsMargins(0, 0, 0, 0)
        cl.addLayout(self._build_input_bar())
        body = QHBoxLayout()
        body.addWidget(self._build_left(), 0)
        body.addWidget(self._build_tabs(), 1)
        cl.addLayout(body, 1)
        self.stack.addWidget(content)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(10, 8, 10, 8)
        layout.addWidget(self.banner)
        layout.addWidget(self.stack, 1)
        self._muted = [self.input_label, self.model_label, self.cam_caption, self.input_caption, self.heat_help,
                       self.filter_help, self.filter_hover, self.maps_help]
        self._apply_theme()

        paste = QAction(self)
        paste.setShortcut(QKeySequence.StandardKey.Paste)
        paste.setShortcutContext(Qt.ShortcutContext.WindowShortcut)
        paste.triggered.connect(self.paste)
        self.addAction(paste)

    def _build_input_bar(self) -> QVBoxLayout:
        bar = QHBoxLayout()
        bar.addWidget(QLabel("Test image"))
        self.index_spin = QSpinBox()
        self.index_spin.setRange(0, 0)
        self.index_spin.setKeyboardTracking(False)
        self.index_spin.setToolTip("Which image of the test set to look at")
        self.index_spin.valueChanged.connect(self._on_spin)
        bar.addWidget(self.index_spin)
        self.count_label = QLabel("")
        bar.addWidget(self.count_label)
        self.prev_button = QPushButton("◀ Previous")
        self.next_button = QPushButton("Next ▶")
        self.random_button = QPushButton("Random")
        self.prev_button.setToolTip("The previous test image (Alt+Left)")
        self.next_button.setToolTip("The next test image (Alt+Right)")
        self.random_button.setToolTip("A random test image (Alt+R)")
        self.prev_button.setShortcut(QKeySequence("Alt+Left"))
        self.next_button.setShortcut(QKeySequence("Alt+Right"))
        self.random_button.setShortcut(QKeySequence("Alt+R"))
        self.prev_button.clicked.connect(lambda: self.step_test_sample(-1))
        self.next_button.clicked.connect(lambda: self.step_test_sample(1))
        self.random_button.clicked.connect(self.random_test_sample)
        for b in (self.prev_button, self.next_button, self.random_button):
            bar.addWidget(b)
        bar.addSpacing(14)
        self.open_button = QPushButton(QIcon.fromTheme("document-open"), "Open image…")
        self.open_button.setToolTip("Look at a picture file instead; you can also drop one on this page or paste "
                                    "one (Ctrl+V). It is framed like the training images.")
        self.open_button.clicked.connect(self.open_image_dialog)
        bar.addWidget(self.open_button)
        self.follow_draw_check = QCheckBox("Follow the drawing")
        self.follow_draw_check.setToolTip("Inspect whatever you draw on the Draw page (7  Draw), live")
        self.follow_draw_check.toggled.connect(self.set_follow_drawing)
        bar.addWidget(self.follow_draw_check)
        bar.addStretch(1)
        self.follow_train_check = QCheckBox("Update during training")
        self.follow_train_check.setChecked(True)
        self.follow_train_check.setToolTip("While a model trains, reload it after every epoch (from the run's "
                                           "last.pt) and show how its filters and maps change")
        bar.addWidget(self.follow_train_check)

        info = QHBoxLayout()
        self.input_label = QLabel()
        self.input_label.setTextFormat(Qt.TextFormat.PlainText)
        self.model_label = QLabel()
        self.model_label.setTextFormat(Qt.TextFormat.PlainText)
        self.model_label.setAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        info.addWidget(self.input_label, 1)
        info.addWidget(self.model_label, 1)
        col = QVBoxLayout()
        col.setSpacing(2)
        col.addLayout(bar)
        col.addLayout(info)
        return col

    def _build_left(self) -> QWidget:
        panel = QFrame()
        panel.setFixedWidth(336)
        v = QVBoxLayout(panel)
        v.setContentsMargins(0, 4, 10, 0)
        v.addWidget(section_title("Prediction"))
        self.headline = QLabel()
        self.headline.setTextFormat(Qt.TextFormat.RichText)
        self.headline.setWordWrap(True)
        self.headline.setMinimumHeight(44)
        v.addWidget(self.headline)
        self.bars = ProbabilityBars(TOP_K)
        v.addWidget(self.bars)
        v.addSpacing(10)
        v.addWidget(section_title("Where the model looks"))
        views = QGridLayout()
        views.setHorizontalSpacing(8)
        views.setVerticalSpacing(0)
        self.input_view = PixelView("no input")
        self.input_view.setFixedHeight(150)
        self.heat_view = PixelView("")
        self.heat_view.setFixedHeight(150)
        self.input_caption = QLabel("What the model sees")
        self.cam_caption = QLabel("Grad-CAM")
        for lbl in (self.input_caption, self.cam_caption):
            lbl.setAlignment(Qt.AlignmentFlag.AlignHCenter)
            lbl.setWordWrap(True)
        views.addWidget(self.input_view, 0, 0)
        views.addWidget(self.heat_view, 0, 1)
        for view, what in ((self.input_view, "input"), (self.heat_view, "heatmap")):
            view.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
            view.customContextMenuRequested.connect(
                lambda pos, v=view, w=what: self._png_menu(w, v.mapToGlobal(pos)))
        views.addWidget(self.input_caption, 1, 0)
        views.addWidget(self.cam_caption, 1, 1)
        v.addLayout(views)
        form = QGridLayout()
        form.setColumnStretch(1, 1)
        self.class_combo = QComboBox()
        self.class_combo.setToolTip("The class whose evidence the heatmap shows")
        self.class_combo.currentIndexChanged.connect(lambda _i: self.request_inspection())
        self.method_combo = QComboBox()
        self.method_combo.addItem("Grad-CAM", "gradcam")
        self.method_combo.addItem("Saliency (pixel gradients)", "saliency")
        self.method_combo.setToolTip("Grad-CAM: which regions of a layer's maps raise the class score.\n"
                                     "Saliency: which single pixels would change the score the most.")
        self.method_combo.currentIndexChanged.connect(self._on_method)
        self.cam_layer_combo = QComboBox()
        self.cam_layer_combo.setToolTip("The layer Grad-CAM looks at: later layers know more about classes, "
                                        "earlier layers have finer detail")
        self.cam_layer_combo.currentIndexChanged.connect(lambda _i: self.request_inspection())
        self.alpha_slider = QSlider(Qt.Orientation.Horizontal)
        self.alpha_slider.setRange(0, 100)
        self.alpha_slider.setValue(50)
        self.alpha_slider.setToolTip("How strongly the heatmap covers the input")
        self.alpha_slider.valueChanged.connect(self._redraw_heat)
        for row, (name, widget) in enumerate((("Explain", self.class_combo), ("Method", self.method_combo),
                                              ("Layer", self.cam_layer_combo), ("Opacity", self.alpha_slider))):
            form.addWidget(QLabel(name), row, 0)
            form.addWidget(widget, row, 1)
        self.cam_layer_label = form.itemAtPosition(2, 0).widget()
        v.addLayout(form)
        self.heat_help = QLabel()
        self.heat_help.setWordWrap(True)
        v.addWidget(self.heat_help)
        v.addStretch(1)
        return panel

    def _build_tabs(self) -> QTabWidget:
        self.tabs = QTabWidget()
        # Feature maps.
        maps = QWidget()
        ml = QVBoxLayout(maps)
        ml.setContentsMargins(6, 6, 6, 0)
        top = QHBoxLayout()
        self.maps_help = QLabel("What every layer computes for this input, from the first layer to the class "
                                "scores. Each small image is one channel: bright = strong response.")
        self.maps_help.setWordWrap(True)
        top.addWidget(self.maps_help, 1)
        top.addWidget(QLabel("Brightness"))
        self.levels_combo = QComboBox()
        self.levels_combo.addItem("each map on its own", "map")
        self.levels_combo.addItem("shared by the layer", "layer")
        self.levels_combo.setToolTip("Each map on its own: every pattern is visible.\nShared by the layer: "
                                     "strong and weak channels can be compared.")
        self.levels_combo.currentIndexChanged.connect(lambda _i: self.request_inspection())
        top.addWidget(self.levels_combo)
        ml.addLayout(top)
        self.maps_scroll = QScrollArea()
        self.maps_scroll.setWidgetResizable(True)
        self.maps_scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.maps_container = QWidget()
        self.maps_layout = QVBoxLayout(self.maps_container)
        self.maps_layout.setContentsMargins(0, 0, 8, 0)
        self.maps_layout.addStretch(1)
        self.maps_scroll.setWidget(self.maps_container)
        ml.addWidget(self.maps_scroll, 1)
        self.tabs.addTab(maps, "Feature maps")

        # Filters.
        filt = QWidget()
        fl = QVBoxLayout(filt)
        fl.setContentsMargins(6, 6, 6, 0)
        row = QHBoxLayout()
        row.addWidget(QLabel("Layer"))
        self.layer_combo = QComboBox()
        self.layer_combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToContents)
        self.layer_combo.currentIndexChanged.connect(self._on_layer_combo)
        row.addWidget(self.layer_combo)
        row.addSpacing(12)
        row.addWidget(QLabel("Contrast"))
        self.contrast_combo = QComboBox()
        self.contrast_combo.addItem("each filter on its own", True)
        self.contrast_combo.addItem("shared by the layer", False)
        self.contrast_combo.setToolTip("Each filter on its own: every pattern is visible.\nShared by the layer: "
                                       "strong and weak filters can be compared.")
        self.contrast_combo.currentIndexChanged.connect(lambda _i: self.request_filters())
        row.addWidget(self.contrast_combo)
        row.addStretch(1)
        self.save_filters_button = QPushButton("Save as PNG…")
        self.save_filters_button.setToolTip("Save the whole filter mosaic as a picture, each weight a crisp square")
        self.save_filters_button.clicked.connect(lambda: self.save_png_dialog("filters"))
        row.addWidget(self.save_filters_button)
        self.reset_zoom_button = QPushButton("Fit")
        self.reset_zoom_button.setToolTip("Show the whole mosaic again")
        self.reset_zoom_button.clicked.connect(lambda: self._fit_filters(whole=True))
        row.addWidget(self.reset_zoom_button)
        fl.addLayout(row)
        self.filter_help = QLabel()
        self.filter_help.setWordWrap(True)
        fl.addWidget(self.filter_help)
        self.filter_view = pg.GraphicsView()
        self.filter_box = pg.ViewBox(lockAspect=True, invertY=True, enableMenu=False)
        self.filter_view.setCentralItem(self.filter_box)
        self.filter_item = pg.ImageItem()
        self.filter_item.setOpts(axisOrder="row-major")
        self.filter_box.addItem(self.filter_item)
        self.filter_view.scene().sigMouseMoved.connect(self._on_filter_hover)
        fl.addWidget(self.filter_view, 1)
        self.filter_hover = QLabel("Hover over a filter to see its weights.")
        fl.addWidget(self.filter_hover)
        self.tabs.addTab(filt, "Filters")
        return self.tabs

    def _apply_theme(self) -> None:
        color = muted_color(self)
        self._muted_name = color.name()
        paint_muted(self._muted, color)
        for section in self.feature_sections:
            section.set_title(self._muted_name)
        base = self.palette().color(QPalette.ColorRole.Base)
        self.filter_view.setBackground(base)

    def changeEvent(self, event: QEvent) -> None:
        if event.type() == QEvent.Type.PaletteChange and hasattr(self, "_muted"):
            self._apply_theme()
            if self.inspection is not None:
                self._show_prediction()
        super().changeEvent(event)

    # ------------------------------------------------------------------------------------------------
    # Window hooks: the Train page's epochs, the Draw page's drawing
    def _page(self, key: str) -> Any:
        window = self.window()
        page_of = getattr(window, "page", None)
        if window is self or page_of is None:
            return None
        try:
            return page_of(key)
        except (KeyError, LookupError):
            return None

    def _hook_window(self) -> None:
        if self._shut_down:
            return
        if not self._hooked_train:
            train = self._page("train")
            signal = getattr(train, "epochFinished", None)
            if signal is not None:
                signal.connect(self._on_epoch)
                self._hooked_train = True

    def _on_epoch(self, event: dict[str, Any]) -> None:
        """After each training epoch: reload the run's last.pt (a copy of the weights, never the live model)."""
        path = (event or {}).get("checkpoint")
        if not path or not self.follow_train_check.isChecked() or self._shut_down:
            return
        if self.isVisible():
            self._load(str(path), live=True)
        else:
            self._deferred_checkpoint = str(path)  # loaded when the page is shown

    def showEvent(self, event) -> None:
        super().showEvent(event)
        self._hook_window()
        if self._deferred_checkpoint:
            path, self._deferred_checkpoint = self._deferred_checkpoint, None
            self._load(path, live=True)

    def set_follow_drawing(self, follow: bool) -> None:
        """Inspect the Draw page's prepared input, live (True), or go back to the test image (False)."""
        if self.follow_draw_check.isChecked() != bool(follow):
            self.follow_draw_check.setChecked(bool(follow))  # calls back here
            return
        draw = self._page("draw")
        signal = getattr(draw, "preparedInputChanged", None)
        if follow:
            if signal is None:
                self.banner.show_message("The Draw page is not available, so there is no drawing to follow.",
                                         "warning")
                self.follow_draw_check.setChecked(False)
                return
            if self._draw_page is None:
                signal.connect(self._on_drawing)
                self._draw_page = draw
            self.input_kind = "drawing"
            self._on_drawing(getattr(draw, "last_prepared", None))
        else:
            if self._draw_page is not None:
                try:
                    self._draw_page.preparedInputChanged.disconnect(self._on_drawing)
                except (RuntimeError, TypeError):
                    pass
                self._draw_page = None
            if self.input_kind == "drawing":
                self.show_test_sample(self.index_spin.value())

    def _on_drawing(self, pixels: Any) -> None:
        if self._shut_down or self.input_kind != "drawing":
            return
        self.input_name = "the drawing"
        if pixels is None:
            self._set_input(None, "Draw something on the Draw page (7  Draw): it appears here as the model sees it.")
            return
        pixels = np.ascontiguousarray(pixels, dtype=np.uint8)
        if self.context is not None and tuple(pixels.shape) != self.context.input_shape:
            self._set_input(None, "The drawing was prepared for another model; draw again.")
            return
        self._set_input(pixels, "The drawing from the Draw page, framed like the training images.")

    # ------------------------------------------------------------------------------------------------
    # Loading a model
    def set_checkpoint(self, path: str | None) -> None:
        """Inspect this checkpoint's model (loaded in the background); None clears the page."""
        self._deferred_checkpoint = None
        self._live_path = None
        if path is None:
            self._model_gen += 1
            self.checkpoint_path = None
            self.context = None
            self.stack.setCurrentIndex(0)
            return
        self._load(str(path), live=False)

    def _load(self, path: str, live: bool) -> None:
        if self._shut_down:
            return
        self._model_gen += 1
        gen = self._model_gen
        self._loading = True
        if not live:
            self.checkpoint_path = path
        self._live_path = path if live else None
        if self.context is None:
            self.empty_label.setText(f"Loading {Path(path).name}…")
        else:
            self.model_label.setText(f"Loading {Path(path).name}…")
        app_dataset = self.state.dataset
        task = Task(lambda: {"gen": gen, "live": live, **_load_model(path, app_dataset)})
        task.succeeded.connect(self._on_loaded)
        task.failed.connect(lambda message, details, g=gen, p=path: self._on_load_failed(g, p, message))
        task.start()

    def _on_load_failed(self, gen: int, path: str, message: str) -> None:
        if gen != self._model_gen or self._shut_down:
            return
        self._loading = False
        self.banner.show_message(f"Could not load the model {Path(path).name}: {message}", "error")
        if self.context is None:
            self.empty_label.setText(NO_MODEL)
        else:
            self._show_model_label()
        self.modelFailed.emit(message)

    def _on_loaded(self, result: dict[str, Any]) -> None:
        if result["gen"] != self._model_gen or self._shut_down:
            return
        self._loading = False
        context = result["context"]
        old = self.context
        self.context = context
        if not result["live"]:
            self.banner.clear_message()
        if context.dataset is None:
            self.banner.show_message(context.dataset_note + " Meanwhile you can open, paste or draw an image.",
                                     "warning")
        self._fill_model_controls(old)
        self._show_model_label()
        self.stack.setCurrentIndex(1)
        self.modelLoaded.emit(context)
        self._refresh_input()
        self.request_filters()

    def _fill_model_controls(self, old: Any) -> None:
        ctx = self.context
        same_arch = old is not None and [c.key for c in old.extra["conv_layers"]] == \
            [c.key for c in ctx.extra["conv_layers"]] and old.classes == ctx.classes
        # Filter layers.
        keep = self.layer_combo.currentData()
        self.layer_combo.blockSignals(True)
        self.layer_combo.clear()
        for conv in ctx.extra["conv_layers"]:
            if conv.in_block:
                self.layer_combo.addItem(f"    {layer_number(conv.key)}: {conv.label}  (in residual block "
                                         f"{layer_number(conv.index)})", conv.key)
            else:
                self.layer_combo.addItem(f"{layer_number(conv.key)}: {conv.label}", conv.key)
        i = self.layer_combo.findData(keep)
        self.layer_combo.setCurrentIndex(i if i >= 0 else 0)
        self.layer_combo.blockSignals(False)
        # Grad-CAM classes and layers.
        keep_class = self.class_combo.currentData() if same_arch else None
        self.class_combo.blockSignals(True)
        self.class_combo.clear()
        self.class_combo.addItem("the predicted class", None)
        for i, name in enumerate(ctx.classes):
            self.class_combo.addItem(name, i)
        j = self.class_combo.findData(keep_class) if keep_class is not None else 0
        self.class_combo.setCurrentIndex(max(0, j))
        self.class_combo.blockSignals(False)
        keep_layer = self.cam_layer_combo.currentData() if same_arch else None
        self.cam_layer_combo.blockSignals(True)
        self.cam_layer_combo.clear()
        default = ctx.extra.get("default_cam")
        for choice in ctx.extra["cam_layers"]:
            c, h, w = choice.shape
            mark = "  (default)" if choice.key == default else ""
            self.cam_layer_combo.addItem(f"{layer_number(choice.key)}: {choice.label}, {h}×{w}{mark}", choice.key)
        k = self.cam_layer_combo.findData(keep_layer if keep_layer is not None else default)
        self.cam_layer_combo.setCurrentIndex(max(0, k))
        self.cam_layer_combo.blockSignals(False)
        # Test set.
        n = len(ctx.dataset.test_labels) if ctx.dataset is not None else 0
        self.index_spin.blockSignals(True)
        self.index_spin.setRange(0, max(0, n - 1))
        self.index_spin.setValue(min(self.test_index, max(0, n - 1)))
        self.index_spin.blockSignals(False)
        self.count_label.setText(f"of {n:,}" if n else "(no test set)")
        for w in (self.index_spin, self.prev_button, self.next_button, self.random_button):
            w.setEnabled(n > 0)
        self._on_method()

    def _show_model_label(self) -> None:
        ctx = self.context
        if ctx is None:
            self.model_label.setText("")
            return
        data = ctx.predictor.checkpoint
        spec = (data.get("model_spec") or {}).get("name") or (data.get("config") or {}).get("model", "model")
        path = Path(ctx.path)
        when = ""
        if self._live_path:
            when = f", after epoch {data.get('epoch', '?')} (training)"
        ms = f" · inspected in {self.last_ms:.0f} ms" if self.last_ms else ""
        self.model_label.setText(f"Model {spec} · {path.parent.name}/{path.name}{when}{ms}")
        self.model_label.setToolTip(str(path))

    def _on_dataset_changed(self, dataset: Any) -> None:
        if self.context is not None and self.context.dataset is None and self.checkpoint_path:
            from cnnstudio.ui.checkpoint_data import dataset_fits

            if dataset_fits(self.context.predictor.checkpoint, dataset):
                self._load(self._live_path or self.checkpoint_path, live=bool(self._live_path))

    # ------------------------------------------------------------------------------------------------
    # Inputs
    def _refresh_input(self) -> None:
        """After a model (re)load: the same input, framed for this model."""
        if self.input_kind == "drawing" and self._draw_page is not None:
            self._on_drawing(getattr(self._draw_page, "last_prepared", None))
        elif self.input_kind == "image" and self._raw_image is not None:
            self.set_input_image(self._raw_image, self.input_name)
        else:
            self.show_test_sample(self.test_index)

    def show_test_sample(self, index: int, checkpoint: str | None = None) -> None:
        """Inspect test image `index` (of the dataset the checkpoint was trained on).

        checkpoint: when given and different from the current one, that model is loaded first (the
        Evaluate page passes its own, so the index means the same image on both pages).
        """
        index = int(index)
        self.test_index = index
        if self.input_kind == "drawing" and self.follow_draw_check.isChecked():
            self.input_kind = "test"
            self.follow_draw_check.setChecked(False)  # -> set_follow_drawing(False): comes back here
        self.input_kind = "test"
        self._raw_image = None
        if checkpoint and checkpoint != self.checkpoint_path:
            self.set_checkpoint(checkpoint)  # _on_loaded shows self.test_index
            return
        ctx = self.context
        if ctx is None:
            return  # shown once the model is loaded
        if ctx.dataset is None:
            self._set_input(None, "No test set for this model: open, paste or draw an image.")
            return
        n = len(ctx.dataset.test_labels)
        if not 0 <= index < n:
            self.banner.show_message(f"There is no test image {index}: the test set has {n:,} (0 to {n - 1}).",
                                     "warning")
            return
        self.index_spin.blockSignals(True)
        self.index_spin.setValue(index)
        self.index_spin.blockSignals(False)
        pixels = ctx.dataset.test_images[index].numpy()
        label = int(ctx.dataset.test_labels[index])
        self.input_name = f"test image {index}"
        self._true_class = label
        self._set_input(pixels, f"Test image {index} of {n:,} · true class: {ctx.classes[label]}", true_class=label)

    def step_test_sample(self, step: int) -> None:
        if self.context is None or self.context.dataset is None:
            return
        n = len(self.context.dataset.test_labels)
        self.show_test_sample((self.test_index + step) % n if self.input_kind == "test" else self.test_index)

    def random_test_sample(self) -> None:
        if self.context is None or self.context.dataset is None:
            return
        n = len(self.context.dataset.test_labels)
        self.show_test_sample(int(np.random.default_rng().integers(0, n)))

    def _on_spin(self, value: int) -> None:
        self.show_test_sample(value)

    def set_input_image(self, image: Any, name: str = "image") -> None:
        """Inspect a picture: numpy array (any size; a uint8 (C, H, W) of the model's input shape is used
        as it is), PIL image or QImage. It is framed like the training images (Predictor.prepare)."""
        if isinstance(image, QImage):
            image = qimage_to_numpy(image)
        if self.follow_draw_check.isChecked():
            self.input_kind = "image"
            self.follow_draw_check.setChecked(False)
        self.input_kind = "image"
        self._raw_image = image
        self.input_name = name
        ctx = self.context
        if ctx is None:
            return  # framed once the model is loaded
        self._input_gen += 1
        gen = self._input_gen
        arr = image if isinstance(image, np.ndarray) else None
        if arr is not None and arr.dtype == np.uint8 and arr.ndim == 3 and tuple(arr.shape) == ctx.input_shape:
            self._set_input(np.ascontiguousarray(arr), f"{name}, as given ({'×'.join(map(str, arr.shape))})")
            return
        predictor = ctx.predictor

        def prepare() -> dict[str, Any]:
            return {"gen": gen, "prepared": predictor.prepare(image)}

        task = Task(prepare)
        task.succeeded.connect(self._on_prepared)
        task.failed.connect(lambda message, details: self._image_failed(f"Cannot use {name}: {message}"))
        task.start()

    def _on_prepared(self, result: dict[str, Any]) -> None:
        if result["gen"] != self._input_gen or self._shut_down or self.input_kind != "image":
            return
        prepared = result["prepared"]
        from cnnstudio.ui.pages.draw_page import describe_preparation

        how = describe_preparation(self.context.predictor.framing, prepared.inverted)
        note = " (it looks empty to the model)" if prepared.empty else ""
        self._set_input(prepared.pixels, f"{self.input_name}: framed like the training images ({how}){note}")

    def open_image_dialog(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Open an image to inspect", "", IMAGE_FILTER)
        if path:
            self.open_image_file(path)

    def open_image_file(self, path: str) -> None:
        """Open a picture in the background and inspect it; a bad file shows a message (imageError)."""
        name = Path(path).name
        task = Task(lambda: _open_picture(str(path)))
        task.succeeded.connect(lambda image, n=name: self._on_file_opened(image, n))
        task.failed.connect(lambda message, details: self._image_failed(message))
        task.start()

    def _on_file_opened(self, image: Any, name: str) -> None:
        if self._shut_down:
            return
        self.banner.clear_message()
        self.set_input_image(image, name)

    def _image_failed(self, message: str) -> None:
        if self._shut_down:
            return
        self.banner.show_message(message, "error")
        self.imageError.emit(message)

    # Paste, drag and drop: ImageInputMixin, through these two hooks.
    def _take_image(self, image, name: str) -> None:
        self.set_input_image(image, name)

    def _reject_input(self, message: str) -> None:
        self._image_failed(message)

    def _set_input(self, pixels: np.ndarray | None, description: str, true_class: int | None = None) -> None:
        self._input_gen += 1
        self._true_class = true_class
        self.input_pixels = None if pixels is None else np.ascontiguousarray(pixels, dtype=np.uint8)
        self.input_label.setText(description)
        self.input_view.set_pixels(self.input_pixels)
        self.inputChanged.emit(self.input_pixels)
        if self.input_pixels is None:
            self.inspection = None
            self.heat_view.set_pixels(None)
            self.headline.setText("")
            self.bars.clear("Nothing to inspect yet.")
            return
        self.request_inspection()

    # ------------------------------------------------------------------------------------------------
    # Inspection
    def _target_class(self) -> int | None:
        data = self.class_combo.currentData()
        return None if data is None else int(data)

    def _heat_method(self) -> str:
        return self.method_combo.currentData() or "gradcam"

    def select_cam_class(self, class_index: int | None) -> None:
        """Explain this class (None: the predicted one)."""
        i = self.class_combo.findData(class_index) if class_index is not None else 0
        if i >= 0:
            self.class_combo.setCurrentIndex(i)

    def select_cam_layer(self, key: str) -> bool:
        i = self.cam_layer_combo.findData(str(key))
        if i >= 0:
            self.cam_layer_combo.setCurrentIndex(i)
        return i >= 0

    def set_heatmap_method(self, method: str) -> None:
        """"gradcam" or "saliency"."""
        i = self.method_combo.findData(method)
        if i >= 0:
            self.method_combo.setCurrentIndex(i)

    def _on_method(self, *_args) -> None:
        saliency = self._heat_method() == "saliency"
        self.cam_layer_combo.setEnabled(not saliency)
        if saliency:
            self.heat_help.setText("Saliency: bright pixels are those whose change would move the class score "
                                   "the most.")
        else:
            self.heat_help.setText("Grad-CAM: red marks the regions that raised the score of the explained class "
                                   "the most, blue the ones that did not matter for it.")
        self.request_inspection()

    def request_inspection(self) -> None:
        """Inspect the current input now (or right after the inspection in flight)."""
        if self._shut_down or self.context is None or self.input_pixels is None:
            return
        if self._inflight is not None:
            self._pending = True
            return
        self._start_inspection()

    def _start_inspection(self) -> None:
        ctx, pixels = self.context, self.input_pixels
        cam_key = None if self._heat_method() == "saliency" else self.cam_layer_combo.currentData()
        target, saliency = self._target_class(), self._heat_method() == "saliency"
        levels = self.levels_combo.currentData() or "map"
        gen = (self._model_gen, self._input_gen, cam_key, target, saliency, levels)

        def work() -> dict[str, Any]:
            return {"gen": gen, "context": ctx, "pixels": pixels,
                    **_inspect(ctx.predictor, pixels, cam_key, target, saliency, levels)}

        task = Task(work)
        task.succeeded.connect(self._on_inspected)
        task.failed.connect(self._on_inspect_failed)
        self._inflight = task
        task.start()

    def _current_gen(self) -> tuple:
        cam_key = None if self._heat_method() == "saliency" else self.cam_layer_combo.currentData()
        return (self._model_gen, self._input_gen, cam_key, self._target_class(), self._heat_method() == "saliency",
                self.levels_combo.currentData() or "map")

    def _on_inspected(self, result: dict[str, Any]) -> None:
        self._inflight = None
        if self._shut_down:
            return
        if result["gen"] == self._current_gen() and result["context"] is self.context and not self._pending:
            self._show(result)
        elif not self._pending and result["context"] is self.context:
            self._pending = True  # the settings changed while it ran: run again with the new ones
        if self._pending:
            self._pending = False
            self.request_inspection()

    def _on_inspect_failed(self, message: str, details: str) -> None:
        self._inflight = None
        if self._shut_down:
            return
        self.banner.show_message(f"Inspection failed: {message}", "error")
        if self._pending:
            self._pending = False
            self.request_inspection()

    def _show(self, result: dict[str, Any]) -> None:
        ins = result["inspection"]
        self.inspection = ins
        self.last_ms = float(result["ms"])
        self._show_prediction()
        # Heatmap.
        if self._heat_method() == "saliency":
            self.heatmap = ins.saliency
            self.cam_caption.setText(f"Saliency for {self._explained_name(ins)}")
        elif ins.cam is not None:
            self.heatmap = ins.cam.cam
            self.cam_caption.setText(f"Grad-CAM for {self._explained_name(ins)} "
                                     f"at layer {layer_number(ins.cam.key)}")
        else:
            self.heatmap = None
            self.cam_caption.setText(ins.cam_error or "No heatmap for this model")
        if result.get("cam_note"):
            self.banner.show_message(f"Grad-CAM fell back to its default layer: {result['cam_note']}", "warning")
        self._redraw_heat()
        # Feature maps.
        self._show_sections(result["sections"])
        self._show_model_label()
        self.inspectionReady.emit(ins)

    def _explained_name(self, ins: Any) -> str:
        cls = ins.cam.class_index if ins.cam is not None else (self._target_class() if self._target_class() is not None
                                                               else ins.predicted)
        return f"'{self.context.classes[cls]}'"

    def _show_prediction(self) -> None:
        ins, ctx = self.inspection, self.context
        if ins is None or ctx is None:
            return
        probs = ins.probabilities
        order = np.argsort(-probs)[:TOP_K]
        self.bars.set_rows([(ctx.classes[i], float(probs[i])) for i in order])
        p = int(ins.predicted)
        highlight = self.palette().color(QPalette.ColorRole.Highlight).name()
        verdict = ""
        true_class = getattr(self, "_true_class", None)
        if true_class is not None:
            verdict = ("&nbsp;&nbsp;<span style='color:#3a9a4a'>✓ correct</span>" if true_class == p else
                       f"<br><span style='color:#dc322f'>✗ wrong: it is {_html(ctx.classes[true_class])}</span>")
        self.headline.setText(f"<span style='font-size:20px; font-weight:600; color:{highlight}'>"
                              f"{_html(ctx.classes[p])}</span>&nbsp;&nbsp;<span style='font-size:14px'>"
                              f"{format_probability(float(probs[p]))}</span>{verdict}")

    def _redraw_heat(self, *_args) -> None:
        from cnnstudio.core.inspection import overlay

        if self.heatmap is None or self.input_pixels is None:
            self.cam_image = None
            self.heat_view.set_pixels(None)
            return
        colormap = "inferno" if self._heat_method() == "saliency" else "jet"
        self.cam_image = overlay(self.input_pixels, self.heatmap, alpha=self.alpha_slider.value() / 100,
                                 colormap=colormap)
        self.heat_view.set_pixels(np.ascontiguousarray(self.cam_image.transpose(2, 0, 1)))

    def _show_sections(self, sections: list[dict[str, Any]]) -> None:
        arch = [(s["key"], s["label"], tuple(s["shape"])) for s in sections]
        if arch != self._arch:
            self._rebuild_sections(sections)
            self._arch = arch
        n = len(sections)
        for i, (section, data) in enumerate(zip(self.feature_sections, sections)):
            labels = self.context.classes if (i == n - 1 and data["kind"] == "vector"
                                              and data["shape"][0] == len(self.context.classes)) else None
            section.set_data(data, labels)

    def _rebuild_sections(self, sections: list[dict[str, Any]]) -> None:
        for section in self.feature_sections:
            self.maps_layout.removeWidget(section)
            section.deleteLater()
        self.feature_sections = []
        for s in sections:
            section = FeatureSection(s["key"], s["index"], s["label"], s["shape"], s["kind"])
            section.set_title(getattr(self, "_muted_name", "#888"))
            section.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
            section.customContextMenuRequested.connect(
                lambda pos, sec=section: self._png_menu(f"layer:{sec.key}", sec.mapToGlobal(pos)))
            self.maps_layout.insertWidget(self.maps_layout.count() - 1, section)
            self.feature_sections.append(section)
        if sections and sections[-1]["kind"] == "vector":
            last = self.feature_sections[-1]
            last.title.setText(last.title.text() + f"&nbsp;&nbsp;<span style='color:{self._muted_name}'>"
                               "(the class scores, before softmax)</span>")

    def section(self, key: str) -> FeatureSection | None:
        return next((s for s in self.feature_sections if s.key == str(key)), None)

    # ------------------------------------------------------------------------------------------------
    # Filters
    def select_layer(self, key: str) -> bool:
        """Show the filters of convolution `key` ("0", "5.conv1", ...)."""
        i = self.layer_combo.findData(str(key))
        if i < 0:
            return False
        if i == self.layer_combo.currentIndex():
            self.request_filters()
        else:
            self.layer_combo.setCurrentIndex(i)
        return True

    def conv_layer_keys(self) -> list[str]:
        return [self.layer_combo.itemData(i) for i in range(self.layer_combo.count())]

    def _on_layer_combo(self, _index: int) -> None:
        self.request_filters()

    def request_filters(self) -> None:
        if self._shut_down or self.context is None or self.layer_combo.currentData() is None:
            return
        self._filter_gen += 1
        if self._filter_task is not None:
            self._filter_pending = True
            return
        self._start_filters()

    def _start_filters(self) -> None:
        ctx, key = self.context, str(self.layer_combo.currentData())
        per_filter = bool(self.contrast_combo.currentData())
        gen = self._filter_gen
        task = Task(lambda: {"gen": gen, "context": ctx, "key": key, **_filters(ctx.predictor.model, key, per_filter)})
        task.succeeded.connect(self._on_filters)
        task.failed.connect(self._on_filters_failed)
        self._filter_task = task
        task.start()

    def _on_filters(self, result: dict[str, Any]) -> None:
        self._filter_task = None
        if self._shut_down:
            return
        if self._filter_pending:
            self._filter_pending = False
            self._start_filters()
            return
        if result["gen"] != self._filter_gen or result["context"] is not self.context:
            return
        self.filter_grid = result["grid"]
        self.filter_mosaic = result["mosaic"]
        self.filter_layout = result["layout"]
        self.filter_item.setImage(result["display"], autoLevels=False, levels=(0, 255))
        key = (result["key"], self.filter_mosaic.shape)
        if key != self._autorange_key:  # a new layer: show it whole; the same layer after an epoch keeps the zoom
            self._autorange_key = key
            self._fit_filters(whole=False)
        self._describe_filters()
        self.filtersReady.emit(self.filter_grid)

    def _on_filters_failed(self, message: str, details: str) -> None:
        self._filter_task = None
        if self._shut_down:
            return
        self.banner.show_message(f"Could not show the filters: {message}", "error")
        if self._filter_pending:
            self._filter_pending = False
            self._start_filters()

    @property
    def filter_tile_count(self) -> int:
        return int(self.filter_layout.get("count", 0))

    def _fit_filters(self, whole: bool = True) -> None:
        """Show the whole mosaic, or (whole=False) a tall one's top rows at the view's full width, readable."""
        if self.filter_mosaic is None:
            return
        h, w = self.filter_mosaic.shape[:2]
        view = self.filter_box.boundingRect()
        vw, vh = max(1.0, view.width()), max(1.0, view.height())
        if not whole and h / w > 1.5 * vh / vw:
            self.filter_box.setRange(xRange=(0, w), yRange=(0, w * vh / vw), padding=0.02)
        else:
            self.filter_box.setRange(xRange=(0, w), yRange=(0, h), padding=0.02)

    def _describe_filters(self) -> None:
        g, lay = self.filter_grid, self.filter_layout
        kh, kw = lay["tile"]
        size = f"{kh}×{kw}"
        if g.color:
            text = (f"{g.out_channels} filters of {size} pixels, shown in colour: each one is the colour pattern "
                    "it responds to in the input image.")
        elif g.in_channels == 1:
            text = (f"{g.out_channels} filters, each {size} weights. Bright = positive weight, dark = negative, "
                    "grey = 0: a filter responds where the image looks like its bright part.")
        else:
            shown = lay["shown_inputs"]
            part = (f"its {size} kernel for each of the {g.in_channels} input channels" if shown == g.in_channels
                    else f"its {size} kernels for the first {shown} of {g.in_channels} input channels")
            text = (f"{g.out_channels} filters, one per row: {part}, left to right. Bright = positive weight, "
                    "dark = negative, grey = 0.")
        self.filter_help.setText(text + " Scroll to zoom, drag to pan, Fit to see all.")
        self.filter_hover.setText("Hover over a filter to see its weights.")

    def filter_text_at(self, y: float, x: float) -> str | None:
        """Hover text for mosaic pixel (row y, column x): filter index and value range, or None."""
        from cnnstudio.core.inspection import tile_at

        g, lay = self.filter_grid, self.filter_layout
        if g is None:
            return None
        index = tile_at(y, x, lay["tile"], lay["cols"], lay["count"], 1)
        if index is None:
            return None
        if lay["inputs"] > 1:
            f, c = divmod(index, lay["shown_inputs"])
            return f"{g.describe(f).capitalize()} · the kernel shown is for input channel {c}"
        return g.describe(index).capitalize()

    def _on_filter_hover(self, pos: QPointF) -> None:
        if self.filter_mosaic is None:
            return
        point = self.filter_box.mapSceneToView(pos)
        text = self.filter_text_at(point.y(), point.x())
        self.filter_hover.setText(text or "Hover over a filter to see its weights.")

    # ------------------------------------------------------------------------------------------------
    # Pictures
    def grab_image(self, what: str) -> QImage:
        """A picture of "filters" (the whole mosaic, each weight a SCALE-pixel square), "input",
        "heatmap" (the overlay), or "layer:<key>" (that layer's feature-map section as shown)."""
        from cnnstudio.ui.qimage import numpy_to_qimage

        def crisp(array: np.ndarray, target: int) -> QImage:
            scale = max(1, target // max(array.shape[:2]))
            big = np.repeat(np.repeat(array, scale, axis=0), scale, axis=1)
            return numpy_to_qimage(np.ascontiguousarray(big)).copy()

        if what == "filters" and self.filter_mosaic is not None:
            return crisp(self.filter_mosaic, 2048)
        if what == "input" and self.input_pixels is not None:
            from cnnstudio.ui.qimage import chw_to_hwc

            return crisp(chw_to_hwc(self.input_pixels), 448)
        if what == "heatmap" and self.cam_image is not None:
            return crisp(self.cam_image, 448)
        if what.startswith("layer:"):
            section = self.section(what.split(":", 1)[1])
            if section is not None:
                return section.grab().toImage()
        raise ValueError(f"nothing to save for {what!r} yet")

    def save_png(self, what: str, path: str | Path) -> Path:
        path = Path(path)
        if not self.grab_image(what).save(str(path), "PNG"):
            raise OSError(f"could not write {path}")
        return path

    def save_png_dialog(self, what: str) -> None:
        try:
            self.grab_image(what)
        except ValueError:
            self.banner.show_message("Nothing to save yet.", "info")
            return
        stem = Path(self.checkpoint_path or "model").parent.name or "model"
        name = f"{stem}-{what.replace(':', '-')}.png"
        path, _ = QFileDialog.getSaveFileName(self, "Save as PNG", name, "PNG images (*.png)")
        if not path:
            return
        if not path.lower().endswith(".png"):
            path += ".png"
        try:
            self.save_png(what, path)
        except (OSError, ValueError) as exc:
            self.banner.show_message(f"Could not save {path}: {exc}", "error")
            return
        self.banner.show_message(f"Saved {path}", "ok")
        self.state.message.emit(f"Saved {path}")

    def _png_menu(self, what: str, global_pos) -> None:
        from PySide6.QtWidgets import QMenu

        menu = QMenu(self)
        menu.addAction("Save as PNG…", lambda: self.save_png_dialog(what))
        if what.startswith("layer:"):
            key = what.split(":", 1)[1]
            if key in self.conv_layer_keys():
                menu.addAction("Show this layer's filters", lambda: (self.select_layer(key),
                                                                     self.tabs.setCurrentIndex(1)))
        menu.popup(global_pos)

    # ------------------------------------------------------------------------------------------------
    def busy(self) -> bool:
        """Whether a model load, an inspection or a filter mosaic is under way (tests wait for False)."""
        return self._loading or self._inflight is not None or self._pending or self._filter_task is not None

    def shutdown(self) -> None:
        """Drop late results; the main window then waits for the worker threads."""
        self._shut_down = True
        self._model_gen += 1
        self._input_gen += 1
        self._filter_gen += 1
