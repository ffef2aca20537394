"""The data as the model sees it: a 2-D map of the model's penultimate features, one point per picture.

For a checkpoint and a split of a dataset: the input of the model's last linear layer for every picture (an
evenly spaced sample within each class above MAX_PICTURES), reduced to PCA_DIMS dimensions by PCA, then laid
out in 2-D by t-SNE (openTSNE: FFT-accelerated, and it can place new points on a map it made, which UMAP's
numba cannot do reliably in a frozen app). Settings are the field's usual ones (openTSNE's defaults, after
Kobak and Berens, Nat. Commun. 2019): perplexity 30, PCA initialisation, learning rate N/12, 250 iterations
of early exaggeration 12 then 500 plain ones, a fixed seed, so the same model and pictures give the same map.

Maps are cached under paths.cache_dir()/maps, one .npz per (checkpoint file's digest, dataset identity,
sample, settings). A cache entry is checked field by field before it is used; a damaged one is computed
again and replaced (it is the app's own file, never a user's).

Placing new points (the Draw page's live drawing) uses openTSNE's TSNEEmbedding.transform, which needs the
fitted embedding and its neighbour index: these are kept in memory with the map (never written to disk).
A map read from the cache rebuilds them from the reduced features it stores, once, on the first placement.
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from cnnstudio.core.doctor.crossval import DoctorCancelled, Progress, predict_with_features
from cnnstudio.core.errors import CNNStudioError

if TYPE_CHECKING:
    from cnnstudio.core.datasets.base import Dataset
    from cnnstudio.core.inference import Predictor

MAX_PICTURES = 20_000  # above this a split is sampled: t-SNE's time grows with N, and a map of more is a blur
PCA_DIMS = 50  # t-SNE's usual input: PCA keeps the structure and makes the neighbour search fast
PERPLEXITY = 30.0
EARLY_ITERATIONS = 250  # early exaggeration (12): the clusters form
LATE_ITERATIONS = 500  # plain t-SNE: the clusters settle
EXAGGERATION = 12.0
MOMENTUM = 0.8
THREADS = 2  # the machine's cores are shared with training and the GUI
CALLBACK_EVERY = 10  # iterations between progress reports and checks for Cancel (about 0.3 s at 10,000)
# A new point: openTSNE's median placement, refined against the fixed map. 100 iterations, not transform's 250:
# a Fashion-MNIST point moved 0.01 (of a map 150 wide) between 25 and 250, and the live drawing waits on it.
PLACE_ITERATIONS = 100
FORMAT = 1  # the cache's layout and the method's settings: a change makes every older entry a miss
# How much of the whole each stage is, for one progress bar (measured on 10,000 Fashion-MNIST pictures).
_SHARE = {"features": 0.10, "pca": 0.02, "neighbours": 0.08, "layout": 0.80}


class MapCancelled(DoctorCancelled):
    """The user cancelled the map (nothing was written)."""


@dataclass(frozen=True)
class MapTimings:
    """Seconds each stage took (all zero but `load` for a map read from the cache)."""

    features: float = 0.0
    pca: float = 0.0
    neighbours: float = 0.0
    layout: float = 0.0
    load: float = 0.0  # reading and checking the cache entry

    @property
    def total(self) -> float:
        return self.features + self.pca + self.neighbours + self.layout + self.load


class _Fitted:
    """The fitted openTSNE embedding (with its neighbour index), built on demand, shared by placements."""

    def __init__(self, embedding: Any = None) -> None:
        self.embedding = embedding
        self.lock = threading.Lock()  # transform() centres the embedding in place: one placement at a time


@dataclass(frozen=True)
class EmbeddingMap:
    """One point per picture: where t-SNE put it, its label, what the model predicted."""

    xy: np.ndarray  # float32 (N, 2), centred on the origin
    labels: np.ndarray  # int64 (N,): the given label of each picture
    predictions: np.ndarray  # int64 (N,): the model's most likely class
    indices: np.ndarray  # int64 (N,): each point's picture number in `split`
    split: str  # "test" or "train"
    classes: tuple[str, ...]
    total: int  # pictures in the split; len(indices) < total when sampled
    sample: str  # in words: "all 10,000 test pictures" or "20,000 of 60,000 training pictures, ..."
    key: str  # the cache key (checkpoint, dataset, sample, settings)
    seed: int
    reduced: np.ndarray  # float32 (N, PCA_DIMS): the t-SNE input, kept to place new points
    pca_mean: np.ndarray  # float32 (D,)
    pca_components: np.ndarray  # float32 (PCA_DIMS, D): features -> reduced
    from_cache: bool = False
    timings: MapTimings = MapTimings()
    _fitted: _Fitted = field(default_factory=_Fitted, compare=False, repr=False)

    def __len__(self) -> int:
        return int(len(self.indices))

    @property
    def correct(self) -> np.ndarray:
        """bool (N,): the prediction is the given label."""
        return np.asarray(self.predictions == self.labels)

    @property
    def sampled(self) -> bool:
        return len(self) < self.total

    def reduce(self, features: np.ndarray) -> np.ndarray:
        """Penultimate features (M, D) -> the map's PCA space (M, PCA_DIMS)."""
        return np.asarray((features - self.pca_mean) @ self.pca_components.T, dtype=np.float64)


