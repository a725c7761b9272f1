"""svcprep: cached, quality-checked preprocessing of vocal recordings for singing-voice-conversion training.

Public API::

    import svcprep
    report = svcprep.build("raw/", "out/", svcprep.BuildConfig())
    ds = svcprep.open("out/")
    item = ds[0]          # {"audio", "f0", "uv", "coarse_f0", "mel", "volume", "record"}

Importing svcprep does no work and imports no heavy optional backend.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

__all__ = [
    "BuildConfig",
    "BuildReport",
    "Dataset",
    "__version__",
    "build",
    "export_dataset",
    "load_config",
    "open",
]

if TYPE_CHECKING:
    from svcprep.config import BuildConfig, load_config
    from svcprep.export import export_dataset
    from svcprep.pipeline import BuildReport, build
    from svcprep.store.reader import Dataset
    from svcprep.store.reader import open_dataset as open

_LAZY = {
    "BuildConfig": ("svcprep.config", "BuildConfig"),
    "load_config": ("svcprep.config", "load_config"),
    "build": ("svcprep.pipeline", "build"),
    "BuildReport": ("svcprep.pipeline", "BuildReport"),
    "Dataset": ("svcprep.store.reader", "Dataset"),
    "open": ("svcprep.store.reader", "open_dataset"),
    "export_dataset": ("svcprep.export", "export_dataset"),
}


def __getattr__(name: str) -> Any:
    try:
        module, attr = _LAZY[name]
    except KeyError:
        raise AttributeError(f"module 'svcprep' has no attribute {name!r}") from None
    import importlib

    value = getattr(importlib.import_module(module), attr)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
