"""The labelled raw folder of ``bench_quality.py --part build``: real takes, injected defects.

:func:`load_or_generate` writes (once per :data:`GENERATOR_VERSION`, seeded) a raw
folder of speaker sub-folders under ``$TMPDIR/svcprep-bench/quality-v2/raw`` and the
labels next to it (``labels.json``, never inside the raw folder). Every file is one
labelled *case*; its id is its path relative to the raw folder. The classes, their
severities and how each is made are listed in ``bench_quality.py``'s docstring; the
signal code is in :mod:`_defects`.

A label is::

    {"class": "hum", "severity": "60Hz-10dB", "positive_flags": ["hum"],
     "negative_for": "all", "grey_flags": ["noisy", ...], "lineage": "vocadito_1.wav@2",
     "notes": "...", "measured": {...}, "duplicate_of": null, ...}

``negative_for`` is ``"all"`` (negative for every flag that is not positive or grey)
or a list. ``lineage`` names the stretch of real audio a case was made from: two cases
of one lineage are legitimately duplicates of each other, so duplicate flags between
them are never false positives. ``duplicate_of`` (with ``duplicate_kind``) names the
case a deliberate copy must be found to duplicate.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import tempfile
import zlib
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import _defects as dx
import numpy as np
import soundfile as sf
from joblib import Parallel, delayed

GENERATOR_VERSION = 2
SEED = 20261202
WINDOW_S = 4.0
DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
ROOT = Path(tempfile.gettempdir()) / "svcprep-bench" / "quality-v2"
SR = 44100

#: Flags of issue 13 that the build may not know yet (scored by name all the same).
NEW_FLAGS = (
    "hum",
    "reverberant",
    "accompaniment",
    "dropout",
    "dead_channel",
    "lossy_codec",
    "speaker_outlier",
)

#: The flag each defect class is about (its positives are positive for it).
MAIN_FLAG = {
    "clipping": "clipping",
    "hum": "hum",
    "polarity": "channel_cancellation",
    "mostly_silent": "silence",
    "octave": "unstable_f0",
    "codec": "lossy_codec",
    "accompaniment": "accompaniment",
    "reverb": "reverberant",
    "dropout": "dropout",
    "dead_channel": "dead_channel",
    "speaker_outlier": "speaker_outlier",
    "duplicate": "near_duplicate",
    "noisy": "noisy",
}

#: Real file -> speaker folder (one per person; the two NIT files are one singer).
SPEAKER_OF = {
    "nitech_jp_song070_f001_004.wav": "nit_f001",
    "nitech_jp_song070_f001_007.wav": "nit_f001",
    "vocadito_1.wav": "vocadito_s1",
    "vocadito_14.wav": "vocadito_s11",
    "vocadito_10_excerpt_0.350-5.050s.wav": "vocadito_s7",
    "singing-female.wav": "sms_female_singer",
    "vignesh.wav": "sms_vignesh",
    "soprano-E4.wav": "sms_soprano",
    "DCS_LI_QuartetB_Take04_S1_DYN.wav": "dagstuhl_s1",
    "DCS_LI_QuartetB_Take04_A2_DYN.wav": "dagstuhl_a2",
    "DCS_LI_QuartetB_Take04_T2_DYN.wav": "dagstuhl_t2",
    "DCS_LI_QuartetB_Take04_B2_DYN.wav": "dagstuhl_b2",
    "DCS_LI_QuartetB_Take04_B2_HSM.wav": "dagstuhl_b2",
    "DCS_LI_QuartetB_Take04_B2_LRX.wav": "dagstuhl_b2",
    "5703-47212-0000.flac": "libri_5703",
    "3436-172162-0000.flac": "libri_3436",
    "198-209-0000.flac": "libri_198",
    "arctic_a0007.wav": "arctic_awb",
    "arctic_a0009.wav": "arctic_slt",
    "speech-female.wav": "sms_speech_female",
    "speech-male.wav": "sms_speech_male",
    "vaiueo2d.wav": "world_vowels",
}
#: Short names of the real files, for case file names.
SHORT = {
    "nitech_jp_song070_f001_004.wav": "nit004",
    "nitech_jp_song070_f001_007.wav": "nit007",
    "vocadito_1.wav": "voc1",
    "vocadito_14.wav": "voc14",
    "vocadito_10_excerpt_0.350-5.050s.wav": "voc10",
    "singing-female.wav": "singfemale",
    "vignesh.wav": "vignesh",
    "soprano-E4.wav": "sopranoE4",
    "DCS_LI_QuartetB_Take04_S1_DYN.wav": "dcsS1dyn",
    "DCS_LI_QuartetB_Take04_A2_DYN.wav": "dcsA2dyn",
    "DCS_LI_QuartetB_Take04_T2_DYN.wav": "dcsT2dyn",
    "DCS_LI_QuartetB_Take04_B2_DYN.wav": "dcsB2dyn",
    "DCS_LI_QuartetB_Take04_B2_HSM.wav": "dcsB2hsm",
    "DCS_LI_QuartetB_Take04_B2_LRX.wav": "dcsB2lrx",
    "5703-47212-0000.flac": "libri5703",
    "3436-172162-0000.flac": "libri3436",
    "198-209-0000.flac": "libri198",
    "arctic_a0007.wav": "arctic7",
    "arctic_a0009.wav": "arctic9",
    "speech-female.wav": "spfemale",
    "speech-male.wav": "spmale",
    "vaiueo2d.wav": "vaiueo",
}
#: Band-limited although recorded at 44.1 kHz (consumer devices; see the flags part).
NATURALLY_BAND_LIMITED = {"vocadito_14.wav", "vocadito_10_excerpt_0.350-5.050s.wav"}
#: Windows per file (at most; fewer when the file has less active audio).
MAX_WINDOWS = {"nitech_jp_song070_f001_004.wav": 4, "nitech_jp_song070_f001_007.wav": 5, "vocadito_1.wav": 5}
MIN_DURATION_S = 2.0  # the default slicer's min_segment_s: shorter sources are too_short

# Side effects an injection legitimately has: unscored for that class (besides the
# per-case rules in _side_greys). Duplicate flags are scored per pair, never here.
CLASS_GREY: dict[str, tuple[str, ...]] = {
    "clean": (),
    "loud": ("loudness_outlier",),
    "breathy": ("loudness_outlier",),
    "vibrato": ("speaker_outlier",),
    "melisma": ("speaker_outlier",),
    "leap": ("speaker_outlier",),
    "resynth": (),
    "clipping": ("dc_offset", "loudness_outlier"),
    "hum": ("noisy",),
    "polarity": ("silence", "too_short", "loudness_outlier", "speaker_outlier", "unstable_f0"),
    "mostly_silent": ("too_short", "loudness_outlier", "noisy", "speaker_outlier", "unstable_f0"),
    "noise_only": (
        "silence",
        "noisy",
        "too_short",
        "loudness_outlier",
        "unstable_f0",
        "speaker_outlier",
        "reverberant",
        "accompaniment",
        "lossy_codec",
    ),
    "octave": ("speaker_outlier",),
    "codec": (),
    "accompaniment": ("speaker_outlier",),
    "reverb": (),
    "dropout": (),
    "dead_channel": ("loudness_outlier",),
    "speaker_outlier": ("loudness_outlier",),
    "duplicate": (),
    # noise 0-5 dB under the voice can hide it from the F0 tracker and moves level and timbre
    "noisy": ("loudness_outlier", "unstable_f0", "speaker_outlier", "silence"),
}
#: Classes whose injection adds or removes content near the top of the band, so the
#: base's bandwidth says nothing about the case (``low_bandwidth`` unscored).
BAND_CHANGING = {
    "clipping",
    "breathy",
    "mostly_silent",
    "noise_only",
    "codec",
    "accompaniment",
    "dropout",
    "polarity",
    "noisy",
}


@dataclass
class Label:
    """What one case is (see the module docstring)."""

    cls: str
    severity: str
    positive_flags: list[str]
    negative_for: str | list[str] = "all"
    grey_flags: list[str] = field(default_factory=list)
    lineage: str = ""
    notes: str = ""
    base: str = ""
    duplicate_of: str | None = None
    duplicate_kind: str | None = None
    transform: dict[str, float] | None = None
    grey_severity: bool = False
    measured: dict[str, Any] = field(default_factory=dict)
    format: str = ""
    sample_rate_hz: int = 0
    channels: int = 1
    duration_s: float = 0.0

    @classmethod
    def graded(cls, klass: str, severity: str, flag: str, *, grey: bool, **kw: Any) -> Label:
        """A case of a graded class: positive for ``flag``, or grey for it at a grey severity."""
        return cls(
            klass,
            severity,
            [] if grey else [flag],
            grey_flags=[flag] if grey else [],
            grey_severity=grey,
            **kw,
        )

    def to_json(self) -> dict[str, Any]:
        d = asdict(self)
        d["class"] = d.pop("cls")
        return d


@dataclass
class Window:
    """A stretch of one real recording (the whole file when it is short)."""

    file: str
    index: int
    y: np.ndarray  # float64, native rate
    sr: int
    speaker: str
    singing: bool
    band_limited: bool

    @property
    def lineage(self) -> str:
        return f"{self.file}@{self.index}"

    @property
    def stem(self) -> str:
        return f"{SHORT[self.file]}_w{self.index}"

    def at(self, sr: int) -> np.ndarray:
        return dx.resample(self.y, self.sr, sr)


# --------------------------------------------------------------------------- writing


def _under(z: np.ndarray, peak: float) -> np.ndarray:
    """``z`` scaled down so that its peak is at most ``peak`` (unchanged when it already is)."""
    top = float(np.max(np.abs(z)))
    return z * (peak / top) if top > peak else z


def _pcm16(y: np.ndarray) -> np.ndarray:
    q = np.round(np.asarray(y, dtype=np.float64) * 32768.0)
    if np.abs(q).max() > 32768:
        raise ValueError(f"sample {np.abs(q).max() / 32768:.3f} beyond full scale would clip on writing")
    return np.clip(q, -32768, 32767).astype(np.int16)


def write_pcm(path: Path, y: np.ndarray, sr: int, *, fmt: str = "WAV", subtype: str = "PCM_16") -> None:
    """Integer samples written as they are (no float scaling by the library)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if subtype == "PCM_16":
        data = _pcm16(y)
    elif subtype == "PCM_24":
        q = np.round(np.asarray(y, dtype=np.float64) * 8388608.0)
        if np.abs(q).max() > 8388608:
            raise ValueError("sample beyond full scale would clip on writing")
        data = (np.clip(q, -8388608, 8388607).astype(np.int64) * 256).astype(np.int32)
    else:
        raise ValueError(subtype)
    sf.write(path, data, sr, format=fmt, subtype=subtype)


