"""TLS certificates made fresh for a test with ``trustme``: no key is ever committed.

:func:`write_tls_files` writes a CA, a server certificate for ``localhost``/``127.0.0.1``/``::1``
and a client certificate signed by it, plus a second, unrelated CA with a client certificate of
its own (what a stranger would present), all as PEM files in a directory.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import trustme


@dataclass(frozen=True)
class TlsFiles:
    """PEM files of one test's TLS world.

    Attributes:
        ca: The CA that signed the server's and the client's certificates.
        server_cert: The server's certificate (``localhost``, ``127.0.0.1``, ``::1``).
        server_key: Its unencrypted key.
        client_cert: A client certificate signed by ``ca`` (mutual TLS).
        client_key: Its key.
        other_ca: A CA that signed none of the above.
        stranger_cert: A client certificate signed by ``other_ca``.
        stranger_key: Its key.
    """

    ca: Path
    server_cert: Path
    server_key: Path
    client_cert: Path
    client_key: Path
    other_ca: Path
    stranger_cert: Path
    stranger_key: Path


def write_tls_files(directory: Path) -> TlsFiles:
    """Make the CAs and certificates and write them to ``directory`` (created)."""
    directory.mkdir(parents=True, exist_ok=True)
    ca = trustme.CA()
    other_ca = trustme.CA()
    server = ca.issue_cert("localhost", "127.0.0.1", "::1")
    client = ca.issue_cert("alice@bench7.example")
    stranger = other_ca.issue_cert("mallory.example")
    files = TlsFiles(
        ca=directory / "ca.pem",
        server_cert=directory / "server.pem",
        server_key=directory / "server.key",
        client_cert=directory / "client.pem",
        client_key=directory / "client.key",
        other_ca=directory / "other-ca.pem",
        stranger_cert=directory / "stranger.pem",
        stranger_key=directory / "stranger.key",
    )
    ca.cert_pem.write_to_path(str(files.ca))
    other_ca.cert_pem.write_to_path(str(files.other_ca))
    for leaf, cert, key in (
        (server, files.server_cert, files.server_key),
        (client, files.client_cert, files.client_key),
        (stranger, files.stranger_cert, files.stranger_key),
    ):
        leaf.private_key_pem.write_to_path(str(key))
        for pem in leaf.cert_chain_pems:
            pem.write_to_path(str(cert), append=True)
    return files
