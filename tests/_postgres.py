"""A real PostgreSQL for the tests: find the server, make throwaway databases, restart it.

The server is found in this order:

1. ``PINBROKER_TEST_POSTGRES``: an admin conninfo or URL (a superuser, or a role that may create
   databases and roles and is a member of the roles it creates), e.g.
   ``postgresql://postgres:secret@db.example:5432/postgres``;
2. else the local cluster over its Unix socket in ``/var/run/postgresql``, as the current OS user
   (peer authentication) on database ``postgres``. As root after
   ``apt-get install postgresql``, ``bash scripts/postgres-up`` starts the cluster and makes the
   ``root`` role; ``.ci/run`` does that.

Each test database is fresh: a random name, owned by a login role of its own with a random
password that alone may connect to it, reached over TCP like a real ``pinbroker serve
--database`` would, and dropped with the role at the end of the test. When no server answers,
the tests that need one are skipped with ``PostgreSQL not available: <why>``, except when ``CI``
is set: then they fail, so CI never skips them silently.

The local cluster (Debian's ``pg_ctlcluster``) can be stopped, started and restarted from a test,
for database outage tests; that is only possible when the server is that local cluster.
"""

from __future__ import annotations

import contextlib
import dataclasses
import getpass
import os
import secrets
import shutil
import subprocess
from collections.abc import Iterator
from typing import NoReturn
from urllib.parse import quote

import psycopg
import pytest
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict, make_conninfo

ADMIN_ENV = "PINBROKER_TEST_POSTGRES"
"""The environment variable naming the admin conninfo (else the local Unix socket is used)."""

SOCKET_DIR = "/var/run/postgresql"
"""Where Debian's PostgreSQL puts its Unix socket."""

NAME_PREFIX = "pinbroker_test_"
"""Every test database and role is named ``NAME_PREFIX`` and 16 random hex digits."""

CONNECT_TIMEOUT = 5
"""Seconds to wait for the admin connection (an unreachable host must not hang the suite)."""


class PostgresUnavailable(Exception):
    """No PostgreSQL server answers (or it cannot do what the tests need); ``str`` says why."""


@dataclasses.dataclass(frozen=True)
class TestDatabase:
    """A throwaway database and the login role that owns it."""

    __test__ = False  # not a test class, despite its name

    name: str
    user: str
    password: str
    host: str
    port: int

    @property
    def url(self) -> str:
        """``postgresql://USER:PASSWORD@HOST:PORT/DB``."""
        return (
            f"postgresql://{quote(self.user, safe='')}:{quote(self.password, safe='')}"
            f"@{self.host}:{self.port}/{quote(self.name, safe='')}"
        )


def in_ci() -> bool:
    """Whether ``CI`` is set to something true (``CI=true``, as CI services and ``.ci/run`` do)."""
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


def unavailable(reason: str) -> NoReturn:
    """Skip the test because PostgreSQL is not available; fail it instead when in CI."""
    if in_ci():
        pytest.fail(f"PostgreSQL not available (CI is set, so this fails): {reason}", pytrace=False)
    pytest.skip(f"PostgreSQL not available: {reason}")


def admin_conninfo() -> str:
    """The admin conninfo: ``PINBROKER_TEST_POSTGRES``, else the local socket as this user."""
    configured = os.environ.get(ADMIN_ENV, "").strip()
    if configured:
        return configured
    return make_conninfo(host=SOCKET_DIR, dbname="postgres", user=getpass.getuser())


def _describe(conninfo: str) -> str:
    """Where ``conninfo`` points, without its password, for messages."""
    try:
        params = conninfo_to_dict(conninfo)
    except psycopg.ProgrammingError as exc:
        return f"unparsable {ADMIN_ENV} ({exc})"
    host = params.get("host") or "(default socket)"
    port = params.get("port") or "(default port)"
    user = params.get("user") or "(default user)"
    return f"host {host} port {port} user {user} database {params.get('dbname', '(default)')}"


def postgres_admin() -> psycopg.Connection[tuple[object, ...]]:
    """Open an autocommit admin connection to the test server; close it after use.

    Raises:
        PostgresUnavailable: no server answers at :func:`admin_conninfo`, or it refuses us.
    """
    conninfo = admin_conninfo()
    try:
        return psycopg.connect(conninfo, autocommit=True, connect_timeout=CONNECT_TIMEOUT)
    except psycopg.Error as exc:
        first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise PostgresUnavailable(f"{_describe(conninfo)}: {first_line}") from exc


def _is_socket(host: str | None) -> bool:
    return not host or host.startswith("/") or host.startswith("@")


