"""``--state FILE``: keep the emulator's world across restarts.

What is saved is the settled world: resource groups, subnets, VMs, scale sets, capacity, prices, quotas,
restrictions, eviction rates, Key Vault vaults and secrets, and the Activity Log. Work in flight (an LRO, a
Preempt notice, a queued alert) is not: on load a VM that was starting is running, one that was stopping or
deallocating has finished doing so, a VM under a Preempt notice keeps running with the notice withdrawn, and Try &
restore has nothing pending. The autoscale engine starts again for every enabled setting. A file from an older
emulator loads with the fields it lacks at their defaults. Tests that need in-flight work use one process.

The file is a pickle behind a one-line marker (:data:`MAGIC`): loading unpickles it, so load only files this
emulator wrote. The marker lets a wrong file (empty, JSON, text) be refused before anything is unpickled; a file
from before the marker (a bare pickle) still loads.
"""

from __future__ import annotations

import dataclasses
import os
import pickle
from pathlib import Path
from typing import Any

from localcloud.arm import autoscaleengine
from localcloud.arm.backend import World
from localcloud.arm.models import Power, Provisioning
from localcloud.arm.server import ArmEmulator

MAGIC = b"localcloud-arm-state 1\n"
_PICKLE = b"\x80"  # the PROTO opcode every pickle since protocol 2 starts with: a file saved before MAGIC


class StateError(ValueError):
    """A --state file that cannot be used; the message names it."""


_SETTLE = {
    Power.STARTING: Power.RUNNING,
    Power.STOPPING: Power.STOPPED,
    Power.DEALLOCATING: Power.DEALLOCATED,
}


def save(arm: ArmEmulator, path: Path) -> None:
    with arm.backend.lock:
        world = arm.backend.world
        for vm in world.vms.values():
            vm.power = _SETTLE.get(vm.power, vm.power)
            if vm.power == Power.DEALLOCATED:
                vm.slot = None
            if vm.provisioning in (Provisioning.CREATING, Provisioning.UPDATING):
                vm.provisioning = Provisioning.SUCCEEDED
            vm.busy_op, vm.eviction_due = None, None
        world.scheduled_events.clear()
        world.operations.clear()
        for ss in world.scale_sets.values():
            ss.restores.clear()
        data = MAGIC + pickle.dumps(world)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_bytes(data)
    tmp.replace(path)


def check(path: Path) -> None:
    """Refuse at start what save() would only fail on at exit (losing the state): a directory, a parent that is a
    file, a folder that cannot be written."""
    if path.is_dir():
        raise StateError(f"{path} is a directory, not a state file")
    parent = path.parent
    while not parent.exists():
        parent = parent.parent
    if not parent.is_dir():
        raise StateError(f"{path}: {parent} is a file, not a directory")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise StateError(f"{path}: cannot write in {parent}")


def load_if_present(arm: ArmEmulator, path: Path) -> bool:
    if not path.exists():
        return False
    world = _read(path)
    _upgrade(world)
    for group in (world.vms, world.scale_sets, world.disks, world.nics, world.autoscale):
        for item in group.values():
            _upgrade(item)
    with arm.backend.lock:
        arm.backend.world = world
        for setting in world.autoscale.values():
            if setting.enabled:
                autoscaleengine.start(arm.backend, setting)
    return True


def _read(path: Path) -> World:
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise StateError(f"cannot read {path}: {exc.strerror or exc}") from None
    data = data.removeprefix(MAGIC) if data.startswith(MAGIC) else data
    if not data.startswith(_PICKLE):
        raise StateError(f"{path} is not a localcloud ARM state file (it does not start with the marker save writes)")
    try:
        world = pickle.loads(data)  # noqa: S301 - our own file, written by save() above (the --help says so)
    except Exception as exc:  # noqa: BLE001 - a damaged pickle raises anything (EOFError, AttributeError, ...)
        raise StateError(f"{path} is not a readable localcloud ARM state file: {exc!r}") from None
    if not isinstance(world, World):
        raise StateError(f"{path} is not a localcloud ARM state file")
    return world


def _upgrade(obj: Any) -> None:
    """Give a dataclass unpickled from an older file the fields it lacks, at their defaults."""
    for f in dataclasses.fields(obj):
        if f.name in vars(obj):
            continue
        if f.default is not dataclasses.MISSING:
            setattr(obj, f.name, f.default)
        elif f.default_factory is not dataclasses.MISSING:
            setattr(obj, f.name, f.default_factory())
