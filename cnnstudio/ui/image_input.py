"""What a paste or a drop hands over: an image file, or image data (one rule for every page)."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QMimeData, QUrl
from PySide6.QtGui import QImage


def image_from_mime(mime: QMimeData | None) -> tuple[str, object] | None:
    """("file", path) for a local file (a URL or a pasted path), ("image", QImage) for image data, else None."""
    if mime is None:
        return None
    for url in mime.urls() if mime.hasUrls() else []:
        if url.isLocalFile():
            return "file", url.toLocalFile()
    if mime.hasImage():
        image = QImage(mime.imageData())
        if not image.isNull():
            return "image", image
    if mime.hasText():
        text = mime.text().strip()
        path = QUrl(text).toLocalFile() if text.startswith("file:") else text
        if path and "\n" not in path and Path(path).is_file():
            return "file", path
    return None


def accepts_image_drag(mime: QMimeData) -> bool:
    return mime.hasImage() or any(url.isLocalFile() for url in mime.urls())
