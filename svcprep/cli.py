"""Command line: argv -> config -> API call -> printed summary -> exit code.

Exit codes
----------
0
    Everything asked for was done and every input was read.
1
    The build finished, but some inputs failed (their records say why); ``verify`` found
    damaged or missing files (listed).
2
    Usage, configuration or output-folder error: nothing was built. Also a Dask scheduler
    that cannot be reached or went away (``--dask``): nothing was published, finished work
    stays cached.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from svcprep import __version__
from svcprep.errors import ClusterError, ConfigError, DependencyError, StoreError

if TYPE_CHECKING:
    from svcprep.config import BuildConfig

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


def _add_policy_args(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--exclude",
        metavar="FLAG",
        action="append",
        default=None,
        help="only these flags keep an item out of training (repeatable; default: every flag)",
    )
    p.add_argument(
        "--include",
        metavar="FLAG",
        action="append",
        default=[],
        help="items with this flag still train (repeatable)",
    )


def _add_link_args(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--follow-links",
        action="store_true",
        help="also read symlinks that lead outside RAW (by default they are skipped and listed; links into "
        "/proc, /sys and /dev are never followed)",
    )


def _add_report_args(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--report-worst",
        type=int,
        default=3,
        metavar="N",
        help="items per flag shown with spectrogram and audio in the report (default 3)",
    )
    p.add_argument(
        "--report-max-media",
        type=int,
        default=48,
        metavar="N",
        help="most items with spectrogram and audio in the whole report (default 48)",
    )


def _check_report_args(args: argparse.Namespace, path: Path | None) -> None:
    for flag, value in (("--report-worst", args.report_worst), ("--report-max-media", args.report_max_media)):
        if value < 0:
            raise ConfigError(f"{flag}={value}: use a whole number of 0 or more")
    if path is not None and path.is_dir():
        raise ConfigError(f"report file {path} is a folder: give a file name such as {path / 'report.html'}")


def _write_report(args: argparse.Namespace, out: Path, path: Path | None, **kwargs: object) -> None:
    from svcprep.report import write_report
    from svcprep.ui import BuildProgress

    with BuildProgress(enabled=not (args.no_progress or getattr(args, "quiet", False))) as ui:
        res = write_report(
            out,
            path,
            worst_per_flag=args.report_worst,
            max_media=args.report_max_media,
            progress=ui,
            **kwargs,
        )
    if not getattr(args, "quiet", False):
        print(
            f"report of {res.version} written to {res.path} ({res.bytes / 1e6:.1f} MB, "
            f"{res.flagged_rows} flagged rows, {res.media_items} items with audio)"
        )


def _policy_overrides(args: argparse.Namespace) -> list[str]:
    from svcprep.quality.flags import parse_flag_names

    out = []
    try:
        parse_flag_names(args.exclude or [], what="--exclude", allow_all=True)
        parse_flag_names(args.include, what="--include")
    except ValueError as err:
        raise ConfigError(str(err)) from None
    if args.exclude is not None:
        out.append("split.exclude_flags=" + json.dumps(args.exclude))
    if args.include:
        out.append("split.include_flags=" + json.dumps(args.include))
    return out


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
    b.add_argument("--preset", metavar="NAME", help="start from a framework preset (see `svcprep presets`)")
    b.add_argument(
        "-j",
        "--jobs",
        type=int,
        default=None,
        help="processes computing, this one included (default: all cores)",
    )
    b.add_argument(
        "--dask",
        metavar="ADDRESS",
        default=None,
        help="run the work on Dask instead of -j: local[:N] starts N worker processes here, "
        "tcp://HOST:8786 (or a scheduler file) uses a running cluster whose workers all see RAW and OUT "
        "at the same paths (pip install 'svcprep[dask]')",
    )
    b.add_argument("--no-progress", action="store_true", help="no progress bars")
    b.add_argument("-q", "--quiet", action="store_true", help="print only errors")
    b.add_argument(
        "--report",
        nargs="?",
        const=True,
        default=None,
        metavar="FILE",
        help="also write the HTML report (default file: OUT/report.html)",
    )
    b.add_argument(
        "--encoder",
        metavar="SPEC",
        default=None,
        help="also compute content units and store them with every item: hubert:PATH, contentvec:PATH, "
        "hf:DIR (optionally @OUTPUT, e.g. @rvc-v1, @vec256l9), FILE.onnx or MODULE:FUNCTION "
        "(sets content.encoder)",
    )
    _add_report_args(b)
    _add_policy_args(b)
    _add_link_args(b)

    k = sub.add_parser(
        "check", help="scan RAW for quality problems and write the manifest, keeping no features"
    )
    k.add_argument("raw", type=Path, help="folder of recordings, one sub-folder per speaker")
    k.add_argument(
        "--manifest",
        type=Path,
        default=Path("svcprep-check.jsonl"),
        help="where to write the manifest (default: ./svcprep-check.jsonl)",
    )
    _add_config_args(k)
    k.add_argument("--preset", metavar="NAME", help="start from a framework preset")
    k.add_argument(
        "-j",
        "--jobs",
        type=int,
        default=None,
        help="processes computing, this one included (default: all cores)",
    )
    k.add_argument("--no-progress", action="store_true", help="no progress bars")
    _add_policy_args(k)
    _add_link_args(k)

    r = sub.add_parser("report", help="write a self-contained HTML report of a built dataset")
    r.add_argument("out", type=Path, help="output folder of `svcprep build`")
    r.add_argument(
        "-o", "--output", type=Path, default=None, help="HTML file to write (default: OUT/report.html)"
    )
    r.add_argument(
        "--version", dest="dataset_version", metavar="VID", help="version to show (default: latest)"
    )
    r.add_argument(
        "--raw",
        type=Path,
        default=None,
        help="raw folder, to play the worst items as recorded "
        "(default: the folder the version was built from)",
    )
    r.add_argument("--no-progress", action="store_true", help="no progress bars")
    _add_report_args(r)

    v = sub.add_parser("versions", help="list the kept versions of a dataset")
    v.add_argument("out", type=Path)

    d = sub.add_parser(
        "diff", help="items added, removed and changed between two versions, and config changes"
    )
    d.add_argument("out", type=Path)
    d.add_argument("a", help="older version id, e.g. v0001")
    d.add_argument("b", help="newer version id (default: the latest)", nargs="?")
    d.add_argument("--items", type=int, default=20, help="item ids listed per kind (default 20)")

    vf = sub.add_parser(
        "verify",
        help="check every shard and cached object of OUT against its digest (exit 1 and a list when "
        "something is damaged; `svcprep build` repairs it)",
    )
    vf.add_argument("out", type=Path, help="output folder of `svcprep build`")

    g = sub.add_parser("gc", help="delete versions beyond the newest N and every file no kept version uses")
    g.add_argument("out", type=Path)
    g.add_argument("--keep", type=int, default=1, help="versions to keep (default 1: the latest)")
    g.add_argument("--dry-run", action="store_true", help="only say what would be deleted")

    from svcprep.export.cli import add_commands

    add_commands(sub)

    sub.add_parser("flags", help="list every flag and reason code a record can carry, with its meaning")

    c = sub.add_parser("config", help="print the whole config (defaults, or a file with overrides) as TOML")
    _add_config_args(c)
    c.add_argument("--preset", metavar="NAME", help="start from a framework preset")
    return ap


def _resolve_config(args: argparse.Namespace) -> BuildConfig:
    from svcprep.config import load_config

    base = None
    if getattr(args, "preset", None):
        from svcprep.presets import get_preset

        base = get_preset(args.preset).config
    overrides = list(args.overrides)
    if hasattr(args, "exclude"):
        overrides += _policy_overrides(args)
    if getattr(args, "encoder", None):
        overrides.append("content.encoder=" + json.dumps(args.encoder))
    return load_config(args.config, overrides, base=base)


def _cmd_build(args: argparse.Namespace) -> int:
    from rich.console import Console
    from rich.markup import escape

    from svcprep.pipeline import build
    from svcprep.ui import print_summary

    if args.jobs is not None and args.jobs < 1:
        raise ConfigError(f"--jobs={args.jobs}: use a whole number of at least 1")
    cfg = _resolve_config(args)
    console = Console(stderr=False)
    err_console = Console(stderr=True)
    show_progress = not (args.no_progress or args.quiet)
    report_path: Path | None = None
    if args.report is not None:
        from svcprep.report import default_report_path

        report_path = default_report_path(args.out) if args.report is True else Path(args.report)
        _check_report_args(args, report_path)
        if args.raw.is_dir() and report_path.resolve().is_relative_to(args.raw.resolve()):
            raise ConfigError(
                f"report file {report_path} is inside the raw folder {args.raw}, which is never written to: "
                "write it elsewhere (the default is OUT/report.html)"
            )
    report = build(
        args.raw,
        args.out,
        cfg,
        jobs=args.jobs,
        progress=show_progress,
        console=err_console,
        dask=args.dask,
        follow_links=args.follow_links,
    )
    if args.quiet:
        for r in report.errors:
            err_console.print(f"[red]error[/] {escape(r['id'])}: {escape(r['error'] or '')}", highlight=False)
    else:
        print_summary(report, console)
    if report_path is not None and report.version is not None:
        _write_report(args, args.out, report_path, raw=args.raw)
    return EXIT_INPUTS_FAILED if report.exit_code else EXIT_OK


def _cmd_report(args: argparse.Namespace) -> int:
    _check_report_args(args, args.output)
    if not args.out.is_dir():
        raise StoreError(f"{args.out} is not a folder: give the OUT folder of `svcprep build`")
    if args.raw is not None and not args.raw.is_dir():
        raise ConfigError(f"--raw {args.raw} is not a folder: give the RAW folder the dataset was built from")
    _write_report(args, args.out, args.output, version=args.dataset_version, raw=args.raw)
    return EXIT_OK


def _cmd_versions(args: argparse.Namespace) -> int:
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    from svcprep.store.manage import version_summaries

    if not args.out.is_dir():
        raise StoreError(f"{args.out} is not a folder built by svcprep")
    rows = version_summaries(args.out)
    if not rows:
        raise StoreError(f"{args.out} holds no versions yet: run `svcprep build RAW {args.out}`")
    t = Table(title=f"versions of {escape(str(args.out))}", title_justify="left")
    for col in ("id", "created (UTC)", "items", "hours", "errors", "what changed"):
        t.add_column(col, justify="right" if col in ("items", "hours", "errors") else "left")
    for r in rows:
        t.add_row(
            r["id"] + (" *" if r["latest"] else ""),
            r["created_utc"],
            str(r["items"]),
            f"{r['hours']:.3f}",
            str(r["errors"]),
            r["changes"],
        )
    Console().print(t)
    return EXIT_OK


def _cmd_diff(args: argparse.Namespace) -> int:
    from svcprep.store.manage import diff_versions
    from svcprep.store.versions import latest_version_id

    b = args.b or latest_version_id(args.out)
    if b is None:
        raise StoreError(f"{args.out} holds no versions yet")
    d = diff_versions(args.out, args.a, b)
    print(f"{d.a} -> {d.b}: {len(d.added)} added, {len(d.removed)} removed, {len(d.changed)} changed items")
    for label, mark, ids in (
        ("added", "+", d.added),
        ("removed", "-", d.removed),
        ("changed", "~", d.changed),
    ):
        for i in ids[: args.items]:
            print(f"  {mark} {i}")
        if len(ids) > args.items:
            print(f"  ... {len(ids) - args.items} more {label}")
    for label, rels in (
        ("inputs added", d.inputs_added),
        ("inputs removed", d.inputs_removed),
        ("inputs changed", d.inputs_changed),
    ):
        if rels:
            print(f"{label}: {len(rels)}: " + ", ".join(rels[: args.items]))
    if d.config:
        print("config:")
        for k, (old, new) in d.config.items():
            print(f"  {k}: {old!r} -> {new!r}")
    else:
        print("config: unchanged")
    return EXIT_OK


def _cmd_verify(args: argparse.Namespace) -> int:
    from svcprep.store.verify import verify

    if not args.out.is_dir():
        raise StoreError(f"{args.out} is not a folder: give the OUT folder of `svcprep build`")
    rep = verify(args.out)
    what = f"{rep.versions} versions, {rep.shards} shards, {rep.objects} cached objects"
    if rep.ok:
        print(f"{args.out}: sound ({what} checked)")
        return EXIT_OK
    print(f"{args.out}: {len(rep.problems)} problems in {what}:", file=sys.stderr)
    for line in rep.problems:
        print(f"  {line}", file=sys.stderr)
    print(
        "run `svcprep build RAW OUT` again: it recomputes and rewrites what is damaged or missing",
        file=sys.stderr,
    )
    return EXIT_INPUTS_FAILED


def _cmd_gc(args: argparse.Namespace) -> int:
    from svcprep.store.manage import gc

    res = gc(args.out, keep=args.keep, dry_run=args.dry_run)
    verb = "would remove" if args.dry_run else "removed"
    print(
        f"{verb} {len(res.versions_removed)} versions, {res.shards_removed} shards, {res.objects_removed} "
        f"cached objects: {res.bytes_freed / 1e6:.1f} MB"
    )
    return EXIT_OK


def _cmd_check(args: argparse.Namespace) -> int:
    from rich.console import Console

    from svcprep.pipeline import check
    from svcprep.ui import print_summary

    if args.jobs is not None and args.jobs < 1:
        raise ConfigError(f"--jobs={args.jobs}: use a whole number of at least 1")
    cfg = _resolve_config(args)
    report = check(
        args.raw,
        args.manifest,
        cfg,
        jobs=args.jobs,
        progress=not args.no_progress,
        console=Console(stderr=True),
        follow_links=args.follow_links,
    )
    print_summary(report, Console())
    print(f"manifest written to {args.manifest}")
    return EXIT_INPUTS_FAILED if report.exit_code else EXIT_OK


def _cmd_flags(args: argparse.Namespace) -> int:
    from rich.console import Console
    from rich.table import Table

    from svcprep.quality.flags import FlagName

    t = Table(
        title="flags (svcprep build --exclude/--include FLAG, [split] in a config file)", title_justify="left"
    )
    t.add_column("flag")
    t.add_column("set by")
    t.add_column("meaning", overflow="fold")
    for f in FlagName:
        t.add_row(f.value, f.origin, f.doc)
    Console().print(t)
    return EXIT_OK


def _cmd_config(args: argparse.Namespace) -> int:
    from svcprep.config import config_to_toml

    cfg = _resolve_config(args)
    sys.stdout.write(config_to_toml(cfg))
    return EXIT_OK


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``svcprep`` command; returns the exit code."""
    ap = _parser()
    args = ap.parse_args(argv)
    if args.command is None:
        ap.print_help(sys.stderr)
        return EXIT_USAGE
    from svcprep.export.cli import run as run_export_commands

    handlers = {
        "build": _cmd_build,
        "check": _cmd_check,
        "config": _cmd_config,
        "flags": _cmd_flags,
        "versions": _cmd_versions,
        "diff": _cmd_diff,
        "gc": _cmd_gc,
        "verify": _cmd_verify,
        "report": _cmd_report,
        "presets": run_export_commands,
        "export": run_export_commands,
    }
    try:
        return handlers[args.command](args)
    except (ConfigError, StoreError, DependencyError, ClusterError) as err:
        print(f"svcprep: error: {err}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("svcprep: interrupted; finished work is kept and the next run resumes from it", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
