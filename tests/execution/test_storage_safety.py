"""Storage safety across processes: many processes creating one new SQLite file at once, one
trial budget shared by independent processes, RUNNING trials of dead processes failed on
load (pid reuse included), and secrets masked in messages, logs, user attributes and tables."""

import logging
import os
import sqlite3
import subprocess
import sys
import textwrap
import time
import uuid

import optuna
import pytest
from optuna.trial import TrialState

import hpo
from hpo.study import OWNER_ATTR

PG_URL = os.environ.get("HPO_TEST_POSTGRES_URL")
SPACE = {"x": hpo.Float(-5, 5)}

TOGETHER = textwrap.dedent("""
    import sys, time, hpo
    url, name, start, total = sys.argv[1], sys.argv[2], float(sys.argv[3]), int(sys.argv[4])
    while time.time() < start:
        time.sleep(0.001)
    study = hpo.create_study(space={"x": hpo.Float(-5, 5)}, storage=url, study_name=name, load_if_exists=True)
    study.optimize(lambda t: (time.sleep(0.02), t.params["x"] ** 2)[1], max_trials=total)
    print("seed", study.seed, flush=True)
""")


def _together(tmp_path, url, name, processes=4, total=12):
    script = tmp_path / "together.py"
    script.write_text(TOGETHER)
    start = time.time() + 4.0  # after every interpreter has imported hpo
    procs = [subprocess.Popen([sys.executable, str(script), url, name, str(start), str(total)],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(processes)]
    outs = [p.communicate(timeout=300) for p in procs]
    for p, (out, err) in zip(procs, outs):
        assert p.returncode == 0, err[-3000:]
    seeds = {line.split()[1] for out, _ in outs for line in out.splitlines() if line.startswith("seed")}
    trials = optuna.load_study(study_name=name, storage=url).trials
    return seeds, trials


def test_processes_creating_one_new_sqlite_file_at_once_share_it_and_its_budget(tmp_path):
    path = tmp_path / "new.db"
    seeds, trials = _together(tmp_path, f"sqlite:///{path}", "s")
    assert len(seeds) == 1  # seed=None drew one fresh seed, stored once, used by all
    assert len(trials) == 12 and all(t.state == TrialState.COMPLETE for t in trials)  # one budget, not 4
    with sqlite3.connect(path) as db:
        assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"


@pytest.mark.slow
def test_four_hpo_run_commands_on_one_new_sqlite_file(tmp_path):
    (tmp_path / "obj.py").write_text("def f(trial):\n    return trial.params['x'] ** 2\n")
    (tmp_path / "space.yaml").write_text("x: {type: float, low: -5, high: 5}\n")
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    hpo_cmd = [sys.executable, "-c", "from hpo.cli import main; main()"]
    procs = [subprocess.Popen(hpo_cmd + ["run", f"{tmp_path / 'obj.py'}:f", "--space", str(tmp_path / "space.yaml"),
                                        "--n-trials", "5", "--storage", url, "--study-name", "s"],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(4)]
    for p in procs:
        out, err = p.communicate(timeout=300)
        assert p.returncode == 0, err[-3000:]
    assert len(optuna.load_study(study_name="s", storage=url).trials) == 20


@pytest.mark.slow
@pytest.mark.postgres
@pytest.mark.skipif(not PG_URL, reason="set HPO_TEST_POSTGRES_URL to run PostgreSQL tests")
def test_independent_processes_share_one_budget_on_postgresql(tmp_path):
    name = f"together-{uuid.uuid4().hex[:8]}"
    seeds, trials = _together(tmp_path, PG_URL, name, processes=4, total=20)
    assert len(seeds) == 1
    assert len(trials) == 20 and all(t.state == TrialState.COMPLETE for t in trials)


# --- RUNNING trials of processes that are gone ------------------------------------------

def test_load_study_fails_running_trials_whose_process_is_gone(tmp_path):
    url = f"sqlite:///{tmp_path / 's.db'}"
    study = hpo.create_study(space=SPACE, storage=url, study_name="s", seed=0)
    study.optimize(lambda t: t.params["x"] ** 2, n_trials=2)
    # a process that asks a trial and exits without telling it
    code = f"import hpo; hpo.load_study(study_name='s', storage={url!r}).ask()"
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)
    # this process's pid with another start time: the pid was reused by a different process
    reused = study.ask()
    owner = dict(study.storage.get_trial(reused.optuna_trial._trial_id).system_attrs[OWNER_ATTR], start=1)
    study.storage.set_trial_system_attr(reused.optuna_trial._trial_id, OWNER_ATTR, owner)
    # a trial on another host is left to the heartbeat
    remote = study.ask()
    study.storage.set_trial_system_attr(remote.optuna_trial._trial_id, OWNER_ATTR, dict(owner, host="elsewhere"))
    mine = study.ask()  # a live trial of this very process stays RUNNING

    loaded = hpo.load_study(study_name="s", storage=url)
    states = {t.number: t.state for t in loaded.trials}
    assert states[2] == states[3] == TrialState.FAIL
    assert states[4] == states[mine.number] == TrialState.RUNNING
    for number in (2, 3):
        error = loaded.trials[number].user_attrs["error"]
        assert "is gone" in error and "process" in error
    loaded.tell(mine.number, 0.5)
    loaded.tell(remote.number, state="fail", error="lost with its host")
    # interrupted trials do not count toward max_trials: 2 complete + 1 failed + 1 complete, so 2 more
    loaded.optimize(lambda t: t.params["x"] ** 2, max_trials=6)
    assert len(loaded.get_trials([TrialState.COMPLETE])) == 5 and len(loaded.trials) == 8


def test_a_dead_workers_trial_is_left_to_its_living_supervisor(tmp_path):
    """A pool records why its worker died; other sweeps must not reap the trial first."""
    url = f"sqlite:///{tmp_path / 's.db'}"
    study = hpo.create_study(space=SPACE, storage=url, study_name="s", seed=0)
    me = study.storage.get_trial(study.ask().optuna_trial._trial_id).system_attrs[OWNER_ATTR]
    dead_worker = dict(me, start=1)
    supervised = study.ask()
    study.storage.set_trial_system_attr(supervised.optuna_trial._trial_id, OWNER_ATTR,
                                        dict(dead_worker, supervisor=me))
    orphan = study.ask()  # its supervisor is gone too: anyone may reap it
    study.storage.set_trial_system_attr(orphan.optuna_trial._trial_id, OWNER_ATTR,
                                        dict(dead_worker, supervisor=dead_worker))

    code = f"import hpo; hpo.load_study(study_name='s', storage={url!r})"
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)
    assert study.storage.get_trial(supervised.optuna_trial._trial_id).state == TrialState.RUNNING
    assert study.storage.get_trial(orphan.optuna_trial._trial_id).state == TrialState.FAIL
    assert study.fail_dead_trials({12345: "not this one"}) == []  # the pool's sweep for another worker
    failed = study.fail_dead_trials()  # the supervisor's own sweep after its pool
    assert [t.number for t in failed] == [supervised.number] and "is gone" in failed[0].user_attrs["error"]


