"""The OData ``$filter`` subset the Retail Prices API accepts: eq/ne/gt/ge/lt/le, and/or/not, parentheses,
contains/startswith/endswith. Values compare case-insensitively, as before api-version 2023-01-01-preview."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

Pred = Callable[[dict[str, Any]], bool]

_TOKEN = re.compile(r"\s*(?:(?P<str>'(?:[^']|'')*')|(?P<num>-?\d+(?:\.\d+)?)|(?P<p>[(),])|(?P<word>[A-Za-z_][\w.]*))")


class ODataError(ValueError):
    pass


def _tokens(text: str) -> list[tuple[str, str]]:
    pos, out = 0, []
    while pos < len(text):
        if not text[pos:].strip():
            break
        m = _TOKEN.match(text, pos)
        if m is None:
            raise ODataError(f"Invalid $filter near position {pos}: {text[pos : pos + 20]!r}")
        pos = m.end()
        kind = m.lastgroup or ""
        out.append((kind, m.group(kind)))
    out.append(("eof", ""))
    return out


def parse(text: str, *, case_sensitive: bool = False) -> Pred:
    toks = _tokens(text)
    pos = 0

    def peek() -> tuple[str, str]:
        return toks[pos]

    def take() -> tuple[str, str]:
        nonlocal pos
        pos += 1
        return toks[pos - 1]

    def norm(v: Any) -> Any:
        return v.lower() if isinstance(v, str) and not case_sensitive else v

    def value() -> Callable[[dict[str, Any]], Any]:
        kind, text_ = take()
        if kind == "str":
            lit = text_[1:-1].replace("''", "'")
            return lambda row: lit
        if kind == "num":
            num = float(text_)
            return lambda row: num
        if kind == "word" and text_.lower() in ("true", "false"):
            flag = text_.lower() == "true"
            return lambda row: flag
        if kind == "word":
            return lambda row: row.get(text_, next((v for k, v in row.items() if k.lower() == text_.lower()), None))
        raise ODataError(f"Invalid $filter: unexpected {text_!r}")

    def atom() -> Pred:
        kind, word = peek()
        if (kind, word) == ("p", "("):
            take()
            inner = disjunction()
            if take() != ("p", ")"):
                raise ODataError("Invalid $filter: missing ')'")
            return inner
        if kind == "word" and word.lower() == "not":
            take()
            inner = atom()
            return lambda row: not inner(row)
        if kind == "word" and word.lower() in ("contains", "startswith", "endswith") and toks[pos + 1] == ("p", "("):
            take()
            take()
            field = value()
            if take() != ("p", ","):
                raise ODataError(f"Invalid $filter: {word} takes two arguments")
            needle = value()
            if take() != ("p", ")"):
                raise ODataError("Invalid $filter: missing ')'")
            funcs: dict[str, Callable[[str, str], bool]] = {
                "contains": lambda a, b: b in a,
                "startswith": lambda a, b: a.startswith(b),
                "endswith": lambda a, b: a.endswith(b),
            }
            op = funcs[word.lower()]
            return lambda row: op(str(norm(field(row)) or ""), str(norm(needle(row))))
        left = value()
        kind, op_word = take()
        ops: dict[str, Callable[[Any, Any], bool]] = {
            "eq": lambda a, b: a == b,
            "ne": lambda a, b: a != b,
            "gt": lambda a, b: a is not None and a > b,
            "ge": lambda a, b: a is not None and a >= b,
            "lt": lambda a, b: a is not None and a < b,
            "le": lambda a, b: a is not None and a <= b,
        }
        if kind != "word" or op_word.lower() not in ops:
            raise ODataError(f"Invalid $filter: expected a comparison operator, found {op_word!r}")
        right = value()
        fn = ops[op_word.lower()]
        return lambda row: fn(norm(left(row)), norm(right(row)))

    def conjunction() -> Pred:
        parts = [atom()]
        while peek()[0] == "word" and peek()[1].lower() == "and":
            take()
            parts.append(atom())
        return lambda row: all(p(row) for p in parts)

    def disjunction() -> Pred:
        parts = [conjunction()]
        while peek()[0] == "word" and peek()[1].lower() == "or":
            take()
            parts.append(conjunction())
        return lambda row: any(p(row) for p in parts)

    pred = disjunction()
    if peek()[0] != "eof":
        raise ODataError(f"Invalid $filter: unexpected {peek()[1]!r}")
    return pred
