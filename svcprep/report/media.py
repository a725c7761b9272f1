"""Evidence for one item: its audio (as recorded when possible), a spectrogram with the F0
track drawn over it and the waveform, and a small MP3 preview.

Plots use matplotlib's Agg canvas directly (no pyplot, no display, no global state).
"""

from __future__ import annotations

import functools
import io
import math
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeAlias

import numpy as np
import numpy.typing as npt

__all__ = [
    "EVIDENCE_FLAGS",
    "ItemAudio",
    "displayable",
    "encode_preview",
    "item_audio",
    "render_item_figure",
]

#: Rate of the audio previews: enough for voice, small when encoded.
PREVIEW_RATE_HZ = 24000


#: A recording's channels as the evidence panels get them (None: not read from a multichannel file).
Channels: TypeAlias = "npt.NDArray[np.float32] | None"


@dataclass
class ItemAudio:
    """Samples of one item for display.

    Attributes
    ----------
    samples
        float32 mono.
    sample_rate_hz
        Rate of ``samples``.
    origin
        ``"recording"`` (read from the raw file, before any processing) or ``"dataset"``
        (the stored, processed item audio: levelled and denoised).
    truncated_s
        Seconds cut from the end to keep the preview short (0 when whole).
    channels
        The recording's channels, shape ``(n, channels)``, when it was read from a
        multichannel raw file (None otherwise): the ``dead_channel`` and
        ``channel_cancellation`` panels draw them.
    """

    samples: npt.NDArray[np.float32]
    sample_rate_hz: int
    origin: str
    truncated_s: float = 0.0
    channels: npt.NDArray[np.float32] | None = None


@functools.lru_cache(maxsize=256)
def _digest(path: str, size: int, mtime_ns: int) -> str:
    """A source file's digest, read once per (path, size, mtime) however many items it has."""
    from svcprep.store.keys import file_digest

    del size, mtime_ns  # part of the cache key only
    return file_digest(path)


def _raw_segment(
    path: Path, start_s: float, end_s: float, max_s: float
) -> tuple[npt.NDArray[np.float32], int, npt.NDArray[np.float32] | None]:
    import soundfile as sf

    with sf.SoundFile(str(path)) as f:
        sr = int(f.samplerate)
        start = max(0, round(start_s * sr))
        stop = round(min(end_s, start_s + max_s) * sr)
        f.seek(start)
        x = f.read(max(0, stop - start), dtype="float32", always_2d=True)
    return np.ascontiguousarray(x.mean(axis=1), dtype=np.float32), sr, (x if x.shape[1] > 1 else None)


def item_audio(
    record: Mapping[str, Any],
    dataset_audio: npt.NDArray[np.float32],
    dataset_rate_hz: int,
    *,
    raw_root: Path | None,
    input_digest: str | None,
    max_s: float = 12.0,
) -> ItemAudio:
    """The item's audio for the report: the raw recording's segment when the file is still
    there and unchanged (same digest as at build time), else the stored dataset audio.

    Parameters
    ----------
    record
        The item's manifest record (``source``, ``start_s``, ``end_s``).
    dataset_audio, dataset_rate_hz
        The stored item audio and its rate (fallback).
    raw_root
        The raw folder, or None.
    input_digest
        The source file's digest recorded by the build, or None.
    max_s
        Longest preview, seconds (the start of the item is kept).
    """
    dur = float(record.get("duration_s") or len(dataset_audio) / dataset_rate_hz)
    cut = max(0.0, dur - max_s)
    if raw_root is not None and input_digest and record.get("start_s") is not None:
        path = raw_root / record["source"]
        try:
            st = path.stat()
            if _digest(str(path), st.st_size, st.st_mtime_ns) == input_digest:
                x, sr, chans = _raw_segment(path, float(record["start_s"]), float(record["end_s"]), max_s)
                if x.size and np.isfinite(x).all():
                    return ItemAudio(x, sr, "recording", cut, chans)
        except Exception:  # unreadable by libsndfile, moved, permissions: show the dataset audio
            pass
    n = min(len(dataset_audio), round(max_s * dataset_rate_hz))
    x = np.ascontiguousarray(dataset_audio[:n], dtype=np.float32)
    return ItemAudio(x, int(dataset_rate_hz), "dataset", cut)


