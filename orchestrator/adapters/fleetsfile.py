"""The fleets file (``RESPOT_FLEETS_FILE``): YAML, read once at start and validated (orchestrator.domain.fleet).

It ships with the app (a relative path is taken from the app's root: ``AzureWebJobsScriptRoot``, which the
Functions host sets to /home/site/wwwroot in Azure, else the working directory), so it is versioned and deployed
with the code that validates it. An error names the file and then each profile and field; function_app.py reads
it at import, so a bad file stops the app at start instead of failing the first Delete-policy eviction.
"""

from __future__ import annotations

import os
from pathlib import Path

import yaml

from orchestrator.domain.fleet import FleetError, Fleets, parse_fleets


def load_fleets(path: str, root: str | None = None) -> Fleets:
    """The fleets in ``path`` (none when ``path`` is empty). Raises :class:`FleetError`."""
    if not path:
        return Fleets()
    file = Path(path)
    if not file.is_absolute():
        base = root if root is not None else os.environ.get("AzureWebJobsScriptRoot")  # noqa: SIM112 - the host's name
        file = Path(base or ".") / file
    try:
        text = file.read_text(encoding="utf-8")
    except OSError as exc:
        raise FleetError(f"RESPOT_FLEETS_FILE {path}: cannot be read ({exc.strerror})") from None
    try:
        document = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise FleetError(f"RESPOT_FLEETS_FILE {path}: not YAML ({exc})") from None
    try:
        return parse_fleets(document)
    except FleetError as exc:
        raise FleetError(f"RESPOT_FLEETS_FILE {path}: {exc}") from None
