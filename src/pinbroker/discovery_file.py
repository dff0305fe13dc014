"""The discovery key file: how clients on this host find a running ``pinbroker serve``.

NI's tools on Windows read ``<NIPUBAPPDATADIR>/MeasurementLink/Discovery/v1/DiscoveryService.json``
holding ``{"InsecurePort": PORT}``. pinbroker writes the same JSON shape on Linux at:

1. ``$PINBROKER_DISCOVERY_KEY_FILE`` when set, else
2. ``$XDG_RUNTIME_DIR/pinbroker/Discovery/v1/<name>`` when ``XDG_RUNTIME_DIR`` is set (a
   per-user, per-boot directory: a stale file cannot outlive a reboot), else
3. ``~/.local/state/pinbroker/Discovery/v1/<name>``,

where ``<name>`` is ``DiscoveryService.json``, or ``DiscoveryService_<id>.json`` when a cluster id
is set: ``$NIDiscovery_ClusterId``, else ``$ClusterId`` -- the variables and file name NI's
discovery client (``ni.measurementlink.discovery.v1.client._support``) uses, so several
independent servers (one per cluster id) can run side by side for one user.

The file is written atomically (temporary file + rename). A server never replaces a key file
that belongs to another live pinbroker server (:func:`publish_key_file`), and on a clean
shutdown removes the file only if it is still its own (:func:`remove_key_file`). pinbroker adds
``"Host"`` and ``"Pid"`` keys; NI's readers ignore keys they do not know.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import socket
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

__all__ = [
    "CLUSTER_ID_ENV_VARS",
    "KEY_FILE_ENV_VAR",
    "DiscoveryKey",
    "cluster_id",
    "default_key_file_path",
    "is_live_server",
    "publish_key_file",
    "read_key_file",
    "remove_key_file",
    "write_key_file",
]

KEY_FILE_ENV_VAR = "PINBROKER_DISCOVERY_KEY_FILE"
CLUSTER_ID_ENV_VARS = ("NIDiscovery_ClusterId", "ClusterId")
"""Where the cluster id is read from, first set (non-empty) wins: as NI's discovery client."""

_DIRECTORY = Path("pinbroker") / "Discovery" / "v1"
_PORT_CHECK_SECONDS = 1.0


@dataclass(frozen=True, slots=True)
class DiscoveryKey:
    """Contents of a discovery key file.

    Attributes:
        port: The insecure (plain-text gRPC) port of the server.
        host: Host the server listens on ("localhost" when not recorded).
        pid: Process id of the server, or None when not recorded.
    """

    port: int
    host: str = "localhost"
    pid: int | None = None

    @property
    def address(self) -> str:
        """``host:port`` suitable for ``grpc.insecure_channel``."""
        host = "localhost" if self.host in ("", "0.0.0.0", "::", "[::]") else self.host
        if ":" in host and not host.startswith("["):
            host = f"[{host}]"
        return f"{host}:{self.port}"


def cluster_id() -> str | None:
    """Return the discovery cluster id from the environment, or None when none is set.

    Raises:
        ValueError: If the id contains ``/`` or a NUL character (it becomes part of a file name).
    """
    for name in CLUSTER_ID_ENV_VARS:
        value = os.environ.get(name)
        if value:
            if "/" in value or "\0" in value:
                raise ValueError(f"${name} {value!r} cannot be part of a file name (it has '/')")
            return value
    return None


def default_key_file_path() -> Path:
    """Return where the key file lives on this host (see the module docstring for the order).

    Raises:
        ValueError: If the cluster id is not usable in a file name (see :func:`cluster_id`).
    """
    explicit = os.environ.get(KEY_FILE_ENV_VAR)
    if explicit:
        return Path(explicit)
    cluster = cluster_id()
    name = "DiscoveryService.json" if cluster is None else f"DiscoveryService_{cluster}.json"
    runtime = os.environ.get("XDG_RUNTIME_DIR")
    if runtime:
        return Path(runtime) / _DIRECTORY / name
    return Path.home() / ".local" / "state" / _DIRECTORY / name


