"""What an exported model says about itself: the same keys in ONNX metadata_props and TorchScript extra_files.

Everything a program needs to use the model without CNN Studio: the class names, how to normalise
pixels (mean and std per channel, for pixels scaled to 0..1), the input shape, and how user images are
framed (the FramingProfile, which the bundle's preparation code reads back). Every value is a string
(JSON for the structured ones), because both containers store strings.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from cnnstudio import __version__
from cnnstudio.core.checkpoint import CheckpointSummary
from cnnstudio.core.errors import CNNStudioError
from cnnstudio.core.framing import FramingProfile

# The keys, in the order a reader would want them. A test checks that both formats carry them all.
KEYS = ("classes", "mean", "std", "input_shape", "framing", "model", "dataset", "cnnstudio_version")


@dataclass(frozen=True)
class ModelMetadata:
    classes: list[str]
    mean: list[float]
    std: list[float]
    input_shape: list[int]  # [C, H, W]
    framing: FramingProfile
    model: str  # the preset's or spec's name
    dataset: str  # what it was trained on, readable
    cnnstudio_version: str = __version__

    @classmethod
    def of_checkpoint(cls, checkpoint: dict[str, Any]) -> ModelMetadata:
        summary = CheckpointSummary.of(checkpoint)
        return cls(classes=list(summary.classes), mean=list(summary.mean), std=list(summary.std),
                   input_shape=list(summary.input_shape), framing=summary.framing,
                   model=summary.model_name, dataset=summary.dataset_title)

    def to_strings(self) -> dict[str, str]:
        """key -> string, as stored in the exported file."""
        return {"classes": json.dumps(self.classes), "mean": json.dumps(self.mean), "std": json.dumps(self.std),
                "input_shape": json.dumps(self.input_shape), "framing": json.dumps(self.framing.to_dict()),
                "model": self.model, "dataset": self.dataset, "cnnstudio_version": self.cnnstudio_version}

    @classmethod
    def from_strings(cls, values: dict[str, str]) -> ModelMetadata:
        """Read back what to_strings wrote (from an exported file); a clear error when keys are missing."""
        missing = [k for k in KEYS if k not in values]
        if missing:
            raise CNNStudioError(f"the exported model lacks CNN Studio's metadata ({', '.join(missing)}); "
                                 "export it again with `cnnstudio export`")
        try:
            return cls(classes=list(json.loads(values["classes"])), mean=list(json.loads(values["mean"])),
                       std=list(json.loads(values["std"])), input_shape=list(json.loads(values["input_shape"])),
                       framing=FramingProfile.from_dict(json.loads(values["framing"])), model=values["model"],
                       dataset=values["dataset"], cnnstudio_version=values["cnnstudio_version"])
        except (ValueError, TypeError) as exc:
            raise CNNStudioError(f"the exported model's metadata is damaged: {exc}") from None
