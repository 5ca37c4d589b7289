"""Azure Monitor autoscale settings: Microsoft.Insights/autoscalesettings, api-version 2022-10-01.

The resource as autoscale_API.json and its examples shape it: ``properties`` holds ``profiles`` (each with
``capacity`` {minimum, maximum, default} as strings, ``rules``, and an optional ``fixedDate`` or ``recurrence``),
``enabled`` (default true), ``targetResourceUri``, ``notifications`` and ``predictiveAutoscalePolicy``. PUT is
synchronous (201 created, 200 updated), PATCH merges ``tags`` and ``properties``, DELETE answers 200 or 204.

What is checked, and where the answer comes from:
- a target that is not one of the emulator's scale sets: 400 ``TargetResourceNotFound`` (code OBSERVED,
  Azure/azure-powershell#11710; status and message chosen); no ``targetResourceUri``: 400
  ``UnsupportedRequestContent`` (OBSERVED, Azure/azure-sdk-for-net#43948);
- changing ``targetResourceUri``: 400 ``TargetResourceIdIsImmutable`` (OBSERVED verbatim, Azure/Moodle#311);
- capacities that are not whole numbers, or minimum > default, default > maximum: 400 ``BadRequest`` (the
  minimum/default message OBSERVED, microsoft/onefuzz#2249; the others follow it);
- at most 20 profiles and 10 rules a profile (the swagger's descriptions); a rule's required fields (swagger).
A setting outlives its target (a separate resource, Azure/azure-powershell#3774). What the engine does with an
enabled setting is in ``autoscaleengine``.
"""

from __future__ import annotations

import json
from typing import Any

from localcloud.arm import compute, errors
from localcloud.arm.backend import Backend
from localcloud.arm.models import AutoscaleSetting, Json
from localcloud.arm.validation import check_name, location_of, require_object, tags_of

TYPE = "Microsoft.Insights/autoscaleSettings"
OP_PREFIX = "Microsoft.Insights/AutoscaleSettings"
MAX_PROFILES = 20
MAX_RULES = 10
_TRIGGER_FIELDS = (
    "metricName",
    "metricResourceUri",
    "timeGrain",
    "statistic",
    "timeWindow",
    "timeAggregation",
    "operator",
    "threshold",
)
_ACTION_FIELDS = ("direction", "type", "cooldown")


def setting_key(sub: str, rg: str, name: str) -> str:
    return f"/subscriptions/{sub}/resourcegroups/{rg}/providers/microsoft.insights/autoscalesettings/{name}".lower()


def find(b: Backend, sub: str, rg: str, name: str) -> AutoscaleSetting:
    compute.check_scope(b, sub, rg)
    setting = b.world.autoscale.get(setting_key(sub, rg, name))
    if setting is None:
        raise errors.resource_not_found("autoscalesettings", name, rg, provider="microsoft.insights")
    return setting


def put(b: Backend, sub: str, rg: str, name: str, body: Any, caller: str) -> tuple[int, AutoscaleSetting]:
    """AutoscaleSettings_CreateOrUpdate: 201 for a new setting, 200 when it replaces one."""
    compute.check_scope(b, sub, rg)
    check_name(name, TYPE)
    body = require_object(body, "parameters")
    location_of(body, b.world.regions, TYPE)  # validated; the given spelling ("West US") is what comes back
    props = _checked(b, require_object(body.get("properties"), "properties"), name)
    existing = b.world.autoscale.get(setting_key(sub, rg, name))
    if existing is not None:
        _keep_target(existing, props)
        existing.properties, existing.tags = props, tags_of(body)
        _written(b, existing, caller)
        return 200, existing
    setting = AutoscaleSetting(
        subscription=sub,
        resource_group=b.world.resource_groups.get((sub.lower(), rg.lower()), rg),
        name=name,
        location=str(body["location"]),
        tags=tags_of(body),
        properties=props,
        time_created=b.now(),
    )
    b.world.autoscale[setting.key] = setting
    _written(b, setting, caller)
    return 201, setting


def patch(b: Backend, setting: AutoscaleSetting, body: Any, caller: str) -> AutoscaleSetting:
    """AutoscaleSettings_Update: ``tags`` replace, each key of ``properties`` replaces the stored one."""
    body = require_object(body, "autoscaleSettingResource")
    changes = body.get("properties") or {}
    if not isinstance(changes, dict):
        raise errors.invalid_parameter("properties", "The value of parameter 'properties' must be a JSON object.")
    merged = {**json.loads(json.dumps(setting.properties)), **changes}
    props = _checked(b, merged, setting.name)
    _keep_target(setting, props)
    setting.properties = props
    if "tags" in body:
        setting.tags = tags_of(body)
    _written(b, setting, caller)
    return setting


def delete(b: Backend, sub: str, rg: str, name: str, caller: str) -> bool:
    """AutoscaleSettings_Delete: True when there was a setting to delete (200), False for 204."""
    compute.check_scope(b, sub, rg)
    setting = b.world.autoscale.pop(setting_key(sub, rg, name), None)
    if setting is None:
        return False
    b.record(operation=f"{OP_PREFIX}/Delete", status="Succeeded", caller=caller, resource_id=setting.id)
    return True


