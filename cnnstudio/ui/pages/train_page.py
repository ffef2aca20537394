"""The Train page: hyper-parameters, device, Start / Pause / Stop, live progress, charts and log.

This module is the view. The run, what it reports and the decisions (the config a Start uses, what
blocks a Start, the precision a device means) live in TrainSession (cnnstudio/ui/sessions/
train_session.py); the settings form is cnnstudio/ui/widgets/train_form.py. The run itself happens on a
QThread (cnnstudio.ui.training_worker) whose events, the core's dataclasses, arrive at most about 20
times a second, so each update is a few setData calls and a label. The page's run is over
(runFinished) only once its thread has ended, so a new run can start right away.
"""

from __future__ import annotations

import copy
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

from PySide6.QtCore import QCoreApplication, Qt, QTimer, Signal, Slot
from PySide6.QtGui import QKeySequence, QShortcut
from PySide6.QtWidgets import QHBoxLayout, QMessageBox, QSplitter, QWidget

from cnnstudio.core.errors import CNNStudioError
from cnnstudio.core.models.backbones import backbone_layer_index
from cnnstudio.core.text import plural
from cnnstudio.core.training.config import Augmentation, TrainConfig, augmentation_text, default_config
from cnnstudio.ui.chart_pacing import ChartPacing
from cnnstudio.ui.sessions.train_session import TrainSession, describe_end, format_duration, format_percent
from cnnstudio.ui.state import AppState
from cnnstudio.ui.widgets.run_panel import SHORTCUTS, RunPanel, shortcut_text
from cnnstudio.ui.widgets.train_form import TrainForm

# The charts, the costly part of an update, redraw as often as the GUI thread's CPU budget allows
# (cnnstudio/ui/chart_pacing.py); the progress bar and status line follow at most four times a second.
PROGRESS_INTERVAL_MS = 250  # progress text (step, images/s, ETA) four times a second: readable, cheap


QUEUE_GAP_MS = 400  # between queued runs: the finished run's signals and the Runs page settle first


