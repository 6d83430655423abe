"""The report as a person sees it: headless Chromium loads it without console errors and shows the
verdict and an anomaly graph. Screenshots land in test-artifacts/ (gitignored).

Chromium is driven over the DevTools protocol on a pipe (--remote-debugging-pipe): no port, no
network, and it reports every console message, uncaught exception and failed resource load.
"""
import json
import os
import select
import shutil
import signal
import subprocess
import tempfile
import threading
import time
from base64 import b64decode
from pathlib import Path

import pytest

from harness.report import write_report
from testing.synthetic import make_run_dir
from harness.serve_cmd import make_server

pytestmark = pytest.mark.integration

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--remote-debugging-pipe", "--window-size=1200,1000"]
TIMEOUT = 30


class Chromium:
    """A headless Chromium we started, spoken to over fds 3 (its input) and 4 (its output)."""

    def __init__(self):
        self.profile = tempfile.mkdtemp(prefix="report-chromium-")
        to_chrome_r, self.to_chrome = os.pipe()
        self.from_chrome, from_chrome_w = os.pipe()

        def wire_fds():
            os.dup2(to_chrome_r, 3)
            os.dup2(from_chrome_w, 4)

        self.proc = subprocess.Popen([CHROMIUM, *FLAGS, f"--user-data-dir={self.profile}", "about:blank"],
                                     pass_fds=(3, 4), preexec_fn=wire_fds, start_new_session=True,
                                     stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        os.close(to_chrome_r)
        os.close(from_chrome_w)
        self.buf, self.next_id, self.events, self.session = b"", 0, [], None

    def _recv(self, deadline):
        while b"\0" not in self.buf:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError("chromium did not answer in time")
            if select.select([self.from_chrome], [], [], left)[0]:
                chunk = os.read(self.from_chrome, 1 << 20)
                if not chunk:
                    raise RuntimeError("chromium exited")
                self.buf += chunk
        raw, self.buf = self.buf.split(b"\0", 1)
        return json.loads(raw)

    def call(self, method, session=True, **params):
        self.next_id += 1
        msg = {"id": self.next_id, "method": method, "params": params}
        if session and self.session:
            msg["sessionId"] = self.session
        os.write(self.to_chrome, json.dumps(msg).encode() + b"\0")
        deadline = time.monotonic() + TIMEOUT
        while True:
            m = self._recv(deadline)
            if m.get("id") == self.next_id:
                if "error" in m:
                    raise RuntimeError(f"{method}: {m['error']}")
                return m.get("result", {})
            self.events.append(m)

    def wait_for(self, event):
        deadline = time.monotonic() + TIMEOUT
        while not any(m.get("method") == event for m in self.events):
            self.events.append(self._recv(deadline))

    def open(self, url):
        """Load url in a fresh tab; returns once it has loaded and settled."""
        target = self.call("Target.createTarget", session=False, url="about:blank")["targetId"]
        self.session = self.call("Target.attachToTarget", session=False, targetId=target, flatten=True)["sessionId"]
        for domain in ("Page", "Runtime", "Log"):
            self.call(f"{domain}.enable")
        self.events.clear()
        self.call("Page.navigate", url=url)
        self.wait_for("Page.loadEventFired")
        self.eval("new Promise(r => setTimeout(r, 300))")  # let late console messages arrive

    def eval(self, expression):
        r = self.call("Runtime.evaluate", expression=expression, returnByValue=True, awaitPromise=True)
        return r.get("result", {}).get("value")

    def problems(self) -> list[str]:
        """Console messages, uncaught exceptions and failed loads seen since the last open()."""
        out = []
        for m in self.events:
            p = m.get("params", {})
            if m.get("method") == "Runtime.consoleAPICalled":
                out.append(f"console.{p['type']}: " + " ".join(str(a.get("value")) for a in p.get("args", [])))
            elif m.get("method") == "Runtime.exceptionThrown":
                d = p["exceptionDetails"]
                out.append(f"exception: {d.get('exception', {}).get('description') or d.get('text')}")
            elif m.get("method") == "Log.entryAdded" and p["entry"]["level"] in ("error", "warning"):
                out.append(f"{p['entry']['source']} {p['entry']['level']}: {p['entry']['text']} {p['entry'].get('url', '')}")
        return out

    def screenshot(self, path: Path):
        shot = self.call("Page.captureScreenshot", format="png", captureBeyondViewport=True)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b64decode(shot["data"]))
        return path

    def close(self):
        try:
            self.call("Browser.close", session=False)
            self.proc.wait(10)
        except Exception:  # noqa: BLE001 - fall through to killing what we started
            pass
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)
        for fd in (self.to_chrome, self.from_chrome):
            os.close(fd)
        shutil.rmtree(self.profile, ignore_errors=True)


