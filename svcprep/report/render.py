"""The report as one self-contained HTML page.

Every value from the data (file names, speaker names, reasons, config values) passes
through :func:`html.escape` or, for the interactive tables, through a JSON block that the
page's script writes with ``textContent`` only. A Content-Security-Policy that admits
only this page's own script and style (by hash) and ``data:`` images and audio stops
anything else from running or loading, so a crafted file name cannot execute.
"""

from __future__ import annotations

import base64
import datetime as _dt
import hashlib
import json
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from html import escape
from importlib import resources
from typing import Any

from svcprep.quality.flags import FLAG_DOCS
from svcprep.report.data import ReportData
from svcprep.ui import format_duration

__all__ = ["MediaCard", "json_block", "render_html"]


@dataclass
class MediaCard:
    """One item shown with a spectrogram and an audio player."""

    anchor: str
    record: Mapping[str, Any]
    figure_jpeg: bytes
    audio_mp3: bytes
    origin: str
    anchor_flag: str = ""
    truncated_s: float = 0.0
    extra_audio: list[tuple[str, bytes]] = field(default_factory=list)


def e(value: Any) -> str:
    """HTML-escaped text of any value (quotes too, so it is safe in attributes)."""
    return escape("" if value is None else str(value), quote=True)


def json_block(element_id: str, payload: Any) -> str:
    """A ``<script type="application/json">`` element that no data can break out of."""
    text = json.dumps(payload, ensure_ascii=False, allow_nan=False, separators=(",", ":"))
    text = (
        text.replace("&", "\\u0026")
        .replace("<", "\\u003c")
        .replace(">", "\\u003e")
        .replace("\u2028", "\\u2028")
        .replace("\u2029", "\\u2029")
    )
    return f'<script type="application/json" id="{e(element_id)}">{text}</script>'


def _asset(name: str) -> str:
    return resources.files("svcprep.report").joinpath("assets", name).read_text(encoding="utf-8")


def _sha256(text: str) -> str:
    return "sha256-" + base64.b64encode(hashlib.sha256(text.encode("utf-8")).digest()).decode("ascii")


def _data_uri(mime: str, data: bytes) -> str:
    return f"data:{mime};base64," + base64.b64encode(data).decode("ascii")


def _num(value: Any, digits: int = 3) -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        if not math.isfinite(value):
            return "–"
        return (
            f"{value:.{digits}g}" if abs(value) < 1e-2 or abs(value) >= 1e5 else f"{round(value, digits):g}"
        )
    return e(value)


def _n(count: int, noun: str) -> str:
    return f"{count} {noun}" + ("" if count == 1 else "s")


def _dur(seconds: float) -> str:
    return e(format_duration(seconds))


def _hours(seconds: float) -> str:
    if seconds >= 3600:
        return f"{seconds / 3600:.2f} h"
    return f"{seconds / 60:.1f} min" if seconds >= 60 else f"{seconds:.1f} s"


def _table(head: Sequence[str], rows: Iterable[Sequence[str]], *, numeric: Sequence[int] = ()) -> str:
    """A static table; cells are already-escaped HTML."""
    th = "".join(f"<th{' class=num' if i in numeric else ''}>{h}</th>" for i, h in enumerate(head))
    body = "".join(
        "<tr>"
        + "".join(f"<td{' class=num' if i in numeric else ''}>{c}</td>" for i, c in enumerate(r))
        + "</tr>"
        for r in rows
    )
    return f'<table class="plain"><thead><tr>{th}</tr></thead><tbody>{body}</tbody></table>'


def _card(value: str, key: str, cls: str = "") -> str:
    return f'<div class="card {cls}"><div class="v">{value}</div><div class="k">{key}</div></div>'


def _config_text(config: dict[str, Any]) -> str:
    try:
        from svcprep.config import BuildConfig, config_to_toml

        return config_to_toml(BuildConfig.model_validate(config))
    except Exception:  # a version written by another svcprep: show it as it is stored
        return json.dumps(config, indent=2, sort_keys=True, ensure_ascii=False)


