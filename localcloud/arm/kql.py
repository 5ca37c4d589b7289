"""A small Kusto (KQL) interpreter for the queries respot sends to Log Analytics and Resource Graph.

Supported: ``Table | where | project | extend | order by / sort by | take / limit | top N by | summarize
(count, min, max, sum, avg, dcount, make_set) by | distinct | project-away | count | join``; operators ``== != =~ !~
< <= > >= and or not in in~ !in has contains startswith endswith (and their !/_cs forms)``; ``ago() now()
datetime() tostring() todouble() toint() tobool() tolower() toupper() isnotempty() isempty() strcat() iff()
array_length()``, timespans like ``1h``, dotted and indexed access into dynamic columns. ``join`` takes
``kind=`` innerunique (Kusto's default), inner, leftouter, leftsemi or leftanti, a parenthesised query on the
right, and ``on col`` or ``on $left.a == $right.b`` keys; a right column whose name the left has gets a ``1``
suffix, as Kusto renames it. Anything else is a clear 400 naming the unsupported part.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from datetime import UTC, datetime, timedelta
from typing import Any

from localcloud.arm.kqlexpr import Expr, KqlError, Parser, Row, column_value, parse_datetime, tokenize
from localcloud.arm.views import iso

__all__ = ["KqlError", "column_type", "json_cell", "parse_datetime", "run"]


# --- the query pipeline ----------------------------------------------------------------------------------------


def run(query: str, tables: dict[str, list[Row]], *, now: datetime | None = None) -> list[Row]:
    """Run ``query`` over ``tables`` (name -> rows); raises :class:`KqlError` for anything it cannot do."""
    stages = _split_pipes(query)
    if not stages:
        raise KqlError("empty query")
    source = stages[0].strip()
    table = next((rows for name, rows in tables.items() if name.lower() == source.lower()), None)
    if table is None:
        raise KqlError(f"Failed to resolve table expression named '{source}'")
    rows = [dict(r) for r in table]
    for stage in stages[1:]:
        rows = _stage(stage.strip(), rows, now or datetime.now(UTC), tables)
    return rows


def _split_pipes(query: str) -> list[str]:
    parts: list[str] = []
    current: list[str] = []
    depth, quote = 0, ""
    for ch in query:
        if quote:
            quote = "" if ch == quote else quote
        elif ch in "'\"":
            quote = ch
        elif ch in "([":
            depth += 1
        elif ch in ")]":
            depth -= 1
        elif ch == "|" and depth == 0:
            parts.append("".join(current))
            current = []
            continue
        current.append(ch)
    parts.append("".join(current))
    return [p for p in parts if p.strip()]


def _stage(text: str, rows: list[Row], now: datetime, tables: dict[str, list[Row]]) -> list[Row]:
    m = re.match(r"(project-away|order\s+by|sort\s+by|[a-z]+)\b\s*(.*)$", text, re.IGNORECASE | re.DOTALL)
    if m is None:
        raise KqlError(f"cannot parse stage {text!r}")
    verb, rest = re.sub(r"\s+", " ", m.group(1).lower()), m.group(2)
    if verb == "join":
        return _join(rest, rows, now, tables)
    if verb == "count" and not rest.strip():
        return [{"Count": len(rows)}]
    p = Parser(tokenize(rest), now=now)
    if verb == "where":
        cond = p.expr()
        return [r for r in rows if cond(r)]
    if verb in ("project", "extend"):
        assigns = _assignments(p)
        if verb == "project":
            return [{name: fn(r) for name, fn in assigns} for r in rows]
        return [{**r, **{name: fn(r) for name, fn in assigns}} for r in rows]
    if verb == "project-away":
        drop = {n.lower() for n, _ in _assignments(p)}
        return [{k: v for k, v in r.items() if k.lower() not in drop} for r in rows]
    if verb in ("take", "limit"):
        return rows[: int(p.primary()({}))]
    if verb in ("order by", "sort by"):
        return _order(p, rows)
    if verb == "top":
        count = int(p.primary()({}))
        p.expect("by")
        return _order(p, rows)[:count]
    if verb == "distinct":
        cols = [n for n, _ in _assignments(p)]
        seen: dict[tuple[Any, ...], Row] = {}
        for r in rows:
            seen.setdefault(tuple(repr(column_value(r, c)) for c in cols), {c: column_value(r, c) for c in cols})
        return list(seen.values())
    if verb == "summarize":
        return _summarize(p, rows)
    raise KqlError(f"unsupported operator '{verb}'")


_JOIN = re.compile(r"(?:kind\s*=\s*(\w+)\s*)?\((.*)\)\s*on\s+(.+)$", re.IGNORECASE | re.DOTALL)
_JOIN_KINDS = ("innerunique", "inner", "leftouter", "leftsemi", "leftanti")


def _join(text: str, left: list[Row], now: datetime, tables: dict[str, list[Row]]) -> list[Row]:
    m = _JOIN.match(text.strip())
    if m is None:
        raise KqlError("join needs '(query) on keys'")
    kind = (m.group(1) or "innerunique").lower()
    if kind not in _JOIN_KINDS:
        raise KqlError(f"unsupported join kind '{kind}'")
    right = run(m.group(2), tables, now=now)
    keys = _join_keys(m.group(3))
    index: dict[str, list[Row]] = {}
    for r in right:
        index.setdefault(_key(r, [b for _, b in keys]), []).append(r)
    if kind == "innerunique":  # the left side deduplicated on the keys, then an inner join
        kind, left = "inner", _first_of_each(left, [a for a, _ in keys])
    out: list[Row] = []
    for row in left:
        matches = index.get(_key(row, [a for a, _ in keys]), [])
        if kind in ("leftsemi", "leftanti"):
            if bool(matches) == (kind == "leftsemi"):
                out.append(row)
        else:
            wide = matches or ([dict.fromkeys(right[0]) if right else {}] if kind == "leftouter" else [])
            out += [_merge(row, other) for other in wide]
    return out


def _join_keys(text: str) -> list[tuple[str, str]]:
    keys = []
    for part in text.split(","):
        m = re.fullmatch(r"\s*\$left\.(\w+)\s*==\s*\$right\.(\w+)\s*", part) or re.fullmatch(r"\s*(\w+)\s*", part)
        if m is None:
            raise KqlError(f"unsupported join key {part.strip()!r}")
        keys.append((m.group(1), m.group(m.lastindex or 1)))
    return keys


def _first_of_each(rows: list[Row], cols: list[str]) -> list[Row]:
    seen: set[str] = set()
    unique = []
    for row in rows:
        key = _key(row, cols)
        if key not in seen:
            seen.add(key)
            unique.append(row)
    return unique


def _key(row: Row, cols: list[str]) -> str:
    return repr([column_value(row, c) for c in cols])


def _merge(left: Row, right: Row) -> Row:
    merged = dict(left)
    lower = {k.lower() for k in left}
    for name, value in right.items():
        merged[f"{name}1" if name.lower() in lower else name] = value
    return merged


def _assignments(p: Parser) -> list[tuple[str, Expr]]:
    out: list[tuple[str, Expr]] = []
    while p.peek()[0] != "eof":
        start = p.pos
        if p.peek()[0] in ("name", "kw") and p.peek(1) == ("op", "="):
            name = p.name()
            p.expect("=")
            out.append((name, p.expr()))
        else:
            fn = p.expr()
            toks = p.tokens[start : p.pos]
            name = str(toks[-1][1]) if toks and toks[-1][0] in ("name", "kw") else f"Column{len(out) + 1}"
            out.append((name, fn))
        if not p.accept(","):
            break
    if p.peek()[0] != "eof":
        raise KqlError(f"unexpected {p.peek()[1]!r}")
    return out


def _order(p: Parser, rows: list[Row]) -> list[Row]:
    keys: list[tuple[Expr, bool]] = []
    while True:
        fn = p.expr()
        desc = not p.accept("asc")
        if p.accept("desc"):
            desc = True
        keys.append((fn, desc))
        if not p.accept(","):
            break
    out = list(rows)
    for fn, desc in reversed(keys):
        out.sort(key=_sort_by(fn), reverse=desc)
    return out


def _sort_by(fn: Expr) -> Callable[[Row], tuple[int, Any]]:
    return lambda row: _sort_key(fn(row))


def _sort_key(value: Any) -> tuple[int, Any]:
    if value is None:
        return (0, 0)
    if isinstance(value, int | float | bool):
        return (1, float(value))
    if isinstance(value, datetime):
        return (1, value.timestamp())
    return (2, str(value))


_AGGREGATES: dict[str, Callable[[Iterable[Any]], Any]] = {
    "count": lambda vs: sum(1 for _ in vs),
    "min": lambda vs: min((v for v in vs if v is not None), default=None),
    "max": lambda vs: max((v for v in vs if v is not None), default=None),
    "sum": lambda vs: sum(v for v in vs if v is not None),
    "avg": lambda vs: _mean([v for v in vs if v is not None]),
    "make_set": lambda vs: list(dict.fromkeys(v for v in vs if v is not None)),
    "dcount": lambda vs: len({repr(v) for v in vs}),
}


def _mean(values: list[Any]) -> Any:
    return sum(values) / len(values) if values else None


def _summarize(p: Parser, rows: list[Row]) -> list[Row]:
    aggs: list[tuple[str, str, Expr | None]] = []
    while p.peek()[0] != "eof" and p.peek() != ("kw", "by"):
        name = None
        if p.peek(1) == ("op", "="):
            name = p.name()
            p.expect("=")
        fn_name = p.name().lower()
        args = p.arglist()
        if fn_name not in _AGGREGATES:
            raise KqlError(f"unsupported aggregate '{fn_name}'")
        aggs.append((name or (f"{fn_name}_" if fn_name != "count" else "count_"), fn_name, args[0] if args else None))
        if not p.accept(","):
            break
    groups: list[tuple[str, Expr]] = _assignments(p) if p.accept("by") else []
    buckets: dict[tuple[str, ...], tuple[Row, list[Row]]] = {}
    for r in rows:
        keyvals = {n: fn(r) for n, fn in groups}
        buckets.setdefault(tuple(repr(v) for v in keyvals.values()), (keyvals, []))[1].append(r)
    if not groups and not buckets:
        buckets[()] = ({}, [])
    out = []
    for keyvals, members in buckets.values():
        row = dict(keyvals)
        for name, fn_name, arg in aggs:
            values = [arg(m) for m in members] if arg is not None else members
            row[name] = _AGGREGATES[fn_name](values)
        out.append(row)
    return out


def column_type(values: list[Any]) -> str:
    """The Kusto type of a column, from its first non-null value."""
    sample = next((v for v in values if v is not None), "")
    if isinstance(sample, bool):
        return "bool"
    if isinstance(sample, int):
        return "long"
    if isinstance(sample, float):
        return "real"
    if isinstance(sample, datetime):
        return "datetime"
    if isinstance(sample, timedelta):
        return "timespan"
    if isinstance(sample, dict | list):
        return "dynamic"
    return "string"


def json_cell(value: Any) -> Any:
    """A KQL value as JSON: datetimes in ISO 8601, timespans as ``hh:mm:ss`` (Kusto's rendering)."""
    if isinstance(value, datetime):
        return iso(value)
    if isinstance(value, timedelta):
        total = int(value.total_seconds())
        return f"{total // 3600:02d}:{total % 3600 // 60:02d}:{total % 60:02d}"
    return value
