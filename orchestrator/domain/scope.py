"""What respot may touch, and ARM's name rules: resource ids and operation URLs are parsed strictly, never trusted.

A crafted id cannot steer respot elsewhere: only a VM or a Uniform scale-set instance id is accepted, every segment
is checked against ARM's naming rules (learn.microsoft.com/azure/azure-resource-manager/management/resource-name-rules)
and the reference is rebuilt from its parts, lower-cased as ARM ids compare. Names that ARM's URL normalisation
would rewrite (``.``, ``..``, a trailing period) are refused: the request path must be the one that was checked.
:class:`Scope` is built from settings where ARM is called; an orchestration's input never widens it. Pure.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from urllib.parse import urlsplit

from orchestrator.domain.models import VmFacts, VmRef

GUID = r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"
# Resource groups: 1-90 letters, digits, '-', '_', '(', ')', '.'; never ending with '.' (resource-name-rules).
# ARM also allows other Unicode letters; respot takes ASCII only, because lower-casing some of them changes the
# name's length and spelling (the path it would call is then not the one that was checked).
_RG = r"[-A-Za-z0-9_.()]{0,89}[-A-Za-z0-9_()]"
# VMs and scale sets: 1-64 alphanumerics, '_', '.', '-'; start alphanumeric, end alphanumeric or '_'.
_NAME = r"[A-Za-z0-9](?:[A-Za-z0-9_.-]{0,62}[A-Za-z0-9_])?"
_PREFIX = rf"^/subscriptions/(?P<sub>{GUID})/resourceGroups/(?P<rg>{_RG})/providers/Microsoft\.Compute"
_VM = re.compile(rf"{_PREFIX}/virtualMachines/(?P<name>{_NAME})$", re.IGNORECASE | re.ASCII)
_INSTANCE = re.compile(
    rf"{_PREFIX}/virtualMachineScaleSets/(?P<ss>{_NAME})/virtualMachines/(?P<iid>[0-9]{{1,9}})$",
    re.IGNORECASE | re.ASCII,
)
_OPERATION = re.compile(
    rf"^/subscriptions/(?P<sub>{GUID})/providers/Microsoft\.Compute/locations/[a-z0-9]{{1,40}}/operations/[A-Za-z0-9-]{{1,64}}$",
    re.IGNORECASE | re.ASCII,
)
MAX_ID = 400


class InvalidResourceId(ValueError):
    pass


def parse_vm_id(raw: object) -> VmRef:
    """Raises :class:`InvalidResourceId` for anything but a VM or Uniform scale-set instance id."""
    if not isinstance(raw, str) or len(raw) > MAX_ID:
        raise InvalidResourceId("not a resource id string")
    text = raw.strip().rstrip("/")
    if (m := _VM.match(text)) is not None:
        return VmRef(m["sub"].lower(), m["rg"].lower(), m["name"].lower())
    if (m := _INSTANCE.match(text)) is not None:
        name = f"{m['ss']}_{m['iid']}".lower()
        return VmRef(m["sub"].lower(), m["rg"].lower(), name, m["ss"].lower(), m["iid"])
    raise InvalidResourceId(f"not a VM or scale-set instance id: {text[:200]!r}")


def vm_hash(vm: VmRef) -> str:
    """A short stable digest of the VM's id: recovery instance ids are built from it."""
    return hashlib.sha256(vm.id.encode()).hexdigest()[:24]


@dataclass(frozen=True)
class Scope:
    """The subscriptions, resource groups and tags respot may act in (from settings, never from input)."""

    subscriptions: frozenset[str]
    resource_groups: frozenset[str] = frozenset()  # empty: every group of the subscriptions
    tags: tuple[tuple[str, str], ...] = ()  # every one must be on the VM

    def allows(self, vm: VmRef) -> bool:
        """Subscription and resource group: known without an ARM call."""
        groups = self.resource_groups
        return vm.subscription in self.subscriptions and (not groups or vm.resource_group in groups)

    def tags_match(self, facts: VmFacts) -> bool:
        have = {k.lower(): v for k, v in facts.tags.items()}
        return all(have.get(k.lower()) == v for k, v in self.tags)

    def describe(self) -> str:
        groups = ", ".join(sorted(self.resource_groups)) or "all resource groups"
        return f"subscriptions {', '.join(sorted(self.subscriptions))}; {groups}"


class InvalidOperation(ValueError):
    pass


def check_operation_url(url: object, arm_endpoint: str, scope: Scope) -> str:
    """An LRO status URL respot may GET with its token: on the configured ARM host, a Compute operation of a
    subscription in scope. Raises :class:`InvalidOperation` (a URL from anywhere else would receive the token)."""
    if not isinstance(url, str) or len(url) > 1000:
        raise InvalidOperation("the operation URL must be a string")
    parts, endpoint = urlsplit(url), urlsplit(arm_endpoint)
    if (parts.scheme, parts.netloc.lower()) != (endpoint.scheme, endpoint.netloc.lower()):
        raise InvalidOperation(f"the operation URL is not on {endpoint.scheme}://{endpoint.netloc}")
    m = _OPERATION.match(parts.path)
    if m is None or parts.fragment:
        raise InvalidOperation("the operation URL is not a Compute async operation")
    if m["sub"].lower() not in scope.subscriptions:
        raise InvalidOperation("the operation belongs to a subscription outside the scope")
    return url
