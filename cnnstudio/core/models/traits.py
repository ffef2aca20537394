"""What a network is made of, read from its spec: what decides how it trains.

The training recipe follows the model as well as the data (cnnstudio.core.training.recipes): a network
with BatchNorm takes the large learning rates of SGD with one-cycle that fast-cnn was tuned with, where
one without normalisation (the tutorial's ConvNet) diverges at them; sigmoid units pass back at most a
quarter of the gradient each and need larger steps; a pretrained backbone wants its head trained
gently. Qt-free and torch-free: only the spec's layers are read (and infer_shapes for the size).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

NORMALISING = ("batchnorm", "basic_block", "backbone")  # a residual block and a backbone hold BatchNorm
SATURATING = ("sigmoid", "tanh")
WEIGHTED = ("conv", "linear")


@dataclass(frozen=True)
class ModelTraits:
    normalised: bool  # a BatchNorm layer anywhere (or a block / backbone that holds one)
    activations: tuple[str, ...]  # activation types in order of first use, e.g. ("relu",), ("sigmoid",)
    depth: int  # layers with weights on the path (a residual block counts as two)
    params: int | None  # trainable parameters, when the input shape is known and the spec fits it
    pretrained: bool  # a backbone that starts from ImageNet weights
    frozen: bool  # ... and that is not trained itself (features only)

    @property
    def saturating(self) -> str | None:
        """"sigmoid" or "tanh" when the network's units saturate (the first such), else None."""
        return next((a for a in self.activations if a in SATURATING), None)


def layers_of(spec: Any) -> list[dict[str, Any]]:
    """The spec's layers that are dicts with a type (a damaged spec gives what can be read)."""
    layers = spec.get("layers") if isinstance(spec, dict) else None
    return [layer for layer in layers or [] if isinstance(layer, dict) and isinstance(layer.get("type"), str)]


def model_traits(spec: Any, input_shape: tuple[int, ...] | None = None, num_classes: int | None = None) -> ModelTraits:
    """The traits of `spec` (a spec dict); with the data's input shape and classes also its size."""
    layers = layers_of(spec)
    types = [layer["type"] for layer in layers]
    activations: list[str] = []
    for t in types:
        if t in ("relu", "leaky_relu", "gelu", "sigmoid", "tanh") and t not in activations:
            activations.append(t)
    if "basic_block" in types and "relu" not in activations:
        activations.append("relu")  # a residual block ends with a ReLU
    backbones = [layer for layer in layers if layer["type"] == "backbone"]
    pretrained = any(layer.get("weights", "imagenet") == "imagenet" for layer in backbones)
    frozen = pretrained and all(layer.get("train", "features") == "features" for layer in backbones)
    depth = sum(2 if t == "basic_block" else 1 for t in types if t in WEIGHTED or t == "basic_block")
    params = None
    if input_shape is not None and num_classes:
        from cnnstudio.core.models.spec import infer_shapes

        report = infer_shapes(spec, tuple(input_shape), int(num_classes))
        params = report.total_params if report.ok else None
    return ModelTraits(normalised=any(t in NORMALISING for t in types), activations=tuple(activations),
                       depth=depth, params=params, pretrained=pretrained, frozen=frozen)


def traits_for(model: str | None, spec: Any = None, input_shape: tuple[int, ...] | None = None,
               num_classes: int | None = None) -> tuple[str, ModelTraits] | None:
    """(name, traits) of the model a run will train: `spec` when given (the layer editor's), else the preset
    or JSON file `model` names; None when there is no model yet or its spec cannot be read (the data's
    recipe then stands, and training reports the spec's problem in its own words)."""
    if spec is None and model:
        from cnnstudio.core.errors import CNNStudioError
        from cnnstudio.core.models.presets import resolve_spec

        try:
            spec = resolve_spec(model)
        except (CNNStudioError, OSError, ValueError):
            return None
    if not isinstance(spec, dict) or not layers_of(spec):
        return None
    name = str(spec.get("name") or model or "custom")
    return name, model_traits(spec, input_shape, num_classes)
