"""QImage <-> numpy without surprises.

QImage rows are padded to a multiple of 4 bytes (a 27-pixel-wide gray image has 28 bytes per line), so
reading its buffer as one flat (H, W) block skews every row after the first. These helpers always go
through bytesPerLine. In the other direction a QImage built on a numpy buffer does not copy it: the
array must stay alive as long as the image, which numpy_to_qimage guarantees by keeping a reference on
the returned QImage (an attribute). Copies made with QImage.copy() own their pixels and need nothing.
"""

from __future__ import annotations

import numpy as np
from PySide6.QtGui import QImage

_Format = QImage.Format


def _rows(image: QImage, channels: int) -> np.ndarray:
    """A copy of the pixels of an image already in an 8-bit-per-channel format, (H, W, channels)."""
    h, w, bpl = image.height(), image.width(), image.bytesPerLine()
    buffer = np.frombuffer(image.constBits(), dtype=np.uint8, count=bpl * h)
    return buffer.reshape(h, bpl)[:, :w * channels].reshape(h, w, channels).copy()


def qimage_to_gray(image: QImage) -> np.ndarray:
    """uint8 (H, W) luminance (Qt's formula, as in qGray) of any QImage."""
    if image.isNull():
        return np.zeros((0, 0), dtype=np.uint8)
    if image.format() != _Format.Format_Grayscale8:
        image = image.convertToFormat(_Format.Format_Grayscale8)
    return _rows(image, 1)[..., 0]


def qimage_to_rgb(image: QImage) -> np.ndarray:
    """uint8 (H, W, 3) RGB of any QImage (alpha dropped: transparent pixels keep their colour)."""
    if image.isNull():
        return np.zeros((0, 0, 3), dtype=np.uint8)
    if image.format() != _Format.Format_RGB888:
        image = image.convertToFormat(_Format.Format_RGB888)
    return _rows(image, 3)


def qimage_to_rgba(image: QImage) -> np.ndarray:
    """uint8 (H, W, 4) straight (not premultiplied) RGBA of any QImage."""
    if image.isNull():
        return np.zeros((0, 0, 4), dtype=np.uint8)
    if image.format() != _Format.Format_RGBA8888:
        image = image.convertToFormat(_Format.Format_RGBA8888)
    return _rows(image, 4)


def qimage_to_numpy(image: QImage) -> np.ndarray:
    """The natural array for an image: (H, W) for grayscale, (H, W, 4) with alpha, else (H, W, 3)."""
    if image.isGrayscale() and not image.hasAlphaChannel():
        return qimage_to_gray(image)
    if image.hasAlphaChannel():
        return qimage_to_rgba(image)
    return qimage_to_rgb(image)


def numpy_to_qimage(array: np.ndarray) -> QImage:
    """A QImage showing uint8 (H, W), (H, W, 1), (H, W, 3) or (H, W, 4) pixels, without copying them.

    The array is made C-contiguous first (a copy only when needed) and the QImage keeps a reference to
    it, so it stays valid as long as the QImage object lives. Call .copy() on the result before handing
    it to something that outlives this Python object (QPixmap.fromImage already copies).
    """
    if array.dtype != np.uint8:
        raise ValueError(f"expected uint8 pixels, got {array.dtype}")
    if array.ndim == 3 and array.shape[2] == 1:
        array = array[..., 0]
    if array.ndim == 2:
        fmt = _Format.Format_Grayscale8
    elif array.ndim == 3 and array.shape[2] == 3:
        fmt = _Format.Format_RGB888
    elif array.ndim == 3 and array.shape[2] == 4:
        fmt = _Format.Format_RGBA8888
    else:
        raise ValueError(f"expected (H, W), (H, W, 3) or (H, W, 4) pixels, got shape {array.shape}")
    array = np.ascontiguousarray(array)
    h, w = array.shape[:2]
    image = QImage(array.data, w, h, int(array.strides[0]), fmt)
    image._numpy_buffer = array  # type: ignore[attr-defined]  # a Python attribute: keeps the pixels alive as long as this QImage
    return image


def chw_to_hwc(pixels: np.ndarray) -> np.ndarray:
    """Model input layout uint8 (C, H, W) -> display layout (H, W) for C=1 or (H, W, C)."""
    if pixels.ndim != 3:
        raise ValueError(f"expected (C, H, W), got shape {pixels.shape}")
    return pixels[0] if pixels.shape[0] == 1 else np.ascontiguousarray(pixels.transpose(1, 2, 0))


def crisp_qimage(array: np.ndarray, target: int) -> QImage:
    """An (H, W[, C]) uint8 array enlarged by a whole factor towards `target` pixels, each pixel a sharp
    square: filters and 28x28 inputs stay readable when saved as pictures."""
    scale = max(1, target // max(array.shape[:2]))
    big = np.repeat(np.repeat(array, scale, axis=0), scale, axis=1)
    return numpy_to_qimage(np.ascontiguousarray(big)).copy()
