"""Augment a few sample images exactly as training will, for the Data page's preview.

It runs the trainer's own BatchPreprocessor.augment (so the preview can never drift from what the
network sees) and undoes its normalisation to get displayable pixels back. torch is imported inside
the function: only called once a dataset is loaded, when torch is already in memory. 32 images of
28x28 take about a millisecond, so the Data page calls it on the GUI thread.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from cnnstudio.core.training.config import Augmentation


def augment_preview(images_u8: np.ndarray, mean: Sequence[float], std: Sequence[float],
                    aug: Augmentation, seed: int) -> np.ndarray:
    """uint8 (N, C, H, W) -> the same images augmented with `aug`, uint8 (N, C, H, W).

    The same seed gives the same random draw, so changing one switch changes only that effect.
    """
    if not aug.enabled or len(images_u8) == 0:
        return np.ascontiguousarray(images_u8)
    import torch

    from cnnstudio.core.training.augment import BatchPreprocessor
    from cnnstudio.ui.torch_threads import use_one_torch_thread

    use_one_torch_thread()  # runs on the GUI thread: leave the cores to the training thread

    pre = BatchPreprocessor(mean, std, torch.device("cpu"), channels_last=False)
    gen = torch.Generator().manual_seed(int(seed))
    with torch.no_grad():
        x = pre.augment(torch.from_numpy(np.ascontiguousarray(images_u8)), aug, gen)
        pixels = (x - pre.shift) / pre.scale  # undo (p / 255 - mean) / std
        out = pixels.round_().clamp_(0, 255).to(torch.uint8).contiguous()
    return out.numpy()
