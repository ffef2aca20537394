"""Attribution methods behind one call: which pixels of one picture the model's score for a class follows.

    explain(model, x, method, target_class=None, layer_ref=None, baseline=None, progress=None,
            cancelled=None) -> Attribution

`method` is one of METHODS. Where each comes from:

- "saliency", "gradcam": the Inspect page's own one-pass code (attribution.py), so both paths agree exactly.
- "gradcam++" (Chattopadhay et al. 2018), "layercam" (Jiang et al. 2021), "scorecam" (Wang et al. 2020): on the
  same hooks as Grad-CAM (attribution._run records the layer's output and its gradient in one pass). Captum has
  no Grad-CAM++, Score-CAM or LayerCAM; torch-cam has them but hooks layers by name, which the project already
  does for every preset, custom spec and backbone stage (layers.resolve), so they are a few lines each here.
- "integrated-gradients", "smoothgrad", "occlusion": Captum (IntegratedGradients, NoiseTunnel over Saliency,
  Occlusion), the field's maintained implementations.

The slow ones (SLOW: Score-CAM, Integrated Gradients, occlusion; SmoothGrad too on large pictures) report
progress and stop when asked: a forward pre-hook on the model counts passes, calls progress(fraction) and
raises ExplanationCancelled once cancelled() turns True. Qt-free; the model is left as it was found (eval
mode only while running, hooks removed, parameters' .grad untouched: gradients go to the input or the hooked
layer only).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from torch import nn

from cnnstudio.core.errors import CNNStudioError
from cnnstudio.core.inspection.activations import as_input, inspecting
from cnnstudio.core.inspection.attribution import _check_class, _run, grad_cam, saliency, upsample
from cnnstudio.core.inspection.layers import InspectionError, LayerRef

if TYPE_CHECKING:
    from cnnstudio.core.inference import Predictor

METHODS = ("saliency", "gradcam", "gradcam++", "scorecam", "layercam", "integrated-gradients", "smoothgrad",
           "occlusion")
TITLES = {"saliency": "Saliency", "gradcam": "Grad-CAM", "gradcam++": "Grad-CAM++", "scorecam": "Score-CAM",
          "layercam": "LayerCAM", "integrated-gradients": "Integrated Gradients", "smoothgrad": "SmoothGrad",
          "occlusion": "Occlusion"}
# What the user reads about each (tooltips, the CLI's help).
ABOUT = {
    "saliency": "the gradient of the class score with respect to each pixel (one backward pass)",
    "gradcam": "a layer's maps weighted by their mean gradient (one backward pass)",
    "gradcam++": "Grad-CAM with each cell's gradient weighted, so several parts of one object all show",
    "scorecam": "each channel of the layer used as a mask on the picture, weighted by the score it keeps "
                "(one forward pass per channel, no gradients)",
    "layercam": "each cell of the layer's maps weighted by its own positive gradient: finer than Grad-CAM",
    "integrated-gradients": "gradients summed along the path from a black picture to this one; they add up to the "
                            "score's change",
    "smoothgrad": "the saliency averaged over noisy copies of the picture, so it is less speckled",
    "occlusion": "a patch slid over the picture, blacked out: how much the score falls at each place",
}
CAM_METHODS = ("gradcam", "gradcam++", "scorecam", "layercam")  # these look at a layer
SLOW = ("scorecam", "integrated-gradients", "occlusion")  # many forward passes: run in the background

IG_STEPS = 32
SMOOTHGRAD_SAMPLES = 24
SMOOTHGRAD_NOISE = 0.15  # of the picture's value range (Smilkov et al.'s 10-20 %)
SCORECAM_BATCH = 32

Progress = Callable[[float], None]
Cancelled = Callable[[], bool]


class ExplanationCancelled(CNNStudioError):
    """The user stopped an explanation before it finished."""


@dataclass(frozen=True)
class Attribution:
    """One method's explanation of one class for one picture."""

    method: str
    heatmap: np.ndarray  # float32 (H, W), 0..1: 1 = the strongest evidence for the class; all 0 = none
    signed: np.ndarray  # float32 (H, W): the attribution per pixel before scaling (channels summed; CAMs: >= 0)
    class_index: int
    seconds: float
    layer: str | None = None  # the layer a CAM method looked at
    total: float | None = None  # Integrated Gradients: the sum of every attribution (channels too)
    delta: float | None = None  # Integrated Gradients: total minus (score(x) - score(baseline)), Captum's own check

    @property
    def title(self) -> str:
        return TITLES[self.method]


def check_method(method: str) -> str:
    if method not in METHODS:
        raise InspectionError(f"unknown attribution method {method!r}; choose one of {', '.join(METHODS)}")
    return method


def _normalise01(t: torch.Tensor) -> torch.Tensor:
    t = torch.nan_to_num(t.float(), nan=0.0, posinf=0.0, neginf=0.0).clamp_min(0)
    peak = t.max()
    return t / peak if peak > 0 else torch.zeros_like(t)


