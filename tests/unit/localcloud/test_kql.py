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


SETS = [
    {"id": "/S/a", "mode": "Uniform", "props": {"spotRestorePolicy": {"enabled": True}}, "n": 2},
    {"id": "/S/b", "mode": "Flexible", "props": {}, "n": 1},
    {"id": "/S/c", "mode": "Uniform", "props": {"spotRestorePolicy": {"enabled": "true"}}, "n": 0},
]
SETTINGS = [
    {"name": "as1", "target": "/s/B", "enabled": True},
    {"name": "as2", "target": "/s/b", "enabled": False},
    {"name": "as3", "target": "/s/x", "enabled": True},
]


def graph(query: str) -> list[dict[str, object]]:
    return kql.run(query, {"Sets": SETS, "Settings": SETTINGS}, now=NOW)


def test_dynamic_booleans_compare_to_true_and_tobool_reads_strings() -> None:
    assert [r["id"] for r in graph("Sets | where props.spotRestorePolicy.enabled == true")] == ["/S/a"]
    assert [r["id"] for r in graph("Sets | where tobool(props.spotRestorePolicy.enabled)")] == ["/S/a", "/S/c"]
    assert graph("Sets | project b = tobool(props.missing), t = tobool('True'), n = tobool(0) | take 1") == [
        {"b": None, "t": True, "n": False}
    ]


def test_null_follows_kusto_rules() -> None:
    # null != x is true, null == x false; =~ sees null as the empty string
    assert [r["id"] for r in graph("Sets | where props.spotRestorePolicy.enabled != true")] == ["/S/b", "/S/c"]
    assert graph("Sets | where props.missing == props.other") == []
    assert [r["id"] for r in graph("Sets | where props.missing =~ ''")] == ["/S/a", "/S/b", "/S/c"]
    assert graph("Sets | where props.missing =~ 'none'") == []


def test_join_kinds() -> None:
    right = "(Settings | where enabled == true | project key = tolower(target), setting = name)"
    left = "Sets | extend key = tolower(id)"
    inner = graph(f"{left} | join kind=inner {right} on key | project id, setting")
    assert inner == [{"id": "/S/b", "setting": "as1"}]
    outer = graph(f"{left} | join kind=leftouter {right} on key | project id, setting")
    assert outer == [{"id": "/S/a", "setting": None}, {"id": "/S/b", "setting": "as1"}, {"id": "/S/c", "setting": None}]
    assert [r["id"] for r in graph(f"{left} | join kind=leftanti {right} on key")] == ["/S/a", "/S/c"]
    assert [r["id"] for r in graph(f"{left} | join kind=leftsemi {right} on key")] == ["/S/b"]


def test_join_on_differently_named_keys_renames_clashing_columns_and_dedupes_the_left_by_default() -> None:
    rows = graph(
        "Sets | extend t = tolower(id) | join (Settings | extend t = tolower(target), id = name) on $left.t == $right.t"
        " | project id, id1, n"
    )
    assert rows == [{"id": "/S/b", "id1": "as1", "n": 1}, {"id": "/S/b", "id1": "as2", "n": 1}]
    doubled = kql.run(
        "L | join (R) on k | project k, v", {"L": [{"k": 1}, {"k": 1}], "R": [{"k": 1, "v": "x"}]}, now=NOW
    )
    assert doubled == [{"k": 1, "v": "x"}]  # innerunique: one left row per key


def test_count_iff_and_array_length() -> None:
    assert graph("Sets | where n > 0 | count") == [{"Count": 2}]
    assert graph("Sets | project big = iff(n > 1, 'yes', 'no') | take 2") == [{"big": "yes"}, {"big": "no"}]
    assert kql.run("T | project n = array_length(a)", {"T": [{"a": [1, 2, 3]}]}, now=NOW) == [{"n": 3}]


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("Sets | join kind=fullouter (Settings) on id", "unsupported join kind"),
        ("Sets | join Settings on id", "join needs"),
        ("Sets | join (Settings) on $left.a.b == x", "unsupported join key"),
    ],
)
def test_join_errors_name_what_is_wrong(query: str, message: str) -> None:
    with pytest.raises(kql.KqlError, match=re.escape(message)):
        graph(query)
