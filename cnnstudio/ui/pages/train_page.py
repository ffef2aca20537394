"""The Train page: hyper-parameters, device, Start / Pause / Stop, live progress, charts and log.

This module is the view: it binds the settings form (cnnstudio/ui/widgets/train_form.py) and the run
panel (widgets/run_panel.py) to TrainSession (cnnstudio/ui/sessions/train_session.py), which decides what
a Start, a "Continue a run…", a "Train next" or the queue's next run trains, owns the run and reports it.
The run itself happens on a QThread (cnnstudio.ui.training_worker) whose events, the core's dataclasses,
arrive at most about 20 times a second, so each update is a few setData calls and a label. The page's
run is over (runFinished, with the RunResult) only once its thread has ended, so a new run can start
right away.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import QCoreApplication, Qt, Signal, Slot
from PySide6.QtWidgets import QHBoxLayout, QMessageBox, QSplitter, QWidget

from cnnstudio.core.models.backbones import backbone_layer_index
from cnnstudio.core.training.config import ConfigValues, TrainConfig
from cnnstudio.core.training.events import EpochEvent, RecoveredEvent, RunResult, StepEvent
from cnnstudio.ui.sessions.estimate_session import EstimateSession
from cnnstudio.ui.sessions.train_session import Launch, RunEnd, RunStart, TrainSession, describe_end
from cnnstudio.ui.state import AppState, CurrentSpec
from cnnstudio.ui.train_dialogs import TrainDialogsMixin
from cnnstudio.ui.widgets.run_panel import RunPanel, shortcut_text, training_banner
from cnnstudio.ui.widgets.train_form import TrainForm

if TYPE_CHECKING:
    from cnnstudio.core.training.device import DeviceInfo
    from cnnstudio.ui.training_worker import TrainingRun
    from cnnstudio.ui.widgets.lr_find_dialog import LrFindDialog
    from cnnstudio.ui.widgets.run_picker import RunPicker
    from cnnstudio.ui.widgets.sweep_dialog import SweepDialog


class TrainPage(TrainDialogsMixin, QWidget):
    """Public for other code and tests: start_training, resume_from_checkpoint, queue_current,
    start_queue, pause, resume, stop, is_running, is_paused, current_step, the form (`form`), charts,
    progress_bar, the buttons, and the signals below."""

    runStarted = Signal(object)  # the StartedEvent (run_dir, device, precision, epochs, ...)
    stepsReceived = Signal(int)  # the latest global step, after each (throttled) update
    epochFinished = Signal(object)  # the EpochEvent
    pausedChanged = Signal(bool)  # True once the trainer really waits, False when it goes on
    runFinished = Signal(object)  # the RunResult; the thread has ended when this arrives
    runFailed = Signal(str)  # the message shown in the error dialog
    backboneModeRequested = Signal(int, str)  # (layer index, mode): the Model page changes its spec

    def __init__(self, state: AppState):
        super().__init__()
        self.state = state
        self.session = TrainSession(state, self)
        self.estimates = EstimateSession(self)  # the run's time before Start
        # The banner says how the last run ended until the dataset or the model changes (then it is about
        # a selection no longer there, and "Ready" or what blocks Start replaces it).
        self._end_in_banner = False
        self.error_dialog: QMessageBox | None = None
        self.run_picker: RunPicker | None = None  # the "Continue a run" dialog while it is open
        self.lr_find_dialog: LrFindDialog | None = None  # the "Find learning rate" dialog while it is open
        self.sweep_dialog: SweepDialog | None = None  # the Sweep dialog while it is open

        self._build()
        self._fill_recommended()
        session = self.session
        session.started.connect(self._on_started)
        session.steps.connect(self._on_steps)
        session.epoch.connect(self._on_epoch)
        session.recovered.connect(self._on_recovered)
        session.log.connect(self._log)
        session.pausedChanged.connect(self._on_paused_changed)
        session.launched.connect(self._on_launched)
        session.refused.connect(lambda text: self._set_banner(text, "warning"))
        session.rejected.connect(self._show_error)
        session.ended.connect(self._on_run_ended)
        session.runMoved.connect(self._on_run_moved)
        self.estimates.estimated.connect(lambda e: self.form.time_label.setText(e.text()))
        self.estimates.failed.connect(lambda message: self.form.time_label.setText(f"no estimate: {message}"))
        session.trialStarted.connect(lambda _trial: self._update_controls())  # what trains now: this trial
        state.datasetChanged.connect(self._on_selection_changed)
        state.specChanged.connect(self._on_spec_changed)
        state.settingsChosen.connect(self.form.set_config)  # Runs > By settings > Use best
        state.augmentationChanged.connect(lambda *_: self._update_summary())
        state.queue.changed.connect(self._on_queue_changed)
        state.queue.startRequested.connect(self.start_queue)
        app = QCoreApplication.instance()
        if app is not None:
            # Quitting without closing the window (Ctrl+C, app.quit()) must still stop and wait.
            app.aboutToQuit.connect(self.shutdown)
        self._on_queue_changed()  # a queue restored from the last launch shows at once; and the controls

    # What the run reached, as the session counts it.
    @property
    def current_step(self) -> int:
        return self.session.current_step

    @property
    def total_steps(self) -> int:
        return self.session.total_steps

    @property
    def last_result(self) -> RunResult | None:
        """How the last run ended (None before the first)."""
        return self.session.last_result

    # ------------------------------------------------------------------------------------------------
    # Building the page

    def _build(self) -> None:
        outer = QHBoxLayout(self)
        outer.setContentsMargins(8, 8, 8, 8)
        splitter = QSplitter(Qt.Orientation.Horizontal)
        splitter.setChildrenCollapsible(False)
        outer.addWidget(splitter)
        self.form = form = TrainForm()
        self.queue_panel = form.queue_panel
        form.hardwareChanged.connect(self._update_controls)
        form.edited.connect(self._update_controls)
        form.resetRequested.connect(self.reset_form)
        form.backboneModeChosen.connect(self._on_backbone_mode_chosen)
        form.resume_checkpoint_button.clicked.connect(self._resume_checkpoint_clicked)
        form.export_button.clicked.connect(self.export_command_line)
        form.find_lr_button.clicked.connect(self.find_learning_rate)
        splitter.addWidget(form)
        splitter.addWidget(self._build_main())
        splitter.setStretchFactor(0, 0)
        splitter.setStretchFactor(1, 1)
        splitter.setSizes([320, 900])

    def _build_main(self) -> QWidget:
        self.panel = panel = RunPanel()
        panel.step_status = self.session.progress_line
        self.start_button, self.queue_button = panel.start_button, panel.queue_button
        self.pause_button, self.stop_button = panel.pause_button, panel.stop_button
        self.banner, self.progress_bar, self.status_label = panel.banner, panel.progress_bar, panel.status_label
        self.charts, self.log_view = panel.charts, panel.log_view
        self.start_button.clicked.connect(self._start_clicked)
        self.queue_button.clicked.connect(lambda: self.queue_current())
        panel.sweep_button.clicked.connect(self.open_sweep_dialog)
        self.pause_button.clicked.connect(self.toggle_pause)
        self.stop_button.clicked.connect(self.stop)
        panel.bind_shortcuts({"start": self._start_clicked, "pause": self.toggle_pause, "stop": self.stop})
        queue, lined_up = self.state.queue, self.form.queue_panel
        lined_up.moveRequested.connect(queue.move)
        lined_up.removeRequested.connect(queue.remove)
        lined_up.startRequested.connect(queue.request_start)
        lined_up.editRequested.connect(self.edit_queued)
        return panel

    # ------------------------------------------------------------------------------------------------
    # The form and what it means

    def reset_form(self) -> None:
        """Refill the form with the recommended values for the current dataset."""
        self._fill_recommended()
        self._update_summary()

    def _fill_recommended(self) -> None:
        """The form from the values recommended for the loaded data, and the reasons beside them."""
        rec = self.state.recommendation
        self.form.fill(rec.config)
        self.form.show_recommendation(rec.reasons)

    def build_config(self, overrides: ConfigValues | None = None) -> TrainConfig:
        """The TrainConfig a Start would use (TrainSession.form_config). CNNStudioError if invalid."""
        return self.session.form_config(self.form.values(), overrides)

    def _on_spec_changed(self, current: CurrentSpec) -> None:
        index = backbone_layer_index(current.spec)
        layers = current.spec["layers"]
        self.form.show_backbone_mode(layers[index].get("train", "features") if index is not None else None)
        # The recipe follows the model: a network without normalisation gets other settings than fast-cnn.
        self._on_selection_changed()

    def _on_backbone_mode_chosen(self, mode: str) -> None:
        index = backbone_layer_index(self.state.spec)
        if index is not None:
            self.backboneModeRequested.emit(index, mode)

    @Slot(object)
    def _on_selection_changed(self, *_args: object) -> None:
        """A new dataset or model: the recommended values, unless the user edited the form."""
        self._end_in_banner = False
        if not self.form.user_edited:
            self._fill_recommended()
        else:
            self.form.show_recommendation(self.state.recommendation.reasons)
        self._update_controls()

    def on_devices(self, devices: list[DeviceInfo]) -> None:
        """Called by the main window once PyTorch has loaded: show the devices really there."""
        self.session.devices = list(devices)
        self.form.set_devices(self.session.devices)
        self._update_controls()

    def resolved_precision(self) -> tuple[str | None, str | None]:
        return self.session.resolved_precision(self.form.device_choice(), self.form.precision_choice())

    def _update_summary(self) -> None:
        state = self.state
        self.form.show_summary(state.dataset, state.dataset_name, state.spec, self.session.augmentation())

    # ------------------------------------------------------------------------------------------------
    # Can we start?

    def start_blocker(self) -> str | None:
        """None when Start may be pressed, else the sentence that says why not."""
        return self.session.form_blocker(self.form.values())

    def _update_controls(self) -> None:
        self._update_summary()
        precision, problem = self.resolved_precision()
        self.form.show_precision(precision, problem, self.session.device_id(self.form.device_choice()))
        running, session = self.is_running(), self.session
        blocker = self.start_blocker()
        self.panel.set_controls(blocker, running, session.stop_requested,
                                session.form_blocker(self.form.values(), queued=True), session.editing_position())
        self.form.resume_checkpoint_button.setEnabled(not running)
        self.form.set_running(session.running_summary())
        # How long Start's run will take; not while a run trains (the probe would compete with it).
        text = self.estimates.ask(self.build_config, self.state.dataset, ready=not running and blocker is None)
        if text is not None:
            self.form.time_label.setText(text)
        if not running:
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
    # Starting, the queue, running (TrainSession decides; the page passes the form's values)

    def queue_current(self, config_overrides: ConfigValues | None = None) -> bool:
        """Add a run with the form's settings (plus overrides) to the queue, with the dataset loaded now.
        False, with the reason in the banner or a dialog, if these settings cannot train."""
        return self.session.queue_current(self.form.values(), config_overrides)

    def start_queue(self) -> bool:
        """Start the queue's first run now (the queue is released if it was held)."""
        return self.session.start_queue()

    def _on_queue_changed(self) -> None:
        queue = self.state.queue
        self.panel.show_queue(len(queue), queue.held, self.is_running())
        self.queue_panel.show_queue([(e.id, e.summary()) for e in queue.entries], queue.held,
                                  [e.problem for e in queue.entries])
        self._update_controls()  # the entry being edited may have started

    def edit_queued(self, entry_id: int) -> bool:
        """Put a waiting run's settings in the form; Train next then updates that run in its place."""
        config = self.session.edit_queued(entry_id)
        if config is not None:
            self.form.set_config(config)
            self.form.user_edited = True
            self._update_controls()
            n = self.session.editing_position()
            self._set_banner(f"Queued run #{n} is in the form: change its settings, then press Update queued #{n} "
                             f"(it keeps its own data and model: {config.model} on {config.dataset}).", "info")
        return config is not None

    def is_running(self) -> bool:
        return self.session.is_running()

    def is_paused(self) -> bool:
        return self.session.is_paused()

    @property
    def run(self) -> TrainingRun | None:
        return self.session.run

    @Slot()
    def _start_clicked(self) -> None:
        if self.start_button.isEnabled():
            self.start_training()

    def start_training(self, config_overrides: ConfigValues | None = None) -> bool:
        """Start a new run from the form (plus overrides). False, with the reason in the banner, if it cannot."""
        return self.session.start_new(self.form.values(), config_overrides)

    def resume_from_checkpoint(self, path: str, config_overrides: ConfigValues | None = None) -> bool:
        """Continue the run a checkpoint (last.pt) belongs to. A bad file ends in a clear error dialog."""
        form = self.form
        return self.session.continue_run(path, form.epochs_spin.value(), form.device_choice(), config_overrides)

    def _on_launched(self, launch: Launch) -> None:
        """A run has started: the charts and progress start again; the form shows what runs when overrides
        changed it (a queued run is shown above the form, which stays the user's for the next run)."""
        cfg = launch.config
        if launch.show_config and not launch.queued:
            self.form.set_config(cfg)  # show what really runs
            self.form.user_edited = True
        self.panel.begin_run(cfg.model)
        self.panel.log_launch(cfg, launch.resume_from, launch.find_lr)
        self._set_banner(training_banner(), "info")
        self._on_queue_changed()  # and the controls

    def pause(self) -> None:
        if self.session.pause():
            self.panel.show_paused(True)
            self.status_label.setText("Pausing after the current batch…")

    def resume(self) -> None:
        if self.session.resume():
            self.panel.show_paused(False)
            self._set_banner(training_banner(), "info")

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

    def _on_started(self, start: RunStart) -> None:
        event, history = start.event, start.history
        epochs = event.epochs
        self.charts.set_live_extent(self.total_steps, epochs)
        if history and (history.get("epoch") or history.get("steps", {}).get("step")):
            self.charts.begin_run(self.session.run_model, history)
            self.charts.set_live_extent(self.total_steps, epochs)
        elif self.session.sweeping:  # a sweep's next trial: its own charts
            self.panel.begin_run(self.session.run_model)
            self.charts.set_live_extent(self.total_steps, epochs)
        self.panel.log_started(event)
        self.status_label.setText(f"Training on {event.device_name} ({event.precision})…")
        self.progress_bar.setFormat(f"Epoch {event.start_epoch + 1}/{epochs}: starting…")
        self.runStarted.emit(event)

    def _on_steps(self, steps: list[StepEvent]) -> None:
        self.panel.add_steps(steps)
        self.stepsReceived.emit(self.current_step)

    def _on_recovered(self, event: RecoveredEvent) -> None:
        """The run went back to its last good state: the chart drops what it undid and marks the place
        (the log line comes with the trainer's own LogEvent)."""
        self.panel.flush_charts()
        self.charts.mark_recovery(event.step, event.epoch, event.reason, event.lr_factor)

    def _on_epoch(self, e: EpochEvent) -> None:
        self.panel.flush_charts()
        self.panel.flush_progress()
        self.charts.append_epoch(e)
        self.panel.log_epoch(e)
        self.epochFinished.emit(e)

    def _on_paused_changed(self, paused: bool) -> None:
        if paused:
            self.panel.flush_charts()
            self.panel.flush_progress()
            self.status_label.setText(f"Paused at step {self.current_step:,} of {self.total_steps:,}.")
            self._set_banner(f"Paused. Press Resume ({shortcut_text('pause')}) to continue exactly where it "
                             "stopped, or Stop to end the run.", "warning")
            self.progress_bar.setFormat("Paused  ·  " + self.progress_bar.format())
            self._log(f"Paused at step {self.current_step:,}.")
        elif not self.session.stop_requested:
            self._log("Resumed.")
            if self.session.last_step is not None:
                self.panel.show_step(self.session.last_step)
        self.pausedChanged.emit(paused)

    def _on_run_ended(self, result: RunResult, failure: tuple[str, str] | None) -> None:
        """The run's thread has ended: say how (the session then starts the queue's next run, if any)."""
        self.panel.flush_charts()
        self._finish(result, failure)
        self._update_controls()
        self.runFinished.emit(result)
        self._on_queue_changed()

    def _finish(self, result: RunResult, failure: tuple[str, str] | None) -> None:
        end = describe_end(result, failure, time.monotonic() - self.session.started_at)
        # A stopped run's own count of steps: the bar's may lag.
        self.panel.show_end(end.status, int(result.global_step or self.current_step),
                            int(result.total_steps or self.total_steps))
        self._set_banner(end.banner, end.kind)
        self._end_in_banner = True
        self.status_label.setText(end.status_text)
        self._log(end.log_line)
        if result.run_dir:
            self._log(f"Saved in {result.run_dir}")
        # The status bar points to the banner rather than repeating a failure's whole message.
        self.state.message.emit("Training failed: the reason is on the Train page." if end.status == "failed"
                                else end.banner)
        if end.status != "failed" or result.run_dir:
            self.state.runFinished.emit(result)
        # Only a finished run's best checkpoint becomes the model in use (and the one the next launch opens):
        # a stopped or interrupted run's last.pt is for "Continue a run…", not for Evaluate, Inspect and Draw.
        checkpoint = result.checkpoint
        if end.status in ("finished", "early-stopped") and checkpoint and Path(checkpoint).is_file():
            self.state.set_checkpoint(checkpoint)
        if end.status == "failed":
            message, details = failure or (result.message, "")
            if self.session.resuming_from or "Traceback" in details:
                # A file the user picked in a dialog, or a bug: a dialog (with the details) on top of the banner.
                title = "Cannot continue from this checkpoint" if self.session.resuming_from else "Training failed"
                self._show_error(title, message, details)
            else:
                self.runFailed.emit(message)

    def _on_run_moved(self, end: RunEnd) -> None:
        """The last run's folder was renamed on the Runs page: the page's account of it names the new one."""
        if self._end_in_banner:
            self._set_banner(end.banner, end.kind)
            self.status_label.setText(end.status_text)

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

    def showEvent(self, event) -> None:
        self._update_controls()
        super().showEvent(event)
