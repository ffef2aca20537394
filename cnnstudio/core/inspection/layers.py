"""Naming, finding and measuring the layers an inspection looks at.

A layer is referred to by its *key*: the module's qualified name inside the built nn.Sequential
("3" for spec layer 3, "5.conv1" for the first convolution inside the BasicBlock that is spec layer
5, "5.shortcut.0" for its 1x1 shortcut convolution). Keys are what named_modules() reports, so they
work on any model build_model returns, and they are the same whether the list came from a built
model or from a spec (conv_layers accepts both), so a UI can list layers from the spec it is editing
and later use the key with the trained model.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from cnnstudio.core.errors import CNNStudioError
from cnnstudio.core.models.builder import BasicBlock, GlobalAvgPool
from cnnstudio.core.models.layer_types import layer_label
from cnnstudio.core.models.spec import LayerInfo, Shape, infer_shapes


class InspectionError(CNNStudioError):
    """A layer reference or input that an inspection cannot use; the message says what would work."""


@dataclass(frozen=True)
class ConvLayer:
    """One convolution of a model, as a UI lists it."""

    key: str  # qualified module name: "3", "5.conv1", "5.shortcut.0"
    index: int  # the spec layer (child of the Sequential) it belongs to
    name: str  # "3: Conv 3x3, 64, pad 1" or "5.conv1: Conv 3x3, 64, pad 1": key and label, for lists
    label: str  # "Conv 3x3, 64, pad 1"
    in_channels: int
    out_channels: int
    kernel: tuple[int, int]
    stride: tuple[int, int]
    padding: tuple[int, int]
    in_block: bool  # inside a residual block (not a spec layer of its own)
    out_shape: Shape | None = None  # (C, H, W); known when listed from a spec with its input shape


@dataclass(frozen=True)
class LayerChoice:
    """A layer whose output is a spatial map (a valid Grad-CAM layer), with its output shape."""

    key: str
    index: int
    name: str
    label: str
    shape: Shape  # (C, H, W), batch dimension dropped


# Anything a caller may use to name a layer: a key, a spec index, a listed layer, or the module.
LayerRef = str | int | ConvLayer | LayerChoice | nn.Module


# --------------------------------------------------------------------------------------------------
# Labels: reuse the spec's own formatter so a label here reads exactly like the shape table's row.


def _pair(value: Any) -> tuple[int, int]:
    return (int(value[0]), int(value[1])) if isinstance(value, (tuple, list)) else (int(value), int(value))


def module_config(module: nn.Module) -> dict[str, Any] | None:
    """The spec-layer dict a module was built from (the inverse of the builder), or None if unknown."""
    from cnnstudio.core.models.backbones import backbones_in

    if backbones_in(module) and backbones_in(module)[0] is module:
        return {"type": "backbone", "arch": module.arch, "weights": "imagenet" if module.pretrained else "none",
                "train": module.train_mode, "resolution": module.resolution}
    if isinstance(module, nn.Conv2d):
        k, s, p = _pair(module.kernel_size), _pair(module.stride), module.padding
        pad = _pair(p)[0] if not isinstance(p, str) else 0
        return {"type": "conv", "out": module.out_channels, "kernel": k[0], "stride": s[0], "padding": pad,
                "bias": module.bias is not None}
    if isinstance(module, (nn.MaxPool2d, nn.AvgPool2d)):
        kernel, stride = _pair(module.kernel_size)[0], _pair(module.stride)[0]
        return {"type": "maxpool" if isinstance(module, nn.MaxPool2d) else "avgpool", "kernel": kernel,
                "stride": None if stride == kernel else stride, "padding": _pair(module.padding)[0]}
    if isinstance(module, BasicBlock):
        return {"type": "basic_block", "out": module.conv1.out_channels, "stride": _pair(module.conv1.stride)[0]}
    if isinstance(module, nn.Linear):
        return {"type": "linear", "out": module.out_features, "in": None, "bias": module.bias is not None}
    if isinstance(module, nn.LeakyReLU):
        return {"type": "leaky_relu", "slope": module.negative_slope}
    if isinstance(module, nn.GELU):
        return {"type": "gelu", "approximate": module.approximate}
    if isinstance(module, nn.Dropout):
        return {"type": "dropout", "p": module.p}
    simple = {GlobalAvgPool: "global_avgpool", nn.BatchNorm2d: "batchnorm", nn.BatchNorm1d: "batchnorm",
              nn.ReLU: "relu", nn.Sigmoid: "sigmoid", nn.Tanh: "tanh", nn.Flatten: "flatten"}
    for cls, kind in simple.items():
        if type(module) is cls:
            return {"type": kind}
    return None


def module_label(module: nn.Module, is_output: bool = False) -> str:
    """"Conv 3x3, 64, pad 1", "BatchNorm2d", "Linear 10 (classes)"; the class name for unknown modules."""
    config = module_config(module)
    if config is None:
        return type(module).__name__
    if config["type"] == "linear" and is_output:
        # The model cannot tell a literal out from "classes"; the last Linear is the class scores.
        return f"Linear {config['out']} (classes)"
    ranks: dict[type[nn.Module], int] = {nn.BatchNorm2d: 3, nn.BatchNorm1d: 1}
    rank = ranks.get(type(module))
    return layer_label(config, None, rank)


def child_labels(model: nn.Sequential) -> list[str]:
    """One label per child (spec layer) of a built model."""
    children = list(model.children())
    last_linear = max((i for i, m in enumerate(children) if isinstance(m, nn.Linear)), default=-1)
    return [module_label(m, is_output=(i == last_linear and i == len(children) - 1))
            for i, m in enumerate(children)]


# --------------------------------------------------------------------------------------------------
# Listing convolutions


def _conv_entry(key: str, index: int, conv_label: str, in_ch: int, out_ch: int, kernel: tuple[int, int],
                stride: tuple[int, int], padding: tuple[int, int], in_block: bool,
                out_shape: Shape | None) -> ConvLayer:
    return ConvLayer(key, index, f"{key}: {conv_label}", conv_label, in_ch, out_ch, kernel, stride, padding,
                     in_block, out_shape)


def conv_layers(model_or_spec: nn.Module | dict[str, Any], input_shape: Shape | None = None,
                num_classes: int | None = None) -> list[ConvLayer]:
    """Every convolution, in forward order, including the ones inside residual blocks.

    Pass a built model, or a spec with the input shape it will see (convolution input channels come
    from the input). For a spec that is invalid past some layer, the convolutions before the error
    are listed. Block-internal convolutions are listed conv1, conv2, then the shortcut's 1x1 conv.
    """
    if isinstance(model_or_spec, nn.Module):
        return _conv_layers_of_model(model_or_spec)
    if input_shape is None:
        raise InspectionError("conv_layers needs the input shape to list a spec's convolutions")
    report = infer_shapes(model_or_spec, tuple(input_shape), num_classes or 1)
    out: list[ConvLayer] = []
    for info in report.layers:
        c = info.config
        if info.type == "conv":
            k, s, p = c["kernel"], c["stride"], c["padding"]
            out.append(_conv_entry(str(info.index), info.index, info.label, info.in_shape[0], c["out"], (k, k),
                                   (s, s), (p, p), False, info.out_shape))
        elif info.type == "backbone":
            out.extend(_backbone_spec_convs(info))
        elif info.type == "basic_block":
            cin, cout, s = info.in_shape[0], c["out"], c["stride"]
            i = info.index
            mid = (cout, *info.out_shape[1:])
            out.append(_conv_entry(f"{i}.conv1", i, layer_label({"type": "conv", "out": cout, "kernel": 3,
                                                                 "stride": s, "padding": 1, "bias": False}),
                                   cin, cout, (3, 3), (s, s), (1, 1), True, mid))
            out.append(_conv_entry(f"{i}.conv2", i, layer_label({"type": "conv", "out": cout, "kernel": 3,
                                                                 "stride": 1, "padding": 1, "bias": False}),
                                   cout, cout, (3, 3), (1, 1), (1, 1), True, mid))
            if s != 1 or cin != cout:
                out.append(_conv_entry(f"{i}.shortcut.0", i,
                                       layer_label({"type": "conv", "out": cout, "kernel": 1, "stride": s,
                                                    "padding": 0, "bias": False}),
                                       cin, cout, (1, 1), (s, s), (0, 0), True, mid))
    return out


def _conv_layers_of_model(model: nn.Module) -> list[ConvLayer]:
    out: list[ConvLayer] = []
    for key, module in model.named_modules():
        if not isinstance(module, nn.Conv2d):
            continue
        top = key.split(".", 1)[0]
        index = int(top) if top.isdigit() else -1
        p = module.padding
        out.append(_conv_entry(key, index, module_label(module), module.in_channels, module.out_channels,
                               _pair(module.kernel_size), _pair(module.stride),
                               _pair(p) if not isinstance(p, str) else (0, 0), "." in key, None))
    return out


# --------------------------------------------------------------------------------------------------
# Resolving references


def resolve(model: nn.Module, ref: LayerRef) -> tuple[str, nn.Module]:
    """(key, module) for any LayerRef; InspectionError naming the valid keys when it matches nothing."""
    if isinstance(ref, (ConvLayer, LayerChoice)):
        ref = ref.key
    if isinstance(ref, nn.Module):
        for key, module in model.named_modules():
            if module is ref and key:
                return key, module
        raise InspectionError(f"{type(ref).__name__} is not a layer of this model")
    if isinstance(ref, bool) or not isinstance(ref, (int, str)):
        raise InspectionError(f"cannot use {ref!r} as a layer; use a key such as '3' or '5.conv1', "
                              f"a layer index, or an entry of conv_layers()")
    children = list(model.children())
    if isinstance(ref, int):
        if not -len(children) <= ref < len(children):
            raise InspectionError(f"layer index {ref} is out of range: the model has {len(children)} layers")
        ref = str(ref % len(children))
    key = ref.split(":", 1)[0].strip()  # also accept a ConvLayer.name such as "3: Conv 3x3, 64"
    modules = dict(model.named_modules())
    if key and key in modules:
        return key, modules[key]
    raise InspectionError(f"no layer {ref!r} in this model; layers are 0..{len(children) - 1}, "
                          f"convolutions: {', '.join(c.key for c in _conv_layers_of_model(model))}")


def backbone_stages(model: nn.Module) -> dict[str, nn.Module]:
    """key -> module of each pretrained backbone's stages ("0.net.layer4", "0.net.features.12"), in order:
    where Grad-CAM and the stage pickers look inside a backbone (its last one is the usual CAM layer)."""
    return {key: module for key, _, module in backbone_stage_entries(model)}


def backbone_stage_entries(model: nn.Module) -> list[tuple[str, str, nn.Module]]:
    """(key, label, module) of each pretrained backbone's stages, in order; the module is the stage's
    last one, whose output is the stage's. Labels read "ResNet-18 layer2", "MobileNetV3-Small stage 3"."""
    from cnnstudio.core.models.backbones import BACKBONES, backbones_in

    out: list[tuple[str, str, nn.Module]] = []
    for index, child in model.named_children():
        found = backbones_in(child)
        if not found or found[0] is not child:
            continue
        keys = {id(m): f"{index}.{k}" for k, m in child.named_modules() if k}
        title = BACKBONES[child.arch].title if child.arch in BACKBONES else child.arch
        for name, modules in child.stages():
            stage = name if not name.startswith("features.") else f"stage {name.split('.', 1)[1]}"
            out.append((keys[id(modules[-1])], f"{title} {stage}", modules[-1]))
    return out


