"""Model specs: plain JSON dicts, their shape inference, validation and files.

A model is {"name": str, "description": str, "layers": [{"type": "conv", "out": 32, ...}, ...]}.
Layer 0 is the first layer; indices here, in error messages and in the built nn.Sequential's child
names are the same numbers, so the shape table, an error and a hooked activation all point at the
same row.

Everything in this module is pure Python and must stay torch-free: the layer editor re-runs
infer_shapes on every keystroke, before torch has even loaded (tests/test_models.py checks this in a
subprocess). Parameter counts are computed by formula and must equal the built module's numel sum
(also tested), so the editor can show them without building anything.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cnnstudio.core.bounded import loads_json, short_repr
from cnnstudio.core.errors import SpecError
from cnnstudio.core.models.layer_types import (
    CLASSES,
    LAYER_TYPES,
    LayerType,
    ParamSpec,
    layer_label,
    new_layer,
    normalize_layer,
)

__all__ = [
    "CLASSES", "LAYER_TYPES", "LayerType", "ParamSpec", "LayerInfo", "ShapeReport", "new_layer",
    "normalize_layer", "layer_label", "format_shape", "check_structure", "infer_shapes",
    "validate_spec", "load_spec", "save_spec", "ModelSpec", "LayerDict",
]

Shape = tuple[int, ...]
# A model spec as the JSON file holds it: {"name": str, "description": str, "layers": [layer, ...]}, and one
# layer: {"type": "conv", "out": 32, ...} (layer_types.py lists each type's fields). Plain dicts, checked
# by check_structure / infer_shapes, so that a spec read from a user's file is validated, never trusted.
ModelSpec = dict[str, Any]
LayerDict = dict[str, Any]
# What one layer's shape inference finds: its output shape, its parameters, and how the size was worked
# out (None where the size does not change).
Inferred = tuple[Shape, int, str | None]


def format_shape(shape: Shape) -> str:
    """(32, 14, 14) -> "32x14x14"; (625,) -> "625"."""
    return "x".join(str(d) for d in shape)


@dataclass
class LayerInfo:
    """One row of the shape table."""

    index: int
    type: str
    label: str  # "Conv 5x5, 32, pad 2"
    in_shape: Shape
    out_shape: Shape
    params: int  # trainable parameters; equals the built module's numel sum
    arithmetic: str | None = None  # "(28 - 5 + 2*2)/1 + 1 = 28" for conv / pool layers
    config: dict[str, Any] = field(default_factory=dict, repr=False)  # the layer, defaults filled in


@dataclass
class ShapeReport:
    """The result of shape inference. `layers` holds the layers inferred before any error.

    On an error inside layer i, `layers` stops before i and error_index == i. When every layer
    fits but the output is not (num_classes,), all layers are present and error_index is the last.
    error_index is None for problems not tied to a layer (no layers, bad input shape).
    """

    input_shape: Shape
    num_classes: int
    layers: list[LayerInfo] = field(default_factory=list)
    error: str | None = None
    error_index: int | None = None

    @property
    def ok(self) -> bool:
        return self.error is None

    @property
    def total_params(self) -> int:
        return sum(info.params for info in self.layers)

    @property
    def output_shape(self) -> Shape:
        return self.layers[-1].out_shape if self.layers else self.input_shape

    def to_text(self) -> str:
        """A plain-text table for the CLI and logs."""
        rows = [("#", "Layer", "Output", "Params")]
        rows.append(("", "Input", format_shape(self.input_shape), ""))
        for info in self.layers:
            rows.append((str(info.index), info.label, format_shape(info.out_shape), f"{info.params:,}"))
        widths = [max(len(r[c]) for r in rows) for c in range(4)]
        lines = [f"{r[0]:>{widths[0]}}  {r[1]:<{widths[1]}}  {r[2]:>{widths[2]}}  {r[3]:>{widths[3]}}"
                 for r in rows]
        lines.append(f"Total parameters: {self.total_params:,}")
        if self.error:
            lines.append(f"Error: {self.error}")
        return "\n".join(lines)


class _LayerProblem(Exception):
    """Raised inside one layer's inference; the caller prefixes "Layer i (label): "."""


# --------------------------------------------------------------------------------------------------
# Structure


