"""The control API under ``/_localcloud``: drive scenarios and read what happened.

GET  /_localcloud/health              liveness and the simulated time
GET  /_localcloud/state               everything: VMs, scale sets, autoscale settings, disks, NICs, capacity in use,
                                      prices, quotas, schedule
POST /_localcloud/reset               back to the start scenario (state, logs, buckets, faults)
POST /_localcloud/scenario            apply a scenario document (see ``scenario``)
POST /_localcloud/capacity            {region, size, zone?, available, code?} -> ids given a Preempt notice
POST /_localcloud/price               {region, size, price} -> ids given a Preempt notice
POST /_localcloud/quota               {region, name, limit, subscription?}
POST /_localcloud/evict               {id, noticeSeconds? (default 0: now)}
POST /_localcloud/health              {id, state}: the VM's Application Health extension state
POST /_localcloud/faults              {error500, error503, error429, retryAfter, drop, dropAfter, path, method, count}
                                      or {rules: [...]}; slowLro, seed, allocation: {code, count, id?, region?, size?}
POST /_localcloud/throttling          {enabled}
POST /_localcloud/clock               {advance?: seconds, speed?}
GET|POST /_localcloud/action-groups   list or add {name, url, kind, delay_seconds, operations?, annotations?}
GET  /_localcloud/deliveries          webhook deliveries and their outcomes
GET  /_localcloud/activity-log        Activity Log records
POST /_localcloud/log-analytics       {ingestionDelaySeconds}: how long a record takes to reach AzureActivity (0)
GET  /_localcloud/operations          async operations: start, expected and actual end, when a poller saw the end
GET|DELETE /_localcloud/requests      request log with per-operation counts
POST /_localcloud/resource-groups     {subscription, name}
POST /_localcloud/subnets             {id, region}
GET  /_localcloud/keyvault            vaults, their role assignments and secret versions (no values)
POST /_localcloud/keyvault/vaults     {name, tenant?, location?, roleAssignments?: {principal: role} | null,
                                      secrets?: {name: value}} (keyvault.put_vault)
POST /_localcloud/keyvault/secrets    {vault, name, value, contentType?, attributes?: {enabled}, tags?}: a new
                                      current version, in a new open vault if there is none -> {id, version}
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

from localcloud.arm import autoscale, capacity, evictions, keyvault, scenario, views
from localcloud.arm.backend import Backend, World
from localcloud.arm.errors import ArmError
from localcloud.arm.faults import RULE_KEYS, Faults, rule_from_json
from localcloud.arm.models import Json
from localcloud.arm.notifications import ActionGroup, Notifier
from localcloud.arm.pipeline import Ctx, RequestLog, Route
from localcloud.arm.throttling import Throttler
from localcloud.arm.validation import parse_json
from localcloud.httpserver import Response


@dataclass
class Services:
    backend: Backend
    notifier: Notifier
    throttler: Throttler
    faults: Faults
    requests: RequestLog = field(default_factory=RequestLog)
    start_scenario: Json = field(default_factory=scenario.default_scenario)

    def apply(self, doc: Json) -> None:
        """Apply a scenario, including the parts the backend does not own (throttling, action groups, faults)."""
        with self.backend.lock:
            scenario.apply(self.backend, doc)
            if "throttling" in doc:
                self.throttler.enabled = bool(doc["throttling"])
            for i, spec in enumerate(doc.get("actionGroups") or []):
                self.notifier.groups.append(_action_group(spec, f"actionGroups[{i}]"))
            if "faults" in doc:
                _configure_faults(self, doc["faults"])

    def reset(self) -> None:
        with self.backend.lock:
            self.backend.clear_schedule()
            self.backend.world = World()
            self.backend.allocation_faults.clear()
            self.backend.lro_factor = 1.0
            self.backend.log_delay = 0.0
            self.notifier.groups.clear()
            self.notifier.deliveries.clear()
            self.throttler.reset()
            self.faults.configure([])
            self.requests.clear()
            self.apply(self.start_scenario)


def _bad(message: str) -> ArmError:
    return ArmError(400, "InvalidControlRequest", message)


def _action_group(spec: Any, where: str) -> ActionGroup:
    if not isinstance(spec, dict):
        raise scenario.ScenarioError(f"{where}: expected an object")
    try:
        return ActionGroup(**spec)
    except TypeError as exc:
        raise scenario.ScenarioError(f"{where}: {exc}") from None
    except ValueError as exc:
        raise scenario.ScenarioError(f"{where}: {exc}") from None


def _configure_faults(svc: Services, spec: Any) -> None:
    """HTTP fault rules (replaced by a body that names any, or by ``{}``), slowLro, and queued allocation faults."""
    if not isinstance(spec, dict):
        raise scenario.ScenarioError("faults: expected an object")
    unknown = set(spec) - RULE_KEYS - {"rules", "seed", "slowLro", "allocation"}
    if unknown:
        raise scenario.ScenarioError(f"faults: unknown keys {', '.join(sorted(unknown))}")
    rule_keys = set(spec) & RULE_KEYS
    if rule_keys and "rules" in spec:
        raise scenario.ScenarioError("faults: give either rules or one rule's keys, not both")
    if "rules" in spec:
        rules = [rule_from_json(_object(r, f"faults.rules[{i}]")) for i, r in enumerate(spec["rules"])]
        svc.faults.configure(rules, seed=spec.get("seed"))
    elif rule_keys or not spec:
        rule = rule_from_json({k: spec[k] for k in rule_keys})
        svc.faults.configure([rule] if rule.fires() else [], seed=spec.get("seed"))
    elif "seed" in spec:
        svc.faults.configure(svc.faults.rules, seed=spec["seed"])
    if "slowLro" in spec:
        factor = float(spec["slowLro"])
        if factor <= 0:
            raise scenario.ScenarioError("faults.slowLro: must be > 0")
        svc.backend.lro_factor = factor
    allocation = spec.get("allocation")
    for i, one in enumerate(allocation if isinstance(allocation, list) else [allocation] if allocation else []):
        scenario.add_allocation_fault(svc.backend, _object(one, f"faults.allocation[{i}]"))


def _object(value: Any, where: str) -> Json:
    if not isinstance(value, dict):
        raise scenario.ScenarioError(f"{where}: expected an object")
    return value


def routes(svc: Services) -> list[Route]:
    def route(method: str, path: str, fn: Callable[[Services, Ctx], Any]) -> Route:
        def handler(ctx: Ctx) -> Response:
            try:
                result = fn(svc, ctx)
            except scenario.ScenarioError as exc:
                raise _bad(str(exc)) from None
            except (ValueError, TypeError, KeyError) as exc:
                raise _bad(f"invalid request: {exc}") from None
            return result if isinstance(result, Response) else Response.json(200, result)

        return Route(method, r"/_localcloud" + path, f"Control_{method}{path}", handler, auth=False, api_version=False)

    return [
        route(
            "GET",
            "/health",
            lambda s, c: {"status": "ok", "now": views.iso(s.backend.now()), "speed": s.backend.clock.speed},
        ),
        route("GET", "/state", lambda s, c: dump(s)),
        route("POST", "/reset", _reset),
        route("POST", "/scenario", _apply),
        route("POST", "/capacity", lambda s, c: {"evicting": scenario.set_capacity(s.backend, _body(c))}),
        route("POST", "/price", lambda s, c: {"evicting": scenario.set_price(s.backend, _body(c))}),
        route("POST", "/quota", _quota),
        route("POST", "/evict", _evict),
        route("POST", "/health", _health),
        route("POST", "/faults", _faults),
        route("POST", "/throttling", _throttling),
        route("GET", "/clock", lambda s, c: _clock(s)),
        route("POST", "/clock", _set_clock),
        route("GET", "/action-groups", lambda s, c: {"value": s.notifier.describe()}),
        route("POST", "/action-groups", _add_group),
        route("GET", "/deliveries", lambda s, c: {"value": list(s.notifier.deliveries)}),
        route(
            "GET", "/operations", lambda s, c: {"value": [_operation(o) for o in s.backend.world.operations.values()]}
        ),
        route("GET", "/activity-log", lambda s, c: {"value": [_record(r) for r in s.backend.world.activity]}),
        route("POST", "/log-analytics", _log_analytics),
        route("GET", "/requests", lambda s, c: s.requests.snapshot()),
        route("DELETE", "/requests", _clear_requests),
        route("POST", "/resource-groups", _resource_group),
        route("POST", "/subnets", _subnet),
        route("GET", "/keyvault", lambda s, c: {"value": keyvault.describe(s.backend)}),
        route("POST", "/keyvault/vaults", _vault),
        route("POST", "/keyvault/secrets", _secret),
    ]


def _body(ctx: Ctx) -> Json:
    body = parse_json(ctx.req.body)
    if not isinstance(body, dict):
        raise _bad("the body must be a JSON object")
    return body


def _apply(svc: Services, ctx: Ctx) -> Json:
    svc.apply(_body(ctx))
    return {"applied": True}


def _quota(svc: Services, ctx: Ctx) -> Json:
    scenario.set_quota(svc.backend, _body(ctx))
    return {"ok": True}


def _faults(svc: Services, ctx: Ctx) -> Json:
    _configure_faults(svc, _body(ctx))
    return {"ok": True}


def _clear_requests(svc: Services, ctx: Ctx) -> Json:
    svc.requests.clear()
    return {"ok": True}


def _subnet(svc: Services, ctx: Ctx) -> Json:
    scenario.apply(svc.backend, {"subnets": [_body(ctx)]})
    return {"ok": True}


def _reset(svc: Services, ctx: Ctx) -> Json:
    svc.reset()
    return {"reset": True}


def _evict(svc: Services, ctx: Ctx) -> Json:
    body = _body(ctx)
    vm = svc.backend.world.vms.get(str(body.get("id", "")).lower())
    if vm is None:
        raise _bad(f"no VM with id {body.get('id')!r}")
    if not vm.is_spot or not vm.allocated:
        raise _bad(f"{vm.id} is not an allocated Spot VM")
    evictions.schedule_eviction(
        svc.backend,
        vm,
        reason=str(body.get("reason", "capacity")),
        notice=float(body.get("noticeSeconds", 0)),
    )
    svc.backend.tick()
    return {
        "evicting": [vm.id],
        "at": views.iso(vm.eviction_due) if vm.eviction_due else views.iso(svc.backend.now()),
    }


def _health(svc: Services, ctx: Ctx) -> Json:
    """Install (or change) a VM's Application Health extension state: healthy, unhealthy, unknown, or null."""
    body = _body(ctx)
    vm = svc.backend.world.vms.get(str(body.get("id", "")).lower())
    state = body.get("state")
    if vm is None or state not in ("healthy", "unhealthy", "unknown", None):
        raise _bad("needs the id of an existing VM and a state of healthy, unhealthy, unknown or null")
    vm.health = state
    return {"id": vm.id, "health": state}


