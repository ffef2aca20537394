"""The Review page in a real X window (Xvfb), driven with the real mouse and keyboard as a user would.

Writes a small folder of real handwritten digits (scikit-learn's digits of four classes, split into
train/ and test/, a few training pictures moved into a wrong class folder, two test pictures copied into
train) and a folder of a few unlabelled digits, then starts the app as `python -m cnnstudio` does (the
same entry point, cnnstudio.cli.main) on the xcb platform against Xvfb, with CNNSTUDIO_HOME and
XDG_CONFIG_HOME in a temp dir. Every click and key goes through the X server with xdotool; the app's
process only finds where a control is (to aim the pointer) and waits for results. The walk:

File > Open folder… (Ctrl+O, the path typed into the dialog) loads the digits; a quick training on the
Train page (F5) gives a model in use; Review (Ctrl+2): "Check the data…" and "Start" clicked, the
findings waited for; A on the first label issue and X on the next, checked on disk (files moved, rows in
`_changes.csv`); Ctrl+Z twice, every file back where it was and none deleted; "Label new pictures…" on
the unlabelled folder, one labelled with its digit's key, checked on disk, undone; Ctrl+Q, and the app
must exit with status 0 and no traceback on stderr. One PASS/FAIL line per check; screenshots (grabbed
from the X server, as scripts/walkthrough.py does) into --out.

    python scripts/review_walk.py [--out docs/images/walkthrough] [--size 1024x700]

Needs Xvfb and xdotool (apt-get install xvfb xdotool). Exit status 0 when every check passed.
"""

from __future__ import annotations

import argparse
import json
import os
import runpy
import shutil
import subprocess
import sys
import tempfile
import traceback
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "scripts"))

import _drive

CLASSES = ("0", "1", "2", "3")
PER_CLASS_TRAIN, PER_CLASS_TEST, NEW = 60, 15, 6


def make_folders(work: Path) -> dict:
    """The dataset folder (train/ and test/) and a folder of unlabelled digits; what the walk needs to know."""
    import numpy as np
    from PIL import Image
    from sklearn.datasets import load_digits

    sys.path.insert(0, str(ROOT / "benchmarks"))
    from doctor_label_issues import move_some

    digits = load_digits()
    data, new = work / "digits", work / "new-digits"
    counts = dict.fromkeys(CLASSES, 0)
    new_labels: dict[str, str] = {}
    for i, (img, y) in enumerate(zip(digits.images, digits.target)):
        label = str(y)
        if label not in counts:
            continue
        n = counts[label]
        counts[label] += 1
        if n < PER_CLASS_TRAIN:
            folder = data / "train" / label
        elif n < PER_CLASS_TRAIN + PER_CLASS_TEST:
            folder = data / "test" / label
        elif len(new_labels) < NEW and n < PER_CLASS_TRAIN + PER_CLASS_TEST + 2:
            folder = new
            new_labels[f"n{i:04d}.png"] = label
        else:
            continue
        folder.mkdir(parents=True, exist_ok=True)
        pixels = np.clip(img * 255.0 / 16.0, 0, 255).astype(np.uint8)
        name = f"n{i:04d}.png" if folder == new else f"d{i:04d}.png"
        Image.fromarray(pixels).resize((32, 32), Image.Resampling.BICUBIC).save(folder / name)
    moved = move_some(data / "train", 0.04, seed=0)
    leaks = []
    for label in CLASSES[:2]:  # two test pictures also in train, under other names: leakage
        first = sorted((data / "test" / label).iterdir())[0]
        shutil.copy(first, data / "train" / label / f"copy-{first.name}")
        leaks.append(f"train/{label}/copy-{first.name}")
    return {"data": str(data), "new": str(new), "new_labels": new_labels, "moved": sorted(moved), "leaks": leaks}


def files_under(folder: Path) -> dict[str, int]:
    """Every picture below `folder` (the change log left out), relative path -> size."""
    return {p.relative_to(folder).as_posix(): p.stat().st_size for p in folder.rglob("*")
            if p.is_file() and p.name != "_changes.csv"}