def _backbone_spec_convs(info: LayerInfo) -> list[ConvLayer]:
    """The convolutions of a spec's backbone layer, listed from the network built on the meta device."""
    import torch

    from cnnstudio.core.models.backbones import make_backbone

    c = info.config
    with torch.device("meta"):
        backbone = make_backbone(c["arch"], c["resolution"], c["train"], c["weights"], info.in_shape[0])
    out = []
    for key, m in backbone.named_modules():
        if isinstance(m, nn.Conv2d):
            p = m.padding
            out.append(_conv_entry(f"{info.index}.{key}", info.index, module_label(m), m.in_channels, m.out_channels,
                                   _pair(m.kernel_size), _pair(m.stride),
                                   _pair(p) if not isinstance(p, str) else (0, 0), True, None))
    return out


def top_index(key: str) -> int:
    """The spec layer (Sequential child) a key belongs to: "5.conv1" -> 5."""
    return int(key.split(".", 1)[0])


# --------------------------------------------------------------------------------------------------
# Grad-CAM layer choice

# Layers that neither move nor resize pixels: receptive-field geometry passes through them unchanged.
ELEMENTWISE = (nn.BatchNorm2d, nn.ReLU, nn.LeakyReLU, nn.GELU, nn.Sigmoid, nn.Tanh, nn.Dropout, nn.Identity)


