"""Only the edge imports grpc or protobuf (the list in docs/design.md, "Layout")."""

from __future__ import annotations

import ast
from pathlib import Path

SRC = Path(__file__).resolve().parents[2] / "src"

EDGE = (
    "pinbroker/server/",
    "pinbroker/client/",
    "pinbroker/_proto/",
    "pinbroker/_channel_mapping_pb.py",
    "pinbroker/admin_cli/_commands.py",
    "ni_measurementlink_service/",
)
"""Paths under src/ allowed to import grpc or protobuf."""


def _is_wire(module: str) -> bool:
    root = module.split(".")[0]
    return (
        root in {"grpc", "session_pb2", "session_pb2_grpc"}
        or module.startswith(("google.protobuf", "ni.measurementlink", "pinbroker._proto"))
        or module.endswith(("_pb2", "_pb2_grpc"))
    )


def _wire_imports(path: Path) -> list[str]:
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found += [alias.name for alias in node.names if _is_wire(alias.name)]
        elif isinstance(node, ast.ImportFrom) and node.module and _is_wire(node.module):
            found.append(node.module)
    return found


def test_only_the_edge_imports_grpc_or_protobuf() -> None:
    offenders = {}
    for path in sorted(SRC.rglob("*.py")):
        relative = path.relative_to(SRC).as_posix()
        if relative.startswith(EDGE):
            continue
        imports = _wire_imports(path)
        if imports:
            offenders[relative] = imports
    assert offenders == {}


def test_the_check_sees_the_shared_conversion_module() -> None:
    # Guards the checker itself: the one shared conversion module does import protobuf.
    assert _wire_imports(SRC / "pinbroker" / "_channel_mapping_pb.py")
