"""The OData ``$filter`` subset the Retail Prices API accepts: eq/ne/gt/ge/lt/le, and/or/not, parentheses,
contains/startswith/endswith. Values compare case-insensitively, as before api-version 2023-01-01-preview."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

Row = dict[str, Any]
Pred = Callable[[Row], bool]
Value = Callable[[Row], Any]

_TOKEN = re.compile(r"\s*(?:(?P<str>'(?:[^']|'')*')|(?P<num>-?\d+(?:\.\d+)?)|(?P<p>[(),])|(?P<word>[A-Za-z_][\w.]*))")
_COMPARE: dict[str, Callable[[Any, Any], bool]] = {
    "eq": lambda a, b: a == b,
    "ne": lambda a, b: a != b,
    "gt": lambda a, b: a is not None and a > b,
    "ge": lambda a, b: a is not None and a >= b,
    "lt": lambda a, b: a is not None and a < b,
    "le": lambda a, b: a is not None and a <= b,
}
_FUNCTIONS: dict[str, Callable[[str, str], bool]] = {
    "contains": lambda a, b: b in a,
    "startswith": lambda a, b: a.startswith(b),
    "endswith": lambda a, b: a.endswith(b),
}


class ODataError(ValueError):
    pass


def _tokens(text: str) -> list[tuple[str, str]]:
    pos, out = 0, []
    while pos < len(text) and text[pos:].strip():
        m = _TOKEN.match(text, pos)
        if m is None:
            raise ODataError(f"Invalid $filter near position {pos}: {text[pos : pos + 20]!r}")
        pos = m.end()
        kind = m.lastgroup or ""
        out.append((kind, m.group(kind)))
    out.append(("eof", ""))
    return out


def parse(text: str, *, case_sensitive: bool = False) -> Pred:
    """A predicate over Retail Prices items; raises :class:`ODataError` naming what is wrong."""
    return _Parser(_tokens(text), case_sensitive).parse()


class _Parser:
    def __init__(self, tokens: list[tuple[str, str]], case_sensitive: bool) -> None:
        self.tokens, self.pos, self.case_sensitive = tokens, 0, case_sensitive

    def parse(self) -> Pred:
        pred = self.disjunction()
        if self.peek()[0] != "eof":
            raise ODataError(f"Invalid $filter: unexpected {self.peek()[1]!r}")
        return pred

    def peek(self, offset: int = 0) -> tuple[str, str]:
        return self.tokens[min(self.pos + offset, len(self.tokens) - 1)]

    def take(self) -> tuple[str, str]:
        self.pos += 1
        return self.tokens[self.pos - 1]

    def is_word(self, word: str) -> bool:
        kind, text = self.peek()
        return kind == "word" and text.lower() == word

    def expect(self, punct: str, why: str) -> None:
        if self.take() != ("p", punct):
            raise ODataError(f"Invalid $filter: {why}")

    def norm(self, value: Any) -> Any:
        return value.lower() if isinstance(value, str) and not self.case_sensitive else value

    def disjunction(self) -> Pred:
        parts = [self.conjunction()]
        while self.is_word("or"):
            self.take()
            parts.append(self.conjunction())
        return lambda row: any(p(row) for p in parts)

    def conjunction(self) -> Pred:
        parts = [self.atom()]
        while self.is_word("and"):
            self.take()
            parts.append(self.atom())
        return lambda row: all(p(row) for p in parts)

    def atom(self) -> Pred:
        if self.peek() == ("p", "("):
            self.take()
            inner = self.disjunction()
            self.expect(")", "missing ')'")
            return inner
        if self.is_word("not"):
            self.take()
            negated = self.atom()
            return lambda row: not negated(row)
        kind, word = self.peek()
        if kind == "word" and word.lower() in _FUNCTIONS and self.peek(1) == ("p", "("):
            return self.function(word.lower())
        return self.comparison()

    def function(self, name: str) -> Pred:
        self.take()
        self.take()
        field = self.value()
        self.expect(",", f"{name} takes two arguments")
        needle = self.value()
        self.expect(")", "missing ')'")
        fn, norm = _FUNCTIONS[name], self.norm
        return lambda row: fn(str(norm(field(row)) or ""), str(norm(needle(row))))

    def comparison(self) -> Pred:
        left = self.value()
        kind, op = self.take()
        if kind != "word" or op.lower() not in _COMPARE:
            raise ODataError(f"Invalid $filter: expected a comparison operator, found {op!r}")
        right, fn, norm = self.value(), _COMPARE[op.lower()], self.norm
        return lambda row: fn(norm(left(row)), norm(right(row)))

    def value(self) -> Value:
        kind, text = self.take()
        if kind == "str":
            literal = text[1:-1].replace("''", "'")
            return lambda row: literal
        if kind == "num":
            number = float(text)
            return lambda row: number
        if kind == "word" and text.lower() in ("true", "false"):
            flag = text.lower() == "true"
            return lambda row: flag
        if kind == "word":
            return lambda row: _field(row, text)
        raise ODataError(f"Invalid $filter: unexpected {text!r}")


def _field(row: Row, name: str) -> Any:
    if name in row:
        return row[name]
    return next((v for k, v in row.items() if k.lower() == name.lower()), None)
