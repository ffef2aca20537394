"""Batched augmentation and normalisation on the training device.

Images arrive as a uint8 batch gathered by index from the dataset tensor. Everything here works on the
whole batch at once (one gather for crops, one grid_sample for affine warps), so the GPU or the CPU's
vector units do it instead of a Python loop over PIL images. Random parameters come from a CPU
generator whose state is saved in checkpoints, so a resumed run draws the same numbers.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F

from cnnstudio.core.training.config import Augmentation


class BatchPreprocessor:
    """uint8 (B, C, H, W) -> augmented, normalised float (B, C, H, W) in channels_last."""

    def __init__(self, mean: Sequence[float], std: Sequence[float], device: torch.device, channels_last: bool = True):
        std_t = torch.tensor(std, dtype=torch.float32, device=device).view(1, -1, 1, 1)
        mean_t = torch.tensor(mean, dtype=torch.float32, device=device).view(1, -1, 1, 1)
        # (x / 255 - mean) / std folded into one multiply-add.
        self.scale = 1.0 / (255.0 * std_t)
        self.shift = -mean_t / std_t
        self.device = device
        self.memory_format = torch.channels_last if channels_last else torch.contiguous_format

    def normalise(self, images_u8: torch.Tensor) -> torch.Tensor:
        # Reordered while still uint8, then widened in that order: one float copy instead of two.
        x = images_u8.contiguous(memory_format=self.memory_format).to(torch.float32)
        return x.mul_(self.scale).add_(self.shift)

    def augment(self, images_u8: torch.Tensor, aug: Augmentation, gen: torch.Generator) -> torch.Tensor:
        """Augment raw pixels (0 stays black, so padding looks like the background), then normalise."""
        if not aug.enabled:
            return self.normalise(images_u8)
        x = images_u8.to(torch.float32)
        b = x.shape[0]
        if aug.lighting:
            x = random_lighting(x, aug.lighting, gen)  # before the crop, so its padding stays black
        if aug.crop_padding:
            x = random_crop(x, aug.crop_padding, gen)
        if aug.hflip:
            flip = (torch.rand(b, generator=gen) < 0.5).to(self.device, non_blocking=True)
            x = torch.where(flip.view(b, 1, 1, 1), x.flip(3), x)
        if aug.affine:
            x = random_affine(x, aug, gen)
        x = x.contiguous(memory_format=self.memory_format)
        return x.mul_(self.scale).add_(self.shift)


def random_lighting(x: torch.Tensor, amount: float, gen: torch.Generator) -> torch.Tensor:
    """Each image's contrast (about its own mean) and brightness scaled by random factors in
    [1 - amount, 1 + amount], clamped to the pixel range."""
    b = x.shape[0]
    factors = (1 + (torch.rand(2, b, generator=gen) * 2 - 1) * amount).to(x.device, non_blocking=True)
    contrast, brightness = factors[0].view(b, 1, 1, 1), factors[1].view(b, 1, 1, 1)
    mean = x.mean(dim=(1, 2, 3), keepdim=True)
    return ((x - mean) * contrast + mean).mul_(brightness).clamp_(0, 255)


def random_crop(x: torch.Tensor, padding: int, gen: torch.Generator) -> torch.Tensor:
    """Pad by `padding` and cut a random H x W window per sample with one gather."""
    b, c, h, w = x.shape
    padded = F.pad(x, (padding, padding, padding, padding))
    dy = torch.randint(0, 2 * padding + 1, (b,), generator=gen).to(x.device, non_blocking=True)
    dx = torch.randint(0, 2 * padding + 1, (b,), generator=gen).to(x.device, non_blocking=True)
    rows = (dy[:, None] + torch.arange(h, device=x.device)[None, :])[:, None, :, None]  # (B,1,H,1)
    cols = (dx[:, None] + torch.arange(w, device=x.device)[None, :])[:, None, None, :]  # (B,1,1,W)
    batch = torch.arange(b, device=x.device)[:, None, None, None]
    chan = torch.arange(c, device=x.device)[None, :, None, None]
    return padded[batch, chan, rows, cols]


def random_affine(x: torch.Tensor, aug: Augmentation, gen: torch.Generator) -> torch.Tensor:
    """Small random rotation / zoom / shift for the whole batch with one affine_grid + grid_sample."""
    b = x.shape[0]
    angle = (torch.rand(b, generator=gen) * 2 - 1) * math.radians(aug.rotation)
    scale = 1 + (torch.rand(b, generator=gen) * 2 - 1) * aug.scale
    shift = (torch.rand(b, 2, generator=gen) * 2 - 1) * aug.translate * 2  # grid units span 2
    cos, sin = torch.cos(angle) / scale, torch.sin(angle) / scale
    theta = torch.stack([torch.stack([cos, -sin, shift[:, 0]], 1),
                         torch.stack([sin, cos, shift[:, 1]], 1)], 1).to(x.device, non_blocking=True)
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
