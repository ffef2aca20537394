"""Live training charts: loss per step, loss per epoch, accuracy per epoch, learning rate.

Every curve is a PlotDataItem created once and updated with setData (field notes, pitfall 6); long
histories are clipped to the view and peak-downsampled, so a 100,000-step run draws as fast as a
short one. The same widget shows a run live (append_steps / append_epoch), a finished run reopened
from its metrics.json (load_history), or several runs overlaid in distinct colours (overlay).

Colours follow the palette: the background is the palette's base colour, axes and text its text
colour, and the curve colours are picked for a light or a dark theme.
"""

from __future__ import annotations

import math
from typing import Any
from collections.abc import Iterable

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QEvent, QRectF, Qt
from PySide6.QtGui import QColor, QPalette, QTextOption
from PySide6.QtWidgets import QGraphicsItem, QGridLayout, QSizePolicy, QWidget

from cnnstudio.ui.widgets.chart_hover import DurationAxis, HoverReadout, HoverSeries, format_duration

# Curve colours for one run: (light theme, dark theme).
COLORS = {
    "train": ("#1f6fb4", "#5fa8e8"),
    "val": ("#e8710a", "#ffa54f"),
    "lr": ("#6a3d9a", "#c39bd3"),
}
# One colour per run when runs are overlaid (Tableau 10, brightened for dark themes); runs past the tenth
# get hues spread by the golden ratio, so 20 or 30 runs still get distinct colours.
OVERLAY_LIGHT = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f",
                 "#bcbd22", "#17becf"]
OVERLAY_DARK = ["#5fa8e8", "#ffa54f", "#6fd36f", "#ff6b6b", "#c39bd3", "#d4a38f", "#f5a3d6", "#c7c7c7",
                "#e0e05a", "#5fe0ef"]

X_AXES = ("step", "time")  # what the x axes show: steps and epochs, or training time
DEFAULT_SMOOTHING = 0.85  # EMA weight of the smoothed loss (TensorBoard-style, bias-corrected)
EMPTY_HINT = "Curves appear once training starts"


def ema(values: Iterable[float], weight: float = DEFAULT_SMOOTHING) -> np.ndarray:
    """Bias-corrected exponential moving average: the first value is not pulled towards zero."""
    out = []
    acc = 0.0
    for i, v in enumerate(values, start=1):
        acc = weight * acc + (1 - weight) * float(v)
        out.append(acc / (1 - weight ** i))
    return np.asarray(out, dtype=float)


def short_run_label(name: str, limit: int = 26) -> str:
    """A legend-sized name: "20261122-041140-shapes-cnn3-dropout" -> "04:11:40 cnn3-dropout"."""
    import re

    m = re.match(r"^(\d{8})-(\d{2})(\d{2})(\d{2})-[^-]+-(.+?)(-\d+)?$", name)
    if m:
        return f"{m.group(2)}:{m.group(3)}:{m.group(4)} {m.group(5)}{m.group(6) or ''}"[:limit]
    return name if len(name) <= limit else name[:limit - 1] + "…"


def _floats(values: Iterable[float | None]) -> np.ndarray:
    """Numbers as floats, None as NaN (pyqtgraph leaves a gap there)."""
    return np.asarray([math.nan if v is None else float(v) for v in values], dtype=float)


PLOT_HINT = "Scroll to zoom along the x axis, drag to pan; double-click to fit the data again"


class _Series:
    """A growing pair of x / y arrays with amortised appends (no list -> array copy per update)."""

    def __init__(self) -> None:
        self.x = np.empty(256)
        self.y = np.empty(256)
        self.n = 0

    def clear(self) -> None:
        self.n = 0

    def extend(self, xs: Iterable[float], ys: Iterable[float]) -> None:
        xs = np.asarray(list(xs), dtype=float)
        ys = np.asarray(list(ys), dtype=float)
        need = self.n + len(xs)
        if need > len(self.x):
            size = max(need, 2 * len(self.x))
            self.x = np.resize(self.x, size)
            self.y = np.resize(self.y, size)
        self.x[self.n:need] = xs
        self.y[self.n:need] = ys
        self.n = need

    def view(self) -> tuple[np.ndarray, np.ndarray]:
        return self.x[:self.n], self.y[:self.n]


