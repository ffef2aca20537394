"""Features only: a frozen backbone's output computed once per picture, kept on disk, and the head trained on it.

With the backbone frozen, every epoch would push each picture through the same network to get the same
vector again. Instead each picture's vector is computed once and stored in the user's cache folder,
keyed by the picture's pixels and by the backbone (architecture, resolution, input normalisation and
the weights themselves), so training the head takes seconds, and a second run on the same pictures (or
on some of them) computes nothing it has seen. Augmentation is not applied in this mode: an augmented
picture would need its own pass through the backbone.
"""

from __future__ import annotations

import hashlib
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, cast

import numpy as np
import torch

BATCH = 64  # pictures per backbone pass


def cache_folder() -> Path:
    from cnnstudio.core.paths import cache_dir

    return cache_dir() / "embeddings"


def features_mode_backbone(model: torch.nn.Module) -> torch.nn.Module | None:
    """The frozen backbone when `model` is a features-only model (a Sequential starting with a Backbone
    whose training mode is "features"), else None."""
    from cnnstudio.core.models.backbones import backbones_in

    if not isinstance(model, torch.nn.Sequential) or len(model) < 2:
        return None
    found = backbones_in(model[0])
    if found and found[0] is model[0] and model[0].train_mode == "features":
        backbone: torch.nn.Module = model[0]
        return backbone
    return None


def backbone_key(backbone: torch.nn.Module) -> str:
    """Identifies what the backbone computes: its architecture, resolution, input normalisation and weights."""
    digest = hashlib.sha1(f"{backbone.arch}:{backbone.resolution}".encode())
    for name, tensor in backbone.state_dict().items():
        digest.update(name.encode())
        digest.update(tensor.detach().to("cpu", torch.float32).contiguous().numpy().tobytes())
    return digest.hexdigest()[:20]


def picture_keys(images_u8: torch.Tensor) -> list[str]:
    """One content hash per picture (its uint8 pixels and their shape), read a few hundred at a time
    (the pictures may be on disk)."""
    shape = str(tuple(images_u8.shape[1:])).encode()
    keys = []
    for start in range(0, len(images_u8), 256):
        array = images_u8[start:start + 256].cpu().numpy()
        keys += [hashlib.sha1(shape + np.ascontiguousarray(a).tobytes()).hexdigest() for a in array]
    return keys


class EmbeddingCache:
    """The stored vectors of one backbone: an .npz of content hashes and float32 vectors."""

    def __init__(self, key: str, folder: Path | None = None):
        self.path = (folder or cache_folder()) / f"{key}.npz"
        self.vectors: dict[str, np.ndarray] = {}
        self._dirty = False
        try:
            with np.load(self.path) as data:
                self.vectors = dict(zip((str(k) for k in data["keys"]), data["vectors"]))
        except (OSError, ValueError, KeyError):  # none yet, or damaged: computed again
            self.vectors = {}

    def get(self, key: str) -> np.ndarray | None:
        return self.vectors.get(key)

    def put(self, key: str, vector: np.ndarray) -> None:
        self.vectors[key] = vector
        self._dirty = True

    def save(self) -> None:
        if not self._dirty:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        temp = self.path.with_name(f".{self.path.stem}.{os.getpid()}.npz")
        keys = np.array(list(self.vectors), dtype="U40")
        vectors = np.stack(list(self.vectors.values())).astype(np.float32)
        np.savez(temp, keys=keys, vectors=vectors)
        os.replace(temp, self.path)
        self._dirty = False


def embed(backbone: torch.nn.Module, images_u8: torch.Tensor, normalise: Callable[[torch.Tensor], torch.Tensor],
          device: torch.device, cache: EmbeddingCache | None = None,
          progress: Callable[[int, int], None] | None = None) -> tuple[torch.Tensor, int]:
    """(vectors (N, F) float32 on `device`, how many came from the cache) for uint8 pictures."""
    keys = picture_keys(images_u8)
    out: list[np.ndarray | None] = [cache.get(k) if cache else None for k in keys]
    missing = [i for i, v in enumerate(out) if v is None]
    was_training = backbone.training
    backbone.eval()
    try:
        with torch.inference_mode():
            for start in range(0, len(missing), BATCH):
                idx = missing[start:start + BATCH]
                batch = images_u8[idx].to(device)
                vectors = backbone(normalise(batch)).float().cpu().numpy()
                for i, v in zip(idx, vectors):
                    out[i] = v
                    if cache is not None:
                        cache.put(keys[i], v)
                if progress is not None:
                    progress(min(start + BATCH, len(missing)), len(missing))
    finally:
        backbone.train(was_training)
    if cache is not None:
        cache.save()
    if not out:
        return torch.zeros(0, 0, device=device), 0
    filled = cast("list[np.ndarray]", out)  # every slot holds a vector by now: from the cache or computed above
    return torch.from_numpy(np.stack(filled)).to(device), len(keys) - len(missing)


class FeatureBatches:
    """The trainer's preprocessor for features: vectors pass through (no normalisation, no augmentation)."""

    def normalise(self, x: torch.Tensor) -> torch.Tensor:
        return x.float()

    def augment(self, x: torch.Tensor, aug: object, gen: object) -> torch.Tensor:
        return x.float()


def timed_embed(*args: Any, **kwargs: Any) -> tuple[torch.Tensor, int, float]:
    start = time.perf_counter()
    vectors, hits = embed(*args, **kwargs)
    return vectors, hits, time.perf_counter() - start