def check_structure(spec: Any) -> list[dict[str, Any]]:
    """Check the dict's shape and every layer's parameters (nothing that depends on the input shape).

    Returns the layers with defaults filled in; raises SpecError naming the first problem.
    """
    _check_top(spec)
    return [normalize_layer(i, layer) for i, layer in enumerate(spec["layers"])]


def _check_top(spec: Any) -> None:
    if not isinstance(spec, dict):
        raise SpecError(f'A model spec must be an object with a "layers" list, got {type(spec).__name__}')
    if "layers" not in spec:
        raise SpecError('The model spec has no "layers" list')
    if not isinstance(spec["layers"], list):
        raise SpecError(f'The model spec\'s "layers" must be a list, got {type(spec["layers"]).__name__}')
    for key in ("name", "description"):
        if key in spec and not isinstance(spec[key], str):
            raise SpecError(f'The model spec\'s "{key}" must be text, got {type(spec[key]).__name__}')
    if not spec["layers"]:
        raise SpecError("The model has no layers")


def _check_input(input_shape: Any, num_classes: Any) -> Shape:
    try:
        shape = tuple(input_shape)
    except TypeError:
        shape = ()
    if len(shape) not in (1, 3) or not all(isinstance(d, int) and not isinstance(d, bool) and d >= 1
                                           for d in shape):
        raise SpecError(f"Input shape must be (channels, height, width) or (features,) of positive "
                        f"whole numbers, got {short_repr(input_shape)}")
    if not isinstance(num_classes, int) or isinstance(num_classes, bool) or num_classes < 1:
        raise SpecError(f"The number of classes must be a positive whole number, got {short_repr(num_classes)}")
    return shape


# --------------------------------------------------------------------------------------------------
# Shape inference, one function per layer type: (config, in_shape, num_classes) -> (out, params, arith)


def _need_image(shape: Shape) -> tuple[int, int, int]:
    if len(shape) != 3:
        raise _LayerProblem(f"expects an image (channels x height x width) but receives a flat vector of "
                            f"{shape[0]} features; convolution and pooling layers must come before Flatten")
    c, h, w = shape
    return c, h, w


def _need_vector(shape: Shape) -> int:
    if len(shape) != 1:
        raise _LayerProblem(f"expects a flat vector but receives a {format_shape(shape)} feature map; "
                            f"add a Flatten before it")
    return shape[0]


def _dim(size: int, kernel: int, pad: int, stride: int) -> tuple[int, str]:
    """Output size along one axis, and the arithmetic that gives it (floor when not integral)."""
    num = size - kernel + 2 * pad
    out = num // stride + 1
    if num % stride == 0:
        return out, f"({size} - {kernel} + 2*{pad})/{stride} + 1 = {out}"
    return out, f"floor(({size} - {kernel} + 2*{pad})/{stride}) + 1 = {out}"


def _window(h: int, w: int, kernel: int, stride: int, pad: int, what: str) -> tuple[int, int, str]:
    """Slide a kernel x kernel window; raise when it no longer fits the (padded) input."""
    ho, text_h = _dim(h, kernel, pad, stride)
    wo, text_w = _dim(w, kernel, pad, stride)
    if h + 2 * pad < kernel or w + 2 * pad < kernel:
        padded = f"padded input {h + 2 * pad}x{w + 2 * pad}" if pad else f"input {h}x{w}"
        raise _LayerProblem(f"spatial size {h}x{w} falls below 1 (output {max(ho, 0)}x{max(wo, 0)}): the "
                            f"{kernel}x{kernel} {what} is larger than the {padded}; remove a pooling "
                            f"layer, add padding or use a smaller {what}")
    arithmetic = text_h if text_h == text_w else f"H: {text_h}; W: {text_w}"
    return ho, wo, arithmetic


def _infer_conv(c: dict[str, Any], shape: Shape, _n: int) -> Inferred:
    ch, h, w = _need_image(shape)
    ho, wo, arith = _window(h, w, c["kernel"], c["stride"], c["padding"], "kernel")
    params = c["out"] * ch * c["kernel"] ** 2 + (c["out"] if c["bias"] else 0)
    return (c["out"], ho, wo), params, arith


