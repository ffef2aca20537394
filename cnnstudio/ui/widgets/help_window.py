"""Help > Documentation: the README and the docs/ pages shown inside the app, as rich text.

Works without a browser or a network (the app is meant for offline machines): the Markdown files that
ship with this copy are rendered by Qt's own QTextBrowser; links between them open here, links to the
web go to the system's browser when there is one. The file shown is named, with its path, at the top.
"""

from __future__ import annotations

import re
from pathlib import Path

from PySide6.QtCore import Qt, QUrl
from PySide6.QtGui import QDesktopServices, QImage, QPixmap, QTextCursor, QTextDocument
from PySide6.QtWidgets import QComboBox, QDialog, QHBoxLayout, QLabel, QTextBrowser, QVBoxLayout, QWidget

MAX_DOC_BYTES = 2_000_000  # a documentation page is a few tens of KB; a larger file is not ours
_RAW_IMG = re.compile(r"<img\b[^>\n]*>", re.IGNORECASE)
IMAGE_WIDTH = 760  # screenshots (1280 pixels wide) are shown at most this wide, so no page scrolls sideways


def documentation_files(root: Path) -> list[Path]:
    """README.md first, then docs/*.md by name: the pages this copy of CNN Studio ships."""
    files = [root / "README.md"] if (root / "README.md").is_file() else []
    docs = root / "docs"
    if docs.is_dir():
        files += sorted(p for p in docs.glob("*.md") if p.is_file())
    return files


def _title(path: Path) -> str:
    return "README (start here)" if path.name == "README.md" else path.stem.replace("_", " ").replace("-", " ")


class HelpWindow(QDialog):
    def __init__(self, files: list[Path], parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("CNN Studio documentation")
        self.resize(900, 700)
        self.files = list(files)
        self.page_combo = QComboBox()
        for path in self.files:
            self.page_combo.addItem(_title(path), str(path))
        self.page_combo.currentIndexChanged.connect(lambda i: self.show_file(Path(self.page_combo.itemData(i))))
        self.path_label = QLabel()
        self.path_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.path_label.setStyleSheet("color: palette(placeholder-text);")
        self.browser = QTextBrowser()
        self.browser.setOpenLinks(False)  # links are handled below: pages here, the web outside
        self.browser.anchorClicked.connect(self._on_link)
        top = QHBoxLayout()
        top.addWidget(QLabel("Page"))
        top.addWidget(self.page_combo, 1)
        layout = QVBoxLayout(self)
        layout.addLayout(top)
        layout.addWidget(self.path_label)
        layout.addWidget(self.browser, 1)
        self.current: Path | None = None
        if self.files:
            self.show_file(self.files[0])

    def show_file(self, path: Path) -> bool:
        """Render one Markdown file; an unreadable one says so in the window instead."""
        self.current = path
        self.path_label.setText(str(path))
        try:
            if path.stat().st_size > MAX_DOC_BYTES:
                raise ValueError("too large to be a documentation page")
            text = path.read_text(encoding="utf-8", errors="replace")
        except (OSError, ValueError) as exc:
            self.browser.setPlainText(f"Could not read {path}: {exc}")
            return False
        self.browser.setSearchPaths([str(path.parent)])  # pictures referenced by relative paths
        self.browser.document().setBaseUrl(QUrl.fromLocalFile(str(path.parent) + "/"))
        # Qt's Markdown reader drops what follows raw HTML such as the README title's <img> icon: without it,
        # the title and the first paragraphs show.
        self.browser.setMarkdown(_RAW_IMG.sub("", text))
        self._fit_images()
        self.browser.verticalScrollBar().setValue(0)
        i = self.page_combo.findData(str(path))
        if i >= 0 and i != self.page_combo.currentIndex():
            self.page_combo.blockSignals(True)
            self.page_combo.setCurrentIndex(i)
            self.page_combo.blockSignals(False)
        return True

    def _fit_images(self) -> None:
        """Scale pictures wider than IMAGE_WIDTH down to it, keeping their proportions."""
        doc = self.browser.document()
        block = doc.begin()
        while block.isValid():
            it = block.begin()
            while not it.atEnd():
                fragment = it.fragment()
                fmt = fragment.charFormat()
                if fmt.isImageFormat():
                    image_format = fmt.toImageFormat()
                    image = doc.resource(QTextDocument.ResourceType.ImageResource, QUrl(image_format.name()))
                    if isinstance(image, (QImage, QPixmap)) and not image.isNull() and image.width() > IMAGE_WIDTH \
                            and not image_format.width():
                        image_format.setWidth(IMAGE_WIDTH)
                        image_format.setHeight(image.height() * IMAGE_WIDTH / image.width())
                        cursor = QTextCursor(doc)
                        cursor.setPosition(fragment.position())
                        cursor.setPosition(fragment.position() + fragment.length(), QTextCursor.MoveMode.KeepAnchor)
                        cursor.setCharFormat(image_format)
                it += 1
            block = block.next()

    def _on_link(self, url: QUrl) -> None:
        if url.scheme() in ("http", "https", "mailto"):
            QDesktopServices.openUrl(url)
            return
        base = self.current.parent if self.current is not None else Path.cwd()
        target = Path(url.toLocalFile()) if url.isLocalFile() else (base / url.path())
        if target.suffix.lower() == ".md" and target.is_file():
            self.show_file(target.resolve())
        elif url.fragment() and not url.path():
            self.browser.scrollToAnchor(url.fragment())
