"""The Camera page's Live tab: the current model classifies the newest frame, over and over.

The model is the app's CurrentModel (AppState.model), the one every page observes. Each frame goes
through core/capture/live.classify_frame (the centred square, prepare_image, Predictor: the path
`cnnstudio predict --video` takes). The calls run on a LatestRunner built with submit_latest: at most one
call in flight, and when it ends the next one reads the newest frame then, so frames never queue behind
a slow model; the frames it had no time for are skipped and counted. Each answer carries its latency
(from the frame's arrival to the answer) and how many newer frames had arrived before its call started
(`behind`: 0 when the newest frame was taken, which is the rule).
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from PySide6.QtCore import QObject, Signal

from cnnstudio.core.model_context import ModelContext
from cnnstudio.media.video import LiveFrame
from cnnstudio.ui.state import AppState
from cnnstudio.ui.tasks import Failure, LatestRunner

if TYPE_CHECKING:
    from cnnstudio.core.capture.live import CamModel, FrameAnswer
    from cnnstudio.core.inference import Predictor

TOP_K = 5
NO_MODEL = "No model loaded yet: train one (4  Train) or open a checkpoint (File > Open checkpoint…)."


@dataclass(frozen=True)
class LiveAnswer:
    """One frame classified live."""

    answer: FrameAnswer
    frame_time: float  # the frame's time (seconds into a file, or since the camera started)
    latency_ms: float  # the frame's arrival to the answer on the GUI thread
    fps: float  # answers a second, over the last few
    behind: int  # frames newer than this one that had arrived when its call started (the rule: 0)
    overtaken: int  # frames newer than this one that had arrived when its answer came (latency / frame interval)
    skipped: int  # frames not classified so far (the model was busy)


class LiveSession(QObject):
    modelChanged = Signal(object)  # the Predictor in use, or None
    answered = Signal(object)  # LiveAnswer
    problem = Signal(str)  # one line (no model yet, a failed call)

    def __init__(self, state: AppState, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.state = state
        self.running = False
        self.grad_cam = False
        self._context: ModelContext | None = None
        self._cam: CamModel | None = None
        self._runner = LatestRunner(self)
        self._newest: LiveFrame | None = None
        self._classified = 0
        self._frames = 0
        self._times: deque[float] = deque(maxlen=10)
        self.answers: list[LiveAnswer] = []  # this run's answers (tests, the benchmark)
        model = state.model
        model.loaded.connect(self._on_model)
        model.cleared.connect(lambda: self._on_model(None))
        self._context = model.context

    @property
    def predictor(self) -> Predictor | None:
        return self._context.predictor if self._context is not None else None

    @property
    def cam_available(self) -> bool:
        return self._context is not None and self._context.default_cam is not None

    def _on_model(self, context: ModelContext | None) -> None:
        self._runner.discard()  # answers of the previous model are stale
        self._context, self._cam = context, None
        self.modelChanged.emit(self.predictor)

    def start(self) -> bool:
        if self.predictor is None:
            self.problem.emit(NO_MODEL)
            return False
        self.running = True
        self._classified = self._frames = 0
        self._times.clear()
        self.answers = []
        return True

    def stop(self) -> None:
        self.running = False
        self._runner.discard()

    def set_grad_cam(self, on: bool) -> None:
        self.grad_cam = on

    def on_frame(self, frame: LiveFrame) -> None:
        self._frames += 1
        self._newest = frame
        if self.running:
            self._runner.submit_latest(self._call_for_newest, self._on_answer, self._on_failed, supersede=False)

    def _call_for_newest(self) -> Callable[[], tuple[FrameAnswer, LiveFrame, int]] | None:
        """Built on the GUI thread when the call starts: the newest frame at that moment."""
        frame, context = self._newest, self._context
        if frame is None or context is None or not self.running:
            return None
        predictor = context.predictor
        cam = self._cam_model(context) if self.grad_cam else None
        behind = max(0, self._newest_serial() - frame.serial)
        from cnnstudio.core.capture.live import classify_frame

        return lambda: (classify_frame(predictor, frame.rgb, TOP_K, cam), frame, behind)

    def _newest_serial(self) -> int:
        return self._newest.serial if self._newest is not None else 0

    def _cam_model(self, context: ModelContext) -> CamModel | None:
        if context.default_cam is None:
            return None
        if self._cam is None or self._cam.predictor is not context.predictor:
            from cnnstudio.core.capture.live import CamModel

            self._cam = CamModel(context.predictor, context.default_cam)
        return self._cam

    def _on_answer(self, result: tuple[FrameAnswer, LiveFrame, int]) -> None:
        answer, frame, behind = result
        now = time.monotonic()
        self._classified += 1
        self._times.append(now)
        span = self._times[-1] - self._times[0]
        fps = (len(self._times) - 1) / span if span > 0 else 0.0
        live = LiveAnswer(answer, frame.time, (now - frame.arrived) * 1000, fps, behind,
                          max(0, self._newest_serial() - frame.serial), max(0, self._frames - self._classified))
        self.answers.append(live)
        self.answered.emit(live)

    def _on_failed(self, failure: Failure) -> None:
        self.problem.emit(failure.message)

    def shutdown(self) -> None:
        self._runner.close()