@contextmanager
def _counted(model: nn.Module, total: int, progress: Progress | None, cancelled: Cancelled | None) -> Iterator[None]:
    """Count the model's forward passes: progress(done / total) after each, ExplanationCancelled when asked."""
    done = [0]

    def hook(_module: nn.Module, _args: tuple[Any, ...]) -> None:
        if cancelled is not None and cancelled():
            raise ExplanationCancelled("the explanation was cancelled")
        if progress is not None:
            progress(min(0.99, done[0] / max(total, 1)))
        done[0] += 1

    handle = model.register_forward_pre_hook(hook)
    try:
        yield
    finally:
        handle.remove()


def _cam_variant(model: nn.Sequential, x: torch.Tensor, method: str, target: int | None,
                 layer_ref: LayerRef | None, progress: Progress | None,
                 cancelled: Cancelled | None) -> tuple[torch.Tensor, int, str]:
    """Grad-CAM++, LayerCAM or Score-CAM on the layer Grad-CAM would use: (map at the input size, class, key)."""
    p = _run(model, x, cam=True, cam_ref=layer_ref, target_class=target, input_grad=False, strict=layer_ref is not None)
    if p.cam_key is None or p.cam_grad is None:
        raise InspectionError(p.cam_error or "this model has no spatial layer to look at")
    a = p.outputs[p.cam_key].detach()[0].float()  # (C, h, w)
    g = p.cam_grad[0].float()
    hw = (int(x.shape[-2]), int(x.shape[-1]))
    if method == "gradcam++":
        # Chattopadhay et al. 2018, eq. 19 with the exponential of the score (so the 2nd and 3rd derivatives are
        # powers of the first): alpha = g^2 / (2 g^2 + sum(A) g^3), weights = sum(alpha * relu(g)).
        g2, g3 = g.pow(2), g.pow(3)
        denom = 2 * g2 + a.sum(dim=(1, 2), keepdim=True) * g3
        alpha = torch.where(denom.abs() > 1e-12, g2 / torch.where(denom.abs() > 1e-12, denom, 1.0), 0.0)
        weights = (alpha * torch.relu(g)).sum(dim=(1, 2))
        raw = torch.relu(torch.einsum("c,chw->hw", weights, a))
    elif method == "layercam":
        raw = torch.relu((torch.relu(g) * a).sum(dim=0))  # Jiang et al. 2021, eq. 5-6
    else:
        raw = _score_cam(model, x, a, p.class_index, p.cam_key, progress, cancelled)
        return raw, p.class_index, p.cam_key
    return upsample(raw, model, p.cam_key, hw).clamp_min(0), p.class_index, p.cam_key


def _score_cam(model: nn.Sequential, x: torch.Tensor, a: torch.Tensor, cls: int, key: str,
               progress: Progress | None, cancelled: Cancelled | None) -> torch.Tensor:
    """Score-CAM (Wang et al. 2020): each channel, upsampled and scaled to 0..1, masks the picture; the class's
    softmax probability of the masked picture is that channel's weight. No gradient at all."""
    hw = (int(x.shape[-2]), int(x.shape[-1]))
    maps = torch.stack([upsample(m, model, key, hw) for m in a])  # (C, H, W)
    flat = maps.flatten(1)
    lo, hi = flat.min(dim=1).values, flat.max(dim=1).values
    keep = (hi - lo) > 1e-8  # a constant channel masks nothing in particular: weight 0
    masks = (maps - lo[:, None, None]) / torch.where(keep, hi - lo, 1.0)[:, None, None]
    idx = torch.nonzero(keep).flatten()
    weights = torch.zeros(len(maps))
    batches = math.ceil(len(idx) / SCORECAM_BATCH)
    with torch.no_grad(), _counted(model, batches, progress, cancelled):
        for start in range(0, len(idx), SCORECAM_BATCH):
            chunk = idx[start:start + SCORECAM_BATCH]
            logits = model(x * masks[chunk][:, None].to(x.dtype))
            weights[chunk] = torch.softmax(logits.float(), dim=1)[:, cls].cpu()
    return torch.relu(torch.einsum("c,chw->hw", weights.to(maps.device), masks))


