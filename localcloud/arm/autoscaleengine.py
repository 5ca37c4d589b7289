"""The autoscale engine, as far as is cheap to emulate: an enabled setting keeps its scale set's instance count
inside the active profile's bounds.

Every ``durations.autoscale_interval`` simulated seconds (60, NOT CONFIRMED), starting when the setting is written,
an enabled setting whose target is a scale set with a model is evaluated:
1. the profile: the first ``fixedDate`` profile whose window holds now, else the default profile (neither
   ``fixedDate`` nor ``recurrence``): the order of autoscale-multiprofile.md ("Fixed date profiles, Recurring
   profiles, Default profile"; CONFIRMED). NOT modelled: recurring profiles (skipped), time zones other than UTC
   (a fixedDate window is read as UTC), predictive autoscale;
2. the count: the emulator has no metrics, so no rule ever fires (NOT modelled: metric rules, cooldowns). What is
   left is the capacity: "the number of instances that will be set if metrics are not available for evaluation.
   The default is only used if the current instance count is lower than the default" (autoscale_API.json
   ScaleCapacity, CONFIRMED), then the count is kept within [minimum, maximum]. Deallocated instances count, as
   use-spot.md says they do;
3. a change is a PATCH of sku.capacity by the platform (caller ``Microsoft.Insights/autoscaleSettings``) and an
   Activity Log record ``Microsoft.Insights/AutoscaleSettings/Scaleup/Action`` (or ``Scaledown``), category
   Autoscale, with ``description``, ``resourceName``, ``oldInstancesCount``, ``newInstancesCount``,
   ``activeAutoscaleProfile`` and ``lastScaleActionTime``: the "Activity Log - Autoscale" sample of
   alerts-payload-samples.md (CONFIRMED shape; the profile is written as the stored JSON, a choice).
A set with an operation in flight is left for the next evaluation.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from email.utils import format_datetime

from localcloud.arm import autoscale, scalesets
from localcloud.arm.backend import Backend
from localcloud.arm.errors import ArmError
from localcloud.arm.models import AutoscaleSetting, Json, Provisioning, ScaleSet

CALLER = "Microsoft.Insights/autoscaleSettings"  # CONFIRMED: the sample's caller (and its claims' spn)


def start(b: Backend, setting: AutoscaleSetting) -> None:
    """Evaluate ``setting`` at the next tick and then every interval, until it is written again or disabled."""
    key, generation = setting.key, setting.generation

    def run() -> None:
        current = b.world.autoscale.get(key)
        if current is None or current.generation != generation or not current.enabled:
            return  # deleted, rewritten (a newer loop runs) or disabled
        evaluate(b, current)
        b.schedule(b.durations.autoscale_interval, f"autoscale {current.name}", run)

    b.schedule(0, f"autoscale {setting.name}", run)


def evaluate(b: Backend, setting: AutoscaleSetting) -> int | None:
    """One evaluation; returns the new instance count when it scaled, else None."""
    ss = b.world.scale_sets.get(setting.target)
    if ss is None or not ss.profile or ss.provisioning != Provisioning.SUCCEEDED:
        return None
    profile = active_profile(setting, b.now())
    if profile is None:
        return None
    low, high, default = autoscale.capacity_of(profile)
    current = len(b.vms_in_scale_set(ss))
    desired = min(max(max(current, default), low), high)
    if desired == current:
        return None
    _scale(b, setting, ss, profile, current, desired)
    return desired


def active_profile(setting: AutoscaleSetting, now: datetime) -> Json | None:
    profiles: list[Json] = setting.properties.get("profiles") or []
    for profile in profiles:
        window = profile.get("fixedDate")
        if isinstance(window, dict) and _within(window, now):
            return profile
    return next((p for p in profiles if not p.get("fixedDate") and not p.get("recurrence")), None)


def _within(window: Json, now: datetime) -> bool:
    try:
        start = datetime.fromisoformat(str(window["start"]))
        end = datetime.fromisoformat(str(window["end"]))
    except (KeyError, ValueError):
        return False
    start, end = (t if t.tzinfo else t.replace(tzinfo=UTC) for t in (start, end))
    return start <= now <= end


def _scale(b: Backend, setting: AutoscaleSetting, ss: ScaleSet, profile: Json, current: int, desired: int) -> None:
    status = "Succeeded"
    try:
        scalesets.scale_to(b, ss, desired, CALLER)
        ss.target = desired
    except ArmError:
        status = "Failed"  # quota or a SKU restriction refused the PATCH: the count stays
    setting.last_scale = b.now()
    direction = "Scaleup" if desired > current else "Scaledown"
    b.record(
        operation=f"{autoscale.OP_PREFIX}/{direction}/Action",
        status=status,
        caller=CALLER,
        resource_id=setting.id,
        category="Autoscale",
        properties={
            "description": (
                f"The autoscale engine attempting to scale resource '{ss.id}' from {current} instances count to "
                f"{desired} instances count."
            ),
            "resourceName": ss.id,
            "oldInstancesCount": str(current),
            "newInstancesCount": str(desired),
            "activeAutoscaleProfile": json.dumps(profile),
            "lastScaleActionTime": format_datetime(b.now(), usegmt=True),
        },
    )
