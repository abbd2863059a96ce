"""MySQL / MariaDB all-or-nothing restore: the scratch database and the one-statement swap.

MySQL cannot roll DDL back, so MySQLEngine.restore loads the dump into a
scratch database `<name>__bm_restore_<hex>` on the same server; this module
then moves its tables into the target in ONE `RENAME TABLE` statement that
also renames the target's tables of the same names (all of them for a clean
restore) to `__bm_old_<hex>_<n>`: the server applies all of it or none. Then
the old tables are dropped and the backup's views, triggers, routines and
events, read from the scratch database, are created in the target (MySQL
cannot move those across databases). A restore that is not clean first
refuses when a kept table's foreign key would point at a replaced one. A
leftover of a killed worker (scratch databases, renamed old tables) is
dropped by the next restore into that target (Admin.drop_leftovers).

Framework-free, like the rest of apps.engines; MySQLdb is imported lazily.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any

from apps.engines.base import ConnectionInfo, EngineError

DEFAULT_PORT = 3306

# MySQL client error codes meaning the credentials were refused.
ACCESS_DENIED = {1045, 1044, 1698}

SCRATCH_MARK = "__bm_restore_"
OLD_MARK = "__bm_old_"
_MAX_NAME = 64
_OLD_TABLE = re.compile(r"^__bm_old_[0-9a-f]{8}_\d+$")
_ROUTINE_KINDS = ("PROCEDURE", "FUNCTION")


def quote_name(name: str) -> str:
    """A quoted MySQL identifier."""
    return "`" + name.replace("`", "``") + "`"


def _scratch_base(target: str) -> str:
    """The part of a scratch database name that names its target (names are at most 64 characters)."""
    room = _MAX_NAME - len(SCRATCH_MARK) - 8
    if len(target) <= room:
        return target
    return target[: room - 7] + "_" + hashlib.sha256(target.encode()).hexdigest()[:6]


def scratch_name(target: str) -> str:
    """A new scratch database name for a restore into `target`: `<target>__bm_restore_<8 hex>`."""
    return f"{_scratch_base(target)}{SCRATCH_MARK}{secrets.token_hex(4)}"


def is_scratch_of(name: str, target: str) -> bool:
    return re.fullmatch(re.escape(_scratch_base(target) + SCRATCH_MARK) + "[0-9a-f]{8}", name) is not None


@dataclass
class _Objects:
    """A database's tables (and sequences), views, triggers, routines and events."""

    tables: list[str] = field(default_factory=list)
    views: list[str] = field(default_factory=list)
    triggers: list[str] = field(default_factory=list)
    routines: list[tuple[str, str]] = field(default_factory=list)  # (kind, name)
    events: list[str] = field(default_factory=list)


