"""`harness serve [--store DIR] [--port N] [--host H]`: browse every run in the store.

A table of runs (date, test, db, workload, nemesis, verdict), newest first, filterable by verdict
(`/?verdict=invalid`), each linking to its report; a run without a report gets one written on
first view. Binds 127.0.0.1 unless told otherwise: the store holds database logs and data.

Hostile input stays contained: a damaged results.json or test.json marks its own row, never the
list; a request that fails gets a short 4xx/5xx answer; the Host header must name this server
(loopback or the bound address, with the port: a DNS-rebinding page cannot read the store); and
at most MAX_THREADS requests are served at once, the next few get 503.
"""
from __future__ import annotations

import ipaddress
import json
import mimetypes
import os
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
RUN_FILES = ("results.json", "test.json", "history.jsonl", "history.jsonl.gz")
FILE_BLOCK = 1 << 20      # bytes a run's file is sent in
REQUEST_TIMEOUT = 30  # seconds a client may take to send its request
MAX_THREADS = 32      # requests served at once; more get 503 from one of REJECT_THREADS
REJECT_THREADS = 4    # beyond both, a connection is closed unanswered
REJECT_TIMEOUT = 2    # seconds a rejected client has to send its request before its 503
NAME_MAX = 255        # longest path component a file system takes (bytes)
LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1")
# Every page is self-contained without script (inline CSS, data: images): a file planted in a run
# dir (an .html or .svg with script in it) is served under a policy that runs none.
CSP = ("default-src 'none'; img-src 'self' data:; style-src 'unsafe-inline'; base-uri 'none'; "
       "form-action 'none'; frame-ancestors 'none'")
STAMP = re.compile(r"^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})")
CSS = """body{font:14px/1.4 system-ui,sans-serif;margin:0;background:#fafafa;color:#1d1d1f}
main{max-width:1200px;margin:0 auto;padding:16px 22px}h1{font-size:20px}
table{border-collapse:collapse;background:#fff;width:100%}td,th{border:1px solid #ddd;padding:4px 8px;text-align:left;font-size:13px}
th{background:#f0f0f0}.v-invalid{background:#fdecea;color:#b71c1c;font-weight:600}.v-valid{background:#e8f5e9;color:#1b5e20}
.v-unknown{background:#fff8e1;color:#8d6e00}nav a{margin-right:14px}nav a.on{font-weight:700;text-decoration:none;color:#000}
.muted{color:#666}.bad{color:#b71c1c;display:block}"""


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
        try:
            for run_dir in test_dir.iterdir():
                if run_dir.is_dir() and not run_dir.is_symlink() and any((run_dir / f).exists() for f in RUN_FILES):
                    out.append(run_dir)
        except OSError:  # an unreadable test dir: its runs cannot be listed, the others can
            continue
    return out


def run_date(run_dir: Path) -> str:
    m = STAMP.match(run_dir.name)
    if m:
        y, mo, d, h, mi, s = m.groups()
        return f"{y}-{mo}-{d} {h}:{mi}:{s} UTC"
    return time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(run_dir.stat().st_mtime))


def _read(path: Path) -> tuple[dict, str | None]:
    """The JSON object in path ({} when absent) and what was wrong with it (None when nothing)."""
    if not path.exists():
        return {}, None
    try:
        data = json.loads(path.read_text())
    except OSError as e:
        return {}, f"{path.name}: unreadable ({e.strerror or e})"
    except ValueError as e:
        return {}, f"{path.name}: malformed JSON ({str(e)[:80]})"
    if not isinstance(data, dict):
        return {}, f"{path.name}: a JSON {type(data).__name__}, not an object"
    return data, None


def _words(value) -> list[str] | None:
    """A list of words (or one comma-separated string) as a list; None when it is neither."""
    if isinstance(value, str):
        return [v for v in value.split(",") if v]
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return value
    return None


