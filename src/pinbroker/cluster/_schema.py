"""The shared database's schema and its versioned migrations.

The version lives in ``pinbroker_schema``; ``_MIGRATIONS[n]`` takes a database from version
``n`` to ``n + 1``. A step, once released, never changes: a new schema is a new step. Servers
migrate under a transaction-scoped advisory lock, so several starting at once migrate once; a
server refuses a database whose version is newer than it knows.

Tables (all deadlines and heartbeats use the database's clock, ``clock_timestamp()``, so the
hosts' clocks never need to agree):

- ``servers``: one row per running server: its heartbeat and lease TTL. A server whose
  heartbeat is older than its TTL is dead: its waiters no longer block anyone.
- ``pin_maps``, ``sessions``, ``multiplexer_sessions``: as in the SQLite store.
- ``session_state``: one row per session ever reserved: its fencing counter and holder. These
  rows are the locks every reservation decision takes, in session-name order.
- ``reservations``: held reservations; ``waiters``: queued requests of every server, FIFO by id.
- ``leases`` (active) and ``ended_leases`` (why a lease ended, for error messages).
- ``events`` and ``counters`` (``event_revision``: taken last in a transaction, it orders
  events by commit, so readers see revisions without gaps).

Version 2 adds the functions that make each hot decision one statement (one round trip, and
one commit in autocommit): ``pinbroker_request``, ``pinbroker_attempt``, ``pinbroker_release``,
``pinbroker_withdraw`` (and their helpers ``pinbroker_grant``, ``pinbroker_record``,
``pinbroker_changed``, ``pinbroker_event_owner``). They take the locks in the same global order
as the statements in ``_sql``.
"""

from __future__ import annotations

from typing import Final

from pinbroker.cluster._db import Cursor, Database
from pinbroker.errors import StateDatabaseError

__all__ = ["SCHEMA_VERSION", "migrate"]

_MIGRATION_LOCK: Final = 0x50424B52  # "PBKR"

_V1: Final = (
    """CREATE TABLE pinbroker_schema (
        only_row boolean PRIMARY KEY DEFAULT true CHECK (only_row),
        version integer NOT NULL)""",
    "INSERT INTO pinbroker_schema (version) VALUES (0)",
    """CREATE TABLE servers (
        id bigserial PRIMARY KEY,
        hostname text NOT NULL,
        pid integer NOT NULL,
        address text NOT NULL,
        ttl double precision NOT NULL,
        started timestamptz NOT NULL DEFAULT clock_timestamp(),
        heartbeat timestamptz NOT NULL DEFAULT clock_timestamp())""",
    """CREATE TABLE pin_maps (
        id text PRIMARY KEY,
        position bigserial NOT NULL,
        xml text NOT NULL)""",
    """CREATE TABLE sessions (
        session_name text PRIMARY KEY,
        position bigserial NOT NULL,
        resource_name text NOT NULL,
        channel_list text NOT NULL,
        instrument_type_id text NOT NULL,
        channel_mappings text NOT NULL,
        annotations text NOT NULL)""",
    """CREATE TABLE multiplexer_sessions (
        session_name text PRIMARY KEY,
        position bigserial NOT NULL,
        resource_name text NOT NULL,
        multiplexer_type_id text NOT NULL,
        annotations text NOT NULL)""",
    "CREATE SEQUENCE reservation_ids",
    """CREATE TABLE session_state (
        session_name text PRIMARY KEY,
        fence bigint NOT NULL DEFAULT 0,
        holder bigint)""",
    """CREATE TABLE reservations (
        id bigint PRIMARY KEY,
        session_names text[] NOT NULL,
        owner text NOT NULL,
        annotations text NOT NULL,
        acquired_at double precision NOT NULL,
        lease_id bigint,
        client text NOT NULL,
        fences text NOT NULL,
        server_id bigint,
        held_since timestamptz NOT NULL DEFAULT clock_timestamp())""",
    "CREATE INDEX reservations_lease ON reservations (lease_id) WHERE lease_id IS NOT NULL",
    """CREATE TABLE waiters (
        id bigint PRIMARY KEY,
        server_id bigint NOT NULL,
        session_names text[] NOT NULL,
        owner text NOT NULL,
        annotations text NOT NULL,
        since double precision NOT NULL,
        lease_id bigint,
        client text NOT NULL,
        timeout double precision)""",
    "CREATE INDEX waiters_sessions ON waiters USING gin (session_names)",
    "CREATE INDEX waiters_server ON waiters (server_id)",
    "CREATE SEQUENCE lease_ids",
    """CREATE TABLE leases (
        id bigint PRIMARY KEY,
        ttl double precision NOT NULL,
        identity text NOT NULL,
        granted_at double precision NOT NULL,
        deadline timestamptz NOT NULL)""",
    "CREATE INDEX leases_deadline ON leases (deadline)",
    """CREATE TABLE ended_leases (
        id bigint PRIMARY KEY,
        ttl double precision NOT NULL,
        identity text NOT NULL,
        granted_at double precision NOT NULL,
        state text NOT NULL,
        reason text NOT NULL,
        ended timestamptz NOT NULL DEFAULT clock_timestamp())""",
    """CREATE TABLE events (
        revision bigint PRIMARY KEY,
        time double precision NOT NULL,
        kind text NOT NULL,
        session_names text[] NOT NULL,
        reservation_id bigint,
        owner text,
        reason text NOT NULL)""",
    "CREATE TABLE counters (name text PRIMARY KEY, value bigint NOT NULL)",
    "INSERT INTO counters (name, value) VALUES ('event_revision', 0)",
)

