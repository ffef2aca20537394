"""Where the evidence is: Grad-CAM, gradient saliency, and the one-call inspection of an image.

Everything here runs one forward pass and at most one backward pass, with torch.autograd.grad
rather than .backward(): gradients go only to the tensors asked for, so parameters' .grad stays
untouched, their requires_grad flags are never changed, and layers before the Grad-CAM layer are not
differentiated at all.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

import numpy as np
import torch
from torch import nn

from cnnstudio.core.inspection.activations import FeatureMap, as_input, capture, inspecting, stage_maps, to_numpy
from cnnstudio.core.inspection.layers import (
    InspectionError,
    LayerChoice,
    LayerRef,
    backbone_stages,
    child_labels,
    default_cam_index,
    geometry,
    interpolation_matrix,
    module_label,
    resolve,
    spatial,
    top_index,
)
from cnnstudio.core.models.spec import Shape


@dataclass(frozen=True)
class CamResult:
    """A Grad-CAM heatmap for one class at one layer."""

    cam: np.ndarray  # float32 (H, W) at the input's size, 0..1 (1 = strongest evidence; all 0 = none)
    raw: np.ndarray  # float32 (h, w): ReLU(sum_k alpha_k A^k) at the layer's own size, unnormalised
    weights: np.ndarray  # float32 (C,): alpha_k, the importance of each channel of the layer
    class_index: int  # the class explained
    probability: float  # its softmax probability
    predicted: int  # the model's top class (equal to class_index unless another class was asked for)
    key: str  # the layer: "9" or "5.conv1"
    layer_label: str  # "ReLU" / "Conv 3x3, 64, pad 1"


@dataclass(frozen=True)
class Inspection:
    """Everything the Inspect view shows for one image (filters come from filters(): they are per model)."""

    probabilities: np.ndarray  # float32 (classes,)
    predicted: int
    feature_maps: list[FeatureMap]  # one per layer, the last holding the logits
    cam: CamResult | None  # None when the model has no spatial layer (cam_error says so)
    cam_error: str | None = None
    saliency: np.ndarray | None = None  # float32 (H, W) 0..1 when asked for
    stage_maps: list[FeatureMap] = field(default_factory=list)  # a pretrained backbone's stages, in order


# --------------------------------------------------------------------------------------------------
# Helpers


@lru_cache(maxsize=256)
def _matrix(size: int, cells: int, offset: float, stride: float) -> torch.Tensor:
    return interpolation_matrix(size, cells, offset, stride)


def upsample(raw: torch.Tensor, model: nn.Sequential, key: str, out_hw: tuple[int, int]) -> torch.Tensor:
    """Bilinear upsampling of a (h, w) map to the input size, aligned by receptive-field centres.

    Each map cell is placed at the centre of the input patch it sees (layers.geometry), so after
    unpadded convolutions (sigmoid-cnn's 24x24 map of a 28x28 image) the heatmap is not shifted by
    the lost border. For the usual padded conv / 2x2 pooling stacks this is exactly
    F.interpolate(bilinear, align_corners=False); for layers it does not understand it falls back to that.
    """
    h, w = raw.shape
    H, W = out_hw
    g = geometry(model, key)
    if g is None:
        sy, sx = H / h, W / w
        offsets, strides = ((sy - 1) / 2, (sx - 1) / 2), (sy, sx)
    else:
        offsets, strides = g.offset, g.stride
    my = _matrix(H, h, float(offsets[0]), float(strides[0])).to(raw.device)
    mx = _matrix(W, w, float(offsets[1]), float(strides[1])).to(raw.device)
    return my @ raw @ mx.T


def _normalise01(t: torch.Tensor) -> torch.Tensor:
    peak = t.max()
    return t / peak if peak > 0 else torch.zeros_like(t)


def _check_class(target_class: int | None, predicted: int, classes: int) -> int:
    if target_class is None:
        return predicted
    if isinstance(target_class, bool) or not isinstance(target_class, (int, np.integer)) or \
            not 0 <= int(target_class) < classes:
        raise InspectionError(f"class {target_class!r} does not exist: the model has {classes} classes "
                              f"(0..{classes - 1})")
    return int(target_class)


@dataclass
class _Pass:
    """What one forward + backward produced."""

    logits: torch.Tensor
    outputs: dict[str, torch.Tensor]
    class_index: int
    predicted: int
    cam_key: str | None
    cam_grad: torch.Tensor | None
    input_grad: torch.Tensor | None
    cam_error: str | None


def _run(model: nn.Sequential, x: torch.Tensor | np.ndarray, *, cam: bool, cam_ref: LayerRef | None,
         target_class: int | None, input_grad: bool, strict: bool) -> _Pass:
    """One forward pass recording every child's output, then one backward to the tensors needed.

    The input is a fresh leaf that requires grad, so every activation is part of the graph whatever
    the parameters' requires_grad says (a frozen model still gets a heatmap); autograd.grad then
    walks back only as far as the Grad-CAM layer unless the input gradient is asked for too.
    """
    watch = dict(model.named_children())
    watch.update(backbone_stages(model))  # a backbone's own stages: its last one is where Grad-CAM looks
    cam_key: str | None = None
    if cam and cam_ref is not None:
        cam_key, module = resolve(model, cam_ref)
        watch.setdefault(cam_key, module)
    x = as_input(model, x)
    with inspecting(model), torch.inference_mode(False), torch.enable_grad():
        if x.is_inference():  # made under inference_mode: cannot take part in autograd
            x = x.clone()
        x.requires_grad_(True)
        with capture(watch) as outputs:
            logits = model(x)
        if logits.ndim != 2:
            raise InspectionError(f"the model outputs shape {tuple(logits.shape)}, not class scores")
        predicted = int(logits[0].argmax())
        cls = _check_class(target_class, predicted, logits.shape[1])
        cam_error = None
        if cam and cam_key is None:
            shapes = [tuple(outputs[k].shape[1:]) for k in model._modules]
            try:
                cam_key = _backbone_cam(model, watch, outputs) or str(default_cam_index(model, shapes))
            except InspectionError as exc:
                if strict:
                    raise
                cam_error = str(exc)
        if cam_key is not None and not spatial(tuple(outputs[cam_key].shape[1:])):
            msg = (f"layer {cam_key} ({module_label(watch[cam_key])}) outputs shape "
                   f"{tuple(outputs[cam_key].shape[1:])}, not a spatial map; Grad-CAM needs a layer "
                   f"before the flatten / global pooling")
            if strict:
                raise InspectionError(msg)
            cam_key, cam_error = None, msg
        wrt = ([outputs[cam_key]] if cam_key is not None else []) + ([x] if input_grad else [])
        grads: tuple[Any, ...] = ()
        if wrt:
            # Not .backward(): nothing is accumulated into parameters' .grad.
            grads = torch.autograd.grad(logits[0, cls], wrt, allow_unused=True)
            grads = tuple(torch.zeros_like(t) if g is None else g for t, g in zip(wrt, grads))
    cam_grad = grads[0] if cam_key is not None else None
    in_grad = grads[-1] if input_grad else None
    return _Pass(logits.detach(), outputs, cls, predicted, cam_key, cam_grad, in_grad, cam_error)


def _cam_from(p: _Pass, model: nn.Sequential, out_hw: tuple[int, int], probs: torch.Tensor) -> CamResult:
    assert p.cam_key is not None and p.cam_grad is not None
    a = p.outputs[p.cam_key].detach()[0].float()  # (C, h, w)
    g = p.cam_grad[0].float()
    weights = g.mean(dim=(1, 2))  # alpha_k: global-average-pooled gradients (Selvaraju et al., eq. 1)
    raw = torch.relu(torch.einsum("c,chw->hw", weights, a))  # eq. 2: only positive evidence for the class
    cam = _normalise01(upsample(raw, model, p.cam_key, out_hw).clamp_min(0))
    key = p.cam_key
    module = dict(model.named_modules())[key]
    return CamResult(cam=cam.cpu().numpy(), raw=raw.cpu().numpy(), weights=weights.cpu().numpy(),
                     class_index=p.class_index, probability=float(probs[p.class_index]), predicted=p.predicted,
                     key=key, layer_label=module_label(module))


def _saliency_from(p: _Pass) -> np.ndarray:
    assert p.input_grad is not None
    s = p.input_grad[0].float().abs().amax(dim=0)  # max over colour channels (Simonyan et al. 2014)
    return _normalise01(s).cpu().numpy()


# --------------------------------------------------------------------------------------------------
# Public API


def grad_cam(model: nn.Sequential, x: torch.Tensor | np.ndarray, target_class: int | None = None,
             layer_ref: LayerRef | None = None) -> CamResult:
    """Grad-CAM (Selvaraju et al. 2017) for one normalised image.

    target_class: the class to explain (default: the predicted one). layer_ref: any layer with a
    spatial output - a spec index ("9", 9), a block-internal conv ("5.conv1"), an entry of
    conv_layers() / cam_layers() (default: the last spatial map before flatten / global pooling, see
    layers.default_cam_index). The layer's channels are weighted by the mean gradient of the class's
    logit, summed, rectified, upsampled bilinearly to the input size (aligned by receptive-field
    centres, see upsample) and scaled to 0..1.
    """
    p = _run(model, x, cam=True, cam_ref=layer_ref, target_class=target_class, input_grad=False, strict=True)
    probs = torch.softmax(p.logits[0].float(), dim=0)
    return _cam_from(p, model, _input_hw(x), probs)


def saliency(model: nn.Sequential, x: torch.Tensor | np.ndarray, target_class: int | None = None) -> np.ndarray:
    """Gradient saliency (Simonyan et al. 2014): |d logit / d input|, max over channels, scaled to 0..1,
    float32 (H, W). target_class defaults to the predicted class."""
    p = _run(model, x, cam=False, cam_ref=None, target_class=target_class, input_grad=True, strict=True)
    return _saliency_from(p)


def inspect_image(model: nn.Sequential, x: torch.Tensor | np.ndarray, layer_ref: LayerRef | None = None,
                  target_class: int | None = None, with_saliency: bool = False) -> Inspection:
    """Probabilities, every layer's feature maps and Grad-CAM for one normalised image, from ONE
    forward pass (hooks record every layer; the Grad-CAM layer's output is one of them) and ONE
    backward pass (to the Grad-CAM layer, and on to the input when with_saliency is set).

    A model without any spatial layer still gets probabilities and feature maps; cam is then None and
    cam_error says why. An explicitly given layer that cannot be used raises InspectionError.
    """
    strict = layer_ref is not None
    p = _run(model, x, cam=True, cam_ref=layer_ref, target_class=target_class, input_grad=with_saliency,
             strict=strict)
    probs = torch.softmax(p.logits[0].float(), dim=0)
    labels = child_labels(model)
    maps = [FeatureMap(i, key, labels[i], to_numpy(p.outputs[key])) for i, key in enumerate(model._modules)]
    cam = _cam_from(p, model, _input_hw(x), probs) if p.cam_key is not None else None
    return Inspection(probabilities=probs.cpu().numpy(), predicted=p.predicted, feature_maps=maps, cam=cam,
                      cam_error=p.cam_error, saliency=_saliency_from(p) if with_saliency else None,
                      stage_maps=stage_maps(model, p.outputs))


def _backbone_cam(model: nn.Sequential, watch: dict[str, Any], outputs: dict[str, Any]) -> str | None:
    """A pretrained backbone's last stage (its most class-specific map that still has a "where"); None
    for a model without one. Its cells are spread evenly over the picture the backbone resized."""
    keys = [k for k in backbone_stages(model) if k in outputs and spatial(tuple(outputs[k].shape[1:]))]
    return keys[-1] if keys else None


def cam_layers(model: nn.Sequential, input_shape: Shape) -> list[LayerChoice]:
    """Every layer Grad-CAM can use for inputs of `input_shape` (C, H, W): each spec layer with a
    spatial output, and the convolutions inside residual blocks, in forward order. The default
    layer is default_cam_layer(). Runs one forward pass on a blank image to learn the shapes."""
    stages = backbone_stages(model)
    inside = tuple(f"{k.split('.', 1)[0]}." for k in stages)  # a backbone's modules: only its stages are offered
    watch = {k: m for k, m in model.named_modules()
             if k and ("." not in k or (isinstance(m, nn.Conv2d) and not k.startswith(inside)))}
    watch.update(stages)
    blank = torch.zeros((1, *input_shape))
    with inspecting(model), capture(watch) as outputs, torch.inference_mode():
        model(as_input(model, blank))
    labels = child_labels(model)
    out = []
    for key, module in watch.items():
        shape = tuple(int(d) for d in outputs[key].shape[1:]) if key in outputs else ()
        if spatial(shape):
            label = labels[top_index(key)] if "." not in key else module_label(module)
            out.append(LayerChoice(key, top_index(key), f"{key}: {label}", label, shape))
    return out


def default_cam_layer(model: nn.Sequential, input_shape: Shape) -> str:
    """The key of the layer grad_cam() uses when none is given, for inputs of `input_shape`."""
    blank = torch.zeros((1, *input_shape))
    children = dict(model.named_children())
    watch = {**children, **backbone_stages(model)}
    with inspecting(model), capture(watch) as outputs, torch.inference_mode():
        model(as_input(model, blank))
    return _backbone_cam(model, watch, outputs) or str(default_cam_index(model, [tuple(outputs[k].shape[1:])
                                                                                 for k in children]))


def _input_hw(x: torch.Tensor | np.ndarray) -> tuple[int, int]:
    return int(x.shape[-2]), int(x.shape[-1])