def _typed(results: dict, spec: dict, problems: list[str]) -> dict:
    """The fields the list shows, each of the type a run writes; a field of another type is dropped
    (the spec's value used instead, when it has one) and named in problems."""
    out = {}
    for key in ("db", "workload", "routing", "model"):
        v = None
        for name, source in (("results.json", results), ("test.json", spec)):
            if source.get(key) in (None, ""):
                continue
            if isinstance(source[key], str):
                v = source[key]
                break
            problems.append(f"{name}: {key} is not a string")
        out[key] = v
    nem = []
    for name, source in (("results.json", results), ("test.json", spec)):
        if source.get("nemesis") is None:
            continue
        words = _words(source["nemesis"])
        if words is not None:
            nem = words
            break
        problems.append(f"{name}: nemesis is not a list of fault names")
    out["nemesis"] = nem
    clean = {}
    valid = results.get("valid")
    if valid is True or valid is False or valid == "unknown":
        clean["valid"] = valid
    elif "valid" in results:
        problems.append("results.json: valid is neither true, false nor \"unknown\"")
    for key in ("anomaly_types", "not", "also_not"):
        if key in results:
            words = _words(results[key]) if not isinstance(results[key], str) else None
            if words is None:
                problems.append(f"results.json: {key} is not a list of names")
                words = [v for v in results[key] if isinstance(v, str)] if isinstance(results[key], list) else []
            clean[key] = words
    if isinstance(results.get("stats"), dict):
        clean["stats"] = {k: v for k, v in results["stats"].items() if type(v) is int}
    for key in ("error", "reason"):
        if isinstance(results.get(key), str):
            clean[key] = results[key]
    out["results"] = clean
    return out


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
        key = self._stamp(run_dir)
        with self.lock:
            hit = self.cache.get(run_dir)
            if hit and hit[0] == key:
                return hit[1]
        s = self._summarize(run_dir)
        with self.lock:
            self.cache[run_dir] = (key, s)
        return s

    def _summarize(self, run_dir: Path) -> dict:
        from harness.report.verdict import verdict_sentence, verdict_word
        results, bad_results = _read(run_dir / "results.json")
        spec, bad_spec = _read(run_dir / "test.json")
        problems = [p for p in (bad_results, bad_spec) if p]
        t = _typed(results, spec, problems)
        res = t["results"]
        has_results = bool(results)
        s = {
            "dir": run_dir, "rel": run_dir.relative_to(self.store).as_posix(), "date": run_date(run_dir),
            "test": run_dir.parent.name, "db": t["db"] or "?", "workload": t["workload"] or "?",
            "routing": t["routing"] or "", "nemesis": ", ".join(t["nemesis"]),
            "verdict": verdict_word(res) if has_results else "unknown",
            "anomalies": ", ".join(res.get("anomaly_types") or []),
            "note": "" if has_results or bad_results else "no results.json (unfinished run)",
            "problems": problems,
        }
        s["sentence"] = verdict_sentence(res, db=s["db"], routing=s["routing"], nemesis=t["nemesis"],
                                         workload=s["workload"], model=t["model"]) if has_results else s["note"]
        if problems:
            s["sentence"] = "; ".join(problems)
        return s

    def damaged(self, run_dir: Path, e: Exception) -> dict:
        """The row of a run that could not be summarized at all."""
        try:
            date = run_date(run_dir)
        except OSError:
            date = "?"
        why = f"could not be read: {type(e).__name__}: {str(e)[:120]}"
        return {"dir": run_dir, "rel": run_dir.relative_to(self.store).as_posix(), "date": date,
                "test": run_dir.parent.name, "db": "?", "workload": "?", "routing": "", "nemesis": "",
                "verdict": "unknown", "anomalies": "", "note": "", "problems": [why], "sentence": why}

    def runs(self) -> list[dict]:
        if not self.store.is_dir():
            return []
        out = []
        for d in run_dirs(self.store):
            try:
                out.append(self.summary(d))
            except Exception as e:  # noqa: BLE001 - one damaged run must not cost the list
                out.append(self.damaged(d, e))
        return sorted(out, key=lambda s: (s["dir"].name, s["test"]), reverse=True)


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
        bad = r.get("problems")
        what = escape(r["anomalies"] or r["note"]) + (
            f'<span class="bad">damaged: {escape("; ".join(bad))}</span>' if bad else "")
        rows.append(f'<tr class="run{" bad" if bad else ""}"><td>{escape(r["date"])}</td><td>{escape(r["test"])}</td>'
                    f'<td>{escape(r["db"])}</td><td>{escape(r["workload"])}</td><td>{escape(r["routing"])}</td>'
                    f'<td>{escape(r["nemesis"] or "none")}</td>'
                    f'<td class="v-{escape(r["verdict"])}" title="{escape(r["sentence"])}">{escape(r["verdict"])}</td>'
                    f'<td>{what}</td><td><a href="{escape(link)}">report</a></td></tr>')
    table = ("<table><tr><th>date</th><th>test</th><th>db</th><th>workload</th><th>routing</th><th>nemesis</th>"
             "<th>verdict</th><th>anomalies</th><th></th></tr>" + "".join(rows) + "</table>") if rows else \
        f'<p class="muted">No {verdict + " " if verdict else ""}runs in {escape(str(catalog.store))}.</p>'
    return _page("harness runs", f"<h1>Runs in {escape(str(catalog.store))}</h1><nav>{' '.join(nav)}</nav>"
                                 f"<p></p>{table}")


