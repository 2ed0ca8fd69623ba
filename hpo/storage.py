"""The bridge to optuna storages: a URL (or None) in, an optuna storage out.

hpo writes no storage of its own: in-memory, SQLite, PostgreSQL/MySQL and journal files
are optuna's, so a study written by hpo opens in ``optuna.load_study`` and in
optuna-dashboard. Relational storages run optuna's heartbeat so that a trial whose
worker died on another host is marked FAILED (with the reason) after the grace period.

Besides opening, this module gives the execution layer what optuna does not:

- :func:`storage_lock`: one lock per storage shared by every process that opens it (a lock
  file beside a SQLite or journal file, a transaction-scoped advisory lock on PostgreSQL),
  so that a trial budget can be claimed atomically; the operating system or the database
  releases it when its holder dies.
- :func:`count_trials`: the counts a trial budget is checked against, read from the storage
  (one query on a relational storage), so that no process keeps a private count.
- :func:`redact`: storage passwords and API keys masked in any text shown to a user.

Opening a SQLite file from many processes at once is safe: table creation runs under the
storage lock. ``create=False`` opens only what exists (commands that read never create a
database).

Example:
    >>> from hpo.storage import open_storage, redact
    >>> type(open_storage(None)).__name__
    'InMemoryStorage'
    >>> redact("cannot reach postgresql://hpo:s3cret@db:5432/hpo")
    'cannot reach postgresql://hpo:***@db:5432/hpo'
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import re
import threading
import warnings
import zlib
from pathlib import Path
from typing import Any, Iterator

import optuna
from optuna.storages import BaseStorage, InMemoryStorage, JournalStorage, RDBStorage
from optuna.storages.journal import JournalFileBackend
from optuna.trial import TrialState

__all__ = ["open_storage", "StorageError", "storage_url", "redact", "redact_url", "storage_lock",
           "count_trials", "study_names", "HEARTBEAT_INTERVAL", "GRACE_PERIOD", "INTERRUPTED_ATTR", "OWNER_ATTR"]

HEARTBEAT_INTERVAL = 30
GRACE_PERIOD = 90
INTERRUPTED_ATTR = "hpo:interrupted"  # trial system attr: failed because its process stopped
# trial system attr: the process that asked the trial (host, boot id, pid, start time) and the
# trial budget (``run``) it was claimed under, written with the trial itself
OWNER_ATTR = "hpo:owner"
_RDB = re.compile(r"^(sqlite|postgresql|postgres|mysql|mariadb|oracle|mssql)(\+\w+)?://")
_JOURNAL_SUFFIXES = (".log", ".journal", ".jsonl")
_LOCK_SUFFIX = ".hpo-lock"


class StorageError(ValueError):
    """The storage URL is malformed or its database cannot be used; the message says why."""


# --- redaction -------------------------------------------------------------------------
_URL_PASSWORD = re.compile(r"(\b[A-Za-z][A-Za-z0-9+.\-]*://[^\s/:@'\"]*:)([^\s@'\"]+)(@)")
_QUERY_SECRET = re.compile(r"(?i)([?&;](?:password|passwd|pwd|secret|token|api[_-]?key)=)([^&\s'\"]+)")
_SECRET_ENV = re.compile(r"(?i)(api[_-]?key|token|secret|password|passwd)")
_secrets: set[str] = set()


def _remember_secret(value: str | None) -> None:
    """Mask ``value`` wherever it appears from now on (only values of 8+ characters: a short
    password such as ``hpo`` would mask ordinary words; URLs are masked by their shape anyway)."""
    if value and len(value) >= 8:
        _secrets.add(value)


def redact(text: Any) -> Any:
    """``text`` with URL passwords, ``password=``/``token=`` query values, the passwords of
    storages opened in this process and secret-looking environment values (``*_API_KEY``,
    ``*TOKEN*``, ...) replaced by ``***``. Non-strings are returned unchanged."""
    if not isinstance(text, str) or not text:
        return text
    out = _URL_PASSWORD.sub(r"\1***\3", text)
    out = _QUERY_SECRET.sub(r"\1***", out)
    env = {v for k, v in os.environ.items() if _SECRET_ENV.search(k) and len(v) >= 8}
    if os.environ.get("HPO_STORAGE"):
        env.add(_password_of(os.environ["HPO_STORAGE"]) or "")
    for secret in sorted((_secrets | env) - {""}, key=len, reverse=True):
        if len(secret) >= 8 and secret in out:
            out = out.replace(secret, "***")
    return out


class RedactingFilter(logging.Filter):
    """Masks secrets in every record of the loggers it is attached to (hpo's and optuna's)."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:
            return True
        masked = redact(message)
        if masked != message:
            record.msg, record.args = masked, ()
        return True


