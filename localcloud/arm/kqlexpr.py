"""KQL expressions: the tokenizer and the recursive-descent parser behind ``kql`` (operators, functions,
literals, dotted and indexed access into dynamic columns). Pure: text in, a row -> value function out."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

Row = dict[str, Any]


class KqlError(ValueError):
    pass


_TOKEN = re.compile(
    r"""\s*(?:
    (?P<num>\d+(?:\.\d+)?(?:[dhms]|ms)?\b)
  | (?P<str>'(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*")
  | (?P<op>==|!=|=~|!~|<=|>=|!in~|in~|!in\b|[|(),.\[\]<>=+\-*/!])
  | (?P<name>[A-Za-z_$][\w\-$]*)
    )""",
    re.VERBOSE,
)
_UNITS = {"d": 86400.0, "h": 3600.0, "m": 60.0, "s": 1.0, "ms": 0.001}
_STRING_OPS = {
    "has",
    "contains",
    "startswith",
    "endswith",
    "has_cs",
    "contains_cs",
    "startswith_cs",
    "endswith_cs",
    "in",
    "in~",
}
_DATETIME = re.compile(r"\s*datetime\(([^)]*)\)", re.IGNORECASE)


def tokenize(text: str) -> list[tuple[str, Any]]:
    pos, out = 0, list[tuple[str, Any]]()
    while pos < len(text):
        if text[pos:].strip() == "":
            break
        literal = _DATETIME.match(text, pos)
        if literal is not None:  # datetime(2026-01-01T11:00:00Z): its body is not made of tokens
            out.append(("lit", parse_datetime(literal.group(1))))
            pos = literal.end()
            continue
        m = _TOKEN.match(text, pos)
        if m is None:
            raise KqlError(f"unexpected character at position {pos}: {text[pos : pos + 20]!r}")
        pos = m.end()
        kind = m.lastgroup or ""
        value = m.group(kind)
        if kind == "num":
            unit = re.search(r"(ms|[dhms])$", value)
            if unit:
                out.append(("lit", timedelta(seconds=float(value[: -len(unit.group(1))]) * _UNITS[unit.group(1)])))
            else:
                out.append(("lit", float(value) if "." in value else int(value)))
        elif kind == "str":
            out.append(("lit", bytes(value[1:-1], "utf-8").decode("unicode_escape")))
        elif kind == "name" and value.startswith("!") is False and value in ("and", "or", "not", "by", "asc", "desc"):
            out.append(("kw", value))
        else:
            out.append((kind, value))
    out.append(("eof", None))
    return out


Expr = Callable[[Row], Any]


@dataclass
class Parser:
    tokens: list[tuple[str, Any]]
    pos: int = 0
    now: datetime = field(default_factory=lambda: datetime.now(UTC))

    def peek(self, offset: int = 0) -> tuple[str, Any]:
        return self.tokens[min(self.pos + offset, len(self.tokens) - 1)]

    def next(self) -> tuple[str, Any]:
        tok = self.peek()
        self.pos += 1
        return tok

    def accept(self, value: str) -> bool:
        kind, val = self.peek()
        if kind in ("op", "kw", "name") and isinstance(val, str) and val.lower() == value:
            self.pos += 1
            return True
        return False

    def expect(self, value: str) -> None:
        if not self.accept(value):
            raise KqlError(f"expected '{value}' but found {self.peek()[1]!r}")

    def name(self) -> str:
        kind, val = self.next()
        if kind not in ("name", "kw"):
            raise KqlError(f"expected a name but found {val!r}")
        return str(val)

    # expressions, lowest precedence first
    def expr(self) -> Expr:
        left = self.and_expr()
        while self.accept("or"):
            left = _binary(left, self.and_expr(), lambda x, y: bool(x) or bool(y))
        return left

    def and_expr(self) -> Expr:
        left = self.not_expr()
        while self.accept("and"):
            left = _binary(left, self.not_expr(), lambda x, y: bool(x) and bool(y))
        return left

    def not_expr(self) -> Expr:
        if self.peek() == ("kw", "not") and self.peek(1) == ("op", "("):
            self.next()
            inner = self.primary()
            return lambda r: not inner(r)
        return self.comparison()

    def comparison(self) -> Expr:
        left = self.additive()
        kind, val = self.peek()
        op = str(val).lower() if kind in ("op", "name") else ""
        if op == "!" and self.peek(1)[0] == "name":
            self.next()
            op = "!" + str(self.next()[1]).lower()
        elif op in _COMPARE or op in _STRING_OPS or op in ("!in", "!in~"):
            self.next()
        else:
            return left
        if op in ("in", "in~", "!in", "!in~"):
            items = self.arglist()
            return _membership(left, items, op)
        right = self.additive()
        fn = _COMPARE.get(op) or _string_op(op)
        return lambda r: fn(left(r), right(r))

    def additive(self) -> Expr:
        left = self.term()
        while self.peek() in (("op", "+"), ("op", "-")):
            op = self.next()[1]
            left = _binary(left, self.term(), (lambda x, y: x + y) if op == "+" else (lambda x, y: x - y))
        return left

    def term(self) -> Expr:
        left = self.unary()
        while self.peek() in (("op", "*"), ("op", "/")):
            op = self.next()[1]
            left = _binary(left, self.unary(), (lambda x, y: x * y) if op == "*" else (lambda x, y: x / y))
        return left

    def unary(self) -> Expr:
        if self.accept("-"):
            inner = self.unary()
            return lambda r: -inner(r)
        return self.postfix(self.primary())

    def postfix(self, base: Expr) -> Expr:
        while True:
            if self.accept("."):
                base = _binary(base, _const(self.name()), _get)
            elif self.accept("["):
                index = self.expr()
                self.expect("]")
                base = _binary(base, index, _get)
            else:
                return base

    def arglist(self) -> list[Expr]:
        self.expect("(")
        args: list[Expr] = []
        if not self.accept(")"):
            args.append(self.expr())
            while self.accept(","):
                args.append(self.expr())
            self.expect(")")
        return args

    def primary(self) -> Expr:
        kind, val = self.next()
        if kind == "lit":
            return _const(val)
        if (kind, val) == ("op", "("):
            inner = self.expr()
            self.expect(")")
            return inner
        if kind in ("name", "kw"):
            name = str(val)
            if name in ("true", "false"):
                return _const(name == "true")
            if self.peek() == ("op", "("):
                return _call(name, self.arglist(), self.now)
            return _column_ref(name)
        raise KqlError(f"unexpected {val!r}")


def _const(value: Any) -> Expr:
    return lambda row: value


def _column_ref(name: str) -> Expr:
    return lambda row: column_value(row, name)


def _binary(a: Expr, b: Expr, fn: Callable[[Any, Any], Any]) -> Expr:
    return lambda row: fn(a(row), b(row))


def column_value(row: Row, name: str) -> Any:
    if name in row:
        return row[name]
    lname = name.lower()
    for key, value in row.items():
        if key.lower() == lname:
            return value
    raise KqlError(f"Failed to resolve column or scalar expression named '{name}'")


def _get(value: Any, key: Any) -> Any:
    if isinstance(value, dict):
        if key in value:
            return value[key]
        return next((v for k, v in value.items() if isinstance(key, str) and k.lower() == key.lower()), None)
    if isinstance(value, list) and isinstance(key, int):
        return value[key] if -len(value) <= key < len(value) else None
    return None


def parse_datetime(text: str) -> datetime:
    try:
        value = datetime.fromisoformat(text.strip())
    except ValueError:
        raise KqlError(f"invalid datetime literal {text!r}") from None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _cmp(fn: Callable[[Any, Any], bool]) -> Callable[[Any, Any], bool]:
    def safe(a: Any, b: Any) -> bool:
        try:
            return fn(a, b)
        except TypeError:
            return False

    return safe


def _text(value: Any) -> str:
    """A value as Kusto's case-insensitive string operators see it: null is the empty string."""
    return "" if value is None else str(value).lower()


def _both_null(a: Any, b: Any) -> bool:
    return a is None and b is None


# Kusto's null rules (null-values.md, CONFIRMED): null == x is false and null != x true for a non-null x; two nulls
# compare to null, which ``where`` drops; an ordering against null is null too (here: false).
_COMPARE: dict[str, Callable[[Any, Any], bool]] = {
    "==": _cmp(lambda a, b: False if _both_null(a, b) else a == b),
    "!=": _cmp(lambda a, b: False if _both_null(a, b) else a != b),
    "=~": _cmp(lambda a, b: _text(a) == _text(b)),
    "!~": _cmp(lambda a, b: _text(a) != _text(b)),
    "<": _cmp(lambda a, b: a < b),
    "<=": _cmp(lambda a, b: a <= b),
    ">": _cmp(lambda a, b: a > b),
    ">=": _cmp(lambda a, b: a >= b),
}


def _string_op(op: str) -> Callable[[Any, Any], bool]:
    negate = op.startswith("!")
    base = op.lstrip("!")
    cs = base.endswith("_cs")
    base = base.removesuffix("_cs")

    def fn(a: Any, b: Any) -> bool:
        x, y = ("" if a is None else str(a)), str(b)
        if not cs:
            x, y = x.lower(), y.lower()
        if base == "has":
            result = bool(re.search(rf"(?<![\w]){re.escape(y)}(?![\w])", x))
        elif base == "contains":
            result = y in x
        elif base == "startswith":
            result = x.startswith(y)
        elif base == "endswith":
            result = x.endswith(y)
        else:
            raise KqlError(f"unsupported operator {op!r}")
        return result != negate

    if base not in ("has", "contains", "startswith", "endswith"):
        raise KqlError(f"unsupported operator {op!r}")
    return fn


def _membership(left: Expr, items: list[Expr], op: str) -> Expr:
    ci, negate = op.endswith("~"), op.startswith("!")

    def fn(row: Row) -> bool:
        value = left(row)
        values = [i(row) for i in items]
        hit = _text(value) in {_text(v) for v in values} if ci else value in values
        return hit != negate

    return fn


def _call(name: str, args: list[Expr], now: datetime) -> Expr:
    lname = name.lower()
    simple: dict[str, Callable[..., Any]] = {
        "tostring": lambda v: "" if v is None else (v if isinstance(v, str) else str(v)),
        "todouble": lambda v: float(v) if v not in (None, "") else None,
        "toreal": lambda v: float(v) if v not in (None, "") else None,
        "toint": lambda v: int(float(v)) if v not in (None, "") else None,
        "tolong": lambda v: int(float(v)) if v not in (None, "") else None,
        "tolower": lambda v: str(v).lower(),
        "toupper": lambda v: str(v).upper(),
        "isnotempty": lambda v: v not in (None, ""),
        "isempty": lambda v: v in (None, ""),
        "isnotnull": lambda v: v is not None,
        "isnull": lambda v: v is None,
        "strcat": lambda *vs: "".join("" if v is None else str(v) for v in vs),
        "todatetime": lambda v: v if isinstance(v, datetime) else parse_datetime(str(v)),
        "ago": lambda span: now - span,
        "now": lambda: now,
        "coalesce": lambda *vs: next((v for v in vs if v not in (None, "")), None),
        "tobool": _tobool,
        "toboolean": _tobool,
        "iff": lambda cond, yes, no: yes if cond is True else no,
        "iif": lambda cond, yes, no: yes if cond is True else no,
        "array_length": lambda v: len(v) if isinstance(v, list) else None,
    }
    if lname not in simple:
        raise KqlError(f"unsupported function '{name}'")
    fn = simple[lname]
    return lambda r: fn(*(a(r) for a in args))


def _tobool(value: Any) -> bool | None:
    """Kusto's tobool: true/false (any case) and numbers; anything else is null."""
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, int | float):
        return value != 0
    text = str(value).strip().lower()
    return {"true": True, "false": False}.get(text)