def _short_error(e: Exception) -> str:
    return f"{type(e).__name__}: {str(e)[:200]}"


class Handler(BaseHTTPRequestHandler):
    catalog: Catalog = None  # set per server in make_server
    timeout = REQUEST_TIMEOUT
    server_version = "harness-serve"
    report_lock = threading.Lock()
    responded = False

    def log_message(self, fmt, *args):  # quiet: one line per request on stderr is noise here
        pass

    def send_response(self, code, message=None):
        self.responded = True
        super().send_response(code, message)

    def send_body(self, status: int, body: bytes, ctype: str = "text/html; charset=utf-8", head=False):
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.send_header("Content-Security-Policy", CSP)
        self.send_header("X-Content-Type-Options", "nosniff")
        self.end_headers()
        if not head:
            self.wfile.write(body)

    def send_file(self, path: Path, ctype: str, head=False):
        """A run's file in blocks: a long run's history is gigabytes, never read into memory whole."""
        with open(path, "rb") as f:
            size = os.fstat(f.fileno()).st_size
            self.send_response(200)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(size))
            self.send_header("Cache-Control", "no-store")
            self.send_header("Content-Security-Policy", CSP)
            self.send_header("X-Content-Type-Options", "nosniff")
            self.end_headers()
            if not head:   # exactly the size announced, should the file grow meanwhile (a live run)
                left = size
                while left > 0:
                    block = f.read(min(left, FILE_BLOCK))
                    if not block:
                        break
                    self.wfile.write(block)
                    left -= len(block)

    def send_short(self, status: int, title: str, text: str, head=False):
        self.send_body(status, _page(title, f"<h1>{escape(title)}</h1><p>{escape(text)}</p>"
                                            "<p><a href='/'>all runs</a></p>"), head=head)

    def not_found(self, what: str, head=False):
        self.send_short(404, "Not found", what, head)

    def host_ok(self) -> bool:
        """The Host header names this server: a loopback name or the bound address, with its port.
        A page served from a name the attacker controls, re-pointed at 127.0.0.1 (DNS rebinding),
        sends its own name and is refused."""
        host = self.headers.get("Host")
        if not host:
            return False
        m = re.fullmatch(r"\[([0-9A-Fa-f:.]+)\](?::(\d{1,5}))?|([^:\[\]]+)(?::(\d{1,5}))?", host.strip())
        if not m:
            return False
        name = (m.group(1) or m.group(3)).lower().rstrip(".")
        port = int(m.group(2) or m.group(4) or 80)
        return port == self.server.server_address[1] and name in self.server.allowed_hosts(name)

    def do_HEAD(self):
        self.do_GET(head=True)

    def do_GET(self, head=False):
        try:
            if not self.host_ok():
                self.send_short(421, "Wrong host", "this server answers only to the address it serves "
                                "(e.g. http://127.0.0.1:PORT/)", head)
                return
            self.route(head)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client went away
        except Exception as e:  # noqa: BLE001 - one bad request must not cost the server or the connection
            if not self.responded:
                try:
                    self.send_short(500, "Server error", f"could not answer {self.path[:200]}: {_short_error(e)}", head)
                except OSError:
                    pass

    def route(self, head: bool):
        url = urlsplit(self.path)
        path = unquote(url.path, errors="replace")
        bad = self.bad_path(path)
        if bad:
            self.send_short(400, "Bad request", bad, head)
            return
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

    @staticmethod
    def bad_path(path: str) -> str | None:
        """Why a decoded path cannot name a file ('' / None when it can)."""
        if "\x00" in path:
            return "the path holds a NUL byte"
        if any(len(part.encode("utf-8", "surrogateescape")) > NAME_MAX for part in path.split("/")):
            return f"a path component is longer than {NAME_MAX} bytes"
        return None

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
                self.send_short(500, "No report", f"the report of this run failed: {_short_error(e)}", head)
                return
        if not target.is_file():
            self.not_found(rest, head)
            return
        ctype = mimetypes.guess_type(target.name)[0] or "text/plain"
        if target.suffix in (".jsonl", ".log", ".dot", ".txt", ".edn"):
            ctype = "text/plain"
        elif target.suffix == ".gz":   # history.jsonl.gz: the compressed file itself, to download
            ctype = "application/gzip"
        if ctype.startswith("text/") or ctype in ("application/json", "image/svg+xml"):
            ctype += "; charset=utf-8"
        self.send_file(target, ctype, head=head)

    def make_report(self, run_dir: Path):
        from harness.report import write_report
        with self.report_lock:  # two browsers opening one new run write it once
            if not (run_dir / "index.html").exists():
                write_report(run_dir)


