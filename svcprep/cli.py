"""Command line: argv -> config -> API call -> printed summary -> exit code.

Exit codes
----------
0
    Everything asked for was done and every input was read.
1
    The build finished, but some inputs failed (their records say why).
2
    Usage, configuration or output-folder error: nothing was built.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from svcprep import __version__
from svcprep.errors import ConfigError, StoreError

__all__ = ["main"]

EXIT_OK, EXIT_INPUTS_FAILED, EXIT_USAGE = 0, 1, 2


def _add_config_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--config", metavar="FILE", help="TOML config file (see `svcprep config`)")
    p.add_argument(
        "--set",
        dest="overrides",
        metavar="SECTION.FIELD=VALUE",
        action="append",
        default=[],
        help="override one setting, e.g. --set f0.method=dio --set slice.max_segment_s=12 (repeatable)",
    )


def _parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(
        prog="svcprep",
        description="Turn folders of raw vocal recordings into cached, quality-checked training features "
        "for singing-voice-conversion models.",
        epilog="Exit codes: 0 all good, 1 some inputs failed (see the manifest), 2 usage or config error.",
    )
    ap.add_argument("--version", action="version", version=f"svcprep {__version__}")
    sub = ap.add_subparsers(dest="command", metavar="COMMAND")

    b = sub.add_parser("build", help="run the pipeline on RAW and publish a dataset version in OUT")
    b.add_argument("raw", type=Path, help="folder of recordings, one sub-folder per speaker")
    b.add_argument("out", type=Path, help="output folder (created if missing)")
    _add_config_args(b)
    b.add_argument("-j", "--jobs", type=int, default=None, help="worker processes (default: all cores)")
    b.add_argument("--no-progress", action="store_true", help="no progress bars")
    b.add_argument("-q", "--quiet", action="store_true", help="print only errors")

    c = sub.add_parser("config", help="print the whole config (defaults, or a file with overrides) as TOML")
    _add_config_args(c)
    return ap


def _cmd_build(args: argparse.Namespace) -> int:
    from rich.console import Console

    from svcprep.config import load_config
    from svcprep.pipeline import build
    from svcprep.ui import print_summary

    if args.jobs is not None and args.jobs < 1:
        raise ConfigError(f"--jobs={args.jobs}: use a whole number of at least 1")
    cfg = load_config(args.config, args.overrides)
    console = Console(stderr=False)
    err_console = Console(stderr=True)
    show_progress = not (args.no_progress or args.quiet)
    report = build(args.raw, args.out, cfg, jobs=args.jobs, progress=show_progress, console=err_console)
    if args.quiet:
        for r in report.errors:
            err_console.print(f"[red]error[/] {r['id']}: {r['error']}", highlight=False)
    else:
        print_summary(report, console)
    return EXIT_INPUTS_FAILED if report.exit_code else EXIT_OK


def _cmd_config(args: argparse.Namespace) -> int:
    from svcprep.config import config_to_toml, load_config

    cfg = load_config(args.config, args.overrides)
    sys.stdout.write(config_to_toml(cfg))
    return EXIT_OK


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``svcprep`` command; returns the exit code."""
    ap = _parser()
    args = ap.parse_args(argv)
    if args.command is None:
        ap.print_help(sys.stderr)
        return EXIT_USAGE
    handlers = {"build": _cmd_build, "config": _cmd_config}
    try:
        return handlers[args.command](args)
    except (ConfigError, StoreError) as err:
        print(f"svcprep: error: {err}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("svcprep: interrupted; finished work is kept and the next run resumes from it", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
