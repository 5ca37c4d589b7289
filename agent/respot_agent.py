#!/usr/bin/env python3
"""respot in-VM agent: watch Azure Scheduled Events; on a Preempt, tell respot, drain, then acknowledge.

Standard library only, so it runs on any VM image with Python 3.8+. Every ``--interval`` seconds (1-25, default 1)
it reads ``http://169.254.169.254/metadata/scheduledevents?api-version=2020-07-01`` (header ``Metadata: true``, no
proxy). Its arguments are all checked at start (exit 2 with a one-line error naming the flag). For each
new ``Preempt`` event (a Spot eviction, at least 30 s ahead: scheduled-events.md) it:
1. posts a ``respot.preempt/v1`` notice to respot's /api/alerts (so recovery starts before the Activity Log alert);
2. runs the drain command, if any, with ``RESPOT_SECONDS_LEFT`` and ``RESPOT_EVENT_ID`` in its environment, and a
   timeout that ends before NotBefore;
3. acknowledges the event (``StartRequests``), which lets the eviction proceed at once.
Failures to notify or drain are logged and never block the acknowledgement: the eviction happens regardless.
"""

from __future__ import annotations

import argparse
import http.client
import json
import logging
import os
import re
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from datetime import datetime, timezone
from email.utils import parsedate_to_datetime
from typing import Any, Callable, Dict, List, Optional, Set
from urllib.parse import urlsplit

API_VERSION = "2020-07-01"
DEFAULT_IMDS = "http://169.254.169.254"
SAFETY_SECONDS = 5.0  # leave this much before NotBefore for the acknowledgement itself
NOTICE_SECONDS = 30.0  # a Preempt's minimum notice (scheduled-events.md)
# IMDS throttles a VM at 5 requests/s (instance-metadata-service.md); once a second is Microsoft's own sample's pace
# and ample within the 30 s notice. Slower than notice minus safety, a Preempt can be seen too late to act on.
MIN_INTERVAL, MAX_INTERVAL = 1.0, NOTICE_SECONDS - SAFETY_SECONDS
# A failing poll repeats every interval, for as long as the cause lasts: the same error is logged at most once per
# REPEAT_PERIOD, with a count, and after HINT_AFTER failures in a row the likely causes are named, once.
REPEAT_PERIOD = 60.0
HINT_AFTER = 10

# The ids respot takes (orchestrator/domain/scope.py, which this file cannot import: it runs alone on the VM): a VM,
# or a Uniform scale-set instance, with ARM's naming rules. respot refuses any other id in a notice.
_GUID = r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"
_NAME = r"[A-Za-z0-9](?:[A-Za-z0-9_.-]{0,62}[A-Za-z0-9_])?"
_VM_ID = re.compile(
    rf"^/subscriptions/{_GUID}/resourceGroups/[-A-Za-z0-9_.()]{{0,89}}[-A-Za-z0-9_()]/providers/Microsoft\.Compute"
    rf"/(?:virtualMachines/{_NAME}|virtualMachineScaleSets/{_NAME}/virtualMachines/[0-9]{{1,9}})$",
    re.IGNORECASE | re.ASCII,
)
# What a request can fail with: http.client's own errors (a server that is not HTTP, a response cut short) are not
# OSErrors, and must not end the agent any more than a refused connection does.
REQUEST_FAILED = (OSError, ValueError, http.client.HTTPException)
_DIRECT = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # no proxy, whatever the environment says

log = logging.getLogger("respot-agent")


class FailureLog:
    """Logs the failures of a call made every interval without flooding the journal (45,000 lines in 8 s at 0 s)."""

    def __init__(
        self,
        what: str,
        hint: str,
        clock: Callable[[], float] = time.monotonic,
        period: float = REPEAT_PERIOD,
        hint_after: int = HINT_AFTER,
    ) -> None:
        self.what, self.hint, self.clock, self.period, self.hint_after = what, hint, clock, period, hint_after
        self.streak = 0  # failures in a row
        self.last: Optional[str] = None  # the error last logged, while the streak lasts
        self.logged_at = 0.0
        self.repeats = 0  # failures like `last` since it was logged, not logged yet

    def failed(self, error: str) -> None:
        self.streak += 1
        now = self.clock()
        if error == self.last and now - self.logged_at < self.period:
            self.repeats += 1
        else:
            same = error == self.last
            if not same:
                self._flush(now)
            log.warning("%s unavailable: %s%s", self.what, error, self._repeated(now) if same else "")
            self.last, self.logged_at, self.repeats = error, now, 0
        if self.streak == self.hint_after:
            log.warning("%s failed %d times in a row: %s", self.what, self.streak, self.hint)

    def succeeded(self) -> None:
        if self.streak:
            self._flush(self.clock())
            log.info("%s available again after %d failures", self.what, self.streak)
        self.streak, self.last, self.repeats = 0, None, 0

    def _flush(self, now: float) -> None:
        """Say how often the error last logged came back, before a different one (or success) is logged."""
        if self.repeats:
            log.warning("%s unavailable: %s%s", self.what, self.last, self._repeated(now))

    def _repeated(self, now: float) -> str:
        return f" ({self.repeats} more like it in the last {now - self.logged_at:.0f} s)" if self.repeats else ""


