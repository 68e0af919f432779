"""A real headless Chromium driven over the DevTools protocol, for pages people look at.

Debian's ``chromium`` runs with ``--headless --no-sandbox --disable-gpu
--disable-background-networking --disable-component-update`` and a fresh
profile; the test talks to it over its DevTools websocket (websocket-client,
already installed with the Kubernetes client). ``Browser.open`` loads a page
and records what a person would not see but should worry about: console
errors, uncaught exceptions, log entries of level error, and every request
that left the page for the network (a self-contained page makes none).
"""

from __future__ import annotations

import base64
import json
import shutil
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import websocket

__all__ = ["Browser", "PageVisit", "chromium"]

FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--remote-debugging-port=0",
    "--window-size=1280,900",
]


def chromium() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


@dataclass
class PageVisit:
    errors: list[str] = field(default_factory=list)
    requests: list[str] = field(default_factory=list)


class Browser:
    def __init__(self, binary: str, profile: Path) -> None:
        self.proc = subprocess.Popen(
            [binary, *FLAGS, f"--user-data-dir={profile}", "about:blank"],
            stdout=subprocess.DEVNULL,
            stderr=(profile.parent / "chromium.log").open("wb"),
        )
        port_file = profile / "DevToolsActivePort"
        deadline = time.monotonic() + 60
        while not port_file.exists() or not port_file.read_text().strip():
            if time.monotonic() > deadline or self.proc.poll() is not None:
                raise RuntimeError("chromium did not open its DevTools port")
            time.sleep(0.1)
        port = port_file.read_text().split()[0]
        self.ws = self._page_socket(int(port))
        self.next_id = 0
        self.events: list[dict[str, Any]] = []

    @staticmethod
    def _page_socket(port: int) -> websocket.WebSocket:
        import urllib.request

        with urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=10) as r:
            targets = json.load(r)
        page = next(t for t in targets if t.get("type") == "page")
        return websocket.create_connection(page["webSocketDebuggerUrl"], timeout=60)

    def call(self, method: str, **params: Any) -> dict[str, Any]:
        self.next_id += 1
        self.ws.send(json.dumps({"id": self.next_id, "method": method, "params": params}))
        while True:
            msg = json.loads(self.ws.recv())
            if msg.get("id") == self.next_id:
                if "error" in msg:
                    raise RuntimeError(f"{method}: {msg['error']}")
                return dict(msg.get("result") or {})
            self.events.append(msg)

    def evaluate(self, expression: str) -> Any:
        out = self.call("Runtime.evaluate", expression=expression, returnByValue=True)
        return out["result"].get("value")

    def open(self, url: str, ready: str, timeout: float = 60) -> PageVisit:
        """Load ``url`` and wait until the JavaScript ``ready`` is true."""
        for domain in ("Page", "Runtime", "Log", "Network"):
            self.call(f"{domain}.enable")
        self.events.clear()
        self.call("Page.navigate", url=url)
        deadline = time.monotonic() + timeout
        while not self.evaluate(f"document.readyState === 'complete' && ({ready})"):
            if time.monotonic() > deadline:
                raise TimeoutError(f"the page never became ready ({ready})")
            time.sleep(0.2)
        return self._visit(url)

    def _visit(self, url: str) -> PageVisit:
        visit = PageVisit()
        for e in self.events:
            method, p = e.get("method"), e.get("params") or {}
            if method == "Runtime.consoleAPICalled" and p.get("type") in ("error", "assert"):
                visit.errors.append(json.dumps(p.get("args"))[:500])
            elif method == "Runtime.exceptionThrown":
                visit.errors.append(json.dumps(p.get("exceptionDetails"))[:500])
            elif method == "Log.entryAdded" and p.get("entry", {}).get("level") == "error":
                visit.errors.append(str(p["entry"].get("text"))[:500])
            elif method == "Network.requestWillBeSent":
                request_url = str(p.get("request", {}).get("url"))
                if request_url != url and not request_url.startswith("data:"):
                    visit.requests.append(request_url)
        return visit

    def screenshot(self, path: Path) -> None:
        """The whole page, not just the window, as a PNG."""
        shot = self.call("Page.captureScreenshot", format="png", captureBeyondViewport=True)
        path.write_bytes(base64.b64decode(shot["data"]))

    def close(self) -> None:
        try:
            self.ws.close()
        finally:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
