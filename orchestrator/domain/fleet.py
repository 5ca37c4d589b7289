"""Fleet profiles: what a replacement must look like and where it may go. Validated once, at start. Pure.

A profile protects the Delete-policy Spot VMs that carry its membership tag (``respot-fleet=<name>`` unless told
otherwise): when one is evicted, respot creates an equivalent VM from the profile's template, on the best
candidate size x region x zone the profile allows (orchestrator.domain.placement). The file is YAML
(``RESPOT_FLEETS_FILE``), ``fleets: [...]``; every error names the profile and the field.
"""

from __future__ import annotations

import re
from enum import StrEnum
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from orchestrator.domain.scope import GUID

_NAME = re.compile(r"^[a-z0-9]([a-z0-9-]{0,30}[a-z0-9])?$")
_SUBNET = re.compile(
    rf"^/subscriptions/{GUID}/resourceGroups/[-\w.()]+/providers/Microsoft\.Network/virtualNetworks/[-\w.]+/subnets/[-\w.]+$",
    re.IGNORECASE,
)
_ARM_ID = re.compile(rf"^/subscriptions/{GUID}/resourceGroups/[-\w.()]+/providers/[\w.]+/[\w/.-]+$", re.IGNORECASE)
_SIZE = re.compile(r"^(Standard|Basic)_[A-Za-z0-9_]+$")


class FleetError(ValueError):
    """The fleets file is not valid; the message names each profile and field that is wrong."""


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Image(Strict):
    """A marketplace image (publisher, offer, sku, version) or an image/gallery id."""

    publisher: str | None = None
    offer: str | None = None
    sku: str | None = None
    version: str = "latest"
    id: str | None = None

    @model_validator(mode="after")
    def _one_kind(self) -> Image:
        marketplace = self.publisher and self.offer and self.sku
        if bool(marketplace) == bool(self.id):
            raise ValueError("give either publisher, offer and sku, or id")
        if self.id and not _ARM_ID.match(self.id):
            raise ValueError("id must be an image or gallery image version resource id")
        return self


class Disk(Strict):
    size_gb: int = Field(gt=0, le=32767)
    type: Literal[
        "Standard_LRS",
        "StandardSSD_LRS",
        "Premium_LRS",
        "PremiumV2_LRS",
        "UltraSSD_LRS",
        "StandardSSD_ZRS",
        "Premium_ZRS",
    ] = "Premium_LRS"
    lun: int | None = Field(None, ge=0, le=63)


class SecretRef(Strict):
    """A Key Vault secret holding the SSH public key (read when a replacement is created)."""

    vault_url: str = Field(pattern=r"^https://[a-z0-9-]+\.vault\.azure\.net/?$")
    secret_name: str = Field(pattern=r"^[A-Za-z0-9-]{1,127}$")


_OPENSSH_PUBLIC = re.compile(r"^(ssh-|ecdsa-)\S+ \S+( [^\r\n]*)?$")


def is_ssh_public_key(value: str) -> bool:
    """One line of an OpenSSH public key (ssh-rsa ..., ssh-ed25519 ..., ecdsa-...): anything else (a private key,
    above all) never reaches a VM."""
    return bool(_OPENSSH_PUBLIC.match(value.strip()))


class Admin(Strict):
    """The replacement's admin account: its SSH public key inline, or a Key Vault secret that holds it (read at
    each create, so a rotated key is used by the next replacement). Password authentication stays off."""

    username: str = Field(pattern=r"^[a-z_][a-z0-9_.-]{0,31}$")
    ssh_public_key: str | None = None
    ssh_public_key_secret: SecretRef | None = None

    @model_validator(mode="after")
    def _one_key(self) -> Admin:
        if self.ssh_public_key is not None and self.ssh_public_key_secret is not None:
            raise ValueError("give ssh_public_key or ssh_public_key_secret, not both")
        if self.ssh_public_key is None and self.ssh_public_key_secret is None:
            raise ValueError("give ssh_public_key (the key itself) or ssh_public_key_secret ({vault_url, secret_name})")
        if self.ssh_public_key is not None and not is_ssh_public_key(self.ssh_public_key):
            raise ValueError("ssh_public_key must be an OpenSSH public key (ssh-rsa ..., ssh-ed25519 ...)")
        return self


class Template(Strict):
    image: Image
    os_disk: Disk = Disk(size_gb=30)
    data_disks: tuple[Disk, ...] = ()
    admin: Admin
    custom_data: str | None = Field(None, max_length=87380)  # base64 of at most 64 KB (Azure's limit)
    identity: str | None = None  # a user-assigned managed identity's resource id
    tags: dict[str, str] = Field(default_factory=dict)
    boot_diagnostics: bool = True
    security_type: Literal["Standard", "TrustedLaunch", "ConfidentialVM"] = "TrustedLaunch"

    @field_validator("identity")
    @classmethod
    def _identity(cls, value: str | None) -> str | None:
        if value is not None and "/microsoft.managedidentity/userassignedidentities/" not in value.lower():
            raise ValueError("identity must be a user-assigned managed identity's resource id")
        return value


class Constraints(Strict):
    min_vcpus: int = Field(1, ge=1)
    min_memory_gb: float = Field(0, ge=0)
    architecture: Literal["x64", "Arm64"] = "x64"
    avoid_families: tuple[str, ...] = ()
    max_spot_price: float | None = Field(None, gt=0)


