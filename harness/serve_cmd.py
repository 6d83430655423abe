"""`harness serve [--store DIR] [--port N] [--host H]`: browse every run in the store.

A table of runs (date, test, db, workload, nemesis, verdict), newest first, filterable by verdict
(`/?verdict=invalid`), each linking to its report; a run without a report gets one written on
first view. Binds 127.0.0.1 unless told otherwise: the store holds database logs and data.
"""
from __future__ import annotations

import json
import mimetypes
import re
import signal
import socket
import sys
import threading
import time
from html import escape
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, quote, unquote, urlsplit

from harness.errors import UsageError

VERDICTS = ("invalid", "valid", "unknown")
RUN_FILES = ("results.json", "test.json", "history.jsonl")
REQUEST_TIMEOUT = 30  # seconds a client may take to send its request
STAMP = re.compile(r"^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})")
CSS = """body{font:14px/1.4 system-ui,sans-serif;margin:0;background:#fafafa;color:#1d1d1f}
main{max-width:1200px;margin:0 auto;padding:16px 22px}h1{font-size:20px}
table{border-collapse:collapse;background:#fff;width:100%}td,th{border:1px solid #ddd;padding:4px 8px;text-align:left;font-size:13px}
th{background:#f0f0f0}.v-invalid{background:#fdecea;color:#b71c1c;font-weight:600}.v-valid{background:#e8f5e9;color:#1b5e20}
.v-unknown{background:#fff8e1;color:#8d6e00}nav a{margin-right:14px}nav a.on{font-weight:700;text-decoration:none;color:#000}
.muted{color:#666}"""


def register(sub):
    p = sub.add_parser("serve", help="browse the runs in the store (reports, verdicts)",
                       description="Serve a table of every run in the store, with links to each report.")
    p.add_argument("--store", default="store", metavar="DIR", help="the store directory (default: ./store)")
    p.add_argument("--port", type=int, default=8080, help="TCP port (default 8080; 0 = any free port)")
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1: this machine only)")
    p.set_defaults(func=cmd_serve)


# --- the store ------------------------------------------------------------------------------------

def run_dirs(store: Path) -> list[Path]:
    """Every run directory: store/<test>/<stamp>/ holding results, spec or history (not `latest`)."""
    out = []
    for test_dir in sorted(p for p in store.iterdir() if p.is_dir() and not p.is_symlink()):
        for run_dir in test_dir.iterdir():
            if run_dir.is_dir() and not run_dir.is_symlink() and any((run_dir / f).exists() for f in RUN_FILES):
                out.append(run_dir)
    return out


def run_date(run_dir: Path) -> str:
    m = STAMP.match(run_dir.name)
    if m:
        y, mo, d, h, mi, s = m.groups()
        return f"{y}-{mo}-{d} {h}:{mi}:{s} UTC"
    return time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(run_dir.stat().st_mtime))


def _read(path: Path) -> dict:
    try:
        data = json.loads(path.read_text())
        return data if isinstance(data, dict) else {}
    except (OSError, ValueError):
        return {}


class Catalog:
    """Run summaries, re-read only when a run's files change (a store may hold hundreds of runs)."""

    def __init__(self, store: Path):
        self.store = store
        self.cache: dict[Path, tuple[tuple, dict]] = {}
        self.lock = threading.Lock()

    @staticmethod
    def _stamp(run_dir: Path) -> tuple:
        return tuple((run_dir / f).stat().st_mtime_ns if (run_dir / f).exists() else 0
                     for f in ("results.json", "test.json", "summary.json"))

    def summary(self, run_dir: Path) -> dict:
        from harness.report.verdict import verdict_sentence, verdict_word
        key = self._stamp(run_dir)
        with self.lock:
            hit = self.cache.get(run_dir)
            if hit and hit[0] == key:
                return hit[1]
        results, spec = _read(run_dir / "results.json"), _read(run_dir / "test.json")
        nem = results.get("nemesis", spec.get("nemesis")) or []
        s = {
            "dir": run_dir, "rel": run_dir.relative_to(self.store).as_posix(), "date": run_date(run_dir),
            "test": run_dir.parent.name,
            "db": results.get("db") or spec.get("db") or "?",
            "workload": results.get("workload") or spec.get("workload") or "?",
            "routing": results.get("routing") or spec.get("routing") or "",
            "nemesis": ", ".join(nem) if isinstance(nem, list) else str(nem),
            "verdict": verdict_word(results) if results else "unknown",
            "anomalies": ", ".join(results.get("anomaly_types") or []),
            "note": "" if results else "no results.json (unfinished run)",
        }
        s["sentence"] = verdict_sentence(results, db=s["db"], routing=s["routing"], nemesis=nem,
                                         workload=s["workload"], model=results.get("model")) if results else s["note"]
        with self.lock:
            self.cache[run_dir] = (key, s)
        return s

    def runs(self) -> list[dict]:
        if not self.store.is_dir():
            return []
        return sorted((self.summary(d) for d in run_dirs(self.store)), key=lambda s: (s["dir"].name, s["test"]),
                      reverse=True)


