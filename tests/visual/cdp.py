"""Debian's Chromium, headless, driven through the DevTools protocol (python3-websocket).

    with Browser(tmpdir) as b:
        page = b.open("file:///.../report.html")
        page.wait_for("document.body.getAttribute('data-rendered') !== null")
        page.click_at(x, y)                    # a real mouse click
        page.eval("1 + 1")                     # -> 2
        page.screenshot("shot.png")
        page.errors                            # console errors and uncaught exceptions so far

A prompt() the page opens is answered with Page.prompt_answer.
"""
import base64
import json
import os
import re
import shutil
import subprocess
import tempfile
import threading
import time
import urllib.request

import websocket

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"


class Page:
    def __init__(self, ws_url):
        self.ws = websocket.create_connection(ws_url, timeout=60, suppress_origin=True)
        self.next_id = 0
        self.errors = []
        self.dialogs = []
        self.prompt_answer = ""
        self.loaded = False
        for domain in ("Page", "Runtime", "Log"):
            self.call(domain + ".enable")

    def _handle_event(self, msg):
        method, params = msg.get("method"), msg.get("params", {})
        if method == "Runtime.consoleAPICalled" and params.get("type") in ("error", "assert"):
            args = [a.get("value", a.get("description", "")) for a in params.get("args", [])]
            self.errors.append("console.error: " + " ".join(str(a) for a in args))
        elif method == "Runtime.exceptionThrown":
            d = params.get("exceptionDetails", {})
            self.errors.append("exception: " + d.get("exception", {}).get("description", d.get("text", "")))
        elif method == "Log.entryAdded" and params.get("entry", {}).get("level") == "error":
            e = params["entry"]
            self.errors.append("log: %s %s" % (e.get("text", ""), e.get("url", "")))
        elif method == "Page.javascriptDialogOpening":
            self.dialogs.append(params)
            self.call_nowait("Page.handleJavaScriptDialog", accept=True, promptText=self.prompt_answer)
        elif method == "Page.loadEventFired":
            self.loaded = True

    def call_nowait(self, method, **params):
        self.next_id += 1
        self.ws.send(json.dumps({"id": self.next_id, "method": method, "params": params}))
        return self.next_id

    def call(self, method, **params):
        want = self.call_nowait(method, **params)
        while True:
            msg = json.loads(self.ws.recv())
            if msg.get("id") == want:
                if "error" in msg:
                    raise RuntimeError("%s: %s" % (method, msg["error"]))
                return msg.get("result", {})
            self._handle_event(msg)

    def pump(self, seconds):
        """Handles events for SECONDS (dialogs, console)."""
        end = time.monotonic() + seconds
        self.ws.settimeout(0.05)
        try:
            while time.monotonic() < end:
                try:
                    self._handle_event(json.loads(self.ws.recv()))
                except websocket.WebSocketTimeoutException:
                    pass
        finally:
            self.ws.settimeout(60)

    def navigate(self, url):
        self.loaded = False
        self.call("Page.navigate", url=url)
        self.wait_for("document.readyState === 'complete'")

    def eval(self, expression, await_promise=False):
        r = self.call("Runtime.evaluate", expression=expression, returnByValue=True, awaitPromise=await_promise)
        if "exceptionDetails" in r:
            raise RuntimeError("evaluating %s: %s" % (expression, r["exceptionDetails"]))
        return r["result"].get("value")

    def wait_for(self, expression, timeout=30):
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            try:
                if self.eval(expression):
                    return True
            except RuntimeError:
                pass  # the page is between two documents (a reload): ask again
            self.pump(0.1)
        raise TimeoutError("waited %s s for %s" % (timeout, expression))

    def click_at(self, x, y):
        for kind in ("mouseMoved", "mousePressed", "mouseReleased"):
            self.call("Input.dispatchMouseEvent", type=kind, x=x, y=y, button="left", clickCount=1)
        self.pump(0.2)

    def click_element(self, js_element):
        """Scrolls the element JS_ELEMENT (an expression) into view and clicks its centre."""
        box = self.eval("(function(){var e=%s; e.scrollIntoView({block:'center'}); var r=e.getBoundingClientRect();"
                        "return [r.left + r.width/2, r.top + r.height/2, r.width, r.height];})()" % js_element)
        if not box or box[2] <= 0 or box[3] <= 0:
            raise RuntimeError("nothing visible to click for " + js_element)
        self.click_at(box[0], box[1])

    def screenshot(self, path):
        """The whole page: the viewport is grown to the page's height first and the charts are
        given time to redraw at that size (a capture beyond the viewport would catch them
        mid-resize)."""
        metrics = self.call("Page.getLayoutMetrics")
        size = metrics.get("cssContentSize", metrics.get("contentSize"))
        width, height = self.viewport
        self.call("Emulation.setDeviceMetricsOverride", width=width, height=int(size["height"]) + 1,
                  deviceScaleFactor=1, mobile=False)
        self.pump(0.8)
        shot = self.call("Page.captureScreenshot", format="png")
        self.call("Emulation.setDeviceMetricsOverride", width=width, height=height, deviceScaleFactor=1, mobile=False)
        self.pump(0.3)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "wb") as f:
            f.write(base64.b64decode(shot["data"]))
        return path


class Browser:
    def __init__(self, workdir=None, width=1400, height=1000):
        self.dir = tempfile.mkdtemp(prefix="perfbpf-chromium-", dir=workdir)
        self.size = (width, height)
        self.proc = None

    def __enter__(self):
        args = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                "--disable-background-networking", "--disable-component-update", "--disable-sync",
                "--disable-dev-shm-usage", "--hide-scrollbars", "--user-data-dir=" + self.dir,
                "--window-size=%d,%d" % self.size, "--remote-debugging-port=0", "--remote-debugging-address=127.0.0.1",
                "--remote-allow-origins=*", "about:blank"]
        self.proc = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                     text=True)
        # Chromium says where DevTools listens on stderr.
        end = time.monotonic() + 60
        seen = []
        while time.monotonic() < end:
            line = self.proc.stderr.readline()
            if not line:
                break
            seen.append(line)
            m = re.search(r"DevTools listening on ws://([0-9.]+:\d+)/", line)
            if m:
                self.endpoint = m.group(1)
                # Keep reading what it logs, so a full pipe never stalls it.
                threading.Thread(target=lambda: self.proc.stderr.read(), daemon=True).start()
                return self
        self.__exit__(None, None, None)
        raise RuntimeError("chromium did not start its DevTools endpoint:\n" + "".join(seen[-20:]))

    def open(self, url):
        with urllib.request.urlopen("http://%s/json/list" % self.endpoint, timeout=30) as r:
            targets = [t for t in json.load(r) if t.get("type") == "page"]
        page = Page(targets[0]["webSocketDebuggerUrl"])
        page.viewport = self.size
        page.call("Emulation.setDeviceMetricsOverride", width=self.size[0], height=self.size[1], deviceScaleFactor=1,
                  mobile=False)
        page.navigate(url)
        return page

    def __exit__(self, *exc):
        if self.proc:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        shutil.rmtree(self.dir, ignore_errors=True)