def failure_hint(imds: str, events_url: str) -> str:
    """What usually keeps Scheduled Events from answering, for the endpoint this agent polls."""
    if imds.rstrip("/") == DEFAULT_IMDS:
        return (
            f"the agent polls {events_url}, Azure's Instance Metadata Service: it answers only inside an Azure VM "
            "(not in a container without host networking, nor on another machine), and its first answer after boot "
            "can take up to two minutes"
        )
    return (
        f"the agent polls {events_url} (--imds). The local emulator's endpoint is <emulator>/_imds/<VM resource id>: "
        "it closes the connection when that VM does not exist (a mistyped name or resource group) or is deallocated"
    )


class Agent:
    def __init__(
        self,
        imds: str,
        respot_url: str,
        resource_id: str,
        drain: Optional[str] = None,
        timeout: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.events_url = f"{imds.rstrip('/')}/metadata/scheduledevents?api-version={API_VERSION}"
        self.respot_url, self.resource_id, self.drain, self.timeout = respot_url, resource_id, drain, timeout
        self.handled: Set[str] = set()
        self.failures = FailureLog("scheduled events", failure_hint(imds, self.events_url), clock)

    def poll_once(self) -> List[str]:
        """Handle every new Preempt event once; returns the ids handled in this poll."""
        try:
            preempts = new_preempts(self._request("GET", self.events_url), self.handled)
        except REQUEST_FAILED as exc:  # IMDS unreachable (e.g. already deallocated): try again next tick
            self.failures.failed(str(exc))
            return []
        self.failures.succeeded()
        for event in preempts:
            self.handle(event)
        return [event["EventId"] for event in preempts]

    def handle(self, event: Dict[str, Any]) -> None:
        event_id = event["EventId"]
        self.handled.add(event_id)
        left = seconds_left(event.get("NotBefore", ""))
        log.info("Preempt %s: %.0f s before NotBefore", event_id, left)
        self._notify(event)
        self._drain(event_id, left)
        self._acknowledge(event_id)

    def _notify(self, event: Dict[str, Any]) -> None:
        notice = {
            "schema": "respot.preempt/v1",
            "eventType": "Preempt",
            "eventId": event["EventId"],
            "resourceId": self.resource_id,
            "notBefore": event.get("NotBefore", ""),
            # NotBefore is empty once the event has started: respot then takes this as the eviction's time.
            "observedAt": datetime.now(timezone.utc).isoformat().replace("+00:00", "Z"),
            "resources": event.get("Resources", []),
        }
        try:
            self._request("POST", self.respot_url, notice, imds=False)
        except REQUEST_FAILED as exc:
            log.error("could not notify respot: %s", exc)

    def _drain(self, event_id: str, left: float) -> None:
        if not self.drain:
            return
        env = {**os.environ, "RESPOT_SECONDS_LEFT": str(int(left)), "RESPOT_EVENT_ID": event_id}
        try:
            subprocess.run(self.drain, shell=True, env=env, timeout=max(1.0, left - SAFETY_SECONDS), check=False)  # noqa: S602 - the operator's own command
        except subprocess.TimeoutExpired:
            log.error("drain command still running at the deadline; acknowledging anyway")

    def _acknowledge(self, event_id: str) -> None:
        try:
            self._request("POST", self.events_url, {"StartRequests": [{"EventId": event_id}]})
        except REQUEST_FAILED as exc:
            log.error("could not acknowledge %s: %s", event_id, exc)

    def _request(self, method: str, url: str, body: Any = None, imds: bool = True) -> Any:
        data = json.dumps(body).encode() if body is not None else None
        headers = {"Content-Type": "application/json"}
        if imds:
            headers["Metadata"] = "true"
        req = urllib.request.Request(url, data=data, method=method, headers=headers)
        # IMDS must be reached directly: behind a proxy it is unsupported (instance-metadata-service.md), and an
        # http_proxy in the VM's environment would otherwise take the request. respot's URL may need the proxy.
        opener = _DIRECT if imds else urllib.request.build_opener()
        with opener.open(req, timeout=self.timeout) as resp:
            raw = resp.read()
        return json.loads(raw) if raw else {}

    def run(self, stop: threading.Event, interval: float = 1.0) -> None:
        while not stop.is_set():
            self.poll_once()
            stop.wait(interval)


def new_preempts(document: Any, handled: Set[str]) -> List[Dict[str, Any]]:
    """The Preempt events not handled yet; ValueError if this is not a Scheduled Events document (a wrong --imds)."""
    events = document.get("Events") if isinstance(document, dict) else None
    if not isinstance(events, list):
        raise ValueError(f"not a Scheduled Events document: {str(document)[:100]!r}")  # noqa: TRY004 - bad data, handled as a failed poll
    return [
        event
        for event in events
        if isinstance(event, dict)
        and event.get("EventType") == "Preempt"
        and isinstance(event.get("EventId"), str)
        and event["EventId"] not in handled
    ]


def seconds_left(not_before: str, now: Optional[datetime] = None) -> float:
    """Seconds until NotBefore (RFC 1123); 0 when it is empty (the event has started) or unreadable."""
    if not not_before:
        return 0.0
    try:
        when = parsedate_to_datetime(not_before)
    except (TypeError, ValueError):
        return 0.0
    return max(0.0, (when - (now or datetime.now(timezone.utc))).total_seconds())


def interval(text: str) -> float:
    """argparse type for --interval: 0 or less polls IMDS in a busy loop; too slow misses the notice."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of seconds: {text!r}") from None
    if not MIN_INTERVAL <= value <= MAX_INTERVAL:  # written so that NaN fails too
        raise argparse.ArgumentTypeError(
            f"must be between {MIN_INTERVAL:g} and {MAX_INTERVAL:g} seconds (Preempt notice is {NOTICE_SECONDS:g} s), got {text}"
        )
    return value


def http_url(text: str) -> str:
    """argparse type for the URLs: urllib would only fail on a bad one when it is first used, mid-eviction."""
    parts = urlsplit(text)
    try:
        parts.port  # noqa: B018 - raises ValueError for a port that is not a number in 0-65535
    except ValueError:
        raise argparse.ArgumentTypeError(f"bad port in {text!r}") from None
    # http.client refuses whitespace and control characters in a URL (InvalidURL), so they are refused here first.
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname or any(c <= " " for c in text):
        raise argparse.ArgumentTypeError(f"not an http(s) URL with a host: {text!r}")
    return text


def vm_resource_id(text: str) -> str:
    """argparse type for --resource-id: respot would refuse the notice of an id that is not a VM's."""
    rid = text.strip().rstrip("/")  # as respot reads it; curl or an env file may leave a newline
    if not _VM_ID.match(rid):
        raise argparse.ArgumentTypeError(
            "not a VM resource id (/subscriptions/<guid>/resourceGroups/<rg>/providers/Microsoft.Compute/"
            f"virtualMachines/<name>, or a scale set's .../virtualMachineScaleSets/<name>/virtualMachines/<n>): {text!r}"
        )
    return rid


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    """Every value is checked here, at start, so that a bad one is not first noticed during an eviction."""
    parser = argparse.ArgumentParser(
        description="respot in-VM agent: Scheduled Events Preempt -> respot, drain, acknowledge."
    )
    # argparse also runs `type` on a string default, so values from the environment are checked the same way.
    parser.add_argument(
        "--respot-url",
        type=http_url,
        default=os.environ.get("RESPOT_URL"),
        help="https://<app>.azurewebsites.net/api/alerts?code=<function key> (env RESPOT_URL)",
    )
    parser.add_argument(
        "--resource-id",
        type=vm_resource_id,
        default=os.environ.get("RESPOT_RESOURCE_ID"),
        help="this VM's ARM resource id (env RESPOT_RESOURCE_ID)",
    )
    parser.add_argument(
        "--drain",
        default=os.environ.get("RESPOT_DRAIN_COMMAND"),
        help="shell command to run before the eviction (env RESPOT_DRAIN_COMMAND)",
    )
    parser.add_argument(
        "--imds",
        type=http_url,
        default=os.environ.get("RESPOT_IMDS", DEFAULT_IMDS),
        help=f"Instance Metadata Service base URL (env RESPOT_IMDS, default {DEFAULT_IMDS})",
    )
    parser.add_argument(
        "--interval",
        type=interval,
        default=MIN_INTERVAL,
        help=f"seconds between polls of Scheduled Events ({MIN_INTERVAL:g}-{MAX_INTERVAL:g}, default %(default)g)",
    )
    args = parser.parse_args(argv)
    if not args.respot_url or not args.resource_id:
        parser.error("--respot-url and --resource-id (or RESPOT_URL and RESPOT_RESOURCE_ID) are required")
    return args


def main(argv: Optional[List[str]] = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    Agent(args.imds, args.respot_url, args.resource_id, args.drain).run(stop, args.interval)
    return 0


if __name__ == "__main__":
    sys.exit(main())