_redacting_filter = RedactingFilter()
logging.getLogger("hpo").addFilter(_redacting_filter)
optuna.logging.get_logger("optuna")  # makes optuna set up its handler, which records of all its modules reach
for _handler in logging.getLogger("optuna").handlers:
    _handler.addFilter(_redacting_filter)


def redact_url(url: str | None) -> str | None:
    """The URL with its password (and any ``password=`` query value) masked."""
    return redact(url) if isinstance(url, str) else url


def _password_of(url: str) -> str | None:
    m = _URL_PASSWORD.search(url)
    return m.group(2) if m else None


# --- opening ---------------------------------------------------------------------------
def storage_url(storage: str | BaseStorage | None) -> str | None:
    """The URL (or journal path) a storage was opened from, unredacted (for worker processes)."""
    if storage is None or isinstance(storage, str):
        return storage
    if isinstance(storage, RDBStorage):
        return storage.url
    path = _journal_path(storage)
    return str(path) if path else None


def describe(storage: str | BaseStorage | None) -> str:
    """A storage as users see it in messages: its redacted URL, or its kind."""
    url = storage_url(storage)
    if url is not None:
        return redact_url(url)
    return "in-memory storage" if storage is None or isinstance(storage, InMemoryStorage) else type(storage).__name__


def _journal_path(storage: BaseStorage) -> str | None:
    if isinstance(storage, JournalStorage):
        backend = getattr(storage, "_backend", None)
        path = getattr(backend, "_file_path", None)
        return str(path) if path else None
    return None


def _sqlite_path(url: str) -> str | None:
    if url.startswith("sqlite:///") and url.split("?")[0] != "sqlite:///:memory:":
        return str(Path(url[len("sqlite:///"):].split("?")[0]).expanduser())
    return None


def open_storage(storage: str | BaseStorage | None, *, heartbeat: bool = True, create: bool = True) -> BaseStorage:
    """Open ``storage``: None (in-memory), an optuna storage, an RDB URL or a journal file path.

    With ``create=False`` a SQLite or journal file must already exist and no table is created
    (for commands that only read).
    """
    if storage is None:
        return InMemoryStorage()
    if isinstance(storage, BaseStorage):
        return storage
    if not isinstance(storage, str) or not storage.strip():
        raise StorageError(
            f"storage must be a URL like sqlite:///study.db, postgresql://user:pass@host/db, "
            f"a journal file path ending in .log, or None; got {redact(repr(storage))}"
        )
    url = storage.strip()
    shown = redact_url(url)
    _remember_secret(_password_of(url))
    if url.endswith(_JOURNAL_SUFFIXES) and "://" not in url:
        path = Path(url).expanduser()
        if not path.parent.exists():
            raise StorageError(f"journal storage {shown!r}: folder {str(path.parent)!r} does not exist")
        if not create and not path.exists():
            raise StorageError(f"journal storage {shown!r} does not exist; check the path")
        return JournalStorage(JournalFileBackend(str(path)))
    if not _RDB.match(url):
        raise StorageError(
            f"storage URL {shown!r} is not understood; use sqlite:///path/to/study.db, "
            f"postgresql://user:pass@host:5432/db or a journal file path ending in .log"
        )
    if url.startswith("sqlite:") and not url.startswith("sqlite:///"):
        raise StorageError(f"storage URL {shown!r}: SQLite URLs take three slashes, e.g. sqlite:///study.db")
    sqlite_path = _sqlite_path(url)
    if sqlite_path is not None:
        folder = Path(sqlite_path).resolve().parent
        if not folder.exists():
            raise StorageError(f"storage URL {shown!r}: folder {str(folder)!r} does not exist; create it first")
        if not create and not Path(sqlite_path).is_file():
            raise StorageError(f"storage URL {shown!r}: no SQLite file at {sqlite_path!r}; check the path")
    engine_kwargs = {"connect_args": {"timeout": 60}} if url.startswith("sqlite") else {"pool_pre_ping": True}
    kwargs = {"heartbeat_interval": HEARTBEAT_INTERVAL, "grace_period": GRACE_PERIOD} if heartbeat else {}
    try:
        with warnings.catch_warnings(), (_creation_lock(url, sqlite_path) if create else contextlib.nullcontext()):
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            rdb = RDBStorage(url, engine_kwargs=engine_kwargs, skip_table_creation=not create, **kwargs)
            if sqlite_path is not None:
                _use_wal(rdb)
    except ImportError as e:
        raise StorageError(f"storage URL {shown!r}: database driver missing ({redact(str(e))}); "
                           "for PostgreSQL pip install 'psycopg[binary]'") from None
    except Exception as e:  # sqlalchemy raises many types; keep the first line of the root cause
        text = _root_message(e)
        if not create and ("no such table" in text or ("does not exist" in text and "relation" in text)):
            raise StorageError(f"storage {shown!r} holds no studies (it has no optuna tables)") from None
        raise StorageError(f"cannot open storage {shown!r}: {redact(text)}") from None
    if heartbeat:
        rdb.heartbeat_stale_trial_callback = _record_stale_reason(rdb)
    return rdb