def _log_analytics(svc: Services, ctx: Ctx) -> Json:
    delay = _body(ctx).get("ingestionDelaySeconds", 0)
    if isinstance(delay, bool) or not isinstance(delay, int | float) or not 0 <= delay <= 86400:
        raise _bad("ingestionDelaySeconds must be a number of seconds from 0 to 86400")
    svc.backend.log_delay = float(delay)
    return {"ingestionDelaySeconds": svc.backend.log_delay}


def _throttling(svc: Services, ctx: Ctx) -> Json:
    svc.throttler.enabled = bool(_body(ctx).get("enabled", True))
    svc.throttler.reset()
    return {"enabled": svc.throttler.enabled}


def _clock(svc: Services) -> Json:
    return {
        "now": views.iso(svc.backend.now()),
        "elapsed": svc.backend.clock.elapsed(),
        "speed": svc.backend.clock.speed,
    }


def _set_clock(svc: Services, ctx: Ctx) -> Json:
    body = _body(ctx)
    if "speed" in body:
        svc.backend.clock.set_speed(float(body["speed"]))
    if "advance" in body:
        svc.backend.clock.advance(float(body["advance"]))
    svc.backend.tick()
    return _clock(svc)


def _add_group(svc: Services, ctx: Ctx) -> Json:
    group = _action_group(_body(ctx), "action group")
    svc.notifier.groups.append(group)
    return asdict(group)


