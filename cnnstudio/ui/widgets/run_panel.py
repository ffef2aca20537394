"""The Train page's right side: Start / Pause / Stop, the message banner, progress, charts and the log.

A view only: the page connects the buttons and decides what the texts say. The live charts, the costly
part of an update, redraw as often as the GUI thread's CPU budget allows (cnnstudio/ui/chart_pacing.py).
"""

from __future__ import annotations

import time
from collections.abc import Callable

from PySide6.QtCore import Qt, QTimer
from PySide6.QtGui import QKeySequence, QShortcut
from PySide6.QtWidgets import (QHBoxLayout, QLabel, QPlainTextEdit, QProgressBar, QPushButton, QSizePolicy, QSplitter,
                               QVBoxLayout, QWidget)

from cnnstudio.core.text import clock_text, percent_text, plural
from cnnstudio.core.training.config import TrainConfig, augmentation_text
from cnnstudio.core.training.events import EpochEvent, StartedEvent, StepEvent
from cnnstudio.ui.chart_pacing import ChartPacing
from cnnstudio.ui.widgets.banner import Banner
from cnnstudio.ui.widgets.charts import TrainingCharts

MAX_LOG_LINES = 2000
PROGRESS_INTERVAL_MS = 250  # progress text (step, images/s, ETA) four times a second: readable, cheap
SHORTCUTS = {
    "start": ("F5", "Ctrl+Return"),
    "pause": ("Ctrl+P",),
    "stop": ("Shift+F5", "Ctrl+."),
}


def shortcut_text(action: str) -> str:
    return " or ".join(QKeySequence(k).toString(QKeySequence.SequenceFormat.NativeText) for k in SHORTCUTS[action])


def training_banner() -> str:
    return (f"Training… Pause ({shortcut_text('pause')}) holds it; Stop ({shortcut_text('stop')}) saves last.pt so "
            "you can continue later.")


