"""The layer types a model spec may use, described as data.

The layer editor builds its forms from LAYER_TYPES (one row per parameter: kind, default, bounds,
title), the shape inference in spec.py and the builder in builder.py read the same table, so a
parameter's meaning and limits are written down exactly once. Torch-free on purpose: the editor
imports this before torch has loaded.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Literal

from cnnstudio.core.bounded import short_repr
from cnnstudio.core.errors import SpecError

ParamKind = Literal["int", "float", "bool", "choice"]
InputRank = Literal["image", "vector", "any"]

# The special value a Linear layer's "out" may take: the dataset's number of classes, filled in when
# the model is built, so one spec serves MNIST (10) and EMNIST letters (26) alike.
CLASSES = "classes"


@dataclass(frozen=True)
class ParamSpec:
    """One parameter of a layer type.

    `default` is used when the parameter is missing from a layer. For a `required` parameter it is
    never applied; it is only the value the editor starts a new layer with. `optional` parameters
    may be None (absent), which means something the `help` text explains (e.g. stride = kernel).
    """

    name: str
    kind: ParamKind
    title: str
    default: Any = None
    required: bool = False
    optional: bool = False
    min: float | None = None  # inclusive
    max: float | None = None
    max_inclusive: bool = True
    choices: tuple[str, ...] = ()  # for kind "choice"
    special: tuple[str, ...] = ()  # strings accepted in place of a number, e.g. ("classes",)
    help: str = ""


@dataclass(frozen=True)
class LayerType:
    """A layer type: its key in a spec ("conv"), a human title, what input it needs, its parameters."""

    name: str
    title: str
    description: str
    input_rank: InputRank  # "image": (C, H, W); "vector": (F,); "any": either
    params: tuple[ParamSpec, ...] = field(default_factory=tuple)

    def param(self, name: str) -> ParamSpec:
        for p in self.params:
            if p.name == name:
                return p
        raise KeyError(name)


def _size(name: str, title: str, default: int, *, required: bool = False, help: str = "") -> ParamSpec:
    return ParamSpec(name, "int", title, default, required=required, min=1, help=help)


def _padding(default: int = 0) -> ParamSpec:
    return ParamSpec("padding", "int", "Padding", default, min=0,
                     help="Zeros added on every side of the input before the window slides.")


_POOL_PARAMS = (
    _size("kernel", "Window size", 2, help="Side of the square window."),
    ParamSpec("stride", "int", "Stride", None, optional=True, min=1,
              help="Step between windows; empty means equal to the window size."),
    ParamSpec("padding", "int", "Padding", 0, min=0,
              help="At most half the window size (PyTorch refuses more)."),
)

LAYER_TYPES: dict[str, LayerType] = {
    t.name: t
    for t in (
        LayerType("conv", "Convolution", "2D convolution with square kernels; input channels are inferred.",
                  "image", (
                      _size("out", "Output channels", 32, required=True),
                      _size("kernel", "Kernel size", 3, required=True),
                      _size("stride", "Stride", 1),
                      _padding(),
                      ParamSpec("bias", "bool", "Bias", True,
                                help="Turn off when a BatchNorm follows: its shift makes the bias redundant."),
                  )),
        LayerType("maxpool", "Max pooling", "Keeps the largest value in each window.", "image", _POOL_PARAMS),
        LayerType("avgpool", "Average pooling", "Averages each window.", "image", _POOL_PARAMS),
        LayerType("global_avgpool", "Global average pooling",
                  "Averages each channel over the whole image: (C, H, W) -> (C,). Works for any input size.",
                  "image"),
        LayerType("batchnorm", "Batch normalisation",
                  "Normalises each channel (on images) or feature (on vectors) over the batch.", "any"),
        LayerType("relu", "ReLU", "max(0, x).", "any"),
        LayerType("leaky_relu", "Leaky ReLU", "x for x > 0, slope * x otherwise.", "any", (
            ParamSpec("slope", "float", "Negative slope", 0.01, min=0.0),
        )),
        LayerType("sigmoid", "Sigmoid", "1 / (1 + exp(-x)).", "any"),
        LayerType("tanh", "Tanh", "Hyperbolic tangent.", "any"),
        LayerType("gelu", "GELU", "Gaussian error linear unit.", "any", (
            ParamSpec("approximate", "choice", "Approximation", "none", choices=("none", "tanh")),
        )),
        LayerType("dropout", "Dropout", "Zeroes each value with probability p while training.", "any", (
            ParamSpec("p", "float", "Drop probability", 0.5, min=0.0, max=1.0, max_inclusive=False),
        )),
        LayerType("flatten", "Flatten", "(C, H, W) -> (C*H*W,), so Linear layers can follow.", "any"),
        LayerType("linear", "Linear", "Fully connected layer; input features are inferred.", "vector", (
            ParamSpec("out", "int", "Output features", CLASSES, required=True, min=1, special=(CLASSES,),
                      help='A number, or "classes" for the dataset\'s number of classes.'),
            ParamSpec("in", "int", "Input features", None, optional=True, min=1,
                      help="Optional check: when given it must match the incoming features."),
            ParamSpec("bias", "bool", "Bias", True),
        )),
        LayerType("backbone", "Pretrained backbone",
                  "A network pretrained on ImageNet (torchvision's weights) without its classifier: image -> "
                  "its pooled features. Grey images are repeated to RGB and resized to its resolution inside.",
                  "image", (
                      ParamSpec("arch", "choice", "Network", "resnet18", required=True,
                                choices=("resnet18", "mobilenet_v3_small", "mobilenet_v3_large", "efficientnet_b0")),
                      ParamSpec("weights", "choice", "Weights", "imagenet", choices=("imagenet", "none"),
                                help="imagenet: start from torchvision's ImageNet weights; none: random."),
                      ParamSpec("train", "choice", "What learns", "features", choices=("features", "last", "all"),
                                help="features: only the head (the backbone is frozen); last: the head and the "
                                     "backbone's last stage; all: everything, the backbone at a tenth of the rate."),
                      ParamSpec("resolution", "int", "Resolution", 224, min=32, max=512,
                                help="Side of the image the network sees; 224 as in ImageNet, smaller is faster."),
                  )),
        LayerType("basic_block", "Residual block",
                  "ResNet BasicBlock: conv3x3-BN-ReLU-conv3x3-BN plus a shortcut, then ReLU. "
                  "The shortcut is a 1x1 conv + BN when the stride or channel count changes.",
                  "image", (
                      _size("out", "Output channels", 64, required=True),
                      _size("stride", "Stride", 1),
                  )),
    )
}


def _type_name(value: Any) -> str:
    return {bool: "true/false", int: "a whole number", float: "a number", str: "text",
            list: "a list", dict: "an object", type(None): "null"}.get(type(value), type(value).__name__)


def _check_param(p: ParamSpec, value: Any) -> str | None:
    """Why `value` is not acceptable for `p`, or None when it is."""
    if value is None:
        return None if p.optional else "must be given"
    if isinstance(value, str) and value in p.special:
        return None
    if p.kind == "bool":
        return None if isinstance(value, bool) else f"must be true or false, got {_type_name(value)}"
    if p.kind == "choice":
        if value in p.choices:
            return None
        return f"must be one of {', '.join(repr(c) for c in p.choices)}, got {short_repr(value)}"
    # bool is an int subclass in Python; "kernel": true is a mistake, not 1.
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        extra = f' or "{p.special[0]}"' if p.special else ""
        return f"must be {'a whole number' if p.kind == 'int' else 'a number'}{extra}, got {short_repr(value)}"
    if p.kind == "int" and not isinstance(value, int):
        return f"must be a whole number, got {short_repr(value)}"
    if p.kind == "float" and not math.isfinite(value):
        return f"must be a finite number, got {short_repr(value)}"
    if p.min is not None and value < p.min:
        if p.kind == "int" and p.min == 1:
            return f"must be a positive whole number, got {short_repr(value)}"
        return f"must be at least {p.min:g}, got {short_repr(value)}"
    if p.max is not None and (value > p.max or (value == p.max and not p.max_inclusive)):
        if p.min is not None and not p.max_inclusive:
            return f"must be in [{p.min:g}, {p.max:g}), got {short_repr(value)}"
        return f"must be at most {p.max:g}, got {short_repr(value)}"
    return None


def normalize_layer(index: int, layer: Any) -> dict[str, Any]:
    """The layer with every parameter checked and defaults filled in; SpecError naming the layer.

    Only shape-independent checks happen here (types, bounds, unknown keys); whether the layer fits
    the shape it receives is spec.py's job.
    """
    if not isinstance(layer, dict):
        raise SpecError(f'Layer {index + 1}: must be an object like {{"type": "relu"}}, got {_type_name(layer)}',
                        index)
    kind = layer.get("type")
    if not isinstance(kind, str):
        raise SpecError(f'Layer {index + 1}: needs a "type" (one of: {", ".join(LAYER_TYPES)})', index)
    ltype = LAYER_TYPES.get(kind)
    if ltype is None:
        raise SpecError(f"Layer {index + 1}: unknown layer type {short_repr(kind)} "
                        f"(known: {', '.join(LAYER_TYPES)})", index)
    known = {p.name for p in ltype.params}
    # A typo such as "kernal" would otherwise silently fall back to the default kernel.
    unknown = [k for k in layer if k != "type" and k not in known]
    if unknown:
        allowed = ", ".join(sorted(known)) if known else "none"
        raise SpecError(f"Layer {index + 1} ({ltype.title}): unknown parameter {short_repr(unknown[0])} "
                        f"(parameters of {kind!r}: {allowed})", index)
    out: dict[str, Any] = {"type": kind}
    for p in ltype.params:
        if p.name in layer:
            value = layer[p.name]
        elif p.required:
            raise SpecError(f"Layer {index + 1} ({ltype.title}): missing parameter {p.name!r} ({p.title})", index)
        else:
            value = p.default
        problem = _check_param(p, value)
        if problem:
            raise SpecError(f"Layer {index + 1} ({ltype.title}): parameter {p.name!r} {problem}", index)
        out[p.name] = value
    return out


def new_layer(type_name: str) -> dict[str, Any]:
    """A fresh layer of this type with the editor's starting values (what "Add layer" inserts)."""
    ltype = LAYER_TYPES[type_name]
    layer: dict[str, Any] = {"type": type_name}
    for p in ltype.params:
        if p.default is not None:
            layer[p.name] = p.default
    return layer


