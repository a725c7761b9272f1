"""``svcprep report``: one self-contained HTML page that shows a built dataset.

A summary (hours kept and dropped, items, speakers, flags, versions, config), per-speaker
charts (time per split, pitch on a note axis with the training range, loudness and
durations), every flag with a sortable, filterable, paginated table of the flagged items,
the worst items of each flag with a spectrogram, F0 track and audio player, the records
that are not in the dataset, and what changed since the previous version.

Only the worst few items per flag get images and audio, and the tables page through JSON
data in the browser, so the file stays a few MB and opens fast for 10,000 items.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = ["ReportResult", "default_report_path", "render_report", "write_report"]


@dataclass
class ReportResult:
    """What :func:`write_report` wrote."""

    path: Path
    version: str
    bytes: int
    media_items: int
    flagged_rows: int
    seconds: dict[str, float] = field(default_factory=dict)


def _preview_or_nothing(encode: Any, samples: Any, sample_rate_hz: int) -> bytes:
    """The MP3 preview, or b"" (no player) when this item's audio cannot be encoded."""
    try:
        return bytes(encode(samples, sample_rate_hz))
    except Exception:
        return b""


def _media_plan(
    worst: Mapping[str, Sequence[Mapping[str, Any]]], max_media: int
) -> tuple[list[tuple[str, Mapping[str, Any]]], dict[str, list[str]]]:
    """Which items get media (each once, under its first flag), round-robin over the flags so
    every flag kind gets its worst item before any gets a second; at most ``max_media``."""
    plan: list[tuple[str, Mapping[str, Any]]] = []
    seen: set[str] = set()
    depth = max((len(v) for v in worst.values()), default=0)
    for k in range(depth):
        for flag, recs in worst.items():
            if k < len(recs) and recs[k]["id"] not in seen and len(plan) < max_media:
                plan.append((flag, recs[k]))
                seen.add(recs[k]["id"])
    per_flag = {flag: [r["id"] for r in recs] for flag, recs in worst.items()}
    return plan, per_flag


