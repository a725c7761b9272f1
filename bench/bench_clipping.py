"""The separate set the clipping thresholds were set on, and every clipping rule scored on it.

Every real recording of ``shared/data`` is cut into up to four 4 s windows (from 1.3 s, every
3.1 s: other windows than ``bench_quality``'s). Each window gives five **negatives** (clean at
its native rate; peak-normalised to -0.09 dBFS at 44.1 kHz; +12 dB into a 5 ms look-ahead limiter;
a 4:1 compressor with 2/60 ms attack/release; MP3 at libsndfile level 0.2, 0.5 or 0.8, in turn)
and three **clipped** takes: 2, 4, 8 or 12 dB of overdrive, then one of: scaled by 0.7;
compressed 4:1 (10/100 ms) or 2:1 (3/50 ms); clipped at 48 kHz and resampled to 44.1 kHz; MP3 at
level 0.1 or 0.6. The rules are scored one by one and together, and the table gives the
negatives' highest reading of each metric, the margin a threshold has::

    python bench/bench_clipping.py [--json out.json]

About 10 s on 2 cores. The cases are deterministic and made afresh on each run.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
import soundfile as sf
from joblib import Parallel, delayed

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import _defects as dx

from svcprep.quality.defects import clip_top_stats, crest_stats
from svcprep.quality.flags import QualityConfig, flag_item
from svcprep.quality.metrics import clipping_stats

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
SR = 44100
POSTS = ("scale", "compress", "resample", "mp3", "mp3-low", "compress2")
OVERDRIVES_DB = (2.0, 4.0, 8.0, 12.0)
#: Each rule and the metrics it reads (a rule is scored on its own metrics alone).
RULES = {
    "clip_ratio": ("clip_ratio", "clip_runs"),
    "clip_top_ratio": ("clip_top_ratio",),
    "flat_crest_share": ("flat_crests", "flat_crest_share"),
    "straight_crests_per_s": ("straight_crests", "straight_crests_per_s"),
}


def _windows(y: np.ndarray, sr: int) -> list[np.ndarray]:
    n, offset, step = int(4 * sr), int(1.3 * sr), int(3.1 * sr)
    if y.size < n:
        return [y]
    first = offset if y.size > n + offset else 0
    return [y[s : s + n] for s in range(first, y.size - n + 1, step)][:4]


def _post(c: np.ndarray, post: str) -> np.ndarray:
    if post == "scale":
        return c * 0.7
    if post in ("compress", "compress2"):
        kw = (
            {"threshold": 0.25, "ratio": 4.0, "attack_ms": 10.0, "release_ms": 100.0}
            if post == "compress"
            else {"threshold": 0.4, "ratio": 2.0, "attack_ms": 3.0, "release_ms": 50.0}
        )
        z = dx.envelope_compressor(c, SR, **kw)
        return z * 0.85 / np.abs(z).max()
    if post == "resample":
        z = dx.resample(c, 48000, SR)
        return z * 0.9 / np.abs(z).max()
    return _mp3(c * 0.85, 0.1 if post == "mp3" else 0.6)


def _mp3(y: np.ndarray, level: float) -> np.ndarray:
    """``y`` through an MP3 at libsndfile compression level ``level`` (0 best, 1 smallest)."""
    return dx.decode(dx.encode(y, SR, "MP3", compression_level=level))[0]


def _cases(index: int, path: Path) -> list[tuple[str, bool, int, np.ndarray]]:
    """(name, clipped?, rate, audio) of one recording's windows."""
    y, sr = sf.read(path, always_2d=True)
    y = y.mean(axis=1)
    out: list[tuple[str, bool, int, np.ndarray]] = []
    for wi, w in enumerate(_windows(y, sr)):
        if np.abs(w).max() < 1e-3:
            continue
        tag = f"{path.stem[:24]}_w{wi}"
        w44 = dx.resample(w, sr, SR)
        unit = w44 / np.abs(w44).max()
        comp = dx.envelope_compressor(unit, SR, threshold=0.2, ratio=4.0, attack_ms=2.0, release_ms=60.0)
        level = (0.2, 0.5, 0.8)[(index * 10 + wi) % 3]
        out += [
            (f"clean/{tag}", False, sr, w),
            (f"peak/{tag}", False, SR, unit * 0.99),
            (f"limit12/{tag}", False, SR, dx.lookahead_limiter(unit * 10 ** (12 / 20), SR, ceiling=0.97)),
            (f"compress/{tag}", False, SR, comp * 0.9 / np.abs(comp).max()),
            (
                f"mp3-{level:g}/{tag}",
                False,
                SR,
                dx.decode(dx.encode(unit * 0.95, SR, "MP3", compression_level=level))[0],
            ),
        ]
        for j in range(3):
            od = OVERDRIVES_DB[(index + wi + j) % 4]
            post = POSTS[(index + 2 * wi + 3 * j) % 6]
            src_sr = 48000 if post == "resample" else SR
            c = dx.clip(dx.resample(w, sr, src_sr), od)
            out.append((f"{od:g}dB-{post}/{tag}", True, SR, _post(c, post)))
    return out


