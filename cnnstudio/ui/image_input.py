"""What a paste, a drop or an open dialog hands over: an image file, or image data (one rule for every page)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import QMimeData, QUrl
from PySide6.QtGui import QImage


# The file dialogs' filter for a picture to open (Draw, Inspect): the formats prepare_image reads.
IMAGE_FILTER = "Images (*.png *.jpg *.jpeg *.bmp *.gif *.webp *.tif *.tiff *.ppm *.pgm);;All files (*)"


def image_from_mime(mime: QMimeData | None) -> tuple[str, str | QImage] | None:
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


class ImageInputMixin:
    """Paste (Ctrl+V), drag and drop of an image or image file, for a page (mix in before QWidget).

    The page provides open_image_file(path), _take_image(qimage, name) and _reject_input(message).
    """

    if TYPE_CHECKING:  # provided by the page that mixes this in
        def open_image_file(self, path: str) -> None: ...
        def _take_image(self, image: QImage, name: str) -> None: ...
        def _reject_input(self, message: str) -> None: ...

    def paste(self) -> None:
        """Ctrl+V: an image on the clipboard, or a copied image file."""
        from PySide6.QtGui import QGuiApplication

        self._take_mime(QGuiApplication.clipboard().mimeData(), "pasted image",
                        "The clipboard holds no image or image file.")

    def _take_mime(self, mime: QMimeData | None, name: str, nothing: str) -> bool:
        found = image_from_mime(mime)
        if found is None:
            self._reject_input(nothing)
            return False
        _, value = found
        if isinstance(value, str):  # ("file", path)
            self.open_image_file(value)
        else:
            self._take_image(value, name)
        return True

    def dragEnterEvent(self, event) -> None:
        if accepts_image_drag(event.mimeData()):
            event.acceptProposedAction()
        else:
            event.ignore()

    def dropEvent(self, event) -> None:
        if self._take_mime(event.mimeData(), "dropped image", "That is not an image or image file."):
            event.acceptProposedAction()
