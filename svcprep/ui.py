"""Terminal output: progress bars with ETA and the summary tables printed after a build."""

from __future__ import annotations

from types import TracebackType
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Sequence

    from rich.console import Console

    from svcprep.pipeline import BuildReport
    from svcprep.records import Record

__all__ = ["BuildProgress", "format_duration", "print_summary"]


def format_duration(seconds: float) -> str:
    """``h:mm:ss`` for long durations, ``12.3 s`` for short ones."""
    if seconds < 60:
        return f"{seconds:.1f} s"
    s = round(seconds)
    return f"{s // 3600}:{(s % 3600) // 60:02d}:{s % 60:02d}"


class BuildProgress:
    """Progress bars (rich) for the passes of a build; does nothing when disabled."""

    def __init__(self, *, enabled: bool, console: Console | None = None) -> None:
        self.enabled = enabled
        self._progress: Any = None
        if enabled:
            from rich.console import Console
            from rich.progress import (
                BarColumn,
                MofNCompleteColumn,
                Progress,
                TextColumn,
                TimeElapsedColumn,
                TimeRemainingColumn,
            )

            self._progress = Progress(
                TextColumn("[bold]{task.description:<15}"),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn("elapsed"),
                TimeElapsedColumn(),
                TextColumn("ETA"),
                TimeRemainingColumn(),
                console=console or Console(stderr=True),
                transient=False,
            )

    def __enter__(self) -> BuildProgress:
        if self._progress is not None:
            self._progress.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._progress is not None:
            self._progress.stop()

    def task(self, description: str, total: int) -> Any:
        """Add a bar (only when there is work to show)."""
        if self._progress is None or total == 0:
            return None
        return self._progress.add_task(description, total=total)

    def advance(self, task: Any, n: int = 1) -> None:
        """Advance a bar."""
        if self._progress is not None and task is not None:
            self._progress.advance(task, n)


def print_summary(report: BuildReport, console: Console, *, max_rows: int = 15) -> None:
    """Print the per-speaker table, stage timings, flags, problems and the version line.

    Every name from the raw folder (speakers, ids, reasons, paths) is escaped: rich would
    read ``[/]`` in a file name as markup.
    """
    from rich.markup import escape
    from rich.table import Table

    per = report.per_speaker()
    t = Table(title="svcprep build summary", title_justify="left")
    for col, just in [
        ("speaker", "left"),
        ("items", "right"),
        ("variants", "right"),
        ("kept", "right"),
        ("dropped", "right"),
        ("errors", "right"),
        ("flagged", "right"),
    ]:
        t.add_column(col, justify=just)  # type: ignore[arg-type]
    tot = {"items": 0, "variants": 0, "kept_s": 0.0, "dropped_s": 0.0, "errors": 0, "flagged": 0}
    for sp, row in per.items():
        if not sp:
            continue
        t.add_row(
            escape(sp),
            str(int(row["items"])),
            str(int(row["variants"])),
            format_duration(row["kept_s"]),
            format_duration(row["dropped_s"]),
            str(int(row["errors"])),
            str(int(row["flagged"])),
        )
        for k in tot:
            tot[k] += row[k]
    t.add_section()
    t.add_row(
        "[bold]total",
        str(int(tot["items"])),
        str(int(tot["variants"])),
        format_duration(tot["kept_s"]),
        format_duration(tot["dropped_s"]),
        str(len(report.errors)),
        str(int(tot["flagged"])),
    )
    console.print(t)

    if report.stage_seconds and report.computed:
        st = Table(title="time per stage (summed over workers)", title_justify="left")
        st.add_column("stage")
        st.add_column("runs", justify="right")
        st.add_column("seconds", justify="right")
        st.add_column("x real time", justify="right")
        audio_s = report.source_seconds
        from svcprep.stages import STAGES

        order = {name: k for k, name in enumerate(STAGES)}
        rows = sorted(report.stage_seconds.items(), key=lambda kv: order.get(kv[0], len(order)))
        for stage, secs in rows:
            rtf = f"{audio_s / secs:.1f}" if secs > 0 and audio_s > 0 else "-"
            runs = report.stage_runs.get(stage)
            st.add_row(stage, "-" if runs is None else str(runs), f"{secs:.2f}", rtf)
        console.print(st)

    print_quality(report.records, report.f0_hist, console, max_rows=max_rows, f0_cents=report.f0_cents)

    problems = report.errors + report.skipped
    if problems:
        pt = Table(
            title=f"inputs not used ({len(report.errors)} errors, {len(report.skipped)} skipped)",
            title_justify="left",
        )
        pt.add_column("status")
        pt.add_column("id", overflow="fold")
        pt.add_column("reason", overflow="fold")
        for r in problems[:max_rows]:
            style = "red" if r.status == "error" else "yellow"
            pt.add_row(f"[{style}]{r.status}", escape(r.id), escape(r.error or ""))
        if len(problems) > max_rows:
            pt.add_row("", f"... and {len(problems) - max_rows} more", "see manifest.jsonl")
        console.print(pt)

    if report.repaired:
        console.print(
            f"[yellow]repaired[/] {len(report.repaired)} damaged or missing files of the previous version "
            f"(recomputed and rewritten), e.g. {escape(report.repaired[0])}",
            highlight=False,
        )
    if report.published:
        console.print(
            f"published version [bold]{report.version}[/] in {escape(str(report.out))} "
            f"({format_duration(report.wall_seconds)})"
        )
    elif report.version:
        console.print(
            f"nothing changed: version [bold]{report.version}[/] is current "
            f"({format_duration(report.wall_seconds)})"
        )


