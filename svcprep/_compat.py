"""Work-arounds for third-party packages, kept in one place."""

from __future__ import annotations

from typing import Any

__all__ = ["import_pyworld"]


def import_pyworld() -> Any:
    """Import pyworld, also where setuptools >= 81 no longer ships ``pkg_resources``.

    pyworld 0.3.5's ``__init__`` calls ``pkg_resources.get_distribution`` only to read
    its own version. If that import fails, a stand-in answering from
    :mod:`importlib.metadata` is registered for the duration of the import and removed
    again, so no other library ever sees it.
    """
    try:
        import pyworld

        return pyworld
    except ModuleNotFoundError as err:
        if err.name != "pkg_resources":
            raise
    import importlib
    import importlib.metadata
    import sys
    import types

    stub = types.ModuleType("pkg_resources")

    def get_distribution(name: str) -> types.SimpleNamespace:
        return types.SimpleNamespace(version=importlib.metadata.version(name))

    stub.get_distribution = get_distribution  # type: ignore[attr-defined]
    sys.modules["pkg_resources"] = stub
    try:
        sys.modules.pop("pyworld", None)
        return importlib.import_module("pyworld")
    finally:
        if sys.modules.get("pkg_resources") is stub:
            del sys.modules["pkg_resources"]