@dataclass(frozen=True)
class PlacedPoints:
    """New pictures placed on an existing map (the Draw page's live drawing)."""

    xy: np.ndarray  # float32 (M, 2), in the map's coordinates
    predictions: np.ndarray  # int64 (M,)
    probabilities: np.ndarray  # float32 (M, K)


# ------------------------------------------------------------------------------------------------------
# The map


def compute_map(checkpoint: str | os.PathLike[str], dataset: Dataset, *, predictor: Predictor | None = None,
                split: str = "test", limit: int = MAX_PICTURES, seed: int = 0, progress: Progress | None = None,
                cancelled: Callable[[], bool] | None = None, use_cache: bool = True) -> EmbeddingMap:
    """The map of `split` of `dataset` as the checkpoint's model sees it, from the cache when it holds it.

    predictor: the checkpoint already loaded (the app's current model), else it is loaded here. progress is
    called as progress(done, 1.0, what); cancelled() True stops the work at its next check (MapCancelled).
    """
    from cnnstudio.core.inference import Predictor

    if split not in ("train", "test"):
        raise ValueError(f"split must be 'train' or 'test', not {split!r}")
    images = dataset.train_images if split == "train" else dataset.test_images
    labels = (dataset.train_labels if split == "train" else dataset.test_labels).numpy().astype(np.int64)
    picked = stratified_sample(labels, limit)
    key = map_key(checkpoint, dataset, split, picked, seed)
    path = cache_path(key)
    if use_cache:
        start = time.perf_counter()
        cached = read_cached(path, key, len(labels), len(dataset.classes))
        if cached is not None:
            return replace(cached, timings=MapTimings(load=time.perf_counter() - start))
    predictor = predictor or Predictor(str(checkpoint))
    if list(predictor.classes) != list(dataset.classes):
        raise CNNStudioError("the model's classes are not the dataset's: load the dataset it was trained on")
    emap = _compute(predictor, _Rows(images, picked), labels[picked], picked, split, len(labels), dataset.classes,
                    key, seed, progress, cancelled)
    if use_cache:
        write_cached(path, emap)
    return emap


def stratified_sample(labels: np.ndarray, limit: int = MAX_PICTURES) -> np.ndarray:
    """Every picture's index when there are at most `limit`; else `limit` of them, each class's share of the
    split kept (largest remainders) and each class's pictures taken evenly spaced, in index order."""
    n = len(labels)
    if n <= limit:
        return np.arange(n, dtype=np.int64)
    classes, counts = np.unique(labels, return_counts=True)
    exact = counts * (limit / n)
    take = np.floor(exact).astype(np.int64)
    for i in np.argsort(-(exact - take), kind="stable")[:limit - int(take.sum())]:
        take[i] += 1
    picked = []
    for k, count, m in zip(classes, counts, take):
        members = np.flatnonzero(labels == k)
        picked.append(members[np.linspace(0, count - 1, int(m)).round().astype(np.int64)] if m else members[:0])
    return np.sort(np.concatenate(picked)).astype(np.int64)


def describe_sample(picked: int, total: int, split: str) -> str:
    words = "test" if split == "test" else "training"
    if picked >= total:
        return f"all {total:,} {words} pictures"
    return f"{picked:,} of {total:,} {words} pictures, evenly spaced within each class"