def write_key_file(path: Path, key: DiscoveryKey) -> None:
    """Atomically write ``key`` to ``path``, creating parent directories.

    Raises:
        OSError: If the directory cannot be created or the file cannot be written.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    payload: dict[str, object] = {"InsecurePort": key.port, "Host": key.host}
    if key.pid is not None:
        payload["Pid"] = key.pid
    fd, tmp = tempfile.mkstemp(prefix=".DiscoveryService.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as stream:
            json.dump(payload, stream)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def read_key_file(path: Path) -> DiscoveryKey:
    """Read a key file written by pinbroker or by NI's discovery service.

    Raises:
        FileNotFoundError: If there is no key file at ``path``.
        ValueError: If the file is not a JSON object with an integer ``InsecurePort``.
    """
    try:
        data = json.loads(path.read_text(encoding="utf-8-sig"))
    except json.JSONDecodeError as exc:
        raise ValueError(f"{path}: discovery key file is not valid JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise ValueError(f"{path}: discovery key file is not a JSON object")
    port = data.get("InsecurePort")
    if isinstance(port, str) and port.isdigit():
        port = int(port)
    if not isinstance(port, int) or isinstance(port, bool) or not 0 < port < 65536:
        raise ValueError(f"{path}: discovery key file has no valid 'InsecurePort'")
    host = data.get("Host", "localhost")
    pid = data.get("Pid")
    return DiscoveryKey(
        port=port,
        host=host if isinstance(host, str) else "localhost",
        pid=pid if isinstance(pid, int) and not isinstance(pid, bool) else None,
    )


def publish_key_file(path: Path, key: DiscoveryKey) -> DiscoveryKey | None:
    """Write ``key`` to ``path`` unless the key file there belongs to another live server.

    A key file that is missing, damaged, or names a server that is gone (see
    :func:`is_live_server`) is replaced. Checking and writing happen under an advisory lock on
    ``<path>.lock``, so two servers starting at once cannot both claim the file.

    Returns:
        None when ``key`` was written; otherwise the other server's key (nothing was written).

    Raises:
        OSError: If the directory cannot be created or the file cannot be written.
    """
    with _locked(path):
        try:
            existing: DiscoveryKey | None = read_key_file(path)
        except (OSError, ValueError):
            existing = None
        if existing is not None and existing != key and is_live_server(existing):
            return existing
        write_key_file(path, key)
        return None


def remove_key_file(
    path: Path, *, only_if_pid: int | None = None, only_if_port: int | None = None
) -> None:
    """Remove the key file, if it exists.

    Args:
        path: The key file.
        only_if_pid: Remove it only if it names this process id (so a server never removes a
            file another server has written since; a file without a pid is kept).
        only_if_port: Remove it only if it names this port (servers in one process).
    """
    if not path.exists():
        return
    with _locked(path):
        if only_if_pid is not None or only_if_port is not None:
            try:
                key = read_key_file(path)
            except (OSError, ValueError):
                return
            if only_if_pid is not None and key.pid != only_if_pid:
                return
            if only_if_port is not None and key.port != only_if_port:
                return
        path.unlink(missing_ok=True)


def is_live_server(key: DiscoveryKey) -> bool:
    """Whether the server a key file names is still running on this host.

    Live means: its process exists and is a pinbroker (``/proc/<pid>/cmdline`` mentions
    ``pinbroker``; when it cannot be read, assumed so) and its port accepts connections. A key
    written by this very process only needs the port check. A key without a pid is live when
    its port answers.
    """
    pid = key.pid
    if pid is not None and pid != os.getpid() and not _is_pinbroker_process(pid):
        return False
    return _port_answers(key)


def _is_pinbroker_process(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # exists, belongs to another user
    except OSError:
        return False
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except FileNotFoundError:
        return not Path("/proc/self").exists()  # no procfs: cannot tell, assume it is
    except OSError:
        return True
    return b"pinbroker" in cmdline


def _port_answers(key: DiscoveryKey) -> bool:
    host = key.address.rsplit(":", 1)[0].strip("[]")
    try:
        with socket.create_connection((host, key.port), timeout=_PORT_CHECK_SECONDS):
            return True
    except OSError:
        return False


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    """Hold an exclusive advisory lock on ``<path>.lock`` (created with the directory)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path.with_name(path.name + ".lock"), "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)