class RunPanel(QWidget):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        col = QVBoxLayout(self)
        col.setContentsMargins(6, 0, 0, 0)

        buttons = QHBoxLayout()
        self.start_button = QPushButton("▶  Start training")
        self.start_button.setDefault(True)
        self.start_button.setMinimumHeight(34)
        self.start_button.setStyleSheet(
            "QPushButton:enabled { background: palette(highlight); color: palette(highlighted-text);"
            " font-weight: bold; padding: 4px 16px; border-radius: 4px; }")
        self.pause_button = QPushButton("❚❚  Pause")
        self.pause_button.setMinimumHeight(34)
        self.pause_button.setToolTip(
            f"Pause training; Resume continues exactly where it paused ({shortcut_text('pause')})")
        self.stop_button = QPushButton("■  Stop")
        self.stop_button.setMinimumHeight(34)
        self.stop_button.setToolTip("Stop training. The current state is saved as last.pt, so you can continue "
                                    f"later with 'Continue a run…' ({shortcut_text('stop')})")
        self.queue_button = QPushButton("+  Train next")
        self.queue_button.setMinimumHeight(34)
        self.queue_button.setToolTip("Add a run with these settings to the queue: queued runs train one after "
                                     "another, unattended, after the current one (the queue is on the Runs page)")
        self.sweep_button = QPushButton("Sweep…")
        self.sweep_button.setMinimumHeight(34)
        self.sweep_button.setToolTip("Train many runs with settings varied (grid, random or a search that stops "
                                     "bad trials early); the Runs page compares them by their settings")
        buttons.addWidget(self.start_button)
        buttons.addWidget(self.queue_button)
        buttons.addWidget(self.sweep_button)
        buttons.addWidget(self.pause_button)
        buttons.addWidget(self.stop_button)
        buttons.addStretch(1)
        col.addLayout(buttons)
        self.queue_label = QLabel("")
        self.queue_label.setStyleSheet("color: palette(placeholder-text);")
        self.queue_label.setWordWrap(True)
        self.queue_label.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)  # never widens
        self.queue_label.setVisible(False)
        col.addWidget(self.queue_label)

        self.banner = Banner()
        col.addWidget(self.banner)

        self.progress_bar = QProgressBar()
        self.progress_bar.setRange(0, 1000)
        self.progress_bar.setValue(0)
        self.progress_bar.setTextVisible(True)
        self.progress_bar.setFormat("Not started")
        self.progress_bar.setMinimumHeight(22)
        # Its text ("Epoch 3/4 · step 22/85 · 2,462 images/s · ETA 0:08") must not widen the window.
        self.progress_bar.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Fixed)
        col.addWidget(self.progress_bar)
        self.status_label = QLabel("")
        self.status_label.setTextFormat(Qt.TextFormat.PlainText)
        self.status_label.setWordWrap(True)
        # A fixed height: new text must not re-layout the page (that would repaint every chart).
        self.status_label.setFixedHeight(2 * self.status_label.fontMetrics().lineSpacing() + 4)
        self.status_label.setAlignment(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignTop)
        col.addWidget(self.status_label)

        self.charts = TrainingCharts()
        self.log_view = QPlainTextEdit()
        self.log_view.setReadOnly(True)
        self.log_view.setMaximumBlockCount(MAX_LOG_LINES)
        self.log_view.setPlaceholderText("The training log appears here.")
        self.log_view.setMinimumHeight(60)
        font = self.log_view.font()
        font.setStyleHint(font.StyleHint.Monospace)
        font.setFamily("monospace")
        self.log_view.setFont(font)
        vsplit = QSplitter(Qt.Orientation.Vertical)
        vsplit.addWidget(self.charts)
        vsplit.addWidget(self.log_view)
        vsplit.setStretchFactor(0, 1)
        vsplit.setStretchFactor(1, 0)
        vsplit.setSizes([560, 110])
        vsplit.setChildrenCollapsible(False)
        col.addWidget(vsplit, 1)

        self.chart_pacing = ChartPacing()
        self._chart_pending: list[StepEvent] = []
        self._chart_timer = QTimer(self)
        self._chart_timer.setSingleShot(True)
        self._chart_timer.timeout.connect(self.flush_charts)
        # The progress bar and status line follow at most four times a second, showing the latest step;
        # `step_status` says the line under the bar for a step (None: leave it, e.g. while paused).
        self.step_status: Callable[[StepEvent], str | None] = lambda _step: None
        self._latest_step: StepEvent | None = None
        self._progress_last = 0.0
        self._progress_timer = QTimer(self)
        self._progress_timer.setSingleShot(True)
        self._progress_timer.timeout.connect(self.flush_progress)

    def log(self, text: str) -> None:
        self.log_view.appendPlainText(f"[{time.strftime('%H:%M:%S')}] {text}")

    def log_launch(self, cfg: TrainConfig, resume_from: str | None, find_lr: bool) -> None:
        """The log's line for a run that has just started: what it continues, or what it trains."""
        if resume_from:
            self.log(f"Continuing from {resume_from}")
            return
        lr = "found by the learning-rate finder" if find_lr else f"{cfg.lr:g}"
        self.log(f"Starting: {cfg.model} on {cfg.dataset}, {plural(cfg.epochs, 'epoch')}, batch {cfg.batch_size}, "
                 f"{cfg.optimizer} lr {lr} ({cfg.schedule}), augmentation: {augmentation_text(cfg.augment)}")

    def log_started(self, event: StartedEvent) -> None:
        """The log's lines once the trainer has started: where it trains, on how much, and its folder."""
        self.log(f"Training on {event.device_name} ({event.device}, {event.precision}, {event.threads} threads): "
                 f"{event.train_samples:,} training / {event.val_samples:,} validation / {event.test_samples:,} "
                 f"test images, {event.params:,} parameters")
        self.log(f"Run folder: {event.run_dir}")

    def log_epoch(self, e: EpochEvent) -> None:
        """The log's line for an epoch."""
        val = ""
        if e.val_loss is not None:
            val = f"; validation loss {e.val_loss:.4f}, accuracy {percent_text(e.val_accuracy)}"
        star = "  (best so far: saved best.pt)" if e.is_best else ""
        self.log(f"Epoch {e.epoch}/{e.epochs}: training loss {e.train_loss:.4f}, accuracy "
                 f"{percent_text(e.train_accuracy)}{val}  ·  {e.samples_per_second:,.0f} images/s, "
                 f"{e.seconds:.1f} s{star}")

    def bind_shortcuts(self, slots: dict[str, Callable[[], None]]) -> None:
        """The keyboard shortcuts of SHORTCUTS, for the actions in `slots`, only while the panel is visible."""
        for action, slot in slots.items():
            for key in SHORTCUTS[action]:
                sc = QShortcut(QKeySequence(key), self)
                sc.setContext(Qt.ShortcutContext.WindowShortcut)  # only while this page is visible
                sc.activated.connect(slot)

    def set_controls(self, blocker: str | None, running: bool, stopping: bool,
                     queue_blocker: str | None = None, editing: int | None = None) -> None:
        """The buttons: Start unless `blocker` says why not, Train next unless `queue_blocker` does (it works
        while a run trains), Pause and Stop while running. `editing`: the queue position (1, 2...) of the
        entry whose settings the form holds, which Train next then updates."""
        self.start_button.setEnabled(blocker is None)
        self.sweep_button.setEnabled(blocker is None)  # a sweep trains now, as Start does
        self.queue_button.setEnabled(queue_blocker is None)
        self.queue_button.setText(f"✓  Update queued #{editing}" if editing else "+  Train next")
        self.queue_button.setToolTip(
            queue_blocker or (f"Replace the settings of queued run #{editing} with the form's" if editing else
                              "Add a run with these settings to the queue: queued runs train one after another, "
                              "unattended, after the current one"))
        if blocker is None:
            self.start_button.setToolTip(f"Start training with these settings ({shortcut_text('start')})")
        else:
            self.start_button.setToolTip(f"{blocker}\n\nShortcut: {shortcut_text('start')}")
        self.pause_button.setEnabled(running and not stopping)
        self.stop_button.setEnabled(running and not stopping)
        if not running:
            self.pause_button.setText("❚❚  Pause")

    def show_paused(self, paused: bool) -> None:
        """The Pause button as Resume while paused (the run holds at its next batch)."""
        self.pause_button.setText("▶  Resume" if paused else "❚❚  Pause")
        self.pause_button.setToolTip(f"{'Continue' if paused else 'Pause'} training ({shortcut_text('pause')})")

    def begin_run(self, model: str) -> None:
        """A new run: empty charts, the pacing from the start, "Starting…"."""
        self._chart_pending = []
        self._chart_timer.stop()
        self.chart_pacing.reset()
        self._progress_timer.stop()
        self._progress_last = 0.0
        self._latest_step = None
        self.charts.begin_run(model)
        self.progress_bar.setValue(0)
        self.progress_bar.setFormat("Starting…")
        self.status_label.setText("Preparing the data and the model…")

    def add_steps(self, steps: list[StepEvent]) -> None:
        """Steps of the run: the charts draw them when a redraw is due, the progress shows the latest."""
        if not steps:
            return
        self._chart_pending.extend(steps)
        wait_ms = self.chart_pacing.wait_ms()
        if wait_ms <= 0:
            self.flush_charts()
        elif not self._chart_timer.isActive():
            self._chart_timer.start(int(wait_ms) + 1)
        self._latest_step = steps[-1]
        wait_ms = PROGRESS_INTERVAL_MS - 1000 * (time.monotonic() - self._progress_last)
        if wait_ms <= 0:
            self.flush_progress()
        elif not self._progress_timer.isActive():
            self._progress_timer.start(int(wait_ms) + 1)

    def flush_charts(self) -> None:
        """Draw the steps still waiting (also before an epoch, a recovery, a pause or the end)."""
        self._chart_timer.stop()
        if self._chart_pending:
            pending, self._chart_pending = self._chart_pending, []
            self.charts.append_steps(pending)
        self.chart_pacing.redrew()

    def flush_progress(self) -> None:
        """Show the latest step now (also before a pause, an epoch line or the end of a run)."""
        self._progress_timer.stop()
        self._progress_last = time.monotonic()
        if self._latest_step is not None:
            self.show_step(self._latest_step)

    def show_step(self, s: StepEvent) -> None:
        """The progress bar at StepEvent `s`, and the line under it (step_status)."""
        total = max(1, int(s.total_steps))
        self.progress_bar.setValue(int(1000 * int(s.global_step) / total))
        self.progress_bar.setFormat(
            f"Epoch {s.epoch}/{s.epochs}  ·  step {s.step}/{s.steps_per_epoch}  ·  "
            f"{s.samples_per_second:,.0f} images/s  ·  ETA {clock_text(s.eta_seconds)}")
        status = self.step_status(s)
        if status is not None:
            self.status_label.setText(status)

    def show_end(self, status: str, step: int, total: int) -> None:
        """The progress bar once a run has ended: done, stopped at `step` of `total`, or failed."""
        if status in ("finished", "early-stopped"):
            self.progress_bar.setValue(1000)
            self.progress_bar.setFormat("Done  ·  100 %")
        elif status == "stopped":
            self.flush_progress()
            self.progress_bar.setValue(int(1000 * step / max(1, total)))
            self.progress_bar.setFormat(f"Stopped at step {step:,} of {total:,}")
        else:
            self.progress_bar.setFormat("Failed")

    def show_queue(self, waiting: int, held: bool, running: bool) -> None:
        """The line about the runs waiting in the queue (hidden when none is)."""
        runs = f"{waiting} run{'s' if waiting != 1 else ''}"
        if not waiting:
            text = ""
        elif running:
            text = f"Queue: {runs} waiting; " + ("held after a stop." if held else
                                                 "they train one after another when this run ends.")
        else:
            text = (f"Queue: {runs} waiting{', held after a stop' if held else ''}. Start queue trains them now; "
                    "Start trains the settings in the form first, then the queue.")
        self.queue_label.setText(text)
        self.queue_label.setVisible(bool(text))