def _resource_group(svc: Services, ctx: Ctx) -> Json:
    body = _body(ctx)
    sub, name = str(body["subscription"]), str(body["name"])
    svc.backend.world.subscriptions.add(sub.lower())
    svc.backend.world.resource_groups[(sub.lower(), name.lower())] = name
    return {"id": f"/subscriptions/{sub}/resourceGroups/{name}"}


def _vault(svc: Services, ctx: Ctx) -> Json:
    vault = keyvault.put_vault(
        svc.backend,
        _body(ctx),
        subscription=scenario.DEFAULT_SUBSCRIPTION,
        resource_group=scenario.DEFAULT_RESOURCE_GROUP,
    )
    return {"name": vault.name, "roleAssignments": vault.roles}


def _secret(svc: Services, ctx: Ctx) -> Json:
    body = _body(ctx)
    vault_name = body.pop("vault", None)
    vault = svc.backend.world.vaults.get(str(vault_name).lower()) or keyvault.put_vault(
        svc.backend,
        {"name": vault_name},
        subscription=scenario.DEFAULT_SUBSCRIPTION,
        resource_group=scenario.DEFAULT_RESOURCE_GROUP,
    )
    secret, version = keyvault.put_secret(svc.backend, vault, str(body.pop("name", "")), body)
    return {"id": keyvault.bundle(vault, secret, version)["id"], "version": version.version}