class Admin:
    """A MySQLdb connection without a default database, for the steps the client cannot do."""

    def __init__(self, conn: ConnectionInfo, timeout: int) -> None:
        self._conn = conn
        self._timeout = max(1, min(int(timeout), 60))
        self._db: Any = None

    def __enter__(self) -> Admin:
        import MySQLdb

        try:
            self._db = MySQLdb.connect(
                host=self._conn.host or "127.0.0.1",
                port=self._conn.port or DEFAULT_PORT,
                user=self._conn.username,
                password=self._conn.password,
                connect_timeout=self._timeout,
                charset="utf8mb4",
                autocommit=True,
            )
        except MySQLdb.Error as exc:
            if exc.args and exc.args[0] in ACCESS_DENIED:
                raise EngineError(self._conn.mask(f"Authentication failed: {exc.args[-1]}")) from None
            raise self._error("cannot connect", exc) from None
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        try:
            self._db.close()
        except Exception:  # noqa: BLE001 - closing a broken connection
            pass

    def _error(self, what: str, exc: BaseException) -> EngineError:
        detail = exc.args[-1] if getattr(exc, "args", None) else exc
        return EngineError(self._conn.mask(f"mysql restore: {what}: {detail}"))

    def run(self, sql: str, args: tuple[Any, ...] | None = None, *, what: str = "") -> list[tuple[Any, ...]]:
        import MySQLdb

        try:
            cur = self._db.cursor()
            try:
                cur.execute(sql, args)
                return list(cur.fetchall() or ())
            finally:
                cur.close()
        except MySQLdb.Error as exc:
            raise self._error(what or sql.split(" (", 1)[0][:200], exc) from None

    def schema_charset(self, name: str) -> tuple[str, str]:
        rows = self.run(
            "SELECT DEFAULT_CHARACTER_SET_NAME, DEFAULT_COLLATION_NAME FROM information_schema.SCHEMATA "
            "WHERE SCHEMA_NAME = %s",
            (name,),
            what="reading the target database",
        )
        if not rows:
            raise EngineError(f"mysql restore: database {name!r} does not exist")
        charset, collation = rows[0]
        if not re.fullmatch(r"\w+", charset or "") or not re.fullmatch(r"\w+", collation or ""):
            raise EngineError(f"mysql restore: unexpected character set {charset!r} / {collation!r}")
        return charset, collation

    def drop_database(self, name: str) -> None:
        """Drop a scratch database (foreign keys off: its tables may reference each other)."""
        try:
            self.run("SET SESSION foreign_key_checks = 0")
            self.run(
                f"DROP DATABASE IF EXISTS {quote_name(name)}", what=f"dropping the scratch database {name}"
            )
        except EngineError:
            pass  # the next restore into this target drops it (drop_leftovers)
        finally:
            try:
                self.run("SET SESSION foreign_key_checks = 1")
            except EngineError:
                pass

    def drop_leftovers(self, target: str) -> None:
        """Remove what a killed restore into `target` left: scratch databases and renamed old tables."""
        for (name,) in self.run("SHOW DATABASES"):
            if is_scratch_of(name, target):
                self.drop_database(name)
        rows = self.run(
            "SELECT TABLE_NAME, TABLE_TYPE FROM information_schema.TABLES WHERE TABLE_SCHEMA = %s",
            (target,),
        )
        old = [(name, kind) for name, kind in rows if _OLD_TABLE.match(name)]
        if old:
            self._drop_tables(target, old)

    def _drop_tables(self, db: str, tables: list[tuple[str, str]]) -> None:
        views = [name for name, kind in tables if kind == "VIEW"]
        others = [name for name, kind in tables if kind != "VIEW"]
        self.run("SET SESSION foreign_key_checks = 0")
        try:
            if views:
                self.run(
                    "DROP VIEW IF EXISTS " + ", ".join(f"{quote_name(db)}.{quote_name(v)}" for v in views)
                )
            if others:
                self.run(
                    "DROP TABLE IF EXISTS " + ", ".join(f"{quote_name(db)}.{quote_name(t)}" for t in others)
                )
        finally:
            self.run("SET SESSION foreign_key_checks = 1")

    def objects(self, db: str) -> _Objects:
        out = _Objects()
        for name, kind in self.run(
            "SELECT TABLE_NAME, TABLE_TYPE FROM information_schema.TABLES WHERE TABLE_SCHEMA = %s "
            "ORDER BY TABLE_NAME",
            (db,),
        ):
            (out.views if kind == "VIEW" else out.tables).append(name)
        out.triggers = [
            r[0]
            for r in self.run(
                "SELECT TRIGGER_NAME FROM information_schema.TRIGGERS WHERE TRIGGER_SCHEMA = %s "
                "ORDER BY EVENT_OBJECT_TABLE, ACTION_ORDER",
                (db,),
            )
        ]
        out.routines = [
            (kind, name)
            for name, kind in self.run(
                "SELECT ROUTINE_NAME, ROUTINE_TYPE FROM information_schema.ROUTINES WHERE ROUTINE_SCHEMA = %s",
                (db,),
            )
        ]
        out.events = [
            r[0]
            for r in self.run(
                "SELECT EVENT_NAME FROM information_schema.EVENTS WHERE EVENT_SCHEMA = %s", (db,)
            )
        ]
        return out


@dataclass
class _Definition:
    """A statement that recreates one view, trigger, routine or event, with the sql_mode it needs."""

    kind: str
    name: str
    sql: str
    sql_mode: str | None = None
    time_zone: str | None = None


def _definitions(admin: Admin, scratch: str, objects: _Objects) -> list[_Definition]:
    """Read how to recreate the scratch database's non-table objects, in the order they are made."""
    admin.run(f"USE {quote_name(scratch)}")
    out: list[_Definition] = []
    for name in objects.views:
        row = admin.run(f"SHOW CREATE VIEW {quote_name(name)}")[0]
        out.append(_Definition("VIEW", name, row[1]))
    for name in objects.triggers:
        row = admin.run(f"SHOW CREATE TRIGGER {quote_name(name)}")[0]
        out.append(_Definition("TRIGGER", name, row[2], sql_mode=row[1]))
    for kind, name in objects.routines:
        if kind not in _ROUTINE_KINDS:
            raise EngineError(
                f"mysql restore: the backup holds a {kind.lower()} ({name}), which cannot be moved"
            )
        row = admin.run(f"SHOW CREATE {kind} {quote_name(name)}")[0]
        if row[2] is None:
            raise EngineError(f"mysql restore: cannot read the definition of {kind.lower()} {name}")
        out.append(_Definition(kind, name, row[2], sql_mode=row[1]))
    for name in objects.events:
        row = admin.run(f"SHOW CREATE EVENT {quote_name(name)}")[0]
        out.append(_Definition("EVENT", name, row[3], sql_mode=row[1], time_zone=row[2]))
    return out


