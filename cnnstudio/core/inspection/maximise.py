"""What a channel looks for, synthesised: activation maximisation (Erhan et al. 2009; Olah et al. 2017).

A picture is optimised so that one channel of a layer fires as hard as it can: gradient ascent on the
channel's mean activation, with the two regularisers that keep the result readable: jitter (the picture is
shifted by a few random pixels before each step, so no single-pixel pattern wins) and a smoothness prior
(total variation, plus a small L2 pull towards the mean colour). The pixels stay within what a real picture
can be (the normalised 0..255 range). Every channel of the layer is optimised at once, one picture each, in
one batch. Gradients go to the pictures only: the model's weights and their .grad are untouched. Qt-free.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import torch
from torch import nn

from cnnstudio.core.inspection.activations import capture, inspecting
from cnnstudio.core.inspection.layers import InspectionError, LayerRef, module_label, resolve
from cnnstudio.core.inspection.methods import Cancelled, ExplanationCancelled, Progress

if TYPE_CHECKING:  # mosaic.py imports numpy only; imported where used
    from cnnstudio.core.inspection.mosaic import FilterMosaic

STEPS = 96
MAX_CHANNELS = 64  # wider layers: their first 64 channels
TV_WEIGHT = 0.05
L2_WEIGHT = 0.005


@dataclass(frozen=True)
class ChannelImages:
    """One synthesised picture per channel of a layer."""

    key: str
    label: str
    pixels: np.ndarray  # uint8 (channels, H, W) for grey models, (channels, H, W, 3) for colour ones
    activation: np.ndarray  # float32 (channels,): each channel's mean activation on its picture
    start_activation: np.ndarray  # float32 (channels,): the same on the starting noise


def _tv(x: torch.Tensor) -> torch.Tensor:
    return (x[..., 1:, :] - x[..., :-1, :]).abs().mean(dim=(1, 2, 3)) + \
        (x[..., :, 1:] - x[..., :, :-1]).abs().mean(dim=(1, 2, 3))


def maximise_channels(model: nn.Module, layer_ref: LayerRef, input_shape: Sequence[int], mean: Sequence[float],
                      std: Sequence[float], channels: int | None = None, steps: int = STEPS, lr: float = 0.05,
                      seed: int = 0, progress: Progress | None = None,
                      cancelled: Cancelled | None = None) -> ChannelImages:
    """A picture for each of the first `channels` (default: up to MAX_CHANNELS) channels of layer `layer_ref`.

    input_shape: (C, H, W); mean, std: the model's normalisation (per channel, 0..1 units), so the result can be
    shown as pixels.
    """
    key, module = resolve(model, layer_ref)
    c, h, w = (int(v) for v in input_shape)
    m = torch.tensor(list(mean), dtype=torch.float32).view(1, -1, 1, 1)
    s = torch.tensor(list(std), dtype=torch.float32).view(1, -1, 1, 1)
    lo, hi = (0 - m) / s, (1 - m) / s
    param = next(model.parameters(), None)
    device = param.device if param is not None else torch.device("cpu")
    gen = torch.Generator().manual_seed(seed)
    jitter = max(1, round(min(h, w) / 14))
    with inspecting(model), torch.inference_mode(False), capture({key: module}) as outputs:
        with torch.no_grad():
            model(torch.zeros((1, c, h, w), device=device))
        out = outputs.get(key)
        if out is None or out.ndim not in (2, 4):
            raise InspectionError(f"layer {key} ({module_label(module)}) has no channels to maximise")
        n = min(int(out.shape[1]), channels or MAX_CHANNELS)
        x = ((torch.rand((n, c, h, w), generator=gen) - 0.5) * 0.2 + (0.5 - m) / s).to(device)
        x.requires_grad_(True)
        opt = torch.optim.Adam([x], lr=lr)
        rows = torch.arange(n, device=device)

        def objective(pictures: torch.Tensor) -> torch.Tensor:
            model(pictures)
            a = outputs[key].float()
            a = a[rows, rows] if a.ndim == 2 else a[rows, rows].mean(dim=(1, 2))
            return a

        with torch.enable_grad():
            start = objective(x).detach().cpu()
            for step in range(steps):
                if cancelled is not None and cancelled():
                    raise ExplanationCancelled("the synthesis was cancelled")
                dy, dx = (int(v) for v in torch.randint(-jitter, jitter + 1, (2,), generator=gen))
                shifted = torch.roll(x, shifts=(dy, dx), dims=(2, 3))
                act = objective(shifted)
                loss = -(act - TV_WEIGHT * _tv(x) * 10 - L2_WEIGHT * (x ** 2).mean(dim=(1, 2, 3))).sum()
                (grad,) = torch.autograd.grad(loss, [x])
                x.grad = grad
                opt.step()
                with torch.no_grad():
                    x.copy_(torch.maximum(torch.minimum(x, hi.to(device)), lo.to(device)))
                if progress is not None:
                    progress((step + 1) / steps)
            final = objective(x).detach().cpu()
    pixels = ((x.detach().cpu() * s + m).clamp(0, 1) * 255 + 0.5).to(torch.uint8).numpy()
    pixels = pixels[:, 0] if c == 1 else np.ascontiguousarray(pixels[:, :3].transpose(0, 2, 3, 1))
    return ChannelImages(key, module_label(module), np.ascontiguousarray(pixels), final.numpy().astype(np.float32),
                         start.numpy().astype(np.float32))


def synthesis_mosaic(result: ChannelImages) -> FilterMosaic:
    """One picture of every channel's synthesised image, in a grid (tile_at() finds the channel)."""
    from cnnstudio.core.inspection.display import grid_columns, tile
    from cnnstudio.core.inspection.mosaic import FilterMosaic, MosaicLayout, tile_mask, with_transparent_padding

    n, h, w = result.pixels.shape[:3]
    cols = grid_columns(n, h, w)
    mosaic = tile(result.pixels, cols=cols, pad=2, pad_value=0)
    display = with_transparent_padding(mosaic, tile_mask(n, (h, w), cols, pad=2))
    return FilterMosaic(key=result.key, kind="synthesised", mosaic=mosaic, display=display,
                        layout=MosaicLayout(cols=cols, count=n, tile=(h, w), pad=2), synthesised=result)