def spatial(shape: Shape) -> bool:
    """A (C, H, W) map with more than one position: a heatmap over it means something."""
    return len(shape) == 3 and shape[1] * shape[2] > 1


def default_cam_index(model: nn.Sequential, shapes: list[Shape]) -> int:
    """The Sequential child whose output Grad-CAM uses when no layer is given.

    The last layer that still has a spatial (> 1x1) map before the network collapses it (Flatten,
    global pooling): the last conv stage's output including its pooling, or the last BasicBlock of a
    ResNet. This is the most class-specific map that still has a "where"; earlier layers have finer
    grids but respond to edges more than to classes. On 28x28 inputs the map can be small (4x4 for
    cnn3-dropout, 3x3 for vgg-bn); cam_layers() lists the finer alternatives for a layer picker.
    `shapes` are the children's output shapes (no batch dimension).
    """
    best = None
    for i, shape in enumerate(shapes):
        if len(shape) != 3:
            break  # flattened or globally pooled: nothing spatial after this point
        if spatial(shape):
            best = i
    if best is None:
        raise InspectionError("this model has no layer with a spatial output, so there is nothing for "
                              "Grad-CAM to localise; use saliency() instead")
    # A dropout is the identity at inspection time (eval mode): name the layer that made the map
    # ("10: MaxPool 2x2", not "11: Dropout 0.3"); the heatmap is the same.
    while best > 0 and isinstance(model[best], nn.modules.dropout._DropoutNd) and shapes[best - 1] == shapes[best]:
        best -= 1
    return best


