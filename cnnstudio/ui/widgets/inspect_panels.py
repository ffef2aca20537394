"""The Inspect page's controls: the input row and the left panel (prediction, heatmap and its settings).

Views only: they hold widgets and emit what the user asks for; the page connects them to its session.
"""

from __future__ import annotations

from typing import TYPE_CHECKING
from collections.abc import Callable, Sequence

import numpy as np
from PySide6.QtCore import QPoint, Qt, Signal
from PySide6.QtGui import QIcon, QImage, QKeySequence, QPalette
from PySide6.QtWidgets import (QCheckBox, QComboBox, QFrame, QGridLayout, QHBoxLayout, QLabel, QPushButton,
                               QMenu, QScrollArea, QSlider, QSpinBox, QTabWidget, QVBoxLayout, QWidget)

from cnnstudio.core.inspection.display import layer_number
from cnnstudio.core.inspection.mosaic import LayerSection
from cnnstudio.core.model_context import ModelContext
from cnnstudio.core.text import printable
from cnnstudio.ui.widgets.color_scale import ColorScale, lut_colors
from cnnstudio.ui.widgets.compare_panel import ComparePanel, ExplainDriver
from cnnstudio.ui.widgets.elided_label import ElidedLabel
from cnnstudio.ui.widgets.feature_section import FeatureSection, _html
from cnnstudio.ui.widgets.filter_panel import FilterPanel
from cnnstudio.ui.widgets.prediction import PixelView, ProbabilityBars, format_probability
from cnnstudio.ui.widgets.section_title import section_title

if TYPE_CHECKING:  # imports torch: only its type is needed here
    from cnnstudio.core.inspection.attribution import Inspection

TOP_K = 5


