"""Hostile configs fail before any work with exit 2, naming the field (the integrity issue)."""

from __future__ import annotations

import pytest
import soundfile as sf

from svcprep.cli import main
from svcprep.config import load_config
from svcprep.errors import ConfigError
from svcprep.testing import tone


@pytest.mark.parametrize(
    ("override", "field"),
    [
        ("slice.margin_s=1e308", "slice.margin_s"),
        ("slice.min_silence_s=1e308", "slice.min_silence_s"),
        ("f0.chunk_s=1e308", "f0.chunk_s"),
        ("denoise.highpass_hz=30000", "denoise.highpass_hz"),
        ("load.min_source_sample_rate_hz=500000", "load.min_source_sample_rate_hz"),
        ('split.exclude_flags=["no_such_flag"]', "split.exclude_flags"),
        ('slice.enabled="yes"', "slice.enabled"),
        ("slice.enabled=1", "slice.enabled"),
        ("split.seed=true", "split.seed"),
        ("features.hop_length=512.0", "features.hop_length"),
        ('load.sample_rate_hz="22050"', "load.sample_rate_hz"),
        ('slice.margin_s="0.1"', "slice.margin_s"),
        ("slice.margin_s=true", "slice.margin_s"),
        ('quality.max_clip_ratio="0.01"', "quality.max_clip_ratio"),
        ("quality.min_clip_runs=2.0", "quality.min_clip_runs"),
        ("quality.min_clip_runs=true", "quality.min_clip_runs"),
        ("quality.max_octave_jumps_per_s=1e400", "quality.max_octave_jumps_per_s"),
    ],
)
def test_hostile_values_are_refused_naming_the_field(override: str, field: str) -> None:
    with pytest.raises(ConfigError) as exc:
        load_config(overrides=[override])
    assert field in str(exc.value)


def test_floats_still_take_integers_and_optional_ints_take_none() -> None:
    cfg = load_config(
        overrides=["denoise.highpass_hz=30", "f0.analysis_sample_rate_hz=16000", "quality.max_clip_ratio=0"]
    )
    assert cfg.denoise.highpass_hz == 30.0 and cfg.f0.analysis_sample_rate_hz == 16000
    assert cfg.quality.max_clip_ratio == 0.0


def test_a_non_utf8_config_file_is_a_config_error(tmp_path) -> None:
    p = tmp_path / "c.toml"
    p.write_bytes(b'[f0]\nmethod = "d\xefo"\n')
    with pytest.raises(ConfigError, match="not UTF-8"):
        load_config(p)


def _raw(tmp_path):
    raw = tmp_path / "raw"
    (raw / "s").mkdir(parents=True)
    sf.write(raw / "s" / "a.wav", tone(220.0, duration_s=1.0, sample_rate_hz=16000), 16000)
    return raw


@pytest.mark.parametrize(
    "args", [["--set", "f0.chunk_s=1e308"], ["--set", "split.seed=true"], ["--config", "BAD"]]
)
def test_cli_exits_2_before_any_work(tmp_path, capsys, args: list[str]) -> None:
    raw, out = _raw(tmp_path), tmp_path / "out"
    if args[0] == "--config":
        bad = tmp_path / "bad.toml"
        bad.write_bytes(b"\xff\xfe[slice]\n")
        args = ["--config", str(bad)]
    assert main(["build", str(raw), str(out), "--no-progress", *args]) == 2
    assert not out.exists(), "nothing may be written before the config is valid"
    assert "svcprep: error:" in capsys.readouterr().err


def test_build_report_inside_raw_is_refused(tmp_path, capsys) -> None:
    raw, out = _raw(tmp_path), tmp_path / "out"
    before = sorted(p.name for p in (raw / "s").iterdir())
    assert main(["build", str(raw), str(out), "--no-progress", "--report", str(raw / "s" / "r.html")]) == 2
    assert "inside the raw folder" in capsys.readouterr().err
    assert sorted(p.name for p in (raw / "s").iterdir()) == before and not out.exists()
