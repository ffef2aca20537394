"""Every picture of a dataset as one pool (training rows, then test rows): the doctor looks at both splits,
since a wrong label in test misleads as much as one in train, and leakage is a pair across them."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

import numpy as np

from cnnstudio.core.datasets.base import Dataset
from cnnstudio.core.datasets.disk_images import DiskImages
from cnnstudio.core.doctor.report import PictureRef

if TYPE_CHECKING:
    import torch


@dataclass(frozen=True)
class Pool:
    data: Dataset
    images: Any  # uint8 (N, C, H, W): a tensor, or DiskImages (rows read on demand)
    labels: np.ndarray  # int64 (N,)
    n_train: int

    @classmethod
    def of(cls, data: Dataset) -> Pool:
        import torch

        train, test = data.train_images, data.test_images
        images: Any
        if isinstance(train, DiskImages) and isinstance(test, DiskImages):
            # The two splits are views of one file: one view of both keeps the pictures on disk.
            rows = np.r_[np.asarray(train._physical(slice(None))), np.asarray(test._physical(slice(None)))]
            images = DiskImages(train.path, train.row_shape, rows.astype(np.int64))
        else:
            images = torch.cat([train, test]) if len(test) else train
        labels = np.r_[data.train_labels.numpy(), data.test_labels.numpy()].astype(np.int64)
        return cls(data, images, labels, int(len(data.train_labels)))

    def __len__(self) -> int:
        return int(len(self.labels))

    def rows(self, index: np.ndarray) -> Any:
        """The pictures at `index` (a view on disk for DiskImages, a tensor otherwise)."""
        import torch

        if isinstance(self.images, DiskImages):
            return self.images.subset(index)
        return self.images[torch.from_numpy(np.asarray(index, dtype=np.int64))]

    def split(self, train: np.ndarray, test: np.ndarray) -> Dataset:
        """The dataset with the pool's pictures at `train` for training and at `test` for testing: a fold of
        the cross-validation, or the estimate's stand-in for one (picture files and numbers dropped)."""
        import torch

        def labels(index: np.ndarray) -> torch.Tensor:
            return torch.from_numpy(np.ascontiguousarray(self.labels[index], dtype=np.int64))

        return replace(self.data, train_images=self.rows(train), train_labels=labels(train),
                       test_images=self.rows(test), test_labels=labels(test), files=None, origin=None)

    def ref(self, i: int) -> PictureRef:
        split, index = ("train", i) if i < self.n_train else ("test", i - self.n_train)
        return PictureRef(split, self.data.original_index(split, index), self.data.file_of(split, index))

    def batches(self, size: int = 2048) -> Any:
        """(start, uint8 tensor) a batch at a time, in order."""
        for start in range(0, len(self), size):
            batch: torch.Tensor = self.images[start:start + size]
            yield start, batch


def stratified_folds(labels: np.ndarray, folds: int, seed: int = 0) -> np.ndarray:
    """The fold (0..folds-1) of each picture, each class dealt round-robin over the folds in a random
    order: every fold holds about 1/folds of every class."""
    rng = np.random.default_rng(seed)
    fold = np.empty(len(labels), dtype=np.int64)
    offset = 0
    for k in np.unique(labels):
        members = rng.permutation(np.flatnonzero(labels == k))
        fold[members] = (np.arange(len(members)) + offset) % folds
        offset += len(members)  # the next class starts where this one stopped: the folds stay even
    return fold
