"""The one decoder of camera and video frames (see the package notes): frames as numpy RGB arrays.

- decode_video(path, on_frame, every): every frame of a file, in order, none dropped, as fast as the
  receiver takes them. The sink's signal is connected directly, so on_frame runs on Qt's rendering
  thread and the player waits for it: a slow receiver slows the decoding instead of piling up frames.
- FrameSource: a live stream (a camera, or a file played at its own speed standing in for one) that keeps
  only the newest frame: the receiver takes it when it is ready for one, and the frames it was too slow
  for are counted as dropped, never queued.
"""

from __future__ import annotations

import os
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PySide6.QtCore import (QCoreApplication, QEventLoop, QLoggingCategory, QObject, Qt, QtMsgType, QTimer, QUrl,
                            Signal, Slot, qInstallMessageHandler)

from cnnstudio.core.errors import CNNStudioError
from cnnstudio.core.text import printable
from cnnstudio.ui.qimage import qimage_to_rgb


def quiet_logs() -> None:
    """QtMultimedia's own chatter (FFmpeg's stream dump, the backend it chose, PipeWire not found) off the
    terminal, unless the user asked for it with QT_LOGGING_RULES: its failures reach the user as
    MediaError lines. Set before QtMultimedia loads, since it speaks as its library is loaded."""
    if not os.environ.get("QT_LOGGING_RULES"):
        QLoggingCategory.setFilterRules("qt.multimedia.*=false\nqt.rhi.*=false")


quiet_logs()

from PySide6.QtMultimedia import (QCamera, QCameraDevice, QMediaCaptureSession, QMediaDevices,  # noqa: E402
                                  QMediaFormat, QMediaPlayer, QVideoFrame, QVideoSink)

# decode_video plays the file this many times faster than real time: the direct connection makes the
# player wait for each frame's receiver, so the rate only removes the waits between frames.
DECODE_RATE = 1000.0
# decode_video gives up when no frame and no end came for this long (a stream that stalls).
STALL_SECONDS = 30.0

_Status = QMediaPlayer.MediaStatus
_app: QCoreApplication | None = None  # created here when the command line decodes without an app


class MediaError(CNNStudioError):
    """A camera or a video file cannot be used; the message is one line for the user."""


@dataclass(frozen=True)
class CameraInfo:
    id: str  # QCameraDevice.id(), as text
    name: str
    default: bool


@dataclass(frozen=True)
class LiveFrame:
    """The newest frame of a live source."""

    rgb: np.ndarray  # uint8 (H, W, 3)
    time: float  # seconds: the frame's time in a file, since the start for a camera
    arrived: float  # time.monotonic() when it reached the sink
    serial: int  # frames the source has delivered, this one included


def ensure_core_app() -> QCoreApplication:
    """The running application, or a QCoreApplication for the command line (QtMultimedia needs one)."""
    global _app
    app = QCoreApplication.instance()
    if app is None:
        # The command line: Qt's warnings (a video converted without a GPU, say) are not the user's
        # business there; its critical messages still show.
        qInstallMessageHandler(_command_line_messages)
        app = _app = QCoreApplication(["cnnstudio"])
    return app


def quiet_ffmpeg() -> None:
    """FFmpeg's own log lines ("moov atom not found" before "not a video") off the command line's stderr:
    its level set to errors that are fatal, in the FFmpeg libraries Qt ships, once Qt's backend has set
    its own (its first QMediaPlayer). Best effort: a Qt build without them, or with other names, keeps
    FFmpeg's default. The user reads MediaError's one line."""
    import ctypes
    import glob

    import PySide6

    folder = Path(PySide6.__file__).parent
    names = glob.glob(str(folder / "Qt" / "lib" / "libavutil.so.*")) + glob.glob(str(folder / "Qt" / "lib" /
                                                                                     "libavutil.*.dylib"))
    names += glob.glob(str(folder / "avutil-*.dll"))
    for name in names[:1]:
        try:
            ctypes.CDLL(name).av_log_set_level(8)  # AV_LOG_FATAL
        except (OSError, AttributeError):
            pass