# --------------------------------------------------------------------------------------------------
# Receptive-field geometry, so a heatmap lands on the pixels it is about


def _yx(values: Iterable[float]) -> tuple[float, float]:
    """The two values of a per-axis computation, as the (y, x) pair Geometry holds."""
    y, x = values
    return y, x


@dataclass(frozen=True)
class Geometry:
    """Where map cell j of a layer sits in the input: its receptive-field centre is offset + stride * j,
    in input pixel coordinates (pixel i's centre is i), per axis (y, x)."""

    offset: tuple[float, float]
    stride: tuple[float, float]
    size: tuple[float, float] = (1.0, 1.0)  # the receptive field's height and width in input pixels

    def then(self, kernel: tuple[int, int], stride: tuple[int, int], padding: tuple[int, int],
             dilation: tuple[int, int] = (1, 1)) -> Geometry:
        """Compose with one sliding-window layer: its output cell j is centred on input cell
        j * s - p + d * (k - 1) / 2 of the layer before, and sees d * (k - 1) more of those cells."""
        off = _yx(o + st * (d * (k - 1) / 2 - p)
                  for o, st, k, p, d in zip(self.offset, self.stride, kernel, padding, dilation))
        strides = _yx(st * s for st, s in zip(self.stride, stride))
        size = _yx(z + st * d * (k - 1) for z, st, k, d in zip(self.size, self.stride, kernel, dilation))
        return Geometry(off, strides, size)

    def grow(self, kernel: int) -> Geometry:
        """The same grid after a stride-1 'same' convolution of this kernel (a block's second conv)."""
        return Geometry(self.offset, self.stride, _yx(z + st * (kernel - 1) for z, st in zip(self.size, self.stride)))

    def box(self, row: int, col: int) -> tuple[int, int, int, int]:
        """The input pixels (y0, x0, y1, x1), end exclusive, that map cell (row, col) sees; they may
        reach past the image where the layers padded it."""
        out = []
        for j, o, st, z in ((row, self.offset[0], self.stride[0], self.size[0]),
                            (col, self.offset[1], self.stride[1], self.size[1])):
            start = int(round(o + st * j - (z - 1) / 2))
            out.append((start, start + int(round(z))))
        (y0, y1), (x0, x1) = out
        return y0, x0, y1, x1


