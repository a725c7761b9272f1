"""Benchmark the peak memory of a build on one very long 48 kHz stereo recording.

Usage (from the repository root)::

    python bench/bench_memory.py                          # 60 min, default F0 (harvest): slow
    python bench/bench_memory.py --minutes 60 --f0 dio    # same input, faster F0; memory is what counts

What it does
------------
1. Writes a ``--minutes``-long 48 kHz stereo PCM_16 WAV (one synthetic sung song of
   about 45 s, repeated with varying gain and pauses, fresh noise floor on every
   repeat) under ``$TMPDIR/svcprep-bench/``. The file is written block by block, so
   the generator holds only one song in memory (its own peak RSS is reported). The
   WAV is cached between runs (``--clean`` deletes it at the end).
2. Runs a default build (``-j 2`` unless ``--jobs``; ``--f0`` overrides only
   ``f0.method``) on it in a fresh Python process (see ``_util.run_build_subprocess``).
3. Reports the peak RSS of the main process, of the largest worker and of the whole
   process tree (sampled), the wall time and real-time factor, per-stage times, and
   whether the largest single process and the tree stayed under ``--limit-gb``
   (default 1.5 GB, the requirement for a 60-minute 48 kHz stereo input).
4. Writes everything as JSON to ``--out`` (default ``bench/results``, git-ignored).

For scale, the reference printed alongside is one mono float32 copy of the whole
input at the dataset rate (44.1 kHz by default): the loader's documented floor.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import soundfile as sf

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _util import (
    machine_info,
    make_song,
    mb,
    peak_rss_self,
    require_libraries,
    run_build_subprocess,
    table,
    write_json,
)

GENERATOR_VERSION = 1
SEED = 7
RATE_HZ = 48000
SONG_S = 45.0
BLOCK_FRAMES = 1 << 18  # frames written per sf.write call


def write_long_wav(path: Path, minutes: float) -> dict[str, Any]:
    """Write the long stereo test input to ``path`` block by block; returns a description.

    The song is generated once (float32 mono, ~45 s); every repeat scales it by a gain
    in 0.6-1.0, makes it stereo (right channel = left delayed by 7 samples, 0.85x) and
    adds a fresh noise floor; a 0.5-2 s pause of noise floor follows each repeat.
    A ``.complete`` marker next to the file says the file was finished.
    """
    marker = path.with_suffix(".complete")
    if path.exists() and marker.exists():
        return dict(json.loads(marker.read_text()), reused=True)
    path.parent.mkdir(parents=True, exist_ok=True)
    marker.unlink(missing_ok=True)
    rng = np.random.default_rng(SEED)
    song = make_song(SONG_S, sample_rate_hz=RATE_HZ, low_midi=55, high_midi=72, vibrato_cents=40, seed=SEED)
    n_total = round(minutes * 60 * RATE_HZ)
    written, repeats = 0, 0
    with sf.SoundFile(path, "w", samplerate=RATE_HZ, channels=2, format="WAV", subtype="PCM_16") as f:
        while written < n_total:
            left = song * np.float32(rng.uniform(0.6, 1.0))
            right = np.float32(0.85) * np.roll(left, 7)
            pause = np.zeros(int(rng.uniform(0.5, 2.0) * RATE_HZ), np.float32)
            for chunk in (np.stack([left, right], axis=1), np.stack([pause, pause], axis=1)):
                chunk = chunk + (0.0015 * rng.standard_normal(chunk.shape)).astype(np.float32)
                chunk = chunk[: n_total - written]
                for i in range(0, len(chunk), BLOCK_FRAMES):
                    f.write(chunk[i : i + BLOCK_FRAMES])
                written += len(chunk)
            repeats += 1
    info = {
        "path": str(path),
        "seconds": written / RATE_HZ,
        "rate_hz": RATE_HZ,
        "channels": 2,
        "format": "WAV/PCM_16",
        "bytes": path.stat().st_size,
        "song_repeats": repeats,
    }
    marker.write_text(json.dumps(info))
    return dict(info, reused=False)


def main(argv: list[str] | None = None) -> int:
    """Run the memory benchmark; returns 0 when under the limit, 1 when over it or the build failed."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--minutes", type=float, default=60.0, help="length of the input (default 60)")
    ap.add_argument(
        "--f0",
        choices=["harvest", "dio", "pyin", "praat"],
        default=None,
        help="override f0.method (default: the config default, harvest)",
    )
    ap.add_argument("--jobs", type=int, default=2, help="worker processes of the build (default 2)")
    ap.add_argument("--limit-gb", type=float, default=1.5, help="peak RSS limit to check, GB (default 1.5)")
    ap.add_argument(
        "--out",
        type=Path,
        default=Path(__file__).resolve().parent / "results",
        help="folder for the JSON results (default bench/results, git-ignored)",
    )
    ap.add_argument(
        "--cache",
        type=Path,
        default=Path(tempfile.gettempdir()) / "svcprep-bench",
        help="where the generated WAV is cached",
    )
    ap.add_argument("--clean", action="store_true", help="delete the generated WAV at the end")
    ap.add_argument("--keep", action="store_true", help="keep the build output folder (printed at the end)")
    args = ap.parse_args(argv)
    require_libraries()
    if args.minutes <= 0 or args.jobs < 1:
        ap.error("--minutes and --jobs must be positive")

    wav = args.cache / f"memory-{args.minutes:g}min-v{GENERATOR_VERSION}" / "singer" / "long.wav"
    print(f"writing {args.minutes:g} min of 48 kHz stereo PCM_16 to {wav} ...", flush=True)
    info = write_long_wav(wav, args.minutes)
    gen_rss = peak_rss_self()
    print(
        f"  {info['seconds'] / 60:.1f} min, {mb(info['bytes'])}{' (cached)' if info['reused'] else ''}; "
        f"generator peak RSS {mb(gen_rss)}",
        flush=True,
    )

    from svcprep import load_config

    overrides = [f"f0.method={args.f0}"] if args.f0 else []
    cfg = load_config(overrides=overrides)
    f0_method = cfg.f0.method
    target_sr = cfg.load.sample_rate_hz
    mono_copy = info["seconds"] * target_sr * 4  # one float32 mono copy at the dataset rate

    work = Path(tempfile.mkdtemp(prefix="svcprep-bench-memory-"))
    print(f"building with -j {args.jobs}, f0.method={f0_method} (output in {work}) ...", flush=True)
    try:
        res = run_build_subprocess(wav.parent.parent, work / "out", jobs=args.jobs, overrides=overrides)
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
        if args.clean:
            shutil.rmtree(wav.parent.parent, ignore_errors=True)

    limit = args.limit_gb * 1e9
    largest = max(res["peak_rss_main_bytes"], res["peak_rss_worker_bytes"])
    tree = res["peak_rss_tree_bytes"]
    stage_total = sum(res["stage_seconds"].values()) or 1.0
    result = {
        "benchmark": "memory",
        "machine": machine_info(),
        "params": {
            "minutes": args.minutes,
            "jobs": args.jobs,
            "f0_method": f0_method,
            "limit_gb": args.limit_gb,
            "seed": SEED,
            "generator_version": GENERATOR_VERSION,
        },
        "input": info,
        "generator_peak_rss_bytes": gen_rss,
        "mono_float32_copy_bytes": mono_copy,
        "build": res,
        "largest_process_peak_bytes": largest,
        "within_limit_largest_process": largest <= limit,
        "within_limit_tree": None if tree is None else tree <= limit,
        "rtf": res["source_seconds"] / res["wall_seconds"],
    }
    path = write_json(args.out, "memory", result)

    print()
    print(
        f"svcprep memory benchmark: {info['seconds'] / 60:.1f} min 48 kHz stereo PCM_16 WAV "
        f"({mb(info['bytes'])}), -j {args.jobs}, F0 method: {f0_method}"
    )
    print(f"  items ok {res['items_ok']}, error records {res['errors']}, exit code {res['exit_code']}")
    print(
        f"  wall {res['wall_seconds']:.1f} s (process {res['process_seconds']:.1f} s), "
        f"real-time factor {result['rtf']:.1f}, CPU {res['cpu_seconds']:.1f} s, "
        f"load {res['loadavg_1min'][0]:.1f}->{res['loadavg_1min'][1]:.1f}"
    )
    print()
    main_b, worker_b = res["peak_rss_main_bytes"], res["peak_rss_worker_bytes"]
    rows = [
        ["main process", mb(main_b), f"{main_b / mono_copy:.2f}"],
        ["largest worker", mb(worker_b), f"{worker_b / mono_copy:.2f}"],
        [
            f"tree sum ({res['peak_tree_processes']} procs, sampled)",
            mb(tree),
            "n/a" if tree is None else f"{tree / mono_copy:.2f}",
        ],
        ["ref: mono float32 copy", mb(mono_copy), "1.00"],
    ]
    print(table(rows, ["peak RSS", "MB", "x mono copy"]))
    print()
    print(
        table(
            [
                [k, f"{v:.1f}", f"{v / stage_total:.1%}", f"{res['source_seconds'] / v:.1f}" if v else "-"]
                for k, v in sorted(res["stage_seconds"].items(), key=lambda kv: -kv[1])
            ],
            ["stage", "seconds", "share", "RTF"],
        )
    )
    print()
    verdict = "PASS" if largest <= limit else "FAIL"
    print(f"{verdict}: largest single process peaked at {mb(largest)} (limit {args.limit_gb:g} GB)")
    if tree is not None:
        print(
            f"{'PASS' if tree <= limit else 'FAIL'}: whole process tree peaked at {mb(tree)} "
            f"(sum of RSS, shared pages counted per process)"
        )
    if res["errors"]:
        print(f"build reported errors: {res['error_messages']}")
    print(f"results: {path}")
    return 0 if largest <= limit and not res["errors"] else 1


if __name__ == "__main__":
    sys.exit(main())
