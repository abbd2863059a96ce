"""MySQL / MariaDB: MySQLdb for the connection test; mariadb-dump / mysqldump for backups.

dump: `mariadb-dump` (or `mysqldump`) of the one database, without
CREATE DATABASE / USE, so it restores into a database of any name:
`--single-transaction --routines --triggers --events --hex-blob
--default-character-set=utf8mb4 --no-tablespaces`; plain SQL, extension
"sql".

restore, all or nothing: MySQL cannot roll DDL back, so the `mariadb` (or
`mysql`) client loads the SQL (from stdin, `--binary-mode`, stopping at the
first error) into a scratch database on the same server,
`<name>__bm_restore_<hex>`, created with the target's character set. Only
when the client succeeded (and the caller's stream ended, i.e. the copy's
checksum matched) do the tables move into the target, in ONE `RENAME TABLE`
statement that also renames the target's tables of the same names (all of
them for a clean restore) to `__bm_old_<hex>_<n>`: the server applies all of
it or none. Then the old tables are dropped and the backup's views, triggers,
routines and events, read from the scratch database, are created in the
target (MySQL cannot move those across databases). Any failure before the
rename drops the scratch database and leaves the target untouched; a
leftover of a killed worker is dropped by the next restore into that target.

Credentials (user, password, host, port) go in a 0600 option file passed
as `--defaults-extra-file`, the first option as the tools require; argv
holds no secret (the swap uses MySQLdb, the password as an argument).
"""

from __future__ import annotations

import hashlib
import re
import secrets
import subprocess
import time
from dataclasses import dataclass, field, replace
from functools import lru_cache
from pathlib import Path
from types import TracebackType
from typing import Any

from apps.engines.base import ConnectionInfo, ConnectionResult, DumpStream, Engine, EngineError, Readable
from apps.engines.process import (
    ProcessDumpStream,
    child_env,
    find_tool,
    private_file,
    remove_files,
    run_with_stdin,
)

_HINT = "install the MariaDB or MySQL client tools"

# MySQL client error codes we turn into plain words.
_ACCESS_DENIED = {1045, 1044, 1698}
_UNKNOWN_DB = 1049
_CANNOT_CONNECT = {2002, 2003, 2005, 2013}


