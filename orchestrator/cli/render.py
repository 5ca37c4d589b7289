"""Rich rendering of the read commands' data (orchestrator.cli.reads, orchestrator.cli.actions); ``--json`` prints
the same data instead. Nothing here decides anything."""

from __future__ import annotations

import json
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from orchestrator.domain.timeline import RecoveryRow

STYLE = {
    "recovered": "green",
    "returned": "green",
    "failed": "red",
    "gave_up": "red",
    "rejected": "red",
    "stopped": "yellow",
    "not_protected": "yellow",
    "not_found": "yellow",
}
KIND = {
    "signal": "cyan",
    "decision": "magenta",
    "attempt": "yellow",
    "timer": "dim",
    "outcome": "bold",
    "create": "blue",
}


def as_json(data: Any) -> str:
    return json.dumps(data, indent=2, default=str)


def _t(text: Any) -> str:
    """``2026-12-01T12:04:10.123456Z`` -> ``2026-12-01 12:04:10``."""
    value = str(text or "")
    return value[:19].replace("T", " ") if len(value) >= 19 and value[10] == "T" else value or "-"


def _outcome(outcome: str, reason: str) -> str:
    if not outcome:
        return "-"
    return f"[{STYLE.get(outcome, 'white')}]{outcome}[/] / {reason}"


def recoveries(console: Console, rows: list[RecoveryRow]) -> None:
    if not rows:
        console.print("no recoveries match")
        return
    table = Table(title=f"{len(rows)} recover{'y' if len(rows) == 1 else 'ies'}", title_justify="left")
    for name in ("recovery", "VM", "started", "state", "outcome", "signals", "attempts", "detail"):
        table.add_column(name, overflow="fold")
    for r in rows:
        state = f"running ({r.phase})" if r.running else r.runtime_status.lower()
        if r.concluded_at and r.runtime_status == "Running":
            state = "settling"  # concluded; still records late signals of its eviction
        table.add_row(
            r.instance_id,
            r.vm_name,
            _t(r.created),
            state,
            _outcome(r.outcome, r.reason),
            str(r.signals),
            str(r.attempts),
            escape(r.detail[:80]),
        )
    console.print(table)


def history_header(console: Console, story: dict[str, Any]) -> None:
    r = story["recovery"]
    console.print(f"[bold]{r['instanceId']}[/]  {r['vmName']}  ({r['vm']})")
    state = "running" if r["running"] else r["runtimeStatus"].lower()
    if r["concludedAt"] and r["runtimeStatus"] == "Running":
        state = "settling (concluded; recording late signals)"
    console.print(f"recovery {r['seq']}, {state}, started {_t(r['created'])}, strategy {r['strategy'] or '-'}")


def rows(console: Console, entries: list[dict[str, str]]) -> None:
    for row in entries:
        style = KIND.get(row["kind"], "white")
        console.print(
            f"{_t(row['at']) if row['at'] != '~' else 'now':<19}  [{style}]{row['kind']:<8}[/] {escape(row['text'])}"
        )


def history(console: Console, story: dict[str, Any]) -> None:
    history_header(console, story)
    rows(console, story["rows"])
    tail(console, story)


def tail(console: Console, story: dict[str, Any]) -> None:
    """What follows the rows: a redeploy's candidates, and the VM's other recoveries."""
    _candidates(console, story.get("candidates"))
    _links(console, story)