def _operation(op: Any) -> Json:
    out = asdict(op)
    for key in ("start_time", "end_time", "expected_end", "reported_at"):
        out[key] = views.iso(getattr(op, key))
    return out


def _record(rec: Any) -> Json:
    out = asdict(rec)
    out["timestamp"] = views.iso(rec.timestamp)
    return out


def _other_resources(w: World) -> Json:
    def holder(key: str | None) -> str | None:
        return w.vms[key].id if key is not None and key in w.vms else None

    return {
        "autoscaleSettings": [autoscale.view(s) for s in w.autoscale.values()],
        "disks": [{"id": d.id, "managedBy": holder(d.vm_key), "lun": d.lun} for d in w.disks.values()],
        "nics": [{"id": n.id, "vm": holder(n.vm_key)} for n in w.nics.values()],
    }


def dump(svc: Services) -> Json:
    b = svc.backend
    w = b.world
    pools = sorted({(vm.location, vm.slot or "", vm.size) for vm in w.vms.values() if vm.is_spot and vm.allocated})
    return {
        "now": views.iso(b.now()),
        "vms": [
            {
                **views.vm(vm, expand=True),
                "localcloud": {
                    "slot": vm.slot,
                    "evictionDue": views.iso(vm.eviction_due),
                    "evictedAt": views.iso(vm.evicted_at),
                },
            }
            for vm in w.vms.values()
        ],
        "scaleSets": [views.vmss(ss) for ss in w.scale_sets.values()],
        **_other_resources(w),
        "capacityInUse": [
            {
                "region": r,
                "zone": z,
                "size": s,
                "used": capacity.used(b, r, z, s),
                "capacity": b.capacity(r, z, s),
            }
            for r, z, s in pools
        ],
        "prices": [{"region": r, "size": s, "price": p} for (r, s), p in sorted(w.prices.items())],
        "quotas": [
            {"subscription": s, "region": r, "name": n, "limit": v} for (s, r, n), v in sorted(w.quotas.items())
        ],
        "activityRecords": len(w.activity),
        "evictions": len(w.evictions),
        "schedule": [{"due": views.iso(due), "what": label} for due, label in b.pending()[:200]],
        "throttling": {"enabled": svc.throttler.enabled, "throttled": svc.throttler.throttled},
        "faultsInjected": svc.faults.injected,
        "vaults": keyvault.describe(b),
    }