def displayable(samples: npt.ArrayLike) -> npt.NDArray[np.float32]:
    """float32 samples within [-1, 1]: NaN becomes 0 and anything beyond full scale is clipped.

    Encoders and plots get only this: a float recording may hold any value (3e38 makes the
    MP3 encoder abort the whole process, inf and NaN poison the spectrogram).
    """
    x = np.nan_to_num(np.asarray(samples, dtype=np.float32), nan=0.0, posinf=1.0, neginf=-1.0)
    return np.clip(x, -1.0, 1.0)


def encode_preview(samples: npt.NDArray[np.float32], sample_rate_hz: int, *, quality: float = 0.6) -> bytes:
    """A small mono MP3 of ``samples`` at :data:`PREVIEW_RATE_HZ` (plays in every browser).

    ``quality`` is libsndfile's compression level (0 best and largest, 1 smallest); the
    default gives about 48 kbit/s, enough to hear hiss and clipping.
    """
    import soundfile as sf
    import soxr

    x = displayable(samples)
    if sample_rate_hz != PREVIEW_RATE_HZ and x.size:
        x = displayable(soxr.resample(x, sample_rate_hz, PREVIEW_RATE_HZ, quality="HQ"))
    if x.size < PREVIEW_RATE_HZ // 10:  # a few frames at least, or the encoder writes nothing
        x = np.concatenate([x, np.zeros(PREVIEW_RATE_HZ // 10 - x.size, np.float32)])
    buf = io.BytesIO()
    sf.write(buf, x, PREVIEW_RATE_HZ, format="MP3", subtype="MPEG_LAYER_III", compression_level=quality)
    return buf.getvalue()


def _log_spectrogram(
    x: npt.NDArray[np.float32], sr: int, *, fmin_hz: float, rows: int, columns: int
) -> tuple[npt.NDArray[np.float32], float]:
    """dB magnitudes on ``rows`` log-spaced frequencies from ``fmin_hz`` to Nyquist."""
    n_fft = 1 << max(8, math.ceil(math.log2(0.046 * sr)))
    hop = max(n_fft // 8, math.ceil(max(1, x.size) / max(1, columns)))
    if x.size < n_fft:
        x = np.concatenate([x, np.zeros(n_fft - x.size, np.float32)])
    n = 1 + (x.size - n_fft) // hop
    idx = np.arange(n_fft)[None, :] + hop * np.arange(n)[:, None]
    win = np.hanning(n_fft).astype(np.float32)
    spec = np.abs(np.fft.rfft(x[idx] * win, axis=1)).T  # (bins, frames)
    db = 20 * np.log10(np.maximum(spec, 1e-10) / (win.sum() / 2))
    freqs = np.fft.rfftfreq(n_fft, 1.0 / sr)
    fmax = sr / 2.0
    targets = np.geomspace(fmin_hz, fmax, rows)
    pos = np.interp(targets, freqs, np.arange(freqs.size))
    lo = np.floor(pos).astype(int)
    hi = np.minimum(lo + 1, freqs.size - 1)
    w = (pos - lo)[:, None]
    out = (1 - w) * db[lo] + w * db[hi]
    return out.astype(np.float32), hop / sr


def render_item_figure(
    audio: ItemAudio,
    *,
    f0_hz: npt.NDArray[np.float32] | None,
    frame_period_s: float,
    title: str,
    voiced: npt.NDArray[np.uint8] | None = None,
    mark_peaks: bool = False,
    evidence: str | None = None,
    metrics: Mapping[str, Any] | None = None,
    width_px: int = 760,
    dpi: int = 80,
) -> bytes:
    """JPEG of a spectrogram (log frequency, dBFS) with the F0 track over it, and the waveform.

    With ``evidence`` one of :data:`EVIDENCE_FLAGS` a third panel shows what that
    detector read on the samples shown: for ``hum`` the steady spectrum up to 1 kHz with
    the mains multiples marked, for ``dropout`` the waveform around the longest
    digital-zero gap, for ``reverberant`` the level of the band with most of its steepest falls and
    the slope of the measured reverberation time, for ``accompaniment`` the struck
    partials found and the loud frames they open, for ``clipping`` the widest flat crest
    with the 2 % and 6 % bands under its top.

    Parameters
    ----------
    audio
        The samples shown.
    f0_hz
        Frame F0 of the item (0 = unvoiced), or None.
    voiced
        Frame voicing (non-zero = voiced); F0 is drawn on voiced frames only, since stored
        tracks may hold interpolated values in unvoiced frames.
    frame_period_s
        Seconds between F0 frames (frame ``i`` at ``i * frame_period_s``).
    title
        Figure title (drawn as text, never interpreted).
    mark_peaks
        Draw the sample peak as dashed lines on the waveform (for clipping).
    evidence
        The flag whose evidence to draw (None or another flag: no third panel).
    metrics
        The item's manifest metrics (``hum_hz`` picks the mains grid of the hum panel).
    """
    from matplotlib.figure import Figure

    x, sr = displayable(audio.samples), audio.sample_rate_hz
    dur = max(x.size / sr, 1e-3)
    fmin = 40.0
    rows = 240
    db, _ = _log_spectrogram(x, sr, fmin_hz=fmin, rows=rows, columns=width_px)
    extra = evidence in EVIDENCE_FLAGS
    fig = Figure(figsize=(width_px / dpi, 5.6 if extra else 3.4), dpi=dpi)
    if extra:
        gs = fig.add_gridspec(
            3, 1, height_ratios=(3.2, 1.0, 1.9), hspace=0.62, left=0.08, right=0.98, top=0.94, bottom=0.08
        )
    else:
        gs = fig.add_gridspec(
            2, 1, height_ratios=(3.2, 1.0), hspace=0.08, left=0.08, right=0.99, top=0.9, bottom=0.16
        )
    ax = fig.add_subplot(gs[0])
    top = float(np.max(db)) if db.size else 0.0
    ax.imshow(
        db,
        origin="lower",
        aspect="auto",
        cmap="magma",
        vmin=max(top - 90.0, -120.0),
        vmax=top,
        extent=(0.0, dur, 0.0, float(rows)),
        interpolation="nearest",
    )
    span = math.log(sr / 2.0 / fmin)

    def row_of(f: npt.ArrayLike) -> npt.NDArray[np.float64]:
        return np.log(np.asarray(f, dtype=np.float64) / fmin) / span * rows

    ticks = [f for f in (50, 100, 200, 500, 1000, 2000, 5000, 10000, 20000) if fmin <= f <= sr / 2]
    ax.set_yticks(row_of(ticks))
    ax.set_yticklabels([f"{f // 1000}k" if f >= 1000 else str(f) for f in ticks])
    ax.set_ylabel("Hz")
    ax.set_xticks([])
    ax.set_xlim(0, dur)
    if f0_hz is not None and len(f0_hz):
        f0 = np.asarray(f0_hz, dtype=np.float64)
        if voiced is not None and len(voiced) == f0.size:
            f0 = np.where(np.asarray(voiced) != 0, f0, 0.0)
        t = np.arange(f0.size) * frame_period_s
        keep = t <= dur
        y = np.where(f0[keep] > 0, row_of(np.where(f0[keep] > 0, f0[keep], fmin)), np.nan)
        ax.plot(t[keep], y, color="#3ee0ff", linewidth=1.6, label="F0")
        ax.legend(loc="upper right", fontsize=8, framealpha=0.6)
    ax.set_title(title, fontsize=9, loc="left")
    wv = fig.add_subplot(gs[1])
    cols = min(width_px, max(1, x.size))
    edges = np.linspace(0, x.size, cols + 1).astype(int)
    if x.size:
        lo = np.minimum.reduceat(x, edges[:-1])
        hi = np.maximum.reduceat(x, edges[:-1])
        tt = (edges[:-1] + edges[1:]) / 2 / sr
        wv.fill_between(tt, lo, hi, color="#3a6ea5", linewidth=0)
        if mark_peaks:
            peak = float(np.max(np.abs(x)))
            for s in (peak, -peak):
                wv.axhline(s, color="#d62728", linestyle="--", linewidth=0.9)
    wv.set_xlim(0, dur)
    wv.set_ylim(-1.05, 1.05)
    wv.set_yticks([-1, 0, 1])
    if not extra:
        wv.set_xlabel("s")
    else:
        ev = fig.add_subplot(gs[2])
        samples = np.asarray(x, dtype=np.float64)
        _EVIDENCE[str(evidence)](ev, samples, sr, dict(metrics or {}), audio.channels, str(evidence))
        ev.title.set_fontsize(9)
    buf = io.BytesIO()
    fig.savefig(buf, format="jpeg", dpi=dpi, pil_kwargs={"quality": 78, "optimize": True})
    return buf.getvalue()


# --------------------------------------------------------------------------- evidence panels


def _nothing_to_draw(ax: Any, title: str) -> None:
    """An evidence panel with nothing to draw: its title says why, with no axes."""
    ax.set_title(title, loc="left")
    ax.set_axis_off()


def _hum_panel(
    ax: Any, x: npt.NDArray[np.float64], sr: int, metrics: dict[str, Any], channels: Channels, flag: str
) -> None:
    from svcprep.quality.defects import hum_spectrum

    spectra = hum_spectrum(x - x.mean() if x.size else x, sample_rate_hz=sr)
    if spectra is None:
        ax.set_title("hum: the audio shown is too short for a 1 Hz spectrum", loc="left")
        return
    freqs, low, _ = spectra
    keep = (freqs >= 20) & (freqs <= 1000)
    ax.plot(freqs[keep], 10 * np.log10(np.maximum(low[keep], 1e-14)), color="#3a6ea5", linewidth=0.8)
    mains = float(metrics.get("hum_hz") or 0.0)
    if mains not in (50.0, 60.0):  # pick the grid whose multiples hold the most steady power
        mains = max((50.0, 60.0), key=lambda m: float(sum(low[int(k * m)] for k in range(1, int(1000 // m)))))
    for k in range(1, int(1000 // mains) + 1):
        ax.axvline(k * mains, color="#d62728", linestyle=":", linewidth=0.7)
    ax.set_xlim(20, 1010)
    ax.set_xlabel("Hz")
    ax.set_ylabel("dB")
    ax.set_title(
        f"hum: steady spectrum (20th percentile of 1 s frames); dotted: multiples of {mains:g} Hz",
        loc="left",
    )


def _dropout_panel(
    ax: Any, x: npt.NDArray[np.float64], sr: int, metrics: dict[str, Any], channels: Channels, flag: str
) -> None:
    from svcprep.quality.defects import dropout_gaps

    gaps = dropout_gaps(x, sample_rate_hz=sr)
    if not gaps:
        _nothing_to_draw(ax, "dropout: no digital-zero gap inside sound in the audio shown")
        return
    s0, e0 = max(gaps, key=lambda g: g[1] - g[0])
    pad = max(round(0.06 * sr), (e0 - s0) // 2)
    lo, hi = max(0, s0 - pad), min(x.size, e0 + pad)
    t = np.arange(lo, hi) / sr
    ax.plot(t, x[lo:hi], color="#3a6ea5", linewidth=0.7)
    for s, e in gaps:
        if e > lo and s < hi:
            ax.axvspan(max(s, lo) / sr, min(e, hi) / sr, color="#d62728", alpha=0.18)
    ax.set_xlim(lo / sr, hi / sr)
    ax.set_xlabel("s")
    ax.set_title(
        f"dropout: {len(gaps)} gap(s) of digital zero inside sound; longest {1000 * (e0 - s0) / sr:.0f} ms "
        f"at {s0 / sr:.2f} s (shaded)",
        loc="left",
    )


def _clipping_panel(
    ax: Any, x: npt.NDArray[np.float64], sr: int, metrics: dict[str, Any], channels: Channels, flag: str
) -> None:
    from svcprep.quality.defects import crest_summary, crests

    centred = x - x.mean() if x.size else x  # as crest_stats reads the item
    c = crests(centred)
    shaped = c.flat | c.straight
    if not shaped.any():
        _nothing_to_draw(ax, "clipping: no flat or straight crest top in the audio shown")
        return
    # the widest flat top shows the clip best
    i = int(np.flatnonzero(shaped)[np.argmax(c.within_2[shaped])])
    sign = int(c.polarity[i])
    s0, e0 = int(c.start[i]), int(c.end[i])
    pad = max(e0 - s0, round(0.002 * sr))
    lo, hi = max(0, s0 - pad), min(x.size, e0 + pad)
    t_ms = (np.arange(lo, hi) - c.top_index[i]) * 1000.0 / sr
    seg = centred[lo:hi] * sign
    top = float(seg[c.top_index[i] - lo])
    ax.plot(t_ms, seg, color="#3a6ea5", linewidth=0.9, marker=".", markersize=2.5)
    for share, style in ((0.02, "-"), (0.06, ":")):
        under = f"{share:.0%} under the top"
        ax.axhline(top * (1 - share), color="#d62728", linestyle=style, linewidth=0.8, label=under)
    ax.legend(fontsize=7, loc="lower right")
    ax.set_xlim(float(t_ms[0]), float(t_ms[-1]))
    ax.set_xlabel("ms from the crest's top")
    ax.set_ylabel("level" if sign > 0 else "-level")
    shown = crest_summary(c, duration_s=x.size / sr)  # of the audio shown, like the crest
    ax.set_title(
        f"clipping: the widest flat crest ({int(c.within_2[i])} samples within 2 %); "
        f"{shown['flat_crests']:.0f} flat near the peak, {shown['straight_crests']:.0f} straight",
        loc="left",
    )


def _reverb_panel(
    ax: Any, x: npt.NDArray[np.float64], sr: int, metrics: dict[str, Any], channels: Channels, flag: str
) -> None:
    from svcprep.quality.defects import ENVELOPE_FRAME_S, level_falls, steepest_fall_db_per_s

    lf = level_falls(x, sample_rate_hz=sr)
    rate = steepest_fall_db_per_s(lf)
    if rate <= 0:
        _nothing_to_draw(ax, "reverberant: too few falls of the band levels in the audio shown")
        return
    # the band with the most of the steepest falls, and those falls in red
    steep = lf.falling & (lf.slopes_db_per_s <= -rate)
    b = int(np.argmax(steep.sum(axis=1)))
    env = lf.levels_db[b]
    t = np.arange(env.size) * ENVELOPE_FRAME_S
    ax.plot(t, env, color="#3a6ea5", linewidth=0.8)
    for k in np.flatnonzero(steep[b]).tolist():
        n = int(lf.fitted_frames[b, k])  # the part of the window its slope was fitted to
        ax.plot(t[k : k + n], env[k : k + n], color="#d62728", linewidth=1.6)
    ks = np.flatnonzero(steep[b])
    j = int(ks[np.argmin(lf.slopes_db_per_s[b, ks])]) if ks.size else 0
    tt = np.array([t[j], t[j] + 0.4])
    ax.plot(tt, env[j] - rate * (tt - t[j]), color="#212529", linestyle="--", linewidth=0.9)
    lo, hi = lf.band_edges_hz[b]
    rt = 60.0 / rate  # of the samples shown (the manifest's is of the whole item)
    ax.set_title(
        f"reverberant: {lo:.0f}-{hi:.0f} Hz band level; red: steepest falls of all bands, "
        f"{rate:.0f} dB/s (dashed) = RT60 {rt:.2f} s",
        loc="left",
    )
    ax.set_ylim(max(float(np.min(env)), float(np.max(env)) - 80.0) - 2, float(np.max(env)) + 3)
    ax.set_xlim(0, max(t[-1] if t.size else 0.0, 1e-3))
    ax.set_xlabel("s")
    ax.set_ylabel("dB")


def _accompaniment_panel(
    ax: Any, x: npt.NDArray[np.float64], sr: int, metrics: dict[str, Any], channels: Channels, flag: str
) -> None:
    from svcprep.quality.defects import STRUCK_FRAMES, struck_partials

    sp = struck_partials(x, sample_rate_hz=sr)
    frame_s = sp.hop_length / sp.sample_rate_hz
    centre_s = sp.n_fft / 2 / sp.sample_rate_hz
    dur = max(x.size / sr, 1e-3)
    # the loud frames a struck note opens, shaded
    edges = np.flatnonzero(np.diff(np.r_[False, sp.opened, False].astype(np.int8)))
    for a, b in zip(edges[::2].tolist(), edges[1::2].tolist(), strict=True):
        ax.axvspan(a * frame_s + centre_s, b * frame_s + centre_s, color="#f0ad4e", alpha=0.25, linewidth=0)
    for t0, f in zip(sp.start_frames.tolist(), sp.freqs_hz.tolist(), strict=True):
        s0 = t0 * frame_s + centre_s
        ax.plot([s0, s0 + STRUCK_FRAMES * frame_s], [f, f], color="#d62728", linewidth=1.4)
    ax.set_yscale("log")
    ax.set_ylim(60.0, 4000.0)
    ax.set_xlim(0, dur)
    ax.set_xlabel("s")
    ax.set_ylabel("Hz")
    title = (
        f"accompaniment: struck partials (red: an onset, then a steady pitch that only decays); "
        f"they open {sp.struck_share:.0%} of the loud frames (shaded)"
        if sp.start_frames.size
        else "accompaniment: no struck note in the audio shown"
    )
    ax.set_title(title, loc="left")


def _channel_levels(
    ax: Any, x: npt.NDArray[np.float64], sr: int, metrics: dict[str, Any], channels: Channels, flag: str
) -> None:
    """Each channel's 20 ms level and their mean: the evidence of the loader's channel flags."""
    from svcprep.audio import DEAD_CHANNEL_DB

    if channels is None or channels.ndim != 2 or channels.shape[1] < 2:
        q, r = metrics.get("quietest_channel_db"), metrics.get("downmix_rms_ratio")
        read = (
            f"quietest channel {abs(q):.0f} dB under the loudest"
            if flag == "dead_channel" and isinstance(q, (int, float))
            else f"downmix at {r:.0%} of the channels' level"
            if isinstance(r, (int, float))
            else "no channel metrics"
        )
        _nothing_to_draw(ax, f"{flag}: no raw multichannel file here to draw; the build read {read}")
        return
    frame = max(1, round(0.02 * sr))
    n = channels.shape[0] // frame
    if n == 0:
        _nothing_to_draw(ax, f"{flag}: too short to draw")
        return

    def level(y: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
        ms = np.mean(y[: n * frame].reshape(n, frame) ** 2, axis=1)
        return np.maximum(10.0 * np.log10(np.maximum(ms, 1e-30)), -120.0)

    t = (np.arange(n) + 0.5) * frame / sr
    colors = ("#3a6ea5", "#f08c00", "#2b8a3e", "#ae3ec9")
    c64 = np.asarray(channels, dtype=np.float64)
    rms = np.sqrt(np.mean(c64**2, axis=0))
    levels = [level(c64[:, k]) for k in range(c64.shape[1])]
    for k, lv in enumerate(levels):
        ax.plot(t, lv, color=colors[k % len(colors)], linewidth=0.9, label=f"channel {k + 1}")
    mean_level = level(c64.mean(axis=1))
    ax.plot(t, mean_level, color="#212529", linewidth=1.2, linestyle=":", label="mean of the channels")
    top = float(np.max(levels[int(np.argmax(rms))]))
    if flag == "dead_channel":
        k = int(np.argmin(rms))
        under = 20 * math.log10(max(float(rms[k]), 1e-30) / max(float(rms.max()), 1e-30))
        ax.axhline(top - DEAD_CHANNEL_DB, color="#d62728", linestyle="--", linewidth=0.8)
        what = "digital silence" if under <= -120 else f"{-under:.0f} dB under the loudest"
        title = f"dead_channel: each channel's level (20 ms); channel {k + 1} is {what} (dead: dashed line)"
    else:
        ratio = float(np.sqrt(np.mean(c64.mean(axis=1) ** 2)) / max(float(rms.mean()), 1e-30))
        title = f"channel_cancellation: each channel's level (20 ms); their mean (dotted) keeps {ratio:.0%}"
    ax.set_ylim(-125.0, max(top + 6.0, -60.0))
    ax.set_xlim(0, n * frame / sr)
    ax.set_xlabel("s")
    ax.set_ylabel("dBFS")
    ax.legend(fontsize=7, loc="lower right", ncol=3)
    ax.set_title(title, loc="left")


def _spectrum_levels(
    ax: Any, x: npt.NDArray[np.float64], sr: int, metrics: dict[str, Any], channels: Channels, flag: str
) -> None:
    """low_bandwidth / lossy_codec / noisy: the long-term spectrum and the noise floor under it."""
    from svcprep.quality.metrics import BANDWIDTH_DROP_DB, spectrum_evidence

    ev = spectrum_evidence(x, sample_rate_hz=sr)
    if ev is None:
        _nothing_to_draw(ax, f"{flag}: no sound in the audio shown")
        return
    freqs, lt_db, floor_db = ev
    khz = freqs / 1000.0
    ax.plot(khz, lt_db, color="#3a6ea5", linewidth=1.0, label="long-term spectrum")
    ax.plot(khz, floor_db, color="#868e96", linewidth=0.9, label="noise floor (blind estimate)")
    ax.axhline(-BANDWIDTH_DROP_DB, color="#adb5bd", linestyle=":", linewidth=0.8)
    above = np.flatnonzero(lt_db >= -BANDWIDTH_DROP_DB)  # bandwidth_hz's rule, on the audio shown
    bw = float(freqs[above[-1]]) if above.size else 0.0
    down = f"{BANDWIDTH_DROP_DB:g} dB down: {bw / 1000:.1f} kHz"
    ax.axvline(bw / 1000.0, color="#d62728", linestyle="--", linewidth=0.9, label=down)
    if flag == "noisy":
        snr = metrics.get("snr_db")
        what = f"; estimated SNR {snr:.1f} dB" if isinstance(snr, (int, float)) else ""
        title = f"noisy: long-term spectrum and the noise floor under it{what}"
    elif flag == "lossy_codec":
        kbps = metrics.get("codec_kbps_per_channel")
        rate = f"{kbps:.0f} kbit/s per channel; " if isinstance(kbps, (int, float)) else ""
        title = f"lossy_codec: {rate}long-term spectrum (a codec's low-pass cuts it off)"
    else:
        top = f"{bw / 1000:.1f} kHz of {sr / 2000:.1f} kHz"
        title = f"low_bandwidth: nothing above {top} (upsampled or low-passed)"
    ax.set_ylim(-110.0, 5.0)
    ax.set_xlim(0, sr / 2000.0)
    ax.set_xlabel("kHz")
    ax.set_ylabel("dB re peak")
    ax.legend(fontsize=7, loc="upper right")
    ax.set_title(title, loc="left")


_EVIDENCE: dict[str, Any] = {
    "clipping": _clipping_panel,
    "hum": _hum_panel,
    "dropout": _dropout_panel,
    "reverberant": _reverb_panel,
    "accompaniment": _accompaniment_panel,
    "dead_channel": _channel_levels,
    "channel_cancellation": _channel_levels,
    "low_bandwidth": _spectrum_levels,
    "lossy_codec": _spectrum_levels,
    "noisy": _spectrum_levels,
}
#: Flags whose card gets a third panel with the detector's own evidence.
EVIDENCE_FLAGS = tuple(_EVIDENCE)
