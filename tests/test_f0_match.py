"""F0 in a framework's own convention (``f0.match``): equal to the framework's WORLD path.

The references here are written from the frameworks' documented settings (PRESETS.md and their
F0 scripts): RVC runs harvest (or dio) at 16 kHz with a 10 ms frame period and refines it with
StoneMask; so-vits-svc 4.1 does the same at 44.1 kHz with a hop-512 frame period and then
resizes the track linearly onto ``len // 512`` frames, unvoiced where a neighbour is unvoiced.
"""

from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf
from hypothesis import given, settings
from hypothesis import strategies as st

from svcprep import testing as synth
from svcprep._compat import import_pyworld
from svcprep.config import load_config
from svcprep.dsp.f0 import extract_f0_as, resize_track
from svcprep.dsp.resample import resample
from svcprep.errors import ConfigError
from svcprep.presets import get_preset
from svcprep.stages import STAGES, run_f0, run_quantize
from tests._data import shared_file

pyworld = import_pyworld()


def ref_rvc(y: np.ndarray, sr: int, method: str = "harvest") -> np.ndarray:
    x = resample(y, orig_sr_hz=sr, target_sr_hz=16000).astype(np.float64)
    fn = pyworld.harvest if method == "harvest" else pyworld.dio
    f0, t = fn(x, fs=16000, f0_ceil=1100.0, f0_floor=50.0, frame_period=10.0)
    return np.asarray(pyworld.stonemask(x, f0, t, 16000))


def ref_sovits(y: np.ndarray, sr: int, hop: int = 512) -> np.ndarray:
    x = y.astype(np.float64)
    f0, t = pyworld.harvest(x, fs=sr, f0_floor=50.0, f0_ceil=1100.0, frame_period=1000 * hop / sr)
    f0 = np.asarray(pyworld.stonemask(x, f0, t, sr))
    n, target = f0.size, x.size // hop
    src = np.where(f0 < 0.001, np.nan, f0)
    out = np.empty(target)
    for j in range(target):  # linear interpolation at j * n / target, written out
        pos = j * n / target
        i = int(np.floor(pos))
        frac = pos - i
        v = src[i] * (1 - frac) + src[i + 1] * frac if i + 1 < n and frac > 0 else src[min(i, n - 1)]
        out[j] = 0.0 if np.isnan(v) else v
    return out


@pytest.fixture(scope="module")
def singing() -> tuple[np.ndarray, int]:
    y, sr = sf.read(shared_file("singing/vocadito/vocadito_1.wav"), dtype="float32")
    return y[sr : 4 * sr], sr


@pytest.mark.parametrize("preset", ["rvc-v2-40k", "sovits-4.1"])
def test_preset_f0_equals_the_frameworks_own_on_real_singing(preset: str, singing: tuple) -> None:  # type: ignore[type-arg]
    y44, sr44 = singing
    cfg = load_config(base=get_preset(preset).config)
    sr = cfg.load.sample_rate_hz
    y = resample(y44, orig_sr_hz=sr44, target_sr_hz=sr)
    if cfg.features.sample_format == "pcm16":
        y = run_quantize(y)
    got = run_f0(y, cfg)
    ref = ref_rvc(y, sr) if preset.startswith("rvc") else ref_sovits(y, sr)
    n = got["uv"].size
    assert abs(ref.size - n) <= 2
    ref = ref[:n]
    voiced = ref > 0
    assert np.array_equal(got["uv"].astype(bool), voiced)  # same voicing, frame for frame
    assert voiced.mean() > 0.5
    assert np.max(np.abs(got["f0_raw"][voiced] - ref[voiced])) < 1.0
    # svcprep's refined voicing on the same values voices fewer frames (breaths, reverb tails)
    refined = cfg.model_copy(update={"f0": cfg.f0.model_copy(update={"voicing": "refined"})})
    ref_uv = run_f0(y, refined)["uv"].astype(bool)
    assert ref_uv.sum() < voiced.sum() and not np.any(ref_uv & ~voiced)


