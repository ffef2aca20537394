"""Review (issue 32 item 4): the data doctor run from the app on a real folder, its suggestions accepted,
kept, excluded and undone; files moved and logged, never deleted; the dataset loaded again."""

from __future__ import annotations

import csv
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from PySide6.QtCore import Qt

from cnnstudio.ui.sessions.data_session import DataSession

CLASSES = ("bars", "dots", "ring")


def _picture(rng: np.random.Generator, k: int) -> np.ndarray:
    img = rng.integers(0, 40, (16, 16)).astype(np.uint8)
    if k == 0:
        img[:, 3:13:3] = 230
    elif k == 1:
        img[4:13:4, 4:13:4] = 250
    else:
        yy, xx = np.mgrid[:16, :16]
        r = np.hypot(yy - 7.5, xx - 7.5)
        img[(r > 4) & (r < 6.5)] = 220
    return img


def make_folder(root: Path, per_class: int = 20, per_test: int = 4) -> Path:
    """Three classes of 16x16 pictures under train/ and test/; two rings moved into "bars", a test picture
    copied into train under another name (leakage), a training picture copied beside itself, a blank one."""
    rng = np.random.default_rng(0)
    for split, n in (("train", per_class), ("test", per_test)):
        for k, c in enumerate(CLASSES):
            (root / split / c).mkdir(parents=True)
            for i in range(n):
                Image.fromarray(_picture(rng, k)).save(root / split / c / f"{c}-{i:02d}.png")
    for i in range(2):
        shutil.move(root / "train/ring" / f"ring-{i:02d}.png", root / "train/bars" / f"moved-ring-{i:02d}.png")
    shutil.copy(root / "test/dots/dots-00.png", root / "train/dots/copy-of-test.png")
    shutil.copy(root / "train/bars/bars-05.png", root / "train/bars/bars-05 again.png")
    Image.fromarray(np.zeros((16, 16), np.uint8)).save(root / "train/ring/blank.png")
    return root


def files_under(root: Path) -> set[str]:
    return {p.relative_to(root).as_posix() for p in root.rglob("*.png")}