class StoreServer(ThreadingHTTPServer):
    """A thread per request, at most `max_threads` at once: the next `REJECT_THREADS` connections
    get 503 (after their request is read, so the client sees the answer), any beyond are closed."""
    daemon_threads = True
    max_threads = MAX_THREADS

    def __init__(self, address, handler, max_threads: int | None = None):
        if ":" in address[0]:
            self.address_family = socket.AF_INET6
        self.max_threads = max_threads or self.max_threads
        self.slots = threading.BoundedSemaphore(self.max_threads)
        self.reject_slots = threading.BoundedSemaphore(REJECT_THREADS)
        super().__init__(address, handler)

    def allowed_hosts(self, name: str) -> set[str]:
        """Host names a request may carry: loopback, the bound address; on a wildcard bind also this
        machine's names and any IP literal (an IP in the Host header cannot be DNS-rebound)."""
        bound = self.server_address[0].lower()
        allowed = {*LOOPBACK_HOSTS, bound}
        if bound in ("0.0.0.0", "::"):
            allowed |= {socket.gethostname().lower(), socket.getfqdn().lower()}
            try:
                ipaddress.ip_address(name)
                allowed.add(name)
            except ValueError:
                pass
        return allowed

    def handle_error(self, request, client_address):  # one line, not a traceback (the request is dropped)
        e = sys.exc_info()[1]
        print(f"harness serve: request from {client_address[0]} failed: {_short_error(e)}", file=sys.stderr)

    def process_request(self, request, client_address):
        if self.slots.acquire(blocking=False):
            try:
                super().process_request(request, client_address)
            except BaseException:
                self.slots.release()
                raise
        elif self.reject_slots.acquire(blocking=False):
            threading.Thread(target=self.reject, args=(request,), daemon=True).start()
        else:
            self.shutdown_request(request)

    def process_request_thread(self, request, client_address):
        try:
            super().process_request_thread(request, client_address)
        finally:
            self.slots.release()

    def reject(self, request):
        body = b"busy: too many requests at once, try again\n"
        try:
            request.settimeout(REJECT_TIMEOUT)
            got = b""
            while b"\r\n\r\n" not in got and len(got) < 65536:
                chunk = request.recv(4096)
                if not chunk:
                    break
                got += chunk
            request.sendall(b"HTTP/1.0 503 Service Unavailable\r\nContent-Type: text/plain; charset=utf-8\r\n"
                            b"Retry-After: 1\r\nConnection: close\r\nContent-Length: "
                            + str(len(body)).encode() + b"\r\n\r\n" + body)
        except OSError:
            pass
        finally:
            self.shutdown_request(request)
            self.reject_slots.release()


def make_server(store, host: str = "127.0.0.1", port: int = 0, max_threads: int | None = None) -> StoreServer:
    """A ready (bound, not yet serving) server for the store; `server.server_address` has the port."""
    store = Path(store)
    handler = type("StoreHandler", (Handler,), {"catalog": Catalog(store)})
    return StoreServer((host, port), handler, max_threads)


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
