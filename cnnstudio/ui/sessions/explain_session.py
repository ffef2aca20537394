"""Inspect's "Compare methods" tab: several attribution methods on one picture, their faithfulness, and the
sanity check, computed in the background with progress and Cancel.

One LatestRunner: a new comparison or sanity check replaces the one in flight (its result is dropped), a new
model discards everything asked of the old one. Each call works on its own copy of the model, so its many
forward passes and hooks never meet the inspections and filter mosaics running on the page's other streams.
The methods finished so far are sent as they finish (a fast Grad-CAM shows while occlusion still runs).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import numpy as np
from PySide6.QtCore import QObject, Signal

from cnnstudio.ui.tasks import Failure, LatestRunner
from cnnstudio.ui.values import Comparison, ExplainProgress, ExplainRequest, MethodShown, SanityShown

if TYPE_CHECKING:
    import torch

    from cnnstudio.core.inference import Predictor
    from cnnstudio.core.model_context import ModelContext


def _prepared(predictor: Predictor, request: ExplainRequest) -> tuple[torch.nn.Sequential, torch.Tensor,
                                                                       torch.Tensor]:
    """Background: (a copy of the model, the normalised picture, the normalised black picture)."""
    import torch

    from cnnstudio.core.inspection.methods import black_baseline, private_copy

    x = predictor.normalise(torch.from_numpy(np.ascontiguousarray(request.pixels))[None])[0]
    return private_copy(predictor.model), x, black_baseline(predictor)


def _reporter(report: Callable[[ExplainProgress], None], done: int, count: int,
              what: str) -> Callable[[float], None]:
    """progress(fraction of one method) -> report(ExplainProgress of the whole), at most once a percent."""
    last = [-1]

    def progress(fraction: float) -> None:
        percent = int(100 * (done + fraction) / count)
        if percent != last[0]:
            last[0] = percent
            report(ExplainProgress(percent / 100, what))
    return progress


def compare_methods(predictor: Predictor, classes: list[str], request: ExplainRequest,
                    report: Callable[[ExplainProgress], None], cancelled: Callable[[], bool]) -> Comparison:
    """Background: every method of the request on its picture, one after the other, each with its curves."""
    from cnnstudio.core.inspection.faithfulness import faithfulness
    from cnnstudio.core.inspection.methods import TITLES, explain

    model, x, base = _prepared(predictor, request)
    target, shown = request.target, []
    count = len(request.methods)
    for i, method in enumerate(request.methods):
        what = f"{TITLES[method]} ({i + 1} of {count})…"
        a = explain(model, x, method, target, request.cam_key if method in ("gradcam", "gradcam++", "scorecam",
                                                                              "layercam") else None,
                    base, _reporter(report, i, count, what), cancelled)
        target = a.class_index  # every method explains the class the first one did
        shown.append(MethodShown(a, faithfulness(model, x, a.heatmap, a.class_index, base)))
        partial = Comparison(request, a.class_index, classes[a.class_index], tuple(shown), done=False)
        report(ExplainProgress((i + 1) / count, what, partial))
    assert target is not None, "a request names at least one method"
    return Comparison(request, target, classes[target], tuple(shown), done=True)


def check_sanity(predictor: Predictor, classes: list[str], request: ExplainRequest,
                 report: Callable[[ExplainProgress], None], cancelled: Callable[[], bool]) -> SanityShown:
    """Background: the cascading-randomisation check of every method of the request."""
    import torch

    from cnnstudio.core.inspection.methods import TITLES
    from cnnstudio.core.inspection.sanity import sanity_check

    model, x, base = _prepared(predictor, request)
    with torch.no_grad():
        predicted = int(model.eval()(x[None]).argmax())
    cls = request.target if request.target is not None else predicted
    count = len(request.methods)
    results = tuple(sanity_check(model, x, method, cls, baseline=base, cancelled=cancelled,
                                 progress=_reporter(report, i, count, f"Randomising the weights for "
                                                                      f"{TITLES[method]} ({i + 1} of {count})…"))
                    for i, method in enumerate(request.methods))
    return SanityShown(request, classes[cls], results)


class ExplainSession(QObject):
    progressed = Signal(object)  # ExplainProgress
    compared = Signal(object)  # Comparison: partial while methods are still running, then done
    sanityReady = Signal(object)  # SanityShown
    failed = Signal(str)
    cancelled = Signal()
    busyChanged = Signal(bool)

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.context: ModelContext | None = None
        self._runner = LatestRunner(self)
        self._runner.busyChanged.connect(self.busyChanged)

    @property
    def busy(self) -> bool:
        return self._runner.busy

    def set_context(self, context: ModelContext | None) -> None:
        """A new model (or none): whatever was asked of the previous one is dropped."""
        self._runner.discard()
        self.context = context

    def _on_progress(self, progress: ExplainProgress) -> None:
        self.progressed.emit(progress)
        if progress.partial is not None:
            self.compared.emit(progress.partial)

    def _submit(self, work: Callable[..., object], done: Callable[[object], None]) -> bool:
        self._runner.submit(work, done, lambda failure: self.failed.emit(_message(failure)),
                            on_progress=self._on_progress, on_cancelled=self.cancelled.emit)
        return True

    def compare(self, request: ExplainRequest) -> bool:
        """Run the request's methods on its picture (compared follows); False without a model or methods."""
        ctx = self.context
        if ctx is None or not request.methods:
            return False
        predictor, classes = ctx.predictor, ctx.classes
        return self._submit(lambda report, cancelled: compare_methods(predictor, classes, request, report,
                                                                      cancelled), self.compared.emit)

    def sanity(self, request: ExplainRequest) -> bool:
        """The sanity check of the request's methods (sanityReady follows); False without a model or methods."""
        ctx = self.context
        if ctx is None or not request.methods:
            return False
        predictor, classes = ctx.predictor, ctx.classes
        return self._submit(lambda report, cancelled: check_sanity(predictor, classes, request, report, cancelled),
                            self.sanityReady.emit)

    def cancel(self) -> bool:
        """Stop the computation in flight (cancelled follows when it has stopped)."""
        return self._runner.cancel()

    def shutdown(self) -> None:
        self._runner.close()


def _message(failure: Failure) -> str:
    return failure.message
