"""The table of datasets: the registered ones (from the torch-free catalog) and folders the user opened.

Each row is keyed by what load_dataset accepts: a registered name ("mnist") or a folder path. The
status column says whether a dataset can be used right now ("Available offline"), needs a download
(with its size) or is downloading; the loaded one is shown in bold with a check mark.
"""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QFont
from PySide6.QtWidgets import QAbstractItemView, QHeaderView, QStyle, QTreeWidget, QTreeWidgetItem, QWidget

from cnnstudio.core.datasets import DatasetInfo
from cnnstudio.core.datasets.catalog import human_size

KEY = Qt.ItemDataRole.UserRole
INFO = Qt.ItemDataRole.UserRole + 1
COL_NAME, COL_CLASSES, COL_INPUT, COL_STATUS = range(4)


def shape_text(shape: tuple[int, ...]) -> str:
    """(1, 28, 28) -> "28x28 gray"; (3, 32, 32) -> "32x32 RGB"."""
    if len(shape) != 3:
        return "x".join(str(d) for d in shape)
    c, h, w = shape
    kind = {1: "gray", 3: "RGB"}.get(c, f"{c} ch")
    return f"{h}x{w} {kind}"


def status_text(info: DatasetInfo) -> str:
    if info.kind == "builtin":
        return "Built in (offline)"
    if info.kind in ("image-folder", "idx-folder"):
        return "Your folder"
    if info.available:
        return "Available offline"
    return f"Needs download ({human_size(info.download_bytes)})"


class DatasetList(QTreeWidget):
    datasetActivated = Signal(str)  # key of the row the user selected

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.setColumnCount(4)
        self.setHeaderLabels(["Dataset", "Classes", "Image size", "Status"])
        self.setRootIsDecorated(False)
        self.setUniformRowHeights(True)
        self.setAlternatingRowColors(True)
        self.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        header = self.header()
        header.setStretchLastSection(False)
        # The names are what the user reads first, so they always fit; the status column takes what
        # is left (its full text is in the tooltip when a narrow window elides it).
        for col in (COL_NAME, COL_CLASSES, COL_INPUT):
            header.setSectionResizeMode(col, QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(COL_STATUS, QHeaderView.ResizeMode.Stretch)
        self._items: dict[str, QTreeWidgetItem] = {}
        self._loaded_key: str | None = None
        self._quiet = False  # True while the page selects a row itself: no datasetActivated then
        self.itemSelectionChanged.connect(self._on_selection)

    # -- rows -------------------------------------------------------------------------------------
    def set_infos(self, infos: list[DatasetInfo]) -> None:
        """Add or refresh the registered datasets' rows, keeping the selection."""
        for info in infos:
            self._upsert(info.name, info)

    def add_folder(self, path: str, info: DatasetInfo) -> None:
        self._upsert(path, info)

    def _upsert(self, key: str, info: DatasetInfo) -> None:
        item = self._items.get(key)
        if item is None:
            item = QTreeWidgetItem(self)
            item.setData(COL_NAME, KEY, key)
            self._items[key] = item
        item.setData(COL_NAME, INFO, info)
        item.setText(COL_NAME, info.title)
        item.setText(COL_CLASSES, str(len(info.classes)))
        item.setText(COL_INPUT, shape_text(info.input_shape))
        item.setText(COL_STATUS, status_text(info))
        for col in (COL_CLASSES,):
            item.setTextAlignment(col, Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        tip = info.description
        if info.location:
            tip += f"\n{'Location' if info.available else 'Downloads to'}: {info.location}"
        for col in range(self.columnCount()):
            item.setToolTip(col, tip)
        self._style(item)

    def _style(self, item: QTreeWidgetItem) -> None:
        loaded = item.data(COL_NAME, KEY) == self._loaded_key
        font = QFont(self.font())
        font.setBold(loaded)
        for col in range(self.columnCount()):
            item.setFont(col, font)
        icon = self.style().standardIcon(QStyle.StandardPixmap.SP_DialogApplyButton) if loaded else None
        if icon is not None:
            item.setIcon(COL_NAME, icon)
        else:
            item.setData(COL_NAME, Qt.ItemDataRole.DecorationRole, None)

    def info(self, key: str) -> DatasetInfo | None:
        item = self._items.get(key)
        return None if item is None else item.data(COL_NAME, INFO)

    def keys(self) -> list[str]:
        return list(self._items)

    def row_item(self, key: str) -> QTreeWidgetItem | None:
        """The row of a dataset, as shown."""
        return self._items.get(key)

    def status(self, key: str) -> str:
        item = self._items.get(key)
        return "" if item is None else item.text(COL_STATUS)

    def set_progress(self, key: str, percent: int | None) -> None:
        """Show "Downloading NN %" in a row; None restores its normal status."""
        item = self._items.get(key)
        if item is None:
            return
        info = item.data(COL_NAME, INFO)
        item.setText(COL_STATUS, status_text(info) if percent is None else f"Downloading {percent} %")

    def set_loaded(self, key: str | None) -> None:
        self._loaded_key = key
        for item in self._items.values():
            self._style(item)

    # -- selection --------------------------------------------------------------------------------
    def selected_key(self) -> str | None:
        items = self.selectedItems()
        return items[0].data(COL_NAME, KEY) if items else None

    def select_key(self, key: str, notify: bool = False) -> None:
        """Select a row from code; notify=False keeps it from starting a load."""
        item = self._items.get(key)
        if item is None:
            return
        self._quiet = not notify
        try:
            self.setCurrentItem(item)
            item.setSelected(True)
        finally:
            self._quiet = False

    def _on_selection(self) -> None:
        key = self.selected_key()
        if key is not None and not self._quiet:
            self.datasetActivated.emit(key)
