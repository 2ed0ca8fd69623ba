"""Run trials in this process, or in worker processes that share the study's storage.

Workers are processes, not threads: objectives are usually CPU-bound Python. Each worker
reopens the study from its storage, so running trials of one worker are visible to the
strategies of the others as pending. A shared counter hands out trial tickets, so
``n_trials`` is exact however long each trial takes. A worker that dies (kill -9, OOM)
does not stop the others; its running trial is marked FAILED.
"""

from __future__ import annotations

import logging
import multiprocessing as mp
import os
import sys
import time
from typing import TYPE_CHECKING, Callable, Iterable

from optuna.trial import TrialState

if TYPE_CHECKING:
    from hpo.study import Study

__all__ = ["run_local", "run_processes"]

_log = logging.getLogger("hpo")
_WORKER_ATTR = "hpo:worker_pid"


def _callbacks(study: "Study", callbacks, progress) -> list | None:
    out = []
    for cb in callbacks or ():
        out.append(lambda _s, t, cb=cb: cb(study, t))
    if progress is not None:
        out.append(lambda _s, t: progress())
    return out or None  # optuna re-reads each finished trial when given any callback list


def run_local(study: "Study", objective: Callable, n_trials: int | None, timeout: float | None,
              callbacks: Iterable | None, show_progress_bar: bool) -> None:
    wrapped = study._objective_wrapper(objective)
    with _Progress(study, n_trials, show_progress_bar) as progress:
        study.optuna_study.optimize(
            wrapped, n_trials=n_trials, timeout=timeout, catch=(Exception,),
            callbacks=_callbacks(study, callbacks, progress.advance if progress.enabled else None),
        )


def _worker(spec: dict, objective: Callable, n_trials: int | None, deadline: float | None,
            counter, callbacks) -> None:
    from hpo.study import _reopen

    local = _reopen(spec)
    wrapped = local._objective_wrapper(objective)
    pid = os.getpid()

    def tagged(optuna_trial):
        optuna_trial.storage.set_trial_system_attr(optuna_trial._trial_id, _WORKER_ATTR, pid)
        return wrapped(optuna_trial)

    cbs = _callbacks(local, callbacks, None)
    while True:
        if deadline is not None and time.time() >= deadline:
            return
        with counter.get_lock():
            if n_trials is not None and counter.value >= n_trials:
                return
            counter.value += 1
        local.optuna_study.optimize(tagged, n_trials=1, catch=(Exception,), callbacks=cbs)


def run_processes(study: "Study", objective: Callable, n_trials: int | None, timeout: float | None,
                  n_jobs: int, callbacks: Iterable | None, show_progress_bar: bool,
                  mp_context: str | None) -> None:
    if mp_context is None:
        mp_context = "fork" if sys.platform.startswith("linux") else "spawn"
    ctx = mp.get_context(mp_context)
    counter = ctx.Value("i", 0)
    deadline = time.time() + timeout if timeout is not None else None
    before = {t.number for t in study.trials}
    spec = study._worker_spec()
    procs = [ctx.Process(target=_worker, args=(spec, objective, n_trials, deadline, counter, callbacks),
                         daemon=False) for _ in range(n_jobs)]
    with _Progress(study, n_trials, show_progress_bar) as progress:
        for p in procs:
            p.start()
        try:
            while any(p.is_alive() for p in procs):
                for p in procs:
                    p.join(timeout=0.25)
                if progress.enabled:
                    progress.update(sum(1 for t in study.trials if t.number not in before and t.state.is_finished()))
        except KeyboardInterrupt:
            for p in procs:
                p.join(timeout=10)
            raise
        finally:
            _fail_dead_workers(study, procs)


def _fail_dead_workers(study: "Study", procs) -> None:
    dead = {p.pid: p.exitcode for p in procs if p.exitcode not in (0, None)}
    if not dead:
        return
    storage = study.optuna_study._storage
    for t in study.get_trials([TrialState.RUNNING]):
        pid = t.system_attrs.get(_WORKER_ATTR)
        if pid in dead:
            reason = f"worker process {pid} died (exit code {dead[pid]})"
            storage.set_trial_user_attr(t._trial_id, "error", reason)
            storage.set_trial_state_values(t._trial_id, TrialState.FAIL)
            _log.warning("trial %d failed: %s", t.number, reason)
    for pid, code in dead.items():
        _log.warning("worker process %s exited with code %s; the other workers went on", pid, code)


class _Progress:
    """A rich progress bar over finished trials (no-op when disabled)."""

    def __init__(self, study: "Study", n_trials: int | None, enabled: bool):
        self.enabled = enabled
        self._study, self._total, self._done = study, n_trials, 0

    def __enter__(self) -> "_Progress":
        if self.enabled:
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

            self._bar = Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                                 TimeElapsedColumn(), TimeRemainingColumn(), TextColumn("{task.fields[best]}"))
            self._bar.start()
            self._task = self._bar.add_task(self._study.study_name, total=self._total, best="")
        return self

    def _best(self) -> str:
        try:
            return f"best {self._study.optuna_study.best_value:.6g}"
        except ValueError:
            return ""

    def advance(self) -> None:
        self.update(self._done + 1)

    def update(self, done: int) -> None:
        if self.enabled and done != self._done:
            self._done = done
            self._bar.update(self._task, completed=done, best=self._best())

    def __exit__(self, *exc) -> None:
        if self.enabled:
            self._bar.stop()