def _infer_pool(c: dict[str, Any], shape: Shape, _n: int) -> Inferred:
    ch, h, w = _need_image(shape)
    k, pad = c["kernel"], c["padding"]
    stride = c["stride"] if c["stride"] is not None else k
    if pad > k // 2:
        raise _LayerProblem(f"padding {pad} is more than half the {k}x{k} window (at most {k // 2}); "
                            f"PyTorch refuses this")
    ho, wo, arith = _window(h, w, k, stride, pad, "window")
    return (ch, ho, wo), 0, arith


def _infer_global_avgpool(c: dict[str, Any], shape: Shape, _n: int) -> Inferred:
    ch, _, _ = _need_image(shape)
    return (ch,), 0, None


def _infer_batchnorm(c: dict[str, Any], shape: Shape, _n: int) -> Inferred:
    return shape, 2 * shape[0], None  # a scale and a shift per channel / feature


def _infer_same(c: dict[str, Any], shape: Shape, _n: int) -> Inferred:
    return shape, 0, None


def _infer_flatten(c: dict[str, Any], shape: Shape, _n: int) -> Inferred:
    return (math.prod(shape),), 0, None


def _infer_linear(c: dict[str, Any], shape: Shape, num_classes: int) -> Inferred:
    features = _need_vector(shape)
    if c["in"] is not None and c["in"] != features:
        raise _LayerProblem(f'"in" is {c["in"]} but the layer receives {features} features')
    out = num_classes if c["out"] == CLASSES else c["out"]
    return (out,), features * out + (out if c["bias"] else 0), None


def _infer_basic_block(c: dict[str, Any], shape: Shape, _n: int) -> Inferred:
    ch, h, w = _need_image(shape)
    out, stride = c["out"], c["stride"]
    ho, wo, arith = _window(h, w, 3, stride, 1, "kernel")  # the first conv decides the size
    params = 9 * ch * out + 2 * out + 9 * out * out + 2 * out  # conv-bn-conv-bn, convs without bias
    if stride != 1 or ch != out:
        params += ch * out + 2 * out  # 1x1 conv + bn shortcut
    return (out, ho, wo), params, arith


def _infer_backbone(c: dict[str, Any], shape: Shape, _n: int) -> Inferred:
    from cnnstudio.core.models.backbones import BACKBONES

    ch, _, _ = _need_image(shape)
    if ch not in (1, 3):
        raise _LayerProblem(f"a pretrained backbone takes grey or RGB images, not {ch} channels")
    info = BACKBONES[c["arch"]]
    return (info.features,), info.params, f"resized to {c['resolution']}x{c['resolution']}, pooled"


_INFER = {
    "backbone": _infer_backbone,
    "conv": _infer_conv,
    "maxpool": _infer_pool,
    "avgpool": _infer_pool,
    "global_avgpool": _infer_global_avgpool,
    "batchnorm": _infer_batchnorm,
    "relu": _infer_same,
    "leaky_relu": _infer_same,
    "sigmoid": _infer_same,
    "tanh": _infer_same,
    "gelu": _infer_same,
    "dropout": _infer_same,
    "flatten": _infer_flatten,
    "linear": _infer_linear,
    "basic_block": _infer_basic_block,
}
assert set(_INFER) == set(LAYER_TYPES), "every layer type needs a shape rule"


