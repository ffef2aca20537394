"""The embedding map's core (cnnstudio/core/inspection/embedding_map.py): the map of a small test split, its
determinism, its cache (a hit, a damaged entry), its sample, Cancel, and new points placed on it."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from cnnstudio.core.inspection import embedding_map as M

N = 300


@pytest.fixture(scope="module")
def small(tiny_shapes_run):
    """(checkpoint, shapes with 300 test pictures, its Predictor): a one-epoch tiny model."""
    from cnnstudio.core.datasets import load_dataset
    from cnnstudio.core.inference import Predictor

    data = load_dataset("shapes")
    data = replace(data, test_images=data.test_images[:N].clone(), test_labels=data.test_labels[:N].clone())
    checkpoint = tiny_shapes_run / "best.pt"
    return checkpoint, data, Predictor(str(checkpoint))


def test_a_map_has_one_point_per_picture_with_its_label_and_prediction(small):
    checkpoint, data, predictor = small
    seen: list[tuple[float, float, str]] = []
    emap = M.compute_map(checkpoint, data, predictor=predictor, use_cache=False,
                         progress=lambda done, total, what: seen.append((done, total, what)))
    assert emap.xy.shape == (N, 2) and emap.xy.dtype == np.float32 and np.isfinite(emap.xy).all()
    assert np.array_equal(emap.indices, np.arange(N)) and emap.split == "test" and not emap.sampled
    assert np.array_equal(emap.labels, data.test_labels.numpy())
    probs = predictor.probabilities(data.test_images.numpy())
    assert np.array_equal(emap.predictions, probs.argmax(axis=1))
    assert np.array_equal(emap.correct, emap.predictions == emap.labels)
    assert emap.classes == tuple(data.classes) and emap.sample == "all 300 test pictures"
    assert emap.reduced.shape[0] == N and emap.pca_components.shape[0] == emap.reduced.shape[1]
    assert [d for d, _, _ in seen] == sorted(d for d, _, _ in seen) and seen[-1][0] == pytest.approx(1.0)
    assert any("t-SNE" in what for _, _, what in seen)
    # The layout groups what the model groups: a point's nearest neighbour shares its prediction far more often
    # than two points taken at random do (a weak one-epoch model: 66 % against 15 %).
    d = ((emap.xy[:, None, :] - emap.xy[None, :, :]) ** 2).sum(-1)
    np.fill_diagonal(d, np.inf)
    nearest = d.argmin(axis=1)
    chance = float(((np.bincount(emap.predictions) / N) ** 2).sum())
    assert (emap.predictions[nearest] == emap.predictions).mean() > chance + 0.3


def test_the_same_seed_gives_the_same_map(small):
    checkpoint, data, predictor = small
    a = M.compute_map(checkpoint, data, predictor=predictor, use_cache=False, seed=3)
    b = M.compute_map(checkpoint, data, predictor=predictor, use_cache=False, seed=3)
    c = M.compute_map(checkpoint, data, predictor=predictor, use_cache=False, seed=4)
    assert np.array_equal(a.xy, b.xy)
    assert not np.allclose(a.xy, c.xy)


def test_a_second_map_comes_from_the_cache_with_identical_coordinates(small, monkeypatch):
    checkpoint, data, predictor = small
    first = M.compute_map(checkpoint, data, predictor=predictor)
    assert not first.from_cache and M.cache_path(first.key).is_file()
    assert M.cache_path(first.key).parent.name == "maps"

    def never(*_args, **_kwargs):
        raise AssertionError("computed again although the cache holds the map")

    monkeypatch.setattr(M, "_compute", never)
    again = M.compute_map(checkpoint, data, predictor=predictor)
    assert again.from_cache and again.key == first.key
    for name in ("xy", "labels", "predictions", "indices", "reduced", "pca_mean", "pca_components"):
        assert np.array_equal(getattr(again, name), getattr(first, name)), name
    assert again.timings.layout == 0 and again.timings.load > 0


def test_another_model_or_relabelled_pictures_are_another_map(small, tmp_path):
    checkpoint, data, _ = small
    picked = np.arange(N)
    key = M.map_key(checkpoint, data, "test", picked, 0)
    labels = data.test_labels.clone()
    labels[0] = (labels[0] + 1) % len(data.classes)
    assert M.map_key(checkpoint, replace(data, test_labels=labels), "test", picked, 0) != key
    other = tmp_path / "other.pt"
    other.write_bytes(checkpoint.read_bytes() + b"\0")
    assert M.map_key(other, data, "test", picked, 0) != key
    assert M.map_key(checkpoint, data, "test", picked, 1) != key


@pytest.mark.parametrize("damage", ["truncated", "garbage", "not finite", "index out of range", "wrong key"])
def test_a_damaged_cache_entry_is_computed_again(small, damage):
    checkpoint, data, predictor = small
    first = M.compute_map(checkpoint, data, predictor=predictor)
    path = M.cache_path(first.key)
    if damage == "truncated":
        path.write_bytes(path.read_bytes()[:len(path.read_bytes()) // 2])
    elif damage == "garbage":
        path.write_bytes(b"not a numpy file at all")
    else:
        with np.load(path, allow_pickle=False) as stored:
            arrays = {name: np.array(stored[name]) for name in stored.files}
        if damage == "not finite":
            arrays["xy"][5, 0] = np.nan
        elif damage == "index out of range":
            arrays["indices"][7] = N + 40
        else:
            arrays["meta"] = np.array(str(arrays["meta"][()]).replace(first.key, "0" * 64))
        with open(path, "wb") as f:
            np.savez(f, **arrays)
    assert M.read_cached(path, first.key, N, len(data.classes)) is None
    again = M.compute_map(checkpoint, data, predictor=predictor)
    assert not again.from_cache
    assert np.array_equal(again.xy, first.xy)
    assert M.read_cached(path, first.key, N, len(data.classes)) is not None  # the entry was written again


def test_a_large_split_is_sampled_evenly_within_each_class():
    labels = np.repeat(np.arange(4), [500, 300, 150, 50])[np.random.default_rng(0).permutation(1000)]
    picked = M.stratified_sample(labels, 100)
    assert len(picked) == 100 and len(np.unique(picked)) == 100 and np.array_equal(picked, np.sort(picked))
    assert np.bincount(labels[picked], minlength=4).tolist() == [50, 30, 15, 5]
    members = np.flatnonzero(labels == 0)
    chosen = np.searchsorted(members, picked[labels[picked] == 0])
    assert chosen[0] == 0 and chosen[-1] == len(members) - 1 and np.ptp(np.diff(chosen)) <= 1  # evenly spaced
    assert np.array_equal(M.stratified_sample(labels, 1000), np.arange(1000))


def test_the_map_says_when_it_is_a_sample(small):
    checkpoint, data, predictor = small
    emap = M.compute_map(checkpoint, data, predictor=predictor, limit=120, use_cache=False)
    assert len(emap) == 120 and emap.sampled and emap.total == N
    assert emap.sample == "120 of 300 test pictures, evenly spaced within each class"
    assert np.array_equal(emap.labels, data.test_labels.numpy()[emap.indices])


def test_cancel_stops_the_map_and_writes_nothing(small):
    checkpoint, data, predictor = small
    calls = [0]

    def cancelled() -> bool:
        calls[0] += 1
        return calls[0] > 8  # 5 checks before t-SNE starts (features, PCA, neighbours): then its callback's

    with pytest.raises(M.MapCancelled):
        M.compute_map(checkpoint, data, predictor=predictor, cancelled=cancelled)
    assert not M.cache_path(M.map_key(checkpoint, data, "test", np.arange(N), 0)).exists()


@pytest.mark.parametrize("cached", [False, True])
def test_a_copy_of_a_mapped_picture_lands_next_to_it(small, cached):
    """openTSNE's transform on the copy's features; a map read from the cache rebuilds its index for it."""
    checkpoint, data, predictor = small
    emap = M.compute_map(checkpoint, data, predictor=predictor)
    if cached:
        emap = M.compute_map(checkpoint, data, predictor=predictor)
        assert emap.from_cache and emap._fitted.embedding is None
    rows = [3, 50, 120, 299]
    placed = M.place_pixels(emap, predictor, data.test_images[emap.indices[rows]].numpy())
    assert placed.xy.shape == (len(rows), 2)
    assert np.array_equal(placed.predictions, emap.predictions[rows])
    # A copy goes where its feature-space neighbours are (perplexity 5): next to the picture itself, unless
    # t-SNE put that picture away from its own neighbours; then still in its region of the map.
    extent = float(np.ptp(emap.xy, axis=0).max())
    nearer = []
    for row, xy in zip(rows, placed.xy):
        own = float(np.linalg.norm(xy - emap.xy[row]))
        assert own < 0.2 * extent, (row, own, extent)
        nearer.append(int((np.linalg.norm(emap.xy - emap.xy[row], axis=1) < own).sum()) - 1)
    assert sorted(nearer)[-2] < 0.03 * N, nearer  # all but one copy: fewer than 3 % of the points nearer
    one = M.place_pixels(emap, predictor, data.test_images[int(emap.indices[3])].numpy())  # one (C, H, W) picture
    assert one.xy.shape == (1, 2)


def test_placing_a_point_reports_no_progress_and_ignores_the_maps_cancel(small):
    """The fitted embedding keeps the map's callbacks: a placement must not report the map's progress, nor
    be stopped by the map's Cancel (the app's map is long finished when the drawing changes)."""
    checkpoint, data, predictor = small
    seen: list[str] = []
    emap = M.compute_map(checkpoint, data, predictor=predictor, use_cache=False,
                         progress=lambda done, total, what: seen.append(what), cancelled=lambda: len(seen) > 10**6)
    count = len(seen)
    seen.extend(["x"] * 10**6)  # from now on the map's cancelled() says True
    placed = M.place_pixels(emap, predictor, data.test_images[int(emap.indices[9])].numpy())
    assert len(seen) == count + 10**6
    assert np.linalg.norm(placed.xy[0] - emap.xy[9]) < 0.2 * float(np.ptp(emap.xy, axis=0).max())


def test_too_few_pictures_or_another_models_classes_say_so_in_one_line(small):
    from cnnstudio.core.errors import CNNStudioError

    checkpoint, data, predictor = small
    tiny = replace(data, test_images=data.test_images[:3], test_labels=data.test_labels[:3])
    with pytest.raises(CNNStudioError, match="at least 4 pictures"):
        M.compute_map(checkpoint, tiny, predictor=predictor, use_cache=False)
    renamed = replace(data, classes=[f"other {c}" for c in data.classes])
    with pytest.raises(CNNStudioError, match="classes"):
        M.compute_map(checkpoint, renamed, predictor=predictor, use_cache=False)
