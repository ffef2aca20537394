"""The Sweep dialog's session: what the user typed checked as a sweep (core/sweep/choice.py, the same checks
as `cnnstudio sweep`), and the whole sweep's duration estimated in the background
(core/sweep/estimate.py) each time it changes.

What crosses to the view: `checked` (a SweepSpec, or the one line that says why the settings cannot be
swept), `estimated` (a SweepEstimate) and `estimateFailed` (one line).
"""

from __future__ import annotations

from dataclasses import asdict

from PySide6.QtCore import QObject, Signal

from cnnstudio.core.datasets.base import Dataset
from cnnstudio.core.sweep.choice import SweepCheck, SweepChoice, check_choice
from cnnstudio.core.sweep.estimate import SweepEstimate, estimate_sweep
from cnnstudio.core.sweep.study import SweepSpec
from cnnstudio.core.training.config import TrainConfig
from cnnstudio.ui.tasks import Failure, LatestRunner


class SweepSession(QObject):
    checked = Signal(object)  # SweepCheck
    estimated = Signal(object)  # SweepEstimate
    estimateFailed = Signal(str)

    def __init__(self, dataset_name: str, model: str | None, fixed: dict[str, object] | None = None,
                 device: str = "auto", parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.dataset_name, self.model, self.device = dataset_name, model, device
        self.fixed = dict(fixed or {})
        self.spec: SweepSpec | None = None
        self.config: TrainConfig | None = None  # the Train page's settings the sweep starts from (for_config)
        self.estimate: SweepEstimate | None = None
        self._runner = LatestRunner(self)

    @classmethod
    def for_config(cls, cfg: TrainConfig, parent: QObject | None = None) -> SweepSession:
        """A sweep over the Train page's settings: every setting not varied is the form's (its network too,
        a spec from the layer editor included); the device is the worker's own."""
        fixed = {k: v for k, v in asdict(cfg).items() if k not in ("dataset", "model", "device")}
        session = cls(cfg.dataset, cfg.model, fixed, device=cfg.device, parent=parent)
        session.config = cfg
        return session

    def check(self, choice: SweepChoice) -> SweepCheck:
        """The choice as a sweep, or why not; `checked` says it too. When the model is varied, the form's
        network is not fixed."""
        varies_model = any(p.split("=", 1)[0].strip() == "model" for p in choice.params)
        fixed = {k: v for k, v in self.fixed.items() if not (varies_model and k == "spec")}
        result = check_choice(self.dataset_name, None if varies_model else self.model, choice, fixed)
        self.spec = result.spec
        self.checked.emit(result)
        return result

    def estimate_for(self, spec: SweepSpec, data: Dataset) -> None:
        """Estimate the sweep in the background; a newer request replaces an older one."""
        self.estimate = None

        def work() -> SweepEstimate:
            return estimate_sweep(spec, data, self.device)

        self._runner.submit(work, self._on_estimated, self._on_failed)

    def _on_estimated(self, estimate: SweepEstimate) -> None:
        self.estimate = estimate
        self.estimated.emit(estimate)

    def _on_failed(self, failure: Failure) -> None:
        self.estimateFailed.emit(failure.message)