class Placement(Strict):
    region: str = Field(pattern=r"^[a-z0-9]{2,40}$")
    zones: tuple[str, ...] = ()  # empty: the region's own pool (no zone)
    subnet: str

    @field_validator("subnet")
    @classmethod
    def _subnet(cls, value: str) -> str:
        if not _SUBNET.match(value):
            raise ValueError("subnet must be a subnet resource id (.../virtualNetworks/<vnet>/subnets/<name>)")
        return value

    @field_validator("zones")
    @classmethod
    def _zones(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        if any(z not in ("1", "2", "3") for z in value):
            raise ValueError('zones are "1", "2" or "3"')
        return value


class FallbackMode(StrEnum):
    NEVER = "never"
    AFTER_MINUTES = "after_minutes"  # a Regular VM when no Spot VM could be had for this long
    KEEP_REGULAR = "keep_regular"  # at least `keep` Regular members: below that, a replacement is Regular first


class Fallback(Strict):
    mode: FallbackMode = FallbackMode.NEVER
    minutes: float = Field(30, gt=0)
    keep: int = Field(0, ge=0)


class Revert(Strict):
    """The return to Spot: a Regular fallback is replaced by a Spot VM (created and warmed up first, then the
    fallback deleted) once a Spot candidate has ranked well enough for long enough."""

    enabled: bool = False
    after_minutes: float = Field(30, gt=0, le=1440)  # how long a good Spot candidate must keep ranking well
    min_placement: Literal["High", "Medium", "Low"] = "High"  # the placement score a good candidate has at least
    dwell_minutes: float = Field(60, ge=0, le=10080)  # after a swap that did not hold: no new try before this
    better_by: float | None = Field(None, gt=0, le=20)  # Spot members this many ranking points worse are moved too


class Profile(Strict):
    name: str
    desired: int = Field(ge=0, le=1000)
    member_tag: dict[str, str] = Field(default_factory=dict)  # default {"respot-fleet": name}
    template: Template
    sizes: tuple[str, ...] = ()
    constraints: Constraints = Constraints()
    placements: tuple[Placement, ...] = Field(min_length=1)
    max_price: float = -1  # -1: capacity only (pay up to the regular price); else a cap in USD/h
    price_policy: Literal["same_cap", "raise"] = "same_cap"  # after a price eviction: the cap elsewhere, or raise it
    price_ceiling: float | None = Field(None, gt=0)  # the highest cap "raise" may set (USD/h)
    fallback: Fallback = Fallback()
    revert: Revert = Revert()
    healthy_seconds: float = Field(60, ge=0, le=3600)
    strategy: Literal["ranked", "cheapest_first", "same_region_first"] = "ranked"

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        if not _NAME.match(value):
            raise ValueError("a fleet name is 1-32 lower-case letters, digits and hyphens")
        return value

    @field_validator("sizes")
    @classmethod
    def _sizes(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        bad = [s for s in value if not _SIZE.match(s)]
        if bad:
            raise ValueError(f"not VM sizes: {', '.join(bad)}")
        return value

    @field_validator("max_price")
    @classmethod
    def _price(cls, value: float) -> float:
        if value != -1 and value <= 0:
            raise ValueError("max_price is -1 (capacity only) or a price above 0 (USD per hour)")
        return value

    @model_validator(mode="after")
    def _defaults(self) -> Profile:
        if not self.member_tag:
            object.__setattr__(self, "member_tag", {"respot-fleet": self.name})
        if self.price_policy == "raise" and (self.price_ceiling is None or self.max_price == -1):
            raise ValueError("price_policy raise needs a max_price cap and a price_ceiling above it")
        if self.price_ceiling is not None and self.max_price != -1 and self.price_ceiling <= self.max_price:
            raise ValueError(f"price_ceiling {self.price_ceiling:g} must be above max_price {self.max_price:g}")
        regions = [p.region for p in self.placements]
        if len(set(regions)) != len(regions):
            raise ValueError("placements: each region once (list its zones together)")
        return self

    def recognises(self, tags: dict[str, str]) -> bool:
        have = {k.lower(): v for k, v in tags.items()}
        return all(have.get(k.lower()) == v for k, v in self.member_tag.items())

    def placement(self, region: str) -> Placement | None:
        return next((p for p in self.placements if p.region == region), None)


class Fleets(Strict):
    fleets: tuple[Profile, ...] = ()

    @model_validator(mode="after")
    def _unique(self) -> Fleets:
        names = [p.name for p in self.fleets]
        dup = sorted({n for n in names if names.count(n) > 1})
        if dup:
            raise ValueError(f"fleet names must be unique: {', '.join(dup)}")
        return self

    def of(self, tags: dict[str, str]) -> Profile | None:
        """The profile whose membership tag the VM carries (the first, if several claim it)."""
        return next((p for p in self.fleets if p.recognises(tags)), None)

    def named(self, name: str) -> Profile | None:
        return next((p for p in self.fleets if p.name == name), None)


def parse_fleets(document: Any) -> Fleets:
    """The fleets of a loaded YAML document. Raises :class:`FleetError` naming each profile and field."""
    if document is None:
        return Fleets()
    if not isinstance(document, dict):
        raise FleetError("the fleets file must be a mapping with a 'fleets' list")
    try:
        return Fleets.model_validate(document)
    except ValidationError as exc:
        raise FleetError("; ".join(_where(document, e) for e in exc.errors())) from None


def _where(document: dict[str, Any], error: Any) -> str:
    loc = list(error["loc"])
    if len(loc) >= 2 and loc[0] == "fleets" and isinstance(loc[1], int):
        entries = document.get("fleets") or []
        entry = entries[loc[1]] if loc[1] < len(entries) else {}
        name = entry.get("name") if isinstance(entry, dict) else None
        field = ".".join(str(p) for p in loc[2:]) or "(the profile)"
        return f"fleet '{name or loc[1]}': {field}: {error['msg']}"
    return f"{'.'.join(str(p) for p in loc) or 'fleets'}: {error['msg']}"
