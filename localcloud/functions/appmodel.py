"""Load ``function_app.py`` the way the Functions Python worker indexes it (v2 programming model).

Import the module, find its ``FunctionApp`` (a ``DFApp`` is one), call ``get_functions()`` once, and read each
function's trigger and bindings from ``get_raw_bindings()`` (the function.json the worker would report). Anything
this host cannot run fails here, naming the function, instead of half-working later.
"""

from __future__ import annotations

import importlib.util
import inspect
import json
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import azure.functions as func

TRIGGERS = {"httpTrigger", "timerTrigger", "orchestrationTrigger", "activityTrigger", "entityTrigger"}
BINDINGS = {"http", "durableClient"}


# get_functions() may run once per app object (a second call raises): keep what it returned.
_INDEXED: dict[int, list[Any]] = {}


class AppLoadError(Exception):
    """The app cannot run on this host; the message names the function and what is unsupported."""


@dataclass(frozen=True)
class FunctionSpec:
    name: str
    trigger_type: str
    trigger: dict[str, Any]  # the trigger's function.json entry
    bindings: list[dict[str, Any]]
    fn: Callable[..., Any]  # what the worker would invoke
    params: list[str] = field(default_factory=list)

    @property
    def client_param(self) -> str | None:
        return next((b["name"] for b in self.bindings if b["type"] == "durableClient"), None)


@dataclass(frozen=True)
class LoadedApp:
    path: Path
    functions: dict[str, FunctionSpec]
    orchestrators: dict[str, FunctionSpec]
    activities: dict[str, FunctionSpec]
    # By entity name, lowercased: the extension's EntityId lowercases names, and function names are case-insensitive.
    entities: dict[str, FunctionSpec] = field(default_factory=dict)

    def of_type(self, trigger_type: str) -> list[FunctionSpec]:
        return [f for f in self.functions.values() if f.trigger_type == trigger_type]


def load(path: Path) -> LoadedApp:
    """Import ``path`` and index its functions. Raises :class:`AppLoadError`."""
    app = _find_app(_import(path), path)
    try:
        indexed = indexed_functions(app)
    except Exception as exc:  # the app's own decorators refused something
        raise AppLoadError(f"{path}: indexing the functions failed: {exc}") from exc
    specs = {spec.name: spec for spec in (_spec(f) for f in indexed)}

    def named(trigger: str, key: str) -> dict[str, FunctionSpec]:
        return {(s.trigger.get(key) or s.name): s for s in specs.values() if s.trigger_type == trigger}

    entities = {name.lower(): spec for name, spec in named("entityTrigger", "entityName").items()}
    return LoadedApp(
        path,
        specs,
        named("orchestrationTrigger", "orchestration"),
        named("activityTrigger", "activity"),
        entities,
    )


def indexed_functions(app: Any) -> list[Any]:
    """``app.get_functions()``, once per app object: a second call raises in azure-functions."""
    if id(app) not in _INDEXED:
        _INDEXED[id(app)] = list(app.get_functions())
    return _INDEXED[id(app)]


def _import(path: Path) -> Any:
    if not path.exists():
        raise AppLoadError(f"{path}: no such file")
    folder = str(path.resolve().parent)
    if folder not in sys.path:
        sys.path.insert(0, folder)
    name = path.stem
    loaded = sys.modules.get(name)
    if loaded is not None and getattr(loaded, "__file__", None) == str(path.resolve()):
        return loaded
    if loaded is not None:  # another app of the same module name is loaded in this process (tests)
        name = f"{name}_{abs(hash(str(path.resolve())))}"
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise AppLoadError(f"{path}: cannot be imported")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except Exception as exc:
        del sys.modules[name]
        raise AppLoadError(f"{path}: importing it failed: {type(exc).__name__}: {exc}") from exc
    return module


def _find_app(module: Any, path: Path) -> Any:
    apps = [v for v in vars(module).values() if isinstance(v, func.FunctionRegister)]
    if len(apps) != 1:
        raise AppLoadError(f"{path}: expected exactly one FunctionApp (or DFApp) at module level, found {len(apps)}")
    return apps[0]


def _spec(function: Any) -> FunctionSpec:
    name = function.get_function_name()
    raw = [json.loads(b) if isinstance(b, str) else b for b in function.get_raw_bindings()]
    triggers = [b for b in raw if b.get("type", "").endswith("Trigger")]
    if len(triggers) != 1:
        raise AppLoadError(f"function '{name}': expected one trigger, found {len(triggers)}")
    trigger = triggers[0]
    if trigger["type"] not in TRIGGERS:
        raise AppLoadError(
            f"function '{name}': trigger '{trigger['type']}' is not supported by the local host ({', '.join(sorted(TRIGGERS))})"
        )
    others = [b for b in raw if b is not trigger]
    for binding in others:
        if binding.get("type") not in BINDINGS:
            raise AppLoadError(
                f"function '{name}': binding '{binding.get('type')}' ({binding.get('name')}) is not supported by the local host"
            )
    fn = function.get_user_function()
    params = list(inspect.signature(fn).parameters)
    if trigger["type"] == "entityTrigger" and trigger.get("name") not in params:
        # The host binds the trigger to the generated handle's parameter by name, and Entity.create's handle takes
        # `context` whatever context_name says (microsoft/durabletask-python#171 shows the same for orchestrators).
        raise AppLoadError(
            f"function '{name}': entity_trigger(context_name='{trigger.get('name')}') cannot be bound: the SDK's "
            f"entity handle takes ({', '.join(params)}); use context_name='context'"
        )
    return FunctionSpec(name, trigger["type"], trigger, others, fn, params)