@pytest.fixture(scope="module")
def browser():
    if not CHROMIUM:
        pytest.skip("chromium is not installed (setup.sh installs it)")
    b = Chromium()
    yield b
    b.close()


def test_the_detector_sees_console_errors_and_failed_loads(browser, tmp_path):
    """Negative control: a page that does log errors is caught, so a clean result means something."""
    page = tmp_path / "bad.html"
    page.write_text('<!DOCTYPE html><link rel="icon" href="data:,"><p>x</p><img src="missing.png">'
                    '<script>console.error("boom-marker"); notDefined();</script>')
    browser.open(page.as_uri())
    found = "\n".join(browser.problems())
    assert "console.error: boom-marker" in found and "notDefined" in found and "missing.png" in found


@pytest.mark.parametrize("workload", ["save-resume", "list-append"])
def test_invalid_report_renders_cleanly_with_verdict_and_graph(browser, tmp_path, workload):
    run = make_run_dir(tmp_path / "run", n_ops=3000, workload=workload)
    browser.open(write_report(run).as_uri())
    assert browser.problems() == []
    verdict = browser.eval("document.getElementById('verdict-sentence').innerText")
    assert verdict.startswith("Not safe: on galera")
    # the cycle graph is laid out with a real size, near the top of its anomaly, and its nodes link to rows
    box = browser.eval("(() => { const r = document.querySelector('svg.cycle-graph').getBoundingClientRect();"
                       " return [r.width, r.height]; })()")
    assert box[0] > 150 and box[1] > 50
    links = "[...document.querySelectorAll('svg.cycle-graph a[href]')]"
    assert browser.eval(f"{links}.length") >= 2
    assert browser.eval(f"{links}.every(a => document.getElementById(a.getAttribute('href').slice(1)))")
    assert browser.eval("[...document.images].every(i => i.complete && i.naturalWidth > 300)")
    shot = browser.screenshot(ARTIFACTS / f"report-invalid-{workload}.png")
    assert shot.stat().st_size > 50_000


def test_serve_shows_runs_and_reports_in_the_browser(browser, tmp_path):
    store = tmp_path / "store"
    make_run_dir(store / "galera-save-resume" / "20261126T090000", n_ops=1000, workload="save-resume")
    make_run_dir(store / "postgres-list-append" / "20261126T100000", n_ops=500, valid=True, db="postgres", nemesis=())
    server = make_server(store, "127.0.0.1", 0)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True)
    thread.start()
    try:
        base = f"http://127.0.0.1:{server.server_address[1]}"
        browser.open(base + "/?verdict=invalid")
        assert browser.problems() == []
        assert browser.eval("document.querySelectorAll('tr.run').length") == 1
        browser.open(base + "/")
        assert browser.eval("document.querySelectorAll('tr.run').length") == 2
        browser.events.clear()
        browser.eval("document.querySelector('tr.run a').click()")  # newest first: postgres, valid
        browser.wait_for("Page.loadEventFired")
        assert browser.eval("document.getElementById('verdict-sentence').innerText").startswith("Valid: ")
        assert browser.problems() == []
        browser.open(base + "/run/galera-save-resume/20261126T090000/")
        assert browser.problems() == []
        assert browser.eval("document.getElementById('verdict-sentence').innerText").startswith("Not safe")
        assert browser.eval("document.querySelectorAll('svg.cycle-graph').length") >= 1
        browser.screenshot(ARTIFACTS / "serve-report.png")
    finally:
        server.shutdown()
        server.server_close()
        thread.join(TIMEOUT)


@pytest.mark.slow
def test_real_invalid_run_through_harness_run_renders_in_the_browser(harness_run, browser, tmp_path):
    """End to end as a nightly job does it: the pytest fixture drives the runner against a real MariaDB
    at REPEATABLE READ (InnoDB's lost updates), the runner writes the report, Chromium shows it."""
    run = harness_run(db="mariadb", workload="list-append", isolation="repeatable-read", time_limit=8,
                      final_time_limit=5, rate=300, workload_opts={"key_count": 3}, seed=3,
                      store=str(tmp_path / "store"))
    assert run.valid is False, run
    assert run.report and Path(run.report).is_file()
    browser.open(Path(run.report).as_uri())
    assert browser.problems() == []
    sentence = browser.eval("document.getElementById('verdict-sentence').innerText")
    assert sentence.startswith("Not safe: on mariadb (1 node, primary routing) with no faults, the history "
                               "violates repeatable-read (the model checked)"), sentence
    # every anomaly shown has its history rows; the first one's ops are highlighted
    assert browser.eval("document.querySelectorAll('div.anomaly').length") >= 1
    assert browser.eval("[...document.querySelectorAll('div.anomaly')].every("
                        "d => d.querySelector('tr.focus'))")
    assert browser.eval("[...document.images].every(i => i.complete && i.naturalWidth > 300)")
    browser.screenshot(ARTIFACTS / "report-real-mariadb-rr.png")
