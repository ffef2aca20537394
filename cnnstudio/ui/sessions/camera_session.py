"""The Camera page's source: which camera or video file is open, its newest frame, and what went wrong.

The frames come from cnnstudio/media (QtMultimedia, the decoder the command line uses too). The source
keeps only the newest frame; this session takes it when Qt says one is there and hands it on as
`frameArrived` (the preview, the recorder and the live prediction all receive that same frame), so a
busy GUI thread never works through a backlog of old frames. Everything that can go wrong with a source
arrives as one line on `problem`: no camera (the video-file option is offered), the camera taken by
another program, unplugged, a file that is not a video.
"""

from __future__ import annotations

from dataclasses import dataclass

from PySide6.QtCore import QObject, Signal

from cnnstudio.core.errors import CNNStudioError
from cnnstudio.media.video import CameraInfo, FrameSource, LiveFrame, cameras

NO_CAMERA = "No camera found: connect one, or open a video file instead (Open video…)."


@dataclass(frozen=True)
class SourceState:
    """What the page's source is now."""

    kind: str  # "none", "camera" or "file"
    name: str  # the camera's or the file's name ("" for none)
    cameras: tuple[CameraInfo, ...]  # the cameras on this computer, as last listed


class CameraSession(QObject):
    sourceChanged = Signal(object)  # SourceState
    frameArrived = Signal(object)  # media.video.LiveFrame: the newest frame
    problem = Signal(str)  # one line: why the source stopped or could not start
    ended = Signal()  # a video file played to its end

    def __init__(self, parent: QObject | None = None, source: FrameSource | None = None) -> None:
        super().__init__(parent)
        self.source = source if source is not None else FrameSource(self)
        self.source.frameReady.connect(self._on_frame_ready)
        self.source.failed.connect(self._on_failed)
        self.source.ended.connect(self._on_ended)
        self._cameras: tuple[CameraInfo, ...] = ()
        self.kind = "none"
        self.last_problem = ""

    @property
    def state(self) -> SourceState:
        return SourceState(self.kind, self.source.description if self.kind != "none" else "", self._cameras)

    def list_cameras(self) -> tuple[CameraInfo, ...]:
        self._cameras = tuple(cameras())
        self.sourceChanged.emit(self.state)
        return self._cameras

    def open_camera(self, camera_id: str | None = None) -> bool:
        try:
            self.source.open_camera(camera_id)
        except CNNStudioError as exc:
            self._say(str(exc) if self._cameras or camera_id else NO_CAMERA)
            return False
        self.kind = "camera"
        self.sourceChanged.emit(self.state)
        return True

    def open_file(self, path: str, rate: float = 1.0) -> bool:
        try:
            self.source.open_file(path, rate)
        except CNNStudioError as exc:
            self._say(str(exc))
            return False
        self.kind = "file"
        self.sourceChanged.emit(self.state)
        return True

    def stop(self) -> None:
        self.source.close()
        self.kind = "none"
        self.sourceChanged.emit(self.state)

    @property
    def dropped(self) -> int:
        """Frames that came while the page was busy with a newer one: skipped, never queued."""
        return max(0, self.source.delivered - self.source.taken)

    def _on_frame_ready(self) -> None:
        frame: LiveFrame | None = self.source.take()
        if frame is not None:
            self.frameArrived.emit(frame)

    def _on_failed(self, line: str) -> None:
        self.kind = "none"
        self.sourceChanged.emit(self.state)
        self._say(line)

    def _on_ended(self) -> None:
        self.kind = "none"
        self.source.close()
        self.sourceChanged.emit(self.state)
        self.ended.emit()

    def _say(self, line: str) -> None:
        self.last_problem = line
        self.problem.emit(line)

    def shutdown(self) -> None:
        self.source.close()
