"""Inspect's "Compare methods" tab: several attribution methods side by side for one picture and one class,
each with its cost and how faithful it is (deletion and insertion curves), and the sanity check ("Randomise
the weights": the explanations of the model with its layers randomised from the top, and how much each
picture changed).

A view only: it drives an ExplainDriver (ui/sessions/explain_session.py ExplainSession, handed in by the
page through bind) and shows the values it sends (ui/values.py). What picture and class it explains comes
from the page through a source callable, read when the user asks.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Protocol

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QEvent, Qt, SignalInstance
from PySide6.QtGui import QColor, QPalette
from PySide6.QtWidgets import (QCheckBox, QFrame, QGridLayout, QHBoxLayout, QLabel, QPushButton, QScrollArea,
                               QVBoxLayout, QWidget)

from cnnstudio.core.inspection.display import overlay
from cnnstudio.core.text import printable
from cnnstudio.ui.values import Comparison, ExplainProgress, ExplainRequest, SanityShown
from cnnstudio.ui.widgets.prediction import PixelView
from cnnstudio.ui.widgets.progress_row import ProgressRow
from cnnstudio.ui.widgets.section_title import section_title

if TYPE_CHECKING:
    from cnnstudio.core.inspection.sanity import SanityResult

# core/inspection/methods.py METHODS, TITLES and SLOW, repeated here: that module imports torch, and the page
# is built before torch has loaded. tests/ui/test_compare_methods.py checks they agree.
METHODS = (("saliency", "Saliency"), ("gradcam", "Grad-CAM"), ("gradcam++", "Grad-CAM++"), ("scorecam", "Score-CAM"),
           ("layercam", "LayerCAM"), ("integrated-gradients", "Integrated Gradients"), ("smoothgrad", "SmoothGrad"),
           ("occlusion", "Occlusion"))
SLOW = ("scorecam", "integrated-gradients", "occlusion")
DEFAULT = ("saliency", "gradcam", "gradcam++", "layercam", "integrated-gradients", "smoothgrad")
COLOURS = ("#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#17becf")
UNSIGNED = ("saliency", "smoothgrad")  # shown in inferno, like the Inspect panel's saliency
TILE = 132
SMALL = 76
HELP = ("Each method's answer to \"which pixels made the model say this class?\" for the picture shown, side by "
        "side. Under each: its cost, and how faithful it is: the class's probability as its most highlighted "
        "pixels are removed (deletion: lower area is better) or added to a black picture (insertion: higher is "
        "better). Score-CAM, Integrated Gradients and occlusion take many passes of the model.")


class ExplainDriver(Protocol):
    """What the panel needs of ui/sessions/explain_session.ExplainSession."""

    progressed: SignalInstance
    compared: SignalInstance
    sanityReady: SignalInstance
    failed: SignalInstance
    cancelled: SignalInstance

    def compare(self, request: ExplainRequest) -> bool: ...
    def sanity(self, request: ExplainRequest) -> bool: ...
    def cancel(self) -> bool: ...


# (pixels, target class, CAM layer, name of the picture), or None when nothing is shown
Source = Callable[[], tuple[np.ndarray, int | None, str | None, str] | None]


def _overlay_chw(pixels: np.ndarray, heatmap: np.ndarray, method: str) -> np.ndarray:
    rgb = overlay(pixels, heatmap, 0.55, "inferno" if method in UNSIGNED else "jet")
    return np.ascontiguousarray(rgb.transpose(2, 0, 1))


class _Tile(QWidget):
    """One method's picture with its caption."""

    def __init__(self, side: int, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.view = PixelView("")
        self.view.setFixedSize(side, side)
        self.caption = QLabel()
        self.caption.setWordWrap(True)
        self.caption.setAlignment(Qt.AlignmentFlag.AlignHCenter)
        self.caption.setFixedWidth(side + 24)
        v = QVBoxLayout(self)
        v.setContentsMargins(0, 0, 0, 0)
        v.setSpacing(2)
        v.addWidget(self.view, 0, Qt.AlignmentFlag.AlignHCenter)
        v.addWidget(self.caption)


class ComparePanel(QScrollArea):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWidgetResizable(True)
        self.setFrameShape(QFrame.Shape.NoFrame)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self._driver: ExplainDriver | None = None
        self._source: Source | None = None
        self.comparison: Comparison | None = None  # shown
        self.sanity_shown: SanityShown | None = None
        body = QWidget()
        v = QVBoxLayout(body)
        v.setContentsMargins(6, 6, 8, 6)
        self.help = QLabel(HELP)
        self.help.setWordWrap(True)
        v.addWidget(self.help)
        checks = QGridLayout()
        self.checks: dict[str, QCheckBox] = {}
        for i, (method, title) in enumerate(METHODS):
            box = QCheckBox(title + (" (slow)" if method in SLOW else ""))
            box.setChecked(method in DEFAULT)
            self.checks[method] = box
            checks.addWidget(box, i // 4, i % 4)
        v.addLayout(checks)
        row = QHBoxLayout()
        self.compare_button = QPushButton("Compare")
        self.compare_button.setToolTip("Run the ticked methods on the picture shown, for the class chosen on the left")
        self.sanity_button = QPushButton("Randomise the weights")
        self.sanity_button.setToolTip("The sanity check (Adebayo et al. 2018): recompute each ticked method with the "
                                      "model's layers randomised from the top down. A method whose picture barely "
                                      "changes explains the picture, not the model.")
        row.addWidget(self.compare_button)
        row.addWidget(self.sanity_button)
        row.addStretch(1)
        v.addLayout(row)
        self.progress = ProgressRow()
        v.addWidget(self.progress)
        self.status = QLabel("Nothing compared yet.")
        self.status.setWordWrap(True)
        v.addWidget(self.status)

        v.addWidget(section_title("Side by side"))
        self.grid = QGridLayout()
        self.grid.setHorizontalSpacing(10)
        self.tiles: dict[str, _Tile] = {}
        v.addLayout(self.grid)

        v.addWidget(section_title("Faithfulness"))
        plots = QHBoxLayout()
        # The legends where the curves seldom are: deletion falls early (top right), insertion rises (bottom right).
        self.deletion_plot = self._plot("Deletion: most highlighted pixels removed", (-4, 4))
        self.insertion_plot = self._plot("Insertion: most highlighted pixels added", (-4, -4))
        plots.addWidget(self.deletion_plot)
        plots.addWidget(self.insertion_plot)
        v.addLayout(plots)

        v.addWidget(section_title("Sanity check: randomise the weights"))
        self.sanity_help = QLabel("Press \"Randomise the weights\": each method is recomputed with the layers "
                                  "randomised from the top (left) down to the first (right).")
        self.sanity_help.setWordWrap(True)
        v.addWidget(self.sanity_help)
        self.sanity_grid = QGridLayout()
        self.sanity_grid.setHorizontalSpacing(6)
        v.addLayout(self.sanity_grid)
        v.addStretch(1)
        self.setWidget(body)
        self._apply_theme()
        self.compare_button.clicked.connect(self.compare)
        self.sanity_button.clicked.connect(self.randomise)
        self.progress.cancel.clicked.connect(self.cancel)

    @staticmethod
    def _plot(title: str, legend_at: tuple[int, int]) -> pg.PlotWidget:
        plot = pg.PlotWidget()
        plot.setMinimumHeight(230)
        plot.setMenuEnabled(False)
        plot.setMouseEnabled(False, False)
        plot.setTitle(title, size="9pt")
        plot.setLabel("bottom", "fraction of pixels")
        plot.setLabel("left", "probability")
        plot.setXRange(0, 1, padding=0.02)
        plot.setYRange(0, 1, padding=0.02)
        plot.addLegend(offset=legend_at, labelTextSize="8pt")
        return plot

    def changeEvent(self, event: QEvent) -> None:
        if event.type() in (QEvent.Type.PaletteChange, QEvent.Type.ApplicationPaletteChange):
            self._apply_theme()
        super().changeEvent(event)

    def _apply_theme(self) -> None:
        """The plots in the window's colours, as the Train page's charts (a dark theme gets dark plots)."""
        pal = self.palette()
        base, text = pal.color(QPalette.ColorRole.Base), pal.color(QPalette.ColorRole.Text)
        muted = QColor(text)
        muted.setAlpha(170)
        fill = QColor(base)
        fill.setAlpha(200)
        for plot in (self.deletion_plot, self.insertion_plot):
            plot.setBackground(base)
            item = plot.getPlotItem()
            item.setTitle(item.titleLabel.text, size="9pt", color=text.name())
            for name in ("left", "bottom"):
                item.getAxis(name).setPen(pg.mkPen(muted))
                item.getAxis(name).setTextPen(pg.mkPen(text))
            if item.legend is not None:
                item.legend.setLabelTextColor(text)
                item.legend.setBrush(pg.mkBrush(fill))

    # -- wiring ------------------------------------------------------------------------------------------
    def bind(self, driver: ExplainDriver, source: Source) -> None:
        self._driver, self._source = driver, source
        driver.progressed.connect(self._on_progress)
        driver.compared.connect(self.show_comparison)
        driver.sanityReady.connect(self.show_sanity)
        driver.failed.connect(self._on_failed)
        driver.cancelled.connect(self._on_cancelled)

    def chosen(self) -> tuple[str, ...]:
        return tuple(m for m, _ in METHODS if self.checks[m].isChecked())

    def set_chosen(self, methods: tuple[str, ...] | list[str]) -> None:
        for method, box in self.checks.items():
            box.setChecked(method in methods)

    def _request(self) -> ExplainRequest | None:
        found = self._source() if self._source is not None else None
        if found is None:
            self.status.setText("Nothing to explain: choose a test image, or open or draw a picture.")
            return None
        if not self.chosen():
            self.status.setText("Tick at least one method.")
            return None
        pixels, target, cam_key, name = found
        return ExplainRequest(pixels, target, cam_key, self.chosen(), name)

    def compare(self) -> bool:
        request = self._request()
        if request is None or self._driver is None or not self._driver.compare(request):
            return False
        self.progress.start("Starting…", busy=False)
        return True

    def randomise(self) -> bool:
        request = self._request()
        if request is None or self._driver is None or not self._driver.sanity(request):
            return False
        self.progress.start("Copying the model…", busy=False)
        return True

    def cancel(self) -> None:
        if self._driver is not None:
            self._driver.cancel()
        self.progress.cancel.setEnabled(False)

    def input_changed(self) -> None:
        """A new picture or class on the page: what is shown explains another one."""
        if self.comparison is not None or self.sanity_shown is not None:
            self.status.setText("The picture or class changed: press Compare (or Randomise the weights) again.")

    @property
    def busy(self) -> bool:
        return not self.progress.isHidden()

    # -- what the session sends ------------------------------------------------------------------------
    def _on_progress(self, progress: ExplainProgress) -> None:
        self.progress.label.setText(progress.text)
        self.progress.bar.setValue(int(round(progress.fraction * 100)))

    def _on_failed(self, message: str) -> None:
        self.progress.hide()
        self.status.setText(f"Could not explain: {printable(message)}")

    def _on_cancelled(self) -> None:
        self.progress.hide()
        self.status.setText("Cancelled: the methods finished before it are shown.")

    def show_comparison(self, comparison: Comparison) -> None:
        self.comparison = comparison
        request = comparison.request
        for tile in self.tiles.values():
            self.grid.removeWidget(tile)
            tile.deleteLater()
        self.tiles = {}
        self.deletion_plot.clear()
        self.insertion_plot.clear()
        for legend in (self.deletion_plot.plotItem.legend, self.insertion_plot.plotItem.legend):
            if legend is not None:
                legend.clear()
        base = _Tile(TILE)
        base.view.set_pixels(np.ascontiguousarray(request.pixels))
        base.caption.setText("the picture")
        self.grid.addWidget(base, 0, 0)
        self.tiles["input"] = base
        order = [m for m, _ in METHODS]
        for n, shown in enumerate(comparison.methods, start=1):
            a, f = shown.attribution, shown.faithfulness
            tile = _Tile(TILE)
            tile.view.set_pixels(_overlay_chw(request.pixels, a.heatmap, a.method))
            cost = f"{a.seconds * 1000:.0f} ms" if a.seconds < 10 else f"{a.seconds:.1f} s"
            tile.caption.setText(f"<b>{a.title}</b> · {cost}<br>del. {f.deletion_auc:.2f} · ins. {f.insertion_auc:.2f}")
            tile.setToolTip(f"{a.title}: computed in {cost}"
                            + (f" at layer {a.layer}" if a.layer else "")
                            + f"\nArea under the deletion curve {f.deletion_auc:.3f} (lower: more faithful)"
                            + f"\nArea under the insertion curve {f.insertion_auc:.3f} (higher: more faithful)")
            self.grid.addWidget(tile, n // 4, n % 4)
            self.tiles[a.method] = tile
            pen = pg.mkPen(COLOURS[order.index(a.method) % len(COLOURS)], width=2)
            self.deletion_plot.plot(f.fractions, f.deletion, pen=pen, name=f"{a.title} {f.deletion_auc:.2f}")
            self.insertion_plot.plot(f.fractions, f.insertion, pen=pen, name=f"{a.title} {f.insertion_auc:.2f}")
        names = ", ".join(t for m, t in METHODS if m in request.methods)
        where = f" of {printable(request.name)}" if request.name else ""
        if comparison.done:
            self.progress.hide()
            best = min(comparison.methods, key=lambda s: s.faithfulness.deletion_auc)
            self.status.setText(f"Evidence for '{printable(comparison.class_name)}'{where}: {names}. The most "
                                f"faithful by deletion: {best.attribution.title}.")
        else:
            self.status.setText(f"Evidence for '{printable(comparison.class_name)}'{where}: "
                                f"{len(comparison.methods)} of {len(request.methods)} methods so far.")

    def show_sanity(self, shown: SanityShown) -> None:
        self.sanity_shown = shown
        self.progress.hide()
        while self.sanity_grid.count():
            item = self.sanity_grid.takeAt(0)
            widget = item.widget() if item is not None else None
            if widget is not None:
                widget.deleteLater()
        pixels = shown.request.pixels
        titles = dict(METHODS)
        row = 0
        for result in shown.results:
            self._sanity_row(result, titles[result.method] if result.method in titles else result.method, pixels,
                             row)
            row += 2
        flagged = [titles.get(r.method, r.method) for r in shown.results if r.flagged]
        self.sanity_help.setText(
            f"For '{printable(shown.class_name)}': left, the trained model; then the layers randomised from the top "
            "down to the one named. ρ: rank correlation with the trained model's picture. "
            + (f"Flagged: {', '.join(flagged)} (the picture barely changes: it does not explain this model)."
               if flagged else "No method flagged: every picture changed with the weights."))
        self.status.setText("Sanity check done.")

    def _sanity_row(self, result: SanityResult, title: str, pixels: np.ndarray, row: int) -> None:
        name = QLabel(f"<b>{title}</b>")
        name.setFixedWidth(92)
        name.setWordWrap(True)
        self.sanity_grid.addWidget(name, row, 0)
        trained = _Tile(SMALL)
        trained.view.set_pixels(_overlay_chw(pixels, result.trained, result.method))
        trained.caption.setText("trained")
        self.sanity_grid.addWidget(trained, row, 1)
        for i, step in enumerate(result.steps, start=2):
            tile = _Tile(SMALL)
            tile.view.set_pixels(_overlay_chw(pixels, step.heatmap, result.method))
            tile.caption.setText(f"ρ {step.spearman:.2f}")
            tile.setToolTip(f"Layers randomised from the top down to {step.down_to}: rank correlation "
                            f"{step.spearman:.3f} with the trained model's picture")
            self.sanity_grid.addWidget(tile, row, i)
        verdict = QLabel(("✗ " if result.flagged else "✓ ") + result.verdict())
        verdict.setWordWrap(True)
        verdict.setStyleSheet(f"color: {'#dc322f' if result.flagged else '#3a9a4a'}")
        self.sanity_grid.addWidget(verdict, row + 1, 1, 1, 6)
