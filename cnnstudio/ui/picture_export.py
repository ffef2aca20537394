"""Saving what a page shows as PNG, one way for every page: save_png, a Save-as dialog, a context menu.

A page mixes this in and provides grab_image(what) -> QImage (ValueError when there is nothing to save
yet), png_name(what) (the suggested file name), and optionally png_menu_actions(menu, what) to add its
own entries to the right-click menu. Messages go to the page's banner and the status bar.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import QPoint
from PySide6.QtGui import QImage
from PySide6.QtWidgets import QFileDialog, QMenu, QWidget

if TYPE_CHECKING:
    from cnnstudio.ui.state import AppState
    from cnnstudio.ui.widgets.banner import Banner


class PictureExportMixin:
    if TYPE_CHECKING:  # what the page that mixes this in has
        banner: Banner
        state: AppState

    def _parent_widget(self) -> QWidget | None:
        """The page as a dialog's or menu's parent (a page is a QWidget: it mixes this in before QWidget)."""
        return self if isinstance(self, QWidget) else None

    def grab_image(self, what: str) -> QImage:  # pragma: no cover - each page has its own
        raise NotImplementedError

    def png_name(self, what: str) -> str:
        return f"{what.replace(':', '-')}.png"

    def png_menu_actions(self, menu: QMenu, what: str) -> None:
        """Extra right-click entries after "Save as PNG…" (none by default)."""

    def save_png(self, what: str, path: str | Path) -> Path:
        path = Path(path)
        if not self.grab_image(what).save(str(path), "PNG"):  # type: ignore[call-overload]  # PySide6 takes the format as str at run time (its stubs say bytes, which it refuses)
            raise OSError(f"could not write {path}")
        return path

    def save_png_dialog(self, what: str) -> None:
        try:
            self.grab_image(what)
        except ValueError:
            self.banner.show_message("Nothing to save yet.", "info")
            return
        path, _ = QFileDialog.getSaveFileName(self._parent_widget(), "Save as PNG", self.png_name(what),
                                              "PNG images (*.png)")
        if not path:
            return
        if not path.lower().endswith(".png"):
            path += ".png"
        self.report_saved(lambda: self.save_png(what, path), path)

    def report_saved(self, save: Callable[[], object], path: str) -> None:
        """Run save(); say where it went, or why not, in the banner (and the status bar)."""
        try:
            save()
        except (OSError, ValueError) as exc:
            self.banner.show_message(f"Could not save {path}: {exc}", "error")
            return
        self.banner.show_message(f"Saved {path}", "ok")
        self.state.message.emit(f"Saved {path}")

    def _png_menu(self, what: str, global_pos: QPoint) -> None:
        menu = QMenu(self._parent_widget())
        menu.addAction("Save as PNG…", lambda: self.save_png_dialog(what))
        self.png_menu_actions(menu, what)
        menu.popup(global_pos)
