"""Run trials in this process, or in worker processes that share the study's storage.

Workers are processes, not threads: objectives are usually CPU-bound Python. Each worker
reopens the study from its storage and runs whole claim -> objective -> tell loops, so the
running trials of one worker are pending trials for the strategies of the others. What
keeps a study whole when processes die:

- the trial budget is counted in the storage under a storage-wide lock (see
  :meth:`hpo.Study.claim`): ``n_trials`` is exact, and no worker, orphan or resumed study can
  overshoot ``max_trials``;
- workers die with the study's process: ``PR_SET_PDEATHSIG`` (Linux) kills them the moment
  it dies, and each checks its parent between trials (other systems);
- no database connection crosses a fork: the parent closes its pooled connections before
  starting a worker, and a worker opens its own (``mp_context="forkserver"``/``"spawn"``
  avoid forking the caller altogether, for picklable objectives);
- a worker that dies for any reason (kill -9, segfault, out of memory, ``os._exit``, any
  exit code including 0) has its RUNNING trial FAILED at once with the reason the pool saw
  (each worker's trials name the pool's process as supervisor, so no other process reaps
  them first with a vaguer one), and a new worker takes its place while the budget lasts.

Example:
    >>> import hpo
    >>> from hpo.execution import ProcessExecutor
    >>> study = hpo.create_study(space={"x": hpo.Float(-1, 1)}, seed=0)
    >>> study.optimize(lambda t: t.params["x"] ** 2, n_trials=4, executor=ProcessExecutor(2))
    >>> len(study.trials)
    4
"""

from __future__ import annotations

import contextlib
import ctypes
import logging
import multiprocessing as mp
import multiprocessing.connection
import os
import signal
import sys
import time
import traceback
from dataclasses import dataclass
from typing import Any

from optuna.storages import RDBStorage

from hpo._owner import current_owner, set_supervisor
from hpo.execution.base import Job, JobSpec
from hpo.storage import redact
from hpo.trial import signal_name

__all__ = ["LocalExecutor", "ProcessExecutor", "WorkerError"]

_log = logging.getLogger("hpo")
_PR_SET_PDEATHSIG = 1
_STARTUP_FAILURES = 3  # workers in a row that die before claiming a trial: stop, something is broken
_STARTUP_KILLS = 10  # the same when they are killed (SIGKILL) each time
_SHUTDOWN_GRACE = 10.0  # seconds workers get to finish their trial after Ctrl-C or an error


class WorkerError(RuntimeError):
    """A worker process failed outside the objective (the strategy, the storage, a callback)."""


class LocalExecutor:
    """Trials one after another in this process (what ``optimize(n_jobs=1)`` uses).

    Example:
        >>> import hpo
        >>> study = hpo.create_study(space={"x": hpo.Float(-1, 1)}, seed=0)
        >>> study.optimize(lambda t: t.params["x"] ** 2, n_trials=3, executor=LocalExecutor())
        >>> len(study.trials)
        3
    """

    def run(self, job: Job) -> None:
        while (trial := job.claim()) is not None:
            job.run_trial(trial)
            job.progress()

    def __repr__(self) -> str:
        return "LocalExecutor()"