def test_dio_match_and_known_pitch() -> None:
    sr = 48000
    v = synth.sing_phrase(sample_rate_hz=sr, notes_hz=(196.0, 247.0), note_s=0.4, pause_s=0.1, seed=4)
    track = extract_f0_as(v.audio, match="rvc", method="dio", sample_rate_hz=sr, hop_length=480,
                          n_frames=v.audio.size // 480)  # fmt: skip
    ref = ref_rvc(v.audio, sr, "dio")[: track.n_frames]
    np.testing.assert_allclose(track.f0_hz, ref, atol=1e-3)
    times = np.arange(track.n_frames) * 0.01
    truth = v.f0_at(times)
    steady = (truth > 0) & (v.f0_at(times - 0.05) > 0) & (v.f0_at(times + 0.05) > 0) & track.voiced
    assert steady.sum() > 30
    cents = 1200 * np.abs(np.log2(track.f0_hz[steady] / truth[steady]))
    assert np.median(cents) < 10


@settings(max_examples=40, deadline=None)
@given(
    st.lists(st.one_of(st.just(0.0), st.floats(60.0, 900.0)), min_size=1, max_size=60),
    st.integers(1, 80),
)
def test_resize_track_is_linear_interpolation_unvoiced_next_to_unvoiced(track: list[float], n: int) -> None:
    src = np.array(track)
    got = resize_track(src, n)
    assert got.shape == (n,)
    for j in range(n):
        pos = j * src.size / n
        i = int(pos)
        frac = pos - i
        if frac == 0 or i + 1 >= src.size:
            want = src[min(i, src.size - 1)]
        elif src[i] == 0 or src[i + 1] == 0:
            want = 0.0
        else:
            want = src[i] + frac * (src[i + 1] - src[i])
        assert got[j] == pytest.approx(want, rel=1e-9, abs=1e-9)


def test_match_needs_the_frameworks_grid_and_a_world_method() -> None:
    with pytest.raises(ConfigError, match=r"hop_length=441 \(or use"):
        load_config(overrides=["f0.match=rvc", "features.hop_length=512", "features.frame_count=floor"])
    with pytest.raises(ConfigError, match=r"frame_count='floor'"):
        load_config(overrides=["f0.match=sovits"])
    with pytest.raises(ConfigError, match=r"'harvest' or 'dio'"):
        load_config(overrides=["f0.match=sovits", "f0.method=pyin", "features.frame_count=floor"])
    with pytest.raises(ConfigError, match="analysis_sample_rate_hz"):
        load_config(base=get_preset("rvc-v2-40k").config, overrides=["f0.analysis_sample_rate_hz=16000"])
    # f0.match enters the F0 key only when set, so caches of earlier builds stay valid
    assert "match" not in STAGES["f0"].config(load_config())
    rvc = load_config(base=get_preset("rvc-v2-40k").config)
    assert STAGES["f0"].config(rvc)["match"] == "rvc"


def test_quantize_rounds_to_the_16_bit_grid_of_a_pcm16_file(tmp_path) -> None:  # type: ignore[no-untyped-def]
    rng = np.random.default_rng(7)
    y = np.concatenate([rng.uniform(-1.2, 1.2, 5000), [1.0, -1.0, 0.99999]]).astype(np.float32)
    q = run_quantize(y)
    assert q.dtype == np.float32
    assert np.all(q * 32768 == np.round(q * 32768)) and q.max() <= 32767 / 32768 and q.min() >= -1.0
    path = tmp_path / "q.wav"
    sf.write(path, q, 44100, subtype="PCM_16")
    back, _ = sf.read(path, dtype="float32")
    assert np.array_equal(back, q)  # what so-vits reads is exactly what the features saw
    inside = np.abs(y) < 0.99
    assert np.max(np.abs(q[inside] - y[inside])) <= 0.5 / 32768 + 1e-9
    # the stage only runs when asked for, so other builds keep their keys
    assert not STAGES["quantize"].enabled(load_config())
    assert STAGES["quantize"].enabled(load_config(base=get_preset("sovits-4.1").config))
