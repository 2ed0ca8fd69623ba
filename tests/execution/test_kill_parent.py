"""kill -9 of the study's process while ``n_jobs=2`` runs, at 20 random moments, resuming
each time with ``load_study`` + ``optimize(max_trials=N)``; on SQLite and on PostgreSQL.

After every kill: the file passes ``PRAGMA integrity_check``, no process of the study is
left (its workers die with it), nothing writes to the study any more, every trial that was
COMPLETE before is still COMPLETE with the same parameters and value, and the study never
holds more than N counted trials. After the final ``optimize``: exactly N COMPLETE, none
RUNNING, every FAILED trial carries the reason, no process of the study alive.
"""

import os
import contextlib
import random
import select
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
import uuid
from pathlib import Path

import optuna
import pytest
from optuna.trial import TrialState

from hpo.storage import INTERRUPTED_ATTR

N = 60
KILLS = 20
PG_URL = os.environ.get("HPO_TEST_POSTGRES_URL")

STUDY = textwrap.dedent("""
    import sys, time, hpo

    def run(url, name, total):
        space = {"x": hpo.Float(-5, 5), "y": hpo.Float(-5, 5), "opt": hpo.Categorical(["adam", "sgd"])}
        study = hpo.create_study(space=space, strategy="random", storage=url, study_name=name, seed=0,
                                 load_if_exists=True)
        print("started", flush=True)

        def objective(trial):
            time.sleep(0.03)
            return trial.params["x"] ** 2 + trial.params["y"] ** 2

        study.optimize(objective, max_trials=total, n_jobs=2,
                       callbacks=[lambda _study, trial: print("done", trial.number, flush=True)])
        print("finished", flush=True)

    if __name__ == "__main__":
        run(sys.argv[1], sys.argv[2], int(sys.argv[3]))
""")

# Starting a fresh interpreter costs seconds on a loaded machine, so the study's processes are
# forked from a launcher that imported hpo once (and never opened the storage): each one is a
# real process that opens the study and runs optimize(n_jobs=2), and is killed with SIGKILL.
LAUNCHER = textwrap.dedent("""
    import os, signal, sys
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    import study_script
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # killed children are reaped by the kernel
    for line in sys.stdin:
        url, name, total = line.split()
        pid = os.fork()
        if pid == 0:
            signal.signal(signal.SIGCHLD, signal.SIG_DFL)  # the study's own workers are waited for
            try:
                study_script.run(url, name, int(total))
            finally:
                sys.stdout.flush()
                os._exit(0)
        print("child", pid, flush=True)
""")


def _readline(stream, timeout):
    ready, _, _ = select.select([stream], [], [], timeout)
    return stream.readline() if ready else ""


