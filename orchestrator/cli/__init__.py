"""The ``respot`` command (typer + rich): the operator's view of recoveries, drills and replays, and the
composition root for local runs (``serve``, ``arm``, ``demo``: the one place allowed to import localcloud).

Read commands talk to the durable HTTP management API of the target app: the local host by default, or a
deployed Function App (``--app``, ``RESPOT_APP_URL``, the azd environment; key: ``--key``, ``RESPOT_SYSTEM_KEY``; see
orchestrator.cli.target). ``drill``, ``replay`` and ``status`` also read ARM with respot's own settings
(``RESPOT_*``, local.settings.json) and the operator's credentials. Every failure is one line on stderr and a
nonzero exit, never a traceback.
"""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape

from orchestrator.cli import actions, reads, render
from orchestrator.cli.management import TargetError
from orchestrator.cli.target import Target, resolve, settings
from orchestrator.domain.errors import ArmFailure
from orchestrator.domain.fleet import FleetError

app = typer.Typer(
    name="respot",
    help="respot: keep Azure Spot VM capacity alive. Read what it did, drill an eviction, replay a payload.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
PASS_THROUGH = {"allow_extra_args": True, "ignore_unknown_options": True, "help_option_names": []}

AppUrl = Annotated[
    str | None, typer.Option("--app", help="the Function App's URL (default: RESPOT_APP_URL, azd env, local host)")
]
Key = Annotated[
    str | None, typer.Option("--key", help="the durable system key (default: RESPOT_SYSTEM_KEY, local keys)")
]
Hub = Annotated[
    Path | None, typer.Option("--hub", help="a local task hub (file or folder) whose keys.json to use (local host)")
]
Json = Annotated[bool, typer.Option("--json", help="print the data as JSON instead of a table")]


def _out() -> Console:
    return Console(highlight=False, soft_wrap=False)


def _err() -> Console:
    return Console(stderr=True, highlight=False)


@contextmanager
def _failures(command: str) -> Iterator[None]:
    """Every expected failure as one line on stderr and exit 1."""
    try:
        yield
    except (TargetError, actions.Refused, FleetError, ValueError) as exc:
        _fail(command, str(exc))
    except ArmFailure as failure:
        _fail(command, f"ARM answered {failure.code}: {failure.message[:300]}")
    except OSError as exc:
        _fail(command, f"{exc.filename or ''}: {exc.strerror or exc}".lstrip(": "))


def _fail(command: str, message: str) -> None:
    print(f"respot {command}: {message}", file=sys.stderr)
    raise typer.Exit(1)


@contextmanager
def _progress(what: str) -> Iterator[None]:
    with _err().status(what):
        yield


def _target(app_url: str | None, key: str | None, hub: Path | None) -> Target:
    return resolve(app_url, key, hub=hub)


# --- read commands ----------------------------------------------------------------------------------------------


@app.command()
def status(app_url: AppUrl = None, key: Key = None, hub: Hub = None, json: Json = False) -> None:
    """Fleets and protected VMs: desired vs running, Spot vs Regular fallback, recoveries, the last eviction."""
    with _failures("status"):
        target = _target(app_url, key, hub)
        listing, fleets, note = _arm_listing(local=target.local)
        with _progress("reading recoveries and VMs"):
            data = reads.status(target.client(), listing, fleets)
        data["armError"] = data["armError"] or note
        if json:
            print(render.as_json(data))
        else:
            render.status(_out(), data)


def _arm_listing(*, local: bool) -> tuple[Callable[[], list[Any]] | None, Any, str]:
    """The VMs in scope from ARM (one list per subscription), the fleet profiles, and why ARM is not read (no
    settings: the recoveries alone then)."""
    try:
        config = settings(local=local)
    except TargetError as exc:
        return None, None, str(exc)
    from orchestrator.adapters.compute import ArmCompute
    from orchestrator.adapters.fleetsfile import load_fleets

    compute, scope = ArmCompute(config), config.scope

    def listing() -> list[Any]:
        found = [pair for sub in sorted(scope.subscriptions) for pair in compute.list_vms(sub, status=True)]
        return [(ref, facts) for ref, facts in found if scope.allows(ref) and scope.tags_match(facts)]

    return listing, load_fleets(config.fleets_file), ""


@app.command()
def recoveries(
    running: Annotated[bool, typer.Option("--running", help="only recoveries still at work")] = False,
    failed: Annotated[bool, typer.Option("--failed", help="only failed, gave up, rejected (or crashed)")] = False,
    vm: Annotated[str | None, typer.Option("--vm", help="only this VM (name or resource id)")] = None,
    since: Annotated[str | None, typer.Option("--since", help="only those started within, e.g. 1h, 30m, 2d")] = None,
    app_url: AppUrl = None,
    key: Key = None,
    hub: Hub = None,
    json: Json = False,
) -> None:
    """A table of recoveries, newest first (filters: --running, --failed, --vm NAME, --since 1h)."""
    with _failures("recoveries"):
        client = _target(app_url, key, hub).client()
        with _progress("reading recoveries"):
            rows = reads.recoveries(client, running=running, failed=failed, vm=vm, since=since)
        if json:
            print(render.as_json([r.to_dict() for r in rows]))
        else:
            render.recoveries(_out(), rows)


@app.command()
def history(
    ref: Annotated[str, typer.Argument(metavar="VM|RESOURCE_ID|INSTANCE_ID", help="a VM, or a recovery's id")],
    seq: Annotated[
        int | None, typer.Option("--seq", help="the VM's n-th recovery (default: the newest)", min=1)
    ] = None,
    app_url: AppUrl = None,
    key: Key = None,
    hub: Hub = None,
    json: Json = False,
) -> None:
    """The timeline of one recovery: signals, decision, attempts, candidates, timers, outcome, links."""
    with _failures("history"):
        client = _target(app_url, key, hub).client()
        with _progress("reading the recovery's history"):
            story = reads.history(client, ref, seq=seq)
        if json:
            print(render.as_json(story))
        else:
            render.history(_out(), story)


# --- drill and replay -------------------------------------------------------------------------------------------


@app.command()
def drill(
    vm: Annotated[str, typer.Argument(metavar="VM", help="a Spot VM in scope: its name or resource id")],
    follow: Annotated[bool, typer.Option("--follow/--no-follow", help="follow the recovery to its end")] = True,
    timeout: Annotated[float, typer.Option("--timeout", help="seconds to follow before giving up")] = 1800.0,
    poll: Annotated[float, typer.Option("--poll", help="seconds between looks", min=0.01)] = 2.0,
    app_url: AppUrl = None,
    key: Key = None,
    hub: Hub = None,
    json: Json = False,
) -> None:
    """simulateEviction on a Spot VM, then follow its recovery to the end, printing the timeline live."""
    from orchestrator.adapters.compute import ArmCompute

    with _failures("drill"):
        target = _target(app_url, key, hub)
        client, config = target.client(), settings(local=target.local)
        ref = actions.vm_ref(vm, config)
        compute = ArmCompute(config)
        actions.check_drill(ref, config, compute)
        before = actions.newest_seq(client, ref)
        compute.simulate_eviction(ref)
        err = _err()
        err.print(f"simulateEviction sent to {ref.name}: Azure evicts it after its notice (about 30 s)")
        if not follow:
            err.print(f"follow it with: respot history {ref.name}")
            return
        story = _follow(client, ref, before, timeout=timeout, poll=poll, live=not json)
        if json:
            print(render.as_json(story))
        if story["recovery"]["outcome"] != "recovered":
            raise typer.Exit(1)


def _follow(client: Any, ref: Any, before: int, *, timeout: float, poll: float, live: bool) -> dict[str, Any]:
    out, shown = _out(), set[tuple[str, str, str]]()
    deadline, nap = time.monotonic() + timeout, threading.Event()

    with _err().status(f"waiting for {ref.name}'s eviction and its recovery") as spinner:

        def show(story: dict[str, Any]) -> None:
            if not story:
                return
            if not shown and live:
                render.history_header(out, story)
            fresh = [r for r in story["rows"] if (r["at"], r["kind"], r["text"]) not in shown and r["kind"] != "status"]
            shown.update((r["at"], r["kind"], r["text"]) for r in fresh)
            if live:
                render.rows(out, fresh)
            now = [r["text"] for r in story["rows"] if r["kind"] == "status"]
            spinner.update(escape(now[0]) if now else "recovering")

        def pause() -> bool:
            nap.wait(poll)
            return time.monotonic() < deadline

        story = actions.follow(client, ref, before, show=show, pause=pause)
    if live:
        render.tail(out, story)
        out.print(f"read it again with: respot history {story['recovery']['instanceId']}")
    return story


@app.command()
def replay(
    payload: Annotated[Path, typer.Argument(metavar="PAYLOAD.json", help="an alert or event body, as posted")],
    app_url: AppUrl = None,
    key: Key = None,
    hub: Hub = None,
    json: Json = False,
) -> None:
    """What respot would decide for this payload (parse, scope, classification): no orchestration, no ARM write."""
    from orchestrator.adapters.compute import ArmCompute

    with _failures("replay"):
        body = payload.read_bytes()
        try:
            target: Target | None = _target(app_url, key, hub)
        except TargetError:
            target = None  # routing is then unknown; the decision does not need the app
        config = settings(local=target.local if target else not app_url)
        client = target.client() if target else None
        with _progress("reading the VM"):
            data = actions.replay(body, config, ArmCompute(config), client)
        if json:
            print(render.as_json(data))
        else:
            render.replay(_out(), data)
        if data.get("error"):
            raise typer.Exit(1)


# --- local runs: the composition root ---------------------------------------------------------------------------


@app.command(context_settings=PASS_THROUGH, add_help_option=False)
def serve(ctx: typer.Context) -> None:
    """Run function_app.py on the local Functions host (respot serve --help; --db reopens a kept task hub)."""
    from localcloud.functions.__main__ import main as serve_main

    raise typer.Exit(serve_main(list(ctx.args), prog="respot serve"))


@app.command(context_settings=PASS_THROUGH, add_help_option=False)
def arm(ctx: typer.Context) -> None:
    """Run the local ARM emulator (respot arm --help)."""
    from localcloud.arm.__main__ import main as arm_main

    raise typer.Exit(arm_main(list(ctx.args), prog="respot arm"))


@app.command(context_settings=PASS_THROUGH, add_help_option=False)
def demo(ctx: typer.Context) -> None:
    """respot recovering evicted Spot fleets on localcloud (make demo); keeps its task hub to inspect after."""
    from localcloud.demo import main as demo_main

    raise typer.Exit(demo_main(list(ctx.args), prog="respot demo"))


def main(argv: list[str] | None = None) -> int:
    """The console script: the exit code (click's standalone mode prints usage errors and help itself)."""
    try:
        app(args=argv, prog_name="respot")
    except SystemExit as done:
        return done.code if isinstance(done.code, int) else (0 if done.code is None else 1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
