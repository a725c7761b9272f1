"""Tests of svcprep.dsp.mel against independent references.

The references here are written from the formulas (Slaney / HTK mel scales, periodic
Hann window, direct DFT, each framework's padding rule as stated in PRESETS.md), not
from svcprep's code, plus librosa where it implements the same convention.
"""

from __future__ import annotations

import math

import librosa
import numpy as np
import pytest
import soundfile as sf
from hypothesis import given, settings
from hypothesis import strategies as st

from svcprep.dsp.frames import num_frames
from svcprep.dsp.mel import log_mel, mel_filterbank, padding_for, stft_magnitude
from svcprep.errors import ConfigError, NonFiniteAudioError, TooShortError
from svcprep.testing import noise, silence, sing_phrase, tone
from tests._data import shared_file

RULES = ("center", "vits", "nsf_hifigan", "diffsinger")


# ---------------------------------------------------------------------------------------------
# independent references


def ref_hz_to_mel(f: float, htk: bool) -> float:
    if htk:
        return 2595.0 * math.log10(1.0 + f / 700.0)
    if f < 1000.0:
        return f / (200.0 / 3.0)
    return 15.0 + math.log(f / 1000.0) / (math.log(6.4) / 27.0)


def ref_mel_to_hz(m: float, htk: bool) -> float:
    if htk:
        return 700.0 * (10.0 ** (m / 2595.0) - 1.0)
    if m < 15.0:
        return m * (200.0 / 3.0)
    return 1000.0 * math.exp((m - 15.0) * (math.log(6.4) / 27.0))


def ref_mel_edges(n_mels: int, fmin: float, fmax: float, htk: bool) -> np.ndarray:
    lo, hi = ref_hz_to_mel(fmin, htk), ref_hz_to_mel(fmax, htk)
    return np.array([ref_mel_to_hz(lo + (hi - lo) * j / (n_mels + 1), htk) for j in range(n_mels + 2)])


