"""The data doctor (cnnstudio/core/doctor): label issues, duplicates and leakage, outliers, and the fixes."""

from __future__ import annotations

import csv
import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "benchmarks"))


def _files(folder: Path) -> list[str]:
    return sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*.png"))


def test_moved_handwritten_digits_are_found_among_the_top_label_issues(tmp_path):
    """A smaller version of benchmarks/doctor_label_issues.py: 700 of scikit-learn's handwritten digits (not
    MNIST's), 8 % moved into a wrong class folder; the top-K issues (K = the number moved) are mostly moved
    pictures, and most moved pictures are among them."""
    from doctor_label_issues import move_some, write_digits

    from cnnstudio.core.datasets import load_dataset
    from cnnstudio.core.doctor.diagnose import diagnose

    folder = tmp_path / "digits"
    write_digits(folder, limit=700)
    moved = move_some(folder, 0.08, seed=1)
    data = load_dataset(folder)
    report = diagnose(data, model="lenet5", epochs=10, seed=0)  # a small network: seconds a fold
    top = [issue.picture.file for issue in report.label_issues[:len(moved)]]
    hits = sum(1 for f in top if f in moved)
    assert hits / len(moved) >= 0.75, (hits, len(moved), len(report.label_issues))
    assert hits / max(1, len(top)) >= 0.75
    # The suggestion for a found picture is its true class (the folder it came from) for most of them.
    issue = next(i for i in report.label_issues if i.picture.file in moved)
    assert issue.given == issue.picture.file.split("/")[0] and issue.suggested != issue.given
    assert 0 < issue.score <= 1


def _cross_validation(pool, dims: int = 16, seed: int = 0):
    """Probabilities that agree with the labels and random features: what findings() needs, without training."""
    from cnnstudio.core.doctor.crossval import CrossValidation

    rng = np.random.default_rng(seed)
    k = len(pool.data.classes)
    probs = np.full((len(pool), k), 0.1 / max(1, k - 1), dtype=np.float32)
    probs[np.arange(len(pool)), pool.labels] = 0.9
    return CrossValidation(probs, rng.normal(size=(len(pool), dims)).astype(np.float32), "test", 0.0)