class _Rows:
    """The picked rows of a split, read a batch at a time (a copy of 20,000 large pictures would not fit)."""

    def __init__(self, images: Any, picked: np.ndarray) -> None:
        self.images, self.picked = images, picked
        self.whole = len(picked) == len(images)

    def __len__(self) -> int:
        return len(self.picked)

    def __getitem__(self, key: slice) -> Any:
        import torch

        if self.whole:
            return self.images[key]
        return self.images[torch.from_numpy(self.picked[key])]


def _compute(predictor: Predictor, images: _Rows, labels: np.ndarray, picked: np.ndarray, split: str, total: int,
             classes: list[str], key: str, seed: int, progress: Progress | None,
             cancelled: Callable[[], bool] | None) -> EmbeddingMap:
    from openTSNE import TSNE
    from openTSNE.tsne import OptimizationInterrupt

    def report(stage: str, within: float, what: str) -> None:
        if progress is not None:
            done = sum(_SHARE[s] for s in list(_SHARE)[:list(_SHARE).index(stage)])
            progress(min(1.0, done + _SHARE[stage] * within), 1.0, what)

    def check() -> None:
        if cancelled is not None and cancelled():
            raise MapCancelled("the embedding map was cancelled")

    n = len(labels)
    if n < 4:
        words = "test" if split == "test" else "training"
        raise CNNStudioError(f"a map needs at least 4 pictures; the {words} set has {n}")
    clock = time.perf_counter()
    report("features", 0.0, f"reading the model's features of {n:,} pictures")
    try:
        probs, features = predict_with_features(predictor, images, want_features=True, batch_size=256,
                                                cancelled=cancelled)
    except DoctorCancelled as exc:
        raise MapCancelled("the embedding map was cancelled") from exc
    t_features = time.perf_counter() - clock
    check()
    clock = time.perf_counter()
    report("pca", 0.0, "reducing the features to 50 dimensions (PCA)")
    mean, components = _pca(features, seed)
    reduced = ((features - mean) @ components.T).astype(np.float64)
    t_pca = time.perf_counter() - clock
    check()

    clock = time.perf_counter()
    report("neighbours", 0.0, "finding each picture's nearest neighbours")
    iterations = EARLY_ITERATIONS + LATE_ITERATIONS
    done = [0]

    def callback(iteration: int, _error: float, _embedding: Any) -> bool:
        report("layout", (done[0] + iteration) / iterations,
               f"laying out the map (t-SNE, iteration {done[0] + iteration} of {iterations})")
        return cancelled is not None and cancelled()

    tsne = TSNE(n_components=2, perplexity=min(PERPLEXITY, (n - 1) / 3), initialization="pca", n_jobs=THREADS,
                random_state=seed, callbacks=[callback], callbacks_every_iters=CALLBACK_EVERY, verbose=False)
    embedding = tsne.prepare_initial(reduced)
    t_neighbours = time.perf_counter() - clock
    check()
    clock = time.perf_counter()
    try:
        embedding.optimize(n_iter=EARLY_ITERATIONS, exaggeration=EXAGGERATION, momentum=MOMENTUM, inplace=True,
                           propagate_exception=True)
        done[0] = EARLY_ITERATIONS
        embedding.optimize(n_iter=LATE_ITERATIONS, momentum=MOMENTUM, inplace=True, propagate_exception=True)
    except OptimizationInterrupt as exc:
        raise MapCancelled("the embedding map was cancelled") from exc
    # Centred as transform() would centre it in place: the map and the points placed later share one frame.
    embedding -= (np.max(embedding, axis=0) + np.min(embedding, axis=0)) / 2
    t_layout = time.perf_counter() - clock
    report("layout", 1.0, "done")
    return EmbeddingMap(
        xy=np.asarray(embedding, dtype=np.float32).copy(), labels=labels.astype(np.int64),
        predictions=probs.argmax(axis=1).astype(np.int64), indices=picked.astype(np.int64), split=split,
        classes=tuple(classes), total=total, sample=describe_sample(n, total, split), key=key, seed=seed,
        reduced=reduced.astype(np.float32), pca_mean=mean.astype(np.float32),
        pca_components=components.astype(np.float32),
        timings=MapTimings(t_features, t_pca, t_neighbours, t_layout), _fitted=_Fitted(_for_placing(embedding)))


