"""One layer's output on the Inspect page: a title line and a mosaic of channel maps (or a vector view)."""

from __future__ import annotations


import numpy as np
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QFrame, QLabel, QVBoxLayout

from cnnstudio.core.inspection.display import layer_number
from cnnstudio.core.inspection.mosaic import LayerSection
from cnnstudio.ui.widgets.mosaic import MosaicView, VectorView


def _html(text: str) -> str:
    return str(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


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
        self._data: LayerSection | None = None
        self.set_title()

    def set_title(self, muted: str = "#888") -> None:
        if self.kind == "maps":
            c, h, w = self.shape
            what = f"{c} map{'s' if c != 1 else ''} of {h}×{w}"
        else:
            what = f"a vector of {self.shape[0]:,} values"
        self.title.setText(f"<b>{_html(layer_number(self.index))}: {_html(self.label)}</b>"
                           f"&nbsp;&nbsp;<span style='color:{muted}'>{what}</span>")

    def set_data(self, data: LayerSection, labels: list[str] | None = None) -> None:
        self._data = data
        if isinstance(self.view, MosaicView):  # the view made for the layer's kind: maps
            lo, hi = data.lo, data.hi
            assert lo is not None and hi is not None, "a map layer's section carries its value ranges"
            self.view.set_mosaic(data.image, data.tile, data.cols, data.count, 1,
                                 describe=lambda i: f"{self.label}, channel {i}: values {lo[i]:.3g} … {hi[i]:.3g}")
        else:
            self.view.set_values(data.values, labels)

    def image(self) -> np.ndarray | None:
        """The mosaic (uint8) for map layers, the heat strip for long vectors, None for bars."""
        return self.view.image()

    def values(self) -> np.ndarray | None:
        return self.view.values() if isinstance(self.view, VectorView) else None

    def tile_count(self) -> int:
        return self.view.tile_count() if isinstance(self.view, MosaicView) else 0