class MySQLEngine(Engine):
    name = "mysql"
    label = "MySQL / MariaDB"
    default_port = 3306
    extension = "sql"
    # mysqldump/mariadb-dump write a header comment block even for an empty database.
    empty_dump_floor = 100
    # Loaded into a scratch database first; the target changes in one RENAME TABLE at the end.
    atomic_restore = True
    restore_scope = (
        "The backup is loaded into a scratch database on the same server first; only when all of it "
        "loaded and its checksum matched do its tables replace the target's tables of the same names, "
        "in one atomic RENAME TABLE (a failure before that changes nothing). The backup's views, "
        "triggers, routines and events are then recreated. Tables that are not in the backup stay as "
        "they are."
    )
    clean_scope = (
        "The backup is loaded into a scratch database first; when it loaded and its checksum matched, "
        "ALL the target's tables and views are replaced by the backup's in one atomic RENAME TABLE "
        "(a failure before that changes nothing), then every trigger, routine and event of the target "
        "is dropped and the backup's are recreated: nothing that is not in the backup remains."
    )

    def dump_command(
        self, conn: ConnectionInfo, defaults_file: Path, tool: str = "mariadb-dump"
    ) -> list[str]:
        """The dump argv: the option file first, then flags, then the one database (no secret in it)."""
        argv = [
            tool,
            f"--defaults-extra-file={defaults_file}",
            "--single-transaction",
            "--routines",
            "--triggers",
            "--events",
            "--hex-blob",
            "--default-character-set=utf8mb4",
            "--no-tablespaces",
        ]
        if _is_oracle_mysql(tool):
            argv.append("--set-gtid-purged=OFF")  # else a GTID server's dump only loads into an empty server
        return [*argv, "--", _database(conn)]

    def restore_command(self, conn: ConnectionInfo, defaults_file: Path, tool: str = "mariadb") -> list[str]:
        """The client argv: reads SQL from stdin into the target database, stops at the first error."""
        return [
            tool,
            f"--defaults-extra-file={defaults_file}",
            "--binary-mode",
            "--default-character-set=utf8mb4",
            "--batch",
            "--",
            _database(conn),
        ]

    def dump(self, conn: ConnectionInfo, *, timeout: int, workdir: Path) -> DumpStream:
        """Start mariadb-dump/mysqldump; its SQL is the stream."""
        tool = find_tool(["mariadb-dump", "mysqldump"], hint=_HINT)
        defaults = defaults_file(conn, workdir, self.default_port)
        try:
            argv = self.dump_command(conn, defaults, tool)
        except BaseException:
            remove_files([defaults])
            raise
        return ProcessDumpStream(
            argv,
            tool=Path(tool).name,
            conn=conn,
            timeout=timeout,
            extension=self.extension,
            cleanup=[defaults],
            describe=_describe,
        )

    def restore(
        self, conn: ConnectionInfo, source: Readable, *, timeout: int, workdir: Path, clean: bool = False
    ) -> str:
        """Load the SQL into a scratch database, then swap its tables into the target in one statement.

        `clean`: the target's tables, views, triggers, routines and events that are not in the backup
        go too. Raises EngineError on any error; before the swap, the target is left untouched.
        """
        tool = find_tool(["mariadb", "mysql"], hint=_HINT)
        target = _database(conn)
        started = time.monotonic()
        with _Admin(conn, timeout) as admin:
            charset, collation = admin.schema_charset(target)
            admin.drop_leftovers(target)
            scratch = scratch_name(target)
            admin.run(f"CREATE DATABASE {_q(scratch)} CHARACTER SET {charset} COLLATE {collation}")
            try:
                defaults = defaults_file(conn, workdir, self.default_port)
                try:
                    output = run_with_stdin(
                        self.restore_command(replace(conn, database_name=scratch), defaults, tool),
                        source,
                        tool=Path(tool).name,
                        conn=conn,
                        timeout=max(1, timeout - (time.monotonic() - started)),
                        describe=_describe,
                    )
                finally:
                    remove_files([defaults])
                _swap(admin, scratch, target, clean=clean)
            finally:
                admin.drop_database(scratch)
        return output

    def create_database(self, conn: ConnectionInfo, timeout: int = 30) -> None:
        """Create the (missing) database of `conn` with the server's default character set."""
        with _Admin(conn, timeout) as admin:
            admin.run(f"CREATE DATABASE {_q(_database(conn))}")

    def check_connection(self, conn: ConnectionInfo, timeout: int) -> ConnectionResult:
        import MySQLdb

        where = f"{conn.host or '127.0.0.1'}:{conn.port or self.default_port}"
        try:
            connection = MySQLdb.connect(
                host=conn.host or "127.0.0.1",
                port=conn.port or self.default_port,
                user=conn.username,
                password=conn.password,
                database=conn.database_name,
                connect_timeout=timeout,
                charset="utf8mb4",
            )
        except MySQLdb.OperationalError as exc:
            code = exc.args[0] if exc.args else None
            if code in _ACCESS_DENIED:
                return ConnectionResult(False, f"Authentication failed for user {conn.username!r}")
            if code == _UNKNOWN_DB:
                return ConnectionResult(False, f"Database {conn.database_name!r} does not exist")
            if code in _CANNOT_CONNECT:
                return ConnectionResult(False, f"Host unreachable: cannot connect to {where}")
            return ConnectionResult(False, f"Connection failed: {exc.args[-1] if exc.args else exc}")
        try:
            cur = connection.cursor()
            cur.execute("SELECT VERSION()")
            version = cur.fetchone()[0]
        finally:
            connection.close()  # type: ignore[no-untyped-call]  # unannotated in types-mysqlclient
        return ConnectionResult(True, "Connected", server_version=str(version))


def _database(conn: ConnectionInfo) -> str:
    if not conn.database_name:
        raise EngineError("mysql: no database name")
    return conn.database_name


def _option_value(value: str) -> str:
    """Quote a value for a MySQL/MariaDB option file.

    Both parsers strip one pair of surrounding quotes and understand \\\\,
    \\n, \\r, \\t; only MariaDB understands an escaped quote, so we pick a
    quote character the value does not contain.
    """
    escaped = value.replace("\\", "\\\\").replace("\n", "\\n").replace("\r", "\\r").replace("\t", "\\t")
    for quote in ('"', "'"):
        if quote not in value:
            return f"{quote}{escaped}{quote}"
    raise EngineError("mysql: a user name or password holding both quote characters cannot be passed safely")


def defaults_file(conn: ConnectionInfo, workdir: Path, default_port: int = 3306) -> Path:
    """A 0600 option file with this connection's [client] settings, password included."""
    lines = [
        "[client]",
        f"host={_option_value(conn.host or '127.0.0.1')}",
        f"port={int(conn.port or default_port)}",
    ]
    if conn.username:
        lines.append(f"user={_option_value(conn.username)}")
    lines.append(f"password={_option_value(conn.password)}")
    return private_file(workdir, ".my-", "\n".join(lines) + "\n", suffix=".cnf")


