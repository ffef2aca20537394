"""The Camera page: a camera (or a video file standing in for one) as a data source and as a live input.

Record tab: hold a class's button to save a few frames a second into FOLDER/CLASS/, watch the counts
and the variety advice, then "Use as dataset" (the Data page's loader). Live tab: the current model
classifies the newest frame, with its top classes, the prepared input (or Grad-CAM over it), the
answers per second and the latency. The preview shows the whole frame with the centred square the
model sees marked: the same square is recorded and classified (core/capture/frames.camera_square).

Sessions: CameraSession (the source), RecordSession, LiveSession. The page wires the source's frames
to both and shows what they say; one line for each problem, in the banner.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QHideEvent, QShowEvent
from PySide6.QtWidgets import (QCheckBox, QComboBox, QFileDialog, QFrame, QHBoxLayout, QLabel, QPushButton,
                               QScrollArea, QTabWidget, QVBoxLayout, QWidget)

from cnnstudio.media.video import LiveFrame
from cnnstudio.ui.sessions.camera_session import NO_CAMERA, CameraSession, SourceState
from cnnstudio.ui.sessions.live_session import TOP_K, LiveAnswer, LiveSession
from cnnstudio.ui.sessions.record_session import RecordSession
from cnnstudio.ui.state import AppState
from cnnstudio.ui.values import RecordStatus
from cnnstudio.ui.widgets.banner import Banner
from cnnstudio.ui.widgets.camera_preview import CameraPreview
from cnnstudio.ui.widgets.muted import muted_color, paint_muted
from cnnstudio.ui.widgets.prediction_panel import PredictionPanel
from cnnstudio.ui.widgets.record_panel import RecordPanel

if TYPE_CHECKING:
    from cnnstudio.core.inference import Predictor

VIDEO_FILTER = "Videos (*.mp4 *.m4v *.mov *.mkv *.webm *.avi *.wmv *.ogv);;All files (*)"
PLACEHOLDER = "Choose a camera and press Start, or open a video file: it plays here as if it were a camera."


class CameraPage(QWidget):
    datasetRequested = Signal(str)  # a recorded folder, for the Data page

    def __init__(self, state: AppState, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.state = state
        self.camera = CameraSession(self)
        self.record = RecordSession(self)
        self.live = LiveSession(state, self)
        self._listed = False
        self._build_ui()
        camera = self.camera
        camera.sourceChanged.connect(self._on_source)
        camera.frameArrived.connect(self._on_frame)
        camera.problem.connect(self._on_problem)
        camera.ended.connect(self._on_ended)
        self.record.statusChanged.connect(self._on_record_status)
        self.record.datasetRequested.connect(self.datasetRequested)
        self.live.modelChanged.connect(self._on_model)
        self.live.answered.connect(self._on_answer)
        self.live.problem.connect(lambda line: self.banner.show_message(line, "error"))
        self._on_model(self.live.predictor)
        self._on_record_status(self.record.status)

    # -- layout ----------------------------------------------------------------------------------------
    def _build_ui(self) -> None:
        outer = QVBoxLayout(self)
        outer.setContentsMargins(12, 8, 12, 8)
        self.banner = Banner()
        outer.addWidget(self.banner)
        bar = QHBoxLayout()
        bar.addWidget(QLabel("Camera:"))
        self.camera_box = QComboBox()
        self.camera_box.setMinimumWidth(180)
        bar.addWidget(self.camera_box)
        self.start_button = QPushButton("Start")
        self.start_button.setToolTip("Start the chosen camera")
        self.start_button.clicked.connect(self.start_camera)
        self.video_button = QPushButton("Open video…")
        self.video_button.setToolTip("Play a video file here as if it were the camera")
        self.video_button.clicked.connect(self._ask_video)
        self.stop_button = QPushButton("Stop")
        self.stop_button.clicked.connect(self.stop_source)
        for button in (self.start_button, self.video_button, self.stop_button):
            bar.addWidget(button)
        bar.addStretch(1)
        outer.addLayout(bar)

        body = QHBoxLayout()
        left = QVBoxLayout()
        self.preview = CameraPreview(PLACEHOLDER)
        left.addWidget(self.preview, 1)
        self.source_line = QLabel()
        paint_muted([self.source_line], muted_color(self, text_weight=0.68))
        left.addWidget(self.source_line)
        body.addLayout(left, 1)

        self.tabs = QTabWidget()
        self.tabs.setFixedWidth(340)
        self.record_panel = RecordPanel()
        panel = self.record_panel
        panel.folderRequested.connect(self._ask_folder)
        panel.addRequested.connect(self._add_class)
        panel.removeRequested.connect(self.record.remove_class)
        panel.holdStarted.connect(self._hold)
        panel.holdEnded.connect(lambda _name: self.record.stop())
        panel.datasetRequested.connect(self.record.use_as_dataset)
        self.tabs.addTab(panel, "Record")

        live = QWidget()
        live_layout = QVBoxLayout(live)
        live_layout.setContentsMargins(4, 8, 4, 8)
        row = QHBoxLayout()
        self.live_button = QPushButton("Start live prediction")
        self.live_button.setCheckable(True)
        self.live_button.toggled.connect(self._toggle_live)
        self.cam_box = QCheckBox("Grad-CAM")
        self.cam_box.setToolTip("Show where the model looked for its top class, over the prepared input")
        self.cam_box.toggled.connect(self.live.set_grad_cam)
        row.addWidget(self.live_button, 1)
        row.addWidget(self.cam_box)
        live_layout.addLayout(row)
        self.stats = QLabel("")
        paint_muted([self.stats], muted_color(self, text_weight=0.68))
        live_layout.addWidget(self.stats)
        self.prediction = PredictionPanel(TOP_K)
        self.prediction.setFixedWidth(320)
        # Scrolled on a short screen: the panel is as tall as Draw's, and the window must fit 1024x700.
        scroll = QScrollArea()
        scroll.setWidget(self.prediction)
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QFrame.Shape.NoFrame)
        scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        scroll.setFixedWidth(320 + scroll.verticalScrollBar().sizeHint().width())
        live_layout.addWidget(scroll, 1)
        self.tabs.addTab(live, "Live")
        body.addWidget(self.tabs)
        outer.addLayout(body, 1)
        self._update_buttons()

    # -- the source ------------------------------------------------------------------------------------
    def showEvent(self, event: QShowEvent) -> None:
        super().showEvent(event)
        if not self._listed:  # listing the cameras starts the multimedia backend: not before the page shows
            self._listed = True
            self.refresh_cameras()

    def hideEvent(self, event: QHideEvent) -> None:
        """Another page chosen: the camera is let go (its light goes off), recording stops. A minimised
        window (a spontaneous hide) keeps it running."""
        super().hideEvent(event)
        if not event.spontaneous() and self.camera.kind != "none":
            self.stop_source()

    def refresh_cameras(self) -> None:
        found = self.camera.list_cameras()
        self.camera_box.clear()
        for info in found:
            self.camera_box.addItem(info.name + (" (default)" if info.default else ""), info.id)
        if not found:
            self.camera_box.addItem("No camera found", None)
            self.banner.show_message(NO_CAMERA, "info")
        self._update_buttons()

    def start_camera(self) -> None:
        self.banner.clear_message()
        self.camera.open_camera(self.camera_box.currentData())

    def open_video(self, path: str, rate: float = 1.0) -> bool:
        self.banner.clear_message()
        return self.camera.open_file(path, rate)

    def _ask_video(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Open a video file", str(Path.home()), VIDEO_FILTER)
        if path:
            self.open_video(path)

    def stop_source(self) -> None:
        self.record.stop()
        self.camera.stop()

    def _on_source(self, state: SourceState) -> None:
        if state.kind == "none":
            self.preview.set_frame(None)
            self.preview.set_placeholder(PLACEHOLDER)
            self.source_line.setText("")
        else:
            what = "Camera" if state.kind == "camera" else "Video file"
            self.source_line.setText(f"{what}: {state.name}")
        self._update_buttons()

    def _on_frame(self, frame: LiveFrame) -> None:
        self.preview.set_frame(frame.rgb)
        self.record.on_frame(frame)
        self.live.on_frame(frame)

    def _on_problem(self, line: str) -> None:
        self.record.on_source_problem(line)
        self.banner.show_message(line, "error")

    def _on_ended(self) -> None:
        self.record.stop()
        self.source_line.setText("The video ended.")

    def _update_buttons(self) -> None:
        active = self.camera.kind != "none"
        self.start_button.setEnabled(self.camera_box.currentData() is not None and not active)
        self.stop_button.setEnabled(active)

    # -- recording -------------------------------------------------------------------------------------
    def _ask_folder(self) -> None:
        path = QFileDialog.getExistingDirectory(self, "Record into this dataset folder", str(Path.home()))
        if path:
            self.record.set_folder(path)

    def _add_class(self, name: str) -> None:
        if self.record.add_class(name):
            self.record_panel.class_added()

    def _hold(self, name: str) -> None:
        if self.camera.kind == "none":
            self.banner.show_message("Start a camera or open a video file first.", "info")
            return
        self.record.start(name)

    def _on_record_status(self, status: RecordStatus) -> None:
        self.record_panel.show_status(status)
        self.preview.set_recording(status.recording is not None)

    # -- live prediction -------------------------------------------------------------------------------
    def _toggle_live(self, on: bool) -> None:
        if on and not self.live.start():
            self.live_button.setChecked(False)
            return
        if not on:
            self.live.stop()
        self.live_button.setText("Stop live prediction" if on else "Start live prediction")

    def _on_model(self, predictor: Predictor | None) -> None:
        model = self.state.model
        summary = predictor.summary if predictor is not None else None
        self.prediction.show_model(predictor, summary, model.path)
        self.prediction.show_neutral(predictor, model.loading, bool(model.path))
        self.cam_box.setEnabled(self.live.cam_available)
        if predictor is None and self.live_button.isChecked():
            self.live_button.setChecked(False)

    def _on_answer(self, live: LiveAnswer) -> None:
        predictor = self.live.predictor
        prediction = live.answer.prediction
        if predictor is None:
            return
        if prediction.empty:
            self.prediction.show_neutral(predictor, False, True)
        else:
            self.prediction.show_prediction(prediction, predictor)
            if live.answer.overlay is not None:
                self.prediction.prepared_view.set_pixels(np.ascontiguousarray(live.answer.overlay.transpose(2, 0, 1)))
                self.prediction.prepared_caption.setText("Grad-CAM of the top class over the prepared input")
        self.stats.setText(f"{live.fps:.1f} answers/s · {live.latency_ms:.0f} ms latency · {live.skipped} skipped")
        self.stats.setToolTip("Latency: from the frame's arrival to its answer. Skipped: frames that came while "
                              "the model was busy (only the newest frame is ever classified; none wait in a queue).")

    def shutdown(self) -> None:
        self.live.shutdown()
        self.record.stop()
        self.camera.shutdown()
