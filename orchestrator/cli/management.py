"""A small client of the Durable Functions HTTP management API (``/runtime/webhooks/durabletask``), the same on the
local host, Azure Storage and the Durable Task Scheduler: list instances (filters and ``x-ms-continuation-token``
paging) and read one (``showHistory``/``showHistoryOutput``). Reads only; every failure is a :class:`TargetError`
whose message names what is missing (the key, the app, the instance).
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Iterable
from datetime import datetime
from typing import Any
from urllib.parse import quote, urlencode

from orchestrator.domain.models import iso

HOOKS = "/runtime/webhooks/durabletask"
MAX_PAGES = 200  # 100 instances a page: 20,000 instances is more than a CLI table should ever read
TIMEOUT = 30.0


class TargetError(Exception):
    """The target app cannot answer what was asked; the message says why and what to do."""


class Management:
    def __init__(self, base_url: str, system_key: str, *, timeout: float = TIMEOUT) -> None:
        self.base_url, self.key, self.timeout = base_url.rstrip("/"), system_key, timeout

    def instances(
        self,
        *,
        prefix: str | None = None,
        statuses: Iterable[str] = (),
        created_from: datetime | None = None,
        show_input: bool = False,
    ) -> list[dict[str, Any]]:
        """Every instance that matches, all pages. Raises :class:`TargetError`."""
        query: dict[str, str] = {"code": self.key, "showInput": str(show_input).lower()}
        if prefix:
            query["instanceIdPrefix"] = prefix
        if statuses:
            query["runtimeStatus"] = ",".join(statuses)
        if created_from is not None:
            query["createdTimeFrom"] = iso(created_from)
        found: list[dict[str, Any]] = []
        token = ""
        for _ in range(MAX_PAGES):
            body, headers = self._get(f"{HOOKS}/instances?{urlencode(query)}", token)
            found += [i for i in body or [] if isinstance(i, dict)]
            token = headers.get("x-ms-continuation-token", "")
            if not token:
                break
        return found

    def instance(self, instance_id: str, *, history: bool = False) -> dict[str, Any] | None:
        """One instance (with its history and each event's result when ``history``); None if there is none."""
        flags = {"code": self.key, "showInput": "true"}
        if history:
            flags |= {"showHistory": "true", "showHistoryOutput": "true"}
        try:
            body, _ = self._get(f"{HOOKS}/instances/{quote(instance_id, safe='')}?{urlencode(flags)}", "")
        except _NotFound:
            return None
        return body if isinstance(body, dict) else None

    def _get(self, path: str, token: str) -> tuple[Any, dict[str, str]]:
        headers = {"Accept": "application/json"} | ({"x-ms-continuation-token": token} if token else {})
        req = urllib.request.Request(self.base_url + path, headers=headers)
        try:
            with urllib.request.urlopen(req, timeout=self.timeout) as resp:
                return _json(resp.read()), {k.lower(): v for k, v in resp.headers.items()}
        except urllib.error.HTTPError as err:
            raise self._refused(err) from None
        except (urllib.error.URLError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            raise TargetError(
                f"cannot reach the app at {self.base_url}: {reason}. Start it (`respot serve`), or name a deployed "
                "one with --app https://<app>.azurewebsites.net"
            ) from None

    def _refused(self, err: urllib.error.HTTPError) -> Exception:
        if err.code == 404 and "/instances/" in (err.url or ""):
            return _NotFound()
        if err.code in (401, 403):
            return TargetError(
                f"the app at {self.base_url} refused the system key ({err.code}): pass the right one with --key or "
                "RESPOT_SYSTEM_KEY (Azure: az functionapp keys list -g <group> -n <app> --query "
                "systemKeys.durabletask_extension; locally: .respot/keys.json, printed by `respot serve`)"
            )
        if err.code == 404:
            return TargetError(f"{self.base_url} has no durable management API ({HOOKS}): is it respot's app?")
        text = err.read()[:300].decode(errors="replace")
        return TargetError(f"the app at {self.base_url} answered {err.code}: {text}")


class _NotFound(Exception):
    pass


def _json(raw: bytes) -> Any:
    try:
        return json.loads(raw) if raw.strip() else None
    except ValueError:
        raise TargetError(f"the management API answered something that is not JSON: {raw[:120]!r}") from None
