"""Which app the CLI reads, and with which key; and respot's settings for the commands that read ARM themselves.

The app: ``--app URL``, else ``RESPOT_APP_URL``, else the azd environment's ``RESPOT_APP_URL`` (``.azure/<env>/.env``,
an output of infra/main.bicep), else the local host (``http://127.0.0.1:<Host.LocalHttpPort>`` of
local.settings.json, 7071 by default). The system key: ``--key``, else ``RESPOT_SYSTEM_KEY``, else for a local host
``LocalcloudKeys.system`` of local.settings.json or the key file the host keeps beside its task hub
(``.respot/keys.json``). Settings (scope, ARM endpoint, credential): the environment's ``RESPOT_*``, filled from
local.settings.json, or from local.settings.sample.json as ``respot serve`` does on a first run.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from orchestrator.cli.management import Management, TargetError
from orchestrator.settings import Settings, SettingsError, get_settings

LOCAL_PORT = 7071
LOOPBACK = ("127.0.0.1", "localhost", "::1")


@dataclass(frozen=True)
class Target:
    url: str
    key: str
    where: str  # how it was found, for messages

    def client(self) -> Management:
        return Management(self.url, self.key)

    @property
    def local(self) -> bool:
        return urlsplit(self.url).hostname in LOOPBACK


def resolve(app: str | None, key: str | None, *, hub: Path | None = None, root: Path | None = None) -> Target:
    """Raises :class:`TargetError` naming what is missing."""
    root = root or Path.cwd()
    local = _local_settings(root)
    url, where = _url(app, root, local)
    _check_url(url, where)
    key = key or os.environ.get("RESPOT_SYSTEM_KEY") or ""
    loopback = urlsplit(url).hostname in LOOPBACK
    if not key and loopback:
        key = str((local.get("LocalcloudKeys") or {}).get("system") or "")  # a host whose keys are settings
    if not key and hub is not None:
        key = _hub_key(hub)
    if not key and loopback:
        key = _default_hub_key(root / ".respot")
        if not key and where == "the local host":
            raise TargetError(
                f"no local host key: {root / '.respot' / 'keys.json'} is not there. Is `respot serve` running from "
                f"{root}? Else pass --hub (the folder of its task hub) or --key"
            )
    if not key:
        raise TargetError(
            f"no system key for {url} ({where}): pass --key or set RESPOT_SYSTEM_KEY (Azure: az functionapp keys "
            "list -g <group> -n <app> --query systemKeys.durabletask_extension)"
        )
    return Target(url.rstrip("/"), key, where)


def _check_url(url: str, where: str) -> None:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise TargetError(f"{url!r} ({where}) is not an app URL: write e.g. https://<app>.azurewebsites.net")
    try:
        parts.port  # noqa: B018 - urlsplit checks the port only when asked
    except ValueError:
        raise TargetError(f"{url!r} ({where}): the port must be 0 to 65535") from None


def _hub_key(hub: Path) -> str:
    """The system key a local host keeps beside the task hub ``--hub`` names (its folder or its .sqlite file)."""
    folder = hub if hub.is_dir() else hub.parent  # its .sqlite file may be named before the host made it
    if not folder.is_dir() or (not hub.exists() and not hub.suffix):
        raise TargetError(f"--hub {hub}: no such file or folder")
    keyfile = folder / "keys.json"
    try:
        doc = json.loads(keyfile.read_text())
    except FileNotFoundError:
        raise TargetError(f"--hub {hub}: no keys.json there (respot serve writes it beside its task hub)") from None
    except (OSError, ValueError) as exc:
        raise TargetError(f"--hub {hub}: {keyfile} is not readable JSON ({exc})") from None
    key = doc.get("system") if isinstance(doc, dict) else None
    if not key:
        raise TargetError(f"--hub {hub}: {keyfile} has no system key")
    return str(key)


def _url(app: str | None, root: Path, local: dict[str, Any]) -> tuple[str, str]:
    if app:
        return app, "--app"
    if os.environ.get("RESPOT_APP_URL"):
        return os.environ["RESPOT_APP_URL"], "RESPOT_APP_URL"
    azd = _azd_env(root)
    if azd.get("RESPOT_APP_URL"):
        return azd["RESPOT_APP_URL"], "the azd environment"
    port = (local.get("Host") or {}).get("LocalHttpPort", LOCAL_PORT)
    return f"http://127.0.0.1:{port}", "the local host"


def _default_hub_key(hub_dir: Path) -> str:
    """The key beside the default task hub (``.respot``), "" when there is none: nothing was asked for by name."""
    try:
        return str(json.loads((hub_dir / "keys.json").read_text()).get("system") or "")
    except (OSError, ValueError, AttributeError):
        return ""


def _local_settings(root: Path) -> dict[str, Any]:
    path = root / "local.settings.json"
    try:
        doc = json.loads(path.read_text()) if path.exists() else {}
    except ValueError as exc:
        raise TargetError(f"{path}: not JSON: {exc}") from None
    return doc if isinstance(doc, dict) else {}


def _azd_env(root: Path) -> dict[str, str]:
    """The values of the azd environment in use (AZURE_ENV_NAME, else .azure/config.json's defaultEnvironment)."""
    name = os.environ.get("AZURE_ENV_NAME")
    if not name:
        try:
            name = json.loads((root / ".azure" / "config.json").read_text()).get("defaultEnvironment")
        except (OSError, ValueError, AttributeError):
            return {}
    values: dict[str, str] = {}
    try:
        lines = (root / ".azure" / str(name) / ".env").read_text().splitlines()
    except OSError:
        return {}
    for line in lines:
        key, sep, value = line.partition("=")
        if sep and key.strip() and not key.startswith("#"):
            values[key.strip()] = value.strip().strip('"')
    return values


def settings(root: Path | None = None, *, local: bool = True) -> Settings:
    """respot's settings as the app reads them; ``local`` (the target is the local host) lets the sample's
    localcloud defaults fill in, as ``respot serve`` does on a first run. Raises :class:`TargetError` naming each
    bad variable."""
    root = root or Path.cwd()
    names = ("local.settings.json", "local.settings.sample.json") if local else ("local.settings.json",)
    for name in names:
        values = _local_settings_values(root / name)
        if values is not None:
            for k, v in values.items():
                os.environ.setdefault(str(k), str(v))
            break
    get_settings.cache_clear()
    try:
        return get_settings()
    except SettingsError as exc:
        raise TargetError(f"{exc} (set them in the environment or local.settings.json)") from None


def _local_settings_values(path: Path) -> dict[str, Any] | None:
    if not path.exists():
        return None
    if path.name.endswith(".sample.json") and os.environ.get("RESPOT_SUBSCRIPTIONS"):
        return None  # the environment already configures respot: the sample's defaults would only mislead
    try:
        doc = json.loads(path.read_text())
    except ValueError as exc:
        raise TargetError(f"{path}: not JSON: {exc}") from None
    values = doc.get("Values") if isinstance(doc, dict) else None
    return values if isinstance(values, dict) else {}
