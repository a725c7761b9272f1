"""Configuration: defaults, TOML round trip, overrides and error messages that name the fix."""

from __future__ import annotations

import pytest

from svcprep.config import (
    BuildConfig,
    apply_overrides,
    config_to_toml,
    load_config,
    output_config,
    parse_override,
)
from svcprep.errors import ConfigError


def test_defaults_match_the_documented_pipeline() -> None:
    cfg = BuildConfig()
    assert cfg.load.sample_rate_hz == 44100
    assert (cfg.slice.min_segment_s, cfg.slice.max_segment_s) == (2.0, 15.0)
    assert cfg.loudness.mode == "off"
    assert cfg.augment.enabled is False
    assert (cfg.mel.n_fft, cfg.features.hop_length, cfg.mel.n_mels) == (2048, 512, 128)
    assert (cfg.mel.fmin_hz, cfg.mel.fmax_hz, cfg.mel.log_floor, cfg.mel.log_base) == (
        40.0,
        16000.0,
        1e-5,
        "e",
    )
    assert (cfg.f0.method, cfg.f0.f0_floor_hz, cfg.f0.f0_ceil_hz) == ("harvest", 50.0, 1100.0)


def test_config_is_frozen() -> None:
    cfg = BuildConfig()
    with pytest.raises(Exception, match="frozen"):
        cfg.load.sample_rate_hz = 22050  # type: ignore[misc]


def test_toml_round_trip(tmp_path) -> None:
    cfg = load_config(
        overrides=["f0.method=dio", "augment.enabled=true", "augment.pitch_shift_semitones=[-2, 2]"]
    )
    path = tmp_path / "c.toml"
    path.write_text(config_to_toml(cfg))
    assert load_config(path) == cfg
    assert load_config(path).augment.pitch_shift_semitones == (-2.0, 2.0)


def test_overrides_parse_toml_values_and_bare_words() -> None:
    assert parse_override("f0.method=pyin") == (["f0", "method"], "pyin")
    assert parse_override("slice.max_segment_s=12") == (["slice", "max_segment_s"], 12)
    assert parse_override("slice.enabled=false") == (["slice", "enabled"], False)
    data = apply_overrides({"f0": {"method": "dio"}}, ["f0.f0_floor_hz=60"])
    assert data == {"f0": {"method": "dio", "f0_floor_hz": 60}}


@pytest.mark.parametrize(
    ("override", "names"),
    [
        ("slice.min_segment_s=-1", "slice.min_segment_s=-1"),
        ("slice.min_segment_s=20", "slice.max_segment_s"),
        ("mel.fmax_hz=30000", "mel.fmax_hz=30000"),
        ("f0.method=crepe", "f0.method='crepe'"),
        ("f0.f0_floor_hz=1200", "f0.f0_ceil_hz"),
        ("load.sample_rate_hz=1000", "load.sample_rate_hz=1000"),
        ("slice.nope=1", "slice.nope"),
        ("augment.enabled=true", "augment.pitch_shift_semitones"),
        ("mel.win_length=4096", "raise n_fft"),
    ],
)
def test_invalid_values_name_field_value_and_fix(override: str, names: str) -> None:
    with pytest.raises(ConfigError) as exc:
        load_config(overrides=[override])
    assert names in str(exc.value)
    assert isinstance(exc.value, ValueError)


def test_bad_toml_file_is_a_config_error(tmp_path) -> None:
    p = tmp_path / "bad.toml"
    p.write_text("[load\nsample_rate_hz = 3")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_config(p)
    with pytest.raises(ConfigError, match="cannot read config file"):
        load_config(tmp_path / "missing.toml")


def test_output_config_leaves_out_non_output_fields() -> None:
    cfg = BuildConfig()
    assert "block_frames" not in output_config(cfg.load)
    assert "chunk_s" in output_config(cfg.f0)  # it changes up to 1 % of frames of long items
    assert "sample_rate_hz" in output_config(cfg.load)
    assert output_config(cfg.store) == {}


def test_toml_leaves_unset_optional_fields_out_and_reads_them_back() -> None:
    text = config_to_toml(BuildConfig())
    assert "analysis_sample_rate_hz" not in text, "TOML has no null"
    cfg = load_config(overrides=["f0.analysis_sample_rate_hz=16000"])
    text = config_to_toml(cfg)
    assert "analysis_sample_rate_hz = 16000" in text


@pytest.mark.parametrize(
    "setting", ["quality.min_snr_db=inf", "slice.max_segment_s=nan", "f0.f0_ceil_hz=-inf"]
)
def test_non_finite_numbers_fail_before_any_work(setting: str) -> None:
    with pytest.raises(ConfigError, match="finite"):
        load_config(overrides=[setting])


def test_unset_analysis_rate_leaves_f0_cache_keys_as_they_were() -> None:
    from svcprep.stages import stage_config

    assert "analysis_sample_rate_hz" not in stage_config(BuildConfig(), "f0")
    cfg = load_config(overrides=["f0.analysis_sample_rate_hz=16000"])
    assert stage_config(cfg, "f0")["analysis_sample_rate_hz"] == 16000
