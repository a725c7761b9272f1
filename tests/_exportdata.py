"""Small raw folders of real recordings for the export tests, and builds of them with a preset.

Two speakers, each with clips cut from the shared corpus (see ``tests/_data.py``) at their own
rates and formats, so every export is exercised on real singing: ``alice`` has vocadito
(44.1 kHz, one clip as FLAC), ``bob`` the NIT song (48 kHz) and an sms-tools take. Builds are
cached per preset and process for the test session.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

import svcprep
from svcprep.config import load_config
from svcprep.presets import get_preset
from tests._data import shared_file

#: (speaker, file name, corpus path, start s, length s): 13 s of audio, one item per clip.
CLIPS: tuple[tuple[str, str, str, float, float], ...] = (
    ("alice", "take one.wav", "singing/vocadito/vocadito_10_excerpt_0.350-5.050s.wav", 0.2, 2.6),
    ("alice", "wavy.flac", "singing/vocadito/vocadito_1.wav", 3.0, 2.6),
    ("alice", "wavy.wav", "singing/vocadito/vocadito_1.wav", 8.0, 2.6),
    ("bob", "song.wav", "singing/nit_song070/nitech_jp_song070_f001_004.wav", 0.5, 2.6),
    ("bob", "female.wav", "singing/sms_tools/singing-female.wav", 0.0, 2.6),
)

#: Build settings that keep the tests quick without changing what an export reads: no
#: spectral gating, no slicing (each clip is one 2.6 s item, long enough for every framework).
FAST = ("denoise.spectral_gating=false", "slice.enabled=false")

_BUILT: dict[tuple[str, tuple[str, ...]], Path] = {}


def real_raw(root: Path) -> Path:
    """Write the raw folder (one sub-folder per speaker) under ``root``; returns it."""
    for speaker, name, rel, start_s, length_s in CLIPS:
        y, sr = sf.read(shared_file(rel), dtype="float32", always_2d=True)
        y = y.mean(axis=1)
        a = int(start_s * sr)
        clip = y[a : a + int(length_s * sr)]
        path = root / speaker / name
        path.parent.mkdir(parents=True, exist_ok=True)
        sf.write(path, clip, sr, subtype="PCM_16", format="FLAC" if name.endswith(".flac") else "WAV")
    return root


def build_preset(factory: pytest.TempPathFactory, preset: str, *overrides: str) -> Path:
    """Build :func:`real_raw` with ``preset`` (plus :data:`FAST` and ``overrides``), once per session.

    Treat the result as read-only: other test modules get the same folder.
    """
    key = (preset, tuple(overrides))
    if key not in _BUILT:
        cfg = load_config(base=get_preset(preset).config, overrides=[*FAST, *overrides])
        tmp = factory.mktemp(f"export-{preset}")
        raw = real_raw(tmp / "raw")
        out = tmp / "out"
        svcprep.build(raw, out, cfg, jobs=1)
        _BUILT[key] = out
    return _BUILT[key]


def audio_of(out: Path, item_id: str) -> np.ndarray:
    """The dataset's float32 audio of one item."""
    return np.asarray(svcprep.open(out)[item_id]["audio"], dtype=np.float32)
