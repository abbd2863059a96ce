"""PostgreSQL: psycopg2 for the connection test; pg_dump / pg_restore for backups.

dump: `pg_dump --format=custom -Z0` (uncompressed: the pipeline compresses
once, faster) to stdout; extension "dump". restore: `pg_restore --clean
--if-exists --no-owner --exit-on-error` reading that archive from stdin
(sequential, so no parallel restore). The password reaches both tools only
through a 0600 PGPASSFILE in the run's workdir; host, port, user and
database go in one libpq connection string (`-d`), so no name can be
mistaken for an option or a connection string.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from apps.engines.base import ConnectionInfo, ConnectionResult, DumpStream, Engine, EngineError, Readable
from apps.engines.process import (
    ProcessDumpStream,
    find_tool,
    private_file,
    remove_files,
)
from apps.engines.process_feed import run_through, run_with_stdin

_HINT = "install the PostgreSQL client tools"


class PostgresEngine(Engine):
    name = "postgresql"
    label = "PostgreSQL"
    default_port = 5432
    extension = "dump"
    # A custom-format archive of an empty database is about 1 KiB (header and TOC).
    empty_dump_floor = 100
    # pg_restore --single-transaction: killed before its input ends, it commits nothing.
    atomic_restore = True
    restore_scope = (
        "Every table, view and other object in the backup is dropped and recreated with the backup's "
        "data, in one transaction (a failure changes nothing). Objects that are not in the backup stay "
        "as they are."
    )
    clean_scope = (
        "Every schema of the target (public included) is dropped with everything in it — tables, views, "
        "functions, types, extensions — and the backup is restored in its place, in one transaction (a "
        "failure changes nothing): nothing that is not in the backup remains."
    )
    # Where Debian/Ubuntu keep versioned client tools when they are not on PATH.
    fallback_globs: tuple[str, ...] = ("/usr/lib/postgresql/*/bin/{tool}",)

    def tool(self, name: str) -> str:
        return find_tool(
            [name], fallback_globs=[g.format(tool=name) for g in self.fallback_globs], hint=_HINT
        )

    def dump_command(self, conn: ConnectionInfo, pg_dump: str = "pg_dump") -> list[str]:
        """The pg_dump argv (no secret in it)."""
        return [pg_dump, "--format=custom", "-Z0", "--no-password", "-d", conninfo(conn, self.default_port)]

    def restore_command(self, conn: ConnectionInfo, pg_restore: str = "pg_restore") -> list[str]:
        """The pg_restore argv (no secret in it); the archive comes on stdin."""
        return [
            pg_restore,
            "--clean",
            "--if-exists",
            "--no-owner",
            "--single-transaction",
            "--exit-on-error",
            "--no-password",
            "-d",
            conninfo(conn, self.default_port),
        ]

    def dump(self, conn: ConnectionInfo, *, timeout: int, workdir: Path) -> DumpStream:
        """Start pg_dump; its custom-format, uncompressed archive is the stream."""
        argv = self.dump_command(conn, self.tool("pg_dump"))
        passfile = pgpass_file(conn, workdir)
        return ProcessDumpStream(
            argv,
            tool="pg_dump",
            conn=conn,
            timeout=timeout,
            extension=self.extension,
            env={"PGPASSFILE": str(passfile)},
            cleanup=[passfile],
            describe=_describe,
        )

    def clean_restore_commands(
        self, conn: ConnectionInfo, pg_restore: str = "pg_restore", psql: str = "psql"
    ) -> tuple[list[str], list[str]]:
        """pg_restore turning the archive (stdin) into SQL, and psql running it in one transaction."""
        return (
            # pg_restore never creates `public` ("initdb creates it"): the prelude gives it back.
            [pg_restore, "--no-owner", "-f", "-"],
            [
                psql,
                "--no-psqlrc",
                "--quiet",
                "--single-transaction",
                "--set=ON_ERROR_STOP=1",
                "--no-password",
                "-d",
                conninfo(conn, self.default_port),
            ],
        )

    def restore(
        self, conn: ConnectionInfo, source: Readable, *, timeout: int, workdir: Path, clean: bool = False
    ) -> str:
        """Stream a custom-format archive into pg_restore; raise EngineError on any error it reports.

        `clean`: in the same transaction, every schema of the target is dropped first (CLEAN_PRELUDE),
        through pg_restore → SQL → psql --single-transaction.
        """
        if clean:
            return self._restore_clean(conn, source, timeout=timeout, workdir=workdir)
        argv = self.restore_command(conn, self.tool("pg_restore"))
        passfile = pgpass_file(conn, workdir)
        try:
            return run_with_stdin(
                argv,
                source,
                tool="pg_restore",
                conn=conn,
                timeout=timeout,
                env={"PGPASSFILE": str(passfile)},
                describe=_describe,
                failed=_restore_reported_error,
            )
        finally:
            remove_files([passfile])

    def _restore_clean(self, conn: ConnectionInfo, source: Readable, *, timeout: int, workdir: Path) -> str:
        producer, consumer = self.clean_restore_commands(conn, self.tool("pg_restore"), self.tool("psql"))
        passfile = pgpass_file(conn, workdir)
        try:
            return run_through(
                producer,
                consumer,
                source,
                prelude=CLEAN_PRELUDE.encode(),
                producer_tool="pg_restore",
                consumer_tool="psql",
                conn=conn,
                timeout=timeout,
                env={"PGPASSFILE": str(passfile)},
                describe=_describe,
            )
        finally:
            remove_files([passfile])

    def create_database(self, conn: ConnectionInfo, timeout: int = 30) -> None:
        """Create the (missing) database of `conn`, owned by the connecting user."""
        import psycopg2
        from psycopg2 import sql

        try:
            connection = psycopg2.connect(
                host=conn.host or "127.0.0.1",
                port=conn.port or self.default_port,
                dbname="postgres",
                user=conn.username,
                password=conn.password,
                connect_timeout=timeout,
                application_name="backupmanager",
            )
        except psycopg2.OperationalError as exc:
            raise EngineError(
                conn.mask(_classify(str(exc), replace(conn, database_name="postgres")))
            ) from None
        try:
            connection.autocommit = True
            with connection.cursor() as cur:
                cur.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(_database_name(conn))))
        except psycopg2.Error as exc:
            raise EngineError(conn.mask(f"postgresql: cannot create the database: {exc}".strip())) from None
        finally:
            connection.close()

    def check_connection(self, conn: ConnectionInfo, timeout: int) -> ConnectionResult:
        import psycopg2

        try:
            connection = psycopg2.connect(
                host=conn.host or "127.0.0.1",
                port=conn.port or self.default_port,
                dbname=conn.database_name,
                user=conn.username,
                password=conn.password,
                connect_timeout=timeout,
                application_name="backupmanager",
            )
        except psycopg2.OperationalError as exc:
            return ConnectionResult(False, _classify(str(exc), conn))
        try:
            with connection.cursor() as cur:
                cur.execute("SELECT version()")
                row = cur.fetchone()
                version = str(row[0]) if row else ""
        finally:
            connection.close()
        return ConnectionResult(True, "Connected", server_version=version.split(" on ")[0])


# Run by psql in the restore's transaction, before the archive's SQL: drop every schema (and all in
# it), then give `public` back with its owner and privileges. Quiet: CASCADE lists what it drops.
CLEAN_PRELUDE = r"""
SET client_min_messages = warning;
DO $bm_clean$
DECLARE
    owner text;
    acl aclitem[];
    item record;
