"""Exact and near duplicates, within a split and across train and test (leakage).

Exact: the same decoded pixels (a BLAKE2 digest of each picture's bytes): a file copied under another name.
Near: two pictures whose features are nearly parallel (cosine similarity at least NEAR_COSINE, among
each other's nearest neighbours) and whose perceptual hashes differ in at most NEAR_BITS of 64 bits: the
same picture re-encoded, resized, brightened or cropped a little. Both signals must agree: the hash alone
pairs different plain garments of the same outline, the features alone pair two photos of one scene.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable

import numpy as np

from cnnstudio.core.doctor.neighbours import Neighbours
from cnnstudio.core.doctor.phash import distance
from cnnstudio.core.doctor.pool import Pool
from cnnstudio.core.doctor.report import DuplicateGroup

NEAR_COSINE = 0.97
NEAR_BITS = 6


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


def near_pairs(neighbours: Neighbours, hashes: np.ndarray, min_cosine: float = NEAR_COSINE,
               max_bits: int = NEAR_BITS) -> Iterable[tuple[int, int]]:
    """(i, j), i < j: neighbours close in features and in perceptual hash."""
    rows, cols = np.nonzero(neighbours.similarity >= min_cosine)
    if not len(rows):
        return []
    j = neighbours.index[rows, cols]
    close = distance(hashes[rows], hashes[j]) <= max_bits
    pairs = {(int(min(a, b)), int(max(a, b))) for a, b in zip(rows[close], j[close])}
    return sorted(pairs)


def find_duplicates(pool: Pool, digests: list[bytes], neighbours: Neighbours,
                    hashes: np.ndarray) -> list[DuplicateGroup]:
    """Exact groups, then near groups (pictures linked through near pairs, exact copies counted once), those
    that leak from train into test first, then the largest."""
    exact = exact_groups(digests)
    representative = {i: members[0] for members in exact for i in members}
    near = _Groups()
    for i, j in near_pairs(neighbours, hashes):
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
