"""Safe text: names a user (or a crafted checkpoint) chose never break a line, reorder a terminal or run
as a spreadsheet formula.

- class names with control characters are refused where they come from (a folder named with a newline:
  one line naming the folder), and a bundle's labels.txt keeps exactly one class per line;
- every user-supplied string the command line prints goes through text.printable (control, line-break
  and bidi characters escaped);
- every CSV cell goes through text.csv_cell (a leading = + - @ tab CR gets a single quote, OWASP);
- `predict --folder` exits 0 when it classified anything (skips listed), 1 with --strict.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw

from cnnstudio import cli
from cnnstudio.core.datasets import load_dataset
from cnnstudio.core.errors import CNNStudioError, DatasetError
from cnnstudio.core.text import csv_cell, name_problem, printable

RLO = "\u202e"  # RIGHT-TO-LEFT OVERRIDE: the text after it is shown reversed


@pytest.fixture(scope="module")
def shapes():
    return load_dataset("shapes")


@pytest.fixture(scope="module")
def checkpoint(tiny_shapes_run) -> str:
    """best.pt of a finished tiny-bn-cnn run (tests/conftest.py trains it once for the session)."""
    return str(tiny_shapes_run / "best.pt")


def drawing(path: Path, seed: int = 0) -> Path:
    """A white figure on black, as the shapes model was trained on."""
    img = Image.new("L", (64, 64), 0)
    rng = np.random.default_rng(seed)
    x, y = rng.integers(8, 24, 2)
    ImageDraw.Draw(img).ellipse((int(x), int(y), int(x) + 30, int(y) + 30), outline=255, width=4)
    img.save(path)
    return path


def lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.strip()]


# -- the helpers ------------------------------------------------------------------------------------
def test_printable_escapes_controls_line_breaks_and_bidi_but_keeps_names_readable():
    assert printable("cat\ndog") == "cat\\ndog"
    assert printable(f"txt.{RLO}gnp") == "txt.\\u202egnp"
    assert printable("\x1b[31mred\x1b[0m") == "\\x1b[31mred\\x1b[0m"  # no terminal colour codes
    assert printable("a\u2028b\u2029c\x85d\te\rf") == "a\\u2028b\\u2029c\\x85d\\te\\rf"
    assert printable("caf\udce9") == "caf\\udce9"  # a file name's byte that is not UTF-8: printing it raised
    for kept in ("Zürich", "猫", "👨\u200d👩\u200d👧", "Ελληνικά", "a\\nb", "x y"):
        assert printable(kept) == kept
    for ch in ("\u202a", "\u202b", "\u202c", "\u202d", "\u2066", "\u2067", "\u2068", "\u2069", "\u200b", "\ufeff"):
        assert printable(ch).startswith("\\u")
    assert printable(Path("a\nb")) == "a\\nb" and printable(ValueError("x\ny")) == "x\\ny"


def test_csv_cell_neutralises_formulas():
    for bad in ("=1+1", "+1", "-1", "@SUM(A1)", "\t=1", "\r=1", "=HYPERLINK(\"http://x\")"):
        assert csv_cell(bad) == "'" + bad
    for fine in ("cat", "0.950000", "", "a=b", "yes"):
        assert csv_cell(fine) == fine


def test_name_problem_names_line_breaking_characters_only():
    for bad in ("a\nb", "a\rb", "a\tb", "a\x00b", "a\x1bb", "a\u2028b", "a\x85b", "caf\udce9"):
        assert name_problem(bad), bad
    for fine in ("cat", f"a{RLO}b", "👨\u200d👩", "T-shirt/top", "=sum", " space "):
        assert name_problem(fine) is None


# -- class names at load and in labels.txt ----------------------------------------------------------
def test_a_class_folder_named_with_a_newline_is_refused_in_one_line_naming_it(tmp_path):
    folder = tmp_path / "pets"
    for name in ("cat\nmeow", "dog"):
        (folder / name).mkdir(parents=True)
        for i in range(3):
            drawing(folder / name / f"{i}.png", seed=i)
    with pytest.raises(DatasetError) as caught:
        load_dataset(str(folder))
    message = str(caught.value)
    assert "\n" not in message and "cat\\nmeow" in message and "Rename" in message


def test_the_cli_refuses_that_folder_in_one_line(tmp_path, capsys):
    folder = tmp_path / "pets"
    for name in ("ok", f"evil{RLO}gnp\x07"):
        (folder / name).mkdir(parents=True)
        for i in range(3):
            drawing(folder / name / f"{i}.png", seed=i)
    code = cli.main(["train", "--dataset", str(folder), "--model", "tiny-bn-cnn", "--epochs", "1"])
    err = capsys.readouterr().err
    assert code == cli.EXIT_ERROR and len(lines(err)) == 1, err
    assert RLO not in err and "\x07" not in err and "\\u202e" in err and "\\x07" in err


def test_labels_txt_keeps_one_class_per_line(checkpoint, shapes, tmp_path):
    from cnnstudio.core.checkpoint import load_checkpoint
    from cnnstudio.core.export import export_model

    ckpt = load_checkpoint(checkpoint)
    # 8 classes, two of them holding a line break: refused before anything of the bundle is written.
    broken = dict(ckpt, classes=["cir\ncle", "squ\u2028are", *ckpt["classes"][2:]])
    with pytest.raises(CNNStudioError) as caught:
        export_model(broken, "onnx", tmp_path / "a.onnx", bundle=tmp_path / "bundle-a", dataset=shapes)
    assert "\n" not in str(caught.value) and "labels.txt" in str(caught.value)
    assert not (tmp_path / "bundle-a").exists()
    # Odd but legal names (bidi, emoji, a backslash, spaces, a formula): written as they are, read back the same.
    odd = [f"evil{RLO}gnp", "👨\u200d👩\u200d👧", "a\\nb", " padded ", "=1+1", "Zürich", "猫", "plain"]
    result = export_model(dict(ckpt, classes=odd), "onnx", tmp_path / "b.onnx", bundle=tmp_path / "bundle-b",
                          dataset=shapes)
    text = (Path(result.bundle) / "labels.txt").read_text(encoding="utf-8")
    assert text.splitlines() == odd and text.count("\n") == len(odd)


# -- what the command line prints -------------------------------------------------------------------
def test_predict_prints_file_and_class_names_escaped(checkpoint, tmp_path, capsys):
    from cnnstudio.core.checkpoint import load_checkpoint, save_checkpoint

    ckpt = load_checkpoint(checkpoint)
    crafted = tmp_path / "crafted.pt"
    # A checkpoint made elsewhere names its classes as it likes: printed escaped, one line per image.
    save_checkpoint(dict(ckpt, classes=[f"c{k}\n{RLO}x" for k in range(len(ckpt["classes"]))]), crafted)
    names = [drawing(tmp_path / f"line\nbreak{RLO}gnp.png"), drawing(tmp_path / "plain.png", seed=1)]
    missing = tmp_path / "gone\x1b[2J.png"
    code = cli.main(["predict", "--checkpoint", str(crafted), *map(str, names), str(missing)])
    out, err = capsys.readouterr()
    assert len(lines(out)) == 2 and len(lines(err)) == 1, (out, err)
    assert RLO not in out + err and "\x1b" not in out + err
    assert "line\\nbreak\\u202egnp.png: c" in out and "\\n\\u202ex" in out and "gone\\x1b[2J.png" in err
    assert code == cli.EXIT_FAILED  # a file named on the command line that cannot be read


def test_errors_quoting_a_path_are_one_line(tmp_path, capsys):
    code = cli.main(["predict", "--checkpoint", str(tmp_path / f"no\nsuch{RLO}.pt"), "x.png"])
    err = capsys.readouterr().err
    assert code == cli.EXIT_ERROR and len(lines(err)) == 1 and RLO not in err and "no\\nsuch\\u202e.pt" in err


def test_print_table_keeps_a_row_on_one_line(capsys):
    cli.print_table([["cat\ndog", "1"], [f"a{RLO}b", "2"]], ["class", "n"])
    out = capsys.readouterr().out
    assert len(out.splitlines()) == 4 and RLO not in out and "cat\\ndog" in out


def test_predict_folder_prints_names_escaped_and_writes_a_safe_csv(checkpoint, tmp_path, capsys):
    folder = tmp_path / "mine"
    (folder / "=cmd").mkdir(parents=True)
    drawing(folder / "=cmd" / "@SUM(A1).png")
    drawing(folder / "+1.png", seed=1)
    drawing(folder / f"-x{RLO}gnp.png", seed=2)
    drawing(folder / "new\nline.png", seed=3)
    (folder / "=broken.png").write_bytes(b"not a png")
    out_csv = tmp_path / "out.csv"
    code = cli.main(["predict", "--checkpoint", checkpoint, "--folder", str(folder), "--csv", str(out_csv)])
    out, err = capsys.readouterr()
    assert code == 0
    assert RLO not in out + err and len(lines(err)) == 1 and "skipped =broken.png" in err
    assert len(lines(out)) == 4 + 2  # four images, the summary, where the table went
    rows = list(csv.reader(out_csv.open(encoding="utf-8", newline="")))
    cells = [cell for row in rows[1:] for cell in row]
    assert not [c for c in cells if c[:1] in ("=", "+", "-", "@", "\t", "\r")], cells
    files = {row[0] for row in rows[1:]}
    assert {"'=cmd/@SUM(A1).png", "'+1.png", f"'-x{RLO}gnp.png", "new\nline.png", "'=broken.png"} == files


def test_the_per_class_csv_neutralises_class_names(tmp_path):
    from cnnstudio.core.metrics import Evaluation

    ev = Evaluation(["=evil()", "-1", "cat"], np.array([0, 1, 2]), np.eye(3, dtype=np.float32))
    rows = list(csv.DictReader(ev.write_csv(tmp_path / "m.csv").open(encoding="utf-8", newline="")))
    assert [r["class"] for r in rows] == ["'=evil()", "'-1", "cat"]
    assert float(rows[0]["precision"]) == 1.0


# -- predict --folder: a good result is a success ---------------------------------------------------
def test_predict_folder_exits_0_when_it_classified_images_and_1_with_strict(checkpoint, tmp_path, capsys):
    folder = tmp_path / "photos"
    folder.mkdir()
    for i in range(5):
        drawing(folder / f"{i}.png", seed=i)
    (folder / "broken.jpg").write_bytes(b"\xff\xd8 cut off")
    out_csv = tmp_path / "out.csv"
    args = ["predict", "--checkpoint", checkpoint, "--folder", str(folder), "--csv", str(out_csv)]
    assert cli.main(args) == 0
    out, err = capsys.readouterr()
    assert "5 images classified; 1 skipped" in out and "skipped broken.jpg" in err
    assert list(csv.reader(out_csv.open()))[-1][-1].startswith("skipped")
    assert cli.main([*args, "--strict"]) == cli.EXIT_FAILED
    capsys.readouterr()
    assert cli.main([*args, "--json"]) == 0
    assert json.loads(capsys.readouterr().out.splitlines()[-1])["skipped"][0]["file"] == "broken.jpg"
    # Nothing classified is a failure with or without --strict; no image at all is a usage error.
    only_broken = tmp_path / "broken"
    only_broken.mkdir()
    (only_broken / "a.png").write_bytes(b"")
    assert cli.main(["predict", "--checkpoint", checkpoint, "--folder", str(only_broken)]) == cli.EXIT_FAILED
    assert "none of the 1 image files could be classified" in capsys.readouterr().err
    (tmp_path / "nothing").mkdir()
    assert cli.main(["predict", "--checkpoint", checkpoint, "--folder", str(tmp_path / "nothing")]) == cli.EXIT_ERROR
    assert cli.main(["predict", "--checkpoint", checkpoint, "--strict", "x.png"]) == cli.EXIT_ERROR
    assert "--strict goes with --folder" in capsys.readouterr().err


# -- the app's widgets show the same escaped text ---------------------------------------------------
def test_widgets_show_class_names_escaped(qtbot):
    from cnnstudio.core.classify import FileResult, FolderClassification
    from cnnstudio.ui.widgets.class_bars import ClassCountChart
    from cnnstudio.ui.widgets.classify_dialog import FolderResultModel
    from cnnstudio.ui.widgets.confusion_matrix import ConfusionMatrixView
    from cnnstudio.ui.widgets.prediction import ProbabilityBars

    names = [f"evil{RLO}gnp", "two\nlines"]
    shown = ["evil\\u202egnp", "two\\nlines"]
    bars = ProbabilityBars()
    qtbot.addWidget(bars)
    bars.set_rows([(names[0], 0.7), (names[1], 0.3)])
    assert [label for label, _ in bars.rows()] == shown and RLO not in bars.toolTip()
    chart = ClassCountChart()
    qtbot.addWidget(chart)
    chart.set_counts(names, [3, 4])
    assert RLO not in chart.toolTip() and "two\\nlines: 4" in chart.toolTip()
    matrix = ConfusionMatrixView()
    qtbot.addWidget(matrix)
    matrix.set_matrix(np.array([[1, 0], [0, 1]]), names)
    assert matrix._classes == shown
    model = FolderResultModel()
    model.set_result(FolderClassification("f", names, [FileResult(f"a{RLO}.png", 1, names[1], 0.9,
                                                                  [(names[1], 0.9)], truth=0)]))
    texts = [model.data(model.index(0, col)) for col in (1, 2, 4)]
    assert texts == ["a\\u202e.png", "two\\nlines", "evil\\u202egnp"]
