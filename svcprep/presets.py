"""Build presets that reproduce each SVC framework's data conventions.

A preset is plain nested config data (what a TOML file would give) that
:func:`svcprep.config.load_config` takes as ``base``; user files and ``--set``
overrides still apply on top. Each preset sets the sample rate, the slicing, the frame
grid (hop and frame count, so the F0 frame period is the framework's), the F0 range
and unvoiced convention, the mel parameters and the volume window as listed in
``PRESETS.md`` (values read from each framework's own source). What svcprep cannot
reproduce exactly is said in the preset's ``notes``.

Example::

    from svcprep.config import load_config
    from svcprep.presets import get_preset

    cfg = load_config(base=get_preset("rvc-v2-40k").config, overrides=["f0.method=dio"])
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any

from svcprep.errors import ConfigError

__all__ = ["PRESETS", "Preset", "get_preset", "preset_table"]


@dataclass(frozen=True)
class Preset:
    """A named base configuration for one framework.

    Attributes
    ----------
    name
        The name given to ``--preset`` (e.g. ``"rvc-v2-40k"``).
    description
        One line for listings.
    framework
        The ``svcprep export --to`` name the preset prepares data for (``rvc``,
        ``sovits``, ``ddsp``, ``diff-svc``, ``diffsinger``).
    config
        Plain nested config data (sections and fields of :class:`svcprep.config.BuildConfig`).
        Copy it before changing it: :func:`get_preset` returns a fresh deep copy.
    notes
        Where svcprep's processing differs from the framework's own.
    f0_choice
        One sentence: which F0 the preset gives and why (``svcprep presets`` prints it).
    """

    name: str
    description: str
    framework: str
    config: dict[str, Any] = field(repr=False)
    notes: str = ""
    f0_choice: str = ""


_HALF_HOP = (
    "Frame offset: the framework's mel frame i is centred half a hop after svcprep's frame-grid time "
    "i*hop/sr (its padding is (n_fft-hop)/2 instead of n_fft/2); F0 and volume are centred on i*hop/sr, "
    "which is how the framework pairs them too, so the arrays line up exactly as in the framework. "
)
_RESAMPLER = (
    "Resampler: svcprep resamples with soxr VHQ; the framework uses librosa/ffmpeg/torchaudio, so "
    "resampled inputs differ at the 1e-4 level near Nyquist. "
)
_F0 = (
    "F0: svcprep's harvest with its refined voicing (periodicity and energy decide which frames are "
    "voiced; WORLD's own decision voices a third of the unvoiced frames of real singing); the range "
    "follows the preset. "
)
_F0_MATCH = (
    "F0: the framework's own harvest path (f0.match={match}, voicing native): {how}; on voiced frames it "
    "equals what the framework's preprocessing computes from the exported wav, and voicing agrees. This "
    "is the default because the model is later driven by that same extractor at inference, so training "
    "on its values (octave slips and voiced breaths included) matches what it will see; set "
    "f0.voicing=refined for svcprep's cleaner voicing on the same values, f0.match=none for svcprep's "
    "harvest. "
)
_F0_RVC = _F0_MATCH.format(
    match="rvc", how="harvest + StoneMask at 16 kHz with 10 ms frames on the 1_16k_wavs copy, unclamped"
)
_F0_SOVITS = _F0_MATCH.format(
    match="sovits",
    how="harvest + StoneMask at 44.1 kHz, hop 512, on the 16-bit samples, linearly resized onto len//512 "
    "frames and interpolated over unvoiced frames",
)


def _nsf_mel(*, padding: str, magnitude_eps: float, log_base: str = "e") -> dict[str, Any]:
    """The 44.1 kHz NSF-HiFiGAN mel (2048/2048/512, 128 bins, 40-16000 Hz)."""
    return {
        "n_fft": 2048,
        "win_length": 2048,
        "n_mels": 128,
        "fmin_hz": 40.0,
        "fmax_hz": 16000.0,
        "magnitude_eps": magnitude_eps,
        "log_floor": 1e-5,
        "log_base": log_base,
        "mel_scale": "slaney",
        "mel_norm": "slaney",
        "padding": padding,
        "pad_mode": "reflect",
    }


def _sovits(mel: dict[str, Any]) -> dict[str, Any]:
    return {
        "load": {"sample_rate_hz": 44100},
        "slice": {"min_segment_s": 2.0, "max_segment_s": 15.0},
        "features": {"hop_length": 512, "frame_count": "floor", "sample_format": "pcm16"},
        "f0": {
            "method": "harvest",
            "match": "sovits",
            "voicing": "native",
            "f0_floor_hz": 50.0,
            "f0_ceil_hz": 1100.0,
            "unvoiced": "interpolate_hz",
            "coarse_f0_min_hz": 50.0,
            "coarse_f0_max_hz": 1100.0,
        },
        "mel": mel,
        "volume": {"window_length": 512},
    }


def _rvc(sample_rate_hz: int, n_fft: int, n_mels: int) -> dict[str, Any]:
    hop = sample_rate_hz // 100  # 10 ms: the 16 kHz / hop 160 F0 grid of RVC
    return {
        "load": {"sample_rate_hz": sample_rate_hz},
        "slice": {"min_segment_s": 1.5, "max_segment_s": 3.7},
        "denoise": {"highpass_hz": 48.0, "highpass_order": 5},
        "features": {"hop_length": hop, "frame_count": "floor"},
        "f0": {
            "method": "harvest",
            "match": "rvc",
            "voicing": "native",
            "f0_floor_hz": 50.0,
            "f0_ceil_hz": 1100.0,
            "unvoiced": "zero",
            "coarse_f0_min_hz": 50.0,
            "coarse_f0_max_hz": 1100.0,
        },
        "mel": {
            "n_fft": n_fft,
            "win_length": n_fft,
            "n_mels": n_mels,
            "fmin_hz": 0.0,
            "fmax_hz": sample_rate_hz / 2,
            "magnitude_eps": 1e-6,
            "log_floor": 1e-5,
            "log_base": "e",
            "mel_scale": "slaney",
            "mel_norm": "slaney",
            "padding": "vits",
            "pad_mode": "reflect",
        },
        "volume": {"window_length": hop},
    }


_WHY_SOVITS = (
    "so-vits' own harvest (exact, native voicing): the model is driven by that extractor at inference, "
    "so it should train on the same values"
)
_WHY_RVC = (
    "RVC's own harvest on the 16 kHz copy (exact, native voicing): RVC infers with its own extractor, so "
    "training matches it"
)
_WHY_DDSP = (
    "svcprep's harvest with refined voicing: DDSP-SVC trains on these files as written and its users "
    "infer with RMVPE/FCPE, whose voicing the refined decision is much closer to than raw harvest's"
)
_WHY_BINARIZER = (
    "svcprep's harvest with refined voicing, for the quality manifest and the sidecars only: {fw}'s "
    "binariser recomputes F0 from the wavs"
)

_RVC_NOTES = (
    "RVC v2 at {sr} Hz: ground truth at the model rate, F0 on RVC's 10 ms grid (16 kHz hop 160 = "
    "{hop} samples here, len//hop frames), unvoiced F0 left at 0 and coarse F0 on RVC's 1..255 mel "
    "scale (50-1100 Hz). Mel as RVC's mel_processing ({n_fft}/{n_fft}/{hop}, {n_mels} bins, 0-sr/2, "
    "sqrt(+1e-6), ln clamp 1e-5). Differences: RVC high-passes with a causal 5th-order 48 Hz "
    "Butterworth (lfilter); svcprep's high-pass is zero-phase (filtfilt), same magnitude response "
    "squared, no phase shift. RVC cuts 3.7 s slices with 0.3 s overlap and peak-normalises each slice "
    "(0.9*0.75 mix); svcprep cuts at silences into 1.5-3.7 s segments without overlap and leaves the "
    "level alone (set loudness.mode=peak to normalise). "
)

PRESETS: dict[str, Preset] = {
    p.name: p
    for p in (
        Preset(
            name="sovits-4.1",
            description="so-vits-svc 4.1 (VITS mel, 44.1 kHz, hop 512)",
            framework="sovits",
            f0_choice=_WHY_SOVITS,
            config=_sovits(
                {
                    "n_fft": 2048,
                    "win_length": 2048,
                    "n_mels": 80,
                    "fmin_hz": 0.0,
                    "fmax_hz": 22050.0,
                    "magnitude_eps": 1e-6,
                    "log_floor": 1e-5,
                    "log_base": "e",
                    "mel_scale": "slaney",
                    "mel_norm": "slaney",
                    "padding": "vits",
                    "pad_mode": "reflect",
                }
            ),
            notes=(
                "so-vits-svc 4.1: 44.1 kHz, F0 and volume on len//512 frames, F0 50-1100 Hz linearly "
                "interpolated in Hz over unvoiced frames with a uv mask, volume = RMS over 512 samples "
                "centred on each frame. The mel is the VITS one of modules/mel_processing.py "
                "(pad (n_fft-hop)/2 reflect, sqrt(+1e-6), 80 bins 0-22050 Hz, ln clamp 1e-5); so-vits "
                "computes its .spec.pt itself from the wav, so the mel is for inspection. "
                + _HALF_HOP
                + _RESAMPLER
                + _F0_SOVITS
                + "so-vits reads its wavs as int16: the build rounds each item to 16-bit steps "
                "(features.sample_format=pcm16) before any feature, so the exported PCM_16 wav holds "
                "exactly the samples every feature was computed from."
            ),
        ),
        Preset(
            name="sovits-4.1-diffusion",
            description="so-vits-svc 4.1 with shallow diffusion (NSF-HiFiGAN mel, 128 bins)",
            framework="sovits",
            f0_choice=_WHY_SOVITS,
            config=_sovits(_nsf_mel(padding="nsf_hifigan", magnitude_eps=1e-9)),
            notes=(
                "so-vits-svc 4.1 shallow diffusion: as sovits-4.1, and the mel is the NSF-HiFiGAN one "
                "of vdecoder/nsf_hifigan/nvSTFT.py (2048/2048/512, 128 bins 40-16000 Hz, left pad "
                "(win-hop)//2, right pad max((win-hop+1)//2, win-len-left), zeros when too short to "
                "reflect, sqrt(+1e-9), ln clamp 1e-5) saved as <name>.wav.mel.npy [T,128]. The mel has "
                "max(len//512, 1) frames; clips shorter than one hop are fitted to the len//512 grid. "
                "The export writes the random-keyshift .aug_mel.npy/.aug_vol.npy files the way so-vits' "
                "preprocess does (keyshift U(-5,5), volume gain 10^U(-1,min(1,log10(1/peak)))), seeded "
                "per item. " + _HALF_HOP + _RESAMPLER + _F0_SOVITS
            ),
        ),
        Preset(
            name="rvc-v2-32k",
            description="RVC v2, 32 kHz model (F0 on a 10 ms grid)",
            framework="rvc",
            f0_choice=_WHY_RVC,
            config=_rvc(32000, 1024, 80),
            notes=_RVC_NOTES.format(sr=32000, hop=320, n_fft=1024, n_mels=80)
            + _HALF_HOP
            + _RESAMPLER
            + _F0_RVC,
        ),
        Preset(
            name="rvc-v2-40k",
            description="RVC v2, 40 kHz model (v1 config; 125 mel bins)",
            framework="rvc",
            f0_choice=_WHY_RVC,
            config=_rvc(40000, 2048, 125),
            notes=_RVC_NOTES.format(sr=40000, hop=400, n_fft=2048, n_mels=125)
            + "RVC has no v2 40k config: it trains 40 kHz v2 models with configs/v1/40k.json (125 bins). "
            + _HALF_HOP
            + _RESAMPLER
            + _F0_RVC,
        ),
        Preset(
            name="rvc-v2-48k",
            description="RVC v2, 48 kHz model (F0 on a 10 ms grid)",
            framework="rvc",
            f0_choice=_WHY_RVC,
            config=_rvc(48000, 2048, 128),
            notes=_RVC_NOTES.format(sr=48000, hop=480, n_fft=2048, n_mels=128)
            + _HALF_HOP
            + _RESAMPLER
            + _F0_RVC,
        ),
        Preset(
            name="ddsp-svc-6",
            description="DDSP-SVC 6.x (44.1 kHz, hop 512, len//512+1 frames)",
            framework="ddsp",
            f0_choice=_WHY_DDSP,
            config={
                "load": {"sample_rate_hz": 44100},
                "slice": {"min_segment_s": 2.1, "max_segment_s": 15.0},
                "features": {"hop_length": 512, "frame_count": "centered"},
                "f0": {
                    "f0_floor_hz": 65.0,
                    "f0_ceil_hz": 800.0,
                    "unvoiced": "interpolate_hz",
                    "coarse_f0_min_hz": 50.0,
                    "coarse_f0_max_hz": 1100.0,
                },
                "mel": _nsf_mel(padding="nsf_hifigan", magnitude_eps=1e-9),
                "volume": {"window_length": 512},
            },
            notes=(
                "DDSP-SVC 6.x: 44.1 kHz, F0, volume and units on len//512+1 frames (frame i centred on "
                "sample i*512), F0 65-800 Hz interpolated in Hz (uv is discarded by DDSP), volume = RMS "
                "of 512 samples centred on each frame (reflect pad 256/256). The mel is the "
                "NSF-HiFiGAN nvSTFT one (return_complex, sqrt(+1e-9), 128 bins 40-16000 Hz): it has "
                "len//512 frames, one fewer than F0 and volume (DDSP's loader crops to the shortest "
                "array); svcprep stores it on the len//512+1 grid with the last frame repeated and the "
                "export cuts that frame. Segments are at least 2.1 s: DDSP's loader skips clips shorter than "
                "its 2 s training window + 0.1 s. Files without any voiced frame are left out of the "
                "export (DDSP's preprocess moves them to skip/). " + _HALF_HOP + _RESAMPLER + _F0
            ),
        ),
        Preset(
            name="diff-svc",
            description="Diff-SVC with the 44.1 kHz NSF-HiFiGAN vocoder (log10 mel)",
            framework="diff-svc",
            f0_choice=_WHY_BINARIZER.format(fw="Diff-SVC"),
            config={
                "load": {"sample_rate_hz": 44100},
                "slice": {"min_segment_s": 2.0, "max_segment_s": 15.0},
                "features": {"hop_length": 512, "frame_count": "floor"},
                "f0": {
                    "f0_floor_hz": 40.0,
                    "f0_ceil_hz": 1100.0,
                    "unvoiced": "interpolate_hz",
                    "coarse_f0_min_hz": 40.0,
                    "coarse_f0_max_hz": 1100.0,
                },
                "mel": _nsf_mel(padding="vits", magnitude_eps=1e-9, log_base="10"),
                "volume": {"window_length": 512},
            },
            notes=(
                "Diff-SVC NSF 44.1 kHz: 2048/2048/512, 128 bins 40-16000 Hz, pad (n_fft-hop)/2 reflect, "
                "sqrt(+1e-9), ln clamp 1e-5 times 0.434294, i.e. log10 (svcprep uses the exact 1/ln 10; "
                "the difference is below 6e-6). F0 40-1100 Hz interpolated. Diff-SVC's binariser "
                "recomputes F0 (crepe at 16 kHz hop 80 with a median filter of 3, or parselmouth), its "
                "256-bin coarse F0 and the mel from the wavs; the export writes svcprep's F0, voicing and "
                "mel of the exported float32 samples to data/svcprep/<model>/ for checking only. The 24 kHz "
                "HiFiGAN variant needs a custom config (24000, "
                "512/512/128, 80 bins 30-12000 Hz, padding center with pad_mode constant, eps 0, log10 "
                "clamp 1e-6). " + _HALF_HOP + _RESAMPLER + _F0
            ),
        ),
        Preset(
            name="diffsinger",
            description="DiffSinger acoustic model (44.1 kHz, NSF-HiFiGAN mel without epsilon)",
            framework="diffsinger",
            f0_choice=_WHY_BINARIZER.format(fw="DiffSinger"),
            config={
                "load": {"sample_rate_hz": 44100},
                "slice": {"min_segment_s": 2.0, "max_segment_s": 15.0},
                "features": {"hop_length": 512, "frame_count": "floor"},
                "f0": {
                    "f0_floor_hz": 65.0,
                    "f0_ceil_hz": 1100.0,
                    "unvoiced": "interpolate_log",
                    "coarse_f0_min_hz": 50.0,
                    "coarse_f0_max_hz": 1100.0,
                },
                "mel": _nsf_mel(padding="diffsinger", magnitude_eps=0.0),
                "volume": {"window_length": 512},
            },
            notes=(
                "DiffSinger acoustic: 2048/2048/512, 128 bins 40-16000 Hz, pad (win-hop)//2 and "
                "(win-hop+1)//2 reflect, |STFT| with no epsilon, ln clamp 1e-5 (mel_base e; the model "
                "normalises with spec_min -12, spec_max 0). F0 65-1100 Hz interpolated in log2 F0; items "
                "with no voiced frame are left out of the export. DiffSinger's binariser recomputes F0 "
                "and mel from the wavs and needs phoneme labels (ph_seq, ph_dur) that svcprep cannot "
                "produce. " + _HALF_HOP + _RESAMPLER + _F0
            ),
        ),
    )
}


def get_preset(name: str) -> Preset:
    """The preset called ``name``, with a fresh copy of its config.

    Parameters
    ----------
    name
        A key of :data:`PRESETS` (``svcprep presets`` lists them).

    Returns
    -------
    Preset
        The preset; its ``config`` is a deep copy the caller may change.

    Raises
    ------
    ConfigError
        For an unknown name; the message lists the known presets.
    """
    try:
        p = PRESETS[name]
    except (KeyError, TypeError):
        known = ", ".join(sorted(PRESETS))
        raise ConfigError(
            f"unknown preset {name!r}: use one of {known} (`svcprep presets` lists them)"
        ) from None
    return Preset(p.name, p.description, p.framework, copy.deepcopy(p.config), p.notes, p.f0_choice)


def _mel_summary(mel: dict[str, Any]) -> str:
    eps = mel["magnitude_eps"]
    log = "log10" if mel["log_base"] == "10" else "ln"
    return (
        f"{mel['n_fft']}/{mel['win_length']}, {mel['n_mels']} bins {mel['fmin_hz']:g}-{mel['fmax_hz']:g} Hz, "
        f"pad {mel['padding']}, eps {eps:g}, {log} clamp {mel['log_floor']:g}, "
        f"{mel['mel_scale']}/{mel['mel_norm']}"
    )


def preset_table() -> list[dict[str, Any]]:
    """One row per preset for listings (``svcprep presets``).

    The values are the resolved config (defaults filled in), so the table shows what a
    build with the preset uses.

    Returns
    -------
    list of dict
        Keys ``name``, ``framework``, ``description``, ``sample_rate_hz``, ``hop_length``,
        ``frame_period_ms``, ``frame_count``, ``f0_range_hz``, ``f0_mode`` (extractor, voicing
        and the framework it reproduces), ``f0_unvoiced``, ``mel``.
    """
    from svcprep.config import load_config

    rows = []
    for name in PRESETS:
        p = get_preset(name)
        cfg = load_config(base=p.config)
        sr = cfg.load.sample_rate_hz
        hop = cfg.features.hop_length
        rows.append(
            {
                "name": p.name,
                "framework": p.framework,
                "description": p.description,
                "sample_rate_hz": sr,
                "hop_length": hop,
                "frame_period_ms": round(1000.0 * hop / sr, 3),
                "frame_count": cfg.features.frame_count,
                "f0_range_hz": f"{cfg.f0.f0_floor_hz:g}-{cfg.f0.f0_ceil_hz:g}",
                "f0_choice": p.f0_choice,
                "f0_mode": (
                    f"{cfg.f0.method}, {cfg.f0.voicing} voicing"
                    + (f", as {cfg.f0.match}" if cfg.f0.match != "none" else "")
                ),
                "f0_unvoiced": cfg.f0.unvoiced,
                "mel": _mel_summary(cfg.mel.model_dump()),
            }
        )
    return rows
