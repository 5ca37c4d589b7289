"""Emulator trust: a test marked ``azure_live`` runs its one body against the local ARM emulator or real Azure.

The pattern is moto's ``aws_verified`` (getmoto/moto ``tests/__init__.py``): the same assertions, the real cloud.
By default a marked test runs as any other, against localcloud, through the :func:`cloud` fixture. With
``RESPOT_AZURE_LIVE=1`` the fixture hands it real azure-mgmt-compute clients instead, built from
``DefaultAzureCredential`` for ``RESPOT_LIVE_SUBSCRIPTION`` / ``RESPOT_LIVE_RESOURCE_GROUP`` / ``RESPOT_LIVE_REGION``;
when a setting or the credential is missing the test is skipped and the reason says which (``-ra``, in addopts,
prints it). docs/live-azure.md says how to run them, what they cost and what each proves.

A marked test uses only ``cloud`` (never ``arm``, ``compute`` or the control API: real Azure has none); collection
refuses one that asks for the emulator's fixtures. Tests that steer the emulator (capacity, faults, the clock) are
simply not marked. Wired into the suite by tests/conftest.py.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import pytest

from tests.integration.helpers import vm_body

LIVE_FLAG = "RESPOT_AZURE_LIVE"
SETTINGS = ("RESPOT_LIVE_SUBSCRIPTION", "RESPOT_LIVE_RESOURCE_GROUP", "RESPOT_LIVE_REGION")
ARM_SCOPE = "https://management.azure.com/.default"
EMULATOR_ONLY = ("arm", "compute", "webhook")  # fixtures a marked test must not use: they exist only locally
MARK = "azure_live"


def live_requested(env: Mapping[str, str] = os.environ) -> bool:
    return env.get(LIVE_FLAG) == "1"


@dataclass(frozen=True)
class LiveSettings:
    subscription: str
    resource_group: str
    region: str


def live_settings(env: Mapping[str, str] = os.environ) -> LiveSettings | str:
    """The three settings, or why they are not usable (a skip reason). Pure."""
    missing = [name for name in SETTINGS if not env.get(name)]
    if missing:
        return f"{LIVE_FLAG}=1 but {', '.join(missing)} {'is' if len(missing) == 1 else 'are'} not set (docs/live-azure.md)"
    return LiveSettings(*(env[name] for name in SETTINGS))


@dataclass
class Cloud:
    """Where an ``azure_live`` test runs: the emulator (``live`` False) or a real subscription.

    ``name(base)`` gives the test's resource names: as they are on the emulator (a fresh world per test), with a
    per-test suffix on Azure so that runs never meet each other's leftovers; at teardown every VM with that
    suffix is deleted (VMs made by :meth:`vm_body` delete their disk and NIC with them).
    """

    live: bool
    subscription: str
    resource_group: str
    region: str
    compute: Any
    make_client: Callable[[str], Any]
    suffix: str = field(default_factory=lambda: secrets.token_hex(3))

    def compute_client(self, subscription: str) -> Any:
        """azure-mgmt-compute for another subscription, as ``compute`` is built."""
        return self.make_client(subscription)

    def name(self, base: str) -> str:
        return f"{base}-{self.suffix}" if self.live else base

    def vm_body(self, **kwargs: Any) -> dict[str, Any]:
        """tests.integration.helpers.vm_body in this cloud's region (unless ``region=``): a Spot Ubuntu VM with
        one NIC on the resource group's ``vnet-<region>/default`` subnet."""
        kwargs.setdefault("region", self.region)
        body = vm_body(self, **kwargs)
        if self.live:  # on Azure an OS disk and a NIC outlive their VM unless told otherwise (Detach)
            props = body["properties"]
            props["storageProfile"]["osDisk"]["deleteOption"] = "Delete"
            for nic in props["networkProfile"]["networkInterfaceConfigurations"]:
                nic["properties"]["deleteOption"] = "Delete"
        return body

    def create(self, base: str, **kwargs: Any) -> Any:
        """Create VM ``name(base)`` from :meth:`vm_body` and wait for the LRO; returns the VM."""
        poller = self.compute.virtual_machines.begin_create_or_update(
            self.resource_group, self.name(base), self.vm_body(**kwargs)
        )
        return poller.result()

    def cleanup(self) -> None:
        """Delete every VM this test made (live only; the emulator's world ends with the test)."""
        if not self.live:
            return
        ours = [
            str(vm.name)
            for vm in self.compute.virtual_machines.list(self.resource_group)
            if str(vm.name).endswith(f"-{self.suffix}")
        ]
        pollers = [self.compute.virtual_machines.begin_delete(self.resource_group, n) for n in ours]
        for p in pollers:
            p.result()