# --- pages ----------------------------------------------------------------------------------------

def _page(title: str, body: str) -> bytes:
    return (f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><link rel="icon" href="data:,">'
            f"<title>{escape(title)}</title><style>{CSS}</style></head><body><main>{body}</main></body></html>"
            ).encode()


def index_page(catalog: Catalog, verdict: str | None) -> bytes:
    runs = catalog.runs()
    counts = {v: sum(r["verdict"] == v for r in runs) for v in VERDICTS}
    shown = [r for r in runs if verdict in (None, r["verdict"])]
    nav = [f'<a href="/" class="{"on" if verdict is None else ""}">all ({len(runs)})</a>']
    nav += [f'<a href="/?verdict={v}" class="{"on" if verdict == v else ""}">{v} ({counts[v]})</a>' for v in VERDICTS]
    rows = []
    for r in shown:
        link = "/run/" + quote(r["rel"]) + "/"
        rows.append(f'<tr class="run"><td>{escape(r["date"])}</td><td>{escape(r["test"])}</td><td>{escape(r["db"])}</td>'
                    f'<td>{escape(r["workload"])}</td><td>{escape(r["routing"])}</td><td>{escape(r["nemesis"] or "none")}</td>'
                    f'<td class="v-{r["verdict"]}" title="{escape(r["sentence"])}">{r["verdict"]}</td><td>{escape(r["anomalies"] or r["note"])}</td>'
                    f'<td><a href="{link}">report</a></td></tr>')
    table = ("<table><tr><th>date</th><th>test</th><th>db</th><th>workload</th><th>routing</th><th>nemesis</th>"
             "<th>verdict</th><th>anomalies</th><th></th></tr>" + "".join(rows) + "</table>") if rows else \
        f'<p class="muted">No {verdict + " " if verdict else ""}runs in {escape(str(catalog.store))}.</p>'
    return _page("harness runs", f"<h1>Runs in {escape(str(catalog.store))}</h1><nav>{' '.join(nav)}</nav>"
                                 f"<p></p>{table}")