class InputBar(QWidget):
    """Which input: a test image (number, previous, next, random), a picture, or the drawing; and the
    line saying what is shown and which model."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        bar = QHBoxLayout()
        bar.addWidget(QLabel("Test image"))
        self.index_spin = QSpinBox()
        self.index_spin.setRange(0, 0)
        self.index_spin.setKeyboardTracking(False)
        self.index_spin.setToolTip("Which image of the test set to look at")
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
        for b in (self.prev_button, self.next_button, self.random_button):
            bar.addWidget(b)
        bar.addSpacing(14)
        self.open_button = QPushButton(QIcon.fromTheme("document-open"), "Open image…")
        self.open_button.setToolTip("Look at a picture file instead; you can also drop one on this page or paste "
                                    "one (Ctrl+V). It is framed like the training images.")
        bar.addWidget(self.open_button)
        self.follow_draw_check = QCheckBox("Follow the drawing")
        self.follow_draw_check.setToolTip("Inspect whatever you draw on the Draw page (7  Draw), live")
        self.follow_train_check = QCheckBox("Update during training")
        self.follow_train_check.setChecked(True)
        self.follow_train_check.setToolTip("While a model trains, reload it after every epoch (from the run's "
                                           "last.pt) and show how its filters and maps change")
        # Long run names must not widen the page: the labels shorten them with "…" (the tooltip has the
        # whole text).
        self.input_label = ElidedLabel()
        self.model_label = ElidedLabel()  # "Model convnet-5x5 · 20261201-1…": the model, then the run
        # Two rows, so the page fits a 1024-pixel-wide screen: navigation and which model; what is shown and
        # the two "follow" switches.
        bar.addWidget(self.model_label, 1)
        info = QHBoxLayout()
        info.addWidget(self.input_label, 1)
        info.addWidget(self.follow_draw_check)
        info.addSpacing(10)
        info.addWidget(self.follow_train_check)
        col = QVBoxLayout(self)
        col.setContentsMargins(0, 0, 0, 0)
        col.setSpacing(2)
        col.addLayout(bar)
        col.addLayout(info)

    def set_test_count(self, n: int, index: int) -> None:
        """How many test images the model has (0: none), showing `index` (clamped)."""
        self.index_spin.blockSignals(True)
        self.index_spin.setRange(0, max(0, n - 1))
        self.index_spin.setValue(min(index, max(0, n - 1)))
        self.index_spin.blockSignals(False)
        self.count_label.setText(f"of {n:,}" if n else "(no test set)")
        for w in (self.index_spin, self.prev_button, self.next_button, self.random_button):
            w.setEnabled(n > 0)


class ExplainPanel(QFrame):
    """The prediction, the input beside its heatmap, and the heatmap's settings."""

    pictureMenuRequested = Signal(str, QPoint)  # "input" / "heatmap", global position

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.heatmap: np.ndarray | None = None  # float (H, W) 0..1 shown (Grad-CAM or saliency)
        self.cam_image: np.ndarray | None = None  # uint8 (H, W, 3): the heatmap blended over the input
        self.setFixedWidth(310)
        v = QVBoxLayout(self)
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
                lambda pos, v=view, w=what: self.pictureMenuRequested.emit(w, v.mapToGlobal(pos)))
        views.addWidget(self.input_caption, 1, 0)
        views.addWidget(self.cam_caption, 1, 1)
        self.heat_scale = ColorScale()
        self.heat_scale.setToolTip("The heatmap's colours: each map is scaled to its own strongest point")
        views.addWidget(self.heat_scale, 2, 1)
        v.addLayout(views)
        form = QGridLayout()
        form.setColumnStretch(1, 1)
        self.class_combo = QComboBox()
        self.class_combo.setToolTip("The class whose evidence the heatmap shows")
        self.method_combo = QComboBox()
        self.method_combo.addItem("Grad-CAM", "gradcam")
        self.method_combo.addItem("Saliency (pixel gradients)", "saliency")
        self.method_combo.setToolTip("Grad-CAM: which regions of a layer's maps raise the class score.\n"
                                     "Saliency: which single pixels would change the score the most.")
        self.cam_layer_combo = QComboBox()
        self.cam_layer_combo.setToolTip("The layer Grad-CAM looks at: later layers know more about classes, "
                                        "earlier layers have finer detail")
        self.alpha_slider = QSlider(Qt.Orientation.Horizontal)
        self.alpha_slider.setRange(0, 100)
        self.alpha_slider.setValue(50)
        self.alpha_slider.setToolTip("How strongly the heatmap covers the input")
        for row, (name, widget) in enumerate((("Explain", self.class_combo), ("Method", self.method_combo),
                                              ("Layer", self.cam_layer_combo), ("Opacity", self.alpha_slider))):
            form.addWidget(QLabel(name), row, 0)
            form.addWidget(widget, row, 1)
        label_item = form.itemAtPosition(2, 0)
        assert label_item is not None, "the Layer row was added just above"
        self.cam_layer_label = label_item.widget()
        v.addLayout(form)
        self.heat_help = QLabel()
        self.heat_help.setWordWrap(True)
        v.addWidget(self.heat_help)
        v.addStretch(1)

    def set_model(self, ctx: ModelContext, same_arch: bool) -> None:
        """Offer this model's classes and Grad-CAM layers, keeping the choices when the model is the same."""
        keep_class = self.class_combo.currentData() if same_arch else None
        self.class_combo.blockSignals(True)
        self.class_combo.clear()
        self.class_combo.addItem("the predicted class", None)
        for i, name in enumerate(ctx.classes):
            self.class_combo.addItem(printable(name), i)
        j = self.class_combo.findData(keep_class) if keep_class is not None else 0
        self.class_combo.setCurrentIndex(max(0, j))
        self.class_combo.blockSignals(False)
        keep_layer = self.cam_layer_combo.currentData() if same_arch else None
        self.cam_layer_combo.blockSignals(True)
        self.cam_layer_combo.clear()
        for choice in ctx.cam_layers:
            c, h, w = choice.shape
            mark = "  (default)" if choice.key == ctx.default_cam else ""
            self.cam_layer_combo.addItem(f"{layer_number(choice.key)}: {choice.label}, {h}×{w}{mark}", choice.key)
        k = self.cam_layer_combo.findData(keep_layer if keep_layer is not None else ctx.default_cam)
        self.cam_layer_combo.setCurrentIndex(max(0, k))
        self.cam_layer_combo.blockSignals(False)

    # -- the heatmap's settings and picture --------------------------------------------------------------
    def target_class(self) -> int | None:
        data = self.class_combo.currentData()
        return None if data is None else int(data)

    def method(self) -> str:
        return self.method_combo.currentData() or "gradcam"

    @staticmethod
    def select(combo: QComboBox, data: object) -> bool:
        """Choose the entry holding `data` (the first entry for None); False when there is none."""
        i = combo.findData(data) if data is not None else 0
        if i >= 0:
            combo.setCurrentIndex(i)
        return i >= 0

    def describe_method(self) -> None:
        saliency = self.method() == "saliency"
        self.cam_layer_combo.setEnabled(not saliency)
        if saliency:
            self.heat_help.setText("Saliency: bright pixels are those whose change would move the class score "
                                   "the most.")
        else:
            self.heat_help.setText("Grad-CAM: red marks the regions that raised the score of the explained class "
                                   "the most, blue the ones that did not matter for it.")

    def show_heatmap(self, ins: Inspection, classes: list[str], input_pixels: np.ndarray | None) -> None:
        """The inspection's Grad-CAM or saliency over the input, with a caption naming what it explains."""
        target = self.target_class()
        explained = ins.cam.class_index if ins.cam is not None else (target if target is not None else ins.predicted)
        name = f"'{printable(classes[explained])}'"
        if self.method() == "saliency":
            self.heatmap = ins.saliency
            self.cam_caption.setText(f"Saliency for {name}")
        elif ins.cam is not None:
            self.heatmap = ins.cam.cam
            self.cam_caption.setText(f"Grad-CAM for {name} at layer {layer_number(ins.cam.key)}")
        else:
            self.heatmap = None
            self.cam_caption.setText(ins.cam_error or "No heatmap for this model")
        self.redraw_heat(input_pixels)

    def redraw_heat(self, input_pixels: np.ndarray | None) -> None:
        from cnnstudio.core.inspection import overlay

        if self.heatmap is None or input_pixels is None:
            self.cam_image = None
            self.heat_view.set_pixels(None)
            self.heat_scale.set_scale([], [])
            return
        colormap = "inferno" if self.method() == "saliency" else "jet"
        self.cam_image = overlay(input_pixels, self.heatmap, alpha=self.alpha_slider.value() / 100, colormap=colormap)
        self.heat_view.set_pixels(np.ascontiguousarray(self.cam_image.transpose(2, 0, 1)))
        self.heat_scale.set_scale([("", lut_colors(colormap))], [(0.0, "least"), (1.0, "most")])

    def clear_heatmap(self) -> None:
        self.heatmap = self.cam_image = None
        self.heat_view.set_pixels(None)
        self.heat_scale.set_scale([], [])

    def show_prediction(self, probs: np.ndarray, predicted: int, classes: list[str], true_class: int | None) -> None:
        """The top classes as bars and a headline: the predicted class, and right or wrong when known."""
        order = np.argsort(-probs)[:TOP_K]
        self.bars.set_rows([(classes[i], float(probs[i])) for i in order])
        highlight = self.palette().color(QPalette.ColorRole.Highlight).name()
        verdict = ""
        if true_class is not None:
            verdict = ("&nbsp;&nbsp;<span style='color:#3a9a4a'>✓ correct</span>" if true_class == predicted else
                       f"<br><span style='color:#dc322f'>✗ wrong: it is {_html(printable(classes[true_class]))}</span>")
        self.headline.setText(f"<span style='font-size:20px; font-weight:600; color:{highlight}'>"
                              f"{_html(printable(classes[predicted]))}</span>&nbsp;&nbsp;<span style='font-size:14px'>"
                              f"{format_probability(float(probs[predicted]))}</span>{verdict}")

    def class_names(self) -> list[str]:
        return [self.class_combo.itemText(i) for i in range(1, self.class_combo.count())]



