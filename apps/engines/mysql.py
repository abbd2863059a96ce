"""MySQL / MariaDB: MySQLdb for the connection test; mariadb-dump / mysqldump for backups.

dump: `mariadb-dump` (or `mysqldump`) of the one database, without
CREATE DATABASE / USE, so it restores into a database of any name:
`--single-transaction --routines --triggers --events --hex-blob
--default-character-set=utf8mb4 --no-tablespaces`; plain SQL, extension
"sql". restore: the `mariadb` (or `mysql`) client reading that SQL from
stdin with `--binary-mode`; without `--force` it stops at the first error
and exits non-zero, which we report.

Credentials (user, password, host, port) go in a 0600 option file passed
as `--defaults-extra-file`, the first option as the tools require; argv
holds no secret.
"""

from __future__ import annotations

import subprocess
from functools import lru_cache
from pathlib import Path

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
    restore_scope = (
        "Every table in the backup is dropped and recreated with the backup's data (with its views, "
        "routines, triggers and events). Tables that are not in the backup stay as they are. MySQL "
        "cannot undo table changes, so a restore that fails half-way leaves the tables it reached."
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

    def restore(self, conn: ConnectionInfo, source: Readable, *, timeout: int, workdir: Path) -> None:
        """Stream SQL into the mariadb/mysql client; raise EngineError on the first error it reports."""
        tool = find_tool(["mariadb", "mysql"], hint=_HINT)
        defaults = defaults_file(conn, workdir, self.default_port)
        try:
            run_with_stdin(
                self.restore_command(conn, defaults, tool),
                source,
                tool=Path(tool).name,
                conn=conn,
                timeout=timeout,
                describe=_describe,
            )
        finally:
            remove_files([defaults])

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
