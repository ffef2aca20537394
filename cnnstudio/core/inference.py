"""The one path from a user's image to class probabilities.

Every caller (`cnnstudio predict`, the drawing canvas, an image dropped on the Inspect view) goes
through prepare_image() (cnnstudio.core.preparation: torch-free, shipped in exported bundles), which
frames the picture the way the model's training data was framed, and Predictor, which normalises
exactly as the trainer did.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
from PIL import Image

from cnnstudio.core.errors import CNNStudioError
# The preparation itself lives in a torch-free module (shipped in exported bundles); re-exported here
# for the callers that import it from the inference module.
from cnnstudio.core.preparation import (CONTENT_THRESHOLD, MAX_IMAGE_PIXELS, PreparedImage, open_image,
                                        prepare_image, to_float_gray)

if TYPE_CHECKING:
    import torch

__all__ = ["CONTENT_THRESHOLD", "MAX_IMAGE_PIXELS", "Prediction", "PreparedImage", "Predictor", "open_image",
           "prepare_image", "to_float_gray"]


class Predictor:
    """A trained model ready for single images: loaded once, evaluated on the CPU by default."""

    def __init__(self, checkpoint: dict[str, Any] | str | os.PathLike[str], device: str = "cpu"):
        import torch

        from cnnstudio.core.checkpoint import (CheckpointSummary, load_checkpoint, model_from_checkpoint,
                                               validate_checkpoint)
        from cnnstudio.core.training.augment import BatchPreprocessor

        if isinstance(checkpoint, dict):
            validate_checkpoint(checkpoint)
            data = checkpoint
        else:
            data = load_checkpoint(checkpoint)
        self.checkpoint = data
        self.summary = summary = CheckpointSummary.of(data)
        self.classes: list[str] = list(summary.classes)
        self.input_shape: tuple[int, int, int] = summary.input_shape
        self.framing = summary.framing
        self.device = torch.device(device)
        self.model = model_from_checkpoint(data).to(self.device)
        # The trainer's own normalisation, so a prediction sees exactly what training saw.
        self._pre = BatchPreprocessor(list(summary.mean), list(summary.std), self.device, channels_last=False)

    def normalise(self, pixels_u8: torch.Tensor) -> torch.Tensor:
        """uint8 (N, C, H, W) tensor -> the model's float input, as the trainer normalises."""
        return self._pre.normalise(pixels_u8.to(self.device))

    def prepare(self, img: Image.Image | np.ndarray) -> PreparedImage:
        return prepare_image(img, self.framing)

    def probabilities(self, pixels: np.ndarray) -> np.ndarray:
        """Class probabilities for prepared uint8 pixels (C, H, W) or a batch (N, C, H, W)."""
        import torch

        # Writable and contiguous (a copy only when needed): torch warns about read-only numpy memory.
        batch = torch.from_numpy(np.require(pixels, requirements=["C", "W"]))
        if batch.ndim == 3:
            batch = batch[None]
        with torch.inference_mode():
            logits = self.model(self.normalise(batch))
            probs = torch.softmax(logits.float(), dim=1).cpu().numpy()
        if not np.isfinite(probs).all():
            raise CNNStudioError("the model's output is not a number for this image (its weights overflow): "
                                 "the model is unusable; train it again with a lower learning rate")
        return probs[0] if pixels.ndim == 3 else probs

    def predict_image(self, img: Image.Image | np.ndarray) -> tuple[PreparedImage, np.ndarray]:
        prepared = self.prepare(img)
        return prepared, self.probabilities(prepared.pixels)

    def top_k(self, probs: np.ndarray, k: int = 3) -> list[dict[str, Any]]:
        order = np.argsort(-probs)[:max(1, k)]
        return [{"index": int(i), "label": self.classes[i], "probability": float(probs[i])} for i in order]

    def predict(self, img: Image.Image | np.ndarray, source: str = "image", top: int = 5) -> Prediction:
        """One picture to a Prediction: what the Draw view shows, timed."""
        import time

        start = time.perf_counter()
        prepared, probs = self.predict_image(img)
        ms = (time.perf_counter() - start) * 1000
        if prepared.empty:
            return Prediction.nothing(source, inverted=prepared.inverted, ms=ms)
        rows = [(row["label"], row["probability"]) for row in self.top_k(probs, top)]
        return Prediction(top=rows, empty=False, probabilities=probs, pixels=prepared.pixels,
                          inverted=prepared.inverted, source=source, ms=ms)


@dataclass(frozen=True)
class Prediction:
    """What a model says about one picture: its most likely classes and what it saw.

    empty: the picture held nothing to classify (a blank drawing), so there are no classes, no
    probabilities and no prepared pixels.
    """

    top: list[tuple[str, float]]  # (class, probability), most likely first
    empty: bool
    probabilities: np.ndarray | None  # one per class, in the model's class order
    pixels: np.ndarray | None  # uint8 (C, H, W): exactly what the model saw
    inverted: bool  # the picture's polarity was inverted to match the training data
    source: str  # "drawing" or "image"
    ms: float  # how long preparing and predicting took

    @classmethod
    def nothing(cls, source: str = "drawing", *, inverted: bool = False, ms: float = 0.0) -> Prediction:
        """No guess: nothing drawn, or a picture with nothing in it."""
        return cls(top=[], empty=True, probabilities=None, pixels=None, inverted=inverted, source=source, ms=ms)