def _root_message(e: BaseException) -> str:
    """The first line of the innermost cause (optuna wraps a refused connection in a generic message)."""
    seen = set()
    while (e.__cause__ or e.__context__) is not None and id(e) not in seen:
        seen.add(id(e))
        e = e.__cause__ or e.__context__
    text = str(e).strip()
    if text.startswith("(") and ") " in text:  # sqlalchemy's "(psycopg.OperationalError) ..." prefix
        text = text.split(") ", 1)[1]
    return text.splitlines()[0] if text else type(e).__name__


def _record_stale_reason(rdb: RDBStorage):
    def callback(_study, trial) -> None:
        reason = (f"no heartbeat for over {rdb.grace_period or GRACE_PERIOD} s: the process running this trial "
                  "stopped or lost its connection")
        try:
            rdb.set_trial_system_attr(trial._trial_id, INTERRUPTED_ATTR, reason)
            rdb.set_trial_user_attr(trial._trial_id, "error", reason)
        except Exception:  # recording the reason must not break the caller
            pass

    return callback


@contextlib.contextmanager
def _creation_lock(url: str, sqlite_path: str | None) -> Iterator[None]:
    """Serialise table creation (``table studies already exists`` otherwise) across processes."""
    if sqlite_path is not None:
        with _file_lock(sqlite_path + _LOCK_SUFFIX):
            yield
    elif url.startswith(("postgresql", "postgres")):
        import sqlalchemy
        from sqlalchemy.pool import NullPool

        try:
            engine = sqlalchemy.create_engine(url, poolclass=NullPool)
            conn = engine.connect()
        except Exception:  # let RDBStorage report the connection problem itself
            yield
            return
        try:
            with conn.begin():
                conn.execute(sqlalchemy.text("SELECT pg_advisory_xact_lock(:k)"), {"k": _lock_key("create")})
                yield
        finally:
            conn.close()
            engine.dispose()
    else:
        yield


def _use_wal(storage: RDBStorage) -> None:
    """SQLite in write-ahead-log mode: readers do not block the writer (many worker processes)
    and a commit costs no fsync of the whole file. With synchronous=NORMAL a committed trial
    survives a crash or kill -9 of the process; only an OS crash or power loss can undo the
    last commits."""
    from sqlalchemy import event

    def on_connect(dbapi_connection, _record):
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    event.listen(storage.engine, "connect", on_connect)
    storage.engine.dispose()


def study_names(storage: BaseStorage) -> list[str]:
    return [s.study_name for s in optuna.get_all_study_summaries(storage, include_best_trial=False)]


# --- one lock per storage --------------------------------------------------------------
_held = threading.local()
_local_locks: dict[Any, threading.RLock] = {}
_local_locks_guard = threading.Lock()


def _lock_key(name: str) -> int:
    return zlib.crc32(f"hpo:{name}".encode()) - 2**31


