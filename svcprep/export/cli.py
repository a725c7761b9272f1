"""Command-line glue for ``svcprep presets`` and ``svcprep export``.

The main CLI adds the commands with :func:`add_commands` and calls :func:`run` for them.
Configuration and store problems raise :class:`~svcprep.errors.ConfigError` /
:class:`~svcprep.errors.StoreError`, which the caller maps to exit code 2.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

__all__ = ["COMMANDS", "add_commands", "run"]

#: The commands this module adds.
COMMANDS: tuple[str, ...] = ("presets", "export")


def add_commands(subparsers: Any) -> None:
    """Add the ``presets`` and ``export`` sub-commands to an argparse sub-parser group.

    Parameters
    ----------
    subparsers
        The object returned by ``ArgumentParser.add_subparsers()``.
    """
    from svcprep.export import FRAMEWORKS

    subparsers.add_parser(
        "presets", help="list the framework presets (use one with `svcprep build --preset NAME`)"
    )
    e = subparsers.add_parser("export", help="write a built dataset in an SVC framework's folder layout")
    e.add_argument("out", type=Path, help="output folder of `svcprep build`")
    e.add_argument("--to", dest="framework", required=True, choices=FRAMEWORKS, help="target framework")
    e.add_argument("dest", type=Path, help="destination folder (must be empty unless --overwrite)")
    e.add_argument(
        "--version", dest="dataset_version", default=None, help="dataset version (default: latest)"
    )
    e.add_argument(
        "--encoder", default=None, metavar="SPEC", help="content encoder: MODULE:FUNCTION or FILE.onnx"
    )
    e.add_argument(
        "--include",
        dest="include_flags",
        action="append",
        default=[],
        metavar="FLAG",
        help="keep items with this quality flag, on top of the build's split (repeatable)",
    )
    e.add_argument(
        "--exclude",
        dest="exclude_flags",
        action="append",
        default=None,
        metavar="FLAG",
        help="also leave out items with this flag, on top of the build's split (repeatable; 'all' = every "
        "flag)",
    )
    e.add_argument(
        "--val-items",
        dest="val_items_per_speaker",
        type=int,
        default=None,
        help="validation items per speaker (default: the split the build stored)",
    )
    e.add_argument("--overwrite", action="store_true", help="write into a non-empty destination")
    e.add_argument(
        "--name",
        default=None,
        metavar="NAME",
        help="experiment name where the framework uses one (RVC's logs/NAME; default: DEST's folder name)",
    )


def _presets() -> int:
    from svcprep.presets import preset_table

    rows = preset_table()
    cols = [
        ("name", "name"),
        ("framework", "framework"),
        ("sample_rate_hz", "rate"),
        ("hop_length", "hop"),
        ("frame_period_ms", "ms"),
        ("frame_count", "frames"),
        ("f0_range_hz", "F0 Hz"),
        ("f0_mode", "F0"),
        ("f0_unvoiced", "unvoiced"),
        ("mel", "mel"),
    ]
    widths = [max(len(h), *(len(str(r[k])) for r in rows)) for k, h in cols]
    print("  ".join(h.ljust(w) for (_, h), w in zip(cols, widths, strict=True)).rstrip())
    for r in rows:
        print("  ".join(str(r[k]).ljust(w) for (k, _), w in zip(cols, widths, strict=True)).rstrip())
    print("\nF0 per preset (change it with --set f0.match=... / f0.voicing=...):")
    for r in rows:
        print(f"  {r['name']}: {r['f0_choice']}")
    return 0


def _export(args: argparse.Namespace) -> int:
    from svcprep.export import export_dataset

    report = export_dataset(
        args.out,
        args.framework,
        args.dest,
        version=args.dataset_version,
        encoder=args.encoder,
        include_flags=args.include_flags,
        exclude_flags=args.exclude_flags,
        val_items_per_speaker=args.val_items_per_speaker,
        overwrite=args.overwrite,
        name=args.name,
    )
    print(report.summary())
    return 0


def run(args: argparse.Namespace) -> int:
    """Run the ``presets`` or ``export`` command; returns the exit code (0 = done).

    Raises
    ------
    ConfigError, StoreError
        Usage, configuration or store problems (exit code 2 in the caller).
    """
    if args.command == "presets":
        return _presets()
    if args.command == "export":
        return _export(args)
    raise ValueError(f"svcprep.export.cli cannot run command {args.command!r}")
