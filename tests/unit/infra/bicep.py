"""The repo's Bicep, read for the wiring tests: pycep-parser's JSON of each file (the parser checkov uses), plus the
raw text where pycep keeps no comments (a role id's name is the comment beside it)."""

from __future__ import annotations

import json
import re
from functools import cache
from pathlib import Path
from typing import Any

from pycep import BicepParser

from tests.conftest import REPO

INFRA = REPO / "infra"
MAIN = INFRA / "main.bicep"
GUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
ROLE_VAR = re.compile(r"^var (\w+) = '([0-9a-f-]{36})' // (.+)$", re.MULTILINE)


@cache
def parse(path: Path) -> dict[str, Any]:
    return BicepParser().parse(file_path=path)


def files() -> list[Path]:
    return sorted(INFRA.rglob("*.bicep"))


def module_file(path: Path) -> Path:
    return INFRA / "modules" / path.name if path.parent.name == "modules" else path


def target_scope(path: Path) -> str:
    return str(parse(path).get("globals", {}).get("scope", {}).get("value", "resourceGroup"))


def body(declaration: dict[str, Any]) -> dict[str, Any]:
    """A resource's or module's own config, under any loop and condition."""
    config = declaration["config"]
    while "loop_type" in config or "condition" in config:
        config = config["config"]
    return dict(config)


def resources(path: Path, kind: str | None = None) -> dict[str, dict[str, Any]]:
    found = parse(path).get("resources", {})
    return {name: r for name, r in found.items() if kind is None or r["type"] == kind}


def modules(path: Path = MAIN) -> dict[str, dict[str, Any]]:
    return dict(parse(path).get("modules", {}))


def variable(path: Path, name: str) -> Any:
    return parse(path)["variables"][name]["value"]


def role_vars(path: Path) -> dict[str, tuple[str, str]]:
    """``var name = '<guid>' // Role Name`` lines: var name -> (guid, role name)."""
    return {m[1]: (m[2], m[3].strip()) for m in ROLE_VAR.finditer(path.read_text(encoding="utf-8"))}


def references(value: Any) -> set[str]:
    """Every bare name an expression mentions (variables, parameters, loop items)."""
    text = json.dumps(value)
    return set(re.findall(r'"([A-Za-z_]\w*)"', text))


def expand(path: Path, names: set[str]) -> set[str]:
    """The names plus every name the variables among them mention, transitively."""
    variables = parse(path).get("variables", {})
    seen: set[str] = set()
    todo = list(names)
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        if name in variables:
            todo.extend(references(variables[name]["value"]))
    return seen
