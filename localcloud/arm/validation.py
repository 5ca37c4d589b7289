"""Request-body checks for PUT/PATCH of VMs and scale sets, with Azure's error codes.

Everything here is pure: a body in, a typed spec or an :class:`ArmError` out. Whatever the body, the outcome is
a 4xx with the ARM envelope, never an exception that would become a 500.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from localcloud.arm import catalog, errors
from localcloud.arm.errors import ArmError
from localcloud.arm.models import Json

MAX_BODY = 4 * 1024 * 1024  # ARM rejects request bodies over 4 MB
_NAME = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9._-]{0,62}[A-Za-z0-9_])?$")
_RG = re.compile(r"^[-\w._()]{1,89}[-\w_()]$|^[-\w_()]$")
_PRIORITIES = {"regular": "Regular", "spot": "Spot", "low": "Low"}
_POLICIES = {"deallocate": "Deallocate", "delete": "Delete"}
_SECRETS = ("adminPassword", "customData")
_DURATION = re.compile(r"P(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?(?:(\d+(?:\.\d+)?)S)?)?")


@dataclass(frozen=True)
class SpotSettings:
    priority: str
    eviction_policy: str | None
    max_price: float | None


@dataclass(frozen=True)
class VmSpec:
    location: str
    size: str
    zones: list[str]
    tags: dict[str, str]
    spot: SpotSettings
    properties: Json  # stored model, secrets removed


def parse_json(body: bytes) -> Any:
    if len(body) > MAX_BODY:
        raise errors.payload_too_large(MAX_BODY)
    if not body.strip():
        raise errors.invalid_json("empty body")
    try:
        return json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise errors.invalid_json(str(exc)) from None


def require_object(value: Any, name: str) -> Json:
    if value is None:
        raise errors.missing_property(name)
    if not isinstance(value, dict):
        raise errors.invalid_parameter(name, f"The value of parameter '{name}' must be a JSON object.")
    return value


def check_name(name: str, kind: str) -> None:
    if not _NAME.match(name):
        raise errors.invalid_resource_name(name, kind)


def tags_of(body: Json) -> dict[str, str]:
    tags = body.get("tags", {})
    if tags is None:
        return {}
    if not isinstance(tags, dict) or not all(isinstance(v, str) for v in tags.values()):
        raise errors.invalid_parameter("tags", "Tags must be an object of string values.")
    if len(tags) > 50:
        raise errors.invalid_parameter("tags", "A resource can have at most 50 tags.")
    return {str(k): v for k, v in tags.items()}


def location_of(body: Json, regions: dict[str, tuple[str, ...]], resource_type: str) -> str:
    location = body.get("location")
    if not isinstance(location, str) or not location:
        raise errors.missing_property("location")
    norm = location.replace(" ", "").lower()
    if norm not in regions:
        raise ArmError(
            400,
            "LocationNotAvailableForResourceType",
            f"The provided location '{location}' is not available for resource type '{resource_type}'. "
            f"List of available regions for the resource type is '{','.join(sorted(regions))}'.",
        )
    return norm


def zones_of(body: Json, location: str, regions: dict[str, tuple[str, ...]]) -> list[str]:
    zones = body.get("zones") or []
    if not isinstance(zones, list) or not all(isinstance(z, str) for z in zones):
        raise errors.invalid_parameter("zones", "The value of parameter 'zones' must be an array of strings.")
    for zone in zones:
        if zone not in regions[location]:
            raise errors.invalid_parameter(
                "zones",
                f"The zone(s) '{zone}' for resource 'Microsoft.Compute/virtualMachines' is not supported in location '{location}'.",
            )
    return list(zones)


def spot_settings(props: Json, size: str) -> SpotSettings:
    raw_priority = props.get("priority")
    priority = _PRIORITIES.get(str(raw_priority).lower(), "") if raw_priority is not None else "Regular"
    if not priority:
        raise errors.invalid_parameter("priority", f"The value '{raw_priority}' of parameter 'priority' is not valid.")
    raw_policy = props.get("evictionPolicy")
    policy = _POLICIES.get(str(raw_policy).lower()) if raw_policy is not None else None
    if raw_policy is not None and policy is None:
        raise errors.invalid_parameter(
            "evictionPolicy", f"The value '{raw_policy}' of parameter 'evictionPolicy' is not valid."
        )
    billing = props.get("billingProfile") or {}
    max_price = billing.get("maxPrice") if isinstance(billing, dict) else None
    spot = priority in ("Spot", "Low")
    if max_price is not None:
        if isinstance(max_price, bool) or not isinstance(max_price, int | float):
            raise errors.max_price_invalid()
        if not spot:
            raise errors.max_price_only_for_spot()
        if max_price != -1 and max_price <= 0:
            raise errors.max_price_invalid()
    if policy is not None and not spot:
        raise errors.eviction_policy_only_for_spot()
    spec = catalog.size_of(size)
    if spot and spec is not None and not spec.low_priority_capable:
        raise errors.spot_not_for_size(spec.name)
    if spot and props.get("availabilitySet"):
        raise errors.spot_not_in_availability_set()
    if spot and policy is None:
        policy = "Deallocate"  # Azure's default eviction policy for a Spot VM
    return SpotSettings(priority, policy, float(max_price) if max_price is not None else (-1.0 if spot else None))


def vm_size(props: Json, location: str) -> str:
    hw = require_object(props.get("hardwareProfile"), "hardwareProfile")
    size = hw.get("vmSize")
    if not isinstance(size, str) or not size:
        raise errors.missing_property("hardwareProfile.vmSize")
    if catalog.size_of(size) is None:
        raise errors.invalid_size(size, location)
    return catalog.canonical_size(size)


def strip_secrets(props: Json) -> Json:
    """Azure never returns secrets: osProfile.adminPassword and customData are dropped from the stored model."""
    stored: Json = json.loads(json.dumps(props))
    os_profile = stored.get("osProfile")
    if isinstance(os_profile, dict):
        for key in _SECRETS:
            os_profile.pop(key, None)
    return stored


def parse_vm(body: Any, regions: dict[str, tuple[str, ...]]) -> VmSpec:
    """Validate a VirtualMachines_CreateOrUpdate body.

    Raises:
        ArmError: a 400 naming the first thing wrong.
    """
    body = require_object(body, "parameters")
    location = location_of(body, regions, "Microsoft.Compute/virtualMachines")
    props = require_object(body.get("properties"), "properties")
    size = vm_size(props, location)
    storage = require_object(props.get("storageProfile"), "storageProfile")
    optional_object(storage.get("osDisk"), "storageProfile.osDisk")
    optional_object(props.get("osProfile"), "osProfile")
    optional_object(props.get("billingProfile"), "billingProfile")
    network = require_object(props.get("networkProfile"), "networkProfile")
    check_network_shape(network)
    return VmSpec(
        location=location,
        size=size,
        zones=zones_of(body, location, regions),
        tags=tags_of(body),
        spot=spot_settings(props, size),
        properties=strip_secrets(props),
    )


def optional_object(value: Any, name: str) -> Json:
    """``value`` as an object, {} when absent; a 400 naming ``name`` when it is something else."""
    return {} if value is None else require_object(value, name)


def check_network_shape(network: Json) -> None:
    nics = network.get("networkInterfaces") or []
    configs = network.get("networkInterfaceConfigurations") or []
    if not isinstance(nics, list) or not isinstance(configs, list):
        raise errors.invalid_parameter(
            "networkProfile", "networkInterfaces and networkInterfaceConfigurations must be arrays."
        )
    if not nics and not configs:
        raise errors.invalid_parameter(
            "networkProfile", "At least one network interface or network interface configuration is required."
        )
    if configs and not network.get("networkApiVersion"):
        raise errors.invalid_parameter(
            "networkProfile.networkApiVersion",
            "networkApiVersion must be specified when networkInterfaceConfigurations are used.",
        )
    for i, config in enumerate(configs):
        _check_nic_configuration(
            require_object(config, f"networkInterfaceConfigurations[{i}]"), f"networkInterfaceConfigurations[{i}]"
        )
    for i, ref in enumerate(nics):
        if not isinstance(ref, dict) or not isinstance(ref.get("id"), str):
            raise errors.missing_property(f"networkProfile.networkInterfaces[{i}].id")


def check_scale_set_network(network: Json) -> None:
    configs = network.get("networkInterfaceConfigurations")
    if not isinstance(configs, list) or not configs:
        raise errors.missing_property("virtualMachineProfile.networkProfile.networkInterfaceConfigurations")
    for i, config in enumerate(configs):
        _check_nic_configuration(
            require_object(config, f"networkInterfaceConfigurations[{i}]"), f"networkInterfaceConfigurations[{i}]"
        )


def _check_nic_configuration(cfg: Json, where: str) -> None:
    if not isinstance(cfg.get("name"), str):
        raise errors.missing_property(f"{where}.name")
    props = optional_object(cfg.get("properties"), f"{where}.properties")
    ipcs = props.get("ipConfigurations")
    if not isinstance(ipcs, list) or not ipcs:
        raise errors.missing_property(f"{where}.properties.ipConfigurations")
    for j, ipc in enumerate(ipcs):
        ipc_props = optional_object(
            require_object(ipc, f"{where}.ipConfigurations[{j}]").get("properties"),
            f"{where}.ipConfigurations[{j}].properties",
        )
        # The subnet is optional in the spec (VirtualMachine_Create_WithNetworkInterfaceConfiguration.json has
        # none); when given it must be a reference with an id.
        subnet = ipc_props.get("subnet")
        if subnet is not None and not (isinstance(subnet, dict) and isinstance(subnet.get("id"), str)):
            raise errors.missing_property(f"{where}.ipConfigurations[{j}].properties.subnet.id")


def iso_duration(text: str) -> timedelta | None:
    """An ISO 8601 duration of days, hours, minutes and seconds ("PT1H", "P1DT30M"), or None when it is not one."""
    m = _DURATION.fullmatch(text.strip().upper())
    if m is None or not any(m.groups()):
        return None
    d, h, mi, s = (float(x) if x else 0.0 for x in m.groups())
    return timedelta(days=d, hours=h, minutes=mi, seconds=s)
