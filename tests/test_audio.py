"""Tests of svcprep.audio: every bad input, every container, downmix, resampling, memory."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from hypothesis import given, settings
from hypothesis import strategies as st

from svcprep.audio import SILENCE_DBFS, AudioInfo, load_audio, probe, write_audio
from svcprep.dsp.resample import resample, resampled_length
from svcprep.errors import (
    AudioDecodeError,
    EmptyAudioError,
    NonFiniteAudioError,
    SourceRateError,
    TruncatedAudioError,
)
from svcprep.testing import noise, tone
from tests._data import shared_file
from tests.badfiles import (
    NON_UTF8_NAME,
    make_bad_inputs,
    make_unreadable,
    mp3_supported,
    permission_denied_observable,
    run_unprivileged,
    world_readable_tmpdir,
)

ERROR_CLASSES = {
    "empty": EmptyAudioError,
    "decode_error": AudioDecodeError,
    "truncated": TruncatedAudioError,
    "non_finite": NonFiniteAudioError,
    "bad_sample_rate": SourceRateError,
}


def sha256(path: Path | bytes) -> str:
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def measured_freq(y: np.ndarray, sr: int) -> float:
    """Frequency of a pure tone: Hann-windowed, zero-padded FFT peak with a log-parabolic fit."""
    y = np.asarray(y, dtype=np.float64)
    spec = np.abs(np.fft.rfft(y * np.hanning(y.size), n=8 * y.size))
    k = int(np.argmax(spec[1:-1])) + 1
    a, b, c = np.log(spec[k - 1 : k + 2] + 1e-30)
    return (k + 0.5 * (a - c) / (a - 2 * b + c)) * sr / (8 * y.size)


@pytest.fixture(scope="module")
def bad(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str]]:
    root = tmp_path_factory.mktemp("bad")
    return root, make_bad_inputs(root)


def _path(root: Path, rel: str) -> Path:
    if rel.endswith(NON_UTF8_NAME.decode("utf-8", "backslashreplace")):
        return Path(os.fsdecode(os.path.join(os.fsencode(root / "spk"), NON_UTF8_NAME)))
    return root / rel


# ------------------------------------------------------------------------ bad inputs


def _error_cases() -> list[str]:
    names = [
        "empty.wav",
        "zero_frames.wav",
        "random.wav",
        "random.flac",
        "truncated.wav",
        "truncated.flac",
        "nan.wav",
        "inf.wav",
        "rate0.wav",
        "rate4k.wav",
    ]
    if mp3_supported():
        names += ["random.mp3", "truncated.mp3"]
    return [f"spk/{n}" for n in names]


@pytest.mark.parametrize("rel", _error_cases())
def test_bad_input_raises_its_error(bad: tuple[Path, dict[str, str]], rel: str) -> None:
    root, cases = bad
    code = cases[rel]
    path = _path(root, rel)
    before = sha256(path)
    with pytest.raises(ERROR_CLASSES[code]) as info:
        load_audio(path)
    err = info.value
    assert err.reason == code
    msg = str(err)
    assert path.name in msg
    if code == "decode_error":
        # libsndfile's own message is quoted (but not its misleading "does not exist" for a stream
        # without MPEG frames), and the error is no more specific subclass
        assert ("no valid MPEG audio frames" if path.suffix == ".mp3" else "libsndfile says") in msg
        assert type(err) is AudioDecodeError
    assert sha256(path) == before  # never modified


def test_messages_name_the_problem(bad: tuple[Path, dict[str, str]]) -> None:
    root, _ = bad
    spk = root / "spk"
    with pytest.raises(EmptyAudioError, match=r"empty \(0 bytes\)"):
        load_audio(spk / "empty.wav")
    with pytest.raises(EmptyAudioError, match="declares 0 frames"):
        load_audio(spk / "zero_frames.wav")
    # truncated WAV: 44 header bytes + 2 bytes per frame survive the cut
    present = (os.path.getsize(spk / "truncated.wav") - 44) // 2
    with pytest.raises(TruncatedAudioError, match=f"declares 44100 frames but only {present} are present"):
        load_audio(spk / "truncated.wav")
    with pytest.raises(TruncatedAudioError, match="44100 frames the header declares"):
        load_audio(spk / "truncated.flac")
    with pytest.raises(
        NonFiniteAudioError, match=r"11 sample\(s\) are NaN or infinite, the first in frame 1000"
    ):
        load_audio(spk / "nan.wav")
    with pytest.raises(NonFiniteAudioError, match=r"2 sample\(s\).*frame 2000"):
        load_audio(spk / "inf.wav")
    with pytest.raises(SourceRateError, match="sample rate of 0 Hz"):
        load_audio(spk / "rate0.wav")
    with pytest.raises(SourceRateError, match=r"4000 Hz, below load\.min_source_sample_rate_hz=8000"):
        load_audio(spk / "rate4k.wav")
    with pytest.raises(SourceRateError, match=r"192000 Hz, above load\.max_source_sample_rate_hz=96000"):
        load_audio(spk / "rate192k.wav", max_source_sample_rate_hz=96000)
    # the 4 kHz file loads when the setting allows it
    assert (
        load_audio(spk / "rate4k.wav", min_source_sample_rate_hz=4000, target_sr_hz=8000).samples.size == 4000
    )
    with pytest.raises(AudioDecodeError, match="file not found"):
        load_audio(spk / "no_such_file.wav")
    with pytest.raises(AudioDecodeError, match="is a directory"):
        load_audio(spk)


@pytest.mark.skipif(not mp3_supported(), reason="libsndfile without MP3")
def test_truncated_mp3_message(bad: tuple[Path, dict[str, str]]) -> None:
    root, _ = bad
    with pytest.raises(TruncatedAudioError, match=r"last MPEG frame is cut.*expects 88200 frames"):
        load_audio(root / "spk" / "truncated.mp3")


def test_ok_cases_load(bad: tuple[Path, dict[str, str]]) -> None:
    root, cases = bad
    ok = [rel for rel, code in cases.items() if code == "ok"]
    assert {"spk/silence.wav", "spk/rate192k.wav", "spk/one_sample.wav", "spk/six_channels.wav"} <= set(ok)
    for rel in ok:
        path = _path(root, rel)
        before = sha256(path)
        info = sf.info(os.fsencode(path))
        got = load_audio(path, target_sr_hz=44100)
        assert got.samples.dtype == np.float32 and got.samples.ndim == 1
        assert np.isfinite(got.samples).all()
        assert got.sample_rate_hz == 44100
        want = resampled_length(info.frames, orig_sr_hz=info.samplerate, target_sr_hz=44100)
        assert got.samples.size == want
        assert got.metrics["channels"] == info.channels
        assert got.metrics["source_sample_rate_hz"] == info.samplerate
        assert sha256(path) == before


def test_silence_is_not_an_error(bad: tuple[Path, dict[str, str]]) -> None:
    root, _ = bad
    got = load_audio(root / "spk" / "silence.wav")
    assert got.samples.size == 44100 and not got.samples.any()
    assert got.metrics["source_peak_dbfs"] == SILENCE_DBFS
    assert got.flags == ()


def test_six_channels_downmix_is_the_mean(bad: tuple[Path, dict[str, str]]) -> None:
    root, _ = bad
    path = root / "spk" / "six_channels.wav"
    raw, _ = sf.read(path, dtype="float32", always_2d=True)
    assert raw.shape[1] == 6
    got = load_audio(path, target_sr_hz=44100)
    np.testing.assert_allclose(got.samples, raw.mean(axis=1), atol=1e-7)
    assert got.metrics["channels"] == 6.0


def test_one_sample_file(bad: tuple[Path, dict[str, str]]) -> None:
    root, _ = bad
    got = load_audio(root / "spk" / "one_sample.wav")
    assert got.samples.tolist() == [0.25]


def test_non_utf8_name_loads(bad: tuple[Path, dict[str, str]]) -> None:
    root, cases = bad
    rels = [r for r in cases if "\\x" in r]
    if not rels:
        pytest.skip("file system refuses non-UTF-8 names")
    path = _path(root, rels[0])
    got = load_audio(path, target_sr_hz=44100)
    assert got.samples.size == round(0.3 * 44100)
    assert got.info.frames == got.samples.size


# ------------------------------------------------------------------------ formats

LOSSLESS = [
    ("WAV", "PCM_16", "wav", 16),
    ("WAV", "PCM_24", "wav", 24),
    ("WAV", "PCM_32", "wav", 32),
    ("WAV", "FLOAT", "wav", 0),
    ("FLAC", "PCM_16", "flac", 16),
    ("FLAC", "PCM_24", "flac", 24),
    ("AIFF", "PCM_16", "aiff", 16),
    ("W64", "PCM_16", "w64", 16),
    ("RF64", "PCM_24", "rf64", 24),
    ("CAF", "FLOAT", "caf", 0),
    ("AU", "PCM_16", "au", 16),
]


@pytest.mark.parametrize(("fmt", "subtype", "ext", "bits"), LOSSLESS)
def test_lossless_formats_load_exactly(tmp_path: Path, fmt: str, subtype: str, ext: str, bits: int) -> None:
    """Integer samples written as integers must decode to exactly int / 2**(bits-1)."""
    sr = 22050
    rng = np.random.default_rng(bits)
    n = sr // 2
    path = tmp_path / f"x.{ext}"
    if bits:
        ints = rng.integers(-(2 ** (bits - 1)), 2 ** (bits - 1), n)
        if bits == 16:
            sf.write(path, ints.astype(np.int16), sr, format=fmt, subtype=subtype)
        else:  # libsndfile keeps the top `bits` bits of an int32
            sf.write(path, (ints << (32 - bits)).astype(np.int32), sr, format=fmt, subtype=subtype)
        want = (ints / 2.0 ** (bits - 1)).astype(np.float32)
    else:
        want = (0.3 * rng.standard_normal(n)).astype(np.float32)
        sf.write(path, want, sr, format=fmt, subtype=subtype)
    got = load_audio(path, target_sr_hz=sr)
    assert got.info == AudioInfo(sample_rate_hz=sr, channels=1, frames=n, format=fmt, subtype=subtype)
    assert got.info.duration_s == pytest.approx(0.5)
    np.testing.assert_array_equal(got.samples, want)
    assert probe(path) == got.info


LOSSY = [
    ("OGG", "VORBIS", "ogg", 44100),
    ("OGG", "OPUS", "opus", 48000),
    ("MP3", "MPEG_LAYER_III", "mp3", 44100),
]


@pytest.mark.parametrize(("fmt", "subtype", "ext", "sr"), LOSSY)
def test_lossy_formats_keep_tone(tmp_path: Path, fmt: str, subtype: str, ext: str, sr: int) -> None:
    if fmt == "MP3" and not mp3_supported():
        pytest.skip("libsndfile without MP3")
    freq = 523.25
    y = tone(freq, duration_s=1.0, sample_rate_hz=sr, amplitude=0.5)
    path = tmp_path / f"x.{ext}"
    sf.write(path, y, sr, format=fmt, subtype=subtype)
    got = load_audio(path, target_sr_hz=16000)
    assert got.info.format == fmt and got.info.subtype == subtype
    # codec delay/padding may change the frame count a little
    assert abs(got.info.frames - y.size) <= 2 * 1152
    assert got.samples.size == resampled_length(got.info.frames, orig_sr_hz=sr, target_sr_hz=16000)
    mid = got.samples[2000:-2000]
    assert measured_freq(mid, 16000) == pytest.approx(freq, abs=0.5)
    assert np.sqrt(np.mean(mid.astype(np.float64) ** 2)) == pytest.approx(0.5 / np.sqrt(2), rel=0.1)


# ------------------------------------------------------------------------ downmix


def _stereo(tmp_path: Path, left: np.ndarray, right: np.ndarray, sr: int = 16000) -> Path:
    path = tmp_path / "stereo.wav"
    sf.write(path, np.stack([left, right], axis=1), sr, subtype="FLOAT")
    return path


def test_stereo_downmix_exact(tmp_path: Path) -> None:
    left = noise(duration_s=0.5, sample_rate_hz=16000, amplitude=0.2, seed=1)
    right = tone(300.0, duration_s=0.5, sample_rate_hz=16000, amplitude=0.4)
    got = load_audio(_stereo(tmp_path, left, right), target_sr_hz=16000)
    want = ((left.astype(np.float64) + right) / 2).astype(np.float32)
    np.testing.assert_allclose(got.samples, want, rtol=0, atol=1e-7)
    rms = lambda a: float(np.sqrt(np.mean(np.asarray(a, np.float64) ** 2)))  # noqa: E731
    assert got.metrics["downmix_rms_ratio"] == pytest.approx(
        rms(want) / ((rms(left) + rms(right)) / 2), rel=1e-5
    )
    assert got.flags == ()
    peak = max(np.abs(left).max(), np.abs(right).max())
    assert got.metrics["source_peak_dbfs"] == pytest.approx(20 * np.log10(peak), abs=1e-4)


def test_channel_cancellation_flagged_on_opposite_channels(tmp_path: Path) -> None:
    x = tone(440.0, duration_s=0.5, sample_rate_hz=16000, amplitude=0.5)
    got = load_audio(_stereo(tmp_path, x, -x), target_sr_hz=16000)
    assert "channel_cancellation" in got.flags
    assert got.metrics["downmix_rms_ratio"] < 1e-6
    assert np.isfinite(got.samples).all() and np.abs(got.samples).max() < 1e-6


def test_no_cancellation_on_identical_channels(tmp_path: Path) -> None:
    x = tone(440.0, duration_s=0.5, sample_rate_hz=16000, amplitude=0.5)
    got = load_audio(_stereo(tmp_path, x, x), target_sr_hz=16000)
    assert got.flags == ()
    assert got.metrics["downmix_rms_ratio"] == pytest.approx(1.0, abs=1e-6)
    np.testing.assert_array_equal(got.samples, x)


def test_cancellation_threshold_follows_setting(tmp_path: Path) -> None:
    # right = -0.5 * left: mono = 0.25 * left, channel mean RMS = 0.75 * RMS(left): ratio 1/3
    x = tone(440.0, duration_s=0.5, sample_rate_hz=16000, amplitude=0.5)
    path = _stereo(tmp_path, x, -0.5 * x)
    assert load_audio(path, target_sr_hz=16000).metrics["downmix_rms_ratio"] == pytest.approx(1 / 3, rel=1e-4)
    assert load_audio(path, target_sr_hz=16000, cancellation_ratio=0.25).flags == ()
    assert load_audio(path, target_sr_hz=16000, cancellation_ratio=0.4).flags == ("channel_cancellation",)


def test_silent_stereo_is_not_cancellation(tmp_path: Path) -> None:
    z = np.zeros(8000, np.float32)
    got = load_audio(_stereo(tmp_path, z, z), target_sr_hz=16000)
    assert got.flags == () and got.metrics["downmix_rms_ratio"] == 1.0


# ------------------------------------------------------------------------ resampling and blocks


def test_resampled_length_and_content(tmp_path: Path) -> None:
    sr = 48000
    y = noise(duration_s=0.7, sample_rate_hz=sr, amplitude=0.2, seed=9)
    y = y[: y.size - 3]  # odd length
    path = tmp_path / "x.wav"
    sf.write(path, y, sr, subtype="FLOAT")
    got = load_audio(path, target_sr_hz=44100)
    assert got.samples.size == resampled_length(y.size, orig_sr_hz=sr, target_sr_hz=44100)
    np.testing.assert_allclose(got.samples, resample(y, orig_sr_hz=sr, target_sr_hz=44100), atol=1e-6)
    assert got.metrics["source_duration_s"] == pytest.approx(y.size / sr)


def test_resampled_tone_keeps_frequency(tmp_path: Path) -> None:
    path = tmp_path / "t.flac"
    sf.write(path, tone(880.0, duration_s=1.0, sample_rate_hz=48000, amplitude=0.5), 48000, subtype="PCM_24")
    got = load_audio(path, target_sr_hz=22050)
    assert measured_freq(got.samples[2000:-2000], 22050) == pytest.approx(880.0, abs=0.05)


@settings(max_examples=15, deadline=None)
@given(
    sr=st.integers(min_value=8000, max_value=96000),
    target=st.sampled_from([16000, 22050, 44100, 48000]),
    n=st.integers(min_value=1, max_value=30001).map(lambda v: v | 1),
    block=st.integers(min_value=1, max_value=9000),
    channels=st.integers(min_value=1, max_value=3),
)
def test_property_blockwise_equals_one_shot(
    tmp_path_factory: pytest.TempPathFactory, sr: int, target: int, n: int, block: int, channels: int
) -> None:
    rng = np.random.default_rng(n + sr)
    data = (0.2 * rng.standard_normal((n, channels))).astype(np.float32)
    path = tmp_path_factory.mktemp("blk") / "x.wav"
    sf.write(path, data, sr, subtype="FLOAT")
    whole = load_audio(path, target_sr_hz=target)
    small = load_audio(path, target_sr_hz=target, block_frames=block)
    ref = resample(data.mean(axis=1, dtype=np.float32), orig_sr_hz=sr, target_sr_hz=target)
    assert whole.samples.size == small.samples.size == ref.size
    assert np.max(np.abs(small.samples - whole.samples), initial=0.0) <= 1e-6
    assert np.max(np.abs(whole.samples - ref), initial=0.0) <= 1e-6


def test_out_buffer_is_used(tmp_path: Path) -> None:
    path = tmp_path / "x.wav"
    y = noise(duration_s=0.2, sample_rate_hz=16000, seed=4)
    sf.write(path, y, 16000, subtype="FLOAT")
    buf = np.full(5000, 7.0, np.float32)
    got = load_audio(path, target_sr_hz=16000, out=buf)
    assert np.shares_memory(got.samples, buf)
    np.testing.assert_array_equal(got.samples, y)
    with pytest.raises(ValueError, match="needs 3200"):
        load_audio(path, target_sr_hz=16000, out=np.zeros(100, np.float32))


# ------------------------------------------------------------------------ permissions and memory


def test_permission_denied() -> None:
    with world_readable_tmpdir() as d:
        path = d / "locked.wav"
        sf.write(path, np.zeros(100, np.float32), 16000)
        make_unreadable(path)
        if not permission_denied_observable(path):
            pytest.skip("cannot make a file unreadable here")
        res = run_unprivileged(
            f"""