def _command_line_messages(kind: QtMsgType, _context: object, message: str) -> None:
    if kind in (QtMsgType.QtCriticalMsg, QtMsgType.QtFatalMsg):
        print(f"Qt: {message}", file=sys.stderr)


def frame_rgb(frame: QVideoFrame) -> np.ndarray | None:
    """A copy of a frame as uint8 (H, W, 3) RGB; None for the empty frame a sink gets at the end."""
    if not frame.isValid():
        return None
    image = frame.toImage()
    if image.isNull():
        return None
    return qimage_to_rgb(image)


def cameras() -> list[CameraInfo]:
    ensure_core_app()
    default = QMediaDevices.defaultVideoInput()
    return [CameraInfo(_camera_id(d), d.description(), d.id() == default.id()) for d in QMediaDevices.videoInputs()]


def _camera_id(device: QCameraDevice) -> str:
    return bytes(device.id().data()).decode("utf-8", "replace")


def backend_formats() -> list[str]:
    """The file formats the multimedia backend decodes (empty: no backend loaded). For the self-test."""
    ensure_core_app()
    formats = QMediaFormat().supportedFileFormats(QMediaFormat.ConversionMode.Decode)
    return sorted(QMediaFormat.fileFormatName(f) for f in formats)


def check_video_path(path: str | Path) -> Path:
    p = Path(path)
    if not p.exists():
        raise MediaError(f"video not found: {printable(p)}")
    if not p.is_file():
        raise MediaError(f"{printable(p)} is not a file")
    return p


def not_a_video_line(path: Path, detail: str = "") -> str:
    why = f" ({printable(detail)})" if detail else ""
    return f"cannot play {printable(path)}: not a video, or damaged{why}"


def decode_video(path: str | Path, on_frame: Callable[[float, np.ndarray], None], every: int = 1) -> int:
    """Call on_frame(seconds, rgb) for every `every`-th frame of the file, in order; return the frames read.

    MediaError for a file that is not a video (or has no picture); an exception raised by on_frame is
    raised here once the player has run through the rest of the file, every later frame ignored.
    Runs its own event loop, so call it from the thread of the Qt app.
    """
    p = check_video_path(path)
    if every < 1:
        raise MediaError("--every must be at least 1")
    ensure_core_app()
    player, sink, loop = QMediaPlayer(), QVideoSink(), QEventLoop()
    if _app is not None:  # the command line's own application: FFmpeg set up by now, quieted
        quiet_ffmpeg()
    player.setVideoSink(sink)
    state = _Decoding(last=time.monotonic())
    lock = threading.Lock()

    def on_video_frame(frame: QVideoFrame) -> None:  # the rendering thread
        with lock:
            if state.finished or state.raised is not None:
                return
            state.last = time.monotonic()
        rgb = frame_rgb(frame)
        if rgb is None:
            return
        index = state.frames
        state.frames = index + 1
        if index % every:
            return
        try:
            on_frame(frame.startTime() / 1e6, rgb)
        except BaseException as exc:  # noqa: BLE001 - handed to the caller's thread, raised there
            # The player is not stopped here: the GUI thread would wait in stop() for this thread while
            # holding the GIL this thread needs for the next frame. The rest of the file decodes with
            # every frame ignored, then EndOfMedia ends the loop.
            with lock:
                state.raised = exc

    def on_status(status: QMediaPlayer.MediaStatus) -> None:
        if status in (_Status.EndOfMedia, _Status.InvalidMedia):
            loop.quit()
        elif status == _Status.LoadedMedia and not player.hasVideo():
            state.error = f"{printable(p)} holds no video picture (sound only?)"
            loop.quit()

    def on_error(error: QMediaPlayer.Error, text: str) -> None:
        if error != QMediaPlayer.Error.NoError and state.error is None:
            state.error = not_a_video_line(p, text)
        loop.quit()

    def watchdog() -> None:
        with lock:
            idle = time.monotonic() - state.last
        if idle > STALL_SECONDS:
            state.error = f"{printable(p)}: the video stopped decoding (no frame for {STALL_SECONDS:.0f} s)"
            loop.quit()

    sink.videoFrameChanged.connect(on_video_frame, Qt.ConnectionType.DirectConnection)
    player.mediaStatusChanged.connect(on_status)
    player.errorOccurred.connect(on_error)
    timer = QTimer()
    timer.timeout.connect(watchdog)
    timer.start(1000)
    try:
        player.setSource(QUrl.fromLocalFile(str(p.resolve())))
        player.setPlaybackRate(DECODE_RATE)
        player.play()
        if player.mediaStatus() != _Status.InvalidMedia and state.error is None:
            loop.exec()
    finally:
        timer.stop()
        with lock:
            state.finished = True  # frames still arriving are ignored from now on
        sink.videoFrameChanged.disconnect(on_video_frame)
        player.stop()
    if state.raised is not None:
        raise state.raised
    if state.error is not None:
        raise MediaError(state.error)
    if player.mediaStatus() == _Status.InvalidMedia:
        raise MediaError(not_a_video_line(p, player.errorString()))
    if state.frames == 0:
        raise MediaError(f"{printable(p)} holds no video frame")
    return state.frames