_V2: Final = (
    # Events: numbered from the counter row, taken last; kept to the newest p_keep.
    """CREATE FUNCTION pinbroker_record(p_events jsonb, p_time float8, p_keep bigint)
    RETURNS bigint LANGUAGE plpgsql AS $$
    DECLARE
        n integer := jsonb_array_length(p_events);
        last_revision bigint;
    BEGIN
        IF n = 0 THEN
            RETURN NULL;
        END IF;
        UPDATE counters SET value = value + n WHERE name = 'event_revision'
            RETURNING value INTO last_revision;
        INSERT INTO events (revision, time, kind, session_names, reservation_id, owner, reason)
        SELECT last_revision - n + e.ordinality, p_time, e.value->>'kind',
               ARRAY(SELECT jsonb_array_elements_text(e.value->'names')),
               (e.value->>'rid')::bigint, e.value->>'owner', coalesce(e.value->>'reason', '')
        FROM jsonb_array_elements(p_events) WITH ORDINALITY AS e;
        IF (last_revision - n + 1) / 256 <> (last_revision + 1) / 256 THEN
            DELETE FROM events WHERE revision <= last_revision - p_keep;
        END IF;
        PERFORM pg_notify('pinbroker_events', last_revision::text);
        RETURN last_revision;
    END $$""",
    # The event owner of a reservation or waiter row (as EventOwner's JSON).
    """CREATE FUNCTION pinbroker_event_owner(p_client text, p_owner text)
    RETURNS text LANGUAGE sql IMMUTABLE AS $$
        SELECT jsonb_build_object(
            'peer', coalesce(nullif(p_client::jsonb->>'peer', ''), p_owner),
            'hostname', coalesce(p_client::jsonb->>'hostname', ''),
            'username', coalesce(p_client::jsonb->>'username', ''),
            'pid', p_client::jsonb->'pid')::text
    $$""",
    # Notify the sessions concerned (and withdrawn waiters); "all" when too long.
    """CREATE FUNCTION pinbroker_changed(p_names text[], p_withdrawn jsonb)
    RETURNS void LANGUAGE plpgsql AS $$
    DECLARE
        payload text := jsonb_build_object('s', to_jsonb(p_names), 'w', p_withdrawn)::text;
    BEGIN
        IF octet_length(payload) > 7000 THEN
            payload := 'all';
        END IF;
        PERFORM pg_notify('pinbroker_changed', payload);
    END $$""",
    # Write a grant (rows locked, all free): holders, fences, the reservation; its fences.
    """CREATE FUNCTION pinbroker_grant(
        p_id bigint, p_names text[], p_owner text, p_annotations text, p_now float8,
        p_lease bigint, p_client text, p_server bigint)
    RETURNS jsonb LANGUAGE plpgsql AS $$
    DECLARE
        fences jsonb;
    BEGIN
        WITH granted AS (
            UPDATE session_state SET holder = p_id, fence = fence + 1
            WHERE session_name = ANY(p_names) RETURNING session_name, fence)
        SELECT jsonb_object_agg(session_name, fence) INTO fences FROM granted;
        INSERT INTO reservations (id, session_names, owner, annotations, acquired_at, lease_id,
                                  client, fences, server_id)
        VALUES (p_id, p_names, p_owner, p_annotations, p_now, p_lease, p_client,
                fences::text, p_server);
        RETURN fences;
    END $$""",
    # A new request: granted at once, or queued; 'lease' if its lease is not active.
    """CREATE FUNCTION pinbroker_request(
        p_server bigint, p_names text[], p_owner text, p_annotations text, p_now float8,
        p_lease bigint, p_client text, p_timeout float8, p_keep bigint)
    RETURNS TABLE (outcome text, request_id bigint, fences text, last_revision bigint,
                   reason text)
    LANGUAGE plpgsql AS $$
    DECLARE
        sorted text[] := ARRAY(SELECT DISTINCT n FROM unnest(p_names) AS n ORDER BY 1);
        new_id bigint;
        granted jsonb;
        last bigint;
        ended_state text;
        ended_reason text;
        who text := pinbroker_event_owner(p_client, p_owner);
    BEGIN
        INSERT INTO session_state (session_name) SELECT unnest(sorted) ON CONFLICT DO NOTHING;
        PERFORM 1 FROM session_state WHERE session_name = ANY(sorted)
            ORDER BY session_name FOR UPDATE;
        IF p_lease IS NOT NULL THEN
            PERFORM 1 FROM leases WHERE id = p_lease AND deadline > clock_timestamp() FOR SHARE;
            IF NOT FOUND THEN
                SELECT e.state, e.reason INTO ended_state, ended_reason
                    FROM ended_leases e WHERE e.id = p_lease;
                RETURN QUERY SELECT 'lease'::text, NULL::bigint, NULL::text, NULL::bigint,
                    CASE WHEN ended_state IS NULL
                         THEN 'is not active: it expired or was revoked'
                         ELSE ended_state || ': ' || ended_reason END;
                RETURN;
            END IF;
        END IF;
        new_id := nextval('reservation_ids');
        IF NOT EXISTS (SELECT 1 FROM session_state
                       WHERE session_name = ANY(sorted) AND holder IS NOT NULL)
           AND NOT EXISTS (SELECT 1 FROM waiters w JOIN servers s ON s.id = w.server_id
                           WHERE w.id < new_id AND w.session_names && sorted
                           AND s.heartbeat > clock_timestamp() - make_interval(secs => s.ttl))
        THEN
            granted := pinbroker_grant(new_id, p_names, p_owner, p_annotations, p_now, p_lease,
                                       p_client, p_server);
            last := pinbroker_record(jsonb_build_array(jsonb_build_object(
                'kind', 'reserved', 'names', to_jsonb(p_names), 'rid', new_id,
                'owner', who)), p_now, p_keep);
            RETURN QUERY SELECT 'granted'::text, new_id, granted::text, last, NULL::text;
            RETURN;
        END IF;
        INSERT INTO waiters (id, server_id, session_names, owner, annotations, since, lease_id,
                             client, timeout)
        VALUES (new_id, p_server, p_names, p_owner, p_annotations, p_now, p_lease, p_client,
                p_timeout);
        last := pinbroker_record(jsonb_build_array(jsonb_build_object(
            'kind', 'queued', 'names', to_jsonb(p_names), 'rid', new_id, 'owner', who,
            'reason', p_owner)), p_now, p_keep);
        RETURN QUERY SELECT 'queued'::text, new_id, NULL::text, last, NULL::text;
    END $$""",
    # Try a queued request again: 'granted', 'waiting' or 'withdrawn' (its row is gone).
    """CREATE FUNCTION pinbroker_attempt(
        p_id bigint, p_server bigint, p_names text[], p_owner text, p_annotations text,
        p_now float8, p_lease bigint, p_client text, p_keep bigint)
    RETURNS TABLE (outcome text, fences text, last_revision bigint)
    LANGUAGE plpgsql AS $$
    DECLARE
        sorted text[] := ARRAY(SELECT DISTINCT n FROM unnest(p_names) AS n ORDER BY 1);
        granted jsonb;
        last bigint;
    BEGIN
        PERFORM 1 FROM session_state WHERE session_name = ANY(sorted)
            ORDER BY session_name FOR UPDATE;
        PERFORM 1 FROM waiters WHERE id = p_id FOR UPDATE;
        IF NOT FOUND THEN
            RETURN QUERY SELECT 'withdrawn'::text, NULL::text, NULL::bigint;
            RETURN;
        END IF;
        IF EXISTS (SELECT 1 FROM session_state
                   WHERE session_name = ANY(sorted) AND holder IS NOT NULL)
           OR EXISTS (SELECT 1 FROM waiters w JOIN servers s ON s.id = w.server_id
                      WHERE w.id < p_id AND w.session_names && sorted
                      AND s.heartbeat > clock_timestamp() - make_interval(secs => s.ttl))
        THEN
            RETURN QUERY SELECT 'waiting'::text, NULL::text, NULL::bigint;
            RETURN;
        END IF;
        IF p_lease IS NOT NULL THEN
            PERFORM 1 FROM leases WHERE id = p_lease AND deadline > clock_timestamp() FOR SHARE;
            IF NOT FOUND THEN  -- its lease ended: the lease's end withdraws it
                RETURN QUERY SELECT 'waiting'::text, NULL::text, NULL::bigint;
                RETURN;
            END IF;
        END IF;
        DELETE FROM waiters WHERE id = p_id;
        granted := pinbroker_grant(p_id, p_names, p_owner, p_annotations, p_now, p_lease,
                                   p_client, p_server);
        last := pinbroker_record(jsonb_build_array(jsonb_build_object(
            'kind', 'reserved', 'names', to_jsonb(p_names), 'rid', p_id,
            'owner', pinbroker_event_owner(p_client, p_owner))), p_now, p_keep);
        RETURN QUERY SELECT 'granted'::text, granted::text, last;
    END $$""",
    # Free each named session held by the given reservation and fence (NULL: by anyone);
    # "refused": those held under another reservation or fence (stale tokens).
    """CREATE FUNCTION pinbroker_release(
        p_names text[], p_by bigint[], p_fence bigint[], p_kind text, p_reason text,
        p_now float8, p_keep bigint)
    RETURNS TABLE (released text[], last_revision bigint, recorded jsonb, refused text[])
    LANGUAGE plpgsql AS $$
    DECLARE
        sorted text[] := ARRAY(SELECT DISTINCT n FROM unnest(p_names) AS n ORDER BY 1);
        held text[];
        stale text[];
        happened jsonb := '[]'::jsonb;
        lost record;
        remaining text[];
        last bigint;
    BEGIN
        PERFORM 1 FROM session_state WHERE session_name = ANY(sorted)
            ORDER BY session_name FOR UPDATE;
        SELECT array_agg(w.name ORDER BY w.position) FILTER (WHERE w.by_id IS NULL
                   OR (s.holder = w.by_id AND (w.fence IS NULL OR s.fence = w.fence))),
               array_agg(w.name ORDER BY w.position) FILTER (WHERE w.by_id IS NOT NULL
                   AND NOT (s.holder = w.by_id AND (w.fence IS NULL OR s.fence = w.fence)))
            INTO held, stale
        FROM unnest(p_names, p_by, p_fence) WITH ORDINALITY AS w(name, by_id, fence, position)
        JOIN session_state s ON s.session_name = w.name
        WHERE s.holder IS NOT NULL;
        IF held IS NULL THEN
            RETURN QUERY SELECT ARRAY[]::text[], NULL::bigint, '[]'::jsonb,
                                coalesce(stale, ARRAY[]::text[]);
            RETURN;
        END IF;
        FOR lost IN
            SELECT r.id, r.session_names, r.owner, r.client,
                   array_agg(h.name ORDER BY h.position) AS names
            FROM unnest(held) WITH ORDINALITY AS h(name, position)
            JOIN session_state s ON s.session_name = h.name
            JOIN reservations r ON r.id = s.holder
            GROUP BY r.id ORDER BY r.id
        LOOP
            remaining := ARRAY(SELECT x FROM unnest(lost.session_names) WITH ORDINALITY AS k(x, i)
                               WHERE NOT x = ANY(lost.names) ORDER BY i);
            IF cardinality(remaining) > 0 THEN
                UPDATE reservations SET session_names = remaining WHERE id = lost.id;
            ELSE
                DELETE FROM reservations WHERE id = lost.id;
            END IF;
            happened := happened || jsonb_build_array(jsonb_build_object(
                'kind', p_kind, 'names', to_jsonb(lost.names), 'rid', lost.id,
                'owner', pinbroker_event_owner(lost.client, lost.owner), 'reason', p_reason));
        END LOOP;
        UPDATE session_state SET holder = NULL WHERE session_name = ANY(held);
        last := pinbroker_record(happened, p_now, p_keep);
        PERFORM pinbroker_changed(held, '{}'::jsonb);
        RETURN QUERY SELECT held, last, happened, coalesce(stale, ARRAY[]::text[]);
    END $$""",
    # Withdraw a queued request (timed out, cancelled): its event's revision, NULL if gone.
    """CREATE FUNCTION pinbroker_withdraw(
        p_id bigint, p_kind text, p_reason text, p_now float8, p_keep bigint)
    RETURNS bigint LANGUAGE plpgsql AS $$
    DECLARE
        gone record;
        last bigint;
    BEGIN
        DELETE FROM waiters WHERE id = p_id
            RETURNING session_names, owner, client INTO gone;
        IF NOT FOUND THEN
            RETURN NULL;
        END IF;
        last := pinbroker_record(jsonb_build_array(jsonb_build_object(
            'kind', p_kind, 'names', to_jsonb(gone.session_names), 'rid', p_id,
            'owner', pinbroker_event_owner(gone.client, gone.owner), 'reason', p_reason)),
            p_now, p_keep);
        PERFORM pinbroker_changed(gone.session_names, '{}'::jsonb);
        RETURN last;
    END $$""",
)