def targeting(b: Backend, resource_key: str) -> list[AutoscaleSetting]:
    """The enabled settings whose targetResourceUri is ``resource_key`` (any case), by name."""
    found = [s for s in b.world.autoscale.values() if s.enabled and s.target == resource_key.lower()]
    return sorted(found, key=lambda s: s.key)


def view(setting: AutoscaleSetting) -> Json:
    """The AutoscaleSettingResource body (getAutoscaleSetting.json)."""
    return {
        "id": setting.id,
        "name": setting.name,
        "type": TYPE,
        "location": setting.location,
        "tags": setting.tags,
        "properties": json.loads(json.dumps(setting.properties)),
    }


def _written(b: Backend, setting: AutoscaleSetting, caller: str) -> None:
    b.record(operation=f"{OP_PREFIX}/Write", status="Succeeded", caller=caller, resource_id=setting.id)
    setting.generation += 1
    if setting.enabled:
        from localcloud.arm import autoscaleengine  # the engine reads settings through this module

        autoscaleengine.start(b, setting)


def _keep_target(setting: AutoscaleSetting, props: Json) -> None:
    if setting.target != str(props["targetResourceUri"]).lower():
        raise errors.autoscale_target_immutable(setting.name, setting.resource_group, setting.target_uri)


def _checked(b: Backend, props: Json, name: str) -> Json:
    """The properties to store: validated, with ``name`` and ``enabled`` as Azure returns them."""
    stored: Json = json.loads(json.dumps(props))
    target = stored.get("targetResourceUri")
    if not isinstance(target, str) or not target:
        raise errors.autoscale_bad_request(
            "The request content is not supported: targetResourceUri is required.", code="UnsupportedRequestContent"
        )
    if target.lower() not in b.world.scale_sets:
        raise errors.autoscale_target_not_found(target)
    enabled = stored.get("enabled", True)
    if not isinstance(enabled, bool):
        raise errors.autoscale_bad_request("The value of 'enabled' must be true or false.")
    profiles = stored.get("profiles")
    if not isinstance(profiles, list) or not 1 <= len(profiles) <= MAX_PROFILES:
        raise errors.autoscale_bad_request(f"An autoscale setting needs between 1 and {MAX_PROFILES} profiles.")
    for profile in profiles:
        _check_profile(profile)
    stored["enabled"], stored["name"] = enabled, name
    return stored


def _check_profile(profile: Any) -> None:
    if not isinstance(profile, dict) or not isinstance(profile.get("name"), str) or not profile["name"]:
        raise errors.autoscale_bad_request("Each autoscale profile needs a name.")
    capacity_of(profile)
    rules = profile.get("rules")
    if not isinstance(rules, list) or len(rules) > MAX_RULES:
        raise errors.autoscale_bad_request(
            f"Profile '{profile['name']}' needs a list of at most {MAX_RULES} rules (it may be empty)."
        )
    for rule in rules:
        _check_rule(profile["name"], rule)


def _check_rule(profile: str, rule: Any) -> None:
    trigger = rule.get("metricTrigger") if isinstance(rule, dict) else None
    action = rule.get("scaleAction") if isinstance(rule, dict) else None
    if not isinstance(trigger, dict) or not isinstance(action, dict):
        raise errors.autoscale_bad_request(f"A rule of profile '{profile}' needs metricTrigger and scaleAction.")
    missing = [f for f in _TRIGGER_FIELDS if f not in trigger] + [f for f in _ACTION_FIELDS if f not in action]
    if missing:
        raise errors.autoscale_bad_request(f"A rule of profile '{profile}' is missing {', '.join(missing)}.")


def capacity_of(profile: Json) -> tuple[int, int, int]:
    """(minimum, maximum, default) of a profile; a 400 for numbers that are not whole or out of order."""
    raw = profile.get("capacity")
    if not isinstance(raw, dict):
        raise errors.autoscale_bad_request(f"Profile '{profile.get('name')}' needs a capacity.")
    values: list[int] = []
    for field in ("minimum", "maximum", "default"):
        text = str(raw.get(field, "")).strip()
        if not text.isdigit():
            raise errors.autoscale_bad_request(f"The {field} capacity '{raw.get(field)}' must be a whole number.")
        values.append(int(text))
    low, high, default = values
    if low > default:
        raise errors.autoscale_bad_request(
            f"The minimum capacity value '{low}' that you specified in the autoscale setting is greater than the "
            f"default capacity of '{default}'.  Enter a minimum capacity less than '{default}'."
        )
    if default > high:
        raise errors.autoscale_bad_request(
            f"The default capacity value '{default}' that you specified in the autoscale setting is greater than "
            f"the maximum capacity of '{high}'.  Enter a default capacity less than '{high}'."
        )
    return low, high, default
