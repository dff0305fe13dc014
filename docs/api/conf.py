"""Sphinx configuration of the API reference (``sphinx-build -W -b html docs/api OUTDIR``).

The packages are imported from the environment (``pip install -e '.[test]'``), so the reference
documents exactly the code that is installed. No extension reaches the network.
"""

from __future__ import annotations

from typing import Any

project = "pinbroker"
author = "pinbroker contributors"
copyright = "pinbroker contributors"

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.napoleon",
]

# Google-style docstrings (STYLE.md 13).
napoleon_google_docstring = True
napoleon_numpy_docstring = False
# "Attributes:" sections of NamedTuples and dataclasses become :ivar: fields of the class, so
# they do not clash with the members autodoc documents itself.
napoleon_use_ivar = True

autodoc_default_options = {
    "members": True,
    "undoc-members": False,
    "show-inheritance": True,
    "member-order": "bysource",
}
# Signatures stay short; types go into the parameter descriptions.
autodoc_typehints = "description"
autodoc_typehints_description_target = "documented"
autodoc_typehints_format = "short"
autodoc_preserve_defaults = True

root_doc = "index"
exclude_patterns = ["_build"]
html_theme = "alabaster"
html_title = "pinbroker API reference"
html_static_path: list[str] = []


def _skip_member(app: Any, what: str, name: str, obj: Any, skip: bool, options: Any) -> bool | None:
    """Leave out NamedTuple field aliases.

    NamedTuple fields are described in the class's Attributes section, so their generated
    "Alias for field number N" entries would only repeat them.
    """
    if what == "class" and (getattr(obj, "__doc__", None) or "").startswith("Alias for field"):
        return True
    return None


def setup(app: Any) -> None:
    """Register the member filter."""
    app.connect("autodoc-skip-member", _skip_member)
