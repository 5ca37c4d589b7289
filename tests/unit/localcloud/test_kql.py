"""The KQL subset: the queries respot and the docs send, and clear errors for the rest."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest

from localcloud.arm import kql

NOW = datetime(2026, 1, 1, 12, tzinfo=UTC)
ROWS = [
    {
        "Op": "Microsoft.Compute/virtualMachines/evictSpotVM/action",
        "Status": "Success",
        "T": NOW - timedelta(minutes=5),
        "P": {"a": [1, 2]},
        "N": 3,
    },
    {
        "Op": "Microsoft.Compute/virtualMachines/start/action",
        "Status": "Start",
        "T": NOW - timedelta(hours=2),
        "P": {"a": [5]},
        "N": 1,
    },
    {
        "Op": "MICROSOFT.COMPUTE/VIRTUALMACHINESCALESETS/EVICTSPOTVM/ACTION",
        "Status": "Success",
        "T": NOW - timedelta(days=2),
        "P": {},
        "N": 2,
    },
]


def run(query: str) -> list[dict[str, object]]:
    return kql.run(query, {"T1": ROWS}, now=NOW)


def test_where_endswith_is_case_insensitive_and_in_tilde_matches_any_case() -> None:
    rows = run("T1 | where Op endswith '/evictspotvm/action' | where Status in~ ('success', 'succeeded')")
    assert [r["N"] for r in rows] == [3, 2]


def test_endswith_cs_and_negations() -> None:
    assert [r["N"] for r in run("T1 | where Op endswith_cs '/evictSpotVM/action'")] == [3]
    assert [r["N"] for r in run("T1 | where Op !contains 'evict'")] == [1]
    assert [r["N"] for r in run("T1 | where Status !in ('Success')")] == [1]


def test_ago_timespans_and_comparisons() -> None:
    assert [r["N"] for r in run("T1 | where T > ago(1h)")] == [3]
    assert [r["N"] for r in run("T1 | where T <= ago(1d)")] == [2]


def test_project_with_renames_dynamic_access_and_functions() -> None:
    rows = run("T1 | where N == 3 | project name = tostring(P.a[1]), doubled = N * 2, lower = tolower(Status)")
    assert rows == [{"name": "2", "doubled": 6, "lower": "success"}]


def test_order_take_top_and_summarize() -> None:
    assert [r["N"] for r in run("T1 | order by N asc | take 2")] == [1, 2]
    assert [r["N"] for r in run("T1 | top 1 by T desc")] == [3]
    counts = {r["Status"]: r["n"] for r in run("T1 | summarize n = count() by Status")}
    assert counts == {"Success": 2, "Start": 1}
    assert run("T1 | summarize latest = max(T)")[0]["latest"] == NOW - timedelta(minutes=5)


def test_extend_distinct_and_datetime_literals() -> None:
    rows = run("T1 | extend recent = T >= datetime(2026-01-01T11:00:00Z) | where recent | distinct Status")
    assert rows == [{"Status": "Success"}]


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("Nope | take 1", "Failed to resolve table"),
        ("T1 | where Missing == 1", "Missing"),
        ("T1 | frobnicate", "unsupported operator"),
        ("T1 | where unknownfn(N)", "unsupported function"),
        ("T1 | where (N == 1", "expected ')'"),
        ("", "empty query"),
    ],
)
def test_errors_name_what_is_wrong(query: str, message: str) -> None:
    with pytest.raises(kql.KqlError, match=re.escape(message)):
        run(query)


def test_pipes_inside_strings_do_not_split_stages() -> None:
    assert run("T1 | where Op contains '|' ") == []


def test_column_types() -> None:
    assert [kql.column_type(v) for v in ([1], [1.5], ["x"], [NOW], [{"a": 1}], [None, True])] == [
        "long",
        "real",
        "string",
        "datetime",
        "dynamic",
        "bool",
    ]