class FeatureMapsPanel(QWidget):
    """Every layer's output for the inspected input, one FeatureSection per layer, first to last.

    Sections are created once per architecture and then only given new data (no widget churn while a
    drawing is followed stroke by stroke)."""

    pictureMenuRequested = Signal(str, QPoint)  # "layer:<key>", global position

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.sections: list[FeatureSection] = []
        self._arch: list[tuple[str, str, tuple]] = []
        self._muted = "#888"
        ml = QVBoxLayout(self)
        ml.setContentsMargins(6, 6, 6, 0)
        top = QHBoxLayout()
        self.help = QLabel("What every layer computes for this input, from the first layer to the class "
                           "scores. Each small image is one channel: bright = strong response.")
        self.help.setWordWrap(True)
        top.addWidget(self.help, 1)
        top.addWidget(QLabel("Brightness"))
        self.levels_combo = QComboBox()
        self.levels_combo.addItem("each map on its own", "map")
        self.levels_combo.addItem("shared by the layer", "layer")
        self.levels_combo.setToolTip("Each map on its own: every pattern is visible.\nShared by the layer: "
                                     "strong and weak channels can be compared.")
        top.addWidget(self.levels_combo)
        ml.addLayout(top)
        self.scroll_area = QScrollArea()
        self.scroll_area.setWidgetResizable(True)
        self.scroll_area.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        container = QWidget()
        self.column = QVBoxLayout(container)
        self.column.setContentsMargins(0, 0, 8, 0)
        self.column.addStretch(1)
        self.scroll_area.setWidget(container)
        ml.addWidget(self.scroll_area, 1)

    def set_muted(self, color: str) -> None:
        self._muted = color
        for section in self.sections:
            section.set_title(color)

    def section(self, key: str) -> FeatureSection | None:
        return next((s for s in self.sections if s.key == str(key)), None)

    def show_sections(self, sections: Sequence[LayerSection], classes: list[str]) -> None:
        arch = [(s.key, s.label, tuple(s.shape)) for s in sections]
        if arch != self._arch:
            self._rebuild(sections)
            self._arch = arch
        n = len(sections)
        for i, (section, data) in enumerate(zip(self.sections, sections)):
            labels = classes if (i == n - 1 and data.kind == "vector" and data.shape[0] == len(classes)) \
                else None
            section.set_data(data, labels)

    def _rebuild(self, sections: Sequence[LayerSection]) -> None:
        for section in self.sections:
            self.column.removeWidget(section)
            section.deleteLater()
        self.sections = []
        for s in sections:
            section = FeatureSection(s.key, s.index, s.label, s.shape, s.kind)
            section.set_title(self._muted)
            section.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
            section.customContextMenuRequested.connect(
                lambda pos, sec=section: self.pictureMenuRequested.emit(f"layer:{sec.key}", sec.mapToGlobal(pos)))
            self.column.insertWidget(self.column.count() - 1, section)
            self.sections.append(section)
        if sections and sections[-1].kind == "vector":
            last = self.sections[-1]
            last.title.setText(last.title.text() + f"&nbsp;&nbsp;<span style='color:{self._muted}'>"
                               "(the class scores, before softmax)</span>")