def _captum(model: nn.Sequential, x: torch.Tensor, method: str, cls: int, baseline: torch.Tensor,
            progress: Progress | None, cancelled: Cancelled | None) -> tuple[torch.Tensor, float | None, float | None]:
    """Integrated Gradients, SmoothGrad or occlusion through Captum: (per-pixel map (H, W), IG's total, IG's delta)."""
    from captum.attr import IntegratedGradients, NoiseTunnel, Occlusion, Saliency

    inp = x.detach().clone()
    total: float | None = None
    delta: float | None = None
    if method == "integrated-gradients":
        per = 8
        with _counted(model, math.ceil(IG_STEPS / per), progress, cancelled):
            attr, d = IntegratedGradients(model).attribute(inp, baselines=baseline, target=cls, n_steps=IG_STEPS,
                                                           internal_batch_size=per, return_convergence_delta=True)
        total, delta = float(attr.sum()), float(d.sum())
        return attr[0].sum(dim=0), total, delta
    if method == "smoothgrad":
        span = float(inp.max() - inp.min()) or 1.0
        per = 8
        with _counted(model, math.ceil(SMOOTHGRAD_SAMPLES / per), progress, cancelled):
            attr = NoiseTunnel(Saliency(model)).attribute(inp, nt_type="smoothgrad", nt_samples=SMOOTHGRAD_SAMPLES,
                                                          nt_samples_batch_size=per, stdevs=SMOOTHGRAD_NOISE * span,
                                                          target=cls, abs=True)
        return attr[0].amax(dim=0), None, None  # like saliency: the strongest channel
    c, h, w = (int(s) for s in inp.shape[1:])
    side = max(2, round(min(h, w) / 7))  # a patch of about a seventh of the picture, moved half a patch at a time
    stride = max(1, side // 2)
    windows = (len(range(0, h - side + 1, stride)) + 1) * (len(range(0, w - side + 1, stride)) + 1)
    per = 16
    with torch.no_grad(), _counted(model, 1 + math.ceil(windows / per), progress, cancelled):
        attr = Occlusion(model).attribute(inp, sliding_window_shapes=(c, side, side), strides=(c, stride, stride),
                                          baselines=baseline, target=cls, perturbations_per_eval=per)
    return attr[0].sum(dim=0) / c, None, None


def explain(model: nn.Sequential, x: torch.Tensor | np.ndarray, method: str, target_class: int | None = None,
            layer_ref: LayerRef | None = None, baseline: torch.Tensor | None = None,
            progress: Progress | None = None, cancelled: Cancelled | None = None) -> Attribution:
    """One method's attribution of `target_class` (default: the predicted class) for one normalised picture.

    layer_ref: the layer a CAM method looks at (default: Grad-CAM's). baseline: the normalised picture that
    means "nothing" for Integrated Gradients and occlusion, (1, C, H, W) or (C, H, W); default all zeros (the
    training data's mean colour); Predictor users pass the normalised black picture (explain_pixels does).
    """
    check_method(method)
    start = time.perf_counter()
    xi = as_input(model, x)
    hw = (int(xi.shape[-2]), int(xi.shape[-1]))
    if method == "gradcam":
        cam = grad_cam(model, xi, target_class, layer_ref)
        return Attribution(method, cam.cam, cam.cam.copy(), cam.class_index, time.perf_counter() - start, cam.key)
    with inspecting(model), torch.inference_mode(False), torch.enable_grad():
        if xi.is_inference():
            xi = xi.clone()
        with torch.no_grad():
            logits = model(xi)
        if logits.ndim != 2:
            raise InspectionError(f"the model outputs shape {tuple(logits.shape)}, not class scores")
        cls = _check_class(target_class, int(logits[0].argmax()), int(logits.shape[1]))
        key: str | None = None
        total = delta = None
        if method == "saliency":
            signed = torch.from_numpy(saliency(model, xi, cls))
        elif method in CAM_METHODS:
            signed, cls, key = _cam_variant(model, xi, method, cls, layer_ref, progress, cancelled)
        else:
            base = torch.zeros_like(xi) if baseline is None else as_input(model, baseline).to(xi.dtype)
            if base.is_inference():
                base = base.clone()
            signed, total, delta = _captum(model, xi, method, cls, base, progress, cancelled)
    signed = torch.nan_to_num(signed.detach().float().cpu())
    if tuple(signed.shape) != hw:
        raise InspectionError(f"{TITLES[method]} gave a {tuple(signed.shape)} map for a {hw} picture")
    heat = _normalise01(signed)
    if progress is not None:
        progress(1.0)
    return Attribution(method, heat.numpy().astype(np.float32), signed.numpy().astype(np.float32), cls,
                       time.perf_counter() - start, key, total, delta)


def private_copy(model: nn.Sequential) -> nn.Sequential:
    """A deep copy of the model without hooks, for long work beside the app's other inspections: a copy made
    while another thread's inspection had its capture hooks on would otherwise carry them, and its passes
    would write into that inspection's outputs."""
    import copy

    clone = copy.deepcopy(model)
    for m in clone.modules():
        for hooks in (m._forward_hooks, m._forward_pre_hooks, m._backward_hooks, m._backward_pre_hooks):
            hooks.clear()
        for extra in ("_forward_hooks_with_kwargs", "_forward_hooks_always_called", "_forward_pre_hooks_with_kwargs"):
            getattr(m, extra, {}).clear()
    return clone


def black_baseline(predictor: Predictor) -> torch.Tensor:
    """The normalised black picture of a Predictor's input shape: "nothing there" for IG and occlusion."""
    return predictor.normalise(torch.zeros((1, *predictor.input_shape), dtype=torch.uint8))[0]


def explain_pixels(predictor: Predictor, pixels: np.ndarray, method: str, target_class: int | None = None,
                   layer_ref: LayerRef | None = None, progress: Progress | None = None,
                   cancelled: Cancelled | None = None) -> Attribution:
    """explain() for prepared uint8 pixels (C, H, W) and a Predictor: normalised as in training, black baseline."""
    x = predictor.normalise(torch.from_numpy(np.ascontiguousarray(pixels))[None])[0]
    return explain(predictor.model, x, method, target_class, layer_ref, black_baseline(predictor), progress,
                   cancelled)