@contextlib.contextmanager
def _file_lock(path: str) -> Iterator[None]:
    try:
        import fcntl
    except ImportError:  # Windows: no flock; the lock covers this process only
        with _local_lock(path):
            yield
        return
    held = getattr(_held, "files", None)
    if held is None:
        held = _held.files = {}
    if held.get(path):  # re-entered in this thread: flock would deadlock on a second descriptor
        held[path] += 1
        try:
            yield
        finally:
            held[path] -= 1
        return
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as e:
        if e.errno in (errno.EACCES, errno.EROFS, errno.EPERM):  # read-only folder: nothing can write anyway
            yield
            return
        raise
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        held[path] = 1
        try:
            yield
        finally:
            held.pop(path, None)
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


@contextlib.contextmanager
def storage_lock(storage: BaseStorage) -> Iterator[None]:
    """A lock held by at most one thread of all processes that share ``storage``.

    SQLite and journal files: ``flock`` on a ``.hpo-lock`` file beside them. PostgreSQL: a
    transaction-scoped advisory lock. In-memory and other storages: a lock of this process
    (only this process can reach them). A holder that dies releases it with its file
    descriptors or its database session. Re-entrant within a thread.
    """
    if isinstance(storage, RDBStorage):
        path = _sqlite_path(storage.url)
        if path is not None:
            with _file_lock(path + _LOCK_SUFFIX):
                yield
            return
        if storage.engine.dialect.name == "postgresql":
            depth = getattr(_held, "pg", 0)
            if depth:
                _held.pg = depth + 1
                try:
                    yield
                finally:
                    _held.pg -= 1
                return
            import sqlalchemy

            with storage.engine.connect() as conn, conn.begin():
                conn.execute(sqlalchemy.text("SELECT pg_advisory_xact_lock(:k)"), {"k": _lock_key("budget")})
                _held.pg = 1
                try:
                    yield
                finally:
                    _held.pg = 0
            return
    path = _journal_path(storage)
    if path is not None:
        with _file_lock(path + _LOCK_SUFFIX):
            yield
        return
    with _local_lock(id(storage)):
        yield


@contextlib.contextmanager
def _local_lock(key: Any) -> Iterator[None]:
    with _local_locks_guard:
        lock = _local_locks.setdefault(key, threading.RLock())
    with lock:
        yield


# --- counts a trial budget is checked against -------------------------------------------
_COUNT_SQL = """
SELECT
  COUNT(CASE WHEN t.state <> 'WAITING' AND i.trial_id IS NULL THEN 1 END),
  COUNT(r.trial_id),
  COUNT(CASE WHEN t.state = 'WAITING' THEN 1 END)
FROM trials t
LEFT JOIN trial_system_attributes i ON i.trial_id = t.trial_id AND i.key = :interrupted
LEFT JOIN trial_system_attributes r ON r.trial_id = t.trial_id AND r.key = :owner_key AND r.value_json LIKE :run
WHERE t.study_id = :study_id
"""


def count_trials(storage: BaseStorage, study_id: int, run: str | None = None) -> tuple[int, int, int]:
    """``(counted, in_run, waiting)`` for a study.

    ``counted``: trials that are running or finished, except those failed because their
    process stopped (``hpo:interrupted``), which a resumed study runs again. ``in_run``:
    trials claimed under trial budget ``run`` (the ``run`` of their ``hpo:owner`` record; a
    uuid hex, so the text match on the stored JSON is exact). ``waiting``: enqueued trials not yet started.
    One query on a relational storage; a scan of the trials otherwise.
    """
    if isinstance(storage, RDBStorage):
        import json

        import sqlalchemy

        with storage.engine.connect() as conn:
            row = conn.execute(sqlalchemy.text(_COUNT_SQL), {
                "interrupted": INTERRUPTED_ATTR, "owner_key": OWNER_ATTR, "study_id": study_id,
                "run": f'%"run": {json.dumps(run)}%' if run is not None else "",
            }).one()
        return int(row[0]), int(row[1]), int(row[2])
    counted = in_run = waiting = 0
    for t in storage.get_all_trials(study_id, deepcopy=False):
        attrs = t.system_attrs
        if t.state == TrialState.WAITING:
            waiting += 1
        elif INTERRUPTED_ATTR not in attrs:
            counted += 1
        owner = attrs.get(OWNER_ATTR)
        if run is not None and isinstance(owner, dict) and owner.get("run") == run:
            in_run += 1
    return counted, in_run, waiting