def _pca(features: np.ndarray, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(mean (D,), components (d, D)) of the features; d = PCA_DIMS, or fewer when there are fewer."""
    from sklearn.decomposition import PCA

    dims = min(PCA_DIMS, features.shape[1], features.shape[0])
    pca = PCA(n_components=dims, random_state=seed).fit(features.astype(np.float64))
    return pca.mean_.astype(np.float64), pca.components_.astype(np.float64)


# ------------------------------------------------------------------------------------------------------
# New points on an existing map


def place_features(emap: EmbeddingMap, features: np.ndarray, iterations: int = PLACE_ITERATIONS) -> np.ndarray:
    """Where (M, D) penultimate features land on the map: float32 (M, 2).

    openTSNE's transform: each new point starts at the median of its 25 nearest map points (in the reduced
    space) and is optimised against the map, which stays fixed (Policar et al., openTSNE, 2019).
    """
    reduced = emap.reduce(np.asarray(features, dtype=np.float64).reshape(len(features), -1))
    fitted = emap._fitted
    with fitted.lock:
        if fitted.embedding is None:
            fitted.embedding = _rebuild(emap)
        placed = fitted.embedding.transform(reduced, n_iter=iterations)
    return np.asarray(placed, dtype=np.float32)


def place_pixels(emap: EmbeddingMap, predictor: Predictor, pixels: np.ndarray) -> PlacedPoints:
    """Prepared uint8 pictures (C, H, W) or (M, C, H, W) placed on the map, with the model's predictions."""
    import torch

    batch = np.ascontiguousarray(pixels if pixels.ndim == 4 else pixels[None])
    probs, features = predict_with_features(predictor, torch.from_numpy(batch), want_features=True)
    return PlacedPoints(place_features(emap, features), probs.argmax(axis=1).astype(np.int64), probs)


def _rebuild(emap: EmbeddingMap) -> Any:
    """The fitted embedding of a map read from the cache: its points, and the neighbour index of its
    reduced features, as compute_map left them (same perplexity, same seed)."""
    from openTSNE import TSNEEmbedding, affinity

    n = len(emap)
    affinities = affinity.PerplexityBasedNN(emap.reduced.astype(np.float64), perplexity=min(PERPLEXITY, (n - 1) / 3),
                                            n_jobs=THREADS, random_state=emap.seed, verbose=False)
    return _for_placing(TSNEEmbedding(emap.xy.astype(np.float64), affinities, n_jobs=THREADS, random_state=emap.seed))


def _for_placing(embedding: Any) -> Any:
    """New points' gradients by interpolation on the map's grid (prepared once, then about 0.2 ms an iteration):
    openTSNE would choose Barnes-Hut for a handful of new points, which rebuilds a tree of the whole map at
    every iteration (35 ms each at 10,000 points: 3.5 s to place one drawing instead of 60 ms). And without the
    map's progress callback, which transform() would otherwise call with the placement's iterations."""
    embedding.gradient_descent_params["negative_gradient_method"] = "fft"
    embedding.gradient_descent_params["callbacks"] = None
    return embedding


# ------------------------------------------------------------------------------------------------------
# The cache


def cache_path(key: str) -> Path:
    from cnnstudio.core import paths

    return paths.cache_dir() / "maps" / f"{key[:40]}.npz"


