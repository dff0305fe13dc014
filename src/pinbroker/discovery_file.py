"""The discovery key file: how clients on this host find a running ``pinbroker serve``.

NI's tools on Windows read ``<NIPUBAPPDATADIR>/MeasurementLink/Discovery/v1/DiscoveryService.json``
holding ``{"InsecurePort": PORT}``. pinbroker writes the same JSON shape on Linux at:

1. ``$PINBROKER_DISCOVERY_KEY_FILE`` when set, else
2. ``$XDG_RUNTIME_DIR/pinbroker/Discovery/v1/DiscoveryService.json`` when ``XDG_RUNTIME_DIR`` is
   set (a per-user, per-boot directory: a stale file cannot outlive a reboot), else
3. ``~/.local/state/pinbroker/Discovery/v1/DiscoveryService.json``.

The file is written atomically (temporary file + rename) and removed on a clean shutdown. pinbroker
adds ``"Host"`` and ``"Pid"`` keys; NI's readers ignore keys they do not know.
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

__all__ = [
    "DiscoveryKey",
    "default_key_file_path",
    "read_key_file",
    "remove_key_file",
    "write_key_file",
]

KEY_FILE_ENV_VAR = "PINBROKER_DISCOVERY_KEY_FILE"
_RELATIVE = Path("pinbroker") / "Discovery" / "v1" / "DiscoveryService.json"


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


def default_key_file_path() -> Path:
    """Return where the key file lives on this host (see the module docstring for the order)."""
    explicit = os.environ.get(KEY_FILE_ENV_VAR)
    if explicit:
        return Path(explicit)
    runtime = os.environ.get("XDG_RUNTIME_DIR")
    if runtime:
        return Path(runtime) / _RELATIVE
    return Path.home() / ".local" / "state" / _RELATIVE


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


def remove_key_file(path: Path, *, only_if_pid: int | None = None) -> None:
    """Remove the key file, if it exists (and, with ``only_if_pid``, if that process wrote it)."""
    if only_if_pid is not None:
        try:
            if read_key_file(path).pid not in (None, only_if_pid):
                return
        except (OSError, ValueError):
            return
    path.unlink(missing_ok=True)