class InspectContent(QWidget):
    """The Inspect page's layout once a model is loaded: the input row above, the prediction and heatmap
    panel on the left (scrolling in a short window), the feature maps and filters in tabs."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.input_bar = InputBar()
        self.explain = ExplainPanel()
        self.maps = FeatureMapsPanel()
        self.filters = FilterPanel()
        self.compare = ComparePanel()
        self.tabs = QTabWidget()
        self.tabs.addTab(self.maps, "Feature maps")
        self.tabs.addTab(self.filters, "Filters")
        self.tabs.addTab(self.compare, "Compare methods")
        # In a short window the prediction, both pictures and the heatmap's settings do not fit one above
        # the other: scroll them rather than let Qt squeeze the captions into the pictures.
        side = QScrollArea()
        side.setWidget(self.explain)
        side.setWidgetResizable(True)
        side.setFrameShape(QFrame.Shape.NoFrame)
        side.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        side.setFixedWidth(self.explain.width() + side.verticalScrollBar().sizeHint().width())
        side.viewport().setAutoFillBackground(False)
        self.explain.setAutoFillBackground(False)
        body = QHBoxLayout()
        body.addWidget(side, 0)
        body.addWidget(self.tabs, 1)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.input_bar)
        layout.addLayout(body, 1)

    def bind_compare(self, driver: ExplainDriver, shown: Callable[[], tuple[np.ndarray | None, str]]) -> None:
        """The Compare tab explains the picture shown (`shown`: its pixels and name) for the class and CAM layer
        chosen in the left panel."""
        def source() -> tuple[np.ndarray, int | None, str | None, str] | None:
            pixels, name = shown()
            if pixels is None:
                return None
            return pixels, self.explain.target_class(), self.explain.cam_layer_combo.currentData(), name

        self.compare.bind(driver, source)
        self.explain.class_combo.currentIndexChanged.connect(lambda _i: self.compare.input_changed())

    def picture(self, what: str, input_pixels: np.ndarray | None) -> QImage:
        """A picture of "filters" (the whole mosaic, each weight a crisp square), "input", "heatmap" (the
        overlay), or "layer:<key>" (that layer's feature-map section as shown)."""
        from cnnstudio.ui.qimage import chw_to_hwc, crisp_qimage

        if what == "filters" and self.filters.mosaic is not None:
            return crisp_qimage(self.filters.mosaic, 2048)
        if what == "input" and input_pixels is not None:
            return crisp_qimage(chw_to_hwc(input_pixels), 448)
        if what == "heatmap" and self.explain.cam_image is not None:
            return crisp_qimage(self.explain.cam_image, 448)
        if what.startswith("layer:"):
            section = self.maps.section(what.split(":", 1)[1])
            if section is not None:
                return section.grab().toImage()
        raise ValueError(f"nothing to save for {what!r} yet")

    def add_layer_actions(self, menu: QMenu, what: str) -> None:
        """A feature-map section's right-click menu: a convolution also offers its filters."""
        if what.startswith("layer:"):
            key = what.split(":", 1)[1]
            if key in self.filters.layer_keys():
                menu.addAction("Show this layer's filters", lambda: self._show_filters_of(key))

    def _show_filters_of(self, key: str) -> None:
        self.filters.select_layer(key)
        self.tabs.setCurrentIndex(1)

    def show_model(self, ctx: ModelContext, test_count: int, test_index: int) -> None:
        """A model was loaded: its layers, classes and test images in the controls."""
        same_arch = ([c.key for c in ctx.conv_layers] == self.filters.layer_keys()
                     and self.explain.class_names() == ctx.classes)
        self.filters.set_layers(ctx.conv_layers)
        self.explain.set_model(ctx, same_arch)
        self.input_bar.set_test_count(test_count, test_index)
