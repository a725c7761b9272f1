"""The HTML report: its numbers against the manifest, its evidence, its safety and its CLI."""

from __future__ import annotations

import base64
import hashlib
import io
import json
import math
import re
import shutil
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from hypothesis import given, settings
from hypothesis import strategies as st

import svcprep
from svcprep.cli import main
from svcprep.report import render_report, write_report
from svcprep.report.data import (
    PITCH_BIN_CENTS,
    collect,
    flag_severity,
    hist_quantile_hz,
    pitch_histogram,
)
from svcprep.report.media import PREVIEW_RATE_HZ, ItemAudio, encode_preview, item_audio, render_item_figure
from svcprep.report.render import json_block
from svcprep.testing import f0_glide
from tests.reportdata import HOSTILE_FILE, HOSTILE_SPEAKER, scale_version


class _Page(HTMLParser):
    """Collects tags, attributes, script and style bodies of a page."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.scripts: list[tuple[dict[str, str | None], str]] = []
        self.styles: list[str] = []
        self.text: list[str] = []
        self._in: str | None = None
        self._attrs: dict[str, str | None] = {}

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))
        if tag in ("script", "style"):
            self._in, self._attrs = tag, dict(attrs)

    def handle_endtag(self, tag: str) -> None:
        if tag == self._in:
            self._in = None

    def handle_data(self, data: str) -> None:
        if self._in == "script":
            self.scripts.append((self._attrs, data))
        elif self._in == "style":
            self.styles.append(data)
        else:
            self.text.append(data)


def _parse(html: str) -> _Page:
    p = _Page()
    p.feed(html)
    p.close()
    return p


@pytest.fixture(scope="module")
def page(report_dataset) -> tuple[str, _Page]:
    html, _ = render_report(report_dataset.out, version="v0002")
    return html, _parse(html)


# --------------------------------------------------------------------------- numbers


def test_pitch_histogram_puts_known_tones_in_their_quarter_tone_bins() -> None:
    f0 = np.array([110.0] * 10 + [220.0] * 30 + [0.0] * 5 + [440.0] * 10, dtype=np.float32)
    h = pitch_histogram(f0)
    assert h.sum() == 50, "unvoiced frames are not counted"
    assert hist_quantile_hz(h, 0.1) == pytest.approx(110.0 * 2 ** (PITCH_BIN_CENTS / 2 / 1200), rel=1e-9)
    assert hist_quantile_hz(h, 0.5) == pytest.approx(220.0 * 2 ** (PITCH_BIN_CENTS / 2 / 1200), rel=1e-9)
    assert hist_quantile_hz(h, 0.95) == pytest.approx(440.0 * 2 ** (PITCH_BIN_CENTS / 2 / 1200), rel=1e-9)
    voiced = np.ones_like(f0)
    voiced[:10] = 0
    assert pitch_histogram(f0, voiced).sum() == 40, "the voicing mask is honoured"
    assert math.isnan(hist_quantile_hz(pitch_histogram([]), 0.5))


def test_pitch_histogram_of_a_glide_spreads_evenly_over_its_range() -> None:
    # a two-octave glide's F0 track at 10 ms frames: exponential in time, so equal frames per cent
    f0 = f0_glide(start_hz=110.0, end_hz=440.0, duration_s=4.0, sample_rate_hz=100)
    h = pitch_histogram(f0)
    occupied = h[h > 0]
    assert occupied.size == pytest.approx(2400 / PITCH_BIN_CENTS, abs=1)
    inner = occupied[1:-1]  # the end points may fall just inside a neighbouring bin
    assert inner.max() - inner.min() <= 1, "an exponential glide fills its bins evenly"
    lo, hi = hist_quantile_hz(h, 0.05), hist_quantile_hz(h, 0.95)
    # 5 % and 95 % of two octaves: 110 * 4**0.05 and 110 * 4**0.95, within half a bin
    assert abs(1200 * math.log2(lo / (110 * 4**0.05))) <= PITCH_BIN_CENTS
    assert abs(1200 * math.log2(hi / (110 * 4**0.95))) <= PITCH_BIN_CENTS


@given(value=st.floats(-1e6, 1e6, allow_nan=False), threshold=st.floats(-1e6, 1e6, allow_nan=False))
def test_flag_severity_is_zero_at_the_threshold_and_grows_away_from_it(
    value: float, threshold: float
) -> None:
    s = flag_severity({"value": value, "threshold": threshold})
    assert s >= 0 and math.isfinite(s)
    assert flag_severity({"value": threshold, "threshold": threshold}) == 0
    if value > 0 and threshold > 0:
        assert s == pytest.approx(abs(math.log2(value) - math.log2(threshold)), abs=1e-9)
    assert flag_severity({"value": None, "threshold": threshold}) == math.inf


def test_collected_numbers_match_the_manifest(report_dataset) -> None:
    data = collect(report_dataset.out, "v0001")
    recs = data.records
    items = [r for r in recs if r["status"] == "ok" and r["kind"] == "item" and not r["variant_of"]]
    for sp, stats in data.speakers.items():
        mine = [r for r in items if r["speaker"] == sp]
        assert stats.items == len(mine)
        assert stats.kept_s == pytest.approx(sum(r["duration_s"] for r in mine))
        assert stats.train_s + stats.val_s + stats.excluded_s == pytest.approx(stats.kept_s)
        assert stats.train_s == pytest.approx(sum(r["duration_s"] for r in mine if r["split"] == "train"))
        assert stats.flagged == sum(1 for r in mine if r["flags"])
        assert sorted(stats.loudness_lufs) == pytest.approx(
            sorted(r["metrics"]["loudness_lufs"] for r in mine)
        )
    # the silent 2 s file and the trimmed edges are dropped; source time is what was decoded
    ben = data.speakers["ben"]
    assert ben.source_s == pytest.approx(
        sum(data.version["source_seconds"][s] for s in data.version["source_seconds"] if s.startswith("ben/"))
    )
    assert ben.dropped_s >= 2.0
    assert ben.errors == 1, "broken.wav"
    assert data.totals["items"] == len(items)
    assert len(data.flagged_rows) == sum(len(r["flags"]) for r in recs if r["status"] == "ok")
    assert {r["id"] for r in data.other_rows} == {r["id"] for r in recs if r["status"] != "ok"}
    assert data.flag_counts["clipping"] == 1 and data.flag_counts["exact_duplicate"] == 1
    assert data.flag_counts["decode_error"] == 1 and data.flag_counts["silence"] == 1
    dup = next(r for r in data.flagged_rows if r["flag"] == "exact_duplicate")
    assert dup["id"].startswith("ann/take1_copy.flac") and dup["duplicate_of"].startswith("ann/take1.wav")


def test_pitch_range_comes_from_the_stored_f0_of_the_training_split(report_dataset) -> None:
    data = collect(report_dataset.out, "v0001")
    ds = svcprep.open(report_dataset.out, "v0001")
    for sp, stats in data.speakers.items():
        voiced = []
        for i in ds.ids:
            r = ds.record(i)
            if r["speaker"] == sp and r["split"] == "train":
                a = ds.arrays(i)
                voiced.append(a["f0"][(a["uv"] != 0) & (a["f0"] > 0)])
        lo, hi = stats.train_range_hz
        if not voiced:
            assert math.isnan(lo)
            continue
        f0 = np.concatenate(voiced).astype(np.float64)
        # independent: percentiles of the frames themselves, within one histogram bin
        for got, q in ((lo, 5), (hi, 95)):
            want = float(np.percentile(f0, q))
            assert abs(1200 * math.log2(got / want)) <= PITCH_BIN_CENTS, (sp, q, got, want)


def test_worst_items_are_ranked_by_how_far_past_the_threshold_they_are(report_dataset, tmp_path) -> None:
    out = tmp_path / "out"
    shutil.copytree(report_dataset.out, out)
    vid = scale_version(out, 300, seed=4)
    data = collect(out, vid, worst_per_flag=3)
    for flag, recs in data.worst.items():
        sev = [flag_severity(r["flag_details"][flag]) for r in recs]
        assert sev == sorted(sev, reverse=True)
        others = [
            flag_severity(r["flag_details"][flag])
            for r in data.records
            if r["status"] == "ok" and flag in r["flags"] and r not in recs
        ]
        assert not others or min(sev) >= max(others)


def test_changes_since_the_previous_version(report_dataset) -> None:
    data = collect(report_dataset.out, "v0002")
    ch = data.changes
    assert ch is not None and ch["previous"] == "v0001"
    assert ch["added"] == ["ann/take3.wav#000"] and ch["inputs_added"] == ["ann/take3.wav"]
    from svcprep.quality.flags import QualityConfig

    default = QualityConfig().min_snr_db
    assert {"key": "quality.min_snr_db", "old": default, "new": 5.0} in ch["config"]
    assert {"id": "ann/hiss.wav#000", "flag": "noisy"} in ch["cleared"]
    assert any(h["speaker"] == "ann" and h["new_s"] > h["old_s"] for h in ch["hours"])
    assert collect(report_dataset.out, "v0001").changes is None


# --------------------------------------------------------------------------- evidence


def test_media_shows_the_recording_as_it_is_on_disk_or_says_it_does_not(report_dataset, tmp_path) -> None:
    ds = svcprep.open(report_dataset.out, "v0001")
    rec = next(ds.record(i) for i in ds.ids if ds.record(i)["source"] == "ben/hot.wav")
    digest = ds.info["inputs"][rec["source"]]
    a = ds.arrays(rec["id"])
    got = item_audio(rec, a["audio"], ds.sample_rate, raw_root=report_dataset.raw, input_digest=digest)
    assert got.origin == "recording"
    x, sr = sf.read(report_dataset.raw / rec["source"], dtype="float32")
    start = round(rec["start_s"] * sr)
    np.testing.assert_array_equal(got.samples, x[start : start + got.samples.size])
    assert got.samples.size == pytest.approx(rec["duration_s"] * sr, abs=2)

    # a changed file is not the one the dataset was built from: the dataset audio is shown
    moved = tmp_path / "raw"
    shutil.copytree(report_dataset.raw, moved)
    with sf.SoundFile(moved / rec["source"], "r+") as f:
        f.seek(100)
        f.write(np.zeros(10, np.float32))
    got = item_audio(rec, a["audio"], ds.sample_rate, raw_root=moved, input_digest=digest)
    assert got.origin == "dataset" and got.sample_rate_hz == ds.sample_rate
    np.testing.assert_array_equal(got.samples, a["audio"])
    got = item_audio(rec, a["audio"], ds.sample_rate, raw_root=tmp_path / "nowhere", input_digest=digest)
    assert got.origin == "dataset"


def test_preview_is_small_and_decodes_to_the_same_sound() -> None:
    sr = 44100
    t = np.arange(int(3.0 * sr)) / sr
    x = (0.4 * np.sin(2 * np.pi * 330.0 * t)).astype(np.float32)
    mp3 = encode_preview(x, sr)
    assert len(mp3) < 3.0 * 64000 / 8, "under 64 kbit/s"
    y, rate = sf.read(io.BytesIO(mp3), dtype="float32")
    assert rate == PREVIEW_RATE_HZ
    assert y.size == pytest.approx(3.0 * PREVIEW_RATE_HZ, rel=0.05)
    spec = np.abs(np.fft.rfft(y[:PREVIEW_RATE_HZ] * np.hanning(PREVIEW_RATE_HZ)))
    assert np.argmax(spec) == pytest.approx(330, abs=1), "the tone survives encoding"
    assert np.sqrt(np.mean(y[2000:-2000] ** 2)) == pytest.approx(0.4 / np.sqrt(2), rel=0.1)
    assert len(encode_preview(np.zeros(0, np.float32), sr)) > 0, "an empty item still gives a playable file"


def test_item_figure_is_a_jpeg_of_the_requested_width() -> None:
    from PIL import Image

    sr = 16000
    x = (0.3 * np.sin(2 * np.pi * 200 * np.arange(sr) / sr)).astype(np.float32)
    f0 = np.full(100, 200.0, np.float32)
    f0[40:50] = 0
    jpeg = render_item_figure(
        ItemAudio(x, sr, "dataset"), f0_hz=f0, frame_period_s=0.01, title="<b>x</b>", mark_peaks=True
    )
    im = Image.open(io.BytesIO(jpeg))
    assert im.format == "JPEG" and im.size[0] == 760
    assert np.asarray(im.convert("L")).std() > 20, "not a blank image"


@pytest.mark.parametrize("flag", ["hum", "dropout", "reverberant", "low_bandwidth", "lossy_codec", "noisy"])
def test_item_figure_draws_the_evidence_of_hum_dropout_and_reverb(flag: str) -> None:
    from PIL import Image

    sr = 16000
    t = np.arange(3 * sr) / sr
    x = 0.3 * np.sin(2 * np.pi * 220 * t) * (1 + 0.5 * np.sin(2 * np.pi * 1.5 * t))
    x += 0.05 * np.sin(2 * np.pi * 50 * t)
    x[sr : sr + 480] = 0.0  # a 30 ms dropout
    x[int(2.5 * sr) :] *= np.exp(-np.arange(x.size - int(2.5 * sr)) / sr / 0.05)  # a decay
    audio = ItemAudio(x.astype(np.float32), sr, "recording")
    plain = Image.open(io.BytesIO(render_item_figure(audio, f0_hz=None, frame_period_s=0.01, title="x")))
    jpeg = render_item_figure(
        audio, f0_hz=None, frame_period_s=0.01, title="x", evidence=flag, metrics={"hum_hz": 50.0}
    )
    im = Image.open(io.BytesIO(jpeg))
    assert im.size[0] == plain.size[0] and im.size[1] > 1.5 * plain.size[1], "a third panel"
    bottom = np.asarray(im.convert("L"))[int(0.72 * im.size[1]) :]
    assert bottom.std() > 10, "the evidence panel is drawn"
    # a flag without evidence keeps the two panels
    other = render_item_figure(audio, f0_hz=None, frame_period_s=0.01, title="x", evidence="too_short")
    assert Image.open(io.BytesIO(other)).size == plain.size


def test_accompaniment_evidence_marks_the_struck_partials() -> None:
    from PIL import Image

    from svcprep import testing

    sr = 22050
    sung = testing.sing_phrase(sample_rate_hz=sr).audio.astype(np.float64)
    notes = np.resize([131.0, 165.0, 196.0, 165.0], 14)
    piano = testing.struck_notes(notes, np.arange(14) * 0.28, duration_s=sung.size / sr, sample_rate_hz=sr)
    x = (sung + 0.5 * piano.astype(np.float64)[: sung.size]).astype(np.float32)

    def red_share(jpeg: bytes) -> float:
        im = np.asarray(Image.open(io.BytesIO(jpeg)).convert("RGB")).astype(int)
        bottom = im[int(0.72 * im.shape[0]) :]
        red = (bottom[..., 0] > 170) & (bottom[..., 1] < 90) & (bottom[..., 2] < 90)
        return float(red.mean())

    for audio, expect in ((x, True), (sung.astype(np.float32), False)):
        item = ItemAudio(audio, sr, "recording")
        jpeg = render_item_figure(item, f0_hz=None, frame_period_s=0.01, title="x", evidence="accompaniment")
        # the piano's partials are drawn in red; the voice alone has none to draw
        assert (red_share(jpeg) > 0.002) is expect


def test_clipping_evidence_draws_a_flat_crest_only_where_there_is_one() -> None:
    from PIL import Image

    from svcprep import testing

    sr = 22050
    sung = testing.sing_phrase(sample_rate_hz=sr, amplitude=0.9).audio.astype(np.float64)
    clipped = (0.7 * testing.clipped(sung / np.abs(sung).max(), gain_db=6.0)).astype(np.float32)

    def drawn(x: np.ndarray) -> float:
        jpeg = render_item_figure(
            ItemAudio(x, sr, "recording"), f0_hz=None, frame_period_s=0.01, title="x", evidence="clipping"
        )
        im = np.asarray(Image.open(io.BytesIO(jpeg)).convert("RGB")).astype(int)
        bottom = im[int(0.72 * im.shape[0]) :]
        return float((bottom.max(axis=-1) - bottom.min(axis=-1) > 80).mean())  # the crest and its bands

    assert drawn(clipped) > 0.005, "the widest flat crest and its 2 % / 6 % bands are drawn"
    t = np.arange(2 * sr) / sr
    smooth = 0.5 * np.sin(2 * np.pi * 220 * t) * (1 + 0.3 * np.sin(2 * np.pi * 3 * t))
    assert drawn(smooth.astype(np.float32)) < drawn(clipped) / 5, "smooth crests: nothing to draw"


@pytest.mark.parametrize("flag", ["dead_channel", "channel_cancellation"])
def test_channel_flags_draw_each_channel_of_the_recording(flag: str) -> None:
    from PIL import Image

    sr = 16000
    t = np.arange(2 * sr) / sr
    voice = (0.3 * np.sin(2 * np.pi * 220 * t) * (1 + 0.5 * np.sin(2 * np.pi * 2 * t))).astype(np.float32)
    other = np.zeros_like(voice) if flag == "dead_channel" else -0.98 * voice
    chans = np.stack([voice, other], axis=1)
    metrics = {"quietest_channel_db": -240.0, "downmix_rms_ratio": 0.01}

    def colour_share(audio: ItemAudio) -> tuple[float, tuple[int, int]]:
        jpeg = render_item_figure(
            audio, f0_hz=None, frame_period_s=0.01, title="x", evidence=flag, metrics=metrics
        )
        im = np.asarray(Image.open(io.BytesIO(jpeg)).convert("RGB")).astype(int)
        bottom = im[int(0.72 * im.shape[0]) :]
        coloured = bottom.max(axis=-1) - bottom.min(axis=-1) > 80  # the level lines; text and axes are grey
        return float(coloured.mean()), im.shape[:2]

    mono = chans.mean(axis=1)
    drawn, size = colour_share(ItemAudio(mono, sr, "recording", channels=chans))
    assert drawn > 0.0008, "the channels' level lines are drawn"
    # without the raw multichannel file the panel says what the build read, and draws no lines
    bare, size2 = colour_share(ItemAudio(mono, sr, "dataset"))
    assert size2 == size and bare < drawn / 5


def test_speaker_figure_marks_the_speaker_outliers() -> None:
    from PIL import Image

    from svcprep.report.data import SpeakerStats, pitch_histogram
    from svcprep.report.plots import speaker_figure

    rng = np.random.default_rng(0)
    f0 = np.concatenate([220 * 2 ** (rng.normal(0, 0.1, 3000)), np.zeros(100)]).astype(np.float32)
    sp = SpeakerStats("ann", items=6, pitch_all=pitch_histogram(f0, (f0 > 0).astype(np.uint8)))
    sp.item_pitch_hz = [(f"ann/t{i}.wav#000", 215.0 + 3 * i, False) for i in range(5)]
    plain = np.asarray(Image.open(io.BytesIO(speaker_figure(sp, {}))).convert("RGB")).astype(int)
    sp.item_pitch_hz.append(("ann/other.wav#000", 110.0, True))
    marked = np.asarray(Image.open(io.BytesIO(speaker_figure(sp, {}))).convert("RGB")).astype(int)

    def red(im: np.ndarray) -> float:
        left = im[:, : im.shape[1] // 2]  # the pitch panel
        return float(((left[..., 0] > 180) & (left[..., 1] < 80) & (left[..., 2] < 80)).mean())

    assert red(plain) == 0.0 and red(marked) > 0.0005, "the outlier's median pitch is drawn in red"


# --------------------------------------------------------------------------- the page


def test_page_is_self_contained(page) -> None:
    html, p = page
    for tag, attrs in p.tags:
        for name in ("src", "href", "action", "data", "poster", "srcset"):
            v = attrs.get(name)
            if v is None:
                continue
            assert v.startswith(("data:", "#")), f"<{tag} {name}={v[:60]!r}> loads something from outside"
    assert not re.search(r"https?://", html.split("<script>")[0]), "no remote address in the markup"
    assert "@import" not in "".join(p.styles) and "url(" not in "".join(p.styles)


def test_csp_admits_exactly_the_page_script_and_style(page) -> None:
    _, p = page
    meta = next(a for t, a in p.tags if t == "meta" and a.get("http-equiv") == "Content-Security-Policy")
    csp = meta["content"] or ""
    code = [body for attrs, body in p.scripts if "type" not in attrs]
    assert len(code) == 1 and len(p.styles) == 1
    for body, directive in ((code[0], "script-src"), (p.styles[0], "style-src")):
        h = "sha256-" + base64.b64encode(hashlib.sha256(body.encode()).digest()).decode()
        assert f"{directive} '{h}'" in csp
    assert "default-src 'none'" in csp and "unsafe-inline" not in csp
    assert not any(k.startswith("on") for _, a in p.tags for k in a), "no inline event handlers"


def test_names_from_the_data_are_text_never_markup(page) -> None:
    html, p = page
    for hostile in (HOSTILE_SPEAKER, HOSTILE_FILE):
        assert hostile not in html, "raw markup from a name made it into the page"
    assert not any((t in ("img", "svg") and "onerror" in a) or "onload" in a for t, a in p.tags)
    text = "".join(p.text)
    assert HOSTILE_SPEAKER in text, "the speaker name is shown, as text"
    # the table data: JSON that no name can end early, and that reads back unchanged
    blocks = {a.get("id"): body for a, body in p.scripts if a.get("type") == "application/json"}
    assert set(blocks) >= {"data-flagged", "data-other", "data-media"}
    for body in blocks.values():
        assert "<" not in body and ">" not in body
    other = json.loads(blocks["data-other"])
    ids = [row[0] for row in other["rows"]]
    assert "ben/broken.wav" in ids
    spk = {row[1] for row in json.loads(blocks["data-flagged"])["rows"]} | {row[1] for row in other["rows"]}
    assert spk <= {"ann", "ben", HOSTILE_SPEAKER}


@settings(max_examples=200)
@given(
    st.recursive(st.text() | st.integers() | st.none(), lambda c: st.lists(c) | st.dictionaries(st.text(), c))
)
def test_json_block_round_trips_anything_and_cannot_be_closed_early(payload: object) -> None:
    block = json_block("x", payload)
    assert block.startswith('<script type="application/json" id="x">') and block.endswith("</script>")
    inner = block[len('<script type="application/json" id="x">') : -len("</script>")]
    assert "<" not in inner and ">" not in inner
    assert json.loads(inner) == payload


def test_sections_show_summary_speakers_flags_evidence_and_changes(report_dataset) -> None:
    html, res = render_report(report_dataset.out, version="v0002")
    p = _parse(html)
    text = " ".join(p.text)
    ids = {a.get("id") for _, a in p.tags}
    assert {"summary", "speakers", "flags", "worst", "not-in-dataset", "changes"} <= ids
    assert "v0002" in text and "svcprep " + svcprep.__version__ in text
    assert "quality.min_snr_db" in text and "ann/take3.wav#000" in text, "changes listed"
    assert "[quality]" in text and "min_snr_db = 5.0" in text, "the config of the version, as TOML"
    audio = [a for t, a in p.tags if t == "audio"]
    imgs = [a for t, a in p.tags if t == "img"]
    # clipping and exact_duplicate still flagged in v0002: each gets a card; the duplicate also
    # plays the item it duplicates
    assert res.media_items == 2 and len(audio) == 3
    for a in audio:
        mp3 = base64.b64decode((a["src"] or "").split(",", 1)[1])
        y, rate = sf.read(io.BytesIO(mp3))
        assert rate == PREVIEW_RATE_HZ and y.size > PREVIEW_RATE_HZ
    assert len(imgs) == 1 + 3 + 2, "duration bars, one figure per speaker, one per card"
    assert "recording as it is on disk" in text


def test_media_is_capped_for_large_datasets(big_report) -> None:
    html = big_report.html_path.read_text(encoding="utf-8")
    assert big_report.media_items == big_report.max_media
    p = _parse(html)
    assert len([1 for t, _ in p.tags if t == "audio"]) <= 2 * big_report.max_media
    rows = json.loads(next(b for a, b in p.scripts if a.get("id") == "data-flagged"))["rows"]
    data = collect(big_report.out, big_report.version)
    assert len(rows) == len(data.flagged_rows) > 3000
    assert len(html.encode()) < 12e6, f"{len(html) / 1e6:.1f} MB"
    html, none = render_report(
        big_report.out, version=big_report.version, worst_per_flag=0, max_speaker_figures=3
    )
    assert none.media_items == 0
    imgs = [a for t, a in _parse(html).tags if t == "img"]
    assert len(imgs) == 1 + 3, "the duration bars and charts for the three largest speakers only"
    assert re.search(r"Charts are drawn for the speakers with the most audio only \(3 of 1\d\)", html)


def test_report_of_a_version_whose_parent_was_collected_says_so(report_dataset, tmp_path) -> None:
    out = tmp_path / "out"
    shutil.copytree(report_dataset.out, out)
    for f in (out / "versions").glob("v0001*"):
        f.unlink()
    html, _ = render_report(out, version="v0002")
    assert "no longer readable" in html


# --------------------------------------------------------------------------- CLI


def test_cli_report_writes_one_file_atomically(report_dataset, tmp_path, capsys) -> None:
    out = tmp_path / "out"
    shutil.copytree(report_dataset.out, out)
    assert main(["report", str(out), "--no-progress"]) == 0
    assert "report of" in capsys.readouterr().out
    assert (out / "report.html").stat().st_size > 10_000
    target = tmp_path / "sub" / "r.html"
    assert main(["report", str(out), "-o", str(target), "--version", "v0001", "--no-progress"]) == 0
    assert "v0001" in target.read_text()
    assert not [p for p in tmp_path.rglob("*") if ".tmp" in p.name], "no temporary files left"


def test_cli_report_errors_name_the_value_and_write_nothing(report_dataset, tmp_path, capsys) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    assert main(["report", str(empty)]) == 2
    assert "svcprep build" in capsys.readouterr().err
    assert main(["report", str(tmp_path / "missing")]) == 2
    assert main(["report", str(report_dataset.out), "--version", "v0099"]) == 2
    assert "v0099" in capsys.readouterr().err
    assert main(["report", str(report_dataset.out), "--report-worst", "-1"]) == 2
    assert "--report-worst=-1" in capsys.readouterr().err
    assert main(["report", str(report_dataset.out), "-o", str(tmp_path)]) == 2
    assert main(["report", str(report_dataset.out), "--raw", str(tmp_path / "nope")]) == 2
    assert not list(empty.iterdir())


def test_build_with_report_writes_it_after_the_build(tmp_path, capsys) -> None:
    from tests.reportdata import make_raw

    raw = make_raw(tmp_path)
    out = tmp_path / "out"
    # a bad report option fails before any work
    assert main(["build", str(raw), str(out), "--report", "--report-max-media", "-2"]) == 2
    assert not out.exists()
    args = ["build", str(raw), str(out), "--no-progress", "-j", "2", "--set", "denoise.spectral_gating=false"]
    args += ["--set", "f0.method=dio"]  # the F0 extractor is not what this test is about
    assert main([*args, "--report"]) == 1, "broken.wav fails: exit 1, report still written"
    html = (out / "report.html").read_text()
    assert "recording as it is on disk" in html
    assert main([*args, "--report", str(tmp_path / "elsewhere.html")]) == 1
    assert (tmp_path / "elsewhere.html").is_file()


def test_write_report_returns_what_it_wrote(report_dataset, tmp_path) -> None:
    res = write_report(report_dataset.out, tmp_path / "r.html", version="v0001")
    assert res.path == tmp_path / "r.html" and res.version == "v0001"
    assert res.bytes == (tmp_path / "r.html").stat().st_size
    assert set(res.seconds) == {"collect", "plots", "media", "html"}
    assert Path(res.path).read_text().startswith("<!DOCTYPE html>")


def test_report_of_a_dataset_with_no_items(tmp_path) -> None:
    raw = tmp_path / "raw" / "sp"
    raw.mkdir(parents=True)
    (raw / "x.wav").write_bytes(b"RIFF" + bytes(300))
    out = tmp_path / "out"
    assert svcprep.build(raw.parent, out).exit_code == 1
    html, res = render_report(out)
    p = _parse(html)
    assert res.media_items == 0 and res.flagged_rows == 0
    assert not [a for t, a in p.tags if t == "img"], "no charts of nothing"
    text = " ".join(p.text)
    assert "No items in the dataset from this speaker" in text and "sp/x.wav" in html
    assert not any(a.get("id") == "flagged-table" for _, a in p.tags)