def _summary(data: ReportData, report_version: str) -> str:
    t, v = data.totals, data.version
    cards = [
        _card(
            _hours(t["kept_s"]),
            f"kept ({_hours(t['train_s'])} train, {_hours(t['val_s'])} val, "
            f"{_hours(t['excluded_s'])} excluded)",
        ),
        _card(_hours(t["dropped_s"]), "dropped (silence trimmed, short pieces, failed files)"),
        _card(
            str(int(t["items"])), "items" + (f" (+{int(t['variants'])} variants)" if t["variants"] else "")
        ),
        _card(str(int(t["speakers"])), "speakers"),
        _card(str(int(t["flagged_items"])), "flagged items", "warn" if t["flagged_items"] else ""),
        _card(str(int(t["errors"])), "failed inputs", "bad" if t["errors"] else ""),
    ]
    info = [
        ("dataset version", e(v.get("id"))),
        ("previous version", e(v.get("parent") or "none (first version)")),
        ("created (UTC)", e(v.get("created_utc", ""))),
        ("built with", f"svcprep {e(v.get('svcprep_version', '?'))}, Python {e(v.get('python', '?'))}"),
        ("report by", f"svcprep {e(report_version)}"),
        ("sample rate / hop", f"{e(v.get('sample_rate_hz'))} Hz / {e(v.get('hop_length'))} samples"),
        ("source audio", _dur(t["source_s"])),
        ("kept audio", _dur(t["kept_s"])),
        ("dropped pieces / failed files", f"{_dur(t['dropped_pieces_s'])} / {int(t['errors'])} records"),
        ("skipped (not audio)", str(int(t["skipped"]))),
        ("digest", f'<span class="muted">{e(v.get("digest", ""))}</span>'),
    ]
    libs = v.get("libraries", {}) or {}
    lib_rows = [(e(k), e(val)) for k, val in sorted(libs.items())]
    flags = (
        ", ".join(f'<span class="flagname">{e(k)}</span> {n}' for k, n in data.flag_counts.items()) or "none"
    )
    return (
        '<section id="summary"><h2>Summary</h2>'
        f'<div class="cards">{"".join(cards)}</div>'
        f"<p>Flags: {flags}</p>"
        + _table(("", ""), info)
        + f"<details><summary>Build config</summary><pre>{e(_config_text(data.config))}</pre></details>"
        + f"<details><summary>Library versions</summary>{_table(('library', 'version'), lib_rows)}</details>"
        + "</section>"
    )


def _speakers(data: ReportData, bars_png: bytes | None, figures: dict[str, bytes]) -> str:
    rows = []
    for sp in data.speakers.values():
        lo, hi = sp.train_range_hz
        rng = f"{e(sp.train_range_notes)} ({lo:.0f}–{hi:.0f} Hz)" if math.isfinite(lo) else "–"
        rows.append(
            (
                f'<a href="#sp-{e(_slug(sp.name))}">{e(sp.name)}</a>',
                str(sp.items),
                _dur(sp.kept_s),
                _dur(sp.train_s),
                _dur(sp.val_s),
                _dur(sp.excluded_s),
                _dur(sp.dropped_s),
                rng,
                f"{sp.voiced_share:.0%}" if math.isfinite(sp.voiced_share) else "–",
                str(sp.flagged),
                str(sp.errors),
            )
        )
    head = (
        "speaker",
        "items",
        "kept",
        "train",
        "val",
        "excluded",
        "dropped",
        "training pitch range",
        "voiced",
        "flagged",
        "errors",
    )
    parts = ['<section id="speakers"><h2>Speakers</h2>']
    if bars_png:
        parts.append(
            f'<img class="plot" alt="minutes per speaker: train, val, excluded, dropped" '
            f'src="{_data_uri("image/png", bars_png)}">'
        )
    parts.append(_table(head, rows, numeric=range(1, 11)))
    for sp in data.speakers.values():
        parts.append(f'<h3 id="sp-{e(_slug(sp.name))}">{e(sp.name)}</h3>')
        if sp.warnings:
            parts.append('<ul class="warnings">' + "".join(f"<li>{e(w)}</li>" for w in sp.warnings) + "</ul>")
        fig = figures.get(sp.name)
        if not sp.items:
            parts.append("<p class=muted>No items in the dataset from this speaker.</p>")
        elif not fig:
            parts.append(
                "<p class=muted>Charts are drawn for the speakers with the most audio only "
                f"({len(figures)} of {len(data.speakers)}); the table above has this speaker's numbers.</p>"
            )
        if fig:
            parts.append(
                f'<img class="plot" alt="{e(sp.name)}: pitch, loudness and duration distributions" '
                f'src="{_data_uri("image/png", fig)}">'
            )
    parts.append("</section>")
    return "".join(parts)