def infer_shapes(spec: Any, input_shape: Shape, num_classes: int) -> ShapeReport:
    """Walk the layers from `input_shape`; never raises for a bad spec, stops at the first error."""
    report = ShapeReport(input_shape=tuple(input_shape) if isinstance(input_shape, (tuple, list)) else (),
                         num_classes=num_classes)
    try:
        _check_top(spec)
        shape = _check_input(input_shape, num_classes)
    except SpecError as exc:
        report.error, report.error_index = str(exc), exc.layer_index
        return report

    flattened_from: Shape | None = None  # to explain where a Linear's input size comes from
    for i, layer in enumerate(spec["layers"]):
        try:
            config = normalize_layer(i, layer)
        except SpecError as exc:
            report.error, report.error_index = str(exc), i
            return report
        label = layer_label(config, num_classes, len(shape))
        try:
            out, params, arith = _INFER[config["type"]](config, shape, num_classes)
        except _LayerProblem as exc:
            message = str(exc)
            if config["type"] == "linear" and flattened_from is not None and len(shape) == 1:
                message += f" ({format_shape(flattened_from)} flattened)"
            report.error, report.error_index = f"Layer {i + 1} ({label}): {message}", i
            return report
        if config["type"] == "flatten" and len(shape) == 3:
            flattened_from = shape
        elif out != shape:  # anything else that changes the shape breaks the link to the flatten
            flattened_from = None
        report.layers.append(LayerInfo(i, config["type"], label, shape, out, params, arith, config))
        shape = out

    if shape != (num_classes,):
        last = report.layers[-1]
        if len(shape) == 3:
            why = (f"the network ends with a {format_shape(shape)} feature map but must end with "
                   f"{num_classes} class scores; add Flatten and a Linear layer with out = \"classes\"")
        else:
            why = (f"the network ends with {shape[0]} outputs but the dataset has {num_classes} classes; "
                   f"set the last Linear layer's out to \"classes\"")
        report.error, report.error_index = f"Layer {last.index + 1} ({last.label}): {why}", last.index
    return report


def failed_arithmetic(layers: list[Any], report: ShapeReport) -> str | None:
    """The size arithmetic of the layer that does not fit (e.g. "(5 - 40 + 2*0)/1 + 1 = -34"), so the
    table shows why rather than an empty cell; None when no windowed layer failed."""
    i = report.error_index
    if report.ok or i is None or not 0 <= i < len(layers) or i != len(report.layers):
        return None
    try:
        config = normalize_layer(i, layers[i])
    except SpecError:
        return None
    shape = report.layers[-1].out_shape if report.layers else report.input_shape
    if len(shape) != 3 or config["type"] not in ("conv", "maxpool", "avgpool", "basic_block"):
        return None
    _, h, w = shape
    if config["type"] == "basic_block":
        kernel, stride, pad = 3, config["stride"], 1
    else:
        kernel, pad = config["kernel"], config["padding"]
        stride = config["stride"] if config.get("stride") is not None else kernel
    text_h, text_w = _dim(h, kernel, pad, stride)[1], _dim(w, kernel, pad, stride)[1]
    return text_h if text_h == text_w else f"H: {text_h}; W: {text_w}"


def validate_spec(spec: Any, input_shape: Shape, num_classes: int) -> ShapeReport:
    """infer_shapes, raising SpecError(message, layer_index) unless the spec is fully valid."""
    report = infer_shapes(spec, input_shape, num_classes)
    if not report.ok:
        raise SpecError(report.error or "invalid model spec", report.error_index)
    return report


# --------------------------------------------------------------------------------------------------
# Files


def load_spec(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Read a spec from a JSON file; SpecError naming the file for unreadable, bad JSON or bad structure."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise SpecError(f"Model file not found: {path}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise SpecError(f"Cannot read model file {path}: {exc}") from None
    try:
        spec = loads_json(text)
    except json.JSONDecodeError as exc:
        raise SpecError(f"Model file {path} is not valid JSON: {exc.msg} at line {exc.lineno}, "
                        f"column {exc.colno}") from None
    except ValueError as exc:  # nested too deeply, or a number Python will not convert
        raise SpecError(f"Model file {path} cannot be read: {str(exc)[:120]}") from None
    try:
        check_structure(spec)
    except SpecError as exc:
        raise SpecError(f"Model file {path}: {exc}", exc.layer_index) from None
    spec.setdefault("name", path.stem)
    spec.setdefault("description", "")
    checked: dict[str, Any] = spec  # check_structure made sure it is a dict
    return checked


def save_spec(spec: dict[str, Any], path: str | os.PathLike[str]) -> None:
    """Write a spec as indented JSON, atomically (a crash never leaves half a file behind)."""
    path = Path(path)
    check_structure(spec)
    try:
        text = json.dumps(spec, indent=2, allow_nan=False) + "\n"
    except (TypeError, ValueError) as exc:
        raise SpecError(f"The model spec cannot be written as JSON: {exc}") from None
    tmp = path.with_name(path.name + ".tmp")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, path)
    except OSError as exc:
        with contextlib.suppress(OSError):
            tmp.unlink(missing_ok=True)
        raise SpecError(f"Cannot write model file {path}: {exc}") from None