def _candidates(console: Console, ranking: dict[str, Any] | None) -> None:
    if not ranking:
        return
    table = Table(
        title=f"candidates ({ranking.get('priority')}, {ranking.get('strategy')}, ranked {_t(ranking.get('at'))})",
        title_justify="left",
    )
    for name in ("#", "size", "region/zone", "score", "placement", "eviction", "price", "cooling"):
        table.add_column(name, no_wrap=True)
    for n, c in enumerate(ranking["ranked"], 1):
        offering = f"{c['region']}/{c['zone'] or '-'}"
        table.add_row(
            str(n),
            str(c["size"]),
            offering,
            str(c["score"]),
            str(c["placementScore"]),
            f"{c['evictionRate']}%",
            str(c["price"]),
            str(c["regionCooling"] or ""),
        )
    console.print(table)
    if ranking.get("choice"):
        console.print(f"choice: {escape(str(ranking['choice']))}")
    if ranking.get("used"):
        console.print(f"used: {ranking['used']}")
    for c in ranking["excluded"]:
        console.print(f"excluded: {c['size']} {c['region']}/{c['zone'] or '-'}: {escape(str(c['excluded']))}")
    hidden = ranking["excludedTotal"] - len(ranking["excluded"])
    if hidden > 0:
        console.print(f"... and {hidden} more excluded (--json lists the first 10 too)")


def _links(console: Console, story: dict[str, Any]) -> None:
    previous, others = story.get("previous"), story.get("others") or []
    if previous and previous.get("instanceId"):
        console.print(f"previous: {previous['instanceId']} ({previous.get('outcome') or '-'})")
    for o in others:
        console.print(f"other recovery of this VM: {o['instanceId']} {_t(o['created'])} {o['outcome'] or o['phase']}")


def status(console: Console, data: dict[str, Any]) -> None:
    if data["fleets"]:
        table = Table(title="fleets", title_justify="left")
        for name in ("fleet", "desired", "members", "running", "spot", "regular fallback", "recoveries running"):
            table.add_column(name)
        for f in data["fleets"]:
            short = f["running"] < f["desired"]
            table.add_row(
                f["name"],
                str(f["desired"]),
                str(f["members"]),
                f"[{'red' if short else 'green'}]{f['running']}[/]",
                str(f["spot"]),
                str(f["regularFallback"]),
                str(f["recoveriesRunning"]),
            )
        console.print(table)
    table = Table(title="protected VMs", title_justify="left")
    for name in ("VM", "fleet", "priority", "state", "recoveries", "running", "last eviction", "last outcome"):
        table.add_column(name, overflow="fold")
    for v in data["vms"]:
        priority = str(v["priority"] or "-") + (" (fallback)" if v["fallback"] else "")
        state = v["status"] + (" (respot:ignore)" if v["ignored"] else "")
        table.add_row(
            v["name"],
            v["fleet"] or "-",
            priority,
            state,
            str(v["recoveries"]),
            str(v["recoveriesRunning"]),
            _t(v["lastEviction"]),
            v["lastOutcome"] or "-",
        )
    console.print(table)
    console.print(f"{data['recoveriesRunning']} of {data['recoveries']} recoveries running")
    if data["armError"]:
        console.print(f"[yellow]ARM was not read ({data['armError']}): VMs come from the recoveries only[/]")


def replay(console: Console, data: dict[str, Any]) -> None:
    if data.get("error"):
        console.print(f"/api/alerts would answer {data['status']}: {escape(str(data['error']))}")
        return
    console.print(f"/api/alerts would answer {data['status']}; nothing was started and nothing written")
    for s in data["signals"]:
        console.print(f"[bold]{s['vmName']}[/] {s['source']} {s['eventId']} at {_t(s['occurredAt'])}")
        if s["scope"] != "in scope":
            console.print(f"  ignored: out_of_scope: {s['scope']}")
            continue
        console.print(f"  route: {s['route']} {s.get('instanceId') or ''} {s.get('routeNote') or ''}".rstrip())
        facts = s.get("facts")
        if facts:
            console.print(
                f"  the VM now: {facts['status'] if facts['exists'] else 'gone'}, {facts.get('priority')}, "
                f"eviction policy {facts.get('eviction_policy')}, {facts.get('size')} in {facts.get('location')}"
            )
        d = s["decision"] or {}
        console.print(f"  decision: [magenta]{d.get('action')}[/] ({d.get('reason')}): {escape(str(d.get('detail')))}")
    for i in data["ignored"]:
        if i["reason"] != "out_of_scope":
            console.print(f"ignored: {i['reason']}: {escape(str(i['detail']))}")
