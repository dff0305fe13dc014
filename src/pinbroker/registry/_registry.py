"""The registry of open sessions and multiplexer sessions, two separate name spaces.

Each call is all-or-nothing: it is validated in full, then written to the store in one
transaction, and only then applied in memory, all under the registry's lock. A store that
fails therefore changes nothing, and the store sees changes in the registry's order.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Sequence
from typing import Generic, Protocol, TypeVar

from pinbroker.errors import InvalidSessionError, SessionAlreadyRegisteredError
from pinbroker.registry._records import MultiplexerRecord, SessionRecord
from pinbroker.types import SessionName

__all__ = ["RegistryStore", "SessionRegistry", "SessionRegistryLike"]


class RegistryStore(Protocol):
    """The part of ``pinbroker.store.Store`` the registries write through."""

    def add_sessions(self, records: Sequence[SessionRecord]) -> None:
        """Persist new sessions in one transaction."""
        ...

    def remove_sessions(self, session_names: Sequence[SessionName]) -> None:
        """Forget sessions in one transaction; unknown names are ignored."""
        ...

    def load_sessions(self) -> list[SessionRecord]:
        """Return every persisted session in registration order."""
        ...

    def add_multiplexer_sessions(self, records: Sequence[MultiplexerRecord]) -> None:
        """Persist new multiplexer sessions in one transaction."""
        ...

    def remove_multiplexer_sessions(self, session_names: Sequence[SessionName]) -> None:
        """Forget multiplexer sessions in one transaction; unknown names are ignored."""
        ...

    def load_multiplexer_sessions(self) -> list[MultiplexerRecord]:
        """Return every persisted multiplexer session in registration order."""
        ...


_R = TypeVar("_R", SessionRecord, MultiplexerRecord)


class _Registry(Generic[_R]):
    """Records keyed by session name; thread-safe; writes through to a store first."""

    def __init__(
        self,
        kind: str,
        records: Iterable[_R],
        add: Callable[[Sequence[_R]], None] | None,
        remove: Callable[[Sequence[SessionName]], None] | None,
    ) -> None:
        self._kind = kind
        self._lock = threading.Lock()
        self._records: dict[SessionName, _R] = {r.session_name: r for r in records}
        self._add: Callable[[Sequence[_R]], None] | None = add
        self._remove: Callable[[Sequence[SessionName]], None] | None = remove

    def register(self, records: Iterable[_R]) -> None:
        batch = list(records)
        for index, record in enumerate(batch):
            if not record.session_name:
                raise InvalidSessionError(
                    f"{self._kind} {index + 1} of {len(batch)} has an empty name "
                    f"(resource '{record.resource_name}')"
                )
        with self._lock:
            seen: set[SessionName] = set()
            for record in batch:
                if record.session_name in self._records or record.session_name in seen:
                    raise SessionAlreadyRegisteredError(record.session_name, kind=self._kind)
                seen.add(record.session_name)
            if not batch:
                return
            if self._add is not None:
                self._add(batch)
            self._records.update((r.session_name, r) for r in batch)

    def unregister(self, session_names: Iterable[str]) -> tuple[_R, ...]:
        with self._lock:
            known = [
                SessionName(name)
                for name in dict.fromkeys(session_names)
                if SessionName(name) in self._records
            ]
            if not known:
                return ()
            if self._remove is not None:
                self._remove(known)
            return tuple(self._records.pop(name) for name in known)

    def get(self, session_name: str) -> _R | None:
        with self._lock:
            return self._records.get(SessionName(session_name))

    def is_registered(self, session_name: str) -> bool:
        with self._lock:
            return SessionName(session_name) in self._records

    def values(self) -> tuple[_R, ...]:
        with self._lock:
            return tuple(self._records.values())


class SessionRegistry:
    """Registered instrument sessions and multiplexer sessions, in two separate name spaces.

    Thread-safe (one lock per name space). Registration is independent of reservation.
    Instrument sessions: RegisterSessions / UnregisterSessions / GetAllRegisteredSessions;
    multiplexer sessions: the ``*_multiplexer*`` methods (RegisterMultiplexerSessions, ...).
    """

    def __init__(self, store: RegistryStore | None = None) -> None:
        """Create the registry, loading what the store holds.

        Args:
            store: Where registrations are persisted; None keeps them in memory only.
        """
        self._sessions: _Registry[SessionRecord] = _Registry(
            "session",
            store.load_sessions() if store is not None else (),
            store.add_sessions if store is not None else None,
            store.remove_sessions if store is not None else None,
        )
        self._multiplexers: _Registry[MultiplexerRecord] = _Registry(
            "multiplexer session",
            store.load_multiplexer_sessions() if store is not None else (),
            store.add_multiplexer_sessions if store is not None else None,
            store.remove_multiplexer_sessions if store is not None else None,
        )

    # ------------------------------------------------------------------ instrument sessions

    def register(self, records: Iterable[SessionRecord]) -> None:
        """Register instrument sessions, all or none.

        Args:
            records: Sessions to register, each under its ``session_name``.

        Raises:
            InvalidSessionError: If a session name is empty; nothing is registered.
            SessionAlreadyRegisteredError: If a name is registered already or appears twice in
                ``records``; nothing is registered.
            Exception: Whatever the store raised; nothing is registered.
        """
        self._sessions.register(records)

    def unregister(self, session_names: Iterable[str]) -> tuple[SessionRecord, ...]:
        """Unregister instrument sessions by name; names not registered are ignored.

        Args:
            session_names: Sessions to unregister.

        Returns:
            The records removed, in the order given.

        Raises:
            Exception: Whatever the store raised; nothing is unregistered.
        """
        return self._sessions.unregister(session_names)

    def get(self, session_name: str) -> SessionRecord | None:
        """Return the registered instrument session of that name, or None."""
        return self._sessions.get(session_name)

    def is_registered(self, session_name: str) -> bool:
        """Return whether an instrument session of that name is registered."""
        return self._sessions.is_registered(session_name)

    def registered_among(self, session_names: Iterable[str]) -> frozenset[SessionName]:
        """Return those of the names that are registered instrument sessions (one look-up)."""
        return frozenset(
            SessionName(name) for name in session_names if self._sessions.is_registered(name)
        )

    def multiplexers_among(
        self, session_names: Iterable[str]
    ) -> dict[SessionName, MultiplexerRecord]:
        """Return the registered multiplexer sessions among the names, by name."""
        found = (self._multiplexers.get(name) for name in session_names)
        return {record.session_name: record for record in found if record is not None}

    def all(self, instrument_type_id: str = "") -> tuple[SessionRecord, ...]:
        """Return the registered instrument sessions in registration order.

        Args:
            instrument_type_id: Only sessions of this instrument type; "" = all.
        """
        records = self._sessions.values()
        if not instrument_type_id:
            return records
        return tuple(r for r in records if r.instrument_type_id == instrument_type_id)

    # ------------------------------------------------------------------ multiplexer sessions

    def register_multiplexers(self, records: Iterable[MultiplexerRecord]) -> None:
        """Register multiplexer sessions, all or none.

        Args:
            records: Multiplexer sessions to register, each under its ``session_name``.

        Raises:
            InvalidSessionError: If a session name is empty; nothing is registered.
            SessionAlreadyRegisteredError: If a name is registered already as a multiplexer
                session or appears twice in ``records`` (the message says "multiplexer
                session"); nothing is registered.
            Exception: Whatever the store raised; nothing is registered.
        """
        self._multiplexers.register(records)

    def unregister_multiplexers(
        self, session_names: Iterable[str]
    ) -> tuple[MultiplexerRecord, ...]:
        """Unregister multiplexer sessions by name; names not registered are ignored.

        Args:
            session_names: Multiplexer sessions to unregister.

        Returns:
            The records removed, in the order given.

        Raises:
            Exception: Whatever the store raised; nothing is unregistered.
        """
        return self._multiplexers.unregister(session_names)

    def get_multiplexer(self, session_name: str) -> MultiplexerRecord | None:
        """Return the registered multiplexer session of that name, or None."""
        return self._multiplexers.get(session_name)

    def is_multiplexer_registered(self, session_name: str) -> bool:
        """Return whether a multiplexer session of that name is registered."""
        return self._multiplexers.is_registered(session_name)

    def all_multiplexers(self, multiplexer_type_id: str = "") -> tuple[MultiplexerRecord, ...]:
        """Return the registered multiplexer sessions in registration order.

        Args:
            multiplexer_type_id: Only multiplexers of this type; "" = all.
        """
        records = self._multiplexers.values()
        if not multiplexer_type_id:
            return records
        return tuple(r for r in records if r.multiplexer_type_id == multiplexer_type_id)


class SessionRegistryLike(Protocol):
    """What :class:`SessionRegistry` offers (``pinbroker.cluster`` has a shared one)."""

    def register(self, records: Iterable[SessionRecord]) -> None: ...

    def unregister(self, session_names: Iterable[str]) -> tuple[SessionRecord, ...]: ...

    def get(self, session_name: str) -> SessionRecord | None: ...

    def is_registered(self, session_name: str) -> bool: ...

    def registered_among(self, session_names: Iterable[str]) -> frozenset[SessionName]: ...

    def multiplexers_among(
        self, session_names: Iterable[str]
    ) -> dict[SessionName, MultiplexerRecord]: ...

    def all(self, instrument_type_id: str = "") -> tuple[SessionRecord, ...]: ...

    def register_multiplexers(self, records: Iterable[MultiplexerRecord]) -> None: ...

    def unregister_multiplexers(
        self, session_names: Iterable[str]
    ) -> tuple[MultiplexerRecord, ...]: ...

    def get_multiplexer(self, session_name: str) -> MultiplexerRecord | None: ...

    def is_multiplexer_registered(self, session_name: str) -> bool: ...

    def all_multiplexers(self, multiplexer_type_id: str = "") -> tuple[MultiplexerRecord, ...]: ...