class ProcessExecutor:
    """``n_jobs`` worker processes on the study's storage (what ``optimize(n_jobs=...)`` uses).

    Args:
        n_jobs: worker processes (at least 1).
        mp_context: ``"fork"`` (default on Linux; closures and lambdas work), ``"forkserver"``
            or ``"spawn"`` (the objective and callbacks must pickle; workers start slower).
    """

    def __init__(self, n_jobs: int = 2, mp_context: str | None = None):
        if isinstance(n_jobs, bool) or not isinstance(n_jobs, int) or n_jobs < 1:
            raise ValueError(f"n_jobs must be a positive integer, got {n_jobs!r}")
        methods = mp.get_all_start_methods()
        if mp_context is not None and mp_context not in methods:
            raise ValueError(f"mp_context must be one of {methods} or None, got {mp_context!r}")
        self.n_jobs = n_jobs
        self.mp_context = mp_context or ("fork" if sys.platform.startswith("linux") else "spawn")

    def __repr__(self) -> str:
        return f"ProcessExecutor(n_jobs={self.n_jobs}, mp_context={self.mp_context!r})"

    def run(self, job: Job) -> None:
        spec = job.spec()
        ctx = mp.get_context(self.mp_context)
        pool = _Pool(job, spec, ctx)
        try:
            for _ in range(self.n_jobs):
                pool.start()
            pool.watch()
        except BaseException:
            pool.stop(reason="the study's optimize() was interrupted")
            raise
        finally:
            pool.kill_all()
        if pool.error is not None:
            raise WorkerError(pool.error)


@dataclass
class _Worker:
    process: Any
    done: Any  # 1 once the worker found the budget spent and left normally
    claims: Any  # trials it claimed
    conn: Any  # receives the worker's own error report, if it had one


class _Pool:
    def __init__(self, job: Job, spec: JobSpec, ctx):
        self.job, self.spec, self.ctx = job, spec, ctx
        self.stop_event = ctx.Event()
        self.workers: dict[int, _Worker] = {}
        self.spent = False
        self.error: str | None = None
        self._startup_failures = 0
        self._startup_kills = 0

    def start(self) -> None:
        storage = self.job.study.storage
        if isinstance(storage, RDBStorage):
            storage.engine.dispose()  # no pooled connection of ours may be inherited
        receiver, sender = self.ctx.Pipe(duplex=False)
        done, claims = self.ctx.Value("b", 0, lock=False), self.ctx.Value("i", 0, lock=False)
        process = self.ctx.Process(target=_worker_main, name="hpo-worker",
                                   args=(self.spec, current_owner(), self.stop_event, done, claims, sender))
        try:
            process.start()
        except Exception as e:
            method = self.ctx.get_start_method()
            if method == "fork":
                raise
            raise TypeError(
                f"mp_context={method!r} pickles the objective and callbacks for each worker, and that failed "
                f"({type(e).__name__}: {' '.join(str(e).split())}); use a module-level function, or mp_context='fork'"
            ) from None
        sender.close()
        self.workers[process.pid] = _Worker(process, done, claims, receiver)

    def watch(self) -> None:
        while self.workers:
            mp.connection.wait([w.process.sentinel for w in self.workers.values()], timeout=0.5)
            self.job.progress()
            for pid, w in list(self.workers.items()):
                if w.process.exitcode is None:
                    continue
                w.process.join()
                del self.workers[pid]
                self._ended(pid, w)

    def _ended(self, pid: int, w: _Worker) -> None:
        report = None
        with contextlib.suppress(EOFError, OSError):
            if w.conn.poll():
                report = w.conn.recv()
        w.conn.close()
        code = w.process.exitcode
        if code == 0 and w.done.value:
            self.spent = True
            return
        death = _death(pid, code, report)
        if report is not None:
            reason = death
        elif code is not None and code < 0:
            reason = f"{death} while running this trial"
        else:
            reason = f"{death} while running this trial (os._exit, or an exit in native code?)"
        failed = self.job.study.fail_dead_trials({pid: reason})
        if report is not None:
            if self.error is None:
                self.error = f"worker process {pid}: {report}"
            self.stop_event.set()
            return
        # died before claiming a trial: 3 in a row mean a broken worker; being killed from outside
        # (SIGKILL: kill -9, the out-of-memory killer) is allowed 10 in a row
        unclaimed = w.claims.value == 0
        self._startup_failures = self._startup_failures + 1 if unclaimed and code != -signal.SIGKILL else 0
        self._startup_kills = self._startup_kills + 1 if unclaimed else 0
        if self._startup_failures >= _STARTUP_FAILURES or self._startup_kills >= _STARTUP_KILLS:
            self.error = (f"{max(self._startup_failures, self._startup_kills)} worker processes in a row died "
                          f"before running a trial; last: {death}")
            self.stop_event.set()
        replace = not (self.spent or self.stop_event.is_set() or self.job.budget.expired())
        then = "; a new worker takes its place" if replace else ""
        if failed:
            _log.warning("%s (trial %s failed)%s", reason, ", ".join(str(t.number) for t in failed), then)
        else:
            ended = f"signal {signal_name(-code)}" if code is not None and code < 0 else f"exit code {code}"
            _log.warning("worker process %d ended with %s between trials%s", pid, ended, then)
        if replace:
            self.start()  # so the study keeps its parallelism

    def stop(self, reason: str) -> None:
        """Ask the workers to stop after their current trial; give them a grace period."""
        self.stop_event.set()
        deadline = time.monotonic() + _SHUTDOWN_GRACE
        for w in self.workers.values():
            w.process.join(max(0.0, deadline - time.monotonic()))
        known = {}
        for pid, w in self.workers.items():
            if w.process.is_alive():
                w.process.terminate()
                w.process.join(2)
            known[pid] = f"worker process {pid} was stopped: {reason}"
        with contextlib.suppress(Exception):
            self.job.study.fail_dead_trials(known)

    def kill_all(self) -> None:
        for w in self.workers.values():
            if w.process.is_alive():
                w.process.kill()
            w.process.join(5)


