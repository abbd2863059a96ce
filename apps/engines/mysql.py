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
The scratch database and the swap live in apps.engines.mysql_swap.

Credentials (user, password, host, port) go in a 0600 option file passed
as `--defaults-extra-file`, the first option as the tools require; argv
holds no secret (the swap uses MySQLdb, the password as an argument).
"""

from __future__ import annotations

import subprocess
import time
from dataclasses import replace
from functools import lru_cache
from pathlib import Path

from apps.engines.base import ConnectionInfo, ConnectionResult, DumpStream, Engine, EngineError, Readable
from apps.engines.mysql_swap import ACCESS_DENIED, DEFAULT_PORT, Admin, quote_name, scratch_name, swap
from apps.engines.process import (
    ProcessDumpStream,
    child_env,
    find_tool,
    private_file,
    remove_files,
)
from apps.engines.process_feed import run_with_stdin

_HINT = "install the MariaDB or MySQL client tools"

# MySQL client error codes we turn into plain words (ACCESS_DENIED: see mysql_swap).
_UNKNOWN_DB = 1049
_CANNOT_CONNECT = {2002, 2003, 2005, 2013}


class MySQLEngine(Engine):
    name = "mysql"
    label = "MySQL / MariaDB"
    default_port = DEFAULT_PORT
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
        with Admin(conn, timeout) as admin:
            charset, collation = admin.schema_charset(target)
            admin.drop_leftovers(target)
            scratch = scratch_name(target)
            admin.run(f"CREATE DATABASE {quote_name(scratch)} CHARACTER SET {charset} COLLATE {collation}")
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
                swap(admin, scratch, target, clean=clean)
            finally:
                admin.drop_database(scratch)
        return output

    def create_database(self, conn: ConnectionInfo, timeout: int = 30) -> None:
        """Create the (missing) database of `conn` with the server's default character set."""
        with Admin(conn, timeout) as admin:
            admin.run(f"CREATE DATABASE {quote_name(_database(conn))}")

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
            if code in ACCESS_DENIED:
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
