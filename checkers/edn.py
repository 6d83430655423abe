"""A small EDN reader for Jepsen `history.edn` files.

Jepsen writes one op map per line (`{:type :invoke, :f :txn, :value [[:append 5 12]], ...}`);
some tools write one vector of maps instead. Both are read. Keywords become strings without the
colon (`:invoke` -> "invoke"), so an EDN history looks exactly like the JSONL one. Sets become
lists, tagged literals (`#inst "..."`) their value, `nil` None, `#_ form` is skipped (also as the
last form of a file). As strict as the JSONL reader: integers within int64, finite floats, map keys
that are keywords, strings or integers, nesting at most history.MAX_DEPTH, only EDN's string
escapes. Errors name the file and line.
"""
from __future__ import annotations

import math
import re

from checkers.history import INT64_MAX, INT64_MIN, MAX_DEPTH, HistoryError, checked, open_history

_TOKEN = re.compile(r"""
    (?P<ws>[\s,]+)
  | (?P<comment>;[^\n]*)
  | (?P<string>"(?:[^"\\]|\\.)*")
  | (?P<open>\#\{|[\[({])
  | (?P<close>[\])}])
  | (?P<discard>\#_)
  | (?P<tag>\#[A-Za-z][^\s,\[\](){}"]*)
  | (?P<char>\\(?:newline|space|tab|return|.))
  | (?P<atom>[^\s,\[\](){}"\\;]+)
""", re.VERBOSE | re.DOTALL)

_INT = re.compile(r"[+-]?\d+N?$")
_FLOAT = re.compile(r"[+-]?(\d+\.\d*|\.\d+|\d+)([eE][+-]?\d+)?M?$")
_CHARS = {"newline": "\n", "space": " ", "tab": "\t", "return": "\r"}
_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", '"': '"', "\\": "\\", "b": "\b", "f": "\f", "/": "/"}
_CLOSERS = {"[": "]", "(": ")", "{": "}", "#{": "}"}


class _Reader:
    def __init__(self, text, path):
        self.text = text
        self.path = path
        self.pos = 0
        self.line = 1

    def error(self, msg, line=None):
        raise HistoryError(self.path, line or self.line, msg)

    def next_token(self):
        """(kind, text, line) of the next meaningful token, or None at the end."""
        text = self.text
        while self.pos < len(text):
            m = _TOKEN.match(text, self.pos)
            if not m:
                self.error(f"unreadable EDN near {text[self.pos:self.pos + 20]!r}")
            kind = m.lastgroup
            tok = m.group()
            line = self.line
            self.line += tok.count("\n")
            self.pos = m.end()
            if kind in ("ws", "comment"):
                continue
            return kind, tok, line
        return None

    def read(self, tok=None, depth=0):
        """Read one form (starting with `tok` if given). Returns (value, line); (_SKIP, line) for
        a `#_` discard, which callers drop."""
        if tok is None:
            tok = self.next_token()
            if tok is None:
                self.error("unexpected end of file")
        kind, text, line = tok
        if kind == "open":
            if depth >= MAX_DEPTH:
                self.error(f"data nested deeper than {MAX_DEPTH} levels", line)
            items = []
            closer = _CLOSERS[text]
            while True:
                t = self.next_token()
                if t is None:
                    self.error(f"unclosed {text!r} (the file ends before it is closed)", line)
                if t[0] == "close":
                    if t[1] != closer:
                        self.error(f"expected {closer!r} to close {text!r} from line {line}, got {t[1]!r}")
                    break
                item = self.read(t, depth + 1)[0]
                if item is not _SKIP:
                    items.append(item)
            if text == "{":
                if len(items) % 2:
                    self.error(f"map opened on line {line} has an odd number of forms", line)
                return {self._key(items[i], line): items[i + 1] for i in range(0, len(items), 2)}, line
            return items, line
        if kind == "close":
            self.error(f"unexpected {text!r}")
        if kind == "discard":
            if self.read(None, depth)[0] is _SKIP:   # `#_ #_ a b` discards two forms
                self.read(None, depth)
            return _SKIP, line
        if kind == "tag":
            value = self.read(None, depth)[0]
            if value is _SKIP:
                self.error(f"tag {text} applies to nothing")
            return value, line
        if kind == "string":
            return _unescape(text[1:-1], self, line), line
        if kind == "char":
            body = text[1:]
            return _CHARS.get(body, body), line
        return _atom(text, self, line), line

    def _key(self, k, line):
        if k is None or type(k) in (str, int):
            return k
        self.error(f"map key {k!r} must be a keyword, string or integer", line)


_SKIP = object()   # what a `#_` discard reads as


_HEX = frozenset("0123456789abcdefABCDEF")


def _unescape(s, reader, line):
    if "\\" not in s:
        return s
    out = []
    i = 0
    while i < len(s):
        c = s[i]
        if c == "\\":
            n = s[i + 1]      # the tokenizer never ends a string on a lone backslash
            if n == "u":
                digits = s[i + 2:i + 6]
                if len(digits) != 4 or not _HEX.issuperset(digits):
                    reader.error(f"bad unicode escape {s[i:i + 6]!r} in a string (\\u needs 4 hex digits)", line)
                out.append(chr(int(digits, 16)))
                i += 6
                continue
            if n not in _ESCAPES:
                reader.error(f"unknown escape {s[i:i + 2]!r} in a string", line)
            out.append(_ESCAPES[n])
            i += 2
            continue
        out.append(c)
        i += 1
    return "".join(out)


def _atom(text, reader, line):
    if text == "nil":
        return None
    if text == "true":
        return True
    if text == "false":
        return False
    if text.startswith(":"):
        if len(text) == 1:
            reader.error("empty keyword ':'", line)
        return text[1:]
    if _INT.match(text):
        n = int(text.rstrip("N"))
        if not INT64_MIN <= n <= INT64_MAX:
            reader.error(f"integer {text} is outside the 64-bit range", line)
        return n
    if _FLOAT.match(text):
        x = float(text.rstrip("M"))
        if not math.isfinite(x):
            reader.error(f"number {text} is out of range", line)
        return x
    return text  # a symbol: keep its name


def parse_edn(text, path="<edn>"):
    """All top-level forms of an EDN text, as (value, line) pairs."""
    r = _Reader(text, path)
    forms = []
    while True:
        tok = r.next_token()
        if tok is None:
            return forms
        form = r.read(tok)
        if form[0] is not _SKIP:
            forms.append(form)


def read_edn_ops(path):
    """Yield (line, op) from a Jepsen history.edn (one map per form, or one vector of maps)."""
    try:
        with open_history(path) as f:
            text = f.read().decode("utf-8")
    except UnicodeDecodeError as e:
        raise HistoryError(path, None, f"not UTF-8 text: {e}") from None
    forms = parse_edn(text, path)
    if len(forms) == 1 and isinstance(forms[0][0], list):
        # a single vector of maps: re-read to recover each map's line
        r = _Reader(text, path)
        r.next_token()   # the opening '['
        while True:
            t = r.next_token()
            if t is None or t[0] == "close":
                break
            op, line = r.read(t)
            if op is not _SKIP:
                yield line, checked(op, path, line)
        return
    for op, line in forms:
        yield line, checked(op, path, line)