class TrainingCharts(QWidget):
    """Four linked-in-spirit plots in a 2 x 2 grid. Curve keys for curve_data(): step_loss,
    step_loss_smooth, epoch_train_loss, epoch_val_loss, epoch_train_acc, epoch_val_acc, lr."""

    def __init__(self, parent: QWidget | None = None, smoothing: float = DEFAULT_SMOOTHING):
        super().__init__(parent)
        self.smoothing = smoothing
        self._dark = False
        self.run_name = ""
        layout = QGridLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(6)

        self.loss_plot = self._make_plot("Training loss (every logged step)", "step", "loss")
        self.epoch_loss_plot = self._make_plot("Loss per epoch: training vs. validation", "epoch", "loss")
        self.acc_plot = self._make_plot("Accuracy per epoch", "epoch", "accuracy", units="%")
        self.lr_plot = self._make_plot("Learning rate", "step", "learning rate")
        self.lr_plot.getPlotItem().getAxis("left").setWidth(72)  # "0.0005" is wider than a loss tick
        # Options the Runs page offers (set_smoothing, set_log_loss, set_x_axis, set_hidden_runs).
        self.log_loss = False
        self.x_axis = "step"
        self.hidden_runs: set[str] = set()
        self._shown_input: tuple[str, Any] | None = None  # what load_history / overlay last showed
        for i, plot in enumerate((self.loss_plot, self.epoch_loss_plot, self.acc_plot, self.lr_plot)):
            layout.addWidget(plot, i // 2, i % 2)
        layout.setRowStretch(0, 1)
        layout.setRowStretch(1, 1)
        layout.setColumnStretch(0, 1)
        layout.setColumnStretch(1, 1)

        self.loss_legend = self.loss_plot.addLegend(offset=(-8, 8))
        self.epoch_loss_legend = self.epoch_loss_plot.addLegend(offset=(-8, 8))
        self.acc_legend = self.acc_plot.addLegend(offset=(-8, -8))  # accuracy rises to the top-right
        self.lr_legend = self.lr_plot.addLegend(offset=(-8, 8))

        # The single-run curves: created once, only ever updated with setData.
        self.curves: dict[str, pg.PlotDataItem] = {
            "step_loss": self.loss_plot.plot(name="loss (raw)"),
            "step_loss_smooth": self.loss_plot.plot(name="loss (smoothed)"),
            "epoch_train_loss": self.epoch_loss_plot.plot(name="training", symbol="o", symbolSize=6),
            "epoch_val_loss": self.epoch_loss_plot.plot(name="validation", symbol="o", symbolSize=6),
            "epoch_train_acc": self.acc_plot.plot(name="training", symbol="o", symbolSize=6),
            "epoch_val_acc": self.acc_plot.plot(name="validation", symbol="o", symbolSize=6),
            "lr": self.lr_plot.plot(),
        }
        self._single_legend_entries = {
            self.loss_legend: [self.curves["step_loss"], self.curves["step_loss_smooth"]],
            self.epoch_loss_legend: [self.curves["epoch_train_loss"], self.curves["epoch_val_loss"]],
            self.acc_legend: [self.curves["epoch_train_acc"], self.curves["epoch_val_acc"]],
        }
        self._steps = _Series()
        self._lr = _Series()
        self._smooth = _Series()  # (step, smoothed loss): grows like the raw series, no list -> array per update
        self._ema_acc = 0.0
        self._epochs: dict[str, list] = {k: [] for k in ("epoch", "train_loss", "val_loss", "train_acc", "val_acc")}
        self.recovery_marks: list[pg.InfiniteLine] = []  # where the run went back to its last good state

        # While a run is live, the x axes span the whole run (known at its start) and the loss axis moves
        # only in steps, so an update repaints the curves, not the axes (their tick text is the costly part).
        self._live_extent: tuple[int, int] | None = None
        self._loss_yrange: tuple[float, float] | None = None
        self._lr_top = 0.0

        # Overlay mode: one set of curves per run, kept in a pool and reused.
        self.overlay_curves: list[dict[str, Any]] = []
        self._pool: list[dict[str, pg.PlotDataItem]] = []
        self.mode = "single"

        self.hover = {
            self.loss_plot: HoverReadout(self.loss_plot, lambda: self._hover_series(self.loss_plot),
                                         self._format_x_steps, lambda v: f"{v:.4g}", lower_is_better=True),
            self.epoch_loss_plot: HoverReadout(self.epoch_loss_plot, lambda: self._hover_series(self.epoch_loss_plot),
                                               self.format_x_epochs, lambda v: f"{v:.4g}", lower_is_better=True),
            self.acc_plot: HoverReadout(self.acc_plot, lambda: self._hover_series(self.acc_plot),
                                        self.format_x_epochs, lambda v: f"{v:.2f} %", lower_is_better=False),
            self.lr_plot: HoverReadout(self.lr_plot, lambda: self._hover_series(self.lr_plot),
                                       self._format_x_steps, lambda v: f"{v:.3g}", lower_is_better=False),
        }

        self._hint = pg.TextItem(EMPTY_HINT, anchor=(0.5, 0.5))
        # Centred lines: in a narrow window the hint wraps inside the plot instead of running off it.
        self._hint.textItem.document().setDefaultTextOption(QTextOption(Qt.AlignmentFlag.AlignCenter))
        self.loss_plot.addItem(self._hint, ignoreBounds=True)
        self.loss_plot.getPlotItem().getViewBox().sigResized.connect(lambda _vb: self._place_hint())
        self._hint.setPos(0.5, 0.5)
        for plot in self.plots():
            # A resize re-elides the title, and so does the y axis growing (its tick labels change
            # with the data, and the title's room is what the axis leaves).
            plot.installEventFilter(self)
            plot.getPlotItem().getAxis("left").geometryChanged.connect(lambda p=plot: self._retitle(p))
        self._apply_theme()
        self.clear()

    # -- construction ------------------------------------------------------------------------------
    def _make_plot(self, title: str, x_label: str, y_label: str, units: str | None = None) -> pg.PlotWidget:
        plot = pg.PlotWidget(axisItems={"bottom": DurationAxis("bottom")})
        plot.setMinimumSize(240, 160)
        plot.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        item = plot.getPlotItem()
        item.setProperty("chart_title", title)
        item.setLabel("bottom", x_label)
        item.setProperty("x_label", x_label)
        item.setLabel("left", y_label, units=units)
        item.showGrid(x=True, y=True, alpha=0.15)
        item.setClipToView(True)
        item.setDownsampling(auto=True, mode="peak")
        item.setMenuEnabled(True)
        # pyqtgraph's corner "A" (auto-range) button reads as a stray letter: hidden. Double-click a
        # plot to fit it to its data again (the right-click menu has "View All" too).
        item.hideButtons()
        item.getViewBox().setMouseEnabled(x=True, y=False)  # wheel zooms along the steps only
        plot.scene().sigMouseClicked.connect(
            lambda event, p=item: p.enableAutoRange() if event.double() else None)
        plot.setToolTip(PLOT_HINT)
        # The grid makes each axis item span the plot area, so every curve update would repaint both axes
        # (tick text and grid lines: most of a live chart's paint time). Cached as pixmaps, they are
        # redrawn only when their ticks change and otherwise blitted.
        for name in ("left", "bottom"):
            item.getAxis(name).setCacheMode(QGraphicsItem.CacheMode.DeviceCoordinateCache)
        left = item.getAxis("left")
        left.setWidth(58)  # room for tick labels and the axis title side by side
        left.enableAutoSIPrefix(False)  # 0.001, not "x0.001" in the axis title
        return plot

    def _retitle(self, plot: pg.PlotWidget, color: str | None = None) -> None:
        """Set the plot's title, shortened with "…" to the room above the plot area: a title wider than
        that widens pyqtgraph's layout past the widget, and the plot's right end is cut off."""
        item = plot.getPlotItem()
        full = item.property("chart_title_now") or item.property("chart_title") or ""
        color = color or self._text_color()
        axis = item.getAxis("left").width() or 60
        room = plot.width() - axis - 16
        # The axis reports geometry changes on every layout pass; only a new title, room or colour
        # needs the label measured again.
        key = (full, int(room), color)
        if item.property("chart_title_key") == list(key) and item.geometry().width() <= plot.width():
            return
        item.setProperty("chart_title_key", list(key))

        def fits(text: str) -> bool:
            # Measured as the label draws it (rich text at 10 pt, with its own margins), not estimated.
            item.setTitle(text, color=color, size="10pt")
            return item.titleLabel.itemRect().width() <= room

        text = full
        if full and not fits(full):
            lo, hi = 0, len(full) - 1  # the longest prefix that fits with "…"
            while lo < hi:
                mid = (lo + hi + 1) // 2
                if fits(full[:mid].rstrip() + "…"):
                    lo = mid
                else:
                    hi = mid - 1
            text = full[:lo].rstrip() + "…"
            item.setTitle(text, color=color, size="10pt")
        item.setProperty("chart_title_shown", text)
        # The whole title, when it had to be shortened, above the usual hint.
        plot.setToolTip(f"{full}\n{PLOT_HINT}" if text != full else PLOT_HINT)
        # pyqtgraph sizes the plot to its view only when the view resizes: once a long title had made
        # the plot wider than the view, it stayed so. Fit it again now that the title is short.
        if item.geometry().width() > plot.width():
            item.setGeometry(QRectF(0, 0, plot.width(), plot.height()))

    def eventFilter(self, watched, event: QEvent) -> bool:
        if event.type() == QEvent.Type.Resize and watched in self.plots():
            self._retitle(watched)
        elif event.type() == QEvent.Type.Leave and watched in self.plots():
            self.hover[watched].hide()
        return super().eventFilter(watched, event)

    def plots(self) -> list[pg.PlotWidget]:
        """The four plots: step loss, epoch loss, accuracy, learning rate."""
        return [self.loss_plot, self.epoch_loss_plot, self.acc_plot, self.lr_plot]

    # -- theme ---------------------------------------------------------------------------------------
    def changeEvent(self, event: QEvent) -> None:
        if event.type() in (QEvent.Type.PaletteChange, QEvent.Type.ApplicationPaletteChange):
            self._apply_theme()
        super().changeEvent(event)

    def _apply_theme(self) -> None:
        pal = self.palette()
        base = pal.color(QPalette.ColorRole.Base)
        text = pal.color(QPalette.ColorRole.Text)
        self._dark = base.lightness() < 128
        muted = QColor(text)
        muted.setAlpha(170)
        for plot in self.plots():
            plot.setBackground(base)
            item = plot.getPlotItem()
            self._retitle(plot, text.name())
            for name in ("left", "bottom"):
                axis = item.getAxis(name)
                axis.setPen(pg.mkPen(muted))
                axis.setTextPen(pg.mkPen(text))
        for legend in (self.loss_legend, self.epoch_loss_legend, self.acc_legend, self.lr_legend):
            legend.setLabelTextColor(text)
            fill = QColor(base)
            fill.setAlpha(200)
            legend.setBrush(pg.mkBrush(fill))
        self._hint.setColor(muted)
        for readout in self.hover.values():
            readout.set_colors(base, text)
        self._style_single_curves()
        self._style_overlay_curves()

    def color(self, key: str) -> QColor:
        light, dark = COLORS[key]
        return QColor(dark if self._dark else light)

    def overlay_color(self, index: int) -> QColor:
        colors = OVERLAY_DARK if self._dark else OVERLAY_LIGHT
        if index < len(colors):
            return QColor(colors[index])
        hue = (0.13 + 0.618034 * (index - len(colors))) % 1.0
        return QColor.fromHsvF(hue, 0.65 if self._dark else 0.85, 0.95 if self._dark else 0.72)

    def _style_single_curves(self) -> None:
        train, val, lr = self.color("train"), self.color("val"), self.color("lr")
        faint = QColor(train)
        faint.setAlpha(90)
        c = self.curves
        c["step_loss"].setPen(pg.mkPen(faint, width=1))
        c["step_loss_smooth"].setPen(pg.mkPen(train, width=2.5))
        for key, color in (("epoch_train_loss", train), ("epoch_val_loss", val), ("epoch_train_acc", train),
                           ("epoch_val_acc", val)):
            c[key].setPen(pg.mkPen(color, width=2))
            c[key].setSymbolBrush(pg.mkBrush(color))
            c[key].setSymbolPen(pg.mkPen(color))
        c["lr"].setPen(pg.mkPen(lr, width=2))

    def _style_overlay_curves(self) -> None:
        for i, entry in enumerate(self.overlay_curves):
            self._style_overlay_set(entry["curves"], self.overlay_color(i))

    def _style_overlay_set(self, curves: dict[str, pg.PlotDataItem], color: QColor) -> None:
        faint = QColor(color)
        faint.setAlpha(60)
        curves["step_loss"].setPen(pg.mkPen(faint, width=1))
        curves["step_loss_smooth"].setPen(pg.mkPen(color, width=2.2))
        curves["epoch_val_loss"].setPen(pg.mkPen(color, width=2))
        curves["epoch_train_loss"].setPen(pg.mkPen(color, width=1.2, style=Qt.PenStyle.DashLine))
        curves["epoch_val_acc"].setPen(pg.mkPen(color, width=2))
        curves["epoch_train_acc"].setPen(pg.mkPen(color, width=1.2, style=Qt.PenStyle.DashLine))
        for key in ("epoch_val_loss", "epoch_val_acc", "epoch_train_loss", "epoch_train_acc"):
            curves[key].setSymbolBrush(pg.mkBrush(color))
            curves[key].setSymbolPen(pg.mkPen(color))
        curves["lr"].setPen(pg.mkPen(color, width=2))

    # -- one run, live or loaded -----------------------------------------------------------------------
    def clear(self, hint: str = EMPTY_HINT) -> None:
        """Empty every curve and go back to single-run mode; `hint` says what will appear (the Runs page:
        "Select a run", not "once training starts")."""
        self._set_mode("single")
        self._clear_recovery_marks()
        self._steps.clear()
        self._lr.clear()
        self._smooth.clear()
        self._ema_acc = 0.0
        for values in self._epochs.values():
            values.clear()
        for curve in self.curves.values():
            curve.setData([], [])
        self._live_extent = None
        self._loss_yrange = None
        self._lr_top = 0.0
        self._shown_input = None
        self._apply_x_axis(False)
        self._update_epoch_ticks(0)
        # An empty plot keeps whatever range it showed last (autorange has no data to go by): a new run
        # would start on the previous run's axes ("accuracy 83-88 %"). Start from neutral ones instead;
        # autorange takes over as soon as data arrives.
        for plot in self.plots():
            top = 100.0 if plot is self.acc_plot else 1.0
            plot.getPlotItem().getViewBox().setRange(xRange=(0.0, 1.0), yRange=(0.0, top), padding=0)
        self._autorange()
        for legend in (self.loss_legend, self.epoch_loss_legend, self.acc_legend, self.lr_legend):
            legend.setVisible(False)  # no legend over an empty plot: the hint says what will come
        self._hint.setText(hint)
        self._hint.setVisible(True)
        self._place_hint()

    def hint(self) -> str:
        """The sentence shown over empty plots ("" while curves are shown)."""
        return self._hint.textItem.toPlainText() if self._hint.isVisible() else ""

    def hint_rect(self) -> QRectF:
        """Where that sentence is drawn, in scene coordinates (it must stay inside the loss plot)."""
        return self._hint.sceneBoundingRect()

    @property
    def dark(self) -> bool:
        """Whether the colours follow a dark palette."""
        return self._dark

    def pooled_curves(self, plot: int) -> list[pg.PlotDataItem]:
        """The overlay curves kept for reuse on plot `plot` (its index in plots()), shown or hidden."""
        return list(self._pool[plot].values())

    def begin_run(self, name: str = "", history: dict | None = None) -> None:
        """Start showing a new live run; `history` is what a resumed run already has."""
        self.clear()
        self.run_name = name
        if history:
            self.load_history(history, name)

    def set_live_extent(self, total_steps: int, epochs: int) -> None:
        """Fix the x axes to the whole run, known when it starts: while it grows only the curves redraw
        (and the user sees how far along the run is)."""
        self._live_extent = (max(1, int(total_steps)), max(1, int(epochs)))
        steps, n_epochs = self._live_extent
        for plot in (self.loss_plot, self.lr_plot):
            vb = plot.getPlotItem().getViewBox()
            vb.disableAutoRange()
            vb.setXRange(0, steps, padding=0.02)
        for plot in (self.epoch_loss_plot, self.acc_plot):
            vb = plot.getPlotItem().getViewBox()
            vb.disableAutoRange(axis=pg.ViewBox.XAxis)
            vb.setXRange(0.5, n_epochs + 0.5, padding=0)
            vb.enableAutoRange(axis=pg.ViewBox.YAxis)
        self._update_epoch_ticks(n_epochs)
        if self._steps.n:
            self._fit_loss_range()
            self._fit_lr_range(self._lr.view()[1])

    def append_steps(self, steps: list) -> None:
        """Add the trainer's StepEvents (global_step, loss, lr), oldest first."""
        if not steps:
            return
        if self.mode != "single":
            self._set_mode("single")
        xs = [s.global_step for s in steps]
        self._append_step_values(xs, [s.loss for s in steps], [s.lr for s in steps])
        self._refresh_step_curves()

    def _append_step_values(self, xs: list, losses: list, lrs: list) -> None:
        xs = list(xs)  # read three times below
        self._steps.extend(xs, losses)
        self._lr.extend(xs, lrs)
        w = self.smoothing
        acc = self._ema_acc
        n = self._smooth.n
        smoothed = []
        for loss in losses:
            n += 1
            acc = w * acc + (1 - w) * float(loss)
            smoothed.append(acc / (1 - w ** n))
        self._smooth.extend(xs, smoothed)
        self._ema_acc = acc

    # -- recoveries (training/recovery.py) -----------------------------------------------------------
    def mark_recovery(self, step: int, epoch: int, reason: str, lr_factor: float) -> None:
        """A live run went back to `step` (in `epoch`, 1-based): drop what it undid, the steps after it and
        the epochs from `epoch` on (they are trained again), and mark the place."""
        x, y = self._steps.view()
        keep = int(np.searchsorted(x, step, side="right"))
        raw_x, raw_y, lr_y = x[:keep].copy(), y[:keep].copy(), self._lr.view()[1][:keep].copy()
        self._steps.clear()
        self._lr.clear()
        self._smooth.clear()
        self._ema_acc = 0.0
        self._append_step_values(list(raw_x), list(raw_y), list(lr_y))
        self._refresh_step_curves()
        e = self._epochs
        done = sum(1 for n in e["epoch"] if n < epoch)
        for values in e.values():
            del values[done:]
        self._refresh_epoch_curves()
        self._add_recovery_mark(float(step), step, reason, lr_factor)

    def _add_recovery_mark(self, x: float, step: int, reason: str, lr_factor: float) -> None:
        color = QColor("#d9822b")  # the warning orange: readable on the light and the dark theme
        # Labels low in the plot (a loss falls: the top right holds the legend), staggered so that
        # recoveries a few steps apart stay readable.
        height = 0.12 + 0.1 * (len(self.recovery_marks) % 4)
        line = pg.InfiniteLine(pos=x, angle=90, movable=False,
                               pen=pg.mkPen(color, width=2, style=Qt.PenStyle.DashLine),
                               label=f"recovered, lr ×{lr_factor:.2g}",
                               labelOpts={"position": height, "color": color, "anchors": [(0, 0.5), (0, 0.5)]})
        line.setToolTip(f"Recovered: {reason}.\nThe run went back to step {step:,}, its last good state, and goes on "
                        f"at ×{lr_factor:.3g} the learning rate.")
        self.loss_plot.addItem(line, ignoreBounds=True)
        self.recovery_marks.append(line)

    def _clear_recovery_marks(self) -> None:
        for line in self.recovery_marks:
            self.loss_plot.removeItem(line)
        self.recovery_marks = []

    def _mark_history_recoveries(self, history: dict, steps: list, step_x: list | None) -> None:
        """The recoveries a saved run made (metrics.json's "recoveries"), at their step or time."""
        for record in history.get("recoveries") or []:
            try:
                step, factor, reason = int(record["step"]), float(record["lr_factor"]), str(record["reason"])
            except (KeyError, TypeError, ValueError):
                continue  # a hand-edited record: the curves still show
            x = float(step)
            if steps and step_x is not None and list(step_x) != list(steps):  # time on the x axis
                x = float(np.interp(step, np.asarray(steps, float), np.asarray(step_x, float)))
            self._add_recovery_mark(x, step, reason, factor)

    def _refresh_step_curves(self) -> None:
        x, y = self._steps.view()
        self.curves["step_loss"].setData(x, y)
        self.curves["step_loss_smooth"].setData(*self._smooth.view())
        self.curves["lr"].setData(*self._lr.view())
        if self._live_extent is not None:
            self._fit_loss_range()
        self._fit_lr_range(self._lr.view()[1])
        if self._steps.n and not self.loss_legend.isVisible():
            self.loss_legend.setVisible(True)
        if self._hint.isVisible() and self._steps.n:
            self._hint.setVisible(False)

    def append_epoch(self, epoch) -> None:
        """Add the trainer's EpochEvent (epoch, train_loss, train_accuracy, val_loss, val_accuracy)."""
        if self.mode != "single":
            self._set_mode("single")
        e = self._epochs
        e["epoch"].append(epoch.epoch)
        e["train_loss"].append(epoch.train_loss)
        e["val_loss"].append(epoch.val_loss)
        e["train_acc"].append(epoch.train_accuracy)
        e["val_acc"].append(epoch.val_accuracy)
        self._refresh_epoch_curves()

    def _refresh_epoch_curves(self) -> None:
        e = self._epochs
        x = _floats(e["epoch"])
        self.curves["epoch_train_loss"].setData(x, _floats(e["train_loss"]), connect="finite")
        self.curves["epoch_val_loss"].setData(x, _floats(e["val_loss"]), connect="finite")
        self.curves["epoch_train_acc"].setData(x, 100 * _floats(e["train_acc"]), connect="finite")
        self.curves["epoch_val_acc"].setData(x, 100 * _floats(e["val_acc"]), connect="finite")
        if self._live_extent is None:
            self._update_epoch_ticks(int(max(e["epoch"])) if e["epoch"] else 0)
        if e["epoch"] and not self.acc_legend.isVisible():
            self.epoch_loss_legend.setVisible(True)
            self.acc_legend.setVisible(True)
        if self._hint.isVisible() and e["epoch"]:
            self._hint.setVisible(False)

    def load_history(self, history: dict, name: str = "") -> None:
        """Show a whole metrics history (metrics.json, or a checkpoint's) in single-run mode."""
        self.clear()
        self.run_name = name
        steps = history.get("steps") or {}
        xs, losses, lrs = list(steps.get("step", [])), list(steps.get("loss", [])), list(steps.get("lr", []))
        n = min(len(xs), len(losses), len(lrs))
        epochs = list(history.get("epoch", []))
        use_time, step_x, epoch_x = self._x_values(history, xs[:n], epochs)
        self._apply_x_axis(use_time)
        if n and step_x is not None:
            self._append_step_values(step_x, losses[:n], lrs[:n])
            self._refresh_step_curves()
        self._mark_history_recoveries(history, xs[:n], step_x)
        if epochs and epoch_x is not None:
            e = self._epochs
            e["epoch"] = epoch_x
            e["train_loss"] = list(history.get("train_loss", []))[:len(epochs)]
            e["val_loss"] = list(history.get("val_loss", []))[:len(epochs)]
            e["train_acc"] = list(history.get("train_accuracy", []))[:len(epochs)]
            e["val_acc"] = list(history.get("val_accuracy", []))[:len(epochs)]
            for key in ("train_loss", "val_loss", "train_acc", "val_acc"):
                e[key] += [None] * (len(epochs) - len(e[key]))
            self._refresh_epoch_curves()
        if not n and not epochs:
            self._hint.setText("This run has no metrics yet")
            self._hint.setVisible(True)
            self._place_hint()
        self._fit_lr_range(self._lr.view()[1])
        if use_time:
            self._autorange()
        self._shown_input = ("single", (history, name))

    def _x_values(self, history: dict, steps: list, epochs: list) -> tuple[bool, list | None, list | None]:
        """The x values of a history's step and epoch curves: steps and epoch numbers, or training times
        when the x axis shows time (None for curves whose times are not known)."""
        if self.x_axis != "time":
            return False, steps, epochs
        from cnnstudio.core.runs import curve_times

        step_t, epoch_t = curve_times(history)
        return True, (step_t[:len(steps)] if step_t is not None else None), epoch_t

    def _apply_x_axis(self, use_time: bool) -> None:
        for plot in self.plots():
            item = plot.getPlotItem()
            axis = item.getAxis("bottom")
            if axis.durations != use_time:
                axis.durations = use_time
                item.setLabel("bottom", "training time (h:mm:ss)" if use_time else item.property("x_label"))
                axis.picture = None  # tick text is cached: draw it again in the new format
                axis.update()

    def _format_x_steps(self, x: float) -> str:
        if self.loss_plot.getPlotItem().getAxis("bottom").durations:
            return f"after {format_duration(x)}"
        return f"step {int(round(x)):,}"

    def format_x_epochs(self, x: float) -> str:
        if self.acc_plot.getPlotItem().getAxis("bottom").durations:
            return f"after {format_duration(x)}"
        return f"epoch {int(round(x))}"

    def _hover_series(self, plot: pg.PlotWidget) -> list[HoverSeries]:
        """The curves the hover readout reads on `plot`: this run's, or each shown run's."""
        if self.mode == "single":
            c = self.curves
            train, val, lr = self.color("train").name(), self.color("val").name(), self.color("lr").name()
            return {
                self.loss_plot: [HoverSeries("smoothed", train, c["step_loss_smooth"]),
                                 HoverSeries("raw", train, c["step_loss"])],
                self.epoch_loss_plot: [HoverSeries("validation", val, c["epoch_val_loss"]),
                                       HoverSeries("training", train, c["epoch_train_loss"])],
                self.acc_plot: [HoverSeries("validation", val, c["epoch_val_acc"]),
                                HoverSeries("training", train, c["epoch_train_acc"])],
                self.lr_plot: [HoverSeries("learning rate", lr, c["lr"])],
            }[plot]
        out = []
        for entry in self.overlay_curves:
            if entry["name"] in self.hidden_runs:
                continue
            c, label, color = entry["curves"], entry["label"], entry["color"]
            out.append({
                self.loss_plot: HoverSeries(label, color, c["step_loss_smooth"]),
                self.epoch_loss_plot: HoverSeries(label, color, c["epoch_val_loss"], c["epoch_train_loss"]),
                self.acc_plot: HoverSeries(label, color, c["epoch_val_acc"], c["epoch_train_acc"]),
                self.lr_plot: HoverSeries(label, color, c["lr"]),
            }[plot])
        return out

    # -- options (the Runs page's bar above the charts) -----------------------------------------------
    def set_smoothing(self, weight: float) -> None:
        """Weight of the loss curves' moving average: 0 shows the raw loss, 0.99 a very smooth one."""
        weight = min(0.99, max(0.0, float(weight)))
        if weight == self.smoothing:
            return
        self.smoothing = weight
        if self.mode == "single":
            x, y = self._steps.view()
            self._smooth.clear()
            self._smooth.extend(x, ema(y, weight))
            n = self._smooth.n
            self._ema_acc = float(self._smooth.y[n - 1]) * (1 - weight ** n) if n else 0.0
            self.curves["step_loss_smooth"].setData(*self._smooth.view())
        else:
            for entry in self.overlay_curves:
                x, y = entry["curves"]["step_loss"].getOriginalDataset()
                if x is not None and len(x):
                    entry["curves"]["step_loss_smooth"].setData(x, ema(y, weight))

    def set_log_loss(self, on: bool) -> None:
        """Loss axes on a log scale: late training's small differences become visible."""
        self.log_loss = bool(on)
        for plot in (self.loss_plot, self.epoch_loss_plot):
            plot.getPlotItem().setLogMode(y=self.log_loss)
            plot.getPlotItem().enableAutoRange(axis="y")
        self._loss_yrange = None
        if self._live_extent is not None and self._steps.n:
            self._fit_loss_range()

    def set_x_axis(self, axis: str) -> None:
        """"step" (steps and epochs) or "time" (training time) on the x axes of a loaded run or of runs
        overlaid; a live run always plots steps."""
        if axis not in X_AXES:
            raise ValueError(f"x axis must be one of {X_AXES}, not {axis!r}")
        if axis == self.x_axis:
            return
        self.x_axis = axis
        shown = self._shown_input
        if shown is None:
            return
        kind, data = shown
        if kind == "single":
            self.load_history(*data)
        else:
            self.overlay(data)

    def set_hidden_runs(self, names: Iterable[str]) -> None:
        """Hide these runs' curves in the overlay (the run list's unchecked boxes); the axes fit the rest."""
        self.hidden_runs = set(names)
        for entry in self.overlay_curves:
            visible = entry["name"] not in self.hidden_runs
            for curve in entry["curves"].values():
                curve.setVisible(visible)
        if self.mode == "overlay":
            self._autorange()
            self._fit_lr_range(self._overlay_lr_values())

    def _overlay_lr_values(self) -> np.ndarray:
        values = [c["curves"]["lr"].getOriginalDataset()[1] for c in self.overlay_curves
                  if c["name"] not in self.hidden_runs]
        values = [v for v in values if v is not None and len(v)]
        return np.concatenate(values) if values else np.empty(0)

    # -- several runs ----------------------------------------------------------------------------------
    def overlay(self, runs: list[tuple]) -> None:
        """Overlay several runs' histories, one colour each (overlay_color(i)). Each run is (name, history)
        or (name, history, label): the label the hover readout and the run list show (by default a short
        form of the name). Validation curves are solid, training curves dashed. No legend: with many
        runs it covered the curves; the Runs page lists the runs with their colours beside the charts."""
        runs = list(runs)
        self.clear()
        self._set_mode("overlay")
        self.overlay_curves = []
        max_epoch = 0
        use_time = self.x_axis == "time"
        self._apply_x_axis(use_time)
        for i, run in enumerate(runs):
            name, history = run[0], run[1]
            if i >= len(self._pool):
                self._pool.append(self._new_overlay_set())
            curves = self._pool[i]
            color = self.overlay_color(i)
            self._style_overlay_set(curves, color)
            steps = history.get("steps") or {}
            sx, sl, slr = list(steps.get("step", [])), list(steps.get("loss", [])), list(steps.get("lr", []))
            n = min(len(sx), len(sl), len(slr))
            epochs = list(history.get("epoch", []))
            _, step_x, epoch_x = self._x_values(history, sx[:n], epochs)
            if step_x is None:  # times not known: the run's step curves are left out of a time axis
                n = 0
            sx_arr = np.asarray(step_x[:n] if n and step_x is not None else [], dtype=float)
            curves["step_loss"].setData(sx_arr, np.asarray(sl[:n], dtype=float))
            curves["step_loss_smooth"].setData(sx_arr, ema(sl[:n], self.smoothing))
            curves["lr"].setData(sx_arr, np.asarray(slr[:n], dtype=float))
            m = len(epochs) if epoch_x is not None else 0
            ex = _floats(epoch_x[:m] if m and epoch_x is not None else [])

            def col(key: str, scale: float = 1.0) -> np.ndarray:
                values = list(history.get(key, []))[:m]  # noqa: B023 - called only in this iteration
                values += [None] * (m - len(values))  # noqa: B023 - called only in this iteration
                return scale * _floats(values)

            curves["epoch_val_loss"].setData(ex, col("val_loss"), connect="finite")
            curves["epoch_train_loss"].setData(ex, col("train_loss"), connect="finite")
            curves["epoch_val_acc"].setData(ex, col("val_accuracy", 100), connect="finite")
            curves["epoch_train_acc"].setData(ex, col("train_accuracy", 100), connect="finite")
            for curve in curves.values():
                curve.setVisible(name not in self.hidden_runs)
            label = run[2] if len(run) > 2 else short_run_label(name)
            # The same colour means the same run in every plot and in the Runs page's run list.
            self.overlay_curves.append({"name": name, "label": label, "color": color.name(), "curves": curves})
            if m:
                max_epoch = max(max_epoch, int(max(epochs)))
        for curves in self._pool[len(runs):]:
            for curve in curves.values():
                curve.setData([], [])
                curve.setVisible(False)
        self._update_epoch_ticks(0 if use_time else max_epoch)
        self._autorange()
        self._fit_lr_range(self._overlay_lr_values())
        self._hint.setVisible(False)
        self.loss_legend.setVisible(False)
        self._shown_input = ("overlay", runs)
        for plot, title in ((self.loss_plot, "Training loss (smoothed)"),
                            (self.epoch_loss_plot, "Loss per epoch (dashed: training)"),
                            (self.acc_plot, "Accuracy per epoch (dashed: training)")):
            plot.getPlotItem().setProperty("chart_title_now", title)
            self._retitle(plot)

    def _new_overlay_set(self) -> dict[str, pg.PlotDataItem]:
        return {
            "step_loss": self.loss_plot.plot(),
            "step_loss_smooth": self.loss_plot.plot(),
            "epoch_val_loss": self.epoch_loss_plot.plot(symbol="o", symbolSize=6),
            "epoch_train_loss": self.epoch_loss_plot.plot(symbol="t", symbolSize=5),
            "epoch_val_acc": self.acc_plot.plot(symbol="o", symbolSize=6),
            "epoch_train_acc": self.acc_plot.plot(symbol="t", symbolSize=5),
            "lr": self.lr_plot.plot(),
        }

    def _text_color(self) -> str:
        return self.palette().color(QPalette.ColorRole.Text).name()

    def _set_mode(self, mode: str) -> None:
        if mode == self.mode and mode == "single":
            return
        for legend in (self.loss_legend, self.epoch_loss_legend, self.acc_legend, self.lr_legend):
            legend.clear()
        if mode == "single":
            for curves in self._pool:
                for curve in curves.values():
                    curve.setData([], [])
                    curve.setVisible(False)
            self.overlay_curves = []
            for curve in self.curves.values():
                curve.setVisible(True)
            for legend, items in self._single_legend_entries.items():
                for item in items:
                    legend.addItem(item, item.name())
                legend.setVisible(False)
            for plot in self.plots():
                plot.getPlotItem().setProperty("chart_title_now", None)
                self._retitle(plot)
        else:
            for curve in self.curves.values():
                curve.setData([], [])
                curve.setVisible(False)
        self.mode = mode

    # -- helpers ---------------------------------------------------------------------------------------
    def _update_epoch_ticks(self, n: int) -> None:
        """Whole-number epoch ticks: 1, 2, 3 ... (auto ticks would show 1.5 for a short run)."""
        if self.acc_plot.getPlotItem().getAxis("bottom").durations:
            n = 0  # a time axis: pyqtgraph's own ticks, shown as durations
        for plot in (self.epoch_loss_plot, self.acc_plot):
            axis = plot.getPlotItem().getAxis("bottom")
            if 0 < n <= 12:
                axis.setTicks([[(i, str(i)) for i in range(1, n + 1)], []])
            elif n > 12:
                step = max(1, int(math.ceil(n / 10)))
                axis.setTicks([[(i, str(i)) for i in range(step, n + 1, step)], []])
            else:
                axis.setTicks(None)
        if self._live_extent is not None:
            return
        for plot in (self.epoch_loss_plot, self.acc_plot):
            if n == 1:
                plot.getPlotItem().setXRange(0.5, 1.5, padding=0)
            else:
                plot.getPlotItem().enableAutoRange(axis="x")

    def _fit_lr_range(self, values: np.ndarray) -> None:
        """The learning rate axis starts at zero: a constant rate is a flat line part-way up, not noise.
        The top moves only when the rate outgrows it (a warm-up), not on every update."""
        finite = values[np.isfinite(values)] if len(values) else values
        top = float(finite.max()) if len(finite) else 0.0
        vb = self.lr_plot.getPlotItem().getViewBox()
        if top <= 0:
            self._lr_top = 0.0
            vb.enableAutoRange(axis=pg.ViewBox.YAxis)
        elif top > self._lr_top or top < self._lr_top / 2:
            self._lr_top = top * 1.15
            vb.setYRange(0.0, self._lr_top, padding=0)

    def _fit_loss_range(self) -> None:
        """Live loss axis with hysteresis: it changes when the loss leaves it, with headroom below, so a
        falling loss re-scales the axis a dozen times in a run instead of at every update."""
        if self.log_loss:  # hand-set ranges are linear; a log axis fits itself
            return
        y = self._steps.view()[1]
        finite = y[np.isfinite(y)]
        if not len(finite):
            return
        lo, hi = float(finite.min()), float(finite.max())
        span = max(hi - lo, 1e-3 * max(1.0, abs(hi)))
        current = self._loss_yrange
        if current is None or lo < current[0] or hi > current[1]:
            bottom = lo - 0.2 * span
            if lo >= 0:
                bottom = max(0.0, bottom)
            self._loss_yrange = (bottom, hi + 0.05 * span)
            vb = self.loss_plot.getPlotItem().getViewBox()
            vb.disableAutoRange(axis=pg.ViewBox.YAxis)
            vb.setYRange(*self._loss_yrange, padding=0)

    def _place_hint(self) -> None:
        vb = self.loss_plot.getPlotItem().getViewBox()
        (x0, x1), (y0, y1) = vb.viewRange()
        self._hint.setPos((x0 + x1) / 2, (y0 + y1) / 2)
        self._hint.setTextWidth(max(60.0, 0.9 * vb.width()))

    def _autorange(self) -> None:
        for plot in self.plots():
            plot.getPlotItem().enableAutoRange()

    def curve_data(self, key: str) -> tuple[np.ndarray, np.ndarray]:
        """The (x, y) arrays a single-run curve holds now (tests and screenshots read them)."""
        x, y = self.curves[key].getOriginalDataset()
        if x is None:
            return np.empty(0), np.empty(0)
        return np.asarray(x), np.asarray(y)

    @property
    def step_count(self) -> int:
        return self._steps.n

    @property
    def epoch_count(self) -> int:
        return len(self._epochs["epoch"])