from svcprep.audio import load_audio
try:
    load_audio({str(path)!r})
    print(json.dumps({{"ok": True}}))
except Exception as err:
    print(json.dumps({{"cls": type(err).__name__, "reason": getattr(err, "reason", ""), "msg": str(err)}}))
"""
        )
    assert res is not None
    assert res["cls"] == "AudioDecodeError" and res["reason"] == "decode_error"
    assert "permission denied" in str(res["msg"])


def test_memory_stays_near_one_output_copy(tmp_path: Path) -> None:
    """Decode 3 minutes of 48 kHz stereo in a child and bound its peak RSS growth."""
    if not Path("/proc/self/status").is_file():
        pytest.skip("needs Linux /proc to read the peak RSS")
    sr, minutes = 48000, 3
    path = tmp_path / "long.wav"
    with sf.SoundFile(path, "w", sr, 2, subtype="PCM_16") as f:
        for i in range(minutes * 6):
            t = (np.arange(i * sr * 10, (i + 1) * sr * 10) / sr).astype(np.float64)
            f.write(np.stack([0.3 * np.sin(2 * np.pi * 220 * t), 0.3 * np.sin(2 * np.pi * 330 * t)], 1))
    code = f"""
import json, sys
sys.path.insert(0, {str(Path(__file__).resolve().parents[1])!r})
from svcprep.audio import load_audio
from svcprep.dsp.resample import resample
import numpy as np