def print_quality(
    records: Sequence[Record],
    f0_hist: dict[str, list[int]],
    console: Console,
    *,
    max_rows: int = 10,
    f0_cents: dict[str, dict[str, int]] | None = None,
) -> None:
    """Per-speaker pitch/loudness view with warnings, flag counts and the worst items.

    The pitch range is measured on the training items' voiced frames (``f0_cents``, when
    given; note-histogram centres otherwise).
    """
    from collections import Counter

    from rich.markup import escape
    from rich.table import Table

    from svcprep.quality.dataset import speaker_view, worst_items
    from svcprep.quality.flags import FLAG_DOCS

    view = speaker_view(list(records), f0_hist, f0_cents=f0_cents or None)
    if view:
        t = Table(title="speakers", title_justify="left")
        for col, just in [
            ("speaker", "left"),
            ("kept", "right"),
            ("train", "right"),
            ("pitch 5-95 %", "left"),
            ("Hz", "right"),
            ("voiced", "right"),
            ("loudness IQR", "right"),
            ("flagged", "right"),
        ]:
            t.add_column(col, justify=just)  # type: ignore[arg-type]
        for sp, row in view.items():
            hz = f"{row['f0_p5_hz']:.0f}-{row['f0_p95_hz']:.0f}" if row["range"] != "-" else "-"
            voiced = f"{row['voiced_share']:.0%}" if row["voiced_share"] == row["voiced_share"] else "-"
            iqr = (
                f"{row['loudness_iqr_db']:.1f} dB"
                if row["loudness_iqr_db"] == row["loudness_iqr_db"]
                else "-"
            )
            t.add_row(
                escape(sp),
                format_duration(row["kept_s"]),
                format_duration(row["train_s"]),
                row["range"],
                hz,
                voiced,
                iqr,
                f"{row['flagged']}/{row['items']}",
            )
        console.print(t)
        for sp, row in view.items():
            for w in row["warnings"]:
                console.print(f"[yellow]warning[/] {escape(sp)}: {escape(w)}", highlight=False)

    counts = Counter(f for r in records for f in r.flags)
    if counts:
        ft = Table(title="flags", title_justify="left")
        ft.add_column("flag")
        ft.add_column("records", justify="right")
        ft.add_column("meaning", overflow="fold")
        for f, n in counts.most_common():
            ft.add_row(f, str(n), FLAG_DOCS.get(f, ""))
        console.print(ft)
    worst = worst_items(list(records), max_rows)
    if worst:
        wt = Table(title="worst items", title_justify="left")
        wt.add_column("item", overflow="fold")
        wt.add_column("flags")
        wt.add_column("why", overflow="fold")
        for r in worst:
            first = next(iter(r.flag_details.values()), None) if r.flag_details else None
            wt.add_row(escape(r.id), ", ".join(r.flags), escape(first["detail"]) if first else "")
        console.print(wt)
