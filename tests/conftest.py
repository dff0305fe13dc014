"""Fixtures shared by every tier.

No test outside the corpus walks (``tests/unit/pinmap``, which locate NI's pin maps themselves
and skip when ``../shared`` is absent) reads files outside this repository: the pin maps the
integration tests use live in ``tests/data/``.
"""