class Handler(BaseHTTPRequestHandler):
    catalog: Catalog = None  # set per server in make_server
    timeout = REQUEST_TIMEOUT
    server_version = "harness-serve"
    report_lock = threading.Lock()

    def log_message(self, fmt, *args):  # quiet: one line per request on stderr is noise here
        pass

    def send_body(self, status: int, body: bytes, ctype: str = "text/html; charset=utf-8", head=False):
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        if not head:
            self.wfile.write(body)

    def not_found(self, what: str, head=False):
        self.send_body(404, _page("not found", f"<h1>Not found</h1><p>{escape(what)}</p><p><a href='/'>all runs</a></p>"),
                       head=head)

    def do_HEAD(self):
        self.do_GET(head=True)

    def do_GET(self, head=False):
        url = urlsplit(self.path)
        path = unquote(url.path)
        if path == "/":
            q = parse_qs(url.query).get("verdict", [None])[0]
            if q not in (None, *VERDICTS):
                self.send_body(400, _page("bad filter", f"<p>verdict must be one of {', '.join(VERDICTS)}</p>"), head=head)
                return
            self.send_body(200, index_page(self.catalog, q), head=head)
        elif path in ("/latest", "/latest/"):
            latest = self.catalog.store / "latest"
            target = latest.resolve() if latest.exists() else None
            if target and target.is_relative_to(self.catalog.store.resolve()):
                self.send_response(302)
                self.send_header("Location", "/run/" + quote(target.relative_to(self.catalog.store.resolve()).as_posix()) + "/")
                self.send_header("Content-Length", "0")
                self.end_headers()
            else:
                self.not_found("no latest run", head)
        elif path.startswith("/run/"):
            self.serve_run_file(path[len("/run/"):], head)
        else:
            self.not_found(path, head)

    def serve_run_file(self, rest: str, head: bool):
        parts = [p for p in rest.split("/") if p]
        if len(parts) < 2 or any(p in (".", "..") for p in parts):
            self.not_found(rest, head)
            return
        store = self.catalog.store.resolve()
        run_dir = (store / parts[0] / parts[1]).resolve()
        if not run_dir.is_relative_to(store) or not run_dir.is_dir():
            self.not_found(rest, head)
            return
        if len(parts) == 2 and not rest.endswith("/"):
            self.send_response(301)
            self.send_header("Location", "/run/" + quote(rest) + "/")
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        name = "/".join(parts[2:]) or "index.html"
        target = (run_dir / name).resolve()
        if not target.is_relative_to(run_dir):
            self.not_found(rest, head)
            return
        if name == "index.html" and not target.exists():
            try:
                self.make_report(run_dir)
            except Exception as e:  # noqa: BLE001 - show why, keep serving
                self.send_body(500, _page("report failed", f"<h1>No report</h1><p>{escape(str(e))}</p>"), head=head)
                return
        if not target.is_file():
            self.not_found(rest, head)
            return
        ctype = mimetypes.guess_type(target.name)[0] or "text/plain"
        if target.suffix in (".jsonl", ".log", ".dot", ".txt", ".edn"):
            ctype = "text/plain"
        if ctype.startswith("text/") or ctype in ("application/json", "image/svg+xml"):
            ctype += "; charset=utf-8"
        self.send_body(200, target.read_bytes(), ctype, head=head)

    def make_report(self, run_dir: Path):
        from harness.report import write_report
        with self.report_lock:  # two browsers opening one new run write it once
            if not (run_dir / "index.html").exists():
                write_report(run_dir)


def make_server(store, host: str = "127.0.0.1", port: int = 0) -> ThreadingHTTPServer:
    """A ready (bound, not yet serving) server for the store; `server.server_address` has the port."""
    store = Path(store)
    handler = type("StoreHandler", (Handler,), {"catalog": Catalog(store)})
    server_class = type("StoreServer", (ThreadingHTTPServer,), {
        "address_family": socket.AF_INET6 if ":" in host else socket.AF_INET, "daemon_threads": True})
    return server_class((host, port), handler)


def cmd_serve(args) -> int:
    store = Path(args.store)
    if not store.is_dir():
        raise UsageError(f"{store}: no such store directory (run `harness run` first, or pass --store DIR)")
    if not 0 <= args.port <= 65535:
        raise UsageError(f"--port must be from 0 to 65535, not {args.port}")
    try:
        server = make_server(store, args.host, args.port)
    except OSError as e:
        raise UsageError(f"cannot listen on {args.host}:{args.port}: {e.strerror or e}") from None
    host, port = server.server_address[:2]
    shown = f"[{host}]" if ":" in host else host
    print(f"harness serve: {len(run_dirs(store))} runs in {store} at http://{shown}:{port}/ (Ctrl-C stops)",
          flush=True)
    def stop(signum, frame):  # SIGTERM (and SIGINT where a shell ignores it) end the loop cleanly
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, stop)
    try:
        server.serve_forever(poll_interval=0.5)
    except KeyboardInterrupt:
        pass
    finally:
        signal.signal(signal.SIGTERM, previous)
        server.server_close()
    print("harness serve: stopped", file=sys.stderr)
    return 0
