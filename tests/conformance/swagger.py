"""Validate emulator responses against the official swagger (OpenAPI 2.0) response schemas.

Swagger 2.0 schemas are JSON Schema draft 4 plus ``x-ms-*`` extensions, which draft 4 ignores. Files the specs
reference but that are not vendored here (the shared ``common-types/resource-management`` types used by the
Skus, Recommender and autoscale specs) resolve to an empty, permissive schema: those fields are not checked.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import urljoin

from jsonschema import Draft4Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT4

SPECS = Path(__file__).resolve().parent / "specs"
COMPUTE = SPECS / "specification/compute/resource-manager/Microsoft.Compute"
MONITOR = SPECS / "specification/monitor/resource-manager/Microsoft.Insights"
SWAGGERS = [
    COMPUTE / "ComputeRP/stable/2024-11-01/virtualMachine.json",
    COMPUTE / "ComputeRP/stable/2024-11-01/virtualMachineScaleSet.json",
    COMPUTE / "ComputeRP/stable/2024-11-01/computeRPCommon.json",
    COMPUTE / "Skus/stable/2021-07-01/skus.json",
    COMPUTE / "RecommenderRP/stable/2025-06-05/RecommenderRP.json",
    MONITOR / "stable/2022-10-01/autoscale_API.json",
]


def _open_enums(node: Any) -> Any:
    """Drop ``enum`` where ``x-ms-enum.modelAsString`` is true: AutoRest treats those as open string sets."""
    if isinstance(node, dict):
        if node.get("x-ms-enum", {}).get("modelAsString") is True:
            node.pop("enum", None)
        for value in node.values():
            _open_enums(value)
    elif isinstance(node, list):
        for value in node:
            _open_enums(value)
    return node


@cache
def _retrieve(uri: str) -> Resource[Any]:
    path = Path(uri.removeprefix("file://"))
    if path.exists():
        return Resource.from_contents(_open_enums(json.loads(path.read_text())), default_specification=DRAFT4)
    return Resource.from_contents({"definitions": _Permissive()}, default_specification=DRAFT4)


class _Permissive(dict[str, Any]):
    """Any definition name resolves to the empty schema."""

    def __missing__(self, key: str) -> dict[str, Any]:
        return {}

    def __contains__(self, key: object) -> bool:
        return True


@cache
def _registry() -> Registry[Any]:
    return Registry(retrieve=_retrieve)  # type: ignore[call-arg]


@cache
def operations() -> dict[str, tuple[Path, str, str, dict[str, Any]]]:
    """operationId -> (swagger file, path template, method, operation object)."""
    ops: dict[str, tuple[Path, str, str, dict[str, Any]]] = {}
    for file in SWAGGERS:
        doc = json.loads(file.read_text())
        for template, methods in doc.get("paths", {}).items():
            for method, op in methods.items():
                if isinstance(op, dict) and "operationId" in op:
                    ops[op["operationId"]] = (file, template, method.upper(), op)
    return ops


def declared_statuses(operation_id: str) -> set[int]:
    _, _, _, op = operations()[operation_id]
    return {int(code) for code in op["responses"] if code != "default"}


def response_errors(operation_id: str, status: int, body: Any) -> list[str]:
    """Schema violations of ``body`` for ``status`` (the ``default`` response for errors); [] when it conforms."""
    file, _, _, op = operations()[operation_id]
    response = op["responses"].get(str(status)) or op["responses"].get("default")
    if response is None:
        return [f"status {status} is not declared for {operation_id}"]
    schema = response.get("schema")
    if schema is None:
        return [] if body in (None, b"", "") else [f"{operation_id} {status} declares no body, got one"]
    base = file.as_uri()
    ref = schema.get("$ref")
    root: dict[str, Any] = {"$ref": urljoin(base, ref)} if ref else {**schema, "id": base}
    validator = Draft4Validator(root, registry=_registry())
    return [f"{'/'.join(map(str, e.absolute_path)) or '<root>'}: {e.message}" for e in validator.iter_errors(body)]
