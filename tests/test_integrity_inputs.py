"""No input can abort a build: lying headers, fuzzed bytes, hostile names (the integrity issue)."""

from __future__ import annotations

import json
import os
import struct
import tempfile
import tracemalloc
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import svcprep
from svcprep.audio import load_audio, probe
from svcprep.errors import AudioDecodeError
from svcprep.testing import tone
from tests.badfiles import make_lying_headers, mp3_supported

FAST = ["denoise.spectral_gating=false", "f0.method=dio", "slice.enabled=false"]


def _good(path: Path, seconds: float = 1.2, sr: int = 16000) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(path, tone(220.0, duration_s=seconds, sample_rate_hz=sr, amplitude=0.4), sr, subtype="PCM_16")


def _manifest(out: Path) -> dict[str, dict]:
    rows = [json.loads(x) for x in (out / "manifest.jsonl").read_text(encoding="utf-8").splitlines()]
    return {r["id"]: r for r in rows}


# --------------------------------------------------------------------------- lying headers


def test_lying_header_lengths_allocate_by_file_size_and_fail_the_item(tmp_path) -> None:
    cases = make_lying_headers(tmp_path)
    for name, declared in cases.items():
        assert probe(tmp_path / name).frames > 10**9, f"{name}: libsndfile no longer believes the header"
        tracemalloc.start()
        try:
            with pytest.raises(AudioDecodeError) as exc:
                load_audio(tmp_path / name, target_sr_hz=22050)
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
        assert peak < 64 << 20, f"{name}: {peak / 2**20:.0f} MiB allocated for a {declared}-frame claim"
        assert exc.value.reason in ("decode_error", "truncated"), exc.value
        assert name in str(exc.value)


def test_lying_headers_are_records_and_the_build_publishes(tmp_path) -> None:
    raw, out = tmp_path / "raw", tmp_path / "out"
    cases = make_lying_headers(raw / "s")
    _good(raw / "s" / "good.wav")
    rep = svcprep.build(raw, out, svcprep.load_config(overrides=FAST), jobs=1)
    assert rep.published and rep.exit_code == 1
    rows = _manifest(out)
    for name in cases:
        r = rows[f"s/{name}"]
        assert r["status"] == "error" and r["flags"] and r["error"].startswith(f"s/{name}: "), r
    assert rows["s/good.wav#000"]["status"] == "ok"


# --------------------------------------------------------------------------- fuzzing the decoder


def _seed_files() -> dict[str, bytes]:
    y = tone(330.0, duration_s=0.1, sample_rate_hz=8000, amplitude=0.5)
    st2 = np.stack([y, -0.5 * y], axis=1)
    seeds = {}
    with tempfile.TemporaryDirectory() as d:
        for name, fmt, sub, data in (
            ("a.wav", "WAV", "PCM_16", y),
            ("b.wav", "WAV", "FLOAT", st2),
            ("c.flac", "FLAC", "PCM_16", y),
            ("d.ogg", "OGG", "VORBIS", y),
            ("e.aiff", "AIFF", "PCM_24", y),
        ) + ((("f.mp3", "MP3", "MPEG_LAYER_III", y),) if mp3_supported() else ()):
            p = Path(d) / name
            sf.write(p, data, 8000, format=fmt, subtype=sub)
            seeds[name] = p.read_bytes()
    return seeds


SEEDS = _seed_files()
_INTS = st.sampled_from([0, 1, 0x7F, 0xFF, 0x7FFF, 0xFFFF, 0x7FFFFFFF, 0xFFFFFFFF, 2**33, 2**62, 2**64 - 1])