BEGIN
    SELECT nspowner::regrole::text, nspacl INTO owner, acl FROM pg_namespace WHERE nspname = 'public';
    FOR item IN
        SELECT nspname FROM pg_namespace
        WHERE nspname <> 'information_schema' AND nspname NOT LIKE 'pg\_%'
    LOOP
        EXECUTE format('DROP SCHEMA %I CASCADE', item.nspname);
    END LOOP;
    IF owner IS NOT NULL THEN
        EXECUTE format('CREATE SCHEMA public AUTHORIZATION %s', owner);
        FOR item IN SELECT grantee, privilege_type FROM aclexplode(acl) LOOP
            EXECUTE format(
                'GRANT %s ON SCHEMA public TO %s',
                item.privilege_type,
                CASE WHEN item.grantee = 0 THEN 'PUBLIC' ELSE item.grantee::regrole::text END
            );
        END LOOP;
    END IF;
END
$bm_clean$;
RESET client_min_messages;
"""


def _database_name(conn: ConnectionInfo) -> str:
    if not conn.database_name:
        raise EngineError("postgresql: no database name")
    return conn.database_name


def _classify(text: str, conn: ConnectionInfo) -> str:
    lowered = text.lower()
    first = text.strip().splitlines()[-1] if text.strip() else text
    where = f"{conn.host or '127.0.0.1'}:{conn.port or PostgresEngine.default_port}"
    if "password authentication failed" in lowered or "no password supplied" in lowered:
        return f"Authentication failed for user {conn.username!r}"
    if "does not exist" in lowered and "database" in lowered:
        return f"Database {conn.database_name!r} does not exist"
    if "timeout" in lowered or "timed out" in lowered:
        return f"Host unreachable: no answer from {where} within the timeout"
    if "could not translate host name" in lowered:
        return f"Host unreachable: cannot resolve {conn.host!r}"
    if "connection refused" in lowered or "could not connect" in lowered:
        return f"Host unreachable: connection to {where} refused"
    return f"Connection failed: {first}"


def _quote(value: str) -> str:
    """Quote a value for a libpq connection string."""
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def conninfo(conn: ConnectionInfo, default_port: int = 5432) -> str:
    """A libpq connection string without the password."""
    if not conn.database_name:
        raise EngineError("postgresql: no database name")
    parts = {
        "dbname": conn.database_name,
        "host": conn.host or "127.0.0.1",
        "port": str(conn.port or default_port),
        "user": conn.username,
        "application_name": "backupmanager",
    }
    if conn.options.get("sslmode"):
        parts["sslmode"] = str(conn.options["sslmode"])
    return " ".join(f"{key}={_quote(value)}" for key, value in parts.items() if value)


def _pgpass_escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace(":", "\\:")


def pgpass_file(conn: ConnectionInfo, workdir: Path) -> Path:
    """A 0600 password file for this run only (so every field is a wildcard but the password)."""
    if any(c in conn.password for c in "\r\n"):
        raise EngineError("postgresql: the password cannot contain a line break")
    return private_file(workdir, ".pgpass-", f"*:*:*:*:{_pgpass_escape(conn.password)}\n")


def _restore_reported_error(output: str) -> bool:
    return any(line.startswith("pg_restore: error") for line in output.splitlines())


def _describe(rc: int | None, text: str) -> str | None:
    lowered = text.lower()
    if "password authentication failed" in lowered or "no password supplied" in lowered:
        return f"Authentication failed: {_first_error(text)}"
    return None


def _first_error(text: str) -> str:
    for line in text.splitlines():
        if "error" in line.lower() or "fatal" in line.lower():
            return line.strip()
    return text.strip().splitlines()[-1] if text.strip() else ""
