"""A first-time user's walk through the app in a real X window (Xvfb), driven with the real mouse and keyboard.

The app runs on the xcb platform against an Xvfb server; every click, key and drag is sent with xdotool
through the X server, as a person's would be. The app's own process only finds where a control is (to
aim the pointer) and waits for the results. Screens are grabbed from the X server (what is really on
the screen, dialogs included) into --out, and each one is checked for clipped controls (a button,
check box or list narrower than its minimum) and stale messages (a download error still shown after
another dataset was chosen).

Walk: Data (an offline download of MNIST fails, then Fashion-MNIST from /usr/share/datasets), Model,
Train (two short runs), Runs (the two compared, a hover reading), Evaluate, Inspect (filters of conv 2:
its channels' top patches), Draw (a stroke), then Ctrl+Q.

    python scripts/walkthrough.py [--out /tmp/walkthrough] [--size 1024x700]

Needs Xvfb and xdotool (apt-get install xvfb xdotool). Exit status 0 when every check passed.
"""

from __future__ import annotations

import argparse
import atexit
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "scripts"))

import _drive


def parent(args: argparse.Namespace) -> int:
    """Start an X server the size of a laptop screen and run the walk in it."""
    for tool in ("Xvfb", "xdotool"):
        if not shutil.which(tool):
            print(f"walkthrough: {tool} is missing (apt-get install xvfb xdotool)", file=sys.stderr)
            return 2
    display = f":{args.display}"
    server = subprocess.Popen(["Xvfb", display, "-screen", "0", "1366x768x24", "-nolisten", "tcp"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        time.sleep(1.0)
        env = dict(os.environ, DISPLAY=display, QT_QPA_PLATFORM="xcb")
        return subprocess.call([sys.executable, __file__, "--child", "--out", args.out, "--size", args.size], env=env)
    finally:
        server.terminate()
        server.wait(10)


def child(args: argparse.Namespace) -> int:
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    home = tempfile.mkdtemp(prefix="cnnstudio-walk-")
    os.environ["CNNSTUDIO_HOME"] = home
    atexit.register(shutil.rmtree, home, ignore_errors=True)

    from PySide6.QtCore import QSettings
    from PySide6.QtGui import QGuiApplication
    from PySide6.QtWidgets import (QAbstractButton, QAbstractItemView, QCheckBox, QHeaderView, QMessageBox,
                                   QWidget)

    from cnnstudio.ui.app import create_application
    from cnnstudio.ui.main_window import MainWindow
    from cnnstudio.ui.widgets.banner import Banner

    QSettings.setPath(QSettings.Format.NativeFormat, QSettings.Scope.UserScope, home)
    app = create_application(sys.argv[:1])
    width, height = (int(v) for v in args.size.split("x"))
    window = MainWindow()
    window.resize(width, height)
    window.move(0, 0)
    window.show()
    problems: list[str] = []

    def pump(seconds: float) -> None:
        _drive.pump(app, seconds)

    def wait_until(condition, timeout: float, what: str) -> None:
        _drive.wait_until(app, condition, timeout, f"walkthrough: {what}", on_timeout=lambda: shot("timeout"))

    def xdo(*words: str) -> None:
        subprocess.run(["xdotool", *words], check=True)
        pump(0.15)

    def point(widget: QWidget, rect=None) -> tuple[int, int]:
        p = widget.mapToGlobal((rect if rect is not None else widget.rect()).center())
        return p.x(), p.y()

    def click(widget: QWidget, rect=None, modifier: str | None = None) -> None:
        x, y = point(widget, rect)
        xdo("mousemove", "--sync", str(x), str(y))
        if modifier:
            xdo("keydown", modifier)
        xdo("click", "1")
        if modifier:
            xdo("keyup", modifier)

    def key(*keys: str) -> None:
        xdo("key", "--clearmodifiers", *keys)

    def type_into(widget: QWidget, text: str) -> None:
        click(widget)
        key("ctrl+a")
        xdo("type", "--delay", "20", text)

    def visible_banners() -> list[str]:
        return [b.label.text() for b in window.findChildren(Banner) if b.isVisible() and b.label.text()]

    def check(name: str) -> None:
        """Clipped controls and stale messages on what is on screen now."""
        for w in window.findChildren(QWidget):
            if not w.isVisible() or w.window() is not window:
                continue
            if isinstance(w, QAbstractButton) and w.text():
                if isinstance(w, QCheckBox):
                    need = w.sizeHint().width() - 2  # the box, the spacing and the text, as the style lays them out
                else:
                    # The text as drawn, plus the icon and a little margin (a push button's size hint has
                    # the style's minimum width in it, which a short text does not need).
                    need = w.fontMetrics().horizontalAdvance(w.text().replace("&", "")) + 8
                    if not w.icon().isNull():
                        need += w.iconSize().width() + 4
                if w.width() < need:
                    problems.append(f"{name}: {type(w).__name__} '{w.text()}' is clipped ({w.width()} < {need} px)")
            if (isinstance(w, QAbstractItemView) and not isinstance(w, QHeaderView)
                    and (w.width() < 40 or w.height() < 40)):
                problems.append(f"{name}: a {type(w).__name__} is squeezed to {w.width()}x{w.height()}")
        for text in visible_banners():
            if "Errno" in text or "Traceback" in text:
                problems.append(f"{name}: a raw error is shown: {text[:120]}")
        if window.minimumSizeHint().width() > width or window.width() > width:
            # Which widgets ask for the width: the widest minimums on screen, innermost first.
            wide = sorted(((w.minimumSizeHint().width(), type(w).__name__, w.objectName() or
                            (w.text()[:40] if hasattr(w, "text") and callable(w.text) else ""))
                           for w in window.findChildren(QWidget) if w.isVisible() and w.window() is window
                           and w.minimumSizeHint().width() > width // 3), key=lambda t: t[0])[:12]
            problems.append(f"{name}: the window is wider than {width} px ({window.width()}, minimum "
                            f"{window.minimumSizeHint().width()}); widest minimums: {wide}")

    def shot(name: str) -> None:
        pump(0.3)
        g = window.frameGeometry()
        picture = QGuiApplication.primaryScreen().grabWindow(0, g.x(), g.y(), g.width(), g.height())
        path = out / f"{name}.png"
        picture.save(str(path))
        print(f"wrote {path}  banners: {visible_banners()}")

    def close_dialogs() -> list[str]:
        texts = []
        for box in app.topLevelWidgets():
            if isinstance(box, QMessageBox) and box.isVisible():
                texts.append(box.text())
                click(box.buttons()[0])
        pump(0.3)
        return texts

    state = window.state
    wait_until(lambda: state.dataset is not None, 180, "the shapes dataset")
    wait_until(lambda: getattr(window, "devices", None) is not None, 60, "the device probe")
    xdo("mousemove", "--sync", "5", "5")
    # ---- Data: MNIST is not on this computer and the download fails offline; then Fashion-MNIST.
    key("ctrl+1")
    data = window.page("data")
    rows = {data.datasets.topLevelItem(i).data(0, 256): data.datasets.topLevelItem(i)
            for i in range(data.datasets.topLevelItemCount())}
    mnist = next(k for k in rows if k == "mnist")
    click(data.datasets.viewport(), data.datasets.visualItemRect(rows[mnist]))
    click(data.download_button)
    wait_until(lambda: not data.is_downloading(), 120, "the download to fail")
    pump(0.5)
    dialogs = close_dialogs()
    offline = visible_banners()
    shot("01-data-offline")
    check("data, offline")
    if dialogs:
        problems.append(f"data: the download failure opened a dialog as well as the banner: {dialogs}")
    if not any("offline" in t.lower() for t in offline):
        problems.append(f"data: the download failure does not say the computer is offline: {offline}")
    fashion = next(k for k in rows if k == "fashion-mnist")
    click(data.datasets.viewport(), data.datasets.visualItemRect(rows[fashion]))
    wait_until(lambda: state.dataset_name == "fashion-mnist" and state.dataset is not None
               and not data.is_loading(), 300, "Fashion-MNIST")
    pump(1.0)
    shot("02-data-fashion-mnist")
    check("data, Fashion-MNIST")
    stale = [t for t in visible_banners() if "MNIST" in t and "fashion" not in t.lower() or "offline" in t.lower()]
    if stale:
        problems.append(f"data: a stale message stays after choosing Fashion-MNIST: {stale}")

    # ---- Model: the preset chosen for the dataset, with each layer's output shape.
    key("ctrl+3")
    pump(0.8)
    shot("03-model")
    check("model")

    # ---- Train: two short runs (one epoch on 6,000 images), the second with another learning rate, lined up
    # with "Train next" while the first trains: it starts by itself when the first ends.
    key("ctrl+4")
    train = window.page("train")
    finished: list = []
    train.runFinished.connect(finished.append)
    type_into(train.form.epochs_spin, "1")
    type_into(train.form.limit_spin, "6000")
    key("Tab")
    xdo("mousemove", "--sync", "5", "5")
    key("F5")
    wait_until(lambda: train.current_step > 20, 300, "training to start")
    shot("04-train-running")
    check("train, running")
    type_into(train.form.lr_spin, "0.003")
    key("Tab")
    click(train.queue_button)
    wait_until(lambda: len(state.queue) == 1, 30, "the second run queued")
    pump(0.5)
    shot("04b-train-next-queued")
    check("train, a run queued while one trains")
    wait_until(lambda: finished, 600, "the first run")
    wait_until(lambda: len(finished) == 2, 600, "the queued run, started by itself")
    pump(1.0)
    shot("05-train-finished")
    check("train, finished")

    # ---- Runs: both compared, a reading at the mouse on the accuracy chart.
    key("ctrl+5")
    runs = window.page("runs")
    pump(0.8)
    table = runs.table
    click(table.viewport(), table.visualItemRect(table.topLevelItem(0)))
    click(table.viewport(), table.visualItemRect(table.topLevelItem(1)), modifier="ctrl")
    wait_until(lambda: len(runs.charts.overlay_curves) == 2, 30, "the comparison")
    plot = runs.charts.loss_plot
    x, y = point(plot)
    xdo("mousemove", "--sync", str(x), str(y))
    pump(0.5)
    shot("06-runs-compare")
    check("runs")
    if not runs.charts.hover[plot].text.isVisible():
        problems.append("runs: hovering the loss chart shows no values")

    # ---- Evaluate: the best checkpoint of the last run, on the test set.
    evaluate = window.page("evaluate")
    ready: list = []
    evaluate.evaluationReady.connect(ready.append)
    key("ctrl+6")
    wait_until(lambda: ready or evaluate.evaluation is not None, 300, "the evaluation")
    pump(1.0)
    shot("07-evaluate")
    check("evaluate")

    # ---- Inspect: the Filters tab, conv 2 (its channels' top test-image patches).
    inspect = window.page("inspect")
    key("ctrl+7")
    wait_until(lambda: inspect.context is not None and not inspect.busy(), 300, "the inspection")
    tab_bar = inspect.tabs.tabBar()
    click(tab_bar, tab_bar.tabRect(inspect.tabs.indexOf(inspect.filters)))
    shown: list = []
    inspect.filtersReady.connect(shown.append)
    combo = inspect.filters.layer_combo
    click(combo)
    pump(0.4)
    key("Down")
    key("Return")
    wait_until(lambda: shown and getattr(shown[-1], "per_channel", None), 300, "conv 2's top patches")
    pump(0.8)
    shot("08-inspect-filters-conv2")
    check("inspect")

    # ---- Draw: one stroke, the prediction follows it.
    draw = window.page("draw")
    predicted: list = []
    draw.predictionUpdated.connect(predicted.append)
    key("ctrl+8")
    pump(0.8)
    canvas = draw.canvas
    r = canvas.rect()
    x0, y0 = point(canvas)
    xdo("mousemove", "--sync", str(x0 - r.width() // 4), str(y0 - r.height() // 4))
    xdo("mousedown", "1")
    for i in range(1, 11):
        xdo("mousemove", "--sync", str(x0 - r.width() // 4 + i * r.width() // 20),
            str(y0 - r.height() // 4 + i * r.height() // 20))
    xdo("mouseup", "1")
    wait_until(lambda: predicted and not predicted[-1].empty, 120, "a prediction")
    pump(0.8)
    shot("09-draw")
    check("draw")

    key("ctrl+q")
    end = time.monotonic() + 30
    while window.isVisible() and time.monotonic() < end:
        pump(0.1)
    if window.isVisible():
        problems.append("Ctrl+Q did not close the window")
    print()
    if problems:
        print("PROBLEMS:")
        for p in problems:
            print(f"  - {p}")
        return 1
    print("walkthrough: every step done, no clipped control, no stale or raw message")
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", default="/tmp/walkthrough")
    parser.add_argument("--size", default="1024x700")
    parser.add_argument("--display", default="87")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    return child(args) if args.child else parent(args)


if __name__ == "__main__":
    raise SystemExit(main())