@st.composite
def _mutated(draw: st.DrawFn) -> tuple[str, bytes]:
    """A valid file with a few byte flips, an overwritten header integer and/or a cut."""
    name = draw(st.sampled_from(sorted(SEEDS)))
    data = bytearray(SEEDS[name])
    for _ in range(draw(st.integers(0, 4))):
        i = draw(st.integers(0, len(data) - 1))
        data[i] ^= 1 << draw(st.integers(0, 7))
    if draw(st.booleans()):  # a length or rate field in the first bytes
        at = 2 * draw(st.integers(0, (min(len(data), 72) - 8) // 2))
        fmt = draw(st.sampled_from(["<I", ">I", "<Q", ">Q"]))
        value = draw(_INTS) & (0xFFFFFFFF if fmt.endswith("I") else 2**64 - 1)
        packed = struct.pack(fmt, value)
        data[at : at + len(packed)] = packed
    if draw(st.booleans()):
        data = data[: draw(st.integers(1, len(data)))]
    return name, bytes(data)


@settings(
    max_examples=int(os.environ.get("SVCPREP_FUZZ_EXAMPLES", "500")),
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(
    case=st.one_of(
        _mutated(),
        st.tuples(st.sampled_from(["x.wav", "x.flac", "x.mp3"]), st.binary(min_size=1, max_size=600)),
    )
)
def test_fuzzed_files_load_or_raise_an_audio_error(case: tuple[str, bytes]) -> None:
    name, data = case
    with tempfile.TemporaryDirectory() as d:
        p = Path(d) / name
        p.write_bytes(data)
        tracemalloc.start()  # memory is overcommitted: a huge np.empty would go unnoticed
        try:
            res = load_audio(p, target_sr_hz=8000, block_frames=4096)
        except AudioDecodeError as err:
            assert str(err).startswith(str(p)) and err.reason
        else:
            assert res.samples.dtype == np.float32 and res.samples.ndim == 1
            assert np.isfinite(res.samples).all()
            assert res.samples.size < 64 * len(data) + (1 << 16)
        finally:
            peak = tracemalloc.get_traced_memory()[1]
            tracemalloc.stop()
        assert peak < 32 << 20, f"{peak / 2**20:.0f} MiB allocated to decode {len(data)} bytes"


# --------------------------------------------------------------------------- reasons


def test_decode_errors_of_mp3_do_not_quote_libsndfiles_missing_file_message(tmp_path) -> None:
    if not mp3_supported():
        pytest.skip("no MP3 in this libsndfile")
    p = tmp_path / "noise.mp3"
    p.write_bytes(np.random.default_rng(7).bytes(3000))
    with pytest.raises(AudioDecodeError) as exc:
        load_audio(p)
    assert "does not exist" not in str(exc.value) and "pipe" not in str(exc.value)
    assert "MPEG" in str(exc.value)


def test_cached_reasons_name_the_file_they_are_about(tmp_path) -> None:
    raw, out = tmp_path / "raw", tmp_path / "out"
    (raw / "s").mkdir(parents=True)
    (raw / "s" / "a_first.wav").write_bytes(b"")
    (raw / "s" / "b_second.wav").write_bytes(b"")
    (raw / "s" / "broken.flac").write_bytes(b"fLaC" + bytes(60))
    _good(raw / "s" / "good.wav")
    cfg = svcprep.load_config(overrides=FAST)
    svcprep.build(raw, out, cfg, jobs=1)
    rows = _manifest(out)
    assert rows["s/a_first.wav"]["error"].startswith("s/a_first.wav: ")
    assert rows["s/b_second.wav"]["error"].startswith("s/b_second.wav: ")
    assert "a_first" not in rows["s/b_second.wav"]["error"]
    (raw / "s" / "broken.flac").rename(raw / "s" / "renamed.flac")
    svcprep.build(raw, out, cfg, jobs=1)
    err = _manifest(out)["s/renamed.flac"]["error"]
    assert err.startswith("s/renamed.flac: ") and "broken" not in err


# --------------------------------------------------------------------------- names and encoders


def test_report_previews_survive_huge_and_non_finite_samples() -> None:
    from svcprep.report.media import encode_preview

    x = tone(440.0, duration_s=0.3, sample_rate_hz=16000, amplitude=1.0) * np.float32(3e38)
    x[10:20] = np.nan
    x[30] = -np.inf
    mp3 = encode_preview(x, 16000)
    assert len(mp3) > 100


def test_markup_in_names_and_huge_float_samples_do_not_stop_the_cli(tmp_path, capsys) -> None:
    from svcprep.cli import main

    raw, out = tmp_path / "raw", tmp_path / "out"
    spk = raw / "["  # the file "[/]bad.wav": rich reads "[/]" as a closing tag
    _good(spk / "]good.wav", seconds=2.5)
    (spk / "]bad.wav").write_bytes(b"RIFF" + bytes(40))
    loud = tone(330.0, duration_s=2.5, sample_rate_hz=16000, amplitude=1.0) * np.float32(3e38)
    sf.write(spk / "]loud.wav", loud, 16000, subtype="FLOAT")
    report = tmp_path / "report.html"
    args = [
        "build",
        str(raw),
        str(out),
        "-j",
        "1",
        "--no-progress",
        "--report",
        str(report),
        "--report-worst",
        "5",
    ]
    args += [a for o in [*FAST, "denoise.enabled=false"] for a in ("--set", o)]
    assert main(args) == 1
    text = capsys.readouterr().out
    assert "[/]bad.wav" in text and report.stat().st_size > 0
    assert main([*args, "-q"]) == 1  # the error lines of -q print names too
    assert "[/]bad.wav" in capsys.readouterr().err


def test_float_wavs_are_byte_reproducible_and_long_names_write(tmp_path) -> None:
    from svcprep.audio import write_audio

    y = tone(440.0, duration_s=0.1, sample_rate_hz=8000, amplitude=0.5)
    name = "n" * 246 + ".wav"  # 250 bytes: a temporary name made from it must stay below 255
    write_audio(tmp_path / name, y, sample_rate_hz=8000, subtype="FLOAT")
    data = (tmp_path / name).read_bytes()
    at = data.find(b"PEAK")
    assert at > 0 and data[at + 12 : at + 16] == bytes(4), "the PEAK time stamp is zeroed"
    write_audio(tmp_path / "again.wav", y, sample_rate_hz=8000, subtype="FLOAT")
    assert (tmp_path / "again.wav").read_bytes() == data
    assert sf.read(tmp_path / name, dtype="float32")[0].tolist() == y.tolist()