def parent(args: argparse.Namespace) -> int:
    for tool in ("Xvfb", "xdotool"):
        if not shutil.which(tool):
            print(f"review_walk: {tool} is missing (apt-get install xvfb xdotool)", file=sys.stderr)
            return 2
    work = Path(tempfile.mkdtemp(prefix="cnnstudio-review-walk-"))
    try:
        plan = make_folders(work)
        plan.update(out=str(Path(args.out).resolve()), size=args.size)
        (work / "plan.json").write_text(json.dumps(plan))
        read_fd, write_fd = os.pipe()
        server = subprocess.Popen(["Xvfb", "-displayfd", str(write_fd), "-screen", "0", "1366x768x24",
                                   "-nolisten", "tcp"], pass_fds=(write_fd,), stderr=subprocess.DEVNULL)
        os.close(write_fd)
        with os.fdopen(read_fd) as f:
            display = f":{f.readline().strip()}"
        env = dict(os.environ, DISPLAY=display, QT_QPA_PLATFORM="xcb", CNNSTUDIO_HOME=str(work / "home"),
                   XDG_CONFIG_HOME=str(work / "config"), REVIEW_WALK_PLAN=str(work / "plan.json"))
        try:
            app = subprocess.Popen([sys.executable, __file__, "--child"], env=env, stderr=subprocess.PIPE,
                                   text=True)
            try:
                _, stderr = app.communicate(timeout=args.timeout)
            except subprocess.TimeoutExpired:
                app.kill()
                _, stderr = app.communicate()
        finally:
            server.terminate()
            server.wait(10)
        sys.stderr.write(stderr)
        lines = [line for line in (work / "results.txt").read_text().splitlines()] if (
            work / "results.txt").is_file() else []
        checks = [("the app exits with status 0", app.returncode == 0, f"status {app.returncode}"),
                  ("no traceback on stderr", "Traceback" not in stderr and "QThread: Destroyed" not in stderr, ""),
                  ("the walk reached its end", any(line.startswith("END") for line in lines), "")]
        failed = sum(1 for line in lines if line.startswith("FAIL"))
        for name, ok, detail in checks:
            print(f"{'PASS' if ok else 'FAIL'}  {name}" + (f" ({detail})" if detail and not ok else ""))
            failed += not ok
        print(f"review_walk: {'every check passed' if not failed else f'{failed} check(s) failed'}")
        return 1 if failed else 0
    finally:
        shutil.rmtree(work, ignore_errors=True)


def child() -> int:
    """The app, started as `python -m cnnstudio` starts it, with the walk run inside its event loop."""
    from PySide6.QtCore import QTimer

    import cnnstudio.ui.main_window as main_window

    plan = json.loads(Path(os.environ["REVIEW_WALK_PLAN"]).read_text())
    show = main_window.MainWindow.show

    def show_and_walk(window) -> None:
        width, height = (int(v) for v in plan["size"].split("x"))
        window.resize(width, height)
        window.move(0, 0)
        show(window)
        QTimer.singleShot(200, lambda: walk(window, plan))

    main_window.MainWindow.show = show_and_walk  # type: ignore[method-assign]
    sys.argv = ["cnnstudio"]
    runpy.run_module("cnnstudio", run_name="__main__", alter_sys=True)  # exits with the app's status
    return 0


