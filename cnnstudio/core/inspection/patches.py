"""What each channel of a layer responds to: the image patches that excite it most (Zeiler & Fergus).

The weights of a deeper convolution are unreadable (conv 2 of convnet-5x5 is 2,048 5x5 kernels that
act on feature maps, not on pixels). What a channel has learned is visible in the data instead: run
the test images through the model, find for each channel the images where it fires hardest, and cut
out the part of each image its strongest cell sees (its receptive field, from the layers' geometry).

One batched forward pass per chunk with a forward hook; the per-channel maximum over positions is
taken on the device, so only (images, channels) numbers come back to the host. Qt-free.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from collections.abc import Callable
from typing import TYPE_CHECKING

import numpy as np
import torch
from torch import nn

from cnnstudio.core.inspection.activations import capture, inspecting
from cnnstudio.core.inspection.layers import InspectionError, LayerRef, geometry, module_label, resolve

if TYPE_CHECKING:  # mosaic.py imports numpy only; imported where used to keep this module's import light
    from cnnstudio.core.inspection.mosaic import FilterMosaic

PER_CHANNEL = 6  # patches shown per channel: enough to see what they share
SMALL_IMAGES = 64 * 64  # images up to this many pixels are searched 2,000 at a time; larger ones 300


@dataclass(frozen=True)
class ChannelPatches:
    """The top patches of every output channel of one layer.

    patches: uint8 (channels, per_channel, ph, pw) or (channels, per_channel, ph, pw, 3), the input
    pixels each top cell sees (black where its receptive field reaches past the image); scores: float32
    (channels, per_channel), the channel's activation there, strongest first; image_index: the test
    images they come from (-1 where fewer images exceed nothing).
    """

    key: str
    label: str
    patches: np.ndarray
    scores: np.ndarray
    image_index: np.ndarray
    field: tuple[int, int]  # the receptive field's size (ph, pw); the whole image when unknown
    searched: int  # how many test images were searched

    @property
    def channels(self) -> int:
        return int(self.patches.shape[0])

    @property
    def per_channel(self) -> int:
        return int(self.patches.shape[1])

    def describe(self, channel: int) -> str:
        s = self.scores[channel]
        if not np.isfinite(s[0]) or s[0] <= 0:
            return f"channel {channel}: no test image makes it fire (a dead channel)"
        return (f"channel {channel}: strongest response {s[0]:.3g} (test image {int(self.image_index[channel, 0])}),"
                f" weakest of the {self.per_channel} shown {s[-1]:.3g}")


def search_size(image_shape: tuple[int, ...]) -> int:
    """How many test images to search: all of a small test set; large images cost more per pass."""
    h, w = image_shape[-2:]
    return 2000 if h * w <= SMALL_IMAGES else 300


def top_patches(model: nn.Module, layer_ref: LayerRef, images: torch.Tensor,
                normalise: Callable[[torch.Tensor], torch.Tensor], per_channel: int = PER_CHANNEL,
                max_images: int | None = None, batch_size: int = 250) -> ChannelPatches:
    """The `per_channel` test-image patches that excite each output channel of layer `layer_ref` most.

    images: uint8 (N, C, H, W), the test set as the model sees it (framed, not normalised); normalise:
    what Predictor.normalise does to a uint8 batch. At most `max_images` (default search_size) are
    searched, spread evenly over the set, so classes in order still all take part. Each image counts
    once per channel (its strongest cell), so a channel's patches come from different images.
    """
    key, module = resolve(model, layer_ref)
    if images.ndim != 4 or images.dtype != torch.uint8 or len(images) == 0:
        raise InspectionError("top patches need a non-empty uint8 image batch (N, C, H, W)")
    n_all = len(images)
    limit = max_images or search_size(tuple(images.shape))
    picks = torch.from_numpy(np.unique(np.linspace(0, n_all - 1, min(n_all, limit)).round().astype(np.int64)))
    param = next(model.parameters(), None)
    device = param.device if param is not None else torch.device("cpu")
    dtype = param.dtype if param is not None else torch.float32
    best_vals: list[torch.Tensor] = []
    best_pos: list[torch.Tensor] = []
    map_hw: tuple[int, int] | None = None
    with inspecting(model), torch.no_grad(), capture({key: module}) as outputs:
        for start in range(0, len(picks), batch_size):
            idx = picks[start:start + batch_size]
            x = normalise(images[idx]).to(device=device, dtype=dtype)
            model(x)
            a = outputs.get(key)
            if a is None or a.ndim != 4:
                raise InspectionError(f"layer {key} ({module_label(module)}) has no spatial output to search")
            map_hw = (int(a.shape[2]), int(a.shape[3]))
            vals, pos = a.float().flatten(2).max(dim=2)  # (B, channels): each image's strongest cell
            best_vals.append(vals.cpu())
            best_pos.append(pos.cpu())
    vals = torch.cat(best_vals)  # (n, channels)
    pos = torch.cat(best_pos)
    k = min(per_channel, len(picks))
    top_vals, top_rows = vals.topk(k, dim=0)  # (k, channels)
    top_vals, top_rows = top_vals.T.contiguous(), top_rows.T.contiguous()  # (channels, k)
    top_cells = pos.gather(0, top_rows.T).T  # (channels, k): flat cell index in the map

    c, H, W = images.shape[1:]
    g = geometry(model, key)
    assert map_hw is not None
    h, w = map_hw
    if g is None or g.size[0] >= H and g.size[1] >= W:
        field = (H, W)  # unknown layers, or a field as large as the image: show the whole image
    else:
        field = (min(H, int(round(g.size[0]))), min(W, int(round(g.size[1]))))
    channels = top_vals.shape[0]
    out = np.zeros((channels, k, c, field[0], field[1]), np.uint8)
    rows = picks[top_rows].numpy()
    for ch in range(channels):
        for r in range(k):
            image = images[int(rows[ch, r])].numpy()
            if field == (H, W) or g is None:  # g is None only where the field is the whole image
                out[ch, r] = image
                continue
            i, j = divmod(int(top_cells[ch, r]), w)
            y0, x0, y1, x1 = g.box(i, j)
            y0, x0 = y0 + (y1 - y0 - field[0]) // 2, x0 + (x1 - x0 - field[1]) // 2  # keep the size exact
            y1, x1 = y0 + field[0], x0 + field[1]
            sy0, sx0, sy1, sx1 = max(0, y0), max(0, x0), min(H, y1), min(W, x1)
            if sy1 > sy0 and sx1 > sx0:
                out[ch, r, :, sy0 - y0:sy1 - y0, sx0 - x0:sx1 - x0] = image[:, sy0:sy1, sx0:sx1]
    patches = out[:, :, 0] if c == 1 else np.ascontiguousarray(out[:, :, :3].transpose(0, 1, 3, 4, 2))
    scores = top_vals.numpy().astype(np.float32)
    return ChannelPatches(key, module_label(module), np.ascontiguousarray(patches), scores, rows.astype(np.int64),
                          field, int(len(picks)))


def patch_mosaic(result: ChannelPatches, block_pad: int = 4) -> FilterMosaic:
    """One picture of all channels: each channel's patches as a small block (2 rows of 3 for six), the
    blocks in a grid, farther apart than the patches inside a block. "display" is RGBA with transparent
    padding (MNIST patches are black at their edges, like black padding would be); "layout" is for
    tile_at(), whose tiles are the channels' blocks."""
    from cnnstudio.core.inspection.display import grid_columns, tile
    from cnnstudio.core.inspection.mosaic import FilterMosaic, MosaicLayout, with_transparent_padding

    k = result.per_channel
    inner_cols = math.ceil(k / 2) if k > 3 else k
    cols = 1

    def compose(patches: np.ndarray) -> np.ndarray:
        nonlocal cols
        blocks = np.stack([tile(patches[ch], cols=inner_cols, pad=1, pad_value=0) for ch in range(len(patches))])
        cols = grid_columns(len(blocks), *blocks.shape[1:3]) if len(blocks) > 1 else 1
        return tile(blocks, cols=cols, pad=block_pad, pad_value=0)

    mosaic = compose(result.patches)
    mask = compose(np.full(result.patches.shape[:4], 255, np.uint8))
    bh = (mask.shape[0] + block_pad) // math.ceil(result.channels / cols) - block_pad
    bw = (mask.shape[1] + block_pad) // cols - block_pad
    return FilterMosaic(key=result.key, kind="patches", mosaic=mosaic, display=with_transparent_padding(mosaic, mask),
                        layout=MosaicLayout(cols=cols, count=result.channels, tile=(bh, bw), pad=block_pad),
                        patches=result)
