"""Drive headless Chromium through the DevTools protocol on a pipe: open a page, wait for an element,
read it, run a script, take a screenshot, and record every URL the page asked for.

Used by tests/test_web_export.py (the exported page classifies its samples), scripts/web_screenshots.py
and benchmarks/deployment_report.py. No driver package: `--remote-debugging-pipe` makes Chromium read
protocol commands on file descriptor 3 and write replies on 4, as NUL-terminated JSON.

    with Browser() as browser:
        page = browser.open("http://127.0.0.1:8000/#selftest")
        text = page.wait_for_text("selftest-done", timeout=60)
        page.requests   # every URL requested, the page's own included
"""

from __future__ import annotations

import base64
import fcntl
import json
import os
import select
import shutil
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

CANDIDATES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")


def find_chromium() -> str | None:
    for name in CANDIDATES:
        path = shutil.which(name)
        if path:
            return path
    return None


class BrowserError(RuntimeError):
    pass


class Browser:
    def __init__(self, executable: str | None = None, width: int = 1100, height: int = 720):
        self.executable = executable or find_chromium()
        if self.executable is None:
            raise BrowserError("no chromium found")
        self.width, self.height = width, height
        self._profile = tempfile.mkdtemp(prefix="cnnstudio-chromium-")
        self._next = 0
        self._buffer = b""
        self._events: list[dict[str, Any]] = []
        self.proc: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> Browser:
        to_browser_r, self._to_browser = os.pipe()
        self._from_browser, from_browser_w = os.pipe()
        high_r = fcntl.fcntl(to_browser_r, fcntl.F_DUPFD, 10)
        high_w = fcntl.fcntl(from_browser_w, fcntl.F_DUPFD, 10)

        def child_fds() -> None:  # the pipe ends become the child's descriptors 3 and 4
            os.dup2(high_r, 3)
            os.dup2(high_w, 4)

        args = [self.executable, "--headless", "--remote-debugging-pipe", "--no-sandbox", "--no-first-run",
                "--no-default-browser-check", "--disable-gpu", "--disable-extensions", "--disable-sync",
                "--disable-background-networking", "--disable-component-update", "--disable-default-apps",
                "--metrics-recording-only", "--mute-audio", f"--user-data-dir={self._profile}",
                # Only this machine resolves: a request to anywhere else fails (and is still recorded).
                "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
                f"--window-size={self.width},{self.height}", "about:blank"]
        self.proc = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL, pass_fds=(3, 4), preexec_fn=child_fds)
        for fd in (to_browser_r, from_browser_w, high_r, high_w):
            os.close(fd)
        return self

    def __exit__(self, *exc: object) -> None:
        try:
            self.call("Browser.close", timeout=5)
        except Exception:  # noqa: BLE001 - closing anyway
            pass
        if self.proc is not None:
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        for fd in (self._to_browser, self._from_browser):
            try:
                os.close(fd)
            except OSError:
                pass
        shutil.rmtree(self._profile, ignore_errors=True)

    # -- the protocol --------------------------------------------------------------------------------
    def call(self, method: str, params: dict[str, Any] | None = None, session: str | None = None,
             timeout: float = 30) -> dict[str, Any]:
        self._next += 1
        message: dict[str, Any] = {"id": self._next, "method": method, "params": params or {}}
        if session:
            message["sessionId"] = session
        os.write(self._to_browser, json.dumps(message).encode() + b"\0")
        deadline = time.monotonic() + timeout
        while True:
            for reply in self._read(deadline):
                if reply.get("id") == self._next:
                    if "error" in reply:
                        raise BrowserError(f"{method}: {reply['error']}")
                    result: dict[str, Any] = reply.get("result", {})
                    return result
                self._events.append(reply)

    def _read(self, deadline: float) -> Iterator[dict[str, Any]]:
        while b"\0" not in self._buffer:
            left = deadline - time.monotonic()
            if left <= 0:
                raise BrowserError("chromium did not answer in time")
            ready, _, _ = select.select([self._from_browser], [], [], left)
            if ready:
                chunk = os.read(self._from_browser, 1 << 20)
                if not chunk:
                    raise BrowserError("chromium closed its pipe (it exited)")
                self._buffer += chunk
        while b"\0" in self._buffer:
            raw, self._buffer = self._buffer.split(b"\0", 1)
            yield json.loads(raw)

    def events(self) -> list[dict[str, Any]]:
        events, self._events = self._events, []
        return events

    def open(self, url: str) -> Page:
        target = self.call("Target.createTarget", {"url": "about:blank"})["targetId"]
        session = self.call("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
        page = Page(self, session)
        page.call("Network.enable")
        page.call("Runtime.enable")
        page.call("Page.enable")
        page.call("Emulation.setDeviceMetricsOverride", {"width": self.width, "height": self.height,
                                                         "deviceScaleFactor": 1, "mobile": False})
        page.call("Page.navigate", {"url": url})
        return page


class Page:
    def __init__(self, browser: Browser, session: str):
        self.browser, self.session = browser, session
        self.requests: list[str] = []
        self.console: list[str] = []

    def call(self, method: str, params: dict[str, Any] | None = None, timeout: float = 30) -> dict[str, Any]:
        result = self.browser.call(method, params, self.session, timeout)
        self._note(self.browser.events())
        return result

    def _note(self, events: list[dict[str, Any]]) -> None:
        for event in events:
            params = event.get("params", {})
            if event.get("method") == "Network.requestWillBeSent":
                self.requests.append(params["request"]["url"])
            elif event.get("method") == "Runtime.consoleAPICalled":
                self.console.append(" ".join(str(a.get("value", a.get("description", ""))) for a in params["args"]))
            elif event.get("method") == "Runtime.exceptionThrown":
                self.console.append(str(params["exceptionDetails"].get("exception", {}).get("description", "")))

    def evaluate(self, expression: str, timeout: float = 30) -> Any:
        result = self.call("Runtime.evaluate", {"expression": expression, "returnByValue": True,
                                                "awaitPromise": True}, timeout)
        if "exceptionDetails" in result:
            raise BrowserError(f"{expression[:60]}: {result['exceptionDetails']}")
        return result["result"].get("value")

    def wait_for_text(self, element_id: str, timeout: float = 60) -> str:
        """The text of the element with this id, once it exists."""
        deadline = time.monotonic() + timeout
        probe = (f"(() => {{ const e = document.getElementById({json.dumps(element_id)}); "
                 "return e ? e.textContent : null; })()")
        while time.monotonic() < deadline:
            text = self.evaluate(probe)
            if text is not None:
                return str(text)
            time.sleep(0.2)
        raise BrowserError(f"#{element_id} did not appear within {timeout:.0f} s; console: {self.console[-5:]}")

    def screenshot(self, path: Path) -> None:
        data = self.call("Page.captureScreenshot", {"format": "png"})["data"]
        Path(path).write_bytes(base64.b64decode(data))


class _QuietHandler(SimpleHTTPRequestHandler):
    served: list[str]

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        self.served.append(self.path)
        super().do_GET()


@contextmanager
def serve(folder: Path) -> Iterator[tuple[str, list[str]]]:
    """Serve `folder` on 127.0.0.1 (a free port) in a thread: (base URL, the paths requested so far)."""
    served: list[str] = []
    handler = type("Handler", (_QuietHandler,), {"served": served})
    server = ThreadingHTTPServer(("127.0.0.1", 0), partial(handler, directory=str(folder)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/", served
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