def ref_filterbank(sr: float, n_fft: int, n_mels: int, fmin: float, fmax: float, htk: bool, norm: bool):
    edges = ref_mel_edges(n_mels, fmin, fmax, htk)
    freqs = np.arange(n_fft // 2 + 1) * sr / n_fft
    out = np.zeros((n_mels, freqs.size))
    for m in range(n_mels):
        a, b, c = edges[m], edges[m + 1], edges[m + 2]
        for k, f in enumerate(freqs):
            if a < f <= b:
                w = (f - a) / (b - a)
            elif b < f < c:
                w = (c - f) / (c - b)
            else:
                w = 0.0
            out[m, k] = w * (2.0 / (c - a) if norm else 1.0)
    return out


def ref_pads(rule: str, n: int, n_fft: int, win: int, hop: int) -> tuple[int, int, bool]:
    """(left, right, reflect?) written from the PRESETS.md table."""
    if rule == "center":
        left = right = n_fft // 2
        reflect = True
    elif rule == "vits":
        left = right = int((n_fft - hop) / 2)
        reflect = True
    elif rule == "diffsinger":
        left, right = (win - hop) // 2, (win - hop + 1) // 2
        reflect = True
    else:  # nsf_hifigan, nvSTFT
        left = (win - hop) // 2
        right = max((win - hop + 1) // 2, win - n - left)
        reflect = right < n
    # a reflection needs a pad shorter than the signal; otherwise zeros
    reflect = reflect and left < n and right < n
    return left, right, reflect


def ref_pad(y: np.ndarray, left: int, right: int, reflect: bool) -> np.ndarray:
    n = y.size
    idx = np.arange(-left, n + right)
    if not reflect:
        out = np.zeros(idx.size)
        inside = (idx >= 0) & (idx < n)
        out[inside] = y[idx[inside]]
        return out
    idx = np.where(idx < 0, -idx, idx)
    idx = np.where(idx >= n, 2 * (n - 1) - idx, idx)
    return y.astype(np.float64)[idx]


def ref_window(n_fft: int, win: int) -> np.ndarray:
    w = np.zeros(n_fft)
    k = np.arange(win)
    off = (n_fft - win) // 2
    w[off : off + win] = np.sin(np.pi * k / win) ** 2  # periodic Hann
    return w


def ref_stft_mag(y, *, n_fft, hop, win, left, right, reflect, eps=0.0, direct=False) -> np.ndarray:
    x = ref_pad(np.asarray(y, dtype=np.float64), left, right, reflect)
    w = ref_window(n_fft, win)
    if x.size < n_fft:
        return np.zeros((0, n_fft // 2 + 1))
    count = (x.size - n_fft) // hop + 1
    if direct:
        n = np.arange(n_fft)
        k = np.arange(n_fft // 2 + 1)
        basis = np.exp(-2j * np.pi * np.outer(k, n) / n_fft)
    rows = []
    for i in range(count):
        seg = x[i * hop : i * hop + n_fft] * w
        spec = basis @ seg if direct else np.fft.rfft(seg)
        rows.append(np.sqrt(spec.real**2 + spec.imag**2 + eps))
    return np.array(rows)


def ref_log_mel(
    y, *, sr, n_fft, hop, win, n_mels, fmin, fmax, rule, eps, floor, base10, htk, norm, const=False
):
    left, right, reflect = ref_pads(rule, y.size, n_fft, win, hop)
    mag = ref_stft_mag(
        y, n_fft=n_fft, hop=hop, win=win, left=left, right=right, reflect=reflect and not const, eps=eps
    )
    mel = mag @ ref_filterbank(sr, n_fft, n_mels, fmin, fmax, htk, norm).T
    mel = np.maximum(mel, floor)
    return np.log10(mel) if base10 else np.log(mel)


def ref_frame_count(n: int, left: int, right: int, n_fft: int, hop: int) -> int:
    total = n + left + right
    return 0 if total < n_fft else 1 + (total - n_fft) // hop


def load(rel: str) -> tuple[np.ndarray, int]:
    path = shared_file(rel)
    y, sr = sf.read(path, dtype="float32", always_2d=False)
    return np.ascontiguousarray(y), int(sr)


# ---------------------------------------------------------------------------------------------
# mel filterbank

FILTERBANKS = [
    # sr, n_fft, n_mels, fmin, fmax, scale (from the PRESETS.md table)
    (44100, 2048, 128, 40.0, 16000.0, "slaney"),  # NSF-HiFiGAN, DiffSinger, DDSP
    (44100, 2048, 80, 0.0, 22050.0, "slaney"),  # so-vits-svc VITS
    (40000, 2048, 125, 0.0, 20000.0, "slaney"),  # RVC 40k
    (32000, 1024, 80, 0.0, 16000.0, "slaney"),  # RVC 32k
    (16000, 1024, 128, 30.0, 8000.0, "htk"),  # RMVPE front-end
    (24000, 512, 80, 30.0, 12000.0, "slaney"),  # Diff-SVC 24k
    (24000, 1024, 100, 0.0, 12000.0, "htk"),  # (HTK variant of Amphion's sizes)
]


@pytest.mark.parametrize("norm", ["slaney", "none"])
@pytest.mark.parametrize(("sr", "n_fft", "n_mels", "fmin", "fmax", "scale"), FILTERBANKS)
def test_filterbank_matches_formula_and_librosa(sr, n_fft, n_mels, fmin, fmax, scale, norm):
    got = mel_filterbank(
        sample_rate_hz=sr,
        n_fft=n_fft,
        n_mels=n_mels,
        fmin_hz=fmin,
        fmax_hz=fmax,
        mel_scale=scale,
        mel_norm=norm,
    )
    assert got.shape == (n_mels, n_fft // 2 + 1)
    assert got.dtype == np.float32
    ref = ref_filterbank(sr, n_fft, n_mels, fmin, fmax, scale == "htk", norm == "slaney")
    scale_ = float(np.abs(ref).max())
    np.testing.assert_allclose(got, ref, rtol=1e-6, atol=1e-9 * scale_)
    lib = librosa.filters.mel(
        sr=sr,
        n_fft=n_fft,
        n_mels=n_mels,
        fmin=fmin,
        fmax=fmax,
        htk=scale == "htk",
        norm="slaney" if norm == "slaney" else None,
        dtype=np.float64,
    )
    np.testing.assert_allclose(got, lib, rtol=1e-6, atol=1e-9 * scale_)


def test_filterbank_slaney_norm_gives_unit_area_triangles():
    # with Slaney norm each triangle has height 2/(f[m+2]-f[m]) so its area in Hz is 1
    sr, n_fft = 44100, 8192
    fb = mel_filterbank(sample_rate_hz=sr, n_fft=n_fft, n_mels=40, fmin_hz=100.0, fmax_hz=8000.0)
    area = fb.astype(np.float64).sum(axis=1) * (sr / n_fft)
    np.testing.assert_allclose(area, 1.0, rtol=0.02)


def test_filterbank_is_cached_and_read_only():
    kw = {"sample_rate_hz": 44100, "n_fft": 2048, "n_mels": 128, "fmin_hz": 40.0, "fmax_hz": 16000.0}
    a = mel_filterbank(**kw)
    b = mel_filterbank(**kw)
    assert a is b
    assert not a.flags.writeable
    with pytest.raises(ValueError):
        a[0, 0] = 1.0


@pytest.mark.parametrize(
    ("kw", "fragment"),
    [
        ({"fmax_hz": 30000.0}, "Nyquist"),
        ({"fmin_hz": 16000.0}, "below fmax_hz"),
        ({"fmin_hz": -1.0}, "fmin_hz"),
        ({"mel_scale": "bark"}, "mel_scale"),
        ({"mel_norm": "l2"}, "mel_norm"),
        ({"n_mels": 0}, "n_mels"),
        ({"n_fft": 2048.5}, "n_fft"),
        ({"sample_rate_hz": float("nan")}, "sample_rate_hz"),
    ],
)
def test_filterbank_rejects_bad_parameters(kw, fragment):
    args = {"sample_rate_hz": 44100, "n_fft": 2048, "n_mels": 128, "fmin_hz": 40.0, "fmax_hz": 16000.0}
    args.update(kw)
    with pytest.raises(ConfigError, match=fragment):
        mel_filterbank(**args)


def test_filterbank_warns_on_empty_filters():
    with pytest.warns(UserWarning, match="no FFT bin"):
        fb = mel_filterbank(sample_rate_hz=8000, n_fft=64, n_mels=64, fmin_hz=20.0, fmax_hz=4000.0)
    assert np.isfinite(fb).all()


# ---------------------------------------------------------------------------------------------
# padding rules


@pytest.mark.parametrize("rule", RULES)
@pytest.mark.parametrize("n", [0, 1, 300, 767, 768, 769, 1000, 1280, 2047, 44100, 44101])
@pytest.mark.parametrize(("n_fft", "win", "hop"), [(2048, 2048, 512), (1024, 800, 256), (2048, 2048, 441)])
def test_padding_for_matches_presets_table(rule, n, n_fft, win, hop):
    left, right, mode = padding_for(rule, n_samples=n, n_fft=n_fft, win_length=win, hop_length=hop)
    r_left, r_right, r_reflect = ref_pads(rule, n, n_fft, win, hop)
    assert (left, right) == (r_left, r_right)
    assert mode == ("reflect" if r_reflect else "constant")
    forced = padding_for(rule, n_samples=n, n_fft=n_fft, win_length=win, hop_length=hop, pad_mode="constant")
    assert forced == (left, right, "constant")


def test_padding_for_documented_counts_at_44k():
    # n_fft = win = 2048, hop 512: center n//512+1, vits/diffsinger n//512, nsf_hifigan max(n//512, 1)
    for n in [0, 1, 300, 511, 512, 1000, 1023, 1024, 44100]:
        counts = {}
        for rule in RULES:
            left, right, _ = padding_for(rule, n_samples=n, n_fft=2048, win_length=2048, hop_length=512)
            counts[rule] = ref_frame_count(n, left, right, 2048, 512)
        assert counts["center"] == n // 512 + 1
        assert counts["vits"] == n // 512
        assert counts["diffsinger"] == n // 512
        assert counts["nsf_hifigan"] == max(n // 512, 1)


@pytest.mark.parametrize(
    ("rule", "kw"),
    [
        ("same", {}),
        ("vits", {"hop_length": 4096}),
        ("diffsinger", {"win_length": 256, "hop_length": 512}),
        ("center", {"win_length": 4096}),
        ("center", {"pad_mode": "edge"}),
    ],
)
def test_padding_for_rejects_bad_arguments(rule, kw):
    args = {"n_samples": 1000, "n_fft": 2048, "win_length": 2048, "hop_length": 512}
    args.update(kw)
    with pytest.raises(ConfigError):
        padding_for(rule, **args)


# ---------------------------------------------------------------------------------------------
# STFT magnitude


@pytest.mark.parametrize("rule", RULES)
@pytest.mark.parametrize("n", [1001, 150, 0])
@pytest.mark.parametrize(("n_fft", "win", "hop"), [(256, 200, 64), (256, 201, 64), (255, 255, 50)])
def test_stft_matches_direct_dft(rule, n, n_fft, win, hop):
    y = noise(duration_s=n / 8000, sample_rate_hz=8000, amplitude=0.3, seed=n)
    assert y.size == n
    left, right, mode = padding_for(rule, n_samples=n, n_fft=n_fft, win_length=win, hop_length=hop)
    got = stft_magnitude(
        y, n_fft=n_fft, hop_length=hop, win_length=win, pad_left=left, pad_right=right, pad_mode=mode
    )
    r_left, r_right, r_reflect = ref_pads(rule, n, n_fft, win, hop)
    ref = ref_stft_mag(
        y, n_fft=n_fft, hop=hop, win=win, left=r_left, right=r_right, reflect=r_reflect, direct=True
    )
    assert got.shape == ref.shape == (ref_frame_count(n, r_left, r_right, n_fft, hop), n_fft // 2 + 1)
    assert got.dtype == np.float32
    np.testing.assert_allclose(got, ref, rtol=1e-5, atol=1e-6 * max(1.0, float(np.abs(ref).max(initial=0))))


@pytest.mark.parametrize("eps", [1e-6, 1e-9])
def test_stft_epsilon_inside_sqrt(eps):
    y = sing_phrase(sample_rate_hz=16000, notes_hz=(220.0,), note_s=0.3, pause_s=0.0).audio
    kw = {"n_fft": 512, "hop_length": 128, "win_length": 512, "pad_left": 192, "pad_right": 192}
    plain = stft_magnitude(y, **kw).astype(np.float64)
    with_eps = stft_magnitude(y, **kw, magnitude_eps=eps).astype(np.float64)
    np.testing.assert_allclose(with_eps, np.sqrt(plain**2 + eps), rtol=2e-6)
    # the epsilon sets a floor of sqrt(eps) on the magnitude of a silent signal
    quiet = stft_magnitude(np.zeros(2000, np.float32), **kw, magnitude_eps=eps)
    np.testing.assert_allclose(quiet, math.sqrt(eps), rtol=1e-6)


@pytest.mark.parametrize(("n_fft", "win"), [(2048, 2048), (1024, 800), (1024, 801), (512, 512)])
def test_stft_center_matches_librosa(n_fft, win):
    y = sing_phrase(sample_rate_hz=22050, note_s=0.4).audio
    hop = 256
    left, right, mode = padding_for("center", n_samples=y.size, n_fft=n_fft, win_length=win, hop_length=hop)
    got = stft_magnitude(y, n_fft=n_fft, hop_length=hop, win_length=win, pad_left=left, pad_right=right)
    lib = np.abs(
        librosa.stft(
            y.astype(np.float64),
            n_fft=n_fft,
            hop_length=hop,
            win_length=win,
            window="hann",
            center=True,
            pad_mode="reflect",
        )
    ).T
    assert mode == "reflect"
    assert got.shape == lib.shape
    assert got.shape[0] == num_frames(y.size, hop_length=hop, convention="centered")
    np.testing.assert_allclose(got, lib, rtol=1e-5, atol=1e-6 * float(lib.max()))


def test_unit_tone_magnitude_is_half_the_window_sum():
    sr, n_fft, hop = 44100, 2048, 512
    k0 = 100
    y = tone(k0 * sr / n_fft, duration_s=0.5, sample_rate_hz=sr, amplitude=1.0)
    mag = stft_magnitude(y, n_fft=n_fft, hop_length=hop, win_length=n_fft, pad_left=1024, pad_right=1024)
    window_sum = np.sin(np.pi * np.arange(n_fft) / n_fft).__pow__(2).sum()
    interior = mag[3:-3].astype(np.float64)  # frames that do not reach the padding
    np.testing.assert_allclose(interior[:, k0], window_sum / 2, rtol=1e-5)
    # a periodic Hann window leaks exactly a quarter of its sum into the neighbours and nothing further
    np.testing.assert_allclose(interior[:, k0 - 1], window_sum / 4, rtol=1e-4)
    np.testing.assert_allclose(interior[:, k0 + 1], window_sum / 4, rtol=1e-4)
    assert interior[:, k0 + 2 :].max() < 1e-6 * window_sum
    assert interior[:, : k0 - 1].max() < 1e-6 * window_sum


def test_stft_rejects_bad_input():
    kw = {"n_fft": 256, "hop_length": 64, "win_length": 256, "pad_left": 96, "pad_right": 96}
    with pytest.raises(TooShortError, match="constant"):
        stft_magnitude(np.zeros(50, np.float32), **kw)
    assert stft_magnitude(np.zeros(50, np.float32), **kw, pad_mode="constant").shape == (0, 129)
    bad = np.zeros(500, np.float32)
    bad[7] = np.nan
    with pytest.raises(NonFiniteAudioError, match="1 NaN"):
        stft_magnitude(bad, **kw)
    with pytest.raises(ValueError, match="1-D"):
        stft_magnitude(np.zeros((2, 500), np.float32), **kw)
    with pytest.raises(ValueError, match="int16"):
        stft_magnitude(np.zeros(500, np.int16), **kw)
    with pytest.raises(ConfigError, match="win_length"):
        stft_magnitude(np.zeros(500, np.float32), **{**kw, "win_length": 512})
    with pytest.raises(ConfigError, match="pad_left"):
        stft_magnitude(np.zeros(500, np.float32), **{**kw, "pad_left": -1})
    with pytest.raises(ConfigError, match="magnitude_eps"):
        stft_magnitude(np.zeros(500, np.float32), **kw, magnitude_eps=-1e-9)


# ---------------------------------------------------------------------------------------------
# log-mel on synthetic signals


def test_tone_peaks_in_the_mel_band_with_the_nearest_centre():
    sr = 44100
    centres = ref_mel_edges(128, 40.0, 16000.0, htk=False)[1:-1]
    for m in range(2, 126, 5):
        for frac in (-0.3, 0.0, 0.3):
            step = centres[m + 1] - centres[m] if frac > 0 else centres[m] - centres[m - 1]
            f = centres[m] + frac * step
            y = tone(f, duration_s=0.3, sample_rate_hz=sr, amplitude=0.5)
            mel = log_mel(y, sample_rate_hz=sr)
            nearest = int(np.abs(centres - f).argmin())
            assert nearest == m
            assert (mel[4:-4].argmax(axis=1) == nearest).all(), (m, frac, f)


def test_log_floor_and_log_base():
    sr = 44100
    quiet = silence(duration_s=0.5, sample_rate_hz=sr)
    ln = log_mel(quiet, sample_rate_hz=sr)
    assert ln.shape == (quiet.size // 512 + 1, 128)
    assert (ln == np.float32(math.log(1e-5))).all()
    assert (log_mel(quiet, sample_rate_hz=sr, log_base="10") == np.float32(-5.0)).all()
    assert (log_mel(quiet, sample_rate_hz=sr, log_base="10", log_floor=1e-6) == np.float32(-6.0)).all()
    # with the NSF epsilon the magnitude of silence is sqrt(1e-9) per bin, still under the floor here
    eps = log_mel(quiet, sample_rate_hz=sr, magnitude_eps=1e-9)
    assert (eps == np.float32(math.log(1e-5))).all()

    y = sing_phrase(sample_rate_hz=sr, note_s=0.5, breath=0.0).audio
    e = log_mel(y, sample_rate_hz=sr).astype(np.float64)
    ten = log_mel(y, sample_rate_hz=sr, log_base="10").astype(np.float64)
    np.testing.assert_allclose(ten, e / math.log(10), rtol=1e-6, atol=1e-6)
    assert e.min() >= np.float32(math.log(1e-5))
    assert (e == np.float32(math.log(1e-5))).any()  # the digital-silence pauses hit the floor
    assert e.max() > 0.0


def test_log_mel_scales_with_amplitude():
    # log-mel of k*y is log-mel of y plus log(k) wherever neither is at the floor
    sr = 22050
    y = sing_phrase(sample_rate_hz=sr, note_s=0.4, breath=0.0).audio
    a = log_mel(y, sample_rate_hz=sr, fmax_hz=11025.0).astype(np.float64)
    b = log_mel(2.0 * y, sample_rate_hz=sr, fmax_hz=11025.0).astype(np.float64)
    ok = (a > math.log(1e-5) + 1.0) & (b > math.log(1e-5) + 1.0)
    assert ok.mean() > 0.5
    np.testing.assert_allclose(b[ok] - a[ok], math.log(2.0), atol=1e-5)


def test_n_frames_fitting():
    sr = 44100
    y = noise(duration_s=1.0, sample_rate_hz=sr, amplitude=0.1)
    n = y.size
    floor_grid = num_frames(n, hop_length=512, convention="floor")
    centered_grid = num_frames(n, hop_length=512, convention="centered")
    center = log_mel(y, sample_rate_hz=sr)
    assert center.shape[0] == centered_grid
    trimmed = log_mel(y, sample_rate_hz=sr, n_frames=floor_grid)
    np.testing.assert_array_equal(trimmed, center[:floor_grid])
    vits = log_mel(y, sample_rate_hz=sr, padding="vits")
    assert vits.shape[0] == floor_grid
    padded = log_mel(y, sample_rate_hz=sr, padding="vits", n_frames=centered_grid)
    np.testing.assert_array_equal(padded[:-1], vits)
    np.testing.assert_array_equal(padded[-1], vits[-1])
    # 4 frames off: another grid, not a rounding difference
    with pytest.raises(ConfigError, match="does not match the grid"):
        log_mel(
            y,
            sample_rate_hz=sr,
            n_fft=2048,
            win_length=1024,
            hop_length=256,
            padding="diffsinger",
            n_frames=n // 256,
        )
    # no STFT frame at all (vits, empty input) but one grid frame: filled with the floor
    empty = log_mel(np.zeros(0, np.float32), sample_rate_hz=sr, padding="vits", n_frames=1)
    assert empty.shape == (1, 128)
    assert (empty == np.float32(math.log(1e-5))).all()


def test_log_mel_rejects_bad_input():
    y = np.zeros(4096, np.float32)
    with pytest.raises(ConfigError, match="padding"):
        log_mel(y, sample_rate_hz=44100, padding="torch")
    with pytest.raises(ConfigError, match="log_floor"):
        log_mel(y, sample_rate_hz=44100, log_floor=0.0)
    with pytest.raises(ConfigError, match="log_base"):
        log_mel(y, sample_rate_hz=44100, log_base="2")
    with pytest.raises(ConfigError, match="Nyquist"):
        log_mel(y, sample_rate_hz=22050)
    with pytest.raises(ConfigError, match="n_frames"):
        log_mel(y, sample_rate_hz=44100, n_frames=-1)
    y[100] = np.inf
    with pytest.raises(NonFiniteAudioError):
        log_mel(y, sample_rate_hz=44100)


# ---------------------------------------------------------------------------------------------
# every padding rule on real recordings, against the numpy reference

REAL_CASES = [
    # file, sizes and mel as a framework would use them (PRESETS.md)
    pytest.param(
        "singing/vocadito/vocadito_10_excerpt_0.350-5.050s.wav",
        {"n_fft": 2048, "hop": 512, "win": 2048, "n_mels": 80, "fmin": 0.0, "fmax": 22050.0},
        "vits",
        {"eps": 1e-6},
        id="so-vits-vits",
    ),
    pytest.param(
        "singing/vocadito/vocadito_10_excerpt_0.350-5.050s.wav",
        {"n_fft": 2048, "hop": 512, "win": 2048, "n_mels": 128, "fmin": 40.0, "fmax": 16000.0},
        "nsf_hifigan",
        {"eps": 1e-9},
        id="nsf-hifigan",
    ),
    pytest.param(
        "singing/vocadito/vocadito_10_excerpt_0.350-5.050s.wav",
        {"n_fft": 2048, "hop": 512, "win": 2048, "n_mels": 128, "fmin": 40.0, "fmax": 16000.0},
        "diffsinger",
        {},
        id="diffsinger",
    ),
    pytest.param(
        "singing/vocadito/vocadito_10_excerpt_0.350-5.050s.wav",
        {"n_fft": 2048, "hop": 512, "win": 2048, "n_mels": 128, "fmin": 40.0, "fmax": 16000.0},
        "vits",
        {"eps": 1e-9, "base10": True},
        id="diff-svc-nsf-log10",
    ),
    pytest.param(
        "singing/sms_tools/singing-female.wav",
        {"n_fft": 2048, "hop": 512, "win": 2048, "n_mels": 128, "fmin": 40.0, "fmax": 16000.0},
        "center",
        {},
        id="svcprep-default",
    ),
    pytest.param(
        "speech/cmu_arctic/arctic_a0007.wav",
        {"n_fft": 1024, "hop": 160, "win": 1024, "n_mels": 128, "fmin": 30.0, "fmax": 8000.0},
        "center",
        {"htk": True},
        id="rmvpe-htk",
    ),
    pytest.param(
        "singing/dagstuhl_choirset/DCS_LI_QuartetB_Take04_S1_DYN.wav",
        {"n_fft": 512, "hop": 128, "win": 512, "n_mels": 80, "fmin": 30.0, "fmax": 11025.0},
        "center",
        {"const": True, "base10": True, "floor": 1e-6},
        id="diff-svc-24k-style-constant",
    ),
    pytest.param(
        "singing/dagstuhl_choirset/DCS_LI_QuartetB_Take04_A2_DYN.wav",
        {"n_fft": 1024, "hop": 256, "win": 800, "n_mels": 80, "fmin": 0.0, "fmax": 11025.0},
        "nsf_hifigan",
        {"eps": 1e-9},
        id="nsf-short-window",
    ),
    pytest.param(
        "singing/dagstuhl_choirset/DCS_LI_QuartetB_Take04_T2_DYN.wav",
        {"n_fft": 1024, "hop": 256, "win": 800, "n_mels": 80, "fmin": 0.0, "fmax": 11025.0},
        "diffsinger",
        {"norm": False},
        id="diffsinger-short-window-no-norm",
    ),
]


def _run_both(y, sr, sizes, rule, opts):
    got = log_mel(
        y,
        sample_rate_hz=sr,
        n_fft=sizes["n_fft"],
        hop_length=sizes["hop"],
        win_length=sizes["win"],
        n_mels=sizes["n_mels"],
        fmin_hz=sizes["fmin"],
        fmax_hz=sizes["fmax"],
        padding=rule,
        pad_mode="constant" if opts.get("const") else "reflect",
        magnitude_eps=opts.get("eps", 0.0),
        log_floor=opts.get("floor", 1e-5),
        log_base="10" if opts.get("base10") else "e",
        mel_scale="htk" if opts.get("htk") else "slaney",
        mel_norm="slaney" if opts.get("norm", True) else "none",
    )
    ref = ref_log_mel(
        y,
        sr=sr,
        n_fft=sizes["n_fft"],
        hop=sizes["hop"],
        win=sizes["win"],
        n_mels=sizes["n_mels"],
        fmin=sizes["fmin"],
        fmax=sizes["fmax"],
        rule=rule,
        eps=opts.get("eps", 0.0),
        floor=opts.get("floor", 1e-5),
        base10=opts.get("base10", False),
        htk=opts.get("htk", False),
        norm=opts.get("norm", True),
        const=opts.get("const", False),
    )
    return got, ref


@pytest.mark.parametrize(("rel", "sizes", "rule", "opts"), REAL_CASES)
def test_real_audio_matches_reference(rel, sizes, rule, opts):
    y, sr = load(rel)
    y = y[: 3 * sr]  # keeps the reference loop short
    got, ref = _run_both(y, sr, sizes, rule, opts)
    assert got.shape == ref.shape
    assert got.dtype == np.float32
    assert np.isfinite(got).all()
    np.testing.assert_allclose(got, ref, rtol=0, atol=1e-4)
    # not a trivially floored result: real audio must rise well above the floor
    assert float(got.max()) > float(ref.min()) + 5.0
    if sizes["win"] == sizes["n_fft"] and rule != "center":
        assert abs(got.shape[0] - num_frames(y.size, hop_length=sizes["hop"], convention="floor")) <= 1
    if rule == "center":
        assert got.shape[0] == num_frames(y.size, hop_length=sizes["hop"], convention="centered")


@pytest.mark.parametrize(("rel", "sizes", "rule", "opts"), REAL_CASES)
@pytest.mark.parametrize("n", [0, 1, 300, 1000])
def test_real_audio_short_clips(rel, sizes, rule, opts, n):
    y, sr = load(rel)
    y = y[2000 : 2000 + n]
    got, ref = _run_both(y, sr, sizes, rule, opts)
    left, right, _ = ref_pads(rule, n, sizes["n_fft"], sizes["win"], sizes["hop"])
    assert (
        got.shape
        == ref.shape
        == (ref_frame_count(n, left, right, sizes["n_fft"], sizes["hop"]), sizes["n_mels"])
    )
    assert np.isfinite(got).all()
    np.testing.assert_allclose(got, ref, rtol=0, atol=1e-4)


def test_real_audio_full_file_default_is_centred_grid():
    y, sr = load("singing/vocadito/vocadito_14.wav")
    mel = log_mel(y, sample_rate_hz=sr)
    assert mel.shape == (num_frames(y.size, hop_length=512), 128)
    assert np.isfinite(mel).all()
    lib = librosa.feature.melspectrogram(
        y=y.astype(np.float64),
        sr=sr,
        n_fft=2048,
        hop_length=512,
        win_length=2048,
        center=True,
        pad_mode="reflect",
        power=1.0,
        n_mels=128,
        fmin=40.0,
        fmax=16000.0,
    )
    np.testing.assert_allclose(mel, np.log(np.maximum(lib, 1e-5)).T, rtol=0, atol=1e-4)


# ---------------------------------------------------------------------------------------------
# frame counts over rates, lengths and hops


@settings(max_examples=25, deadline=None)
@given(
    sr=st.integers(8000, 96000),
    n=st.one_of(st.integers(0, 3000), st.integers(0, 40000)),
    hop_div=st.sampled_from([80, 86, 100, 172, 200]),
    fft_mult=st.sampled_from([2, 4]),
    win_frac=st.sampled_from([1.0, 0.75]),
)
def test_frame_counts_property(sr, n, hop_div, fft_mult, win_frac):
    hop = max(16, sr // hop_div)
    n_fft = 1 << math.ceil(math.log2(fft_mult * hop))
    win = max(hop, int(n_fft * win_frac))
    y = noise(duration_s=n / sr, sample_rate_hz=sr, amplitude=0.2, seed=n)[:n]
    assert y.size == n
    for rule in RULES:
        mel = log_mel(
            y,
            sample_rate_hz=sr,
            n_fft=n_fft,
            hop_length=hop,
            win_length=win,
            n_mels=40,
            fmin_hz=0.0,
            fmax_hz=sr / 2,
            padding=rule,
        )
        left, right, _ = ref_pads(rule, n, n_fft, win, hop)
        assert mel.shape == (ref_frame_count(n, left, right, n_fft, hop), 40), rule
        assert mel.dtype == np.float32
        assert np.isfinite(mel).all()
        if rule == "center":
            assert mel.shape[0] == num_frames(n, hop_length=hop, convention="centered")
        if rule in ("diffsinger", "nsf_hifigan") and win == n_fft and (win - hop) % 2 == 0 and n >= n_fft:
            assert mel.shape[0] == num_frames(n, hop_length=hop, convention="floor")
        if rule == "vits" and (n_fft - hop) % 2 == 0:
            assert mel.shape[0] == num_frames(n, hop_length=hop, convention="floor")
        if win == n_fft and rule != "center":
            grid = num_frames(n, hop_length=hop, convention="floor")
            assert abs(mel.shape[0] - grid) <= 1
            fitted = log_mel(
                y,
                sample_rate_hz=sr,
                n_fft=n_fft,
                hop_length=hop,
                win_length=win,
                n_mels=40,
                fmin_hz=0.0,
                fmax_hz=sr / 2,
                padding=rule,
                n_frames=grid,
            )
            assert fitted.shape == (grid, 40)
            assert np.isfinite(fitted).all()


def ref_keyshift_log_mel(y: np.ndarray, *, sr: int, keyshift: float) -> np.ndarray:
    """The NSF-HiFiGAN key-shifted mel written from PRESETS.md #2: sizes scaled by 2^(k/12)."""
    n_fft = win = 2048
    hop = 512
    factor = 2.0 ** (keyshift / 12.0)
    n_new, w_new = int(np.round(n_fft * factor)), int(np.round(win * factor))
    left, right, reflect = ref_pads("nsf_hifigan", y.size, n_new, w_new, hop)
    mag = ref_stft_mag(y, n_fft=n_new, hop=hop, win=w_new, left=left, right=right, reflect=reflect, eps=1e-9)
    bins = n_fft // 2 + 1
    fitted = np.zeros((mag.shape[0], bins))
    fitted[:, : min(bins, mag.shape[1])] = mag[:, :bins]
    fitted *= win / w_new
    mel = fitted @ ref_filterbank(sr, n_fft, 128, 40.0, 16000.0, False, True).T
    return np.log(np.maximum(mel, 1e-5))


@pytest.mark.parametrize("keyshift", [0.0, 3.7, -5.0, 12.0])
def test_keyshift_mel_matches_the_formula_and_moves_pitch(keyshift: float) -> None:
    sr = 44100
    y = sing_phrase(sample_rate_hz=sr, notes_hz=(220.0, 330.0), note_s=0.25, pause_s=0.05, seed=3).audio
    kw = dict(sample_rate_hz=sr, padding="nsf_hifigan", magnitude_eps=1e-9, log_floor=1e-5)
    got = log_mel(y, keyshift_semitones=keyshift, **kw)  # type: ignore[arg-type]
    want = ref_keyshift_log_mel(y, sr=sr, keyshift=keyshift)
    assert got.shape == want.shape == (y.size // 512, 128)  # the frame count does not change
    np.testing.assert_allclose(got, want, atol=2e-3)
    if keyshift == 12.0:
        # an octave up: a 220 Hz tone shifted by +12 looks like a 440 Hz tone, to within the gain
        low = log_mel(tone(220.0, duration_s=1.0, sample_rate_hz=sr), keyshift_semitones=12.0, **kw)  # type: ignore[arg-type]
        high = log_mel(tone(440.0, duration_s=1.0, sample_rate_hz=sr), **kw)  # type: ignore[arg-type]
        assert np.array_equal(low[5:-5].argmax(axis=1), high[5:-5].argmax(axis=1))
    with pytest.raises(ConfigError, match="keyshift_semitones"):
        log_mel(y, keyshift_semitones=float("nan"), **kw)  # type: ignore[arg-type]


@pytest.mark.parametrize("sr,n_fft,n_mels", [(44100, 2048, 128), (16000, 1024, 80), (22050, 1024, 40)])
def test_banded_basis_product_is_the_dense_product(sr: int, n_fft: int, n_mels: int) -> None:
    from svcprep.dsp.mel import _BandedBasis

    fb = mel_filterbank(sample_rate_hz=sr, n_fft=n_fft, n_mels=n_mels, fmin_hz=40.0, fmax_hz=sr / 2)
    fb = fb.astype(np.float64)
    mag = np.abs(np.random.default_rng(n_mels).standard_normal((37, fb.shape[1])))
    np.testing.assert_allclose(_BandedBasis(fb).apply(mag), mag @ fb.T, rtol=1e-12, atol=1e-300)
