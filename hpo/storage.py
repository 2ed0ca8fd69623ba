"""The bridge to optuna storages: a URL (or None) in, an optuna storage out.

hpo writes no storage of its own: in-memory, SQLite, PostgreSQL/MySQL and journal files
are optuna's, so a study written by hpo opens in ``optuna.load_study`` and in
optuna-dashboard. Relational storages run optuna's heartbeat so that a trial whose
worker died (kill -9, lost node) is marked FAILED instead of staying RUNNING forever.

Example:
    >>> from hpo.storage import open_storage
    >>> type(open_storage(None)).__name__
    'InMemoryStorage'
"""

from __future__ import annotations

import re
import warnings
from pathlib import Path

import optuna
from optuna.storages import BaseStorage, InMemoryStorage, JournalStorage, RDBStorage
from optuna.storages.journal import JournalFileBackend

__all__ = ["open_storage", "StorageError", "storage_url", "HEARTBEAT_INTERVAL", "GRACE_PERIOD"]

HEARTBEAT_INTERVAL = 30
GRACE_PERIOD = 90
_RDB = re.compile(r"^(sqlite|postgresql|postgres|mysql|mariadb|oracle|mssql)(\+\w+)?://")
_JOURNAL_SUFFIXES = (".log", ".journal", ".jsonl")


class StorageError(ValueError):
    """The storage URL is malformed or its database cannot be used; the message says why."""


def storage_url(storage: str | BaseStorage | None) -> str | None:
    """The URL a storage was opened from, if it has one (for worker processes)."""
    if storage is None or isinstance(storage, str):
        return storage
    if isinstance(storage, RDBStorage):
        return storage.url
    if isinstance(storage, JournalStorage):
        backend = getattr(storage, "_backend", None)
        path = getattr(backend, "_file_path", None)
        return str(path) if path else None
    return None


def open_storage(storage: str | BaseStorage | None, *, heartbeat: bool = True) -> BaseStorage:
    """Open ``storage``: None (in-memory), an optuna storage, an RDB URL or a journal file path."""
    if storage is None:
        return InMemoryStorage()
    if isinstance(storage, BaseStorage):
        return storage
    if not isinstance(storage, str) or not storage.strip():
        raise StorageError(
            f"storage must be a URL like sqlite:///study.db, postgresql://user:pass@host/db, "
            f"a journal file path ending in .log, or None; got {storage!r}"
        )
    url = storage.strip()
    if url.endswith(_JOURNAL_SUFFIXES) and "://" not in url:
        path = Path(url)
        if not path.parent.exists():
            raise StorageError(f"journal storage {url!r}: folder {str(path.parent)!r} does not exist")
        return JournalStorage(JournalFileBackend(str(path)))
    if not _RDB.match(url):
        raise StorageError(
            f"storage URL {url!r} is not understood; use sqlite:///path/to/study.db, "
            f"postgresql://user:pass@host:5432/db or a journal file path ending in .log"
        )
    if url.startswith("sqlite:") and not url.startswith("sqlite:///"):
        raise StorageError(f"storage URL {url!r}: SQLite URLs take three slashes, e.g. sqlite:///study.db")
    if url.startswith("sqlite:///") and url != "sqlite:///:memory:":
        folder = Path(url[len("sqlite:///"):]).expanduser().resolve().parent
        if not folder.exists():
            raise StorageError(f"storage URL {url!r}: folder {str(folder)!r} does not exist; create it first")
    engine_kwargs = {"connect_args": {"timeout": 60}} if url.startswith("sqlite") else {"pool_pre_ping": True}
    kwargs = {"heartbeat_interval": HEARTBEAT_INTERVAL, "grace_period": GRACE_PERIOD} if heartbeat else {}
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            rdb = RDBStorage(url, engine_kwargs=engine_kwargs, **kwargs)
        if url.startswith("sqlite:///") and url != "sqlite:///:memory:":
            _use_wal(rdb)
        return rdb
    except ImportError as e:
        raise StorageError(f"storage URL {url!r}: database driver missing ({e}); for PostgreSQL pip install 'psycopg[binary]'") from None
    except Exception as e:  # sqlalchemy raises many types; keep the first line
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise StorageError(f"cannot open storage {url!r}: {first}") from None


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