def _slug(name: str) -> str:
    """A stable id fragment for a name (hex digest, so any name is safe in an id)."""
    return hashlib.sha1(name.encode("utf-8", "surrogateescape")).hexdigest()[:10]


FLAGGED_COLUMNS: list[dict[str, Any]] = [
    {"key": "id", "label": "item", "type": "text"},
    {"key": "speaker", "label": "speaker", "type": "text", "facet": True},
    {"key": "flag", "label": "flag", "type": "text", "facet": True},
    {"key": "split", "label": "split", "type": "text", "facet": True},
    {"key": "metric", "label": "metric", "type": "text"},
    {"key": "value", "label": "value", "type": "num"},
    {"key": "threshold", "label": "threshold", "type": "num"},
    {"key": "severity", "label": "severity", "type": "num"},
    {"key": "reason", "label": "reason", "type": "text"},
    {"key": "duplicate_of", "label": "duplicate of", "type": "text"},
    {"key": "duration_s", "label": "seconds", "type": "sec"},
]
OTHER_COLUMNS: list[dict[str, Any]] = [
    {"key": "id", "label": "record", "type": "text"},
    {"key": "speaker", "label": "speaker", "type": "text", "facet": True},
    {"key": "status", "label": "status", "type": "text", "facet": True},
    {"key": "flag", "label": "flag", "type": "text", "facet": True},
    {"key": "reason", "label": "reason", "type": "text"},
    {"key": "duration_s", "label": "seconds", "type": "sec"},
]


def _spec(columns: list[dict[str, Any]], rows: list[dict[str, Any]]) -> dict[str, Any]:
    return {"columns": columns, "rows": [[r.get(c["key"]) for c in columns] for r in rows]}


def _flags(data: ReportData) -> str:
    rows = []
    for name, n in data.flag_counts.items():
        rows.append(
            (
                f'<button type="button" class="link flagname" data-show-flag="{e(name)}">{e(name)}</button>',
                str(n),
                e(FLAG_DOCS.get(name, "")),
            )
        )
    if not rows:
        body = "<p>No item is flagged.</p>"
    elif not data.flagged_rows:
        body = _table(("flag", "records", "meaning"), rows, numeric=(1,)) + (
            "<p>No item of the dataset is flagged; the flags above are on records listed under "
            '<a href="#not-in-dataset">Not in the dataset</a>.</p>'
        )
    else:
        body = (
            _table(("flag", "records", "meaning"), rows, numeric=(1,))
            + "<p class=muted>Click a flag to list its items. Severity is how far the metric is past its "
            "threshold (octaves for ratios), so sorting by it puts the clearest cases first.</p>"
            + '<div id="flagged-table" data-table="data-flagged"></div>'
        )
    return f'<section id="flags"><h2>Flags</h2>{body}</section>'


def _audio(data: bytes, label: str) -> str:
    if not data:
        return '<p class="muted">(no audio preview: this audio could not be encoded)</p>'
    return (
        f'<audio controls preload="none" aria-label="{e(label)}" '
        f'src="{_data_uri("audio/mpeg", data)}"></audio>'
    )