def _death(pid: int, code: int | None, report: str | None) -> str:
    """How a worker ended, in words: 'worker process 12 was killed by SIGSEGV (a crash in native code)'."""
    if report is not None:
        return f"worker process {pid} failed: {report}"
    if code is not None and code < 0:
        name = signal_name(-code)
        hint = {"SIGKILL": " (kill -9, or the out-of-memory killer)", "SIGSEGV": " (a crash in native code)",
                "SIGBUS": " (a crash in native code)", "SIGABRT": " (aborted, e.g. a failed assertion in native code)",
                "SIGTERM": " (terminated)"}.get(name, "")
        return f"worker process {pid} was killed by {name}{hint}"
    return f"worker process {pid} exited with code {code}"


def _die_with_parent(study_process: int) -> int:
    """The kernel kills this process when its parent dies (Linux); if the study's process is
    already gone, leave now. Returns the parent pid to check between trials.

    With fork and spawn the parent is the study's process; with forkserver it is the fork
    server, which exits when the study's process dies (and this process with it)."""
    if sys.platform.startswith("linux"):
        with contextlib.suppress(Exception):
            ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    parent = os.getppid()
    if parent != study_process:
        try:
            os.kill(study_process, 0)
        except ProcessLookupError:
            os._exit(0)
        if parent == 1:
            os._exit(0)
    return parent


def _worker_main(spec: JobSpec, supervisor: dict, stop, done, claims, conn) -> None:
    parent = _die_with_parent(supervisor["pid"])
    set_supervisor(supervisor)
    storage = spec.study.storage
    if isinstance(storage, RDBStorage):
        storage.engine.dispose(close=False)  # an inherited engine: never touch the parent's connections
    try:
        job = spec.open()
        while not stop.is_set() and os.getppid() == parent:
            trial = job.claim()
            if trial is None:
                done.value = 1
                return
            claims.value += 1
            job.run_trial(trial)
    except KeyboardInterrupt:  # Ctrl-C reaches the whole process group: the trial is recorded, leave quietly
        sys.exit(130)
    except SystemExit:
        raise
    except BaseException as e:
        with contextlib.suppress(Exception):
            conn.send(redact(" ".join(f"{type(e).__name__}: {e}".split()))[:1000])
        _log.debug("worker failed:\n%s", redact(traceback.format_exc()))
        sys.exit(1)
    finally:
        with contextlib.suppress(Exception):
            conn.close()