class TrainPage(QWidget):
    """Public for other code and tests: start_training, pause, resume, stop, is_running, is_paused,
    current_step, charts, progress_bar, the buttons, and the signals below."""

    runStarted = Signal(object)  # the StartedEvent as a dict (run_dir, device, precision, epochs, ...)
    stepsReceived = Signal(int)  # the latest global step, after each (throttled) update
    epochFinished = Signal(object)  # the EpochEvent
    pausedChanged = Signal(bool)  # True once the trainer really waits, False when it goes on
    runFinished = Signal(object)  # the result dict; the thread has ended when this arrives
    runFailed = Signal(str)  # the message shown in the error dialog
    backboneModeRequested = Signal(int, str)  # (layer index, mode): the Model page changes its spec

    # The form's widgets, by the names other code and tests use.
    FORM_WIDGETS = ("epochs_spin", "batch_spin", "optimizer_combo", "lr_spin", "momentum_spin", "schedule_combo",
                    "weight_decay_spin", "warmup_spin", "smoothing_spin", "val_spin", "patience_spin", "limit_spin",
                    "seed_spin", "device_combo", "precision_combo", "precision_label", "defaults_button",
                    "dataset_label", "model_label", "augment_label", "form_groups", "export_button",
                    "resume_checkpoint_button", "find_lr_button")

    def __init__(self, state: AppState):
        super().__init__()
        self.state = state
        self.session = TrainSession(state, self)
        self.last_result: dict[str, Any] | None = None
        # The banner says how the last run ended until the dataset or the model changes (then it is about
        # a selection no longer there, and "Ready" or what blocks Start replaces it).
        self._end_in_banner = False
        self.error_dialog: QMessageBox | None = None
        self.run_picker: Any = None  # the "Continue a run" dialog while it is open
        self.lr_find_dialog: Any = None  # the "Find learning rate" dialog while it is open
        self._chart_pending: list[Any] = []
        self.chart_pacing = ChartPacing()
        self._chart_timer = QTimer(self)
        self._chart_timer.setSingleShot(True)
        self._chart_timer.timeout.connect(self._flush_charts)
        self._progress_last = 0.0
        self._progress_timer = QTimer(self)
        self._progress_timer.setSingleShot(True)
        self._progress_timer.timeout.connect(self._flush_progress)

        self._build()
        self._fill_recommended()
        session = self.session
        session.started.connect(self._on_started)
        session.steps.connect(self._on_steps)
        session.epoch.connect(self._on_epoch)
        session.recovered.connect(self._on_recovered)
        session.log.connect(self._log)
        session.pausedChanged.connect(self._on_paused_changed)
        session.ended.connect(self._on_run_ended)
        state.datasetChanged.connect(self._on_dataset_changed)
        state.specChanged.connect(self._on_spec_changed)
        state.augmentationChanged.connect(lambda *_: self._update_summary())
        state.queue.changed.connect(self._on_queue_changed)
        state.queue.startRequested.connect(self.start_queue)
        app = QCoreApplication.instance()
        if app is not None:
            # Quitting without closing the window (Ctrl+C, app.quit()) must still stop and wait.
            app.aboutToQuit.connect(self.shutdown)
        self._update_controls()

    # What the run reached, as the session counts it.
    @property
    def current_step(self) -> int:
        return self.session.current_step

    @property
    def total_steps(self) -> int:
        return self.session.total_steps

    @property
    def devices(self) -> list[dict[str, Any]]:
        return self.session.devices

    # ------------------------------------------------------------------------------------------------
    # Building the page

    def _build(self) -> None:
        outer = QHBoxLayout(self)
        outer.setContentsMargins(8, 8, 8, 8)
        splitter = QSplitter(Qt.Orientation.Horizontal)
        splitter.setChildrenCollapsible(False)
        outer.addWidget(splitter)
        self.form = TrainForm()
        for name in self.FORM_WIDGETS:
            setattr(self, name, getattr(self.form, name))
        self.form.hardwareChanged.connect(self._update_controls)
        self.form.resetRequested.connect(self.reset_form)
        self.form.backboneModeChosen.connect(self._on_backbone_mode_chosen)
        splitter.addWidget(self.form)
        splitter.addWidget(self._build_main())
        splitter.setStretchFactor(0, 0)
        splitter.setStretchFactor(1, 1)
        splitter.setSizes([320, 900])

    def _build_main(self) -> QWidget:
        self.panel = panel = RunPanel()
        for name in ("start_button", "queue_button", "pause_button", "stop_button", "banner", "progress_bar",
                     "status_label", "charts", "log_view"):
            setattr(self, name, getattr(panel, name))
        self.start_button.clicked.connect(self._start_clicked)
        self.queue_button.clicked.connect(lambda: self.queue_current())
        self.pause_button.clicked.connect(self.toggle_pause)
        self.stop_button.clicked.connect(self.stop)
        self.resume_checkpoint_button.clicked.connect(self._resume_checkpoint_clicked)
        self.export_button.clicked.connect(self.export_command_line)
        self.find_lr_button.clicked.connect(self.find_learning_rate)
        for action, slot in (("start", self._start_clicked), ("pause", self.toggle_pause), ("stop", self.stop)):
            for key in SHORTCUTS[action]:
                sc = QShortcut(QKeySequence(key), self)
                sc.setContext(Qt.ShortcutContext.WindowShortcut)  # only while this page is visible
                sc.activated.connect(slot)
        return panel

    # ------------------------------------------------------------------------------------------------
    # The form and what it means

    def reset_form(self) -> None:
        """Refill the form with the recommended values for the current dataset."""
        self._fill_recommended()
        self._update_summary()

    def _fill_recommended(self) -> None:
        """The form from the values recommended for the loaded data, and the reasons beside them."""
        rec = self._recommendation()
        self.form.fill(rec.config)
        self.form.show_recommendation(rec.reasons)

    def _recommendation(self):
        """What recommend() says for the loaded data and the model being built (its recipe follows both)."""
        from cnnstudio.core.training.recommend import recommend

        return recommend(self.state.dataset_name, self.state.dataset, spec=self.state.spec)

    def form_values(self) -> dict[str, Any]:
        """The form as TrainConfig fields."""
        return self.form.values()

    def augmentation(self) -> Augmentation:
        """What the Data page chose, else the dataset's recommended augmentation."""
        aug = getattr(self.state, "augmentation", None)
        if isinstance(aug, Augmentation):
            return copy.deepcopy(aug)
        if isinstance(aug, dict):
            return Augmentation.from_dict(aug)
        return copy.deepcopy(default_config(self.state.dataset_name, data=self.state.dataset).augment)

    def build_config(self, overrides: dict[str, Any] | None = None) -> TrainConfig:
        """The TrainConfig a Start would use (TrainSession.build_config). CNNStudioError if invalid."""
        return self.session.build_config(self.form.values(), self.augmentation(), overrides)

    def export_command_line(self):
        """Show the current settings as a command line / torchrun launcher (docs/scaling.md)."""
        from cnnstudio.ui.widgets.export_dialog import ExportCommandDialog

        try:
            config = self.build_config()
        except CNNStudioError as exc:
            QMessageBox.warning(self, "Settings not valid", str(exc))
            return None
        dialog = ExportCommandDialog(config, self)
        dialog.open()
        return dialog

    def _on_spec_changed(self, spec: Any) -> None:
        self._end_in_banner = False
        index = backbone_layer_index(spec)
        self.form.show_backbone_mode(spec["layers"][index].get("train", "features") if index is not None else None)
        # The recipe follows the model: a network without normalisation gets other settings than fast-cnn.
        if not self.form.user_edited:
            self._fill_recommended()
        else:
            self.form.show_recommendation(self._recommendation().reasons)
        self._update_controls()

    def _on_backbone_mode_chosen(self, mode: str) -> None:
        index = backbone_layer_index(self.state.spec)
        if index is not None:
            self.backboneModeRequested.emit(index, mode)

    @Slot(object)
    def _on_dataset_changed(self, _dataset: Any) -> None:
        self._end_in_banner = False
        if not self.form.user_edited:
            self._fill_recommended()
        else:
            self.form.show_recommendation(self._recommendation().reasons)
        self._update_controls()

    def on_devices(self, devices: list[dict[str, Any]]) -> None:
        """Called by the main window once PyTorch has loaded: show the devices really there."""
        self.session.devices = list(devices)
        self.form.set_devices(self.session.devices)
        self._update_controls()

    def resolved_precision(self) -> tuple[str | None, str | None]:
        return self.session.resolved_precision(self.device_combo.currentData(), self.precision_combo.currentData())

    def _update_precision_label(self) -> str | None:
        precision, problem = self.resolved_precision()
        requested = self.precision_combo.currentData() or "auto"
        device = self.session.device_id(self.device_combo.currentData())
        where = "this GPU" if device.startswith("cuda") else ("Apple MPS" if device == "mps" else "this CPU")
        if problem:
            self.precision_label.setText(problem)
            self.precision_label.setStyleSheet("color: #c0392b;")
            return problem
        self.precision_label.setStyleSheet("color: palette(placeholder-text);")
        if requested == "auto":
            if precision is None:
                self.precision_label.setText("Automatic is decided once PyTorch has loaded.")
            else:
                why = {"bf16": "native bf16 support", "fp16": "fast fp16", "fp32": "no fast 16-bit math"}[precision]
                self.precision_label.setText(f"Automatic means {precision} on {where} ({why}).")
        else:
            self.precision_label.setText(f"{precision or requested} on {where}.")
        return None

    def _update_summary(self) -> None:
        ds = self.state.dataset
        if ds is None:
            self.dataset_label.setText("none loaded yet (Data page)")
        else:
            n = int(ds.train_images.shape[0])
            shape = "x".join(str(d) for d in ds.input_shape)
            self.dataset_label.setText(f"{getattr(ds, 'title', '') or self.state.dataset_name}: "
                                       f"{n:,} training images, {ds.num_classes} classes, {shape}")
        spec = self.state.spec
        self.model_label.setText("none chosen yet (Model page)" if spec is None else
                                 str(spec.get("name") or "custom model"))
        self.augment_label.setText(augmentation_text(self.augmentation()))

    # ------------------------------------------------------------------------------------------------
    # Can we start?

    def start_blocker(self) -> str | None:
        """None when Start may be pressed, else the sentence that says why not."""
        return self.session.start_blocker(self.resolved_precision()[1])

    def spec_problem(self) -> str | None:
        return self.session.spec_problem()

    def _update_controls(self) -> None:
        self._update_summary()
        self._update_precision_label()
        running = self.is_running()
        blocker = self.start_blocker()
        self.start_button.setEnabled(blocker is None)
        self.queue_button.setEnabled(blocker is None)
        if blocker is None:
            self.start_button.setToolTip(f"Start training with these settings ({shortcut_text('start')})")
        else:
            self.start_button.setToolTip(f"{blocker}\n\nShortcut: {shortcut_text('start')}")
        stopping = self.session.stop_requested
        self.pause_button.setEnabled(running and not stopping)
        self.stop_button.setEnabled(running and not stopping)
        self.resume_checkpoint_button.setEnabled(not running)
        self.form.set_running(running)
        if not running:
            self.pause_button.setText("❚❚  Pause")
            if blocker:
                self._set_banner(blocker, "warning")
            elif not self._end_in_banner:
                ds = self.state.dataset
                spec = self.state.spec or {}
                self._set_banner(f"Ready to train {spec.get('name', 'the model')} on "
                                 f"{getattr(ds, 'title', None) or self.state.dataset_name}. Check the settings on "
                                 f"the left, then press Start ({shortcut_text('start')}).", "info")

    def _set_banner(self, text: str, kind: str) -> None:
        self.banner.show_message(text, kind)

    # ------------------------------------------------------------------------------------------------
    # The queue

    def queue_current(self, config_overrides: dict[str, Any] | None = None) -> bool:
        """Add a run with the form's settings (plus overrides) to the queue, with the dataset loaded now.
        False, with the reason in the banner or a dialog, if these settings cannot train."""
        blocker = self.start_blocker()
        if blocker:
            self._set_banner(blocker, "warning")
            return False
        try:
            cfg = self.build_config(config_overrides)
        except (CNNStudioError, TypeError, ValueError) as exc:
            self._show_error("These settings cannot be used", str(exc))
            return False
        ds = self.state.dataset
        entry = self.state.queue.add(cfg, ds, getattr(ds, "title", None) or self.state.dataset_name,
                                     find_lr=self.session.lr_from_finder(cfg))
        n = len(self.state.queue)
        self._log(f"Queued #{n}: {entry.summary()}")
        self.state.message.emit(f"Queued: {entry.summary()}. Change the settings and press Train next again to "
                                "queue another; Start trains them one after another.")
        return True

    def start_queue(self) -> bool:
        """Start the queue's first run now (the queue is released if it was held)."""
        self.state.queue.set_held(False)
        if self.is_running():
            return False  # the queue goes on when the current run ends
        return self._start_next_queued()

    def _start_next_queued(self) -> bool:
        if self.is_running():
            return False
        entry = self.state.queue.take_next()
        if entry is None:
            return False
        self._log(f"From the queue: {entry.summary()} ({len(self.state.queue)} more waiting)")
        return self._start(None, None, queued=entry)

    def _on_queue_changed(self) -> None:
        queue = self.state.queue
        n = len(queue)
        if not n:
            text = ""
        elif queue.held:
            text = (f"Queue: {n} run{'s' if n != 1 else ''} waiting, held after a stop. Start them from the Runs "
                    "page (Start queue), or press Start to train these settings first.")
        else:
            text = (f"Queue: {n} run{'s' if n != 1 else ''} waiting; "
                    + ("they train one after another when this run ends." if self.is_running() else
                       "press Start to train these settings first, or Start queue on the Runs page."))
        self.panel.queue_label.setText(text)
        self.panel.queue_label.setVisible(bool(text))

    # ------------------------------------------------------------------------------------------------
    # Running

    def is_running(self) -> bool:
        return self.session.is_running()

    def is_paused(self) -> bool:
        return self.session.is_paused()

    @property
    def run(self) -> Any:
        return self.session.run

    @Slot()
    def _start_clicked(self) -> None:
        if self.start_button.isEnabled():
            self.start_training()

    def start_training(self, config_overrides: dict[str, Any] | None = None) -> bool:
        """Start a new run from the form (plus overrides). False, with the reason in the banner, if it cannot."""
        return self._start(config_overrides, resume_from=None)

    def resume_from_checkpoint(self, path: str, config_overrides: dict[str, Any] | None = None) -> bool:
        """Continue the run a checkpoint (last.pt) belongs to. A bad file ends in a clear error dialog."""
        p = Path(path)
        if not p.is_file():
            self._show_error("Cannot continue from this checkpoint", f"{p} does not exist or is not a file.")
            return False
        return self._start(config_overrides, resume_from=str(p))

    def _start(self, overrides: dict[str, Any] | None, resume_from: str | None, queued: Any = None) -> bool:
        """Start a run: the form's (plus overrides), a checkpoint's continuation, or a queued one's."""
        if self.is_running():
            return False
        if queued is None:
            # A run started by hand releases a queue held after a stop: it goes on after this run.
            self.state.queue.set_held(False)
        if resume_from is None and queued is None:
            blocker = self.start_blocker()
            if blocker:
                self._set_banner(blocker, "warning")
                return False
        try:
            if queued is not None:
                cfg = queued.config
            elif resume_from is None:
                cfg = self.build_config(overrides)
            else:
                cfg = self.session.resume_config(self.epochs_spin.value(), self.device_combo.currentData() or "auto",
                                                 overrides)
        except (CNNStudioError, TypeError, ValueError) as exc:
            self._show_error("These settings cannot be used", str(exc))
            return False
        if (overrides and resume_from is None) or queued is not None:
            self.form.set_config(cfg)  # show what really runs
            self.form.user_edited = True
        self._chart_pending = []
        self._chart_timer.stop()
        self.chart_pacing.reset()
        self._progress_timer.stop()
        self._progress_last = 0.0
        self.charts.begin_run(cfg.model)
        self.progress_bar.setValue(0)
        self.progress_bar.setFormat("Starting…")
        self.status_label.setText("Preparing the data and the model…")
        find_lr = queued.find_lr if queued is not None else (resume_from is None and self.session.lr_from_finder(cfg))
        if resume_from:
            self._log(f"Continuing from {resume_from}")
        else:
            lr = "found by the learning-rate finder" if find_lr else f"{cfg.lr:g}"
            self._log(f"Starting: {cfg.model} on {cfg.dataset}, {plural(cfg.epochs, 'epoch')}, batch {cfg.batch_size}, "
                      f"{cfg.optimizer} lr {lr} ({cfg.schedule}), augmentation: {augmentation_text(cfg.augment)}")
        self._set_banner(f"Training… Pause ({shortcut_text('pause')}) holds it; Stop ({shortcut_text('stop')}) "
                         "saves last.pt so you can continue later.", "info")
        if queued is not None:
            self.session.start(cfg, None, dataset=queued.dataset, find_lr=find_lr)
        else:
            self.session.start(cfg, resume_from, find_lr=find_lr)
        self._update_controls()
        self._on_queue_changed()
        return True

    def pause(self) -> None:
        if self.session.pause():
            self.pause_button.setText("▶  Resume")
            self.pause_button.setToolTip(f"Continue training ({shortcut_text('pause')})")
            self.status_label.setText("Pausing after the current batch…")

    def resume(self) -> None:
        if self.session.resume():
            self.pause_button.setText("❚❚  Pause")
            self.pause_button.setToolTip(f"Pause training ({shortcut_text('pause')})")
            self._set_banner(f"Training… Pause ({shortcut_text('pause')}) holds it; Stop ({shortcut_text('stop')}) "
                             "saves last.pt so you can continue later.", "info")

    @Slot()
    def toggle_pause(self) -> None:
        if self.is_paused():
            self.resume()
        else:
            self.pause()

    @Slot()
    def stop(self) -> None:
        """Ask the run to stop; it saves last.pt within one batch. Safe to call any time."""
        if self.session.stop():
            self.status_label.setText("Stopping: saving the current state to last.pt…")
            self._log("Stop requested: saving the current state…")
            self._update_controls()

    def shutdown(self) -> None:
        """Stop a running run and wait for its thread (it saves last.pt); the window may then close."""
        self.session.shutdown()

    # ------------------------------------------------------------------------------------------------
    # What the session reports (GUI thread)

    def _on_started(self, event: Any, history: Any) -> None:
        epochs = event.epochs
        self.charts.set_live_extent(self.total_steps, epochs)
        if history and (history.get("epoch") or history.get("steps", {}).get("step")):
            self.charts.begin_run(self.session.run_info.get("model", ""), history)
            self.charts.set_live_extent(self.total_steps, epochs)
        self._log(f"Training on {event.device_name} ({event.device}, {event.precision}, {event.threads} threads): "
                  f"{event.train_samples:,} training / {event.val_samples:,} validation / {event.test_samples:,} "
                  f"test images, {event.params:,} parameters")
        self._log(f"Run folder: {event.run_dir}")
        self.status_label.setText(f"Training on {event.device_name} ({event.precision})…")
        self.progress_bar.setFormat(f"Epoch {event.start_epoch + 1}/{epochs}: starting…")
        self.runStarted.emit({**self.session.run_info, **asdict(event)})

    def _on_steps(self, steps: list) -> None:
        self._chart_pending.extend(steps)
        wait_ms = self.chart_pacing.wait_ms()
        if wait_ms <= 0:
            self._flush_charts()
        elif not self._chart_timer.isActive():
            self._chart_timer.start(int(wait_ms) + 1)
        wait_ms = PROGRESS_INTERVAL_MS - 1000 * (time.monotonic() - self._progress_last)
        if wait_ms <= 0:
            self._flush_progress()
        elif not self._progress_timer.isActive():
            self._progress_timer.start(int(wait_ms) + 1)
        self.stepsReceived.emit(self.current_step)

    @Slot()
    def _flush_charts(self) -> None:
        self._chart_timer.stop()
        if self._chart_pending:
            pending, self._chart_pending = self._chart_pending, []
            self.charts.append_steps(pending)
        self.chart_pacing.redrew()

    @Slot()
    def _flush_progress(self) -> None:
        """Show the latest step now (also before a pause, an epoch line or the end of a run)."""
        self._progress_timer.stop()
        self._progress_last = time.monotonic()
        if self.session.last_step is not None:
            self._show_progress(self.session.last_step)

    def _show_progress(self, s: Any) -> None:
        total = max(1, int(s.total_steps))
        self.progress_bar.setValue(int(1000 * int(s.global_step) / total))
        self.progress_bar.setFormat(
            f"Epoch {s.epoch}/{s.epochs}  ·  step {s.step}/{s.steps_per_epoch}  ·  "
            f"{s.samples_per_second:,.0f} images/s  ·  ETA {format_duration(s.eta_seconds)}")
        if not (self.session.is_paused() or self.session.stop_requested):
            best_val = self.session.best_val
            best = f"  ·  best validation accuracy so far {format_percent(best_val)}" if best_val else ""
            self.status_label.setText(
                f"Training loss {s.loss:.4f}, accuracy {format_percent(s.accuracy)} (recent steps)  ·  "
                f"elapsed {format_duration(s.elapsed_seconds)}{best}")

    def _on_recovered(self, event: Any) -> None:
        """The run went back to its last good state: the chart drops what it undid and marks the place
        (the log line comes with the trainer's own LogEvent)."""
        self._flush_charts()
        self.charts.mark_recovery(event.step, event.epoch, event.reason, event.lr_factor)

    def _on_epoch(self, e: Any) -> None:
        self._flush_charts()
        self._flush_progress()
        self.charts.append_epoch(e)
        val = ""
        if e.val_loss is not None:
            val = f"; validation loss {e.val_loss:.4f}, accuracy {format_percent(e.val_accuracy)}"
        star = "  (best so far: saved best.pt)" if e.is_best else ""
        self._log(f"Epoch {e.epoch}/{e.epochs}: training loss {e.train_loss:.4f}, accuracy "
                  f"{format_percent(e.train_accuracy)}{val}  ·  {e.samples_per_second:,.0f} images/s, "
                  f"{e.seconds:.1f} s{star}")
        self.epochFinished.emit(e)

    def _on_paused_changed(self, paused: bool) -> None:
        if paused:
            self._flush_charts()
            self._flush_progress()
            self.status_label.setText(f"Paused at step {self.current_step:,} of {self.total_steps:,}.")
            self._set_banner(f"Paused. Press Resume ({shortcut_text('pause')}) to continue exactly where it "
                             "stopped, or Stop to end the run.", "warning")
            self.progress_bar.setFormat("Paused  ·  " + self.progress_bar.format())
            self._log(f"Paused at step {self.current_step:,}.")
        elif not self.session.stop_requested:
            self._log("Resumed.")
            if self.session.last_step is not None:
                self._show_progress(self.session.last_step)
        self.pausedChanged.emit(paused)

    def _on_run_ended(self, result: dict[str, Any], failure: tuple[str, str] | None) -> None:
        self._flush_charts()
        self.last_result = result
        self._finish(result, failure)
        self._update_controls()
        self.runFinished.emit(result)
        queue = self.state.queue
        if len(queue):
            if result.get("status") == "stopped":
                # Stop means stop: nothing else starts behind the user's back (closing the window stops too).
                queue.set_held(True)
                self._log(f"The queue is held ({len(queue)} waiting): Start queue on the Runs page goes on.")
            else:
                # A failed run does not block an unattended queue: the next one starts.
                QTimer.singleShot(QUEUE_GAP_MS, self._start_next_queued)
        self._on_queue_changed()

    def _finish(self, result: dict[str, Any], failure: tuple[str, str] | None) -> None:
        end = describe_end(result, failure, time.monotonic() - self.session.started_at)
        if end.status in ("finished", "early-stopped"):
            self.progress_bar.setValue(1000)
            self.progress_bar.setFormat("Done  ·  100 %")
        elif end.status == "stopped":
            self._flush_progress()
            step = int(result.get("global_step") or self.current_step)  # the run's own count: the bar's may lag
            total = int(result.get("total_steps") or self.total_steps)
            self.progress_bar.setValue(int(1000 * step / max(1, total)))
            self.progress_bar.setFormat(f"Stopped at step {step:,} of {total:,}")
        else:
            self.progress_bar.setFormat("Failed")
        self._set_banner(end.banner, end.kind)
        self._end_in_banner = True
        self.status_label.setText(end.status_text)
        self._log(end.log_line)
        if result.get("run_dir"):
            self._log(f"Saved in {result['run_dir']}")
        # The status bar points to the banner rather than repeating a failure's whole message.
        self.state.message.emit("Training failed: the reason is on the Train page." if end.status == "failed"
                                else end.banner)
        if end.status != "failed" or result.get("run_dir"):
            self.state.runFinished.emit(result)
        # Only a finished run's best checkpoint becomes the model in use (and the one the next launch opens):
        # a stopped or interrupted run's last.pt is for "Continue a run…", not for Evaluate, Inspect and Draw.
        checkpoint = result.get("checkpoint")
        if end.status in ("finished", "early-stopped") and checkpoint and Path(checkpoint).is_file():
            self.state.set_checkpoint(checkpoint)
        if end.status == "failed":
            message, details = failure or (str(result.get("message")), "")
            if self.session.resuming_from or "Traceback" in details:
                # A file the user picked in a dialog, or a bug: a dialog (with the details) on top of the banner.
                title = "Cannot continue from this checkpoint" if self.session.resuming_from else "Training failed"
                self._show_error(title, message, details)
            else:
                self.runFailed.emit(message)

    # ------------------------------------------------------------------------------------------------
    # Dialogs and log

    def _show_error(self, title: str, message: str, details: str = "") -> None:
        """A non-blocking error dialog (window-modal): never a silent stop."""
        box = QMessageBox(QMessageBox.Icon.Critical, title, message, QMessageBox.StandardButton.Ok, self)
        if details:
            box.setDetailedText(details)
        box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        box.setWindowModality(Qt.WindowModality.WindowModal)
        self.error_dialog = box
        box.finished.connect(lambda _r: setattr(self, "error_dialog", None))
        box.open()
        self.runFailed.emit(message)

    def _log(self, text: str) -> None:
        self.panel.log(text)

    def find_learning_rate(self) -> Any:
        """Open the "Find learning rate" dialog and run the range test on the form's settings; "Use this"
        puts the suggestion into the form. Returns the dialog (None when the settings are refused)."""
        from cnnstudio.ui.sessions.lr_find_session import LrFindSession
        from cnnstudio.ui.sessions.train_session import _needs_larger_pictures
        from cnnstudio.ui.widgets.lr_find_dialog import LrFindDialog

        blocker = self.start_blocker()
        try:
            if blocker:
                raise CNNStudioError(blocker)
            cfg = self.build_config()
        except CNNStudioError as exc:
            self._show_error("Cannot find a learning rate", str(exc))
            return None
        dataset = self.state.dataset
        if dataset is not None and _needs_larger_pictures(cfg, dataset):
            dataset = None  # the finder decodes the folder again, at the backbone's resolution
        self.lr_find_dialog = dialog = LrFindDialog(LrFindSession(self), self)
        dialog.lrChosen.connect(self.lr_spin.setValue)
        dialog.finished.connect(lambda _r: setattr(self, "lr_find_dialog", None))
        dialog.open()
        dialog.start(cfg, dataset)
        return dialog

    def _resume_checkpoint_clicked(self) -> None:
        """Pick the run to continue by name, date and accuracy (or any checkpoint file)."""
        from cnnstudio.ui.widgets.run_picker import RunPicker

        picker = RunPicker(self)
        picker.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        picker.chosen.connect(self.resume_from_checkpoint)
        self.run_picker = picker
        picker.open()

    def showEvent(self, event) -> None:  # noqa: N802
        self._update_controls()
        super().showEvent(event)