def _metrics(a: np.ndarray, sr: int) -> dict[str, float]:
    x = np.asarray(a, dtype=np.float64)
    m = dict(clipping_stats(x.astype(np.float32)))
    m.update(clip_top_stats(x))
    m.update(crest_stats(x, sample_rate_hz=sr))
    return m


def _job(index: int, path: Path) -> list[tuple[str, bool, dict[str, float]]]:
    return [(name, pos, _metrics(a, sr)) for name, pos, sr, a in _cases(index, path)]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--json", type=Path, default=None, help="also write the results here")
    ap.add_argument("--jobs", type=int, default=2)
    args = ap.parse_args(argv)
    if not DATA.exists():
        sys.exit(f"shared data not found at {DATA}")
    files = sorted(p for p in DATA.glob("*/*/*") if p.suffix in (".wav", ".flac"))
    rows = [
        r for rs in Parallel(n_jobs=args.jobs)(delayed(_job)(i, p) for i, p in enumerate(files)) for r in rs
    ]
    cfg = QualityConfig()

    def fires(m: dict[str, float], rule: str) -> bool:
        sub = {k: m[k] for k in RULES[rule]}
        return any(f.name == "clipping" for f in flag_item(sub, cfg))

    neg = [(n, m) for n, p, m in rows if not p]
    pos = [(n, m) for n, p, m in rows if p]
    res: dict[str, Any] = {"negatives": len(neg), "clipped": len(pos), "rules": {}}
    print(f"{len(pos)} clipped takes, {len(neg)} negatives, from {len(files)} recordings\n")
    print(f"{'rule':24s} {'false alarms':>12s} {'found':>8s}")
    for rule in (*RULES, "any"):
        if rule == "any":
            fp = sum(any(fires(m, r) for r in RULES) for _, m in neg)
            tp = sum(any(fires(m, r) for r in RULES) for _, m in pos)
        else:
            fp = sum(fires(m, rule) for _, m in neg)
            tp = sum(fires(m, rule) for _, m in pos)
        res["rules"][rule] = {"false_alarms": fp, "found": tp}
        print(f"{rule:24s} {fp:>8d}/{len(neg):<3d} {tp:>4d}/{len(pos)}")
    missed = Counter(n.split("/")[0] for n, m in pos if not any(fires(m, r) for r in RULES))
    total = Counter(n.split("/")[0] for n, _ in pos)
    res["missed_by_kind"] = {k: [missed[k], total[k]] for k in sorted(total)}
    print(
        "\nmissed, by overdrive and processing:",
        ", ".join(f"{k} {missed[k]}/{total[k]}" for k in sorted(total) if missed[k]),
    )
    keys = ("flat_crests", "flat_crest_share", "straight_crests", "straight_crests_per_s", "clip_top_ratio")
    highest = {k: max(m[k] for _, m in neg) for k in keys}
    # the share means little on an item with a couple of flat crests: read it where there are 5+
    highest["flat_crest_share (5+ flat crests)"] = max(
        (m["flat_crest_share"] for _, m in neg if m["flat_crests"] >= 5), default=0.0
    )
    res["negatives_highest"] = highest
    print("\nnegatives' highest reading:", ", ".join(f"{k} {v:.3g}" for k, v in highest.items()))
    if args.json:
        args.json.write_text(json.dumps(res, indent=2) + "\n", encoding="utf-8")
        print(f"\nJSON written to {args.json}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
