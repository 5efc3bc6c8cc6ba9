"""Store URIs checked before any run starts, and created once under an inter-process lock.

Two processes started together on a new SQLite store both run MLflow's (or Optuna's)
schema creation; one of them fails with "table ... already exists". ``creation_lock``
serialises the first contact with a store (an ``fcntl`` lock on ``<file>.lock`` beside
the SQLite file), so concurrent starts behave like starts on an initialised store.
``check_uri`` turns a bad URI into one line before training: unknown scheme, a SQLite
path whose folder is missing or is a file, a store that is not an SQLite database, an
HTTP server that does not answer within a few seconds.
"""
from __future__ import annotations

import contextlib
import fcntl
import os
import sqlite3
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

SCHEMES = ("sqlite", "file", "http", "https", "postgresql", "mysql", "mssql", "databricks")


class StoreError(ValueError):
    """A tracking or study store that cannot be used; the message says what to do."""


def sqlite_path(uri: str) -> Path | None:
    if not uri.startswith("sqlite:///"):
        return None
    db = uri.removeprefix("sqlite:///")
    return None if not db or db.startswith(":memory:") else Path(db)


def absolute(uri: str) -> str:
    """A SQLite URI with an absolute path (processes started elsewhere, such as Ray workers, open the same file)."""
    db = sqlite_path(uri)
    return f"sqlite:///{db.resolve()}" if db is not None else uri


PG_LOCK_KEY = 0x6D6C62656E6368  # one advisory lock id for schema creation by this suite (MLflow and Optuna)


@contextlib.contextmanager
def _pg_lock(uri: str) -> Iterator[None]:
    """A PostgreSQL advisory lock, held on its own connection: two processes starting on a new
    database (the README's two shards) create MLflow's or Optuna's tables one after the other."""
    import sqlalchemy
    from sqlalchemy.pool import NullPool

    try:
        engine = sqlalchemy.create_engine(uri, poolclass=NullPool, isolation_level="AUTOCOMMIT")
        con = engine.connect()
    except ModuleNotFoundError as e:
        raise StoreError(f"{uri}: the PostgreSQL driver {e.name} is not installed; pip install -e \".[postgres]\"") from None
    except sqlalchemy.exc.SQLAlchemyError as e:
        reason = str(getattr(e, "orig", None) or e).strip().splitlines()[0]
        raise StoreError(f"{uri}: cannot connect to PostgreSQL ({reason}); start the server or check the URI") from None
    try:
        with con:
            con.execute(sqlalchemy.text("select pg_advisory_lock(:k)"), {"k": PG_LOCK_KEY})
            try:
                yield
            finally:
                con.execute(sqlalchemy.text("select pg_advisory_unlock(:k)"), {"k": PG_LOCK_KEY})
    finally:
        engine.dispose()


@contextlib.contextmanager
def creation_lock(uri: str) -> Iterator[None]:
    """Hold an exclusive inter-process lock while a store is created or upgraded: a lock file
    beside a SQLite store, an advisory lock on PostgreSQL (a no-op for tracking servers, which
    create their schema when they start)."""
    if uri.startswith("postgresql"):
        with _pg_lock(uri):
            yield
        return
    db = sqlite_path(uri)
    if db is None:
        yield
        return
    lock = db.with_name(db.name + ".lock")
    try:
        db.parent.mkdir(parents=True, exist_ok=True)
        f = open(lock, "a")  # noqa: SIM115 - closed below, after the lock is released
    except OSError as e:
        raise StoreError(f"{uri}: cannot create the lock file {lock} beside the store ({e.strerror}); "
                         "name a store in a folder this user can write") from None
    with f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def _check_sqlite(uri: str, db: Path, flag: str) -> None:
    if not db.parent.exists():
        raise StoreError(f"{flag} {uri}: the folder {db.parent} does not exist; create it or name another path")
    if not db.parent.is_dir():
        raise StoreError(f"{flag} {uri}: {db.parent} is a file, not a folder; name another path")
    if db.is_dir():
        raise StoreError(f"{flag} {uri}: {db} is a folder, not an SQLite file; name a file inside it")
    if db.exists():
        try:
            with contextlib.closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5)) as con:
                con.execute("select name from sqlite_master limit 1").fetchall()
        except sqlite3.DatabaseError as e:
            raise StoreError(f"{flag} {uri}: {db} is not an SQLite database ({e}); name another file") from None
    elif not os.access(db.parent, os.W_OK):
        raise StoreError(f"{flag} {uri}: cannot create {db} (the folder is not writable)")


def _check_http(uri: str, flag: str, timeout: float) -> None:
    try:
        with urllib.request.urlopen(uri.rstrip("/") + "/health", timeout=timeout):
            pass
    except urllib.error.HTTPError:
        return  # the server answered (a proxy or an older server without /health)
    except (OSError, ValueError) as e:
        reason = getattr(e, "reason", e)
        raise StoreError(f"{flag} {uri}: the server does not answer ({reason}); start it or check the address") from None


def check_uri(uri: str, flag: str = "--tracking-uri", timeout: float = 5.0) -> None:
    """Raise ``StoreError`` (one line) if ``uri`` cannot be a store; cheap, before any run."""
    scheme = uri.split(":", 1)[0].split("+", 1)[0] if ":" in uri else ""
    if scheme not in SCHEMES and not (scheme == "" and uri):
        raise StoreError(f"{flag} {uri}: unknown scheme {scheme!r}; use one of {', '.join(s + ':' for s in SCHEMES)} "
                         "or a folder path")
    if (db := sqlite_path(uri)) is not None:
        _check_sqlite(uri, db, flag)
    elif scheme in ("http", "https"):
        _check_http(uri, flag, timeout)
    elif scheme == "sqlite":
        raise StoreError(f"{flag} {uri}: write sqlite:///path/to/file.db (three slashes, then the path)")
