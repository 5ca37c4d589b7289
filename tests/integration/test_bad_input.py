"""Bad input gets Azure's error envelope with a 4xx, never a 500 or a traceback."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from localcloud.arm import ArmEmulator, autoscaleengine
from tests.integration.helpers import autoscale_body, raw, vm_body, vmss_body

pytestmark = pytest.mark.integration

API = "?api-version=2026-04-01"


def vm_path(arm: ArmEmulator, name: str = "vm1") -> str:
    return f"/subscriptions/{arm.subscription}/resourceGroups/{arm.resource_group}/providers/Microsoft.Compute/virtualMachines/{name}{API}"


@pytest.mark.parametrize(
    ("data", "code"),
    [
        (b"{not json", "InvalidRequestContent"),
        (b"", "InvalidRequestContent"),
        (b"[1, 2]", "InvalidParameter"),
        (b'{"location": "eastus"}', "InvalidParameter"),
        (b'{"properties": {}}', "InvalidParameter"),
        (b'{"location": "eastus", "properties": {"hardwareProfile": {}}}', "InvalidParameter"),
        (
            b'{"location": "eastus", "properties": {"hardwareProfile": {"vmSize": "Standard_D2s_v5"}, "storageProfile": {}, "networkProfile": {}}}',
            "InvalidParameter",
        ),
        (b"\xff\xfe\x00", "InvalidRequestContent"),
    ],
)
def test_malformed_or_incomplete_bodies_are_400s(arm: ArmEmulator, data: bytes, code: str) -> None:
    status, _, body = raw(arm, "PUT", vm_path(arm), data=data)
    assert status == 400
    assert body["error"]["code"] == code and body["error"]["message"]


@pytest.mark.parametrize("name", ["-starts-with-dash", "ends-with-dot.", "has%20space", "x" * 65, "bad%2Fslash"])
def test_invalid_vm_names_are_refused(arm: ArmEmulator, name: str) -> None:
    status, _, body = raw(arm, "PUT", vm_path(arm, name), vm_body(arm))
    assert (status, body["error"]["code"]) == (400, "InvalidResourceName")


def test_missing_api_version_auth_and_unknown_routes(arm: ArmEmulator) -> None:
    path = vm_path(arm).split("?")[0]
    assert raw(arm, "GET", path)[2]["error"]["code"] == "MissingApiVersionParameter"
    status, _, body = raw(arm, "GET", vm_path(arm), token=None)
    assert (status, body["error"]["code"]) == (401, "AuthenticationFailed")
    status, _, body = raw(arm, "GET", f"/subscriptions/{arm.subscription}/providers/Microsoft.Foo/bars{API}")
    assert (status, body["error"]["code"]) == (404, "InvalidResourceType")
    status, _, body = raw(arm, "PATCH", vm_path(arm).replace("/vm1", "/vm1/start"), {})
    assert (status, body["error"]["code"]) == (405, "MethodNotAllowed")


def test_oversized_bodies_are_413(arm: ArmEmulator) -> None:
    status, _, body = raw(arm, "PUT", vm_path(arm), data=b'{"x": "' + b"a" * (4 * 1024 * 1024 + 10) + b'"}')
    assert (status, body["error"]["code"]) == (413, "RequestEntityTooLarge")


def test_control_api_rejects_bad_requests_with_a_named_problem(arm: ArmEmulator) -> None:
    status, _, body = raw(
        arm, "POST", "/_localcloud/capacity", {"region": "eastus", "size": "Standard_D2s_v5"}, token=None
    )
    assert status == 400 and "available" in body["error"]["message"]
    status, _, body = raw(
        arm, "POST", "/_localcloud/price", {"region": "mars", "size": "Standard_D2s_v5", "price": 1}, token=None
    )
    assert status == 400 and "mars" in body["error"]["message"]
    status, _, body = raw(arm, "POST", "/_localcloud/faults", {"error500": 2}, token=None)
    assert status == 400


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4),
    max_leaves=20,
)


def mutate(base: dict[str, Any], path: list[str], value: Any) -> dict[str, Any]:
    doc = json.loads(json.dumps(base))
    node = doc
    for key in path[:-1]:
        node = node.setdefault(key, {}) if isinstance(node, dict) else {}
    if isinstance(node, dict):
        node[path[-1]] = value
    return doc


FIELDS = [
    ["location"],
    ["zones"],
    ["tags"],
    ["properties"],
    ["properties", "priority"],
    ["properties", "evictionPolicy"],
    ["properties", "billingProfile"],
    ["properties", "hardwareProfile"],
    ["properties", "networkProfile"],
    ["properties", "storageProfile"],
    ["properties", "storageProfile", "osDisk"],
    ["properties", "storageProfile", "dataDisks"],
]


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(field=st.sampled_from(FIELDS), value=json_values)
def test_no_body_makes_the_emulator_answer_5xx(arm: ArmEmulator, field: list[str], value: Any) -> None:
    body = mutate(vm_body(arm), field, value)
    status, _, answer = raw(arm, "PUT", vm_path(arm, "fuzz"), body)
    assert status < 500, answer
    if status >= 400:
        assert set(answer) == {"error"} and answer["error"]["code"]


def _answered(status: int, answer: Any) -> None:
    assert status < 500, answer
    if status >= 400:
        assert set(answer) == {"error"} and answer["error"]["code"]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(field=st.sampled_from(FIELDS[-3:]), value=json_values)
def test_no_update_of_an_existing_vm_makes_the_emulator_answer_5xx(
    arm: ArmEmulator, field: list[str], value: Any
) -> None:
    path = vm_path(arm, "base")
    if raw(arm, "GET", path)[0] == 404:
        assert raw(arm, "PUT", path, vm_body(arm))[0] == 201
    for method in ("PUT", "PATCH"):
        _answered(*raw(arm, method, path, mutate(vm_body(arm), field, value))[::2])


PROFILE_KEYS = ["name", "capacity", "rules", "fixedDate", "recurrence"]
SETTING_FIELDS = [["location"], ["tags"], ["properties"], ["properties", "profiles"], ["properties", "enabled"]]


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(field=st.sampled_from(SETTING_FIELDS + [["profile", k] for k in PROFILE_KEYS]), value=json_values)
def test_no_autoscale_setting_body_makes_the_emulator_answer_5xx(
    arm: ArmEmulator, field: list[str], value: Any
) -> None:
    base = f"/subscriptions/{arm.subscription}/resourceGroups/{arm.resource_group}/providers"
    target = f"{base}/Microsoft.Compute/virtualMachineScaleSets/fuzzed"
    if raw(arm, "GET", f"{target}{API}")[0] == 404:
        assert raw(arm, "PUT", f"{target}{API}", vmss_body(arm, capacity=0))[0] == 201
    body = autoscale_body(target, minimum=1, maximum=2, default=1)
    if field[0] == "profile":
        body["properties"]["profiles"][0][field[1]] = value
    else:
        body = mutate(body, field, value)
    path = f"{base}/Microsoft.Insights/autoscalesettings/fuzz?api-version=2022-10-01"
    for method in ("PUT", "PATCH"):
        _answered(*raw(arm, method, path, body)[::2])
    with arm.backend.lock:  # an engine evaluation of whatever was stored must not fail either
        for setting in arm.backend.world.autoscale.values():
            autoscaleengine.evaluate(arm.backend, setting)
    assert raw(arm, "GET", path)[0] in (200, 404)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(value=json_values)
def test_no_spot_restore_policy_makes_the_emulator_answer_5xx(arm: ArmEmulator, value: Any) -> None:
    path = f"/subscriptions/{arm.subscription}/resourceGroups/{arm.resource_group}/providers/Microsoft.Compute/virtualMachineScaleSets/fuzz{API}"
    body = vmss_body(arm, capacity=0)
    body["properties"]["spotRestorePolicy"] = value
    _answered(*raw(arm, "PUT", path, body)[::2])
    _answered(*raw(arm, "PATCH", path, {"properties": {"spotRestorePolicy": value}})[::2])
