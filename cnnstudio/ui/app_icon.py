"""The window and taskbar icon: the PNGs of resources/icons where they are, drawn otherwise.

resources/icons is in the source tree (and so in an editable install) and in the frozen bundle (the
spec copies it). A wheel installed from the index has no resources folder; the icon is then drawn by
cnnstudio.icon, the same code that made the PNGs.
"""

from __future__ import annotations

import sys
from pathlib import Path

from PySide6.QtCore import QSize
from PySide6.QtGui import QIcon, QImage, QPixmap

# The sizes of resources/icons a window icon uses (cnnstudio.icon.PNG_SIZES up to 512). Not imported
# from there: that module loads Pillow, which the window does not need to show.
WINDOW_ICON_SIZES = (16, 24, 32, 48, 64, 128, 256, 512)


def icon_folders() -> list[Path]:
    folders = []
    bundle = getattr(sys, "_MEIPASS", None)  # set by PyInstaller's bootloader in a frozen app
    if bundle:
        folders.append(Path(bundle) / "resources" / "icons")
    folders.append(Path(__file__).resolve().parents[2] / "resources" / "icons")
    return folders


def app_icon() -> QIcon:
    icon = QIcon()
    for folder in icon_folders():
        for n in WINDOW_ICON_SIZES:
            path = folder / f"cnnstudio-{n}.png"
            if path.is_file():
                icon.addFile(str(path), QSize(n, n))
        if not icon.isNull():
            return icon
    from cnnstudio.icon import render

    for n in (32, 256):
        im = render(n)
        image = QImage(im.tobytes("raw", "RGBA"), n, n, 4 * n, QImage.Format.Format_RGBA8888).copy()
        icon.addPixmap(QPixmap.fromImage(image))
    return icon