def render_report(
    out: str | Path,
    *,
    version: str | None = None,
    raw: str | Path | None = None,
    worst_per_flag: int = 3,
    max_media: int = 48,
    preview_s: float = 12.0,
    max_speaker_figures: int = 40,
    progress: Any = None,
) -> tuple[str, ReportResult]:
    """Build the report page for a version of the dataset in ``out``.

    Parameters
    ----------
    out
        Output folder of ``svcprep build``.
    version
        Version id (``v0002``); None is the latest.
    raw
        The raw folder, to show and play the worst items as recorded. None uses the
        folder the version was built from when it is still there; a source file that
        changed since is shown from the dataset instead.
    worst_per_flag
        Items per flag kind shown with a spectrogram and audio.
    max_media
        Upper bound on items with media in the whole report (keeps the file small).
    preview_s
        Longest audio preview and spectrogram, seconds.
    max_speaker_figures
        Speakers (those with the most kept audio) that get pitch, loudness and duration
        charts; every speaker is in the table either way.
    progress
        Optional :class:`svcprep.ui.BuildProgress` to show progress on.

    Returns
    -------
    (str, ReportResult)
        The HTML text and what it holds (``path`` is unset until written).
    """
    import time

    from svcprep import __version__
    from svcprep.report.data import collect
    from svcprep.report.media import encode_preview, item_audio, render_item_figure
    from svcprep.report.plots import duration_bars, speaker_figure
    from svcprep.report.render import MediaCard, render_html

    t0 = time.perf_counter()
    data = collect(out, version, worst_per_flag=worst_per_flag)
    secs = {"collect": time.perf_counter() - t0}

    t0 = time.perf_counter()
    bars = duration_bars(data.speakers) if data.totals["source_s"] > 0 else None
    largest = sorted((sp for sp in data.speakers.values() if sp.items), key=lambda s: (-s.kept_s, s.name))
    figures = {sp.name: speaker_figure(sp, data.config) for sp in largest[:max_speaker_figures]}
    secs["plots"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    ds = data.dataset
    raw_root = (
        Path(raw) if raw is not None else (Path(data.version["raw"]) if data.version.get("raw") else None)
    )
    inputs: dict[str, str] = data.version.get("inputs", {})
    plan, per_flag = _media_plan(data.worst, max_media)
    task = progress.task("report media", len(plan)) if progress is not None else None
    cards: dict[str, MediaCard] = {}
    frame_period_s = ds.hop_length / ds.sample_rate
    for n, (flag, rec) in enumerate(plan):
        arrays = ds.arrays(rec["id"])
        audio = item_audio(
            rec,
            arrays["audio"],
            ds.sample_rate,
            raw_root=raw_root,
            input_digest=inputs.get(rec["source"]),
            max_s=preview_s,
        )
        try:  # one item's media never costs the report: it is shown without them
            fig = render_item_figure(
                audio,
                f0_hz=arrays["f0"],
                voiced=arrays["uv"],
                frame_period_s=frame_period_s,
                title=f"{rec['id']}  [{', '.join(rec['flags'])}]",
                mark_peaks="clipping" in rec["flags"],
                evidence=flag,
                metrics=rec.get("metrics"),
            )
        except Exception:
            fig = b""
        card = MediaCard(
            anchor=f"m{n}",
            record=rec,
            figure_jpeg=fig,
            audio_mp3=_preview_or_nothing(encode_preview, audio.samples, audio.sample_rate_hz),
            origin=audio.origin,
            anchor_flag=flag,
            truncated_s=audio.truncated_s,
        )
        dup = rec.get("duplicate_of")
        if dup and dup in ds:
            other = ds.record(dup)
            oa = item_audio(
                other,
                ds.arrays(dup)["audio"],
                ds.sample_rate,
                raw_root=raw_root,
                input_digest=inputs.get(other["source"]),
                max_s=preview_s,
            )
            card.extra_audio.append(
                (
                    f"the item it duplicates: {dup}",
                    _preview_or_nothing(encode_preview, oa.samples, oa.sample_rate_hz),
                )
            )
        cards[rec["id"]] = card
        if progress is not None:
            progress.advance(task)
    secs["media"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    html = render_html(
        data,
        report_version=__version__,
        bars_png=bars,
        speaker_figures=figures,
        cards=cards,
        per_flag_ids=per_flag,
    )
    secs["html"] = time.perf_counter() - t0
    result = ReportResult(
        path=Path(),
        version=data.vid,
        bytes=len(html.encode("utf-8")),
        media_items=len(cards),
        flagged_rows=len(data.flagged_rows),
        seconds=secs,
    )
    return html, result


def default_report_path(out: str | Path, version: str | None = None) -> Path:
    """``OUT/report.html`` for the latest version, ``OUT/report-v0002.html`` for another."""
    out_p = Path(out)
    return out_p / ("report.html" if version is None else f"report-{version}.html")


def write_report(
    out: str | Path,
    path: str | Path | None = None,
    **kwargs: Any,
) -> ReportResult:
    """Write the report of a built dataset to ``path`` (atomically) and say what it holds.

    Parameters
    ----------
    out
        Output folder of ``svcprep build``.
    path
        Where to write the HTML file; default :func:`default_report_path`.
    **kwargs
        Passed to :func:`render_report` (``version``, ``raw``, ``worst_per_flag``,
        ``max_media``, ``preview_s``, ``progress``).

    Returns
    -------
    ReportResult
    """
    from svcprep.errors import StoreError
    from svcprep.store.atomic import atomic_write_text, write_error_message

    html, result = render_report(out, **kwargs)
    target = Path(path) if path is not None else default_report_path(out, kwargs.get("version"))
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_text(target, html)
    except OSError as err:
        raise StoreError(write_error_message(target.parent, err)) from None
    result.path = target
    return result
