"""Which process holds a trial, and whether that process still exists.

Every trial hpo creates records its owner: host name, boot id, pid and the process's start
time. A RUNNING trial whose owner lived on this host and is gone (no such pid, a different
process under a reused pid, a zombie, or a previous boot) can be failed at once instead of
waiting for optuna's heartbeat grace period. Owners on other hosts are left to the heartbeat.

A pool worker's owner also names its supervisor (the study's process that started it): while
the supervisor lives, it is the one that records why the worker died (a signal, an exit code),
so nobody else reaps that worker's trials with a vaguer reason first.
"""

from __future__ import annotations

import os
import socket
from functools import lru_cache

__all__ = ["current_owner", "owner_alive", "describe_owner", "set_supervisor", "supervisor_watching"]


@lru_cache(maxsize=1)
def _host() -> str:
    return socket.gethostname()


@lru_cache(maxsize=1)
def _boot_id() -> str | None:
    try:
        with open("/proc/sys/kernel/random/boot_id") as f:
            return f.read().strip()
    except OSError:
        return None


def _stat(pid: int) -> tuple[str, int] | None:
    """(state, start time in clock ticks since boot) of ``pid`` from /proc, or None if it has none."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            text = f.read().decode(errors="replace")
    except OSError:
        return None
    fields = text[text.rfind(")") + 2:].split()  # the command name may hold spaces and ')'
    return fields[0], int(fields[19])


_cache: dict[int, dict] = {}
_supervisor: dict[int, dict] = {}  # pid -> its supervisor's owner; keyed by pid so a forked child does not inherit it


def current_owner() -> dict:
    """This process as a trial owner (JSON-serialisable)."""
    pid = os.getpid()
    owner = _cache.get(pid)
    if owner is None:
        stat = _stat(pid)
        owner = {"host": _host(), "boot": _boot_id(), "pid": pid, "start": stat[1] if stat else None}
        _cache.clear()
        _cache[pid] = owner
    owner = dict(owner)
    if pid in _supervisor:
        owner["supervisor"] = dict(_supervisor[pid])
    return owner


def set_supervisor(owner: dict) -> None:
    """Name the process that supervises this one (a pool's study process, as its ``current_owner()``);
    the owner of every trial this process creates from now on carries it."""
    _supervisor.clear()
    _supervisor[os.getpid()] = {k: owner.get(k) for k in ("host", "boot", "pid", "start")}


def supervisor_watching(owner: dict | None, known: bool) -> bool:
    """Whether a dead owner's trials are its supervisor's to fail: the supervisor lives, and
    this is not the supervisor's own sweep for the dead (``known=False`` in the supervisor)."""
    sup = owner.get("supervisor") if isinstance(owner, dict) else None
    if not isinstance(sup, dict) or owner_alive(sup) is not True:
        return False
    return known or sup.get("pid") != os.getpid()


def owner_alive(owner: dict | None) -> bool | None:
    """True/False for an owner on this host; None when it cannot be known (another host, no record)."""
    if not isinstance(owner, dict) or owner.get("host") != _host() or not isinstance(owner.get("pid"), int):
        return None
    boot = _boot_id()
    if boot is not None and owner.get("boot") is not None and owner["boot"] != boot:
        return False  # the machine rebooted since: every process of that boot is gone
    pid = owner["pid"]
    if os.path.isdir("/proc/self"):
        stat = _stat(pid)
        if stat is None or stat[0] in ("Z", "X"):
            return False
        return owner.get("start") is None or stat[1] == owner["start"]
    try:  # no /proc (macOS): existence only, pid reuse cannot be ruled out
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def describe_owner(owner: dict | None) -> str:
    if not isinstance(owner, dict):
        return "an unknown process"
    return f"process {owner.get('pid')} on {owner.get('host')}"