def swap(admin: Admin, scratch: str, target: str, *, clean: bool) -> None:
    """Move the scratch database's tables into the target in one RENAME TABLE, then the rest."""
    loaded = admin.objects(scratch)
    definitions = _definitions(admin, scratch, loaded)
    existing = admin.objects(target)
    incoming = set(loaded.tables) | set(loaded.views)
    if clean:
        moved_away = existing.tables + existing.views
    else:
        moved_away = [name for name in existing.tables + existing.views if name in incoming]
        _refuse_dangling_keys(admin, target, existing, set(moved_away))
    # A table with triggers cannot move to another database, nor can a view; an event would go on
    # firing in the scratch database. All three are recreated in the target after the rename.
    for definition in definitions:
        if definition.kind in ("EVENT", "TRIGGER", "VIEW"):
            admin.run(f"DROP {definition.kind} IF EXISTS {quote_name(scratch)}.{quote_name(definition.name)}")
    token = secrets.token_hex(4)
    old = {name: f"{OLD_MARK}{token}_{i}" for i, name in enumerate(moved_away)}
    pairs = [
        f"{quote_name(target)}.{quote_name(name)} TO {quote_name(target)}.{quote_name(old[name])}"
        for name in moved_away
    ]
    pairs += [
        f"{quote_name(scratch)}.{quote_name(name)} TO {quote_name(target)}.{quote_name(name)}"
        for name in loaded.tables
    ]
    if pairs:
        # The one step that changes the target: the server applies all of it or none.
        admin.run("RENAME TABLE " + ", ".join(pairs), what="moving the restored tables into the target")
    try:
        _finish_swap(admin, scratch, target, clean, existing, old, definitions)
    except EngineError as exc:
        raise EngineError(
            f"{exc} (the backup's tables replaced the target's; its views, triggers, routines or events "
            "may be incomplete)"
        ) from None


def _refuse_dangling_keys(admin: Admin, target: str, existing: _Objects, replaced: set[str]) -> None:
    """Before anything changes: a kept table whose foreign key points at a replaced one would dangle."""
    rows = admin.run(
        "SELECT TABLE_NAME, CONSTRAINT_NAME, REFERENCED_TABLE_NAME FROM information_schema.REFERENTIAL_CONSTRAINTS "
        "WHERE CONSTRAINT_SCHEMA = %s AND UNIQUE_CONSTRAINT_SCHEMA = %s",
        (target, target),
    )
    for table, constraint, referenced in rows:
        if table not in replaced and referenced in replaced:
            raise EngineError(
                f"mysql restore: table {table} is not in the backup and its foreign key {constraint} "
                f"references {referenced}, which the backup replaces; choose a clean restore or drop that "
                "key first. The target was not changed"
            )


def _finish_swap(
    admin: Admin,
    scratch: str,
    target: str,
    clean: bool,
    existing: _Objects,
    old: dict[str, str],
    definitions: list[_Definition],
) -> None:
    views = set(existing.views)
    admin._drop_tables(
        target, [(name, "VIEW" if original in views else "BASE TABLE") for original, name in old.items()]
    )
    names = {(d.kind, d.name) for d in definitions}
    stale: list[tuple[str, str]] = []
    for name in existing.triggers:
        if clean or ("TRIGGER", name) in names:
            stale.append(("TRIGGER", name))
    for kind, name in existing.routines:
        if kind in _ROUTINE_KINDS and (clean or (kind, name) in names):
            stale.append((kind, name))
    for name in existing.events:
        if clean or ("EVENT", name) in names:
            stale.append(("EVENT", name))
    for kind, name in stale:
        admin.run(f"DROP {kind} IF EXISTS {quote_name(target)}.{quote_name(name)}")
    admin.run(f"USE {quote_name(target)}")
    # A definition naming the scratch database loses that qualifier: the target is the current database.
    scratch_prefix = quote_name(scratch) + "."
    pending = [d for d in definitions if d.kind == "VIEW"]
    # A view may select from another view: create those that can be, until none is left.
    while pending:
        failed, last_error = [], None
        for definition in pending:
            try:
                admin.run(definition.sql.replace(scratch_prefix, ""), what=f"creating view {definition.name}")
            except EngineError as exc:
                failed.append(definition)
                last_error = exc
        if len(failed) == len(pending):
            raise last_error or EngineError("mysql restore: cannot create the views")
        pending = failed
    for definition in definitions:
        if definition.kind == "VIEW":
            continue
        admin.run("SET SESSION sql_mode = %s", (definition.sql_mode or "",))
        if definition.time_zone:
            admin.run("SET SESSION time_zone = %s", (definition.time_zone,))
        admin.run(
            definition.sql.replace(scratch_prefix, ""),
            what=f"creating {definition.kind.lower()} {definition.name}",
        )
