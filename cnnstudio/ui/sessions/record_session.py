"""The Camera page's Record tab: a dataset folder, its classes, and hold-to-record into FOLDER/CLASS/.

While a class's button is held, a few frames a second (RATE) of the source's newest frame are saved as
JPEG by core/capture/recorder.FrameWriter (unique names, a temporary file renamed into place, never over a
file) on the background pool, and each saved frame feeds the class's VarietyWatch, whose advice (other
light, other angles) shows under the counter. Recording stops at the first frame that cannot be saved
(a full disk) or when the source fails (the camera unplugged): the frames saved before it stay, counted
from the folder itself. "Use as dataset" hands the folder to the Data page's loader.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PySide6.QtCore import QObject, Signal

from cnnstudio.core.capture.frames import camera_square
from cnnstudio.core.capture.recorder import FrameWriter, RecordingError, SavedFrame, check_class_name, count_pictures
from cnnstudio.core.capture.variety import VarietyWatch
from cnnstudio.core.text import plural, printable
from cnnstudio.media.video import LiveFrame
from cnnstudio.ui.tasks import run_in_background
from cnnstudio.ui.values import ClassRecord, RecordStatus

RATE = 4.0  # frames saved a second while a button is held


class RecordSession(QObject):
    statusChanged = Signal(object)  # RecordStatus
    datasetRequested = Signal(str)  # the folder, for the Data page's loader

    def __init__(self, parent: QObject | None = None, rate: float = RATE) -> None:
        super().__init__(parent)
        self.folder: Path | None = None
        self.classes: list[str] = []
        self.recording: str | None = None
        self.interval = 1.0 / rate
        self._writer: FrameWriter | None = None
        self._watch: dict[str, VarietyWatch] = {}
        self._last_saved_at = -1e9
        self._saving = 0
        self.note = ""

    # -- the folder and its classes --------------------------------------------------------------------
    def set_folder(self, path: str | Path) -> None:
        """Record into this folder; its class folders (if any) are listed with their pictures."""
        self.stop()
        folder = Path(path).expanduser()
        if folder.exists() and not folder.is_dir():
            self._tell(f"{printable(folder)} is a file, not a folder")
            return
        self.folder, self._writer = folder, FrameWriter(folder)
        found = sorted(p.name for p in folder.iterdir() if p.is_dir() and not p.name.startswith((".", "_"))) \
            if folder.is_dir() else []
        self.classes = [name for name in found if name.lower() not in ("train", "test")]
        self._watch = {}
        self._tell("")

    def add_class(self, name: str) -> bool:
        try:
            name = check_class_name(name)
        except RecordingError as exc:
            self._tell(str(exc))
            return False
        if name in self.classes:
            self._tell(f"there is a class '{printable(name)}' already")
            return False
        self.classes.append(name)
        self._tell("")
        return True

    def remove_class(self, name: str) -> None:
        """Off the list; its pictures stay in the folder (nothing is deleted here)."""
        if self.recording == name:
            self.stop()
        if name in self.classes:
            self.classes.remove(name)
        kept = self.count(name)
        self._tell(f"'{printable(name)}' taken off the list; its {plural(kept, 'picture')} stay in the folder"
                   if kept else "")

    def count(self, name: str) -> int:
        return count_pictures(self.folder / name) if self.folder is not None else 0

    # -- recording -------------------------------------------------------------------------------------
    def start(self, name: str) -> bool:
        if self.folder is None or self._writer is None:
            self._tell("choose the folder to record into first")
            return False
        if name not in self.classes:
            return False
        self.recording = name
        self._last_saved_at = -1e9
        self._tell("")
        return True

    def stop(self, why: str = "") -> None:
        if self.recording is None:
            return
        name, self.recording = self.recording, None
        self._tell(f"{why}: recording stopped; {plural(self.count(name), 'picture')} of '{printable(name)}' kept"
                   if why else "")

    def on_frame(self, frame: LiveFrame) -> None:
        """A new newest frame: saved when a class is being recorded and its turn has come (RATE a second)."""
        name, writer = self.recording, self._writer
        if name is None or writer is None or frame.arrived - self._last_saved_at < self.interval:
            return
        self._last_saved_at = frame.arrived
        square = camera_square(frame.rgb)
        self._saving += 1
        run_in_background(lambda: writer.save(name, square), on_success=lambda saved: self._saved(saved, square),
                          on_error=lambda message, _details: self._failed(message), parent=self)

    def on_source_problem(self, line: str) -> None:
        """The source stopped (unplugged, taken, ended badly): so does recording, keeping what was saved."""
        self.stop(line)

    @property
    def saving(self) -> bool:
        return self._saving > 0

    def _saved(self, saved: SavedFrame, square: np.ndarray) -> None:
        self._saving -= 1
        self._watch.setdefault(saved.class_name, VarietyWatch()).add(square)
        self._tell(self.note)

    def _failed(self, message: str) -> None:
        self._saving -= 1
        if self.recording is not None:
            self.recording = None
        self._tell(message)  # RecordingError's line says what stopped and how many pictures were kept

    def use_as_dataset(self) -> None:
        if self.folder is None:
            self._tell("choose the folder to record into first")
            return
        with_pictures = [name for name in self.classes if self.count(name)]
        if len(with_pictures) < 2:
            self._tell("record pictures of at least two classes first")
            return
        self.stop()
        self.datasetRequested.emit(str(self.folder))

    # -- status ----------------------------------------------------------------------------------------
    @property
    def status(self) -> RecordStatus:
        rows = tuple(ClassRecord(name, self.count(name), self._watch[name].variety() if name in self._watch else None)
                     for name in self.classes)
        return RecordStatus(str(self.folder) if self.folder else None, rows, self.recording, self.note)

    def _tell(self, note: str) -> None:
        self.note = note
        self.statusChanged.emit(self.status)