def log_rows(root: Path) -> list[dict[str, str]]:
    with open(root / "_changes.csv", newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def load(qtbot, state, folder: Path) -> None:
    loader = DataSession(state)
    with qtbot.waitSignal(loader.loaded, timeout=60_000) as blocker:
        loader.load(str(folder))
    key, data = blocker.args
    state.set_dataset(data, key)


def train_counts(state) -> dict[str, int]:
    counts = np.bincount(state.dataset.train_labels.numpy(), minlength=len(state.dataset.classes))
    return dict(zip(state.dataset.classes, counts.tolist()))


@pytest.fixture
def folder(tmp_path):
    return make_folder(tmp_path / "shapes3")


def test_the_session_checks_fixes_and_undoes_on_disk(qtbot, state, folder):
    from cnnstudio.ui.sessions.review_session import ReviewSession

    load(qtbot, state, folder)
    before = files_under(folder)
    assert train_counts(state) == {"bars": 23, "dots": 21, "ring": 19}
    session = ReviewSession(state)
    with qtbot.waitSignal(session.estimated, timeout=120_000) as estimated:
        assert session.estimate()
    assert estimated.args[0].seconds > 0 and estimated.args[0].text.startswith("about ")
    assert estimated.args[0].model_seconds is None  # no model in use: no faster offer
    with qtbot.waitSignal(session.shown, timeout=300_000) as shown:
        assert session.start(epochs=2)
    view = shown.args[0]

    # Leakage: the copy in train is the one to exclude, so the test set stays as it was.
    leak = view.duplicate[0].suspect
    assert leak.leakage and leak.picture.file == "train/dots/copy-of-test.png" and leak.suggested == ""
    assert view.duplicate[0].pixels.shape == (1, 16, 16) and view.duplicate[0].pixels.max() == 250
    # The moved rings are the label issues, suggested back to "ring", most likely first.
    moved = [c.suspect for c in view.label if c.suspect.picture.file.startswith("train/bars/moved-ring")]
    assert moved and moved[0].suggested == "ring" and moved[0].given == "bars"
    scores = [c.suspect.score for c in view.label]
    assert scores == sorted(scores, reverse=True)

    # Accept the leak's suggestion: excluded (moved, not deleted), logged, the dataset loaded again.
    with qtbot.waitSignal(state.datasetChanged, timeout=60_000):
        assert session.accept(leak.key)
    assert not (folder / leak.picture.file).exists()
    assert (folder / "_excluded/train/dots/copy-of-test.png").is_file()
    assert train_counts(state) == {"bars": 23, "dots": 20, "ring": 19}
    assert leak.key not in [c.suspect.key for c in session.view.duplicate]

    # Accept a label issue: the file moves into the ring folder.
    with qtbot.waitSignal(state.datasetChanged, timeout=60_000):
        assert session.accept(moved[0].key)
    name = Path(moved[0].picture.file).name
    assert (folder / "train/ring" / name).is_file() and not (folder / moved[0].picture.file).exists()
    assert train_counts(state) == {"bars": 22, "dots": 20, "ring": 20}
    rows = log_rows(folder)
    assert [(r["action"], r["file"], r["moved_to"]) for r in rows] == [
        ("exclude", "train/dots/copy-of-test.png", "_excluded/train/dots/copy-of-test.png"),
        ("relabel", moved[0].picture.file, f"train/ring/{name}")]
    assert session.view.changes == f"1 relabelled, 1 excluded; log: {folder / '_changes.csv'}"

    # Keep hides without touching a file; undo shows it again.
    kept = session.view.label[0].suspect.key if session.view.label else session.view.outlier[0].suspect.key
    assert session.keep(kept) and kept not in [c.suspect.key for k in ("label", "outlier")
                                               for c in session.view.cells(k)]
    assert session.undo() and kept in [c.suspect.key for k in ("label", "outlier") for c in session.view.cells(k)]
    assert len(log_rows(folder)) == 2

    # Undo twice: both files back where they were, the dataset as it loaded first, nothing deleted.
    with qtbot.waitSignal(state.datasetChanged, timeout=60_000):
        assert session.undo()
    with qtbot.waitSignal(state.datasetChanged, timeout=60_000):
        assert session.undo()
    assert files_under(folder) == before
    assert train_counts(state) == {"bars": 23, "dots": 21, "ring": 19}
    assert [r["action"] for r in log_rows(folder)] == ["exclude", "relabel", "undo", "undo"]
    assert not session.undo()  # nothing left to take back


def test_the_page_says_how_long_then_keys_fix_and_undo(qtbot, state, folder, monkeypatch):
    from cnnstudio.ui.pages import review_page
    from cnnstudio.ui.pages.review_page import ReviewPage
    from cnnstudio.ui.sessions import review_session

    # A grid holds the first MAX_CELLS suspects; the next come as those are decided.
    monkeypatch.setattr(review_session, "MAX_CELLS", 1)
    monkeypatch.setattr(review_page, "MAX_CELLS", 1)

    page = ReviewPage(state)
    qtbot.addWidget(page)
    page.resize(1000, 700)
    page.show()
    qtbot.waitExposed(page)
    assert not page.check_button.isEnabled() and "Data page" in page.estimate_label.text()
    load(qtbot, state, folder)
    before = files_under(folder)
    with qtbot.waitSignal(page.session.estimated, timeout=120_000):
        assert page.check()
    # Before anything starts: how long it takes, on the label and the Start button.
    assert "about" in page.estimate_label.text() and page.start_button.text().startswith("Start (about ")
    assert page.start_button.isVisibleTo(page) and not page.model_button.isVisibleTo(page)
    # On a line of its own, below the buttons: beside Start and "Use the current model" it was squeezed into
    # three short lines in a 1024-pixel window (scripts/review_walk.py's screenshot).
    qtbot.waitUntil(lambda: page.estimate_label.geometry().top() >= page.check_button.geometry().bottom())
    assert page.estimate_label.width() > page.width() // 2
    with qtbot.waitSignal(page.session.shown, timeout=300_000):
        assert page.start(epochs=2)
        assert page.progress_row.isVisibleTo(page) and page.progress_row.cancel.isEnabled()
    assert not page.progress_row.isVisibleTo(page)
    assert [page.tabs.tabText(i) for i in range(3)] == ["Label issues (1)", "Duplicates (2)", "Outliers (1)"]
    assert page.minimumSizeHint().width() <= 800 and page.minimumSizeHint().height() <= 640
    assert page.grids["duplicate"].count() == 1 and "the 1 most likely" in page.summary_label.text()
    leak = page.grids["duplicate"].item(0)
    assert leak.text().startswith("IN TRAIN AND TEST\nlabel dots → exclude\nexact copy of test/dots/dots-00.png")
    assert leak.icon().actualSize(page.grids["duplicate"].iconSize()).width() == 96

    # X on the leak's copy in train: excluded, the dataset reloaded.
    page.select("duplicate", 0)
    page.grids["duplicate"].setFocus()
    with qtbot.waitSignal(state.datasetChanged, timeout=60_000):
        qtbot.keyClick(page.grids["duplicate"], Qt.Key.Key_X)
    assert (folder / "_excluded/train/dots/copy-of-test.png").is_file()
    assert page.tabs.tabText(1) == "Duplicates (1)" and page.grids["duplicate"].count() == 1
    assert "twice in train" in page.grids["duplicate"].item(0).text()
    assert "most likely" not in page.summary_label.text()
    # Enter accepts the label issue's suggestion: into the ring folder.
    page.select("label", 0)
    page.grids["label"].setFocus()
    file = page.session.view.label[0].suspect.picture.file
    with qtbot.waitSignal(state.datasetChanged, timeout=60_000):
        qtbot.keyClick(page.grids["label"], Qt.Key.Key_Return)
    assert (folder / "train/ring" / Path(file).name).is_file()
    assert train_counts(state) == {"bars": 22, "dots": 20, "ring": 20}
    assert page.changes_label.text().startswith("1 relabelled, 1 excluded; log: ")
    assert page.changes_label.text().endswith("_changes.csv")
    # K keeps the blank picture: hidden, no file touched.
    page.select("outlier", 0)
    page.grids["outlier"].setFocus()
    qtbot.keyClick(page.grids["outlier"], Qt.Key.Key_K)
    assert page.tabs.tabText(2) == "Outliers (0)" and (folder / "train/ring/blank.png").is_file()
    # Ctrl+Z three times: the keep, then both moves; every file where it was.
    qtbot.keyClick(page.grids["outlier"], Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    assert page.tabs.tabText(2) == "Outliers (1)"
    for _ in range(2):
        with qtbot.waitSignal(state.datasetChanged, timeout=60_000):
            qtbot.keyClick(page.grids["outlier"], Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    assert files_under(folder) == before
    assert train_counts(state) == {"bars": 23, "dots": 21, "ring": 19}
    assert page.tabs.tabText(0) == "Label issues (1)" and not page.undo_button.isEnabled()


def trained_checkpoint(state, tmp_path: Path) -> str:
    """A one-epoch model of the loaded folder, the recommendation every run gets (a few seconds)."""
    from cnnstudio.core.doctor.crossval import doctor_config
    from cnnstudio.core.training.trainer import Trainer

    cfg = doctor_config(state.dataset_name, state.dataset, None, 1, 0)
    result = Trainer(cfg, dataset=state.dataset, run_dir=tmp_path / "run").run()
    assert result.status == "finished" and result.checkpoint is not None, result
    return str(result.checkpoint)


def test_new_pictures_least_sure_first_labelled_by_number_keys_and_undone(qtbot, state, folder, tmp_path):
    from cnnstudio.ui.pages.review_page import ReviewPage

    new = tmp_path / "unlabelled"
    new.mkdir()
    rng = np.random.default_rng(7)
    for k in range(6):
        Image.fromarray(_picture(rng, k % 3)).save(new / f"new-{k}.png")
    load(qtbot, state, folder)
    before, before_new = files_under(folder), files_under(new)
    page = ReviewPage(state)
    qtbot.addWidget(page)
    page.resize(1000, 700)
    page.show()
    qtbot.waitExposed(page)
    with qtbot.waitSignal(page.session.failed) as refused:
        assert not page.label_new(str(new))
    assert refused.args[0].startswith("Use a model trained on this dataset first")
    with qtbot.waitSignal(state.model.loaded, timeout=60_000):
        state.set_checkpoint(trained_checkpoint(state, tmp_path))
    with qtbot.waitSignal(page.session.newShown, timeout=60_000) as shown:
        assert page.label_new(str(new))
    listed = shown.args[0]
    margins = [p.margin for p in listed.pictures]
    assert len(margins) == 6 and margins == sorted(margins)
    assert page.tabs.tabText(3) == "New pictures (6)" and page.tabs.currentIndex() == 3
    assert [b.text() for b in page.class_buttons] == ["1  bars", "2  dots", "3  ring"]
    assert "The least sure first" in page.summary_label.text()
    page.select("label", 0)  # the check's tabs say what the check found (none yet)
    assert page.summary_label.text() == "No check yet." and not page.class_buttons[0].isVisibleTo(page)
    # Beside the 200 px sidebar, the page fits a 1024x700 window with every row shown.
    assert page.minimumSizeHint().width() <= 800 and page.minimumSizeHint().height() <= 640

    # 3 on the least sure picture: into train/ring, logged with where it came from, the dataset reloaded.
    first = listed.pictures[0]
    page.select("new", 0)
    page.grids["new"].setFocus()
    with qtbot.waitSignal(state.datasetChanged, timeout=60_000):
        qtbot.keyClick(page.grids["new"], Qt.Key.Key_3)
    assert (folder / "train/ring" / first.name).is_file() and not Path(first.path).exists()
    assert train_counts(state) == {"bars": 23, "dots": 21, "ring": 20}
    assert (log_rows(folder)[-1]["action"], log_rows(folder)[-1]["file"]) == ("add", first.path)
    assert page.tabs.tabText(3) == "New pictures (5)"
    # A: the class the model guessed.
    second = page.session.new_pictures.pictures[0]
    page.select("new", 0)
    with qtbot.waitSignal(state.datasetChanged, timeout=60_000):
        qtbot.keyClick(page.grids["new"], Qt.Key.Key_A)
    assert (folder / "train" / second.guess / second.name).is_file()
    assert page.changes_label.text().startswith("0 relabelled, 0 excluded, 2 new labelled; log: ")
    assert page.undo_button.isEnabled()

    # Undo both: the files back in the new folder, the dataset as before, nothing deleted.
    for _ in range(2):
        with qtbot.waitSignal(state.datasetChanged, timeout=60_000):
            qtbot.keyClick(page.grids["new"], Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    assert files_under(folder) == before and files_under(new) == before_new
    assert train_counts(state) == {"bars": 23, "dots": 21, "ring": 19}
    assert page.tabs.tabText(3) == "New pictures (6)" and not page.undo_button.isEnabled()
    with qtbot.waitSignal(page.retrainRequested):
        page.retrain_button.click()


def test_cancel_changes_nothing_and_the_current_model_makes_it_fast(qtbot, state, folder, tmp_path):
    from cnnstudio.ui.sessions.review_session import ReviewSession

    load(qtbot, state, folder)
    before = files_under(folder)
    session = ReviewSession(state)
    with qtbot.waitSignal(session.cancelled, timeout=120_000):
        assert session.start(epochs=2)
        assert session.cancel()
    assert session.view is None and files_under(folder) == before and not (folder / "_changes.csv").exists()

    with qtbot.waitSignal(state.model.loaded, timeout=60_000):
        state.set_checkpoint(trained_checkpoint(state, tmp_path))
    with qtbot.waitSignal(session.estimated, timeout=120_000) as estimated:
        assert session.estimate()
    assert estimated.args[0].model_seconds is not None and estimated.args[0].model_seconds > 0
    with qtbot.waitSignal(session.shown, timeout=120_000) as shown:
        assert session.start(use_model=True)
    view = shown.args[0]
    assert "linear head on the penultimate features" in view.method
    assert [c.suspect.picture.file for c in view.duplicate][0] == "train/dots/copy-of-test.png"

    # Another dataset loaded: the findings go, and a fix is refused rather than made to the wrong folder.
    with qtbot.waitSignal(session.cleared):
        load(qtbot, state, make_folder(tmp_path / "other"))
    assert session.view is None and not session.accept(view.duplicate[0].suspect.key)
    assert (folder / "train/dots/copy-of-test.png").is_file()


def test_retrain_opens_the_train_page_and_starts_from_its_form(qtbot, state):
    """The window wires Review's Retrain to the Train page's Start (here refused: no dataset, said there)."""
    from cnnstudio.ui.main_window import MainWindow

    window = MainWindow(state)
    qtbot.addWidget(window)
    window.show_page("review")
    window.page("review").retrain_button.click()
    assert window.stack.currentWidget() is window.page("train")
    assert window.page("train").banner.text().startswith("Load a dataset first")
    window.close()