def hwm_kib():  # peak RSS of this process image (ru_maxrss can carry the forking parent's peak)
    with open("/proc/self/status") as f:
        return int(f.read().split("VmHWM:")[1].split()[0])

resample(np.zeros(48000, np.float32), orig_sr_hz=48000, target_sr_hz=44100)  # warm up soxr
base = hwm_kib()
got = load_audio({str(path)!r}, target_sr_hz=44100, block_frames=1 << 18)
peak = hwm_kib()
print(json.dumps({{"grow_kib": peak - base, "out_bytes": got.samples.nbytes, "n": got.samples.size}}))
"""
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120
    )
    res = json.loads(proc.stdout.strip().splitlines()[-1])
    assert res["n"] == resampled_length(minutes * 60 * sr, orig_sr_hz=sr, target_sr_hz=44100)
    out_mib = res["out_bytes"] / 2**20
    grow_mib = res["grow_kib"] / 1024
    # whole-file decoding needs stereo float32 (66 MiB) + mono + output (~4.2 x out): allow 1 x + 24 MiB
    assert grow_mib < out_mib + 24, (grow_mib, out_mib)


# ------------------------------------------------------------------------ write_audio


def test_write_audio_round_trip_and_atomic(tmp_path: Path) -> None:
    y = noise(duration_s=0.3, sample_rate_hz=22050, amplitude=0.2, seed=11)
    path = tmp_path / "out.flac"
    write_audio(path, y, sample_rate_hz=22050, subtype="PCM_24")
    back, sr = sf.read(path, dtype="float32")
    assert sr == 22050 and np.max(np.abs(back - y)) <= 2.0**-24 + 1e-7
    write_audio(path, y * 0.5, sample_rate_hz=22050, subtype="PCM_24")  # replace
    back2, _ = sf.read(path, dtype="float32")
    assert np.max(np.abs(back2 - y * 0.5)) <= 2.0**-24 + 1e-7
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.flac"]


def test_write_audio_failure_keeps_old_file(tmp_path: Path) -> None:
    path = tmp_path / "keep.wav"
    write_audio(path, np.full(10, 0.5, np.float32), sample_rate_hz=16000)
    before = sha256(path)
    bad = np.zeros(10, np.float32)
    bad[3] = np.nan
    with pytest.raises(NonFiniteAudioError, match="index 3"):
        write_audio(path, bad, sample_rate_hz=16000)
    with pytest.raises(ValueError, match="1-D"):
        write_audio(path, np.zeros((10, 2), np.float32), sample_rate_hz=16000)
    with pytest.raises(ValueError, match="cannot tell the audio format"):
        write_audio(tmp_path / "x.xyz", np.zeros(10, np.float32), sample_rate_hz=16000)
    with pytest.raises(ValueError, match="cannot be written"):
        write_audio(tmp_path / "x.flac", np.zeros(10, np.float32), sample_rate_hz=16000, subtype="FLOAT")
    assert sha256(path) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["keep.wav"]


def test_write_audio_clips_instead_of_wrapping(tmp_path: Path) -> None:
    path = tmp_path / "loud.wav"
    write_audio(path, np.array([1.5, -2.0, 0.25], np.float32), sample_rate_hz=16000, subtype="PCM_16")
    back, _ = sf.read(path, dtype="float64")
    assert back[0] == pytest.approx(1.0, abs=2**-15) and back[1] == -1.0 and back[2] == 0.25


# ------------------------------------------------------------------------ real recordings


def test_real_recordings_load_exactly(shared_data: Path) -> None:
    files = sorted([*shared_data.rglob("*.wav"), *shared_data.rglob("*.flac")])
    assert files
    for path in files:
        before = sha256(path)
        info = sf.info(path)
        ref, _ = sf.read(path, dtype="float32", always_2d=True)
        got = load_audio(path, target_sr_hz=info.samplerate)
        np.testing.assert_array_equal(got.samples, ref.mean(axis=1, dtype=np.float32))
        assert got.info.frames == info.frames == got.samples.size
        assert got.metrics["source_peak_dbfs"] == pytest.approx(20 * np.log10(np.abs(ref).max()), abs=1e-4)
        assert sha256(path) == before


def test_real_recording_resampled_keeps_pitch() -> None:
    """The F0 truth of vocadito_10 still holds after 44.1 -> 16 kHz (checked on a stable note)."""
    wav = shared_file("singing/vocadito/vocadito_10_excerpt_0.350-5.050s.wav")
    csv = shared_file("singing/vocadito/vocadito_10_excerpt_0.350-5.050s.f0.csv")
    truth = np.loadtxt(csv, delimiter=",", skiprows=1)
    got = load_audio(wav, target_sr_hz=16000)
    src, sr = sf.read(wav, dtype="float32")
    assert got.samples.size == resampled_length(src.size, orig_sr_hz=sr, target_sr_hz=16000)
    # autocorrelation F0 of 60 ms windows at voiced truth frames, at both rates: must agree with the truth
    voiced = truth[(truth[:, 1] > 0) & (truth[:, 0] > 0.1) & (truth[:, 0] < 4.5)]
    rng = np.random.default_rng(0)
    picks = voiced[rng.choice(voiced.shape[0], size=min(40, voiced.shape[0]), replace=False)]

    def acf_f0(y: np.ndarray, rate: int, t: float, f_ref: float) -> float:
        n = int(0.06 * rate)
        seg = y[int(t * rate) - n // 2 : int(t * rate) + n // 2].astype(np.float64)
        seg = seg - seg.mean()
        ac = np.correlate(seg, seg, "full")[seg.size - 1 :]
        lo, hi = int(rate / (f_ref * 1.3)), int(rate / (f_ref / 1.3))
        lag = lo + int(np.argmax(ac[lo:hi]))
        return rate / lag

    errs_src, errs_res = [], []
    for t, f in picks:
        errs_src.append(abs(1200 * np.log2(acf_f0(src, sr, t, f) / f)))
        errs_res.append(abs(1200 * np.log2(acf_f0(got.samples, 16000, t, f) / f)))
    # the resampled audio is as close to the truth as the original (integer-lag resolution differs)
    assert np.median(errs_src) < 50
    assert np.median(errs_res) < 50
