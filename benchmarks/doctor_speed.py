"""Issue 32: the data doctor's comparisons, timed against the usual library calls, and the duplicates it
finds in Fashion-MNIST.

- perceptual hashes: phash.py's batches against imagehash's recipe one picture at a time (PIL resize,
  scipy.fftpack's DCT per picture);
- nearest neighbours: neighbours.py (PCA to 64, chunked matrix products with torch) against scikit-learn's
  NearestNeighbors(metric="cosine"), what cleanlab's OutOfDistribution builds, on the same features;
- Fashion-MNIST's 70,000 pictures: exact and near duplicate groups, those across train and test, with a
  checkpoint's features (--checkpoint; any model trained on Fashion-MNIST).

    python benchmarks/doctor_speed.py --checkpoint RUN/best.pt [--pictures 20000]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def cpu() -> str:
    for line in open("/proc/cpuinfo"):
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return "unknown"


def timed(fn):
    start = time.perf_counter()
    value = fn()
    return value, time.perf_counter() - start


def imagehash_recipe(images: np.ndarray) -> list[int]:
    import scipy.fftpack
    from PIL import Image

    out = []
    for img in images:
        pil = Image.fromarray(img[0]).convert("L").resize((32, 32), Image.Resampling.LANCZOS)
        dct = scipy.fftpack.dct(scipy.fftpack.dct(np.asarray(pil, dtype=np.float64), axis=0), axis=1)
        low = dct[:8, :8]
        out.append(int("".join("1" if b else "0" for b in (low > np.median(low)).flatten()), 2))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoint", required=True)
    parser.add_argument("--pictures", type=int, default=20000, help="pictures for the sklearn comparison")
    args = parser.parse_args()
    import torch
    from sklearn.neighbors import NearestNeighbors

    from cnnstudio.core.datasets import load_dataset
    from cnnstudio.core.doctor.crossval import predict_with_features
    from cnnstudio.core.doctor.duplicates import find_duplicates, pixel_digests
    from cnnstudio.core.doctor.neighbours import nearest, reduce
    from cnnstudio.core.doctor.phash import phash
    from cnnstudio.core.doctor.pool import Pool
    from cnnstudio.core.inference import Predictor

    print(f"CPU: {cpu()}, {torch.get_num_threads()} torch threads")
    data = load_dataset("fashion-mnist")
    pool = Pool.of(data)
    sample = pool.images[:10000].numpy()
    ours, t_ours = timed(lambda: phash(sample))
    theirs, t_theirs = timed(lambda: imagehash_recipe(sample))
    assert [int(h) for h in ours] == theirs
    print(f"perceptual hash of 10,000 pictures: {t_ours:.2f} s in batches, {t_theirs:.2f} s one at a time "
          f"(ratio {t_theirs / t_ours:.1f}x), identical hashes")
    (_, features), t_feat = timed(lambda: predict_with_features(Predictor(args.checkpoint), pool.images,
                                                                want_features=True))
    print(f"features of {len(pool):,} pictures: {features.shape[1]} each, {t_feat:.1f} s")
    n = args.pictures
    neighbours, t_nn = timed(lambda: nearest(features[:n], 10))
    reduced = reduce(features[:n])

    def sklearn_knn():
        return NearestNeighbors(n_neighbors=11, metric="cosine").fit(reduced).kneighbors(reduced)

    (dist, idx), t_sk = timed(sklearn_knn)
    agree = np.mean([len(set(a) & set(b[1:])) / 10 for a, b in zip(neighbours.index, idx)])
    print(f"10 nearest neighbours of {n:,} pictures: {t_nn:.1f} s here (PCA included), {t_sk:.1f} s with "
          f"scikit-learn on the same 64 components (ratio {t_sk / t_nn:.1f}x); the same neighbours for "
          f"{agree:.1%}")
    all_nb, t_all = timed(lambda: nearest(features, 10))
    hashes, t_hash = timed(lambda: np.concatenate([phash(b.numpy()) for _, b in pool.batches()]))
    digests, t_dig = timed(lambda: pixel_digests(pool))
    groups, t_dup = timed(lambda: find_duplicates(pool, digests, all_nb, hashes))
    exact = [g for g in groups if g.kind == "exact"]
    near = [g for g in groups if g.kind == "near"]
    print(f"Fashion-MNIST, {len(pool):,} pictures: {len(exact)} exact groups ({sum(len(g.pictures) for g in exact)} "
          f"pictures), {len(near)} near groups ({sum(len(g.pictures) for g in near)} pictures), "
          f"{sum(1 for g in groups if g.leakage)} groups across train and test; neighbours {t_all:.1f} s, "
          f"hashes {t_hash:.1f} s, digests {t_dig:.1f} s, grouping {t_dup:.1f} s")


if __name__ == "__main__":
    main()
