"""Jepsen's plain log lines as a history: `INFO  jepsen.util - 3 :invoke :cas [1 4]`.

Jepsen logs each op as `<level> jepsen.util - <process> <:type> <:f> <value>` (the form Porcupine's
test data uses; a timestamp or thread name before it is allowed). Values are EDN (`nil`, `3`,
`[1 4]`, `:timed-out`). Other log lines (nemesis chatter, stack traces) are skipped; a line that
names `jepsen.util -` but is not an op is an error naming the line. A log line has no time: an op's
`time` is its line number, which keeps the file's (real-time) order.

    is_jepsen_log(path) -> bool            # the first non-blank line is a jepsen.util op line
    read_log_ops(path) -> iterator of (line, op)
"""
from __future__ import annotations

import re

from checkers.edn import parse_edn
from checkers.history import HistoryError

_OP_LINE = re.compile(r"jepsen\.util\s+-\s+(\S+)\s+:(invoke|ok|fail|info)\s+:(\S+)\s*(.*?)\s*$")
_MARKER = re.compile(r"\bjepsen\.util\s+-\s+")
_OP_START = re.compile(rb"jepsen\.util\s+-\s+\S+[ \t]+:(invoke|ok|fail|info)[ \t]+:")


def is_jepsen_log(path) -> bool:
    """Not JSON or EDN (which start with `{`, `[` or `;`), and an op line in the first 64 KB
    (a jepsen.log starts with the test's setup chatter)."""
    with open(path, "rb") as f:
        head = f.read(65536)
    if head.lstrip().startswith((b"{", b"[", b";")):
        return False
    return _OP_START.search(head) is not None


def _process(text, path, lineno):
    if text in (":nemesis", "nemesis"):
        return "nemesis"
    try:
        return int(text)
    except ValueError:
        raise HistoryError(path, lineno, f"process must be an integer or :nemesis, got {text!r}") from None


def _value(text, path, lineno):
    if not text:
        return None
    try:
        forms = parse_edn(text, path)
    except HistoryError as e:
        raise HistoryError(path, lineno, f"unreadable value {text!r}: {e.message}") from None
    if len(forms) != 1:
        raise HistoryError(path, lineno, f"expected one EDN value after the op's :f, got {text!r}")
    return forms[0][0]


def read_log_ops(path):
    """Yield (line, op) for each op line of a Jepsen log, in file order."""
    index = 0
    try:
        with open(path, encoding="utf-8") as f:
            for lineno, line in enumerate(f, 1):
                m = _OP_LINE.search(line)
                if m is None:
                    if _MARKER.search(line) and not line.rstrip().endswith("-"):
                        raise HistoryError(path, lineno, "a jepsen.util line that is not "
                                           "'PROCESS :type :f VALUE' (type invoke, ok, fail or info)")
                    continue
                proc, typ, f_name, raw = m.groups()
                yield lineno, {"index": index, "time": lineno, "type": typ,
                               "process": _process(proc, path, lineno), "f": f_name,
                               "value": _value(raw, path, lineno)}
                index += 1
    except UnicodeDecodeError as e:
        raise HistoryError(path, None, f"not UTF-8 text: {e}") from None
