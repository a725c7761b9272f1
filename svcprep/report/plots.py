"""The report's charts as PNG bytes (matplotlib's Agg canvas; no display, no pyplot)."""

from __future__ import annotations

import io
import math
from typing import Any

import numpy as np

from svcprep.report.data import PITCH_BIN_CENTS, PITCH_MIDI_RANGE, SpeakerStats

__all__ = ["duration_bars", "speaker_figure"]

_COLORS = {"train": "#2b8a3e", "val": "#1c7ed6", "excluded": "#f08c00", "dropped": "#adb5bd"}
_NOTES = ("C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B")


def _png(fig: Any, dpi: int) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi)
    return buf.getvalue()


def duration_bars(speakers: dict[str, SpeakerStats], *, max_speakers: int = 40, dpi: int = 80) -> bytes:
    """Horizontal stacked bars per speaker: minutes in train, val, excluded and dropped.

    At most ``max_speakers`` (the largest) are drawn; the report's table lists all of them.
    """
    from matplotlib.figure import Figure

    rows = sorted(speakers.values(), key=lambda s: (-s.source_s, s.name))[:max_speakers]
    rows.reverse()
    fig = Figure(figsize=(9.5, 0.9 + 0.32 * max(1, len(rows))), dpi=dpi)
    ax = fig.add_subplot(1, 1, 1)
    y = np.arange(len(rows))
    left = np.zeros(len(rows))
    scale = 60.0 if max((s.source_s for s in rows), default=0) < 2 * 3600 else 3600.0
    unit = "minutes" if scale == 60.0 else "hours"
    for part in ("train", "val", "excluded", "dropped"):
        vals = np.array([getattr(s, f"{part}_s") / scale for s in rows])
        ax.barh(y, vals, left=left, color=_COLORS[part], label=part, height=0.7)
        left += vals
    ax.set_yticks(y)
    ax.set_yticklabels([s.name if len(s.name) <= 28 else s.name[:27] + "…" for s in rows], fontsize=9)
    ax.set_xlabel(unit)
    ax.legend(loc="lower left", bbox_to_anchor=(0.0, 1.0), fontsize=8, ncols=4, frameon=False)
    ax.grid(axis="x", alpha=0.3)
    fig.tight_layout()
    return _png(fig, dpi)


def _note_ticks(lo_midi: float, hi_midi: float) -> tuple[list[float], list[str]]:
    ticks = [float(m) for m in range(math.ceil(lo_midi), int(hi_midi) + 1) if m % 12 == 0]
    if len(ticks) < 3:
        ticks = [float(m) for m in range(math.ceil(lo_midi), int(hi_midi) + 1) if m % 12 in (0, 7)]
    return ticks, [f"{_NOTES[int(m) % 12]}{int(m) // 12 - 1}" for m in ticks]


def speaker_figure(sp: SpeakerStats, config: dict[str, Any], *, dpi: int = 80) -> bytes:
    """Three panels for one speaker: pitch histogram on a note axis (training range shaded,
    extractor limits dashed), loudness distribution and duration distribution."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(11.0, 2.6), dpi=dpi)
    gs = fig.add_gridspec(
        1, 3, width_ratios=(2.2, 1, 1), wspace=0.28, left=0.05, right=0.99, top=0.86, bottom=0.2
    )
    ax = fig.add_subplot(gs[0])
    lo, hi = PITCH_MIDI_RANGE
    step = PITCH_BIN_CENTS / 100.0
    centers = np.arange(lo, hi, step) + step / 2
    total = max(1, int(sp.pitch_all.sum()))
    nz = np.flatnonzero(sp.pitch_all)
    if nz.size:
        view_lo = max(lo, centers[nz[0]] - 4)
        view_hi = min(hi, centers[nz[-1]] + 4)
    else:
        view_lo, view_hi = 36.0, 84.0
    # each item's median pitch as a tick under the histogram; speaker outliers in red, named
    item_midi = [(i, 69 + 12 * math.log2(f / 440.0), out) for i, f, out in sp.item_pitch_hz]
    for _, m, out in item_midi:
        if out:
            view_lo, view_hi = min(view_lo, m - 2), max(view_hi, m + 2)
    edges = np.append(centers - step / 2, centers[-1] + step / 2)
    ax.stairs(sp.pitch_all / total * 100, edges, fill=True, color="#ced4da", label="all kept items")
    ax.stairs(sp.pitch_train / total * 100, edges, fill=True, color="#2b8a3e", label="training split")
    r_lo, r_hi = sp.train_range_hz
    if math.isfinite(r_lo):
        m_lo, m_hi = (69 + 12 * math.log2(f / 440.0) for f in (r_lo, r_hi))
        ax.axvspan(m_lo, m_hi, color="#2b8a3e", alpha=0.12, label=f"training range {sp.train_range_notes}")
    f0c = config.get("f0", {})
    for key in ("f0_floor_hz", "f0_ceil_hz"):
        f = f0c.get(key)
        if isinstance(f, (int, float)) and f > 0:
            m = 69 + 12 * math.log2(f / 440.0)
            if view_lo - 6 <= m <= view_hi + 6:
                view_lo, view_hi = min(view_lo, m - 1), max(view_hi, m + 1)
                ax.axvline(m, color="#868e96", linestyle="--", linewidth=1)
    if item_midi:
        trans = ax.get_xaxis_transform()  # x in data, y in axes fractions
        normal = [m for _, m, out in item_midi if not out]
        ax.vlines(normal, 0.0, 0.06, transform=trans, color="#495057", linewidth=0.8, label="item medians")
        outliers = [(i, m) for i, m, out in item_midi if out]
        if outliers:
            ax.vlines([m for _, m in outliers], 0.0, 0.16, transform=trans, color="#d62728", linewidth=2.0,
                      label="speaker_outlier")  # fmt: skip
            for i, m in outliers[:4]:
                ax.text(m, 0.18, i.rsplit("/", 1)[-1][:24], transform=trans, fontsize=6, color="#d62728",
                        rotation=90, ha="center", va="bottom")  # fmt: skip
    ticks, labels = _note_ticks(view_lo, view_hi)
    ax.set_xticks(ticks)
    ax.set_xticklabels(labels)
    ax.set_xlim(view_lo, view_hi)
    ax.set_ylabel("% of voiced frames")
    ax.set_title("pitch (dashed: F0 search limits; ticks: each item's median)", fontsize=9, loc="left")
    ax.legend(fontsize=7, loc="upper right")

    ax2 = fig.add_subplot(gs[1])
    if sp.loudness_lufs:
        vals = np.array(sp.loudness_lufs)
        ax2.hist(vals, bins=min(30, max(5, vals.size // 3)), color="#5c7cfa", histtype="stepfilled")
        ax2.axvline(float(np.median(vals)), color="#212529", linewidth=1)
    ax2.set_xlabel("LUFS")
    ax2.set_title("loudness per item (line: median)", fontsize=9, loc="left")

    ax3 = fig.add_subplot(gs[2])
    if sp.durations_s:
        vals = np.array(sp.durations_s)
        ax3.hist(vals, bins=min(30, max(5, vals.size // 3)), color="#f59f00", histtype="stepfilled")
    ax3.set_xlabel("seconds")
    ax3.set_title("item durations", fontsize=9, loc="left")
    return _png(fig, dpi)
