"""The training engine (Qt-free): config, trainer, events, device choice, batched augmentation."""

from cnnstudio.core.training.config import Augmentation, TrainConfig
from cnnstudio.core.training.control import RunControl
from cnnstudio.core.training.events import EpochEvent, FinishedEvent, LogEvent, RunResult, StartedEvent, StepEvent
from cnnstudio.core.training.recommend import default_config

__all__ = ["Augmentation", "TrainConfig", "default_config", "RunControl", "EpochEvent", "FinishedEvent",
           "LogEvent", "RunResult", "StartedEvent", "StepEvent"]