def _split_folder(root: Path, per_class: int = 30, seed: int = 0) -> None:
    """train/ and test/ with three classes of distinct noisy pictures (no two alike)."""
    rng = np.random.default_rng(seed)
    for split, n in (("train", per_class), ("test", per_class // 3)):
        for c, name in enumerate(("a", "b", "c")):
            (root / split / name).mkdir(parents=True)
            for i in range(n):
                pixels = rng.integers(0, 256, (24, 24), dtype=np.uint8)
                pixels[:, c * 8:(c + 1) * 8] = 255
                Image.fromarray(pixels).save(root / split / name / f"{name}{i}.png")


def test_test_pictures_copied_into_train_are_all_reported_as_leakage(tmp_path):
    from cnnstudio.core.datasets import load_dataset
    from cnnstudio.core.doctor.diagnose import findings
    from cnnstudio.core.doctor.pool import Pool

    folder = tmp_path / "leaky"
    _split_folder(folder)
    tests = sorted((folder / "test").rglob("*.png"))[:20]
    for n, path in enumerate(tests):  # copied under another name, into the same class
        shutil.copy(path, folder / "train" / path.parent.name / f"copy-{n}.png")
    pool = Pool.of(load_dataset(folder))
    report = findings(pool, _cross_validation(pool))
    leaks = [g for g in report.duplicates if g.leakage]
    assert len(leaks) == 20 and all(g.kind == "exact" for g in leaks)
    leaked = {p.file for g in leaks for p in g.pictures if p.split == "test"}
    assert leaked == {p.relative_to(folder).as_posix() for p in tests}
    assert report.leaked == 20 and "20 test pictures are also in train" in report.summary()
    assert not [g for g in report.duplicates if not g.leakage]  # the other pictures are all different


def test_a_reencoded_and_brightened_copy_is_a_near_duplicate_and_different_pictures_are_not(tmp_path):
    from cnnstudio.core.datasets import load_dataset
    from cnnstudio.core.doctor.crossval import CrossValidation
    from cnnstudio.core.doctor.diagnose import findings
    from cnnstudio.core.doctor.pool import Pool

    folder = tmp_path / "near"
    rng = np.random.default_rng(3)
    for name in ("x", "y"):
        (folder / name).mkdir(parents=True)
        for i in range(40):  # smooth random textures: like photos, no two alike
            coarse = Image.fromarray(rng.integers(0, 256, (8, 8), dtype=np.uint8))
            coarse.resize((32, 32), Image.Resampling.BICUBIC).save(folder / name / f"{i}.png")
    original = Image.open(folder / "x" / "7.png")
    brighter = np.clip(np.asarray(original, dtype=np.float32) * 0.8 + 30, 0, 255).astype(np.uint8)
    Image.fromarray(brighter).save(folder / "y" / "brighter-copy.jpg", quality=95)
    data = load_dataset(folder, image_size=32)
    pool = Pool.of(data)
    # Features: the pictures themselves, centred (like a model's, blind to a change of brightness).
    feats = pool.images.numpy().reshape(len(pool), -1).astype(np.float32)
    feats -= feats.mean(axis=1, keepdims=True)
    cv = CrossValidation(_cross_validation(pool).probabilities, feats, "test", 0.0)
    report = findings(pool, cv)
    near = [g for g in report.duplicates if g.kind == "near"]
    assert [sorted(p.file for p in g.pictures) for g in near] == [["x/7.png", "y/brighter-copy.jpg"]]


def test_a_blank_picture_and_a_picture_unlike_the_rest_are_outliers(tmp_path):
    from cnnstudio.core.datasets import load_dataset
    from cnnstudio.core.doctor.crossval import CrossValidation
    from cnnstudio.core.doctor.diagnose import findings
    from cnnstudio.core.doctor.pool import Pool

    folder = tmp_path / "odd"
    _split_folder(folder, per_class=30)
    Image.new("L", (24, 24), 200).save(folder / "train" / "a" / "blank.png")
    data = load_dataset(folder)
    pool = Pool.of(data)
    rng = np.random.default_rng(0)
    centres = rng.normal(size=(3, 8)) * 5
    feats = (centres[pool.labels] + rng.normal(size=(len(pool), 8)) * 0.3).astype(np.float32)
    odd = data.files.index("train/b/b3.png")
    feats[odd] = rng.normal(size=8) * 5 + 40  # far from every class
    report = findings(pool, CrossValidation(_cross_validation(pool).probabilities, feats, "test", 0.0))
    by_file = {o.picture.file: o for o in report.outliers}
    assert by_file["train/a/blank.png"].reason.startswith("blank")
    assert "train/b/b3.png" in by_file
    assert len(report.outliers) <= 4


def test_the_perceptual_hash_is_imagehash_phash():
    """phash.py computes imagehash's pHash (PIL's resize to 32x32, scipy's DCT, 8x8 above the median) in
    batches: the same bits as that recipe written out one picture at a time."""
    import scipy.fftpack

    from cnnstudio.core.doctor.phash import distance, phash

    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (6, 3, 40, 40), dtype=np.uint8)
    got = phash(images)
    for img, h in zip(images, got):
        pil = Image.fromarray(np.moveaxis(img, 0, -1)).convert("L").resize((32, 32), Image.Resampling.LANCZOS)
        pixels = np.asarray(pil, dtype=np.float64)
        dct = scipy.fftpack.dct(scipy.fftpack.dct(pixels, axis=0), axis=1)
        low = dct[:8, :8]
        bits = (low > np.median(low)).flatten()
        expected = int("".join("1" if b else "0" for b in bits), 2)
        assert int(h) == expected
    assert int(distance(got[0], got[0])) == 0 and int(distance(got[0], got[1])) > 10


def test_label_issues_are_cleanlabs_on_the_same_probabilities(tmp_path):
    import cleanlab.filter

    from cnnstudio.core.datasets import load_dataset
    from cnnstudio.core.doctor.label_issues import find_label_issues
    from cnnstudio.core.doctor.pool import Pool

    folder = tmp_path / "f"
    _split_folder(folder)
    pool = Pool.of(load_dataset(folder))
    rng = np.random.default_rng(1)
    probs = rng.dirichlet(np.ones(3) * 0.5, size=len(pool)).astype(np.float32)
    ours = [i.picture for i in find_label_issues(pool, probs)]
    theirs = cleanlab.filter.find_label_issues(pool.labels, probs / probs.sum(1, keepdims=True),
                                               return_indices_ranked_by="self_confidence")
    assert ours == [pool.ref(int(i)) for i in theirs] and len(ours) > 0


def test_relabel_exclude_and_undo_move_files_log_every_change_and_delete_nothing(tmp_path):
    from cnnstudio.core.datasets import load_dataset
    from cnnstudio.core.doctor.fixes import FixError, fixes_for
    from cnnstudio.core.doctor.report import PictureRef

    folder = tmp_path / "ds"
    _split_folder(folder, per_class=9)
    Image.new("L", (24, 24), 0).save(folder / "train" / "b" / "a1.png")  # a name the relabel will meet
    before = _files(folder)
    data = load_dataset(folder)
    fixes = fixes_for(data)
    change = fixes.relabel(PictureRef("train", 0, "train/a/a1.png"), "b")
    assert change.moved_to == "train/b/a1 (2).png"  # never over the file already there
    fixes.exclude(PictureRef("test", 0, "test/c/c0.png"))
    assert (folder / "_excluded" / "test" / "c" / "c0.png").is_file()
    with pytest.raises(FixError):
        fixes.relabel(PictureRef("train", 1, "../outside.png"), "a")
    with pytest.raises(FixError):
        fixes.relabel(PictureRef("train", 1, "train/a/a2.png"), "no-such-class")
    reloaded = load_dataset(folder)  # the excluded picture is out, the relabelled one counts for b
    assert len(reloaded.test_labels) == len(data.test_labels) - 1
    counts = np.bincount(reloaded.train_labels.numpy(), minlength=3)
    assert counts.tolist() == [8, 11, 9]
    rows = list(csv.DictReader(open(folder / "_changes.csv", encoding="utf-8")))
    assert [(r["action"], r["file"], r["moved_to"], r["label"], r["new_label"]) for r in rows] == [
        ("relabel", "train/a/a1.png", "train/b/a1 (2).png", "a", "b"),
        ("exclude", "test/c/c0.png", "_excluded/test/c/c0.png", "c", "")]
    assert fixes.undo().undoes == 2 and fixes.undo().undoes == 1 and fixes.undo() is None
    assert _files(folder) == before  # every file back where it was, none lost
    assert len(list(csv.DictReader(open(folder / "_changes.csv", encoding="utf-8")))) == 4


def test_a_built_in_dataset_keeps_its_fixes_beside_the_runs_and_they_apply_when_it_loads():
    from cnnstudio.core.datasets import load_dataset
    from cnnstudio.core.doctor.fixes import fixes_for
    from cnnstudio.core.doctor.report import PictureRef

    data = load_dataset("shapes")
    label = int(data.train_labels[5])
    new = data.classes[(label + 1) % len(data.classes)]
    fixes = fixes_for(data)
    fixes.relabel(PictureRef("train", 5), new)
    fixes.exclude(PictureRef("test", 3))
    fixed = load_dataset("shapes")
    assert data.classes[int(fixed.train_labels[5])] == new
    assert len(fixed.test_labels) == len(data.test_labels) - 1
    assert fixed.original_index("test", 3) == 4  # picture 3 is gone; the next keeps its own number
    assert (fixed.test_images[3] == data.test_images[4]).all()
    fixes_for(fixed).undo()
    fixes_for(fixed).undo()
    again = load_dataset("shapes")
    assert int(again.train_labels[5]) == label and len(again.test_labels) == len(data.test_labels)


def test_cnnstudio_doctor_json_is_one_object_and_csv_never_overwrites(tmp_path, cli_shapes_run):
    """With a checkpoint's features (seconds), on a folder with a leaked copy: one JSON object on stdout."""
    from cnnstudio.core.datasets import load_dataset

    shapes = load_dataset("shapes")
    folder = tmp_path / "shapes-folder"
    for split, images, labels, n in (("train", shapes.train_images, shapes.train_labels, 300),
                                     ("test", shapes.test_images, shapes.test_labels, 60)):
        for i in range(n):
            (folder / split / shapes.classes[int(labels[i])]).mkdir(parents=True, exist_ok=True)
            Image.fromarray(images[i, 0].numpy()).save(folder / split / shapes.classes[int(labels[i])] / f"{i}.png")
    leaked = next((folder / "test").rglob("*.png"))
    shutil.copy(leaked, folder / "train" / leaked.parent.name / "copy.png")
    existing = tmp_path / "mine.csv"
    existing.write_text("keep me")
    cmd = [sys.executable, "-m", "cnnstudio", "doctor", "--dataset", str(folder), "--checkpoint",
           cli_shapes_run["checkpoint"]]
    refused = subprocess.run(cmd + ["--csv", str(existing)], capture_output=True, text=True, cwd=ROOT)
    assert refused.returncode != 0 and existing.read_text() == "keep me"
    assert refused.stderr.count("\n") == 1 and "exists" in refused.stderr
    done = subprocess.run(cmd + ["--json", "--csv", str(tmp_path / "new.csv")], capture_output=True, text=True,
                          cwd=ROOT)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.strip().splitlines()
    assert len(lines) == 1
    out = json.loads(lines[0])
    assert {"label_issues", "duplicates", "outliers"} <= set(out)
    leaks = [d for d in out["duplicates"] if d["leakage"]]
    assert leaks and sorted(leaks[0]["paths"]) == sorted([f"train/{leaked.parent.name}/copy.png",
                                                          leaked.relative_to(folder).as_posix()])
    for issue in out["label_issues"]:
        assert {"path", "given", "suggested", "score"} <= set(issue)
    rows = list(csv.reader(open(tmp_path / "new.csv", encoding="utf-8")))
    assert rows[0][0] == "finding" and any(r[0] == "exact duplicate" for r in rows[1:])


def test_runs_of_one_folder_as_labels_were_added_line_up_by_the_pictures_they_trained_on(tmp_path):
    """Issue 32, item 6: "By settings" on the Runs page shows how accuracy grew with the labels added: the run
    folders' config.json record the pictures each trained on, and the comparison plots accuracy against it."""
    from cnnstudio.core.runs import list_runs
    from cnnstudio.core.sweep.compare import by_settings

    for i, (n, acc) in enumerate(((400, 0.81), (520, 0.86), (650, 0.9))):
        run = tmp_path / f"run-{i}"
        run.mkdir()
        (run / "config.json").write_text(json.dumps({"config": {"dataset": "/data/pets", "model": "fast-cnn",
                                                                "epochs": 5, "lr": 0.001, "batch_size": 32},
                                                     "dataset": {"name": "pets", "train_samples": n}}))
        (run / "result.json").write_text(json.dumps({"status": "finished", "message": "", "epochs": 5,
                                                     "best_val_accuracy": acc, "test_accuracy": acc}))
    runs = list_runs(tmp_path)
    assert sorted(r.train_samples for r in runs) == [400, 520, 650]
    compared = by_settings(runs)
    assert compared.settings == ("train_samples",) and compared.titles == ("Pictures trained on",)
    assert [(row.values[0], row.best_val_accuracy) for row in compared.rows] == [(650, 0.9), (520, 0.86), (400, 0.81)]
    assert not compared.log_scale("train_samples")
