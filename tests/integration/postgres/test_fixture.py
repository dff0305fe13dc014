"""The PostgreSQL test fixtures themselves: real databases, isolated, dropped, restartable."""

from __future__ import annotations

import re
from collections.abc import Callable
from urllib.parse import urlsplit

import psycopg
import pytest

import _postgres

URL = re.compile(r"postgresql://(\w+):(\w+)@127\.0\.0\.1:(\d+)/(\w+)")


def test_url_has_the_documented_form_and_connects_as_the_owner(postgres_url: str) -> None:
    if _postgres.local_cluster() is not None:  # a remote PINBROKER_TEST_POSTGRES has its own host
        match = URL.fullmatch(postgres_url)
        assert match, postgres_url
        user, _password, _port, database = match.groups()
    else:
        parts = urlsplit(postgres_url)
        user, database = parts.username, parts.path.lstrip("/")
    with psycopg.connect(postgres_url, connect_timeout=5) as conn:
        row = conn.execute(
            "SELECT current_user, current_database(),"
            " (SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = current_database()),"
            " inet_server_addr() IS NOT NULL"
        ).fetchone()
    assert row == (user, database, user, True)  # over TCP, as the database's owner


def test_database_is_empty_and_the_owner_can_create_tables(postgres_url: str) -> None:
    with psycopg.connect(postgres_url, connect_timeout=5) as conn:
        count = conn.execute(
            "SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
            " WHERE n.nspname NOT IN ('pg_catalog', 'information_schema')"
            " AND n.nspname NOT LIKE 'pg_toast%'"
        ).fetchone()
        assert count == (0,)
        conn.execute("CREATE TABLE t (x int)")
        conn.execute("INSERT INTO t VALUES (1)")
        assert conn.execute("SELECT x FROM t").fetchall() == [(1,)]


def test_each_database_is_separate(postgres_url: str, make_postgres_url: Callable[[], str]) -> None:
    other_url = make_postgres_url()
    assert urlsplit(other_url).path != urlsplit(postgres_url).path
    assert urlsplit(other_url).username != urlsplit(postgres_url).username
    with psycopg.connect(postgres_url, connect_timeout=5) as conn:
        conn.execute("CREATE TABLE only_here (x int)")
    with psycopg.connect(other_url, connect_timeout=5) as conn:
        row = conn.execute("SELECT to_regclass('only_here') IS NULL").fetchone()
    assert row == (True,)


def test_role_cannot_reach_another_test_database(make_postgres_url: Callable[[], str]) -> None:
    first, second = make_postgres_url(), make_postgres_url()
    crossed = urlsplit(first)._replace(path=urlsplit(second).path).geturl()
    with pytest.raises(psycopg.OperationalError), psycopg.connect(crossed, connect_timeout=5):
        pass  # first's role on second's database: only the owner has CONNECT


@pytest.mark.postgres
def test_database_and_role_are_dropped_afterwards_even_with_open_connections() -> None:
    with _postgres.temporary_database() as database:
        leftover = psycopg.connect(database.url, connect_timeout=5)
        assert _postgres.database_exists(database.name)
    try:
        assert not _postgres.database_exists(database.name)
        with _postgres.postgres_admin() as admin:
            role = admin.execute(
                "SELECT 1 FROM pg_roles WHERE rolname = %s", (database.user,)
            ).fetchone()
        assert role is None
        with pytest.raises(psycopg.OperationalError):
            leftover.execute("SELECT 1")  # it was terminated
    finally:
        leftover.close()


def test_restart_breaks_open_connections_and_new_ones_work(
    postgres_url: str, restart_postgres: Callable[[], None]
) -> None:
    with psycopg.connect(postgres_url, connect_timeout=5) as before:
        assert before.execute("SELECT 1").fetchone() == (1,)
        restart_postgres()
        with pytest.raises(psycopg.OperationalError):
            before.execute("SELECT 1")
    with psycopg.connect(postgres_url, connect_timeout=5) as after:
        assert after.execute("SELECT 1").fetchone() == (1,)


def test_unavailable_skips_outside_ci_and_fails_in_ci(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception, match="PostgreSQL not available: why"):
        _postgres.unavailable("why")
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="CI is set"):
        _postgres.unavailable("why")


def test_an_unreachable_server_is_reported_as_unavailable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(_postgres.ADMIN_ENV, "postgresql://nobody:secret@127.0.0.1:1/postgres")
    with pytest.raises(_postgres.PostgresUnavailable, match="port 1 user nobody") as caught:
        _postgres.postgres_admin()
    assert "secret" not in str(caught.value)