def _pool_label(title: str, params: dict[str, Any]) -> str:
    k, s, pad = params["kernel"], params["stride"], params["padding"]
    text = f"{title} {k}x{k}"
    if s is not None and s != k:
        text += f", stride {s}"
    if pad:
        text += f", pad {pad}"
    return text


def layer_label(params: dict[str, Any], num_classes: int | None = None, in_rank: int | None = None) -> str:
    """A short human label for a normalised layer: "Conv 5x5, 32, pad 2", "MaxPool 2x2", "Linear 625"."""
    kind = params["type"]
    if kind == "conv":
        text = f"Conv {params['kernel']}x{params['kernel']}, {params['out']}"
        if params["stride"] != 1:
            text += f", stride {params['stride']}"
        if params["padding"]:
            text += f", pad {params['padding']}"
        if not params["bias"]:
            text += ", no bias"
        return text
    if kind == "maxpool":
        return _pool_label("MaxPool", params)
    if kind == "avgpool":
        return _pool_label("AvgPool", params)
    if kind == "global_avgpool":
        return "Global AvgPool"
    if kind == "batchnorm":
        return {3: "BatchNorm2d", 1: "BatchNorm1d"}.get(in_rank or 0, "BatchNorm")
    if kind == "leaky_relu":
        return f"LeakyReLU {params['slope']:g}"
    if kind == "gelu":
        return "GELU" if params["approximate"] == "none" else "GELU (tanh)"
    if kind == "dropout":
        return f"Dropout {params['p']:g}"
    if kind == "linear":
        out = params["out"]
        if out == CLASSES:
            return f"Linear {num_classes} (classes)" if num_classes else "Linear (classes)"
        return f"Linear {out}"
    if kind == "backbone":
        from cnnstudio.core.models.backbones import BACKBONES

        mode = {"features": "frozen", "last": "last stage learns", "all": "all learn"}[params["train"]]
        pre = "ImageNet" if params["weights"] == "imagenet" else "random"
        return f"{BACKBONES[params['arch']].title} ({pre}, {mode}, {params['resolution']} px)"
    if kind == "basic_block":
        text = f"BasicBlock {params['out']}"
        return text + (f", stride {params['stride']}" if params["stride"] != 1 else "")
    return {"relu": "ReLU", "sigmoid": "Sigmoid", "tanh": "Tanh", "flatten": "Flatten"}[kind]
