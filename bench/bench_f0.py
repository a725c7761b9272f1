"""Benchmark F0 methods through a full build on the shared vocadito recordings with F0 truth.

Usage (from the repository root)::

    python bench/bench_f0.py                          # harvest and fcpe, clean and at 10 dB SNR
    python bench/bench_f0.py --methods harvest dio fcpe --jobs 1 --out bench/results

What it does
------------
1. Writes a raw folder (under ``$TMPDIR/svcprep-bench/f0``) with the two vocadito files of
   ``../shared/data/singing/vocadito`` that have F0 truth, once clean and once with white
   noise at 10 dB SNR (seeded), as one speaker each, slicing off so every file is one item.
2. Builds it once per method in a fresh Python process with one job (one thread), with
   svcprep's refined voicing, and reads the stored F0 and voicing back from the dataset.
3. Scores every item against the truth (raw-pitch accuracy within 50 cents on truth-voiced
   frames, voicing false alarms on truth-unvoiced frames) and reports the F0 stage's
   real-time factor (audio seconds per F0-stage second, one thread) and its share of the build.

The figures to compare are the ratios within one run (accuracy, RTF of one method against
another); absolute seconds depend on the machine's load (shown as ``load``).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import soundfile as sf

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _util import machine_info, run_build_subprocess, table, write_json

REPO = Path(__file__).resolve().parents[1]
VOCADITO = REPO.parent / "shared" / "data" / "singing" / "vocadito"
FILES = ("vocadito_1", "vocadito_10_excerpt_0.350-5.050s")
SNR_DB = 10.0
SEED = 7


def make_raw(root: Path) -> dict[str, Path]:
    """The raw folder: speaker ``clean`` and speaker ``snr10``; returns item stem -> truth csv."""
    truth: dict[str, Path] = {}
    rng = np.random.default_rng(SEED)
    for stem in FILES:
        wav, csv = VOCADITO / f"{stem}.wav", VOCADITO / f"{stem}.f0.csv"
        if not wav.is_file() or not csv.is_file():
            raise SystemExit(f"missing {wav} or {csv}: the shared corpus belongs in ../shared/data")
        y, sr = sf.read(wav, dtype="float32")
        noise = rng.standard_normal(y.size)
        power = np.mean(y.astype(np.float64) ** 2)
        noisy = y + noise * np.sqrt(power / np.mean(noise**2) / 10 ** (SNR_DB / 10))
        for speaker, audio in (("clean", y), ("snr10", noisy.astype(np.float32))):
            path = root / speaker / f"{stem}.wav"
            path.parent.mkdir(parents=True, exist_ok=True)
            if not path.exists():
                sf.write(path, audio, sr, subtype="FLOAT")
            truth[f"{speaker}/{stem}.wav#000"] = csv
    return truth


def score(out: Path, truth: dict[str, Path]) -> dict[str, dict[str, float]]:
    import svcprep
    from svcprep.dsp.f0 import compare_f0, read_f0_csv

    ds = svcprep.open(out)
    result = {}
    for item_id, csv in truth.items():
        it = ds[item_id]
        times = np.arange(it["uv"].size) * ds.hop_length / ds.sample_rate
        ref_t, ref_f = read_f0_csv(csv)
        uv = np.asarray(it["uv"], dtype=bool)
        f0 = np.asarray(it["f0"], dtype=np.float64)
        # raw pitch: the stored track's value on every truth-voiced frame, whatever svcprep's
        # voicing says (the build keeps F0 filled over unvoiced frames); voicing: the uv mask
        raw = compare_f0(times, f0, np.ones_like(uv), ref_t, ref_f)
        s = compare_f0(times, f0, uv, ref_t, ref_f)
        result[item_id] = {
            "raw_pitch_accuracy": float(raw["raw_pitch_accuracy"]),
            "voicing_false_alarm": float(s["voicing_false_alarm"]),
            "voicing_recall": float(s["voicing_recall"]),
        }
    return result


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--methods", nargs="+", default=["harvest", "fcpe"])
    ap.add_argument("--jobs", type=int, default=1)
    ap.add_argument("--out", type=Path, default=REPO / "bench" / "results")
    args = ap.parse_args()

    base = Path(tempfile.gettempdir()) / "svcprep-bench" / "f0"
    raw = base / "raw"
    truth = make_raw(raw)
    audio_s = sum(sf.info(p).duration for p in raw.rglob("*.wav"))
    runs: dict[str, Any] = {}
    rows = []
    for method in args.methods:
        out = base / f"out-{method}"
        if out.exists():
            import shutil

            shutil.rmtree(out)
        res = run_build_subprocess(
            raw, out, jobs=args.jobs, overrides=[f"f0.method={method}", "slice.enabled=false"]
        )
        scores = score(out, truth)
        f0_s = res["stage_seconds"].get("f0", float("nan"))
        runs[method] = {"build": res, "scores": scores, "f0_rtf": audio_s / f0_s}
        for item_id, s in scores.items():
            rows.append(
                [
                    method,
                    item_id,
                    f"{s['raw_pitch_accuracy']:.4f}",
                    f"{s['voicing_false_alarm']:.3f}",
                    f"{s['voicing_recall']:.3f}",
                ]
            )
        rows.append(
            [
                method,
                "F0 stage",
                f"RTF {audio_s / f0_s:.1f}",
                f"{100 * f0_s / res['wall_seconds']:.0f} % of build",
                f"load {res['loadavg_1min'][1]:.1f}",
            ]
        )
    print(table(rows, ["method", "item", "RPA", "VFA", "VR"]))
    if "harvest" in runs and len(runs) > 1:
        for method, r in runs.items():
            if method != "harvest":
                print(f"{method} F0 stage is {r['f0_rtf'] / runs['harvest']['f0_rtf']:.1f}x harvest's speed")
    path = write_json(args.out, "f0", {"machine": machine_info(), "audio_seconds": audio_s, "runs": runs})
    print(f"figures written to {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
