"""One camera or video frame classified: the centred square, the one preparation path, the model.

The Camera page's live prediction, `cnnstudio predict --video` and benchmarks/camera_live.py all call
classify_frame(), so a frame gets the same answer wherever it is classified. Grad-CAM, when asked for,
runs on a copy of the model (CamModel) so the hooks it attaches never touch the model the other pages
predict with on the other background thread.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from cnnstudio.core.capture.frames import camera_square
from cnnstudio.core.inference import Prediction, Predictor

if TYPE_CHECKING:
    from torch import nn


@dataclass(frozen=True)
class FrameAnswer:
    """What the model says about one frame, and what it looked at."""

    prediction: Prediction  # its pixels are the prepared input, exactly what the model saw
    overlay: np.ndarray | None  # uint8 (H, W, 3): Grad-CAM over the prepared input (None: not asked / unavailable)
    ms: float  # framing, preparing, predicting (and Grad-CAM) together


class CamModel:
    """A private copy of a predictor's model for Grad-CAM, at the layer Inspect would use."""

    def __init__(self, predictor: Predictor, layer: str | None):
        from cnnstudio.core.inspection.methods import private_copy

        self.predictor = predictor
        # Without hooks: a copy made while an inspection on another thread captures would carry its hooks.
        self.model: nn.Sequential = private_copy(predictor.model).eval()
        self.layer = layer


def classify_frame(predictor: Predictor, rgb: np.ndarray, top: int = 5, cam: CamModel | None = None) -> FrameAnswer:
    """Classify the centred square of an RGB (H, W, 3) uint8 frame; with `cam`, Grad-CAM of the top class."""
    start = time.perf_counter()
    prediction = predictor.predict(camera_square(rgb), "camera", top)
    overlay = None
    if cam is not None and prediction.pixels is not None:
        import torch

        from cnnstudio.core.inspection.attribution import grad_cam
        from cnnstudio.core.inspection.display import overlay as blend

        x = predictor.normalise(torch.from_numpy(np.ascontiguousarray(prediction.pixels))[None])
        result = grad_cam(cam.model, x, layer_ref=cam.layer)
        overlay = blend(prediction.pixels, result.cam, alpha=0.45)
    return FrameAnswer(prediction, overlay, (time.perf_counter() - start) * 1000)