def create_database() -> TestDatabase:
    """Create a fresh database owned by a fresh login role with a random password.

    The database is reached over TCP: at ``127.0.0.1`` and the cluster's port (``SHOW port``) when
    the admin connection uses the local Unix socket, else at the admin connection's host and port.

    Raises:
        PostgresUnavailable: no server answers, or the admin role may not create them.
    """
    token = secrets.token_hex(8)
    database = f"{NAME_PREFIX}{token}"
    password = secrets.token_hex(16)
    with postgres_admin() as admin:
        if _is_socket(admin.info.host):
            row = admin.execute("SHOW port").fetchone()
            assert row is not None
            host, port = "127.0.0.1", int(str(row[0]))
        else:
            host, port = admin.info.host, admin.info.port
        try:
            admin.execute(
                sql.SQL("CREATE ROLE {} LOGIN PASSWORD {}").format(
                    sql.Identifier(database), sql.Literal(password)
                )
            )
            admin.execute(
                sql.SQL("CREATE DATABASE {} OWNER {}").format(
                    sql.Identifier(database), sql.Identifier(database)
                )
            )
            # Only its owner may connect (PostgreSQL grants CONNECT to PUBLIC by default).
            admin.execute(
                sql.SQL("REVOKE CONNECT ON DATABASE {} FROM PUBLIC").format(
                    sql.Identifier(database)
                )
            )
        except psycopg.Error as exc:
            with contextlib.suppress(psycopg.Error):
                admin.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(database)))
            who = admin.info.user
            raise PostgresUnavailable(f"role {who} cannot create a test database: {exc}") from exc
    return TestDatabase(name=database, user=database, password=password, host=host, port=port)


def drop_database(database: TestDatabase) -> None:
    """Terminate the connections to ``database`` and of its role, then drop both.

    If the local cluster was left stopped (by a test that stopped it), it is started first.
    """
    try:
        admin = postgres_admin()
    except PostgresUnavailable:
        cluster = local_cluster()
        if cluster is None or cluster.is_online():
            raise
        cluster.start()
        admin = postgres_admin()
    with admin:
        admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
            " WHERE (datname = %s OR usename = %s) AND pid <> pg_backend_pid()",
            (database.name, database.user),
        )
        admin.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(database.name))
        )
        admin.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(database.user)))


def database_exists(name: str) -> bool:
    """Whether a database called ``name`` exists on the test server."""
    with postgres_admin() as admin:
        row = admin.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone()
    return row is not None


@contextlib.contextmanager
def temporary_database() -> Iterator[TestDatabase]:
    """A fresh :class:`TestDatabase`, dropped on exit; skips the test (fails it in CI) if none."""
    try:
        database = create_database()
    except PostgresUnavailable as exc:
        unavailable(str(exc))
    try:
        yield database
    finally:
        drop_database(database)


@dataclasses.dataclass(frozen=True)
class LocalCluster:
    """The local Debian cluster (``pg_ctlcluster VERSION NAME``) the tests connect to."""

    version: str
    name: str
    port: int

    def _ctl(self, action: str) -> None:
        result = subprocess.run(
            ["pg_ctlcluster", self.version, self.name, action],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        if result.returncode != 0:
            output = (result.stderr or result.stdout).strip()
            raise RuntimeError(
                f"pg_ctlcluster {self.version} {self.name} {action} failed"
                f" (exit {result.returncode}): {output}"
            )

    def stop(self) -> None:
        """Stop the cluster (fast shutdown: open connections are cut); returns once it is down."""
        self._ctl("stop")

    def start(self) -> None:
        """Start the cluster; returns once it accepts connections."""
        self._ctl("start")

    def restart(self) -> None:
        """Restart the cluster: every open connection breaks; new ones work on return."""
        self._ctl("restart")

    def is_online(self) -> bool:
        """Whether ``pg_lsclusters`` reports the cluster as online."""
        row = _lsclusters().get((self.version, self.name))
        return row is not None and row[1].startswith("online")


def _lsclusters() -> dict[tuple[str, str], tuple[int, str]]:
    """``pg_lsclusters``: (version, name) -> (port, status)."""
    result = subprocess.run(
        ["pg_lsclusters", "--no-header"], capture_output=True, text=True, timeout=30, check=False
    )
    clusters: dict[tuple[str, str], tuple[int, str]] = {}
    for line in result.stdout.splitlines():
        fields = line.split()
        if len(fields) >= 4 and fields[2].isdigit():
            clusters[(fields[0], fields[1])] = (int(fields[2]), fields[3])
    return clusters


def local_cluster() -> LocalCluster | None:
    """The local cluster the tests use, or ``None`` when they use another server.

    The tests use the local cluster when ``PINBROKER_TEST_POSTGRES`` is unset (they connect to
    its Unix socket) and Debian's ``pg_ctlcluster`` is installed. The socket's port is the
    default port 5432, so the cluster is the one on that port.
    """
    if os.environ.get(ADMIN_ENV, "").strip():
        return None
    if shutil.which("pg_ctlcluster") is None or shutil.which("pg_lsclusters") is None:
        return None
    port = int(os.environ.get("PGPORT", "5432"))
    for (version, name), (cluster_port, _status) in sorted(_lsclusters().items()):
        if cluster_port == port:
            return LocalCluster(version=version, name=name, port=port)
    return None


def require_local_cluster() -> LocalCluster:
    """The local cluster; skips the test (fails it in CI) when there is none to control."""
    cluster = local_cluster()
    if cluster is None:
        if os.environ.get(ADMIN_ENV, "").strip():
            unavailable(f"{ADMIN_ENV} is set, so the server is not a local cluster to restart")
        unavailable(
            "no local Debian PostgreSQL cluster (pg_ctlcluster, pg_lsclusters) on port 5432"
        )
    try:
        with postgres_admin():
            pass
    except PostgresUnavailable as exc:
        unavailable(str(exc))
    return cluster


def restart_postgres() -> None:
    """Restart the local PostgreSQL cluster; skips the test (fails it in CI) if not local.

    Every open connection breaks; when this returns, new connections work.
    """
    require_local_cluster().restart()
