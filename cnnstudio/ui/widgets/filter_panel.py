"""The Inspect page's Filters tab: what each channel of a convolution has learned, as one zoomable mosaic.

Two pictures of a layer: its weights (readable for the first convolution, whose kernels act on pixels)
and, for each output channel, the test-image patches that excite it most (readable at any depth: the
2,048 kernels of a second convolution are not). "Automatic" shows the first layer's weights and the
deeper layers' patches.

A view only: it asks through `requested(key, per_filter)` (weights) or `patchesRequested(key)` and
shows what it is given (a core.inspection.mosaic.FilterMosaic: filter_mosaic's or
core.inspection.patches.patch_mosaic's). Row-major image with explicit levels, created once; a new
layer is shown whole, the same layer after an epoch keeps the user's zoom.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QPointF, Signal
from PySide6.QtGui import QPalette
from PySide6.QtWidgets import QComboBox, QHBoxLayout, QLabel, QPushButton, QSizePolicy, QVBoxLayout, QWidget

from cnnstudio.core.inspection.display import layer_number
from cnnstudio.core.inspection.mosaic import FilterMosaic, MosaicLayout
from cnnstudio.ui.widgets.progress_row import ProgressRow

if TYPE_CHECKING:  # these import torch: only their types are needed here
    from cnnstudio.core.inspection.kernels import FilterGrid
    from cnnstudio.core.inspection.layers import ConvLayer
    from cnnstudio.core.inspection.maximise import ChannelImages
    from cnnstudio.core.inspection.patches import ChannelPatches

HOVER_HINT = "Hover over a filter to see its weights."
PATCH_HINT = "Hover over a channel's patches to see how strongly it responds to them."
# What the Show list offers. The weights' contrast is part of the choice (one list, not two, keeps the
# row short enough for a 1024-pixel window).
MODES = (("Automatic", "auto"), ("Weights", "weights"), ("Weights, one contrast for the layer", "weights-shared"),
         ("Top image patches", "patches"), ("Synthesised pictures", "synthesised"))
SYNTH_HINT = "Hover over a picture to see how strongly its channel responds to it."


class FilterPanel(QWidget):
    requested = Signal(str, bool)  # layer key, contrast per filter: the weights
    patchesRequested = Signal(str, str)  # layer key, "patches" (top test-image patches) or "synthesised"
    saveRequested = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.grid: FilterGrid | None = None  # shown (weights)
        self.patches: ChannelPatches | None = None  # shown (patches)
        self.synthesised: ChannelImages | None = None  # shown (synthesised)
        self.kind = "weights"
        self.mosaic: np.ndarray | None = None  # uint8, as the core made it
        self.layout_info: MosaicLayout | None = None
        self._autorange_key: tuple | None = None
        fl = QVBoxLayout(self)
        fl.setContentsMargins(6, 6, 6, 0)
        row = QHBoxLayout()
        row.addWidget(QLabel("Layer"))
        self.layer_combo = QComboBox()
        # Long layer names must not widen the page past a 1024-pixel screen: the list opens wide anyway.
        self.layer_combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.layer_combo.setMinimumContentsLength(14)
        self.layer_combo.currentIndexChanged.connect(lambda _i: self.request())
        row.addWidget(self.layer_combo)
        row.addSpacing(12)
        row.addWidget(QLabel("Show"))
        self.mode_combo = QComboBox()
        for text, mode in MODES:
            self.mode_combo.addItem(text, mode)
        self.mode_combo.setToolTip("Weights: the kernels themselves, readable for the first layer, each filter "
                                   "with its own contrast (every pattern visible).\nOne contrast for the layer: "
                                   "strong and weak filters can be compared.\nTop image patches: for each "
                                   "channel, the parts of test images it responds to most (readable at any "
                                   "depth).\nSynthesised pictures: for each channel, a picture optimised to "
                                   "excite it (activation maximisation; takes seconds).\nAutomatic: weights for "
                                   "the first layer, patches deeper.")
        self.mode_combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.mode_combo.setMinimumContentsLength(9)
        self.mode_combo.currentIndexChanged.connect(lambda _i: self.request())
        row.addWidget(self.mode_combo)
        row.addStretch(1)
        self.save_button = QPushButton("Save as PNG…")  # on the bottom row, beside the hover text
        self.save_button.setToolTip("Save the whole filter mosaic as a picture, each weight a crisp square")
        self.save_button.clicked.connect(self.saveRequested)
        self.fit_button = QPushButton("Fit")
        self.fit_button.setToolTip("Show the whole mosaic again")
        self.fit_button.clicked.connect(lambda: self.fit(whole=True))
        fl.addLayout(row)
        # While a layer's pictures are computed (a deep layer's top patches take seconds): a busy bar,
        # and the previous layer's mosaic faded, so it is never taken for the new one.
        self.busy_row = ProgressRow()
        self.busy_row.cancel.hide()
        fl.addWidget(self.busy_row)
        self.help = QLabel()
        self.help.setWordWrap(True)
        fl.addWidget(self.help)
        self.view = pg.GraphicsView()
        self.box = pg.ViewBox(lockAspect=True, invertY=True, enableMenu=False)
        self.view.setCentralItem(self.box)
        self.item = pg.ImageItem()
        self.item.setOpts(axisOrder="row-major")
        self.box.addItem(self.item)
        self.view.scene().sigMouseMoved.connect(self._on_hover)
        fl.addWidget(self.view, 1)
        self.hover = QLabel(HOVER_HINT)
        self.hover.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        bottom = QHBoxLayout()
        bottom.addWidget(self.hover, 1)
        bottom.addWidget(self.fit_button)
        bottom.addWidget(self.save_button)
        fl.addLayout(bottom)

    @property
    def busy(self) -> bool:
        return not self.busy_row.isHidden()

    def set_busy(self, text: str | None) -> None:
        """text: what is being computed (the shown mosaic is marked out of date); None: done."""
        if text:
            self.busy_row.start(text, busy=True)
            self.item.setOpacity(0.25)
            self.view.setToolTip("Out of date: the pictures of the layer chosen are being computed")
        else:
            self.busy_row.hide()
            self.item.setOpacity(1.0)
            self.view.setToolTip("")

    def apply_theme(self) -> None:
        self.view.setBackground(self.palette().color(QPalette.ColorRole.Base))

    # -- the model's layers ---------------------------------------------------------------------------
    def set_layers(self, conv_layers: list[ConvLayer]) -> None:
        """Offer these convolutions (core.inspection.ConvLayer), keeping the chosen one when it is there."""
        keep = self.layer_combo.currentData()
        self.layer_combo.blockSignals(True)
        self.layer_combo.clear()
        for conv in conv_layers:
            if conv.in_block:
                self.layer_combo.addItem(f"    {layer_number(conv.key)}: {conv.label}  (in residual block "
                                         f"{layer_number(conv.index)})", conv.key)
            else:
                self.layer_combo.addItem(f"{layer_number(conv.key)}: {conv.label}", conv.key)
        i = self.layer_combo.findData(keep)
        self.layer_combo.setCurrentIndex(i if i >= 0 else 0)
        self.layer_combo.blockSignals(False)

    def layer_keys(self) -> list[str]:
        return [self.layer_combo.itemData(i) for i in range(self.layer_combo.count())]

    def select_layer(self, key: str) -> bool:
        i = self.layer_combo.findData(str(key))
        if i < 0:
            return False
        if i == self.layer_combo.currentIndex():
            self.request()
        else:
            self.layer_combo.setCurrentIndex(i)
        return True

    def set_mode(self, mode: str) -> None:
        """"auto", "weights", "weights-shared" (one contrast for the layer) or "patches"."""
        self.mode_combo.setCurrentIndex(max(0, self.mode_combo.findData(mode)))

    def effective_mode(self, key: str | None = None) -> str:
        """What the layer is shown as: "weights", "patches" or "synthesised"."""
        mode = self.mode_combo.currentData()
        if mode != "auto":
            return "weights" if mode.startswith("weights") else mode
        key = key if key is not None else self.layer_combo.currentData()
        keys = self.layer_keys()
        return "weights" if not keys or key == keys[0] else "patches"

    def request(self) -> None:
        key = self.layer_combo.currentData()
        if key is None:
            return
        if self.effective_mode(key) == "weights":
            self.requested.emit(str(key), self.mode_combo.currentData() != "weights-shared")
        else:
            self.patchesRequested.emit(str(key), self.effective_mode(key))

    # -- showing a mosaic -------------------------------------------------------------------------------
    def show_result(self, result: FilterMosaic) -> None:
        self.kind = result.kind
        self.grid = result.grid
        self.patches = result.patches
        self.synthesised = result.synthesised
        self.mosaic = result.mosaic
        self.layout_info = result.layout
        self.item.setImage(result.display, autoLevels=False, levels=(0, 255))
        key = (result.key, self.kind, self.mosaic.shape)
        if key != self._autorange_key:  # a new layer: show it whole; the same layer after an epoch keeps the zoom
            self._autorange_key = key
            self.fit(whole=False)
        self._describe()

    @property
    def shown(self) -> FilterGrid | ChannelPatches | ChannelImages | None:
        """What the mosaic shows: the weights' FilterGrid, the ChannelPatches, or the synthesised ChannelImages."""
        return {"weights": self.grid, "patches": self.patches}.get(self.kind, self.synthesised)

    @property
    def tile_count(self) -> int:
        return self.layout_info.count if self.layout_info is not None else 0

    def fit(self, whole: bool = True) -> None:
        """Show the whole mosaic, or (whole=False) a tall one's top rows at the view's full width, readable."""
        if self.mosaic is None:
            return
        h, w = self.mosaic.shape[:2]
        view = self.box.boundingRect()
        vw, vh = max(1.0, view.width()), max(1.0, view.height())
        if not whole and h / w > 1.5 * vh / vw:
            self.box.setRange(xRange=(0, w), yRange=(0, w * vh / vw), padding=0.02)
        else:
            self.box.setRange(xRange=(0, w), yRange=(0, h), padding=0.02)

    def _describe(self) -> None:
        if self.kind == "synthesised":
            self.help.setText("For each channel, a picture optimised to make it fire as hard as it can (activation "
                              "maximisation, with jitter and a smoothness prior, from faint noise): what the channel "
                              "looks for, with no test image involved. Compare with its top image patches.")
            self.hover.setText(SYNTH_HINT)
            return
        p = self.patches
        if self.kind == "patches" and p is not None:
            fh, fw = p.field
            self.help.setText(
                f"{p.channels} channels, each with the {p.per_channel} patches of the {p.searched:,} test images "
                f"searched that excite it most, strongest first ({fh}×{fw} pixels: what one cell of this "
                "layer sees). What a channel's patches share is what it detects. Scroll to zoom, Fit to see all.")
            self.hover.setText(PATCH_HINT)
            return
        g, lay = self.grid, self.layout_info
        assert g is not None and lay is not None  # a weights mosaic is shown
        kh, kw = lay.tile
        size = f"{kh}×{kw}"
        if g.color:
            text = (f"{g.out_channels} filters of {size} pixels, shown in colour: each one is the colour pattern "
                    "it responds to in the input image.")
        elif g.in_channels == 1:
            text = (f"{g.out_channels} filters, each {size} weights. Bright = positive weight, dark = negative, "
                    "grey = 0: a filter responds where the image looks like its bright part.")
        else:
            shown = lay.shown_inputs
            part = (f"its {size} kernel for each of the {g.in_channels} input channels" if shown == g.in_channels
                    else f"its {size} kernels for the first {shown} of {g.in_channels} input channels")
            text = (f"{g.out_channels} filters, one per row: {part}, left to right. Bright = positive weight, "
                    "dark = negative, grey = 0.")
        self.help.setText(text + " Scroll to zoom, drag to pan, Fit to see all.")
        self.hover.setText(HOVER_HINT)

    def text_at(self, y: float, x: float) -> str | None:
        """Hover text for mosaic pixel (row y, column x): filter index and value range, or None."""
        from cnnstudio.core.inspection import tile_at

        g, lay = self.grid, self.layout_info
        if lay is None:
            return None
        if self.kind == "patches" and self.patches is not None:
            channel = tile_at(y, x, lay.tile, lay.cols, lay.count, lay.pad)
            return None if channel is None else self.patches.describe(channel).capitalize()
        if self.kind == "synthesised" and self.synthesised is not None:
            channel = tile_at(y, x, lay.tile, lay.cols, lay.count, lay.pad)
            if channel is None:
                return None
            s = self.synthesised
            return (f"Channel {channel}: mean response {s.activation[channel]:.3g} to this picture "
                    f"({s.start_activation[channel]:.3g} to the noise it started from)")
        if g is None:
            return None
        index = tile_at(y, x, lay.tile, lay.cols, lay.count, 1)
        if index is None:
            return None
        if lay.inputs > 1:
            f, c = divmod(index, lay.shown_inputs)
            return f"{g.describe(f).capitalize()} · the kernel shown is for input channel {c}"
        return g.describe(index).capitalize()

    def _on_hover(self, pos: QPointF) -> None:
        if self.mosaic is None:
            return
        point = self.box.mapSceneToView(pos)
        self.hover.setText(self.text_at(point.y(), point.x())
                           or {"patches": PATCH_HINT, "synthesised": SYNTH_HINT}.get(self.kind, HOVER_HINT))