def _clip_runs(y: np.ndarray) -> int:
    """svcprep's own flat-top count (``clip_runs``) on ``y``, for the labels' sanity checks."""
    from svcprep.quality.metrics import clipping_stats

    return int(clipping_stats(np.asarray(y, dtype=np.float32))["clip_runs"])


def _decoded_pcm(y: np.ndarray) -> np.ndarray:
    """What a PCM_16 file of ``y`` decodes to (float)."""
    return _pcm16(y).astype(np.float64) / 32768.0


# --------------------------------------------------------------------------- generator


class Generator:
    """Builds every case into ``raw`` and collects the labels."""

    def __init__(self, raw: Path, data: Path, jobs: int) -> None:
        self.raw = raw
        self.data = data
        self.jobs = jobs
        self.labels: dict[str, Label] = {}
        self.rng = np.random.default_rng(SEED)
        self.windows: list[Window] = []
        self.clean_case: dict[str, str] = {}  # lineage -> case id of its clean take
        self._use: dict[str, int] = {}

    # -- inputs ------------------------------------------------------------------------

    def load(self) -> None:
        files = sorted(q for q in self.data.glob("*/*/*") if q.suffix in (".wav", ".flac"))
        if not files:
            raise SystemExit(f"shared data not found at {self.data}")
        for p in files:
            y, sr = sf.read(p, dtype="float64")
            if y.ndim > 1:
                y = y.mean(axis=1)
            singing = p.parts[-3] == "singing"
            band = sr <= 22050 or p.name in NATURALLY_BAND_LIMITED
            spk = SPEAKER_OF[p.name]
            if y.size / sr < WINDOW_S + 1.0:
                self.windows.append(Window(p.name, 0, y, sr, spk, singing, band))
                continue
            starts = dx.pick_windows(y, sr, WINDOW_S, MAX_WINDOWS.get(p.name, 3))
            for k, s in enumerate(starts):
                w = y[s : s + round(WINDOW_S * sr)].copy()
                self.windows.append(Window(p.name, k, w, sr, spk, singing, band))

    def pool(
        self, *, singing: bool | None = None, full_band: bool = False, min_s: float = 3.0
    ) -> list[Window]:
        out = [
            w
            for w in self.windows
            if w.y.size / w.sr >= min_s
            and (singing is None or w.singing == singing)
            and (not full_band or not w.band_limited)
        ]
        return out

    def take(self, pool: list[Window], n: int, key: str) -> list[Window]:
        """``n`` windows from ``pool``, spread over recordings, then over windows.

        One at a time: the recording used least in this call, then singing and speech in
        turn, then the window used least so far (over all classes), then a seeded shuffle
        that differs per ``key``, so each class and each of its severities lands on a mix
        of singers and speakers.
        """
        order = np.random.default_rng([SEED, zlib.crc32(key.encode())]).permutation(len(pool))
        rank = {int(i): k for k, i in enumerate(order)}
        chosen: list[Window] = []
        per_file: dict[str, int] = {}
        for k in range(n):
            i = min(
                range(len(pool)),
                key=lambda i: (
                    per_file.get(pool[i].file, 0),
                    pool[i].singing != (k % 2 == 0),  # alternate singing and speech
                    self._use.get(pool[i].lineage, 0),
                    rank[i],
                ),
            )
            w = pool[i]
            chosen.append(w)
            self._use[w.lineage] = self._use.get(w.lineage, 0) + 1
            per_file[w.file] = per_file.get(w.file, 0) + 1
        return chosen

    # -- labels ------------------------------------------------------------------------

    def _side_greys(self, cls: str, w: Window | None) -> tuple[list[str], list[str]]:
        """(extra positives, extra greys) from the base: its bandwidth and length."""
        pos: list[str] = []
        grey: list[str] = []
        if w is not None and w.file.endswith(".flac") and "libri" in w.speaker:
            grey.append("lossy_codec")  # LibriSpeech was Ogg Vorbis before it was FLAC
        if cls in BAND_CHANGING:
            grey.append("low_bandwidth")
        elif w is not None and w.band_limited:
            pos.append("low_bandwidth")
        return pos, grey

    def add(
        self,
        rel: str,
        label: Label,
        write: Callable[[Path], None],
        base: Window | None,
    ) -> None:
        if rel in self.labels:
            raise ValueError(f"duplicate case id {rel}")
        pos, grey = self._side_greys(label.cls, base)
        if "too_short" in label.positive_flags:  # dropped whole: nothing is measured on it
            pos, grey = [], [*grey, "low_bandwidth"]
        label.positive_flags = sorted({*label.positive_flags, *pos})
        label.grey_flags = sorted(
            ({*label.grey_flags, *grey, *CLASS_GREY[label.cls]}) - set(label.positive_flags)
        )
        if base is not None:
            label.base = base.lineage
            label.lineage = label.lineage or base.lineage
        path = self.raw / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        write(path)
        info = sf.info(str(path))
        label.format = f"{info.format}/{info.subtype}"
        label.sample_rate_hz = int(info.samplerate)
        label.channels = int(info.channels)
        label.duration_s = round(info.frames / info.samplerate, 3)
        self.labels[rel] = label

    def wav(self, y: np.ndarray, sr: int, subtype: str = "PCM_16") -> Callable[[Path], None]:
        return lambda p: write_pcm(p, y, sr, subtype=subtype)

    # -- classes -----------------------------------------------------------------------

    def clean(self) -> None:
        """Every window as a clean take at its native rate (sample-exact), and the short files."""
        for w in self.windows:
            ext = ".flac" if w.file.endswith(".flac") else ".wav"
            rel = f"{w.speaker}/take_{w.stem}{ext}"
            dur = w.y.size / w.sr
            pos = ["too_short"] if dur < MIN_DURATION_S else []
            note = "whole file" if w.index == 0 and dur < WINDOW_S + 1.0 else f"{WINDOW_S:g} s window"
            fmt = "FLAC" if ext == ".flac" else "WAV"
            self.add(
                rel,
                Label("clean", "natural", pos, notes=f"real recording, {note}"),
                lambda p, w=w, fmt=fmt: write_pcm(p, w.y, w.sr, fmt=fmt),
                w,
            )
            self.clean_case[w.lineage] = rel

    def loud(self) -> None:
        """Loud but unclipped takes: peak-normalised to -0.1 dBFS, and a clean look-ahead limiter."""
        for i, w in enumerate(self.take(self.pool(), 6, "loud")):
            y = w.at(SR)
            if i < 3:
                z = y * (10 ** (-0.1 / 20) / np.max(np.abs(y)))
                sev, note = "peak-0.1dBFS", "normalised to a -0.1 dBFS peak"
            else:
                g = 10 ** (9 / 20) * 10 ** (-0.3 / 20) / np.max(np.abs(y))
                z = dx.lookahead_limiter(y * g, SR, ceiling=10 ** (-0.3 / 20))
                sev, note = (
                    "limit+9dB",
                    "+9 dB into a 5 ms look-ahead limiter (ceiling -0.3 dBFS), no flat tops",
                )
            dec = _decoded_pcm(z)
            m = {
                "peak_dbfs": round(dx.db(np.max(np.abs(dec))), 2),
                "flat_top_share": dx.flat_top_share(dec),
                "clip_runs_svcprep": _clip_runs(dec),
                "gain_db": round(dx.db(dx.active_rms(z, SR) / dx.active_rms(y, SR)), 2),
            }
            self.add(
                f"{w.speaker}/x_loud_{sev}_{w.stem}.wav",
                Label("loud", sev, [], notes=note, measured=m),
                self.wav(z, SR),
                w,
            )

    def clipping(self) -> None:
        """Clipped at 3/6/12 dB overdrive, then scaled / compressed / resampled 48->44.1 / MP3."""
        posts = ("scale", "compress", "resample48k", "mp3")
        ws = self.take(self.pool(), 12, "clipping")
        for i, w in enumerate(ws):
            od = (3.0, 6.0, 12.0)[i % 3]
            post = posts[i // 3]
            sr = 48000 if post == "resample48k" else SR
            c = dx.clip(w.at(sr), od)
            m: dict[str, Any] = {
                "overdrive_db": od,
                "flat_top_share_before_post": round(dx.flat_top_share(c), 5),
                "clip_runs_svcprep_before_post": _clip_runs(c),
            }
            ext, subtype = ".wav", "PCM_16"
            if post == "scale":
                z = c * 0.5
                note = "clipped, then turned down 6 dB"
            elif post == "compress":
                z = dx.envelope_compressor(c, SR, threshold=0.3, ratio=3.0, attack_ms=5.0, release_ms=80.0)
                z *= 0.8 / np.max(np.abs(z))
                note = "clipped, then a compressor (3:1, 5/80 ms): crests tilted by the moving gain"
            elif post == "resample48k":
                z = dx.resample(c, 48000, SR)
                z *= 0.95 / np.max(np.abs(z))
                note = "clipped at 48 kHz, resampled to 44.1 kHz (soxr VHQ), peak set to 0.95"
            else:
                z = c * 0.9
                ext = ".mp3"
                note = "clipped, turned down 1 dB, MP3-encoded (VBR, libsndfile level 0.3)"
            if ext == ".mp3":
                data = dx.encode(z, SR, "MP3", compression_level=0.3)
                dec, _ = dx.decode(data)

                def write(p: Path, data: bytes = data) -> None:
                    p.write_bytes(data)

                m["kbps"] = round(len(data) * 8 / (z.size / SR) / 1000, 1)
            else:
                dec = _decoded_pcm(z)
                write = self.wav(z, SR, subtype)
            m["flat_top_share_after_post"] = round(dx.flat_top_share(dec), 5)
            m["clip_runs_svcprep_after_post"] = _clip_runs(dec)
            grey = ["lossy_codec"] if ext == ".mp3" else []
            self.add(
                f"{w.speaker}/x_clip_{od:g}dB-{post}_{w.stem}{ext}",
                Label("clipping", f"{od:g}dB-{post}", ["clipping"], grey_flags=grey, notes=note, measured=m),
                write,
                w,
            )

    def hum(self) -> None:
        """50/60 Hz mains hum with harmonics at 0, 10 and 20 dB under the voice."""
        for i, w in enumerate(self.take(self.pool(), 12, "hum")):
            under = (0.0, 10.0, 20.0)[i % 3]
            mains = 50.0 if (i // 3) % 2 == 0 else 60.0
            y = w.at(SR)
            v = dx.active_rms(y, SR)
            h = dx.scale_to(dx.mains_hum(y.size, SR, mains_hz=mains, seed=SEED + i), v, under)
            z = y + h
            z = _under(z, 0.99)
            m = {
                "hum_under_voice_db": round(dx.db(v / dx.rms(h)), 2),
                "hum_under_whole_rms_db": round(dx.db(dx.rms(y) / dx.rms(h)), 2),
            }
            grey_sev = under >= 20.0
            self.add(
                f"{w.speaker}/x_hum_{mains:g}Hz-{under:g}dB_{w.stem}.wav",
                Label.graded(
                    "hum",
                    f"{mains:g}Hz-{under:g}dB",
                    "hum",
                    grey=grey_sev,
                    notes=f"{mains:g} Hz hum (harmonics 1,2,3,5,7, drifting) {under:g} dB under the voice",
                    measured=m,
                ),
                self.wav(z, SR),
                w,
            )

    def polarity(self) -> None:
        """Stereo whose right channel is the inverted left: exact, -0.26 dB off, 1 sample late."""
        kinds = ("exact", "gain0.97", "delay1")
        for i, w in enumerate(self.take(self.pool(), 9, "polarity")):
            kind = kinds[i % 3]
            y = w.at(SR) * 0.7 / max(np.max(np.abs(w.at(SR))), 1e-9)
            left = _pcm16(y)
            if kind == "exact":
                right = (-left.astype(np.int32)).clip(-32768, 32767).astype(np.int16)
            elif kind == "gain0.97":
                right = _pcm16(-0.97 * left / 32768.0)
            else:
                right = np.concatenate(([0], -left[:-1].astype(np.int32))).astype(np.int16)
            st = np.stack([left, right], axis=1)
            mono = st.astype(np.float64).mean(axis=1) / 32768
            m = {"downmix_under_channels_db": round(dx.db(dx.rms(y) / max(dx.rms(mono), 1e-12)), 1)}
            self.add(
                f"{w.speaker}/x_polarity_{kind}_{w.stem}.wav",
                Label(
                    "polarity",
                    kind,
                    ["channel_cancellation"],
                    notes=f"stereo, R = -L ({kind}); the mono downmix cancels",
                    measured=m,
                ),
                lambda p, st=st: sf.write(p, st, SR, subtype="PCM_16"),
                w,
            )

    def mostly_silent(self) -> None:
        """0.6-2 s of voice in 12 s of digital silence or very quiet room tone."""
        for i, w in enumerate(self.take(self.pool(), 9, "mostly_silent")):
            voice_s = (0.6, 1.2, 2.0)[i % 3]
            bg = ("zero", "pink-75dBFS", "pink-65dBFS")[i // 3]
            y = w.at(SR)
            snip = dx.fade(dx.loudest_span(y, SR, voice_s), SR, 20.0)
            n = 12 * SR
            z = np.zeros(n)
            if bg != "zero":
                level = -75.0 if "75" in bg else -65.0
                z += dx.coloured_noise(n, SR, exponent=1.0, seed=SEED + 100 + i) * 10 ** (level / 20)
            at = int(self.rng.integers(SR, n - snip.size - SR))
            z[at : at + snip.size] += snip
            m = {"voice_s": voice_s, "voice_at_s": round(at / SR, 2), "background": bg}
            self.add(
                f"{w.speaker}/x_mostlysilent_{voice_s:g}s-{bg}_{w.stem}.wav",
                Label(
                    "mostly_silent",
                    f"{voice_s:g}s-{bg}",
                    ["silence"],
                    notes=f"{voice_s:g} s of voice in 12 s of {bg}",
                    measured=m,
                ),
                self.wav(z, SR),
                w,
            )

    def noise_only(self) -> None:
        """No voice: pink, brown or a recording's own room tone at -45/-50/-55 dBFS."""
        by_file: dict[str, np.ndarray] = {}
        for name in ("nitech_jp_song070_f001_004.wav", "vocadito_1.wav", "5703-47212-0000.flac"):
            p = next(self.data.glob(f"*/*/{name}"))
            y, sr = sf.read(p, dtype="float64")
            by_file[name] = y if y.ndim == 1 else y.mean(axis=1)
        i = 0
        for kind in ("pink", "brown", "room"):
            for level in (-45.0, -50.0, -55.0):
                sr = SR
                lineage = f"noise:{kind}{i}"
                grey: list[str] = []
                if kind == "room":
                    name = list(by_file)[i % 3]
                    p = next(self.data.glob(f"*/*/{name}"))
                    sr = sf.info(str(p)).samplerate
                    z = dx.room_tone_from(by_file[name], sr, 4 * sr, seed=SEED + i)
                    speaker = SPEAKER_OF[name]
                    note = f"the quietest 15 % of {name}'s 50 ms frames, shuffled and overlap-added"
                    grey = ["hum", "low_bandwidth"]
                    lineage = f"room:{name}"
                else:
                    z = dx.coloured_noise(4 * sr, sr, exponent=1.0 if kind == "pink" else 2.0, seed=SEED + i)
                    speaker = ("nit_f001", "vocadito_s1", "libri_3436")[i % 3]
                    note = f"{kind} noise"
                z = z * 10 ** (level / 20)
                m = {"rms_dbfs": round(dx.db(dx.rms(z)), 1), "peak_dbfs": round(dx.db(np.max(np.abs(z))), 1)}
                self.add(
                    f"{speaker}/x_noiseonly_{kind}{level:g}dBFS_{i}.wav",
                    Label(
                        "noise_only",
                        f"{kind}{level:g}dBFS",
                        [],
                        grey_flags=grey,
                        lineage=lineage,
                        notes=note + f", RMS {level:g} dBFS, no voice: must not train; silence or noisy",
                        measured=m,
                    ),
                    self.wav(z, sr),
                    None,
                )
                i += 1

    def f0_edits(self) -> None:
        """WORLD resyntheses: octave alternations and splices (positive), leaps, vibrato, melisma."""
        pool = [w for w in self.pool(singing=True) if w.y.size / w.sr >= 3.0]
        specs: list[tuple[str, str, dict[str, Any]]] = []  # class, severity, params
        for period in (120, 135, 150, 180, 210, 250):
            specs.append(("octave", f"alt{period}ms", {"kind": "alt", "period_s": period / 1000}))
        for k in (2, 3, 4, 5, 3, 2):
            specs.append(("octave", f"splice{k}", {"kind": "splice", "count": k}))
        for _ in range(3):
            specs.append(("leap", "octave-leap", {"kind": "leap"}))
        for rate in (5.0, 5.5, 6.0):
            specs.append(
                ("vibrato", f"1st@{rate:g}Hz", {"kind": "vibrato", "rate_hz": rate, "depth_st": 1.0})
            )
        for note_ms in (90, 110, 130):
            specs.append(("melisma", f"{note_ms}ms-notes", {"kind": "melisma", "note_s": note_ms / 1000}))
        for _ in range(2):
            specs.append(("resynth", "unchanged", {"kind": "none"}))
        ws = self.take(pool, len(specs), "f0")
        groups: dict[str, list[int]] = {}
        for j, w in enumerate(ws):
            groups.setdefault(w.lineage, []).append(j)
        tasks = []
        for _lin, idx in groups.items():
            w = ws[idx[0]]
            tasks.append((w.at(SR), [dict(specs[j][2], seed=SEED + 1000 + j) for j in idx]))
        results = Parallel(n_jobs=self.jobs)(delayed(_world_task)(y, SR, ps) for y, ps in tasks)
        out: dict[int, tuple[np.ndarray, dict[str, Any]]] = {}
        for (_lin, idx), res in zip(groups.items(), results, strict=True):
            for j, r in zip(idx, res, strict=True):
                out[j] = r
        for j, (cls, sev, params) in enumerate(specs):
            w = ws[j]
            z, m = out[j]
            z = z * (dx.active_rms(w.at(SR), SR) / max(dx.active_rms(z, SR), 1e-12))
            z = _under(z, 0.95)
            m.update(dx.octave_shift_stats(w.at(SR), z, SR))
            pos = ["unstable_f0"] if cls == "octave" else []
            notes = {
                "octave": "F0 moved by an octave (WORLD resynthesis, spectral envelope kept) "
                + ("in alternate segments" if params["kind"] == "alt" else "in a few spliced segments"),
                "leap": "one octave leap half way through that stays (WORLD resynthesis)",
                "vibrato": "added vibrato +-1 semitone (WORLD resynthesis)",
                "melisma": "a fast run of notes (0,2,4,5,7,5,4,2 semitones) on the sung line (WORLD)",
                "resynth": "WORLD analysis/resynthesis with the F0 unchanged (vocoder control)",
            }[cls]
            self.add(
                f"{w.speaker}/x_{cls}_{sev}_{w.stem}.wav",
                Label(cls, sev, pos, notes=notes, measured=m),
                self.wav(z, SR),
                w,
            )

    def breathy(self) -> None:
        """Soft breathy singing: softened, at -30 dBFS, with aspiration noise 22-28 dB under."""
        from scipy import signal

        for i, w in enumerate(self.take(self.pool(singing=True), 3, "breathy")):
            snr = (22.0, 25.0, 28.0)[i]
            y = w.at(SR)
            lp = signal.sosfiltfilt(signal.butter(2, 1500, fs=SR, output="sos"), y)
            soft = dx.set_active_rms(0.5 * y + 0.5 * lp, SR, -30.0)
            b = dx.breath_noise(soft, SR, seed=SEED + 200 + i)
            b = dx.scale_to(b, dx.active_rms(soft, SR), snr)
            z = soft + b
            m = {
                "voice_active_rms_dbfs": round(dx.db(dx.active_rms(soft, SR)), 1),
                "breath_under_voice_db": round(dx.db(dx.active_rms(soft, SR) / dx.rms(b)), 1),
            }
            self.add(
                f"{w.speaker}/x_breathy_snr{snr:g}dB_{w.stem}.wav",
                Label(
                    "breathy",
                    f"snr{snr:g}dB",
                    [],
                    notes="soft (low-passed), -30 dBFS, breath noise",
                    measured=m,
                ),
                self.wav(z, SR),
                w,
            )

    def codec(self) -> None:
        """Lossy coding that keeps most of the band: MP3 56-96 kbps CBR and VBR, Vorbis at low quality."""
        specs = [
            ("mp3", "cbr56", {"compression_level": 0.9, "bitrate_mode": "CONSTANT"}, True),
            ("mp3", "cbr80", {"compression_level": 0.84, "bitrate_mode": "CONSTANT"}, True),
            ("mp3", "cbr96", {"compression_level": 0.8, "bitrate_mode": "CONSTANT"}, True),
            ("mp3", "cbr56", {"compression_level": 0.9, "bitrate_mode": "CONSTANT"}, True),
            ("mp3", "cbr80", {"compression_level": 0.84, "bitrate_mode": "CONSTANT"}, True),
            ("mp3", "vbr-low", {"compression_level": 0.7, "bitrate_mode": "VARIABLE"}, True),
            ("mp3", "vbr-low", {"compression_level": 0.6, "bitrate_mode": "VARIABLE"}, True),
            ("ogg", "vorbis-q-lowest", {"subtype": "VORBIS", "compression_level": 1.0}, True),
            ("ogg", "vorbis-q-lowest", {"subtype": "VORBIS", "compression_level": 1.0}, True),
            ("ogg", "vorbis-q-low", {"subtype": "VORBIS", "compression_level": 0.9}, True),
            ("mp3", "vbr-high", {"compression_level": 0.0, "bitrate_mode": "VARIABLE"}, False),
        ]
        for i, w in enumerate(self.take(self.pool(full_band=True), len(specs), "codec")):
            ext, sev, kw, positive = specs[i]
            y = w.at(SR)
            data = dx.encode(y, SR, "MP3" if ext == "mp3" else "OGG", **kw)
            dec, dsr = dx.decode(data)
            m = {
                "kbps": round(len(data) * 8 / (y.size / SR) / 1000, 1),
                "decoded_rate_hz": dsr,
                "bandwidth_hz_60dB": round(dx.bandwidth_hz(dec, dsr)),
                "bandwidth_hz_60dB_before": round(dx.bandwidth_hz(y, SR)),
                "frames": int(dec.size),
                "frames_in": int(y.size),
            }
            self.add(
                f"{w.speaker}/x_codec_{sev}_{w.stem}_{i}.{ext}",
                Label(
                    "codec",
                    sev,
                    ["lossy_codec"] if positive else [],
                    grey_flags=[] if positive else ["lossy_codec"],
                    grey_severity=not positive,
                    notes=f"{ext.upper()} {sev} ({m['kbps']} kbps); a complete, valid file: never truncated",
                    measured=m,
                ),
                lambda p, data=data: p.write_bytes(data),
                w,
            )

    def accompaniment(self) -> None:
        """A synthetic backing in the take's key at 6, 12 and 20 dB under the voice."""
        for i, w in enumerate(self.take(self.pool(singing=True), 12, "accompaniment")):
            under = (6.0, 12.0, 20.0)[i % 3]
            style = "piano" if (i // 3) % 2 == 0 else "band"
            y = w.at(SR)
            root = dx.f0_median(y, SR) or 220.0
            root = 440.0 * 2 ** (round(12 * math.log2(root / 440.0)) / 12)
            a = dx.accompaniment(y.size, SR, root_hz=root, style=style, seed=SEED + 300 + i)
            v = dx.active_rms(y, SR)
            a = dx.scale_to(a, v, under)
            z = y + a
            z = _under(z, 0.98)
            grey_sev = under >= 20.0
            m = {"backing_under_voice_db": round(dx.db(v / dx.rms(a)), 2), "key_root_hz": round(root, 1)}
            self.add(
                f"{w.speaker}/x_accomp_{style}-{under:g}dB_{w.stem}.wav",
                Label.graded(
                    "accompaniment",
                    f"{style}-{under:g}dB",
                    "accompaniment",
                    grey=grey_sev,
                    notes=f"{style} backing in the take's key, {under:g} dB under the voice",
                    measured=m,
                ),
                self.wav(z, SR),
                w,
            )

    def reverb(self) -> None:
        """Convolution with synthetic rooms: RT60 0.6/1.2/2.5 s at DRR +6/0/-6 dB."""
        grid = [(rt, d) for rt in (0.6, 1.2, 2.5) for d in (6.0, 0.0, -6.0)] + [
            (0.6, 0.0),
            (1.2, -6.0),
            (2.5, 6.0),
        ]
        for i, w in enumerate(self.take(self.pool(), len(grid), "reverb")):
            rt, d = grid[i]
            h = dx.room_impulse_response(SR, rt60_s=rt, drr_db=d, seed=SEED + 400 + i)
            z = dx.reverberate(w.at(SR), SR, h, tail_s=min(rt, 0.6))
            z = _under(z, 0.98)
            grey_sev = rt <= 0.6 and d >= 6.0
            m = {
                "rt60_s_measured": round(dx.rt60_schroeder(h, SR), 2),
                "drr_db_measured": round(dx.drr(h, SR), 1),
            }
            self.add(
                f"{w.speaker}/x_reverb_rt{rt:g}s-drr{d:+g}dB_{w.stem}.wav",
                Label.graded(
                    "reverb",
                    f"rt{rt:g}s-drr{d:+g}dB",
                    "reverberant",
                    grey=grey_sev,
                    notes=f"synthetic room RT60 {rt:g} s, direct/reverberant {d:+g} dB",
                    measured=m,
                ),
                self.wav(z, SR),
                w,
            )

    def dropout(self) -> None:
        """1-4 digital-zero gaps of 20-200 ms inside loud voiced audio."""
        grid = [(1, 20), (1, 50), (1, 200), (2, 20), (2, 50), (2, 100), (4, 20), (4, 50), (3, 200)]
        for i, w in enumerate(self.take(self.pool(), len(grid), "dropout")):
            k, ms = grid[i]
            y = w.at(SR).copy()
            starts = dx.dropout_positions(y, SR, n_gaps=k, gap_s=ms / 1000, seed=SEED + 500 + i)
            for s in starts:
                y[s : s + round(ms / 1000 * SR)] = 0.0
            m = {"gaps": len(starts), "gap_ms": ms, "gap_starts_s": [round(s / SR, 3) for s in starts]}
            self.add(
                f"{w.speaker}/x_dropout_{k}x{ms}ms_{w.stem}.wav",
                Label(
                    "dropout",
                    f"{k}x{ms}ms",
                    ["dropout"],
                    notes=f"{k} gap(s) of {ms} ms of digital zero",
                    measured=m,
                ),
                self.wav(y, SR),
                w,
            )

    def dead_channel(self) -> None:
        """Stereo (PCM_24) with one channel all zero, or the other one, or at -90 dBFS noise."""
        kinds = ("right-zero", "left-zero", "right-noise-90dBFS")
        for i, w in enumerate(self.take(self.pool(), 9, "dead")):
            kind = kinds[i % 3]
            y = w.at(SR)
            dead = np.zeros(y.size)
            if "noise" in kind:
                dead = np.random.default_rng(SEED + 600 + i).standard_normal(y.size) * 10 ** (-90 / 20)
            st = np.stack([dead, y] if kind == "left-zero" else [y, dead], axis=1)
            m = {"dead_rms_dbfs": round(dx.db(dx.rms(dead)), 1), "live_rms_dbfs": round(dx.db(dx.rms(y)), 1)}
            self.add(
                f"{w.speaker}/x_deadch_{kind}_{w.stem}.wav",
                Label("dead_channel", kind, ["dead_channel"], notes=f"stereo, {kind}", measured=m),
                lambda p, st=st: write_pcm(p, st, SR, subtype="PCM_24"),
                w,
            )

    def speaker_outliers(self) -> None:
        """Another person's take copied into a singer's folder (byte-identical to its own take)."""
        plan = [
            ("nit_f001", "speech-male.wav", 0, "male speech (~100 Hz) among a female singer (~400 Hz)"),
            ("nit_f001", "vignesh.wav", 0, "male Carnatic singer (~206 Hz) among a female singer"),
            ("nit_f001", "arctic_a0007.wav", 0, "male read speech (~125 Hz, 16 kHz) among a female singer"),
            ("nit_f001", "5703-47212-0000.flac", 1, "low male read speech (~77 Hz) among a female singer"),
            (
                "vocadito_s1",
                "singing-female.wav",
                0,
                "high female singer (~416 Hz) among a male singer (~146 Hz)",
            ),
            (
                "vocadito_s1",
                "nitech_jp_song070_f001_007.wav",
                5,
                "female studio singer (~400 Hz) among a male singer",
            ),
            ("vocadito_s1", "speech-female.wav", 0, "female speech (~160 Hz: close pitch, other voice)"),
            (
                "libri_3436",
                "198-209-0000.flac",
                1,
                "female read speech (~206 Hz) among male read speech (~139 Hz)",
            ),
            ("libri_3436", "vocadito_14.wav", 1, "female singer (~242 Hz, sung) among male read speech"),
        ]
        for host, file, idx, note in plan:
            cands = [w for w in self.windows if w.file == file]
            w = cands[min(idx, len(cands) - 1)]
            src = self.raw / self.clean_case[w.lineage]
            rel = f"{host}/x_outlier_{w.stem}{src.suffix}"
            host_files = [x for x in self.windows if x.speaker == host]
            m = {
                "donor_f0_median_hz": round(dx.f0_median(w.y, w.sr), 1),
                "host_f0_median_hz": round(
                    float(np.median([dx.f0_median(x.y, x.sr) for x in host_files])), 1
                ),
                "host_clean_takes": len(host_files),
            }
            self.add(
                rel,
                Label(
                    "speaker_outlier",
                    "pitch_close" if "close" in note else "pitch_far",
                    ["speaker_outlier"],
                    notes=note + f"; a copy of {self.clean_case[w.lineage]}",
                    duplicate_of=self.clean_case[w.lineage],
                    duplicate_kind="exact",
                    measured=m,
                ),
                lambda p, src=src: shutil.copyfile(src, p),
                w,
            )

    def duplicates(self) -> None:
        """Copies pitch-shifted up to +-2 semitones or stretched 0.9-1.1 (librosa), beside the original."""
        import librosa

        transforms: list[dict[str, float]] = [
            {"pitch_shift_semitones": s} for s in (-2.0, -1.0, 1.0, 2.0, -1.5, 0.5)
        ] + [{"time_stretch_rate": r} for r in (0.9, 0.95, 0.97, 1.03, 1.05, 1.1)]
        pool = [w for w in self.pool() if w.y.size / w.sr >= 3.0]
        for i, w in enumerate(self.take(pool, len(transforms), "duplicate")):
            tr = transforms[i]
            y = w.y.astype(np.float32)
            if "pitch_shift_semitones" in tr:
                z = librosa.effects.pitch_shift(y, sr=w.sr, n_steps=tr["pitch_shift_semitones"])
                sev = f"pitch{tr['pitch_shift_semitones']:+g}st"
            else:
                z = librosa.effects.time_stretch(y, rate=tr["time_stretch_rate"])
                sev = f"stretch{tr['time_stretch_rate']:g}"
            z = np.asarray(z, dtype=np.float64)
            z = _under(z, 0.98)
            f_o, f_c = dx.f0_median(w.y, w.sr), dx.f0_median(z, w.sr)
            m = {
                "f0_median_hz_original": round(f_o, 1),
                "f0_median_hz_copy": round(f_c, 1),
                "duration_ratio": round(z.size / w.y.size, 4),
            }
            if "pitch_shift_semitones" in tr:  # same timing: frame-wise ratio
                m["measured_shift_semitones"] = round(dx.pitch_ratio_semitones(w.y, z, w.sr), 2)
            ext = ".flac" if w.file.endswith(".flac") else ".wav"
            fmt = "FLAC" if ext == ".flac" else "WAV"
            self.add(
                f"{w.speaker}/x_dup_{sev}_{w.stem}{ext}",
                Label(
                    "duplicate",
                    sev,
                    [],
                    notes=f"librosa {sev} copy of {self.clean_case[w.lineage]}, same folder",
                    duplicate_of=self.clean_case[w.lineage],
                    duplicate_kind="near",
                    transform=tr,
                    measured=m,
                ),
                lambda p, z=z, sr=w.sr, fmt=fmt: write_pcm(p, z, sr, fmt=fmt),
                w,
            )

    def noisy(self) -> None:
        """Broadband noise under the voice: white, pink or brown at 0/5/10 dB SNR, 20 dB grey."""
        kinds = (("white", 0.0), ("pink", 1.0), ("brown", 2.0))
        for i, w in enumerate(self.take(self.pool(), 12, "noisy")):
            snr = (0.0, 5.0, 10.0, 20.0)[i % 4]
            kind, exponent = kinds[i // 4]
            y = w.at(SR)
            v = dx.active_rms(y, SR)
            n = dx.scale_to(dx.coloured_noise(y.size, SR, exponent=exponent, seed=SEED + 300 + i), v, snr)
            z = y + n
            z = _under(z, 0.99)
            grey_sev = snr >= 20.0
            self.add(
                f"{w.speaker}/x_noisy_{kind}-{snr:g}dB_{w.stem}.wav",
                Label.graded(
                    "noisy",
                    f"{kind}-{snr:g}dB",
                    "noisy",
                    grey=grey_sev,
                    notes=f"{kind} noise {snr:g} dB under the voice's active RMS",
                    measured={"noise_under_voice_db": round(dx.db(v / dx.rms(n)), 2)},
                ),
                self.wav(z, SR),
                w,
            )

    def run(self) -> None:
        self.load()
        self.clean()
        self.loud()
        self.f0_edits()
        self.breathy()
        self.clipping()
        self.hum()
        self.polarity()
        self.mostly_silent()
        self.noise_only()
        self.codec()
        self.accompaniment()
        self.reverb()
        self.dropout()
        self.dead_channel()
        self.speaker_outliers()
        self.duplicates()
        self.noisy()  # last: the window choice of the classes above stays as it was


def _world_task(
    y: np.ndarray, sr: int, params: list[dict[str, Any]]
) -> list[tuple[np.ndarray, dict[str, Any]]]:
    """WORLD analysis of one window and the resyntheses of every F0 edit planned on it."""
    an = dx.world_analyse(y, sr)
    f0 = an["f0"]
    n_fr = f0.size
    fp = 0.005
    lo, hi = dx.voiced_span(f0)
    med = float(np.median(f0[f0 > 0])) if np.any(f0 > 0) else 200.0
    octave = -12.0 if med > 250.0 else 12.0  # keep the shifted F0 inside 60-1000 Hz
    out = []
    for p in params:
        rng = np.random.default_rng(int(p["seed"]))
        st = np.zeros(n_fr)
        m: dict[str, Any] = {"f0_median_hz_base": round(med, 1)}
        kind = p["kind"]
        if kind == "alt":
            per = max(1, round(p["period_s"] / fp))
            seg = (np.arange(n_fr) - lo) // per
            st = np.where((seg % 2 == 1) & (np.arange(n_fr) >= lo), octave, 0.0)
            st = dx.smooth_steps(st, 2)
            m["shift_semitones"] = octave
        elif kind == "splice":
            taken: list[tuple[int, int]] = []
            for _ in range(200):
                if len(taken) == p["count"]:
                    break
                length = round(rng.uniform(0.3, 0.8) / fp)
                a = int(rng.integers(lo, max(lo + 1, hi - length)))
                if all(a + length + 10 < s or a > e + 10 for s, e in taken):
                    taken.append((a, a + length))
            for a, b in taken:
                st[a:b] = octave
            m["segments_s"] = [[round(a * fp, 2), round(b * fp, 2)] for a, b in sorted(taken)]
            m["shift_semitones"] = octave
        elif kind == "leap":
            mid = (lo + hi) // 2
            st[mid:] = octave
            st = dx.smooth_steps(st, 6)
            m["leap_at_s"] = round(mid * fp, 2)
            m["shift_semitones"] = octave
        elif kind == "vibrato":
            t = np.arange(n_fr) * fp
            st = p["depth_st"] * np.sin(2 * np.pi * p["rate_hz"] * t + rng.uniform(0, 2 * np.pi))
        elif kind == "melisma":
            pattern = np.array([0, 2, 4, 5, 7, 5, 4, 2], dtype=np.float64)
            per = max(1, round(p["note_s"] / fp))
            idx = ((np.arange(n_fr) - lo) // per) % pattern.size
            st = np.where(np.arange(n_fr) >= lo, pattern[idx], 0.0) - 3.5  # centred on the sung line
            st = dx.smooth_steps(st, 3)
        z = dx.world_synth(an, sr, st, y.size)
        out.append((z, m))
    return out


# --------------------------------------------------------------------------- cache


def load_or_generate(
    root: Path = ROOT, *, data: Path = DATA, regenerate: bool = False, jobs: int = 2
) -> tuple[Path, dict[str, Any]]:
    """The raw folder and its labels, generated when missing or of another generator version."""
    raw = root / "raw"
    labels_path = root / "labels.json"
    if not regenerate and labels_path.exists() and raw.exists():
        meta = json.loads(labels_path.read_text(encoding="utf-8"))
        if meta.get("generator_version") == GENERATOR_VERSION and all(
            (raw / rel).exists() for rel in meta["cases"]
        ):
            return raw, meta
    root.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix="raw-", dir=root))
    gen = Generator(tmp, data, jobs)
    gen.run()
    total = sum(lab.duration_s for lab in gen.labels.values())
    meta = {
        "generator_version": GENERATOR_VERSION,
        "seed": SEED,
        "window_s": WINDOW_S,
        "total_audio_s": round(total, 1),
        "cases": {rel: lab.to_json() for rel, lab in sorted(gen.labels.items())},
    }
    if raw.exists():
        shutil.rmtree(raw)
    os.replace(tmp, raw)
    tmp_labels = labels_path.with_suffix(".json.tmp")
    tmp_labels.write_text(json.dumps(meta, indent=1) + "\n", encoding="utf-8")
    os.replace(tmp_labels, labels_path)
    return raw, meta


def subset_cases(meta: dict[str, Any], classes: set[str]) -> dict[str, dict[str, Any]]:
    """The cases of ``classes``, with what scoring them needs.

    That is the originals of duplicate copies (``duplicate_of``) and, for speaker
    outliers, every clean take in the folders they were put in. ``"clean"`` selects
    all clean takes (the negatives of every flag).
    """
    cases: dict[str, dict[str, Any]] = meta["cases"]
    keep = {rel for rel, lab in cases.items() if lab["class"] in classes}
    keep |= {cases[rel]["duplicate_of"] for rel in list(keep) if cases[rel].get("duplicate_of")}
    hosts = {rel.split("/", 1)[0] for rel in keep if cases[rel]["class"] == "speaker_outlier"}
    keep |= {rel for rel, lab in cases.items() if lab["class"] == "clean" and rel.split("/", 1)[0] in hosts}
    return {rel: cases[rel] for rel in sorted(keep)}


def subset(raw: Path, cases: dict[str, dict[str, Any]], dest: Path) -> Path:
    """A raw folder of hard links (copies where links fail) to ``cases``."""
    if dest.exists():
        shutil.rmtree(dest)
    for rel in cases:
        p = dest / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        try:
            os.link(raw / rel, p)
        except OSError:
            shutil.copyfile(raw / rel, p)
    return dest