IDENTITY_GEOMETRY = Geometry((0.0, 0.0), (1.0, 1.0))


def _window_geometry(module: nn.Module, g: Geometry) -> Geometry | None:
    if isinstance(module, nn.Conv2d):
        if isinstance(module.padding, str):
            return None
        return g.then(_pair(module.kernel_size), _pair(module.stride), _pair(module.padding),
                      _pair(module.dilation))
    if isinstance(module, (nn.MaxPool2d, nn.AvgPool2d)):
        k = _pair(module.kernel_size)
        s = _pair(module.stride if module.stride is not None else module.kernel_size)
        d = _pair(getattr(module, "dilation", 1))
        return g.then(k, s, _pair(module.padding), d)
    if isinstance(module, BasicBlock):
        # conv1 sets the block's grid; conv2 (3x3, pad 1, stride 1) and the shortcut keep its centres,
        # and conv2 widens what each cell sees.
        inner = _window_geometry(module.conv1, g)
        return None if inner is None else inner.grow(_pair(module.conv2.kernel_size)[0])
    if isinstance(module, ELEMENTWISE):
        return g
    return None


def geometry(model: nn.Module, key: str) -> Geometry | None:
    """The geometry of layer `key`'s output, or None when some layer before it is not understood
    (the caller then stretches the map over the input, as plain bilinear upsampling does)."""
    g: Geometry | None = IDENTITY_GEOMETRY
    last = top_index(key)
    for i, module in enumerate(model.children()):
        if i > last or g is None:
            break
        if i == last and "." in key:
            # Everything inside a BasicBlock lives on the block's output grid (see _window_geometry);
            # its first convolution sees less than the whole block.
            if not isinstance(module, BasicBlock):
                return None
            if key.endswith(".conv1") or key.endswith(".bn1"):
                return _window_geometry(module.conv1, g)
            return _window_geometry(module, g)
        g = _window_geometry(module, g)
    return g


def interpolation_matrix(size: int, cells: int, offset: float, stride: float) -> torch.Tensor:
    """(size, cells) float32 weights that linearly interpolate a map of `cells` values, whose cell j
    is centred at input coordinate offset + stride * j, at every input pixel 0..size-1 (clamped at the
    edges). With stride = size / cells and offset = (stride - 1) / 2 this is exactly
    F.interpolate(mode="bilinear", align_corners=False) along one axis."""
    pos = (torch.arange(size, dtype=torch.float64) - offset) / stride
    pos = pos.clamp(0, cells - 1)
    j0 = pos.floor().long().clamp(max=cells - 1)
    frac = (pos - j0).to(torch.float32)
    j1 = (j0 + 1).clamp(max=cells - 1)
    m = torch.zeros(size, cells, dtype=torch.float32)
    rows = torch.arange(size)
    m.index_put_((rows, j0), 1 - frac, accumulate=True)
    m.index_put_((rows, j1), frac, accumulate=True)
    return m
