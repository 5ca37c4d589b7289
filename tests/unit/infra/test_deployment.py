"""The deployment's shape: every parameter documented with a default where it is optional, azd's files point at
what exists, the function package leaves the local stand-ins out, and the syntax check fails where it should."""

from __future__ import annotations

import fnmatch
import importlib.util
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO
from tests.unit.infra import bicep

# infra/check.py, the lint step under test (infra/ is not a package: it never ships).
_spec = importlib.util.spec_from_file_location("infra_check", bicep.INFRA / "check.py")
assert _spec and _spec.loader
check = importlib.util.module_from_spec(_spec)
sys.modules["infra_check"] = check
_spec.loader.exec_module(check)


def test_every_parameter_is_described_and_optional_ones_have_a_default() -> None:
    for path in bicep.files():
        for name, param in bicep.parse(path).get("parameters", {}).items():
            described = [d["argument"] for d in param["decorators"] if d["type"] == "description"]
            assert described, f"{path.name}: param {name} has no @description"
            text = described[0]
            assert text.startswith(("Required. ", "Optional. ")), f"{path.name}: {name}: say Required. or Optional."
            if text.startswith("Optional. "):
                assert param["default"] is not None, f"{path.name}: optional param {name} has no default"
            else:
                assert param["default"] is None, f"{path.name}: required param {name} has a default"


def test_the_main_parameters_file_names_only_parameters_main_bicep_has() -> None:
    given = json.loads((bicep.INFRA / "main.parameters.json").read_text())["parameters"]
    declared = bicep.parse(bicep.MAIN)["parameters"]
    assert set(given) <= set(declared)
    required = {n for n, p in declared.items() if p["default"] is None}
    assert required <= set(given), "azd must supply every required parameter"


def test_azure_yaml_deploys_the_repo_root_as_a_python_function_and_its_hooks_exist() -> None:
    text = (REPO / "azure.yaml").read_text()
    assert re.search(r"^\s+project: \.$", text, re.MULTILINE) and "host: function" in text
    assert "language: python" in text and "path: infra" in text
    for script in re.findall(r"run: (\S+)", text):
        assert (REPO / script).is_file(), script
        out = subprocess.run(["sh", "-n", script], check=False, cwd=REPO, capture_output=True, text=True)
        assert out.returncode == 0, out.stderr


def ignored(path: str, patterns: list[str]) -> bool:
    """.funcignore's gitignore-style patterns, as far as this file uses them (dirs with /, globs, names)."""
    parts = path.split("/")
    for pattern in patterns:
        if pattern.endswith("/"):
            if pattern.rstrip("/") in parts[:-1]:
                return True
        elif fnmatch.fnmatch(parts[-1], pattern) or fnmatch.fnmatch(path, pattern):
            return True
    return False


def test_the_function_package_holds_the_app_and_leaves_out_localcloud_tests_and_bench() -> None:
    lines = (REPO / ".funcignore").read_text().splitlines()
    patterns = [line.strip() for line in lines if line.strip() and not line.startswith("#")]
    tracked = subprocess.run(["git", "ls-files"], cwd=REPO, capture_output=True, text=True, check=True).stdout
    shipped = [p for p in tracked.split() if not ignored(p, patterns)]
    assert {"function_app.py", "host.json", "requirements.txt", "orchestrator/settings.py"} <= set(shipped)
    for left_out in ("localcloud/", "tests/", "bench/", "infra/", "agent/", "docs/"):
        assert not [p for p in shipped if p.startswith(left_out)], f"{left_out} would ship"
    assert not [p for p in shipped if p.startswith("local.settings")]


def test_every_bicep_file_parses() -> None:
    assert check.check_syntax(bicep.files()) == []


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("param x string\nvar y = {\n  a: \n}\n", ":4:1: "),
        ("module m 'br/public:avm/res/web/site:0.15.1' = {\n  name: 'm'\n}\n", "registry module"),
        ("import {a} from 'types.bicep'\nparam x string\n", "'import ... from'"),
    ],
)
def test_the_syntax_check_names_the_file_line_and_column(tmp_path: Path, text: str, expected: str) -> None:
    broken = tmp_path / "broken.bicep"
    broken.write_text(text)
    problems = check.syntax_errors(broken)
    assert problems and expected in " ".join(problems) and str(broken) in problems[0]


def test_a_checkov_report_with_a_parsing_error_or_a_failed_check_fails() -> None:
    summary = {"passed": 3, "failed": 0, "skipped": 1, "parsing_errors": 0, "resource_count": 4}
    clean = {"check_type": "bicep", "summary": summary, "results": {"failed_checks": [], "skipped_checks": []}}
    assert check.judge_checkov([clean]) == []
    unparsed = {**clean, "summary": {**summary, "parsing_errors": 1}, "results": {"parsing_errors": ["/x.bicep"]}}
    assert "/x.bicep" in " ".join(check.judge_checkov([unparsed]))
    failed = {"file_path": "/a.bicep", "resource": "r", "check_id": "CKV_AZURE_1", "check_name": "n"}
    assert check.judge_checkov([{**clean, "results": {"failed_checks": [failed]}}])
    silent = {**failed, "check_result": {"result": "SKIPPED", "suppress_comment": " "}}
    assert check.judge_checkov([{**clean, "results": {"skipped_checks": [silent]}}])
    assert check.judge_checkov([]) and check.judge_checkov([{**clean, "summary": {**summary, "resource_count": 0}}])