_MIGRATIONS: Final[tuple[tuple[str, ...], ...]] = (_V1, _V2)
"""``_MIGRATIONS[n]``: the statements that take the schema from version ``n`` to ``n + 1``."""

SCHEMA_VERSION: Final = len(_MIGRATIONS)
"""The schema version this pinbroker writes."""


def migrate(database: Database) -> int:
    """Bring the database up to :data:`SCHEMA_VERSION` in one transaction; return the old version.

    Raises:
        StateDatabaseError: If the database's schema is newer than this pinbroker knows, or
            it holds tables that are not pinbroker's under its names.
    """

    def work(cursor: Cursor) -> int:
        cursor.execute("SELECT pg_advisory_xact_lock(%s)", (_MIGRATION_LOCK,))
        found = _version(cursor)
        if found > SCHEMA_VERSION:
            raise StateDatabaseError(
                f"database {database.display} has pinbroker schema version {found}, newer than "
                f"the {SCHEMA_VERSION} this pinbroker knows: upgrade pinbroker"
            )
        for version in range(found, SCHEMA_VERSION):
            for statement in _MIGRATIONS[version]:
                cursor.execute(statement.encode())
            cursor.execute("UPDATE pinbroker_schema SET version = %s", (version + 1,))
        return found

    return database.run(work)


def _version(cursor: Cursor) -> int:
    cursor.execute("SELECT to_regclass('pinbroker_schema') IS NOT NULL")
    row = cursor.fetchone()
    if row is None or not row[0]:
        cursor.execute("SELECT to_regclass('servers') IS NOT NULL")
        other = cursor.fetchone()
        if other is not None and other[0]:
            raise StateDatabaseError(
                "the database has a table 'servers' but no pinbroker schema: it is not "
                "pinbroker's; give pinbroker a database of its own"
            )
        return 0
    cursor.execute("SELECT version FROM pinbroker_schema")
    version = cursor.fetchone()
    return 0 if version is None else int(version[0])