def map_key(checkpoint: str | os.PathLike[str], dataset: Dataset, split: str, picked: np.ndarray, seed: int) -> str:
    """What a map depends on, as one digest: the checkpoint file's bytes, the dataset (name, place, classes,
    the split's labels and size, its exclusions, the pixels of up to 256 of the picked pictures), the sample
    and the settings. A relabel, an exclusion or a retrained model is another map."""
    digest = hashlib.sha256()
    with open(checkpoint, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    images = dataset.train_images if split == "train" else dataset.test_images
    labels = dataset.train_labels if split == "train" else dataset.test_labels
    probe = picked[np.linspace(0, len(picked) - 1, min(256, len(picked))).round().astype(np.int64)]
    import torch

    pixels = np.ascontiguousarray(images[torch.from_numpy(probe)].numpy()) if len(probe) else np.zeros(0, np.uint8)
    described = {"format": FORMAT, "checkpoint": digest.hexdigest(), "name": dataset.name, "source": dataset.source,
                 "classes": list(dataset.classes), "split": split, "total": len(labels), "seed": seed,
                 "shape": list(dataset.input_shape), "perplexity": PERPLEXITY, "dims": PCA_DIMS,
                 "iterations": [EARLY_ITERATIONS, LATE_ITERATIONS]}
    key = hashlib.sha256(json.dumps(described, sort_keys=True).encode())
    key.update(np.ascontiguousarray(labels.numpy(), dtype=np.int64).tobytes())
    key.update(np.ascontiguousarray(picked, dtype=np.int64).tobytes())
    key.update(pixels.tobytes())
    if dataset.origin is not None:
        key.update(np.ascontiguousarray(dataset.origin, dtype=np.int64).tobytes())
    return key.hexdigest()


_ARRAYS = ("xy", "labels", "predictions", "indices", "reduced", "pca_mean", "pca_components")


def write_cached(path: Path, emap: EmbeddingMap) -> None:
    """Write the map's entry (beside it first, then moved into place: a reader never sees half a file). A
    cache that cannot be written (a read-only disk) costs only the time of computing the map again."""
    meta = {"format": FORMAT, "key": emap.key, "split": emap.split, "classes": list(emap.classes),
            "total": emap.total, "sample": emap.sample, "seed": emap.seed}
    temp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(temp, "wb") as f:
            np.savez(f, meta=np.array(json.dumps(meta)), **{name: getattr(emap, name) for name in _ARRAYS})
        os.replace(temp, path)
    except OSError:
        temp.unlink(missing_ok=True)


def read_cached(path: Path, key: str, total: int, num_classes: int) -> EmbeddingMap | None:
    """The cached map, or None when there is none or it is damaged in any way (then it is computed again)."""
    try:
        with np.load(path, allow_pickle=False) as data:
            meta = json.loads(str(data["meta"][()]))
            arrays = {name: np.array(data[name]) for name in _ARRAYS}
    except FileNotFoundError:
        return None
    except Exception:  # noqa: BLE001 - a damaged entry (truncated zip, wrong types, bad JSON): recomputed
        return None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT or meta.get("key") != key:
        return None
    try:
        emap = EmbeddingMap(
            xy=arrays["xy"].astype(np.float32), labels=arrays["labels"].astype(np.int64),
            predictions=arrays["predictions"].astype(np.int64), indices=arrays["indices"].astype(np.int64),
            split=str(meta["split"]), classes=tuple(str(c) for c in meta["classes"]), total=int(meta["total"]),
            sample=str(meta["sample"]), key=key, seed=int(meta["seed"]), reduced=arrays["reduced"].astype(np.float32),
            pca_mean=arrays["pca_mean"].astype(np.float32), pca_components=arrays["pca_components"].astype(np.float32),
            from_cache=True)
    except (KeyError, TypeError, ValueError):
        return None
    return emap if _consistent(emap, arrays, total, num_classes) else None


def _consistent(emap: EmbeddingMap, arrays: dict[str, np.ndarray], total: int, num_classes: int) -> bool:
    n = len(emap.indices)
    kinds_ok = all(arrays[name].dtype.kind in "fiu" for name in _ARRAYS)
    shapes_ok = (emap.xy.shape == (n, 2) and emap.labels.shape == (n,) and emap.predictions.shape == (n,)
                 and emap.reduced.ndim == 2 and emap.reduced.shape[0] == n and emap.pca_mean.ndim == 1
                 and emap.pca_components.shape == (emap.reduced.shape[1], emap.pca_mean.shape[0]))
    if not (kinds_ok and shapes_ok and n >= 4 and emap.total == total and len(emap.classes) == num_classes):
        return False
    in_range = (emap.indices.min() >= 0 and emap.indices.max() < total and len(np.unique(emap.indices)) == n
                and emap.labels.min() >= 0 and emap.labels.max() < num_classes
                and emap.predictions.min() >= 0 and emap.predictions.max() < num_classes)
    finite = all(np.isfinite(a).all() for a in (emap.xy, emap.reduced, emap.pca_mean, emap.pca_components))
    return bool(in_range and finite)

