"""Perceptual hashes: 64 bits that stay the same when a picture is re-encoded, resized or slightly edited.

The pHash of Zauner (2010), as the imagehash package computes it: the picture in grayscale at 32x32, its
2-D DCT (scipy's), the 8x8 lowest frequencies, each bit set where the coefficient is above their median.
Written here on the decoded pictures, a batch at a time, rather than adding imagehash and PyWavelets to the
installers for these few lines: the same bits (tests/test_doctor.py), 1.5x as fast as the recipe applied
one picture at a time (benchmarks/doctor_speed.py).
"""

from __future__ import annotations

import numpy as np

SIDE = 32
LOW = 8


def gray32(images_u8: np.ndarray) -> np.ndarray:
    """uint8 (B, C, H, W) -> float (B, 32, 32) grayscale, resized with PIL's antialiasing filter."""
    from PIL import Image

    b, c = images_u8.shape[:2]
    out = np.empty((b, SIDE, SIDE), dtype=np.float64)
    for i in range(b):
        arr = images_u8[i]
        img = Image.fromarray(arr[0]) if c == 1 else Image.fromarray(np.moveaxis(arr, 0, -1)).convert("L")
        out[i] = np.asarray(img.resize((SIDE, SIDE), Image.Resampling.LANCZOS), dtype=np.float64)
    return out


def phash(images_u8: np.ndarray) -> np.ndarray:
    """uint64 (B,) perceptual hashes of uint8 (B, C, H, W) pictures."""
    from scipy.fft import dct as dct_ii

    pixels = gray32(images_u8)
    dct = dct_ii(dct_ii(pixels, axis=1), axis=2)  # unnormalised DCT-II, as imagehash's scipy.fftpack.dct
    low = dct[:, :LOW, :LOW].reshape(len(pixels), -1)
    bits = low > np.median(low, axis=1, keepdims=True)
    weights = (1 << np.arange(LOW * LOW - 1, -1, -1, dtype=np.uint64)).astype(np.uint64)
    hashes: np.ndarray = (bits.astype(np.uint64) * weights).sum(axis=1, dtype=np.uint64)
    return hashes


def distance(a: np.ndarray | int, b: np.ndarray | int) -> np.ndarray:
    """Hamming distance between hashes (element-wise)."""
    return np.bitwise_count(np.bitwise_xor(np.asarray(a, dtype=np.uint64), np.asarray(b, dtype=np.uint64)))