def _marked_processes(mark: str, exclude: int | None = None) -> list[int]:
    """pids of live processes whose environment carries ``mark`` (the study's process and its workers)."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/environ", "rb") as f:
                env = f.read()
            with open(f"/proc/{entry}/stat") as f:
                state = f.read().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if f"HPO_KILL_TEST={mark}".encode() in env and state not in ("Z", "X") and int(entry) != exclude:
            found.append(int(entry))
    return found


def _wait_for_no_process(mark: str, within: float = 5.0, exclude: int | None = None) -> list[int]:
    deadline = time.monotonic() + within
    while (alive := _marked_processes(mark, exclude)) and time.monotonic() < deadline:
        time.sleep(0.05)
    return alive


def _snapshot(storage, name):
    trials = storage.get_all_trials(storage.get_study_id_from_name(name), deepcopy=False)
    return {t.number: t for t in trials}


def _kill_and_resume(url, name, tmp_path, check_file):
    (tmp_path / "study_script.py").write_text(STUDY)
    (tmp_path / "launcher.py").write_text(LAUNCHER)
    rng = random.Random(12)
    mark = uuid.uuid4().hex
    env = {**os.environ, "HPO_KILL_TEST": mark}
    launcher = subprocess.Popen([sys.executable, str(tmp_path / "launcher.py")], stdin=subprocess.PIPE,
                                stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=env)
    completed: dict[int, tuple] = {}
    storage = None
    try:
        for kill in range(KILLS):
            launcher.stdin.write(f"{url} {name} {N}\n")
            launcher.stdin.flush()
            pid, started = None, False
            while pid is None or not started:  # the launcher's "child <pid>" and the study's "started"
                line = _readline(launcher.stdout, 300)
                assert line, f"kill {kill}: the study did not open within 300 s"
                if line.startswith("child "):
                    pid = int(line.split()[1])
                started = started or line.strip() == "started"
            if kill % 2:  # a moment after the start: opening, reaping, starting workers, first claims
                time.sleep(rng.uniform(0.0, 1.0))
            else:  # a moment inside the run: after 1-4 more trials, within the next trial's 30 ms
                wait_for, seen = rng.randint(1, 4), 0
                while seen < wait_for:
                    line = _readline(launcher.stdout, 120)
                    assert line, f"kill {kill}: no trial finished within 120 s"
                    seen += line.startswith("done")
                    if line.strip() == "finished":
                        break
                time.sleep(rng.uniform(0.0, 0.04))
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
            t0 = time.monotonic()
            alive = _wait_for_no_process(mark, exclude=launcher.pid)
            gone = time.monotonic() - t0
            assert alive == [], f"kill {kill}: processes of the study outlived it: {alive}"
            if check_file is not None:
                with sqlite3.connect(check_file) as db:
                    assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok", f"kill {kill}"
            storage = storage or optuna.storages.RDBStorage(url)
            before = _snapshot(storage, name)
            time.sleep(0.3)
            after = _snapshot(storage, name)
            assert {n: (t.state, t.values) for n, t in before.items()} == \
                {n: (t.state, t.values) for n, t in after.items()}, f"kill {kill}: something still writes to the study"
            for number, (params, value) in completed.items():  # nothing completed is lost or changed
                t = after[number]
                assert t.state == TrialState.COMPLETE and t.params == params and t.value == value, \
                    f"kill {kill}: trial {number}"
            completed.update({n: (t.params, t.value) for n, t in after.items() if t.state == TrialState.COMPLETE})
            running = sum(t.state == TrialState.RUNNING for t in after.values())
            print(f"kill {kill}: no process of the study left after {gone:.2f} s; {len(completed)} complete, "
                  f"{running} trial(s) left RUNNING by the kill")
            # drain what the killed processes wrote, so the next run's lines come next
            while _readline(launcher.stdout, 0.05):
                pass
            counted = [t for t in after.values() if t.state != TrialState.WAITING and INTERRUPTED_ATTR not in t.system_attrs]
            assert len(counted) <= N, f"kill {kill}: the budget was overshot ({len(counted)} > {N})"
    finally:
        launcher.stdin.close()
        launcher.wait(timeout=60)

    done = subprocess.run([sys.executable, str(tmp_path / "study_script.py"), url, name, str(N)],
                          capture_output=True, text=True, env=env, timeout=600)
    assert done.returncode == 0 and "finished" in done.stdout, done.stderr[-2000:]
    assert _wait_for_no_process(mark) == []
    final = _snapshot(storage, name)
    by_state = {s: [t for t in final.values() if t.state == s] for s in TrialState}
    assert len(by_state[TrialState.COMPLETE]) == N
    assert not by_state[TrialState.RUNNING] and not by_state[TrialState.WAITING]
    for number, (params, value) in completed.items():
        assert final[number].state == TrialState.COMPLETE and final[number].params == params
        assert final[number].value == value
    for t in by_state[TrialState.FAIL]:  # each one a trial some kill interrupted, with the reason
        assert INTERRUPTED_ATTR in t.system_attrs and "is gone" in t.user_attrs["error"], t.user_attrs
    params = [tuple(sorted(t.params.items())) for t in by_state[TrialState.COMPLETE]]
    assert len(set(params)) == N  # no trial was run twice
    if check_file is not None:
        with sqlite3.connect(check_file) as db:
            assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    print(f"{len(by_state[TrialState.COMPLETE])} complete, {len(by_state[TrialState.FAIL])} failed by the kills")
    return by_state


@pytest.mark.slow
def test_kill_9_of_the_parent_at_20_moments_sqlite(tmp_path):
    path = tmp_path / "kill.db"
    _kill_and_resume(f"sqlite:///{path}", "kill", tmp_path, check_file=Path(path))


@pytest.mark.slow
@pytest.mark.postgres
@pytest.mark.skipif(not PG_URL, reason="set HPO_TEST_POSTGRES_URL to run PostgreSQL tests")
def test_kill_9_of_the_parent_at_20_moments_postgresql(tmp_path):
    _kill_and_resume(PG_URL, f"kill-{uuid.uuid4().hex[:8]}", tmp_path, check_file=None)
