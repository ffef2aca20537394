"""Turn the numpy arrays every reader produces into the one Dataset form.

Readers (IDX, CIFAR pickles, image folders, the shapes generator) work in numpy so they stay simple
and testable; this is the single place that imports torch, checks the arrays agree, and computes
the per-channel mean/std on the training images.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from cnnstudio.core.datasets.disk_images import DiskImages
from cnnstudio.core.datasets.base import Dataset, LoadReport, channel_stats
from cnnstudio.core.errors import DatasetError
from cnnstudio.core.framing import FramingProfile


def make_dataset(
    *,
    name: str,
    title: str,
    classes: Sequence[str],
    train_images: np.ndarray | DiskImages,
    train_labels: np.ndarray,
    test_images: np.ndarray | DiskImages,
    test_labels: np.ndarray,
    framing: FramingProfile,
    source: str = "",
    report: LoadReport | None = None,
    hflip_ok: bool = False,
    owned: bool = False,
    stats: tuple[tuple[float, ...], tuple[float, ...]] | None = None,
    files: list[str] | None = None,
) -> Dataset:
    """Build a Dataset from uint8 (N, C, H, W) images and integer labels (copied into torch, or left on
    disk as they are when the loader gave DiskImages). owned=True: the loader made the image arrays for
    this dataset alone (read from the picture cache), so torch takes them over without a copy. `stats`:
    the training images' per-channel (mean, std) when the loader knows them already (the picture cache
    keeps them), else they are computed here."""
    import torch

    on_disk = isinstance(train_images, DiskImages)
    for split, images, labels in (("train", train_images, train_labels), ("test", test_images, test_labels)):
        if isinstance(images, DiskImages):
            pass  # written by the picture cache as uint8 (N, C, S, S)
        elif images.dtype != np.uint8 or images.ndim != 4:
            raise DatasetError(f"{title}: {split} images must be uint8 (N, C, H, W), got {images.dtype} {images.shape}")
        if labels.ndim != 1 or len(labels) != len(images):
            raise DatasetError(f"{title}: {len(images)} {split} images but {len(labels)} labels")
        if len(labels) and (labels.min() < 0 or labels.max() >= len(classes)):
            raise DatasetError(f"{title}: {split} labels must lie in 0..{len(classes) - 1}, "
                               f"found {int(labels.min())}..{int(labels.max())}")
    if len(train_images) == 0:
        raise DatasetError(f"{title}: there are no training images")
    if files is not None and len(files) != len(train_labels) + len(test_labels):
        raise DatasetError(f"{title}: {len(files)} file names for {len(train_labels) + len(test_labels)} pictures")
    if test_images.shape[1:] != train_images.shape[1:] and len(test_images):
        raise DatasetError(f"{title}: test images are {test_images.shape[1:]} but train images are "
                           f"{train_images.shape[1:]}")

    # Tensors, or DiskImages, which index like tensors: Dataset holds either (its type says Tensor, the one
    # interface every reader uses).
    train_x: Any
    test_x: Any
    if on_disk:  # a folder larger than the memory budget: its pictures are read a batch at a time
        train_x, test_x = train_images, test_images
    elif owned and isinstance(train_images, np.ndarray) and isinstance(test_images, np.ndarray) \
            and train_images.flags.c_contiguous and test_images.flags.c_contiguous:
        train_x, test_x = torch.from_numpy(train_images), torch.from_numpy(test_images)
    else:
        # Copies: the tensors own their memory, so an in-place edit by a caller
        # cannot reach a reader's cache (shapes memoises its arrays).
        train_x = torch.from_numpy(np.array(train_images, dtype=np.uint8, order="C", copy=True))
        test_x = torch.from_numpy(np.array(test_images, dtype=np.uint8, order="C", copy=True))
        if len(test_images) == 0:
            test_x = test_x.reshape(0, *train_x.shape[1:])
    train_y = torch.from_numpy(np.asarray(train_labels, dtype=np.int64).copy())
    test_y = torch.from_numpy(np.asarray(test_labels, dtype=np.int64).copy())
    mean, std = stats if stats is not None else channel_stats(train_x)
    return Dataset(
        name=name,
        title=title,
        classes=list(classes),
        train_images=train_x,
        train_labels=train_y,
        test_images=test_x,
        test_labels=test_y,
        mean=mean,
        std=std,
        framing=framing,
        source=source,
        report=report,
        hflip_ok=hflip_ok,
        files=list(files) if files is not None else None,
    )
