"""Exact and near duplicates, within a split and across train and test (leakage).

Exact: the same decoded pixels (a BLAKE2 digest of each picture's bytes): a file copied under another name.
Near: the same picture re-encoded, resized, brightened or retouched. Candidates are each picture's nearest
neighbours in feature space with a cosine similarity of at least CANDIDATE_COSINE; a pair is kept when
its pixels correlate at least NEAR_CORRELATION (Pearson, over every pixel: blind to brightness and
contrast) and its perceptual hashes differ in at most NEAR_BITS of 64 bits.

The thresholds were read off Fashion-MNIST's 70,000 pictures (benchmarks/doctor_speed.py):
among neighbours, pairs correlating 0.985-0.993 are different garments of one cut (two plain trousers),
pairs above 0.995 are one product photographed twice or retouched. Features alone pair garments of a kind
(cosine >= 0.99 for 24,000 pairs with a hash distance <= 6, nearly all different pictures), the hash alone
pairs plain shapes of one outline.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable
from typing import Any

import numpy as np

from cnnstudio.core.doctor.neighbours import Neighbours
from cnnstudio.core.doctor.phash import distance
from cnnstudio.core.doctor.pool import Pool
from cnnstudio.core.doctor.report import DuplicateGroup

CANDIDATE_COSINE = 0.95
NEAR_CORRELATION = 0.995
NEAR_BITS = 12
PAIR_CHUNK = 4096


def pixel_digests(pool: Pool, cancelled: Callable[[], bool] | None = None) -> list[bytes]:
    """A digest of every picture's decoded pixels."""
    digests: list[bytes] = []
    for _, batch in pool.batches():
        if cancelled is not None and cancelled():
            from cnnstudio.core.doctor.crossval import DoctorCancelled

            raise DoctorCancelled("the data doctor was cancelled")
        rows = batch.numpy().reshape(len(batch), -1)
        digests.extend(hashlib.blake2b(row.tobytes(), digest_size=16).digest() for row in rows)
    return digests


class _Groups:
    """Union-find over picture indices."""

    def __init__(self) -> None:
        self.parent: dict[int, int] = {}

    def find(self, i: int) -> int:
        self.parent.setdefault(i, i)
        while self.parent[i] != i:
            self.parent[i] = self.parent[self.parent[i]]
            i = self.parent[i]
        return i

    def join(self, i: int, j: int) -> None:
        a, b = self.find(i), self.find(j)
        if a != b:
            self.parent[max(a, b)] = min(a, b)

    def groups(self) -> list[list[int]]:
        out: dict[int, list[int]] = {}
        for i in self.parent:
            out.setdefault(self.find(i), []).append(i)
        return [sorted(members) for members in out.values() if len(members) > 1]


def exact_groups(digests: list[bytes]) -> list[list[int]]:
    by_digest: dict[bytes, list[int]] = {}
    for i, d in enumerate(digests):
        by_digest.setdefault(d, []).append(i)
    return [members for members in by_digest.values() if len(members) > 1]


def pixel_correlation(pool: Pool, first: np.ndarray, second: np.ndarray) -> np.ndarray:
    """Pearson correlation of the pixels of pictures first[k] and second[k], for every k."""
    out = np.empty(len(first), dtype=np.float32)
    for start in range(0, len(first), PAIR_CHUNK):
        a = _centred(pool.rows(first[start:start + PAIR_CHUNK]))
        b = _centred(pool.rows(second[start:start + PAIR_CHUNK]))
        out[start:start + len(a)] = (a * b).sum(axis=1)
    return out


def _centred(images: Any) -> np.ndarray:
    x = np.asarray(images[:] if not hasattr(images, "numpy") else images.numpy(), dtype=np.float32)
    x = x.reshape(len(x), -1)
    x = x - x.mean(axis=1, keepdims=True)
    norm: np.ndarray = x / np.linalg.norm(x, axis=1, keepdims=True).clip(min=1e-6)
    return norm


def near_pairs(pool: Pool, neighbours: Neighbours, hashes: np.ndarray) -> Iterable[tuple[int, int]]:
    """(i, j), i < j: neighbours in feature space whose pixels and perceptual hashes nearly agree."""
    rows, cols = np.nonzero(neighbours.similarity >= CANDIDATE_COSINE)
    j = neighbours.index[rows, cols]
    first, second = np.minimum(rows, j), np.maximum(rows, j)
    if not len(first):
        return []
    unique = np.unique(np.stack([first, second], axis=1), axis=0)
    first, second = unique[:, 0], unique[:, 1]
    close = distance(hashes[first], hashes[second]) <= NEAR_BITS
    first, second = first[close], second[close]
    same = pixel_correlation(pool, first, second) >= NEAR_CORRELATION
    return [(int(a), int(b)) for a, b in zip(first[same], second[same])]


def find_duplicates(pool: Pool, digests: list[bytes], neighbours: Neighbours,
                    hashes: np.ndarray) -> list[DuplicateGroup]:
    """Exact groups, then near groups (pictures linked through near pairs, exact copies counted once), those
    that leak from train into test first, then the largest."""
    exact = exact_groups(digests)
    representative = {i: members[0] for members in exact for i in members}
    near = _Groups()
    for i, j in near_pairs(pool, neighbours, hashes):
        a, b = representative.get(i, i), representative.get(j, j)
        if a != b:
            near.join(a, b)
    groups = [DuplicateGroup(tuple(pool.ref(i) for i in members), "exact") for members in exact]
    # A near group lists every exact copy of its members too: the whole family of the picture.
    family = {members[0]: members for members in exact}
    for members in near.groups():
        everyone = sorted({m for rep in members for m in family.get(rep, [rep])})
        groups.append(DuplicateGroup(tuple(pool.ref(i) for i in everyone), "near"))
    groups.sort(key=lambda g: (not g.leakage, g.kind != "exact", -len(g.pictures)))
    return groups
