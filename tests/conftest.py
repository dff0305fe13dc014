"""Fixtures shared by every tier.

No test outside the corpus walks (``tests/unit/pinmap``, which locate NI's pin maps themselves
and skip when ``../shared`` is absent) reads files outside this repository: the pin maps the
integration tests use live in ``tests/data/``.

PostgreSQL (``tests/_postgres.py`` says where the server comes from): ``postgres_url`` is a fresh
database for the test, ``make_postgres_url()`` makes more, ``restart_postgres()`` restarts the
local cluster (``postgres_cluster`` also stops and starts it). Tests using them are marked
``postgres`` automatically; without a server they are skipped, or fail when ``CI`` is set.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

import _postgres

POSTGRES_FIXTURES = frozenset(
    {"postgres_url", "make_postgres_url", "postgres_cluster", "restart_postgres"}
)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark the tests that use a PostgreSQL fixture ``postgres`` (``-m "not postgres"``)."""
    for item in items:
        if POSTGRES_FIXTURES.intersection(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.postgres)


@pytest.fixture
def make_postgres_url() -> Iterator[Callable[[], str]]:
    """Make fresh databases: each call returns ``postgresql://USER:PASSWORD@127.0.0.1:PORT/DB``.

    Each database has a random name and is owned by a login role of its own with a random
    password. At the end of the test, leftover connections are terminated and every database
    made is dropped with its role.
    """
    made: list[_postgres.TestDatabase] = []

    def make() -> str:
        try:
            database = _postgres.create_database()
        except _postgres.PostgresUnavailable as exc:
            _postgres.unavailable(str(exc))
        made.append(database)
        return database.url

    yield make
    for database in reversed(made):
        _postgres.drop_database(database)


@pytest.fixture
def postgres_url(make_postgres_url: Callable[[], str]) -> str:
    """A fresh, empty database for this test: ``postgresql://USER:PASSWORD@127.0.0.1:PORT/DB``.

    Dropped (with its role) after the test; see ``make_postgres_url``.
    """
    return make_postgres_url()


@pytest.fixture
def postgres_cluster() -> Iterator[_postgres.LocalCluster]:
    """The local Debian cluster, to ``stop()``, ``start()`` or ``restart()`` from the test.

    Started again after the test if the test left it stopped. Skips the test (fails it when
    ``CI`` is set) unless the server is the local Debian cluster.
    """
    cluster = _postgres.require_local_cluster()
    yield cluster
    if not cluster.is_online():
        cluster.start()


@pytest.fixture
def restart_postgres(postgres_cluster: _postgres.LocalCluster) -> Callable[[], None]:
    """Restart the local PostgreSQL cluster: open connections break, new ones work on return.

    Skips the test (fails it when ``CI`` is set) unless the server is the local Debian cluster.
    """
    return postgres_cluster.restart