# --- secrets ----------------------------------------------------------------------------

SECRET = "S3cretPassw0rd"


def test_storage_passwords_are_masked_in_errors():
    url = f"postgresql://hpo:{SECRET}@127.0.0.1:1/db"
    with pytest.raises(hpo.StorageError) as err:
        hpo.create_study(space=SPACE, storage=url)
    assert SECRET not in str(err.value) and "postgresql://hpo:***@127.0.0.1:1/db" in str(err.value)
    with pytest.raises(hpo.StorageError) as err:
        hpo.load_study(study_name="s", storage=url)
    assert SECRET not in str(err.value)
    with pytest.raises(hpo.StorageError) as err:
        hpo.create_study(space=SPACE, storage=f"mongodb://u:{SECRET}@h/x")
    assert SECRET not in str(err.value)


def test_secrets_are_masked_in_trial_errors_user_attrs_tables_and_logs(caplog, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-0123456789abcdef")
    leak = f"postgresql://hpo:{SECRET}@db.example:5432/hpo"

    def objective(trial):
        trial.set_user_attr("where", leak)
        if trial.number == 0:
            raise RuntimeError(f"cannot reach {leak} with key sk-test-0123456789abcdef")
        return trial.params["x"] ** 2

    study = hpo.create_study(space=SPACE, seed=0)
    with caplog.at_level(logging.WARNING, logger="hpo"):
        study.optimize(objective, n_trials=2)
    failed = study.trials[0]
    assert failed.state == TrialState.FAIL
    assert "postgresql://hpo:***@db.example:5432/hpo" in failed.user_attrs["error"]
    texts = [failed.user_attrs["error"], study.trials[1].user_attrs["where"], caplog.text,
             study.trials_dataframe().to_csv()]
    for text in texts:
        assert SECRET not in text and "sk-test-0123456789abcdef" not in text


def test_a_long_password_is_masked_even_outside_a_url():
    url = f"postgresql://hpo:{SECRET}@127.0.0.1:1/db"
    with pytest.raises(hpo.StorageError):
        hpo.create_study(space=SPACE, storage=url)
    assert hpo.storage.redact(f"password was {SECRET}!") == "password was ***!"