def _worst(data: ReportData, cards: dict[str, MediaCard], per_flag_ids: dict[str, list[str]]) -> str:
    parts = [
        '<section id="worst"><h2>Worst items per flag</h2>'
        "<p class=muted>Spectrogram (log frequency) with the stored F0 track in cyan, the waveform below, "
        "and the audio. Where the raw recording is still in place and unchanged it is what you hear and see; "
        "otherwise the processed dataset audio.</p>"
    ]
    if not per_flag_ids:
        parts.append("<p>No item is flagged.</p>")
    for flag, ids in per_flag_ids.items():
        parts.append(
            f'<h3><span class="flagname">{e(flag)}</span> <span class="muted">'
            f'{e(FLAG_DOCS.get(flag, ""))}</span></h3><div class="media-grid">'
        )
        for item_id in ids:
            card = cards.get(item_id)
            if card is None:
                continue
            rec = card.record
            d = rec.get("flag_details", {}).get(flag, {})
            if card.anchor_flag != flag:
                parts.append(
                    f'<div class="media"><p class="id">{e(item_id)}</p><p>{e(d.get("detail", ""))}</p>'
                    f'<p><a href="#{e(card.anchor)}">shown above under {e(card.anchor_flag)}</a></p></div>'
                )
                continue
            others = "".join(
                f"<p>{e(k)}: <span class=flagname>{e(v.get('detail', ''))}</span></p>"
                for k, v in rec.get("flag_details", {}).items()
                if k != flag
            )
            origin = "recording as it is on disk" if card.origin == "recording" else "processed dataset audio"
            cut = (
                f", first {float(rec.get('duration_s') or 0) - card.truncated_s:.0f} s"
                if card.truncated_s
                else ""
            )
            extra = "".join(f"<p>{e(lbl)}</p>{_audio(b, lbl)}" for lbl, b in card.extra_audio)
            parts.append(
                f'<div class="media" id="{e(card.anchor)}"><p class="id">{e(item_id)}</p>'
                f"<p>{e(d.get('detail', ''))} <span class=muted>({e(d.get('metric', ''))} = "
                f"{_num(d.get('value'))}, threshold {_num(d.get('threshold'))})</span></p>{others}"
                + (
                    f'<img alt="spectrogram and F0 of {e(item_id)}" '
                    f'src="{_data_uri("image/jpeg", card.figure_jpeg)}">'
                    if card.figure_jpeg
                    else '<p class="muted">(no spectrogram: it could not be drawn)</p>'
                )
                + f"{_audio(card.audio_mp3, item_id)}"
                f'<p class="muted">speaker {e(rec.get("speaker"))} · split {e(rec.get("split"))} · '
                f"{e(origin)}{e(cut)}</p>{extra}</div>"
            )
        parts.append("</div>")
    parts.append("</section>")
    return "".join(parts)


def _other(data: ReportData) -> str:
    if not data.other_rows:
        body = "<p>Every input made it into the dataset.</p>"
    else:
        body = (
            "<p class=muted>Records that are not items of the dataset: files that failed to decode, pieces "
            "too short to keep, silent sources and files that are not audio.</p>"
            '<div id="other-table" data-table="data-other"></div>'
        )
    return f'<section id="not-in-dataset"><h2>Not in the dataset</h2>{body}</section>'


def _id_list(title: str, ids: list[str], limit: int = 200) -> str:
    if not ids:
        return ""
    more = f"<li class=muted>… and {len(ids) - limit} more</li>" if len(ids) > limit else ""
    items = "".join(f"<li>{e(i)}</li>" for i in ids[:limit])
    return f"<details><summary>{e(title)} ({len(ids)})</summary><ul class=ids>{items}{more}</ul></details>"


