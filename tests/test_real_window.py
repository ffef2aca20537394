"""`cnnstudio` in a real window on an X server (Xvfb): it opens, and closes cleanly when closed.

The window is closed the way a window manager's close button does it: a WM_DELETE_WINDOW client
message, sent with libX11 through ctypes (xdotool's windowclose would destroy the window instead).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import json
import os
import shutil
import subprocess
import sys
import time

import pytest

pytestmark = pytest.mark.skipif(not (shutil.which("Xvfb") and shutil.which("xdotool")
                                     and ctypes.util.find_library("X11")),
                                reason="needs Xvfb, xdotool and libX11 (apt-get install xvfb xdotool)")


class ClientMessage(ctypes.Structure):
    _fields_ = [("type", ctypes.c_int), ("serial", ctypes.c_ulong), ("send_event", ctypes.c_int),
                ("display", ctypes.c_void_p), ("window", ctypes.c_ulong), ("message_type", ctypes.c_ulong),
                ("format", ctypes.c_int), ("data", ctypes.c_long * 5)]


class XEvent(ctypes.Union):
    _fields_ = [("xclient", ClientMessage), ("pad", ctypes.c_long * 24)]


def send_wm_delete(display_name: str, window_id: int) -> None:
    x11 = ctypes.CDLL(ctypes.util.find_library("X11"))
    x11.XOpenDisplay.restype = ctypes.c_void_p
    x11.XOpenDisplay.argtypes = [ctypes.c_char_p]
    x11.XInternAtom.restype = ctypes.c_ulong
    x11.XInternAtom.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_int]
    x11.XSendEvent.argtypes = [ctypes.c_void_p, ctypes.c_ulong, ctypes.c_int, ctypes.c_long, ctypes.POINTER(XEvent)]
    x11.XFlush.argtypes = [ctypes.c_void_p]
    x11.XCloseDisplay.argtypes = [ctypes.c_void_p]
    display = x11.XOpenDisplay(display_name.encode())
    assert display, f"cannot open display {display_name}"
    event = XEvent()
    event.xclient.type = 33  # ClientMessage
    event.xclient.window = window_id
    event.xclient.message_type = x11.XInternAtom(display, b"WM_PROTOCOLS", False)
    event.xclient.format = 32
    event.xclient.data[0] = x11.XInternAtom(display, b"WM_DELETE_WINDOW", False)
    x11.XSendEvent(display, window_id, False, 0, ctypes.byref(event))
    x11.XFlush(display)
    x11.XCloseDisplay(display)


@pytest.fixture()
def xserver():
    read_fd, write_fd = os.pipe()
    proc = subprocess.Popen(["Xvfb", "-displayfd", str(write_fd), "-screen", "0", "1400x900x24", "-nolisten", "tcp"],
                            pass_fds=(write_fd,), stderr=subprocess.DEVNULL)
    os.close(write_fd)
    with os.fdopen(read_fd) as f:
        number = f.readline().strip()
    yield f":{number}"
    proc.terminate()
    proc.wait(10)


def find_window(display: str, title: str, timeout: float) -> int | None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        found = subprocess.run(["xdotool", "search", "--onlyvisible", "--name", f"^{title}$"],
                               capture_output=True, text=True, env={**os.environ, "DISPLAY": display})
        ids = found.stdout.split()
        if ids:
            return int(ids[0])
        time.sleep(0.2)
    return None


def test_app_opens_in_a_real_window_and_closes_cleanly(xserver, tmp_path):
    env = {**os.environ, "DISPLAY": xserver, "QT_QPA_PLATFORM": "xcb", "CNNSTUDIO_HOME": str(tmp_path)}
    app = subprocess.Popen([sys.executable, "-m", "cnnstudio"], env=env, stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, text=True)
    try:
        window = find_window(xserver, "CNN Studio", timeout=60)
        assert window is not None, "no 'CNN Studio' window appeared"
        time.sleep(3)  # let the background loads (torch, the shapes dataset) run, as they would for a user
        assert app.poll() is None, "the app exited on its own"
        send_wm_delete(xserver, window)
        _, stderr = app.communicate(timeout=60)
    finally:
        if app.poll() is None:
            app.kill()
    assert app.returncode == 0, stderr[-2000:]
    assert "QThread: Destroyed" not in stderr
    assert "Traceback" not in stderr


@pytest.mark.parametrize("page_key, delay_s, how", [
    ("7", 0.0, "close"),  # Inspect follows training: closing as the first best.pt lands
    ("8", 0.4, "close"),  # Draw reloads the model after each epoch
    ("5", 1.5, "close"),  # Runs refreshes on each epoch
    ("7", 0.2, "ctrl+q"),
])
def test_closing_a_real_window_while_training_exits_cleanly(xserver, tmp_path, page_key, delay_s, how):
    """Start a shapes training with F5 on the Train page, switch page, wait for best.pt, then close the
    way a user does (the title bar's close button, or Ctrl+Q). It used to abort (exit 134) every time."""
    env = {**os.environ, "DISPLAY": xserver, "QT_QPA_PLATFORM": "xcb", "CNNSTUDIO_HOME": str(tmp_path),
           "XDG_CONFIG_HOME": str(tmp_path / "config")}
    xenv = {**os.environ, "DISPLAY": xserver}
    app = subprocess.Popen([sys.executable, "-m", "cnnstudio"], env=env, stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, text=True)
    try:
        window = find_window(xserver, "CNN Studio", timeout=60)
        assert window is not None, "no 'CNN Studio' window appeared"
        runs = tmp_path / "runs"
        end = time.monotonic() + 120
        subprocess.run(["xdotool", "windowfocus", "--sync", str(window)], env=xenv, check=True)
        while not any(runs.glob("*/config.json")) and time.monotonic() < end:
            # The shapes set loads in the background; F5 starts training once it is there.
            subprocess.run(["xdotool", "key", "ctrl+4"], env=xenv, check=True)  # the Train page
            subprocess.run(["xdotool", "key", "F5"], env=xenv, check=True)
            time.sleep(1.0)
        subprocess.run(["xdotool", "key", f"ctrl+{page_key}"], env=xenv, check=True)
        while not any(runs.glob("*/best.pt")) and time.monotonic() < end:
            time.sleep(0.02)
        assert any(runs.glob("*/best.pt")), "training did not reach its first checkpoint"
        time.sleep(delay_s)
        assert app.poll() is None, "the app exited on its own"
        if how == "close":
            send_wm_delete(xserver, window)
        else:
            subprocess.run(["xdotool", "key", "ctrl+q"], env=xenv, check=True)
        _, stderr = app.communicate(timeout=120)
    finally:
        if app.poll() is None:
            app.kill()
    assert app.returncode == 0, stderr[-2000:]
    assert "QThread: Destroyed" not in stderr and "Signal source has been deleted" not in stderr
    assert "Traceback" not in stderr
    (run_dir,) = [p.parent for p in runs.glob("*/last.pt")]
    from cnnstudio.core.checkpoint import load_checkpoint

    assert load_checkpoint(run_dir / "last.pt")["global_step"] > 0
    assert json.loads((run_dir / "result.json").read_text())["status"] == "stopped"
