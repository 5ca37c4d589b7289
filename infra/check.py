"""The offline infra checks `make lint` runs (no Bicep compiler can be had here, design.md "Infra checks offline").

1. Syntax: every ``infra/**/*.bicep`` parses with pycep-parser (the parser checkov itself uses: same pinned version),
   and an error names the file, line and column. Registry modules (``br:``/``br/public:``) and ``import ... from``
   are refused: neither checker can see into them.
2. checkov ``--framework bicep`` over ``infra/``: zero failed checks, zero parsing errors (checkov exits 0 on a file
   it cannot parse, so its JSON report is read), every skip with its reason, and at least one resource seen.

Usage: ``python infra/check.py [--checkov PATH]`` (the Makefile passes the checkov of ``.venv-infra``).
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

INFRA = Path(__file__).resolve().parent
REGISTRY = re.compile(r"^\s*module\s+\w+\s+'br[:/]", re.MULTILINE)
IMPORT_FROM = re.compile(r"^\s*import\s+.*\bfrom\b", re.MULTILINE)


def say(line: str) -> None:
    sys.stdout.write(line + "\n")


def bicep_files(root: Path = INFRA) -> list[Path]:
    return sorted(root.rglob("*.bicep"))


def syntax_errors(path: Path) -> list[str]:
    """What is wrong with one file's syntax, as ``file:line:col: message`` lines (none when it parses)."""
    from lark.exceptions import UnexpectedInput
    from pycep import BicepParser

    text = path.read_text(encoding="utf-8")
    problems = [f"{path}: registry module (br:...): write the resource here" for _ in REGISTRY.finditer(text)]
    problems += [f"{path}: 'import ... from' is not seen by the offline checks" for _ in IMPORT_FROM.finditer(text)]
    try:
        BicepParser().parse(text=text)
    except UnexpectedInput as exc:
        detail = str(exc).splitlines()[0]
        problems.append(f"{path}:{exc.line}:{exc.column}: {detail}")
    except ValueError as exc:  # pycep's own validator (unbalanced braces and the like) has no position
        problems.append(f"{path}: {exc}")
    return problems


def check_syntax(files: list[Path]) -> list[str]:
    problems = [p for f in files for p in syntax_errors(f)]
    say(f"bicep syntax (pycep): {len(files)} files, {len(problems)} problems")
    return problems


def checkov_report(checkov: str, root: Path = INFRA) -> list[dict[str, Any]]:
    # Not --quiet: that drops the skipped checks (their reasons are checked) and the list of unparsed files.
    argv = [checkov, "-d", str(root), "--framework", "bicep", "--skip-download", "-o", "json"]
    try:
        out = subprocess.run(argv, capture_output=True, text=True, check=False)
    except OSError as exc:
        raise SystemExit(
            f"--checkov {checkov}: cannot run it ({exc.strerror}); `make lint` installs it in .venv-infra"
        ) from None
    try:
        report = json.loads(out.stdout)
    except ValueError:
        raise SystemExit(f"checkov gave no JSON report (exit {out.returncode}): {out.stderr[-2000:]}") from None
    return report if isinstance(report, list) else [report]


def judge_checkov(reports: list[dict[str, Any]]) -> list[str]:
    """The problems in checkov's JSON report; prints its summary."""
    problems = []
    bicep = [r for r in reports if r.get("check_type") == "bicep"]
    if not bicep:
        return ["checkov reported no bicep results (did it scan infra/?)"]
    for report in bicep:
        summary = report.get("summary", {})
        results = report.get("results", {})
        say(
            "checkov (bicep): {passed} passed, {failed} failed, {skipped} skipped, "
            "{parsing_errors} parsing errors, {resource_count} resources".format(**summary)
        )
        if summary.get("parsing_errors"):
            files = ", ".join(results.get("parsing_errors", []) or ["(not listed)"])
            problems.append(f"checkov could not parse {summary['parsing_errors']} file(s): {files}")
        if not summary.get("resource_count"):
            problems.append("checkov saw no resources")
        for failed in results.get("failed_checks", []):
            problems.append(
                f"{failed['file_path']}: {failed['resource']}: {failed['check_id']} {failed['check_name']}"
                " (fix it, or skip it inside the resource with `// checkov:skip=ID: why`)"
            )
        for skipped in results.get("skipped_checks", []):
            reason = str(skipped.get("check_result", {}).get("suppress_comment", "")).strip()
            if not reason:
                problems.append(
                    f"{skipped['file_path']}: {skipped['resource']}: {skipped['check_id']} skipped without a reason"
                )
    return problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkov", default=str(INFRA.parent / ".venv-infra" / "bin" / "checkov"))
    parser.add_argument("--syntax-only", action="store_true", help="only the pycep syntax check")
    args = parser.parse_args(argv)
    problems = check_syntax(bicep_files())
    if not args.syntax_only:
        problems += judge_checkov(checkov_report(args.checkov))
    for problem in problems:
        say(f"  {problem}")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