def _changes(data: ReportData) -> str:
    ch = data.changes
    head = '<section id="changes"><h2>Changes since the previous version</h2>'
    if ch is None:
        return head + "<p>This is the first version: nothing to compare with.</p></section>"
    if "unavailable" in ch:
        return (
            head + f"<p>The previous version {e(ch['previous'])} is no longer readable "
            f"({e(ch['unavailable'])}), for example removed by <code>svcprep gc</code>.</p></section>"
        )
    parts = [
        head,
        f"<p>Compared with <b>{e(ch['previous'])}</b> ({e(ch.get('previous_created_utc', ''))}): "
        f"{_n(len(ch['added']), 'item')} added, {len(ch['removed'])} removed, "
        f"{len(ch['changed'])} with new features; "
        f"kept audio {ch['hours_before'] * 60:.1f} → {ch['hours_after'] * 60:.1f} min; "
        f"{_n(len(ch['newly_flagged']), 'new flag')}, {len(ch['cleared'])} cleared.</p>",
    ]
    if ch["config"]:
        rows = [(e(c["key"]), e(json.dumps(c["old"])), e(json.dumps(c["new"]))) for c in ch["config"]]
        parts.append("<h3>Config</h3>" + _table(("setting", "before", "after"), rows))
    if ch["hours"]:
        rows = [(e(h["speaker"]), _dur(h["old_s"]), _dur(h["new_s"])) for h in ch["hours"]]
        parts.append(
            "<h3>Kept audio per speaker</h3>" + _table(("speaker", "before", "after"), rows, numeric=(1, 2))
        )
    if ch["flags"]:
        rows = [
            (f'<span class="flagname">{e(f["flag"])}</span>', str(f["old"]), str(f["new"]))
            for f in ch["flags"]
        ]
        parts.append("<h3>Flag counts</h3>" + _table(("flag", "before", "after"), rows, numeric=(1, 2)))
    parts.append(_id_list("items added", ch["added"]))
    parts.append(_id_list("items removed", ch["removed"]))
    parts.append(_id_list("items with new features", ch["changed"]))
    parts.append(_id_list("newly flagged", [f"{x['id']}: {x['flag']}" for x in ch["newly_flagged"]]))
    parts.append(_id_list("flags cleared", [f"{x['id']}: {x['flag']}" for x in ch["cleared"]]))
    parts.append(_id_list("input files added", ch["inputs_added"]))
    parts.append(_id_list("input files removed", ch["inputs_removed"]))
    parts.append(_id_list("input files changed", ch["inputs_changed"]))
    parts.append("</section>")
    return "".join(parts)


def render_html(
    data: ReportData,
    *,
    report_version: str,
    bars_png: bytes | None,
    speaker_figures: dict[str, bytes],
    cards: dict[str, MediaCard],
    per_flag_ids: dict[str, list[str]],
) -> str:
    """The whole page as text."""
    css, js = _asset("report.css"), _asset("report.js")
    csp = (
        "default-src 'none'; img-src data:; media-src data:; "
        f"style-src '{_sha256(css)}'; script-src '{_sha256(js)}'; base-uri 'none'; form-action 'none'"
    )
    media_index = {i: c.anchor for i, c in cards.items()}
    title = f"svcprep report: {data.out.name or data.out} {data.vid}"
    generated = _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    body = [
        _summary(data, report_version),
        _speakers(data, bars_png, speaker_figures),
        _flags(data),
        _worst(data, cards, per_flag_ids),
        _other(data),
        _changes(data),
    ]
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f'<meta http-equiv="Content-Security-Policy" content="{e(csp)}">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f'<meta name="generator" content="svcprep {e(report_version)}">'
        f"<title>{e(title)}</title><style>{css}</style></head><body>"
        f'<header><h1>svcprep dataset report</h1><p class="sub">{e(data.out)} · version {e(data.vid)} · '
        f"built {e(data.version.get('created_utc', ''))}</p></header>"
        '<nav><a href="#summary">Summary</a><a href="#speakers">Speakers</a><a href="#flags">Flags</a>'
        '<a href="#worst">Worst items</a><a href="#not-in-dataset">Not in the dataset</a>'
        '<a href="#changes">Changes</a></nav><main>' + "".join(body) + "</main>"
        f"<footer>Written by svcprep {e(report_version)} on {e(generated)}. This file is self-contained: it "
        "loads nothing from the network.</footer>"
        + json_block("data-flagged", _spec(FLAGGED_COLUMNS, data.flagged_rows))
        + json_block("data-other", _spec(OTHER_COLUMNS, data.other_rows))
        + json_block("data-media", media_index)
        + f"<script>{js}</script></body></html>\n"
    )