@dataclass
class _Decoding:
    """decode_video's state, shared with the rendering thread (under its lock)."""

    last: float  # time.monotonic() of the last frame (the watchdog's clock)
    frames: int = 0
    error: str | None = None
    raised: BaseException | None = None  # what on_frame raised; later frames are ignored
    finished: bool = False


class FrameSource(QObject):
    """A live stream of frames (a camera, or a video file at its own speed); only the newest is kept.

    frameReady fires on the GUI thread when a new frame is there (at most one such signal is pending:
    a GUI thread that was busy finds one signal and the newest frame, not a backlog); take() hands it
    over. failed(line) says why the source stopped (the camera taken by another program or unplugged,
    a file that is not a video); ended() when a file played to its end.
    """

    frameReady = Signal()
    failed = Signal(str)
    ended = Signal()
    opened = Signal(str)  # what is shown: the camera's name or the file's
    _arrived = Signal()

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._sink = QVideoSink(self)
        # Queued to this (the GUI) thread, unlike decode_video's direct connection: Python code on Qt's
        # rendering thread needs the GIL, and the GUI thread holds it while QMediaPlayer.stop() or a
        # camera's stop waits for that thread: a deadlock. The slot only keeps the frame (a reference,
        # no copy), so a GUI thread that was busy works through a backlog in microseconds; `_arrived`,
        # queued behind the backlog, then delivers the newest frame once.
        self._sink.videoFrameChanged.connect(self._on_video_frame, Qt.ConnectionType.QueuedConnection)
        self._arrived.connect(self._deliver, Qt.ConnectionType.QueuedConnection)
        self._lock = threading.Lock()
        self._latest: tuple[QVideoFrame, float, float, int] | None = None  # frame, time, arrival, serial
        self._pending = False
        self._serial = 0
        self.taken = 0  # frames handed out by take()
        self._started = time.monotonic()
        self._player: QMediaPlayer | None = None
        self._camera: QCamera | None = None
        self._capture: QMediaCaptureSession | None = None
        self._camera_id: str | None = None
        self._devices = QMediaDevices(self)
        self._devices.videoInputsChanged.connect(self._on_inputs_changed)
        self.description = ""

    # -- opening and closing ---------------------------------------------------------------------------
    def open_file(self, path: str | Path, rate: float = 1.0) -> None:
        """Play a video file at its own speed (rate 1.0) as if it were a camera."""
        self.close()
        p = check_video_path(path)
        player = self._player = QMediaPlayer(self)
        player.setVideoSink(self._sink)
        player.errorOccurred.connect(lambda error, text: self._fail(not_a_video_line(p, text))
                                     if error != QMediaPlayer.Error.NoError else None)
        player.mediaStatusChanged.connect(lambda status: self._on_status(p, status))
        self.description = p.name
        player.setSource(QUrl.fromLocalFile(str(p.resolve())))
        player.setPlaybackRate(rate)
        self._reset()
        player.play()
        self.opened.emit(self.description)

    def open_camera(self, camera_id: str | None = None) -> None:
        """Start a camera (None: the system's default). MediaError when there is none."""
        self.close()
        devices = QMediaDevices.videoInputs()
        if not devices:
            raise MediaError("no camera found: connect one, or use a video file instead")
        device = next((d for d in devices if _camera_id(d) == camera_id), None) if camera_id else None
        device = device or QMediaDevices.defaultVideoInput()
        if device.isNull():
            device = devices[0]
        camera = self._camera = QCamera(device, self)
        camera.errorOccurred.connect(lambda error, text: self._fail(camera_error_line(device.description(), text))
                                     if error != QCamera.Error.NoError else None)
        capture = self._capture = QMediaCaptureSession(self)
        capture.setCamera(camera)
        capture.setVideoSink(self._sink)
        self._camera_id = _camera_id(device)
        self.description = device.description()
        self._reset()
        camera.start()
        self.opened.emit(self.description)

    def close(self) -> None:
        if self._player is not None:
            self._player.stop()
            self._player.deleteLater()
            self._player = None
        if self._camera is not None:
            self._camera.stop()
            if self._capture is not None:
                self._capture.deleteLater()
            self._camera.deleteLater()
            self._camera = self._capture = None
            self._camera_id = None
        with self._lock:
            self._latest = None

    @property
    def active(self) -> bool:
        return self._player is not None or self._camera is not None

    @property
    def is_camera(self) -> bool:
        return self._camera is not None

    # -- frames ----------------------------------------------------------------------------------------
    def take(self) -> LiveFrame | None:
        """The newest frame, once, as RGB (None when none came since the last take)."""
        with self._lock:
            held, self._latest = self._latest, None
        if held is None:
            return None
        frame, seconds, arrived, serial = held
        rgb = frame_rgb(frame)
        if rgb is None:
            return None
        self.taken += 1
        return LiveFrame(rgb, seconds, arrived, serial)

    @property
    def delivered(self) -> int:
        return self._serial

    def _reset(self) -> None:
        with self._lock:
            self._latest, self._serial, self.taken = None, 0, 0
        self._started = time.monotonic()

    @Slot(QVideoFrame)
    def _on_video_frame(self, frame: QVideoFrame) -> None:
        if not frame.isValid():
            return
        start = frame.startTime()
        seconds = start / 1e6 if start >= 0 else time.monotonic() - self._started
        with self._lock:
            self._serial += 1
            self._latest = (frame, seconds, time.monotonic(), self._serial)
            signal = not self._pending
            self._pending = True
        if signal:
            self._arrived.emit()

    @Slot()
    def _deliver(self) -> None:
        with self._lock:
            self._pending = False
        self.frameReady.emit()

    # -- failures --------------------------------------------------------------------------------------
    def _on_status(self, path: Path, status: QMediaPlayer.MediaStatus) -> None:
        if status == _Status.EndOfMedia:
            self.ended.emit()
        elif status == _Status.InvalidMedia:
            self._fail(not_a_video_line(path, self._player.errorString() if self._player else ""))
        elif status == _Status.LoadedMedia and self._player is not None and not self._player.hasVideo():
            self._fail(f"{printable(path)} holds no video picture (sound only?)")

    def _on_inputs_changed(self) -> None:
        if self._camera_id is None:
            return
        if self._camera_id not in {_camera_id(d) for d in QMediaDevices.videoInputs()}:
            self._fail(f"the camera {printable(self.description)} was unplugged")

    def _fail(self, line: str) -> None:
        self.close()
        self.failed.emit(line)


def camera_error_line(name: str, text: str) -> str:
    """One line for a camera that cannot be used; a busy device (another program holds it) says so."""
    lowered = text.lower()
    if any(word in lowered for word in ("busy", "in use", "resource", "device or resource")):
        return (f"the camera {printable(name)} is in use by another program: close that program (a video "
                "call, another camera app), then choose the camera again")
    return f"the camera {printable(name)} cannot be used ({printable(text) or 'no reason given'})"