def walk(window, plan: dict) -> None:
    from PySide6.QtGui import QGuiApplication
    from PySide6.QtWidgets import QApplication, QWidget

    app = QApplication.instance()
    out = Path(plan["out"])
    out.mkdir(parents=True, exist_ok=True)
    data, new = Path(plan["data"]), Path(plan["new"])
    results = open(Path(os.environ["REVIEW_WALK_PLAN"]).parent / "results.txt", "w")

    def say(line: str) -> None:
        print(line, flush=True)
        results.write(line + "\n")
        results.flush()

    def verdict(name: str, ok: bool, detail: str = "") -> bool:
        say(f"{'PASS' if ok else 'FAIL'}  {name}" + (f" ({detail})" if detail else ""))
        return ok

    def pump(seconds: float) -> None:
        _drive.pump(app, seconds)

    def wait_until(condition, timeout: float, what: str) -> None:
        _drive.wait_until(app, condition, timeout, f"review_walk: {what}", on_timeout=lambda: shot("timeout"))

    def xdo(*words: str) -> None:
        subprocess.run(["xdotool", *words], check=True)
        pump(0.15)

    def click(widget: QWidget, rect=None) -> None:
        p = widget.mapToGlobal((rect if rect is not None else widget.rect()).center())
        xdo("mousemove", "--sync", str(p.x()), str(p.y()))
        xdo("click", "1")

    def key(*keys: str) -> None:
        xdo("key", "--clearmodifiers", *keys)

    def focus() -> None:
        """The window has the keyboard (Xvfb has no window manager to give it back after a dialog)."""
        xdo("windowfocus", "--sync", str(int(window.winId())))

    def answer_folder_dialog(title: str, path: Path) -> subprocess.Popen:
        """A separate process types the folder into the file dialog once it is up (the dialog runs its own
        event loop here until it is answered): pointer and focus on it, the path, Return."""
        script = f"""
            for i in $(seq 100); do
              id=$(xdotool search --onlyvisible --name '{title}' | head -1); [ -n "$id" ] && break; sleep 0.2
            done
            [ -n "$id" ] || exit 1
            sleep 0.8
            xdotool mousemove --window "$id" 40 40 windowfocus --sync "$id"
            xdotool key --clearmodifiers ctrl+a
            xdotool type --delay 15 '{path}'
            sleep 0.8
            for i in 1 2 3; do
              xdotool search --onlyvisible --name '{title}' >/dev/null || exit 0
              xdotool key --clearmodifiers Return; sleep 1.0
            done
            exit 2
        """
        return subprocess.Popen(["bash", "-c", script])

    def shot(name: str) -> None:
        pump(0.4)
        g = window.frameGeometry()
        picture = QGuiApplication.primaryScreen().grabWindow(0, g.x(), g.y(), g.width(), g.height())
        path = out / f"{name}.png"
        picture.save(str(path))
        from PIL import Image

        # 256 colours: a screen of flat controls loses nothing visible and the file is half the size.
        Image.open(path).convert("RGB").quantize(colors=256, method=Image.Quantize.MEDIANCUT).save(path, optimize=True)
        say(f"      wrote {path}")

    def change_rows() -> list[dict]:
        import csv

        log = data / "_changes.csv"
        if not log.is_file():
            return []
        with open(log, newline="", encoding="utf-8") as f:
            return list(csv.DictReader(f))

    try:
        state = window.state
        wait_until(lambda: getattr(window, "devices", None) is not None, 120, "the device probe")
        focus()
        xdo("mousemove", "--sync", "5", "5")
        # ---- File > Open folder… with the path typed into the dialog.
        answer = answer_folder_dialog("Open a dataset folder", data)
        key("ctrl+o")
        wait_until(lambda: answer.poll() is not None, 60, "the folder dialog")
        focus()
        wait_until(lambda: state.dataset_name == str(data) and state.dataset is not None
                   and not window.page("data").is_loading(), 120, "the digits folder")
        pump(0.5)
        verdict("File > Open folder… loads the digits", len(state.dataset.train_labels) > 0,
                f"{len(state.dataset.train_labels)} train, {len(state.dataset.test_labels)} test pictures")

        # ---- Train: a quick run (3 epochs on a few hundred pictures), its model used by Review.
        key("ctrl+4")
        train = window.page("train")
        finished: list = []
        train.runFinished.connect(finished.append)
        click(train.form.epochs_spin)
        key("ctrl+a")
        xdo("type", "--delay", "20", "3")
        key("Tab")
        xdo("mousemove", "--sync", "5", "5")
        key("F5")
        wait_until(lambda: finished, 300, "the quick training")
        review = window.page("review")
        wait_until(lambda: review.session.model_fits() is not None, 60, "the trained model in use")
        verdict("a quick training gives a model in use", True, Path(review.session.model_fits()).parent.name)

        # ---- Review: Check the data…, its estimate, Start.
        key("ctrl+2")
        pump(0.5)
        click(review.check_button)
        wait_until(lambda: review.start_button.isVisible(), 120, "the estimate")
        verdict("'Check the data…' says how long the check takes", "about" in review.start_button.text(),
                review.start_button.text())
        shot("10-review-estimate")
        click(review.start_button)
        wait_until(lambda: review.session.view is not None and not review.session.busy, 600, "the findings")
        pump(0.5)
        view = review.session.view
        found = {c.suspect.picture.file for c in view.label}
        hits = found & {f"train/{m}" for m in plan["moved"]}
        verdict("the check finds the pictures moved into a wrong class", len(hits) >= len(plan["moved"]) // 2,
                f"{len(hits)} of {len(plan['moved'])} moved among {len(found)} label issues")
        leaks = {c.suspect.picture.file for c in view.duplicate if c.suspect.leakage}
        verdict("the check finds the test pictures copied into train", set(plan["leaks"]) <= leaks,
                f"{len(leaks)} pictures in train and test")
        shot("11-review-findings")

        # ---- A on the first label issue, X on the next: files moved, logged.
        before = files_under(data)
        grid = review.grids["label"]
        first = grid.item(0)
        first_file = view.label[0].suspect.picture.file
        target = view.label[0].suspect.suggested
        click(grid.viewport(), grid.visualItemRect(first))
        key("a")
        wait_until(lambda: not review.session.reloading, 60, "the reload after A")
        pump(0.3)
        second = review.session.view.label[0].suspect
        click(grid.viewport(), grid.visualItemRect(grid.item(0)))
        key("x")
        wait_until(lambda: not review.session.reloading, 60, "the reload after X")
        pump(0.3)
        after = files_under(data)
        name1 = first_file.rsplit("/", 1)[1]
        relabelled = first_file not in after and any(f.endswith(f"/{target}/{name1}") for f in after)
        verdict("A moves the first label issue into its suggested class's folder", relabelled,
                f"{first_file} -> {target}/")
        excluded = second.picture.file not in after and any(
            f.startswith("_excluded/") and f.endswith(second.picture.file) for f in after)
        verdict("X moves the next one into _excluded", excluded, f"{second.picture.file}")
        rows = change_rows()
        verdict("_changes.csv has a row for each", [r["action"] for r in rows] == ["relabel", "exclude"]
                and rows[0]["file"] == first_file and rows[1]["file"] == second.picture.file,
                f"{[(r['action'], r['file']) for r in rows]}")
        verdict("no file lost", len(after) == len(before), f"{len(before)} before, {len(after)} after")
        shot("12-review-after-fixes")

        # ---- Ctrl+Z twice: everything back.
        key("ctrl+z")
        wait_until(lambda: not review.session.reloading, 60, "the reload after the first undo")
        pump(0.3)
        key("ctrl+z")
        wait_until(lambda: not review.session.reloading, 60, "the reload after the second undo")
        pump(0.3)
        back = files_under(data)
        verdict("Ctrl+Z twice puts every file back, none deleted", back == before,
                f"{len(before)} before, {len(back)} after; differ: {sorted(set(back) ^ set(before))[:4]}")
        verdict("the undos are logged", [r["action"] for r in change_rows()] == ["relabel", "exclude", "undo", "undo"])
        verdict("the two suspects are back in the grid",
                {first_file, second.picture.file} <= {c.suspect.picture.file for c in review.session.view.label})

        # ---- Label new pictures…: the unlabelled digits, one labelled with its key, then undone.
        new_before = sorted(p.name for p in new.iterdir())
        answer = answer_folder_dialog("A folder of new", new)
        click(review.new_button)
        wait_until(lambda: answer.poll() is not None, 60, "the new pictures' folder dialog")
        focus()
        wait_until(lambda: review.session.new_pictures is not None and not review.session.busy, 120,
                   "the new pictures classified")
        pump(0.5)
        pictures = review.session.new_pictures.pictures
        verdict("'Label new pictures…' lists the unlabelled digits", len(pictures) == len(new_before),
                f"{len(pictures)} of {len(new_before)}")
        shot("13-review-new-pictures")
        grid = review.grids["new"]
        click(grid.viewport(), grid.visualItemRect(grid.item(0)))
        picked = Path(pictures[0].path)
        digit = plan["new_labels"][picked.name]
        data_before = files_under(data)
        key(digit)
        wait_until(lambda: not review.session.reloading, 60, "the reload after labelling")
        pump(0.3)
        moved_to = data / "train" / digit / picked.name
        verdict(f"key {digit} moves the selected new picture into train/{digit}",
                not picked.exists() and moved_to.is_file() and len(files_under(data)) == len(data_before) + 1,
                f"{picked.name}")
        verdict("_changes.csv logs it", change_rows()[-1]["action"] == "add" if change_rows() else False)
        shot("14-review-new-labelled")
        key("ctrl+z")
        wait_until(lambda: not review.session.reloading, 60, "the reload after its undo")
        pump(0.3)
        verdict("Ctrl+Z puts it back in the new pictures' folder",
                picked.is_file() and not moved_to.exists() and files_under(data) == data_before
                and sorted(p.name for p in new.iterdir()) == new_before)
        verdict("it is listed again", any(Path(p.path).name == picked.name
                                          for p in review.session.new_pictures.pictures))
        say("END")
    except BaseException as exc:  # noqa: BLE001 - a failed step is a FAIL line, and the app still closes
        verdict("the walk", False, f"{type(exc).__name__}: {exc}")
        traceback.print_exc(file=sys.stdout)
        shot("failed")
    finally:
        results.close()
        key("ctrl+q")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", default=str(ROOT / "docs" / "images" / "walkthrough"))
    parser.add_argument("--size", default="1024x700")
    parser.add_argument("--timeout", type=float, default=900, help="seconds before the app is killed")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    return child() if args.child else parent(args)


if __name__ == "__main__":
    raise SystemExit(main())