def live_client_factory(settings: LiveSettings) -> Callable[[str], Any]:
    """Real azure-mgmt-compute clients from DefaultAzureCredential, retries off as on the emulator (a test sees
    exactly what ARM answered). Skips (the reason printed) when no credential gives an ARM token."""
    from azure.identity import DefaultAzureCredential
    from azure.mgmt.compute import ComputeManagementClient

    credential = DefaultAzureCredential()
    try:
        credential.get_token(ARM_SCOPE)
    except Exception as exc:  # every credential failure means the same here: no real Azure
        first = (str(exc).strip().split(". ")[0].splitlines() or [type(exc).__name__])[0].rstrip(".")
        pytest.skip(
            f"{LIVE_FLAG}=1 but no Azure credentials ({first[:200]}): az login, or AZURE_TENANT_ID, AZURE_CLIENT_ID "
            "and AZURE_CLIENT_SECRET (docs/live-azure.md)"
        )

    def make(subscription: str) -> Any:
        return ComputeManagementClient(credential, subscription, retry_total=0)

    return make


@pytest.fixture(scope="session")
def live_target() -> tuple[LiveSettings, Callable[[str], Any]]:
    """The subscription and a client factory, once per session; skips every live test the same way if not usable."""
    settings = live_settings()
    if isinstance(settings, str):
        pytest.skip(settings)
    return settings, live_client_factory(settings)


@pytest.fixture
def cloud(request: pytest.FixtureRequest) -> Iterator[Cloud]:
    """The emulator by default; real Azure with RESPOT_AZURE_LIVE=1 (skipped, with the reason, if not usable)."""
    if live_requested():
        settings, make = request.getfixturevalue("live_target")
        target = Cloud(
            True, settings.subscription, settings.resource_group, settings.region, make(settings.subscription), make
        )
    else:
        arm = request.getfixturevalue("arm")
        target = Cloud(
            False,
            arm.subscription,
            arm.resource_group,
            "eastus",
            arm.compute_client(retry_total=0),
            lambda sub: arm.compute_client(sub, retry_total=0),
        )
    try:
        yield target
    finally:
        target.cleanup()


def pytest_report_header(config: pytest.Config) -> str:
    if not live_requested():
        return f"{MARK}: against the local ARM emulator ({LIVE_FLAG}=1 runs them on real Azure: docs/live-azure.md)"
    settings = live_settings()
    if isinstance(settings, str):
        return f"{MARK}: {settings}; they will be skipped"
    return f"{MARK}: REAL AZURE, subscription {settings.subscription}, resource group {settings.resource_group}, region {settings.region}"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """A marked test must go through ``cloud`` alone: the emulator's own fixtures do not exist on Azure."""
    for item in items:
        if item.get_closest_marker(MARK) is None:
            continue
        names = getattr(item, "fixturenames", ())
        local = [f for f in EMULATOR_ONLY if f in names]
        if local or "cloud" not in names:
            raise pytest.UsageError(
                f"{item.nodeid} is marked {MARK} but uses {', '.join(local) or 'no cloud fixture'}: "
                "a test that runs on real Azure takes `cloud` and nothing of the emulator's"
            )
