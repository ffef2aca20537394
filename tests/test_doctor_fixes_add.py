"""New pictures labelled into a dataset folder (issue 32 item 6): FolderFixes.add moves the file in, logs
it in `_changes.csv`, undo moves it back where it came from; by_uncertainty orders the least sure first."""

from __future__ import annotations

import csv

import numpy as np
import pytest

from cnnstudio.core.classify import FileResult, FolderClassification
from cnnstudio.core.doctor.fixes import FixError, FolderFixes
from cnnstudio.core.doctor.unsure import by_uncertainty, class_keys


@pytest.fixture
def dataset(tmp_path):
    root = tmp_path / "data"
    for split in ("train", "test"):
        for c in ("cat", "dog"):
            (root / split / c).mkdir(parents=True)
            (root / split / c / f"{c}-0.png").write_bytes(b"picture")
    new = tmp_path / "new"
    new.mkdir()
    for name in ("a.png", "cat-0.png"):
        (new / name).write_bytes(name.encode())
    return root, new


def rows(root):
    with open(root / "_changes.csv", newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def test_add_moves_into_the_training_class_folder_and_undo_moves_it_back(dataset):
    root, new = dataset
    fixes = FolderFixes(root, ["cat", "dog"])
    change = fixes.add(new / "a.png", "dog")
    assert change.action == "add" and change.moved_to == "train/dog/a.png"
    assert (root / "train/dog/a.png").read_bytes() == b"a.png" and not (new / "a.png").exists()
    # A name already taken in the class folder: the new file gets "name (2)", nothing is overwritten.
    second = fixes.add(new / "cat-0.png", "cat")
    assert second.moved_to == "train/cat/cat-0 (2).png"
    assert (root / "train/cat/cat-0.png").read_bytes() == b"picture"
    assert [(r["action"], r["file"], r["moved_to"], r["new_label"]) for r in rows(root)] == [
        ("add", str(new / "a.png"), "train/dog/a.png", "dog"),
        ("add", str(new / "cat-0.png"), "train/cat/cat-0 (2).png", "cat")]
    fixes.undo()
    fixes.undo()
    assert (new / "a.png").read_bytes() == b"a.png" and (new / "cat-0.png").read_bytes() == b"cat-0.png"
    assert sorted(p.name for p in root.rglob("*.png")) == ["cat-0.png", "cat-0.png", "dog-0.png", "dog-0.png"]
    assert fixes.undo() is None


def test_add_refuses_an_unknown_class_a_missing_file_and_a_file_of_the_dataset(dataset):
    root, new = dataset
    fixes = FolderFixes(root, ["cat", "dog"])
    with pytest.raises(FixError, match="not one of this dataset's classes"):
        fixes.add(new / "a.png", "bird")
    with pytest.raises(FixError, match="is not a file"):
        fixes.add(new / "gone.png", "cat")
    with pytest.raises(FixError, match="inside the dataset already"):
        fixes.add(root / "test/cat/cat-0.png", "dog")
    assert (new / "a.png").is_file() and not (root / "_changes.csv").exists()


def test_add_into_a_folder_not_split_into_train_and_test(tmp_path):
    root = tmp_path / "flat"
    (root / "cat").mkdir(parents=True)
    (root / "dog").mkdir()
    (tmp_path / "x.png").write_bytes(b"x")
    assert FolderFixes(root, ["cat", "dog"]).add(tmp_path / "x.png", "cat").moved_to == "cat/x.png"


def test_the_least_sure_come_first():
    probs = np.array([[0.9, 0.1], [0.55, 0.45], [0.2, 0.8], [0.5, 0.5]], np.float32)
    names = ["sure.png", "unsure.png", "fairly.png", "coin.png"]
    results = [FileResult(n, int(p.argmax()), ["cat", "dog"][int(p.argmax())], float(p.max()),
                          [("cat", float(p[0])), ("dog", float(p[1]))]) for n, p in zip(names, probs)]
    result = FolderClassification("/new", ["cat", "dog"], results, probabilities=probs,
                                  pixels=np.zeros((4, 1, 8, 8), np.uint8))
    ordered = by_uncertainty(result)
    assert [u.name for u in ordered] == ["coin.png", "unsure.png", "fairly.png", "sure.png"]
    assert [round(u.margin, 2) for u in ordered] == [0.0, 0.1, 0.6, 0.8]
    assert ordered[0].path == "/new/coin.png" and ordered[1].why == "cat: 55%, dog: 45%"
    assert by_uncertainty(FolderClassification("/new", ["cat", "dog"], [])) == []


def test_each_class_has_a_key_digits_their_own():
    assert class_keys([str(d) for d in range(10)]) == [str(d) for d in range(10)]
    assert class_keys(["3", "1"]) == ["3", "1"]
    assert class_keys(["a", "k"]) == ["1", "2"]  # never a letter: A and K are Review's own keys
    assert class_keys(["cat", "dog", "bird"]) == ["1", "2", "3"]
    many = class_keys([f"class {k}" for k in range(12)])
    assert many[:10] == ["1", "2", "3", "4", "5", "6", "7", "8", "9", "0"] and many[10:] == [None, None]
    assert class_keys(["1", "1 "]) == ["1", "2"]  # one key cannot name both
