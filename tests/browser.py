"""A headless Chromium driven over the Chrome DevTools protocol on a pipe (--remote-debugging-pipe:
the browser reads NUL-terminated JSON commands on fd 3 and writes responses and events on fd 4),
with nothing but the standard library. For the report tests: load a page, collect every console
error, uncaught exception and failed load, evaluate JavaScript in it, take a screenshot."""

from __future__ import annotations

import base64
import fcntl
import json
import os
import queue
import shutil
import subprocess
import tempfile
import threading
import time


def chromium() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        path = shutil.which(name)
        if path:
            return path
    return None


class Browser:
    def __init__(self, exe: str, width: int = 1280, height: int = 900, timeout: float = 60.0):
        self.timeout = timeout
        self.profile = tempfile.mkdtemp(prefix="tc-chromium-")
        to_r, self._to_w = os.pipe()
        self._from_r, from_w = os.pipe()

        def child_fds():
            # Move both ends past 4 first, so that dup2 to 3 and 4 cannot clobber either.
            a, b = (fcntl.fcntl(to_r, fcntl.F_DUPFD_CLOEXEC, 10),
                    fcntl.fcntl(from_w, fcntl.F_DUPFD_CLOEXEC, 10))
            os.dup2(a, 3)
            os.dup2(b, 4)

        self.proc = subprocess.Popen(
            [exe, "--headless=new", "--no-sandbox", "--disable-gpu", "--no-first-run",
             "--no-default-browser-check", "--disable-extensions", "--hide-scrollbars",
             "--remote-debugging-pipe", f"--user-data-dir={self.profile}",
             f"--window-size={width},{height}", "about:blank"],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            preexec_fn=child_fds, pass_fds=(3, 4))
        os.close(to_r)
        os.close(from_w)
        self._id = 0
        self._responses: dict[int, dict] = {}
        self._events: "queue.Queue[dict]" = queue.Queue()
        self._cond = threading.Condition()
        self._thread = threading.Thread(target=self._reader, daemon=True)
        self._thread.start()
        self.session = None
        self.errors: list[str] = []
        target = self.send("Target.createTarget", url="about:blank")["targetId"]
        self.session = self.send("Target.attachToTarget", targetId=target,
                                 flatten=True)["sessionId"]
        for domain in ("Page", "Runtime", "Log"):
            self.send(f"{domain}.enable")
        self.send("Emulation.setDeviceMetricsOverride", width=width, height=height,
                  deviceScaleFactor=1, mobile=False)

    def _reader(self) -> None:
        buf = b""
        while True:
            chunk = os.read(self._from_r, 1 << 16)
            if not chunk:
                return
            buf += chunk
            while b"\0" in buf:
                raw, buf = buf.split(b"\0", 1)
                msg = json.loads(raw)
                if "id" in msg:
                    with self._cond:
                        self._responses[msg["id"]] = msg
                        self._cond.notify_all()
                else:
                    self._events.put(msg)

    def send(self, method: str, **params) -> dict:
        self._id += 1
        msg = {"id": self._id, "method": method, "params": params}
        if self.session is not None:
            msg["sessionId"] = self.session
        os.write(self._to_w, json.dumps(msg).encode() + b"\0")
        with self._cond:
            if not self._cond.wait_for(lambda: self._id in self._responses, self.timeout):
                raise TimeoutError(f"no answer from Chromium to {method}")
            reply = self._responses.pop(self._id)
        if "error" in reply:
            raise RuntimeError(f"{method}: {reply['error']}")
        return reply.get("result", {})

    def _drain(self, until: str | None = None) -> None:
        """Record the events so far as errors (console errors, exceptions, failed loads); with
        `until`, wait for that event first."""
        deadline = time.monotonic() + self.timeout
        while True:
            try:
                ev = self._events.get(timeout=0.05 if until is None else
                                      max(0.01, deadline - time.monotonic()))
            except queue.Empty:
                if until is None:
                    return
                raise TimeoutError(f"Chromium sent no {until}") from None
            self._note(ev)
            if until is not None and ev.get("method") == until:
                until = None

    def _note(self, ev: dict) -> None:
        method, p = ev.get("method"), ev.get("params", {})
        if method == "Runtime.exceptionThrown":
            d = p["exceptionDetails"]
            self.errors.append(f"exception: {d.get('text')} "
                               f"{d.get('exception', {}).get('description', '')}")
        elif method == "Runtime.consoleAPICalled" and p.get("type") in ("error", "assert"):
            self.errors.append("console.error: " + " ".join(
                str(a.get("value", a.get("description"))) for a in p.get("args", [])))
        elif method == "Log.entryAdded" and p["entry"].get("level") == "error":
            self.errors.append(f"log: {p['entry'].get('text')} {p['entry'].get('url', '')}")

    def load(self, url: str) -> None:
        self.send("Page.navigate", url=url)
        self._drain(until="Page.loadEventFired")
        time.sleep(0.2)
        self._drain()

    def evaluate(self, expression: str):
        r = self.send("Runtime.evaluate", expression=expression, returnByValue=True)
        if "exceptionDetails" in r:
            raise RuntimeError(f"evaluate: {r['exceptionDetails']}")
        self._drain()
        return r["result"].get("value")

    def screenshot(self) -> bytes:
        r = self.send("Page.captureScreenshot", format="png", captureBeyondViewport=True)
        return base64.b64decode(r["data"])

    def close(self) -> None:
        try:
            self.session = None
            self.send("Browser.close")
        except (OSError, TimeoutError, RuntimeError):
            pass
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        os.close(self._to_w)
        self._thread.join(timeout=10)  # it ends at the pipe's end, once Chromium is gone
        if not self._thread.is_alive():
            os.close(self._from_r)
        shutil.rmtree(self.profile, ignore_errors=True)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