@lru_cache(maxsize=8)
def _is_oracle_mysql(tool: str) -> bool:
    """True for Oracle MySQL's mysqldump (it knows --set-gtid-purged; MariaDB's does not)."""
    if Path(tool).name == "mariadb-dump":
        return False
    try:
        out = subprocess.run(
            [tool, "--no-defaults", "--version"],
            capture_output=True,
            text=True,
            timeout=10,
            env=child_env(),
            check=False,
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return False
    return "mariadb" not in out.lower()


def _describe(rc: int | None, text: str) -> str | None:
    for line in text.splitlines():
        if "access denied" in line.lower():
            return f"Authentication failed: {line.strip()}"
    return None


# -- the all-or-nothing swap ------------------------------------------------------------

SCRATCH_MARK = "__bm_restore_"
OLD_MARK = "__bm_old_"
_MAX_NAME = 64
_OLD_TABLE = re.compile(r"^__bm_old_[0-9a-f]{8}_\d+$")
_ROUTINE_KINDS = ("PROCEDURE", "FUNCTION")


def _q(name: str) -> str:
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


class _Admin:
    """A MySQLdb connection without a default database, for the steps the client cannot do."""

    def __init__(self, conn: ConnectionInfo, timeout: int) -> None:
        self._conn = conn
        self._timeout = max(1, min(int(timeout), 60))
        self._db: Any = None

    def __enter__(self) -> _Admin:
        import MySQLdb

        try:
            self._db = MySQLdb.connect(
                host=self._conn.host or "127.0.0.1",
                port=self._conn.port or MySQLEngine.default_port,
                user=self._conn.username,
                password=self._conn.password,
                connect_timeout=self._timeout,
                charset="utf8mb4",
                autocommit=True,
            )
        except MySQLdb.Error as exc:
            if exc.args and exc.args[0] in _ACCESS_DENIED:
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
            self.run(f"DROP DATABASE IF EXISTS {_q(name)}", what=f"dropping the scratch database {name}")
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
                self.run("DROP VIEW IF EXISTS " + ", ".join(f"{_q(db)}.{_q(v)}" for v in views))
            if others:
                self.run("DROP TABLE IF EXISTS " + ", ".join(f"{_q(db)}.{_q(t)}" for t in others))
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


def _definitions(admin: _Admin, scratch: str, objects: _Objects) -> list[_Definition]:
    """Read how to recreate the scratch database's non-table objects, in the order they are made."""
    admin.run(f"USE {_q(scratch)}")
    out: list[_Definition] = []
    for name in objects.views:
        row = admin.run(f"SHOW CREATE VIEW {_q(name)}")[0]
        out.append(_Definition("VIEW", name, row[1]))
    for name in objects.triggers:
        row = admin.run(f"SHOW CREATE TRIGGER {_q(name)}")[0]
        out.append(_Definition("TRIGGER", name, row[2], sql_mode=row[1]))
    for kind, name in objects.routines:
        if kind not in _ROUTINE_KINDS:
            raise EngineError(
                f"mysql restore: the backup holds a {kind.lower()} ({name}), which cannot be moved"
            )
        row = admin.run(f"SHOW CREATE {kind} {_q(name)}")[0]
        if row[2] is None:
            raise EngineError(f"mysql restore: cannot read the definition of {kind.lower()} {name}")
        out.append(_Definition(kind, name, row[2], sql_mode=row[1]))
    for name in objects.events:
        row = admin.run(f"SHOW CREATE EVENT {_q(name)}")[0]
        out.append(_Definition("EVENT", name, row[3], sql_mode=row[1], time_zone=row[2]))
    return out


def _swap(admin: _Admin, scratch: str, target: str, *, clean: bool) -> None:
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
            admin.run(f"DROP {definition.kind} IF EXISTS {_q(scratch)}.{_q(definition.name)}")
    token = secrets.token_hex(4)
    old = {name: f"{OLD_MARK}{token}_{i}" for i, name in enumerate(moved_away)}
    pairs = [f"{_q(target)}.{_q(name)} TO {_q(target)}.{_q(old[name])}" for name in moved_away]
    pairs += [f"{_q(scratch)}.{_q(name)} TO {_q(target)}.{_q(name)}" for name in loaded.tables]
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


def _refuse_dangling_keys(admin: _Admin, target: str, existing: _Objects, replaced: set[str]) -> None:
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
    admin: _Admin,
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
        admin.run(f"DROP {kind} IF EXISTS {_q(target)}.{_q(name)}")
    admin.run(f"USE {_q(target)}")
    # A definition naming the scratch database loses that qualifier: the target is the current database.
    scratch_prefix = _q(scratch) + "."
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
