"""Compare svcprep's build with RVC's and so-vits-svc's own preprocessing: speed, output size, F0 accuracy.

Usage (from the repository root; the framework checkouts are yours, see bench/README.md)::

    python bench/bench_compare.py --rvc /tmp/peers/rvc --sovits /tmp/peers/sovits \\
        --peer-python /tmp/peer-venv/bin/python
    python bench/bench_compare.py --rvc PATH --minutes 1 --rounds 1 --only svcprep rvc --skip-accuracy

What it does
------------
1. Builds (seeded, cached under ``$TMPDIR/svcprep-bench/compare/``) about ``--minutes`` minutes
   of 44.1 kHz mono PCM_16 WAV from the real singing of ``../shared/data/singing``: every take
   resampled to 44.1 kHz with soxr, strung together (tiled, in a seeded order per cycle) with
   short quiet gaps, in two speaker folders, cut into files of about 30-60 s at the quietest
   10 ms near each boundary.
2. Times each pipeline from the start of its first process to the end of its last one (what a
   user waits for), every process fresh, with one BLAS/OpenMP thread, into fresh folders,
   ``--rounds`` rounds in alternating order, recording the 1-minute load average before and
   after each run; reports medians. RTF = audio seconds / wall seconds.

   * svcprep: ``svcprep build RAW OUT -j 1`` (default config: harvest), with
     ``--set f0.method=dio``, with ``--set f0.method=fcpe`` (when torchfcpe imports), and
     harvest at ``-j 2``.
   * RVC (``--rvc``, Retrieval-based-Voice-Conversion-WebUI): per speaker, as its web UI runs
     them, ``infer/modules/train/preprocess.py SPK_DIR 40000 N EXP False 3.0`` (the 40k
     default; 3.0 s pieces as the UI passes on a CPU) then
     ``infer/modules/train/extract/extract_f0_print.py EXP N METHOD`` for harvest, dio and pm,
     and harvest with N = 2 processes. Its content features (hubert) are not run.
   * so-vits-svc (``--sovits``, 4.1): ``resample.py`` (44.1 kHz), ``preprocess_flist_config.py
     --vol_aug``, then the F0 and volume part of ``preprocess_hubert_f0.py`` for harvest and
     dio, through a small harness (``SOVITS_F0_HARNESS``) that imports the checkout's ``utils``
     and does per file what the script's ``process_one`` does for F0 and volume; the content
     encoder and the spectrogram are not run (they need model files, and the spectrogram
     follows the encoder in that function).
3. Compares each pipeline's output folder (svcprep's OUT, RVC's experiment folders, so-vits's
   ``dataset/44k``) with the size of the raw 16-bit audio.
4. Accuracy (unless ``--skip-accuracy``): runs each ``-j 1`` pipeline once more on the vocadito
   files with F0 truth, unmodified, and scores its stored F0 against the truth (RPA within 50
   cents on truth-voiced frames, VFA on truth-unvoiced frames) with ``svcprep.dsp.f0.compare_f0``.
   Every stored piece is put back on its source's time axis: svcprep's items from their
   records' ``start_s``; RVC's 16 kHz pieces and so-vits's trimmed files by locating their
   audio in the source (normalised cross-correlation, which must exceed 0.9).
5. Prints the machine, a compact table and writes every figure as JSON to ``--out``.

The peers run with ``--peer-python`` (default: this interpreter); the checkouts are only
called, never copied or changed (each run works in its own temporary folder). Compare the
ratios within one run; absolute seconds depend on the machine's load (the ``load`` column).
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.util
import itertools
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import soundfile as sf

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _util import machine_info, require_libraries, table, write_json

REPO = Path(__file__).resolve().parents[1]
SINGING = REPO.parent / "shared" / "data" / "singing"
SAMPLE_RATE = 44100

#: Bump when the generated corpus changes, so stale cached folders are not reused.
CORPUS_VERSION = 1
SEED = 20240604

#: Speaker folder -> globs (under ``SINGING``) of the takes it is made from.
SPEAKERS = {
    "nit": ("nit_song070/*.wav",),
    "mixed": ("vocadito/*.wav", "sms_tools/*.wav", "dagstuhl_choirset/*.wav"),
}
FILE_TARGET_S = 45.0
GAP_S = (0.4, 1.2)
GAP_NOISE_RMS = 3e-4  # about -70 dBFS: a quiet room between takes, not digital silence

#: The vocadito recordings with F0 truth (``<stem>.f0.csv`` beside them).
ACCURACY_STEMS = ("vocadito_1", "vocadito_10_excerpt_0.350-5.050s")
MIN_LOCATE_NCC = 0.9
LOCATE_BAND_HZ = (1000.0, 6000.0)

#: One BLAS/OpenMP/numba thread in every child process.
ONE_THREAD = {
    "OMP_NUM_THREADS": "1",
    "OPENBLAS_NUM_THREADS": "1",
    "MKL_NUM_THREADS": "1",
    "NUMBA_NUM_THREADS": "1",
}

RVC_SAMPLE_RATE = 40000  # the web UI's default target rate, "40k" (infer-web.py)
RVC_PIECE_S = 3.0  # configs/config.py: use_fp32_config() sets preprocess_per = 3.0 on a CPU
RVC_PREPROCESS = "infer/modules/train/preprocess.py"
RVC_EXTRACT = "infer/modules/train/extract/extract_f0_print.py"
SOVITS_SCRIPTS = ("resample.py", "preprocess_flist_config.py", "preprocess_hubert_f0.py", "utils.py")

#: The F0 and volume part of so-vits-svc 4.1's preprocess_hubert_f0.py, run with the checkout on
#: PYTHONPATH and the run folder (with the configs/config.json that preprocess_flist_config.py wrote)
#: as the working directory. It keeps the script's process structure (files globbed and shuffled,
#: chunks handed to a spawn ProcessPoolExecutor of --num_processes workers, which import this
#: module, and so torch and the checkout's utils, as the script's workers import it) and per file
#: the statements of process_one() that make .f0.npy and .vol.npy (hubert_f0.py lines 32-34, 42-48,
#: 77-82 of 4.1-Stable). Left out: loading the speech encoder (process_batch) and the .soft.pt
#: (content units) and .spec.pt (spectrogram) outputs.
SOVITS_F0_HARNESS = """\
import argparse
import logging
import os
from concurrent.futures import ProcessPoolExecutor
from glob import glob
from random import shuffle

import librosa
import numpy as np
import torch
import torch.multiprocessing as mp

import utils

logging.getLogger("numba").setLevel(logging.WARNING)

hps = utils.get_hparams_from_file("configs/config.json")
sampling_rate = hps.data.sampling_rate
hop_length = hps.data.hop_length


def process_one(filename, f0p):
    wav, sr = librosa.load(filename, sr=sampling_rate)
    audio_norm = torch.FloatTensor(wav)
    audio_norm = audio_norm.unsqueeze(0)
    f0_path = filename + ".f0.npy"
    if not os.path.exists(f0_path):
        f0_predictor = utils.get_f0_predictor(
            f0p, sampling_rate=sampling_rate, hop_length=hop_length, device=None, threshold=0.05
        )
        f0, uv = f0_predictor.compute_f0_uv(wav)
        np.save(f0_path, np.asanyarray((f0, uv), dtype=object))
    if hps.model.vol_embedding:
        volume_path = filename + ".vol.npy"
        volume_extractor = utils.Volume_Extractor(hop_length)
        if not os.path.exists(volume_path):
            volume = volume_extractor.extract(audio_norm)
            np.save(volume_path, volume.to("cpu").numpy())


def process_batch(file_chunk, f0p):
    for filename in file_chunk:
        process_one(filename, f0p)


def parallel_process(filenames, num_processes, f0p):
    with ProcessPoolExecutor(max_workers=num_processes) as executor:
        tasks = []
        for i in range(num_processes):
            start = int(i * len(filenames) / num_processes)
            end = int((i + 1) * len(filenames) / num_processes)
            tasks.append(executor.submit(process_batch, filenames[start:end], f0p))
        for task in tasks:
            task.result()


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--in_dir", type=str, default="dataset/44k")
    parser.add_argument("--f0_predictor", type=str, default="rmvpe")
    parser.add_argument("--num_processes", type=int, default=1)
    args = parser.parse_args()
    filenames = glob(f"{args.in_dir}/*/*.wav", recursive=True)
    shuffle(filenames)
    mp.set_start_method("spawn", force=True)
    parallel_process(filenames, args.num_processes, args.f0_predictor)
"""


# --- the corpus ---------------------------------------------------------------------------


def _cache_root() -> Path:
    """Where the corpora are cached: ``$TMPDIR/svcprep-bench/compare``."""
    return Path(tempfile.gettempdir()) / "svcprep-bench" / "compare"


def _takes(patterns: Sequence[str]) -> list[Path]:
    """The recordings matching ``patterns`` under ``SINGING``, sorted; exits when there are none."""
    found = sorted(p for pat in patterns for p in SINGING.glob(pat))
    if not found:
        raise SystemExit(f"no recordings match {list(patterns)} under {SINGING}")
    return found


def _load_44k(path: Path) -> npt.NDArray[np.float32]:
    """A recording as float32 mono at 44.1 kHz (soxr VHQ when it was at another rate)."""
    import soxr

    y, sr = sf.read(path, dtype="float32", always_2d=True)
    mono = y.mean(axis=1)
    if sr != SAMPLE_RATE:
        mono = soxr.resample(mono, sr, SAMPLE_RATE, quality="VHQ")
    return np.asarray(mono, dtype=np.float32)


def _quietest(y: npt.NDArray[np.float32], at: int, radius: int) -> int:
    """The centre of the quietest 10 ms frame of ``y`` within ``radius`` samples of ``at``."""
    hop = SAMPLE_RATE // 100
    lo = max(0, at - radius)
    seg = y[lo : min(y.size, at + radius)]
    frames = seg[: seg.size // hop * hop].reshape(-1, hop)
    if not frames.size:
        return at
    return lo + int(np.argmin(np.sum(frames.astype(np.float64) ** 2, axis=1))) * hop + hop // 2


def _speaker_files(
    takes: list[npt.NDArray[np.float32]], seconds: float, n_files: int, rng: np.random.Generator
) -> list[npt.NDArray[np.float32]]:
    """``seconds`` of one speaker's takes, tiled with quiet gaps, cut into ``n_files`` files."""
    target = round(seconds * SAMPLE_RATE)
    parts: list[npt.NDArray[np.float32]] = []
    n = 0
    while n < target:
        for i in rng.permutation(len(takes)):
            gap = GAP_NOISE_RMS * rng.standard_normal(round(rng.uniform(*GAP_S) * SAMPLE_RATE))
            parts += [gap.astype(np.float32), takes[i]]
            n += gap.size + takes[i].size
            if n >= target:
                break
    stream = np.concatenate(parts)[:target]
    peak = float(np.max(np.abs(stream)))
    if peak > 0.99:
        stream *= 0.99 / peak
    weights = rng.uniform(0.7, 1.3, size=n_files)
    bounds = [round(float(b)) for b in np.cumsum(weights)[:-1] / weights.sum() * target]
    cuts = [0, *(_quietest(stream, b, 2 * SAMPLE_RATE) for b in bounds), target]
    return [stream[a:b] for a, b in itertools.pairwise(cuts)]


def corpus(minutes: float) -> tuple[Path, list[dict[str, Any]]]:
    """The timing corpus (cached by its parameters and inputs); returns the raw folder and its listing.

    A listing file beside the raw folder is written last, so an interrupted generation is
    redone rather than reused.
    """
    if not SINGING.is_dir():
        raise SystemExit(f"missing {SINGING}: the shared recordings belong in ../shared/data")
    takes = {spk: _takes(pats) for spk, pats in SPEAKERS.items()}
    params = {
        "v": CORPUS_VERSION,
        "seed": SEED,
        "minutes": minutes,
        "takes": {
            s: [(p.relative_to(SINGING).as_posix(), p.stat().st_size) for p in t] for s, t in takes.items()
        },
    }
    tag = hashlib.sha256(json.dumps(params, sort_keys=True).encode()).hexdigest()[:12]
    root = _cache_root() / f"corpus-{minutes:g}min-{tag}"
    listing_path = root / "listing.json"
    if listing_path.exists():
        return root / "raw", json.loads(listing_path.read_text())
    shutil.rmtree(root, ignore_errors=True)
    total_s = minutes * 60.0
    n_files = max(len(SPEAKERS), round(total_s / FILE_TARGET_S))
    listing = []
    for k, (spk, paths) in enumerate(takes.items()):
        rng = np.random.default_rng(SEED + k)
        n_spk = n_files // len(SPEAKERS) + (k < n_files % len(SPEAKERS))
        audio = [_load_44k(p) for p in paths]
        for i, y in enumerate(_speaker_files(audio, total_s / len(SPEAKERS), n_spk, rng)):
            path = root / "raw" / spk / f"{spk}_{i:02d}.wav"
            path.parent.mkdir(parents=True, exist_ok=True)
            sf.write(path, y, SAMPLE_RATE, subtype="PCM_16")
            listing.append({"file": f"{spk}/{path.name}", "seconds": round(y.size / SAMPLE_RATE, 3)})
    listing_path.write_text(json.dumps(listing, indent=1))
    return root / "raw", listing


def accuracy_corpus() -> tuple[Path, dict[str, Path]]:
    """The vocadito files with F0 truth, copied unmodified into one speaker folder; file name -> truth csv."""
    raw = _cache_root() / "accuracy" / "raw"
    truth = {}
    for stem in ACCURACY_STEMS:
        wav, csv = SINGING / "vocadito" / f"{stem}.wav", SINGING / "vocadito" / f"{stem}.f0.csv"
        if not wav.is_file() or not csv.is_file():
            raise SystemExit(f"missing {wav} or {csv}: the shared corpus belongs in ../shared/data")
        if sf.info(wav).samplerate != SAMPLE_RATE:
            raise SystemExit(f"{wav} is not at {SAMPLE_RATE} Hz, as the accuracy run expects")
        dest = raw / "vocadito" / wav.name
        if not dest.exists() or dest.stat().st_size != wav.stat().st_size:
            dest.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(wav, dest)
        truth[wav.name] = csv
    return raw, truth


# --- running the pipelines ----------------------------------------------------------------


@dataclass(frozen=True)
class Pipeline:
    """One row of the comparison: a framework's preprocessing with one F0 method and job count."""

    framework: str  # "svcprep", "rvc" or "sovits"
    f0: str
    jobs: int = 1

    @property
    def name(self) -> str:
        """The row's key in the table and the JSON, e.g. ``rvc harvest -j 2``."""
        return f"{self.framework} {self.f0} -j {self.jobs}"


@dataclass(frozen=True)
class Peers:
    """How to run the frameworks: the checkouts, the interpreter and each child's environment."""

    rvc: Path | None
    sovits: Path | None
    python: str
    env: dict[str, str]
    rvc_env: dict[str, str]
    harness: Path


def child_env() -> dict[str, str]:
    """This process's environment with one thread per library."""
    return {**os.environ, **ONE_THREAD}


def run_step(cmd: Sequence[str], *, cwd: Path, env: dict[str, str]) -> float:
    """Run one child process to its end; its wall seconds. Raises with its output when it fails."""
    t0 = time.perf_counter()
    proc = subprocess.run(list(cmd), cwd=cwd, env=env, capture_output=True, text=True, check=False)
    seconds = time.perf_counter() - t0
    if proc.returncode != 0:
        raise RuntimeError(
            f"exit {proc.returncode}: {' '.join(map(str, cmd))} (in {cwd})\n"
            f"--- stdout ---\n{proc.stdout[-2000:]}\n--- stderr ---\n{proc.stderr[-4000:]}"
        )
    return seconds


def _svcprep(p: Pipeline, raw: Path, work: Path, peers: Peers) -> tuple[list[float], Path]:
    """``svcprep build RAW OUT -j N`` (the console script beside this interpreter); its seconds and OUT."""
    cli = Path(sys.executable).with_name("svcprep")
    out = work / "out"
    cmd = [str(cli), "build", str(raw), str(out), "-j", str(p.jobs), "--no-progress", "-q"]
    if p.f0 != "harvest":  # harvest is the default config
        cmd += ["--set", f"f0.method={p.f0}"]
    return [run_step(cmd, cwd=work, env=peers.env)], out


def _rvc(p: Pipeline, raw: Path, work: Path, peers: Peers) -> tuple[list[float], Path]:
    """RVC's preprocess.py, then extract_f0_print.py, for each speaker as an experiment of its own."""
    assert peers.rvc is not None
    py, n_p = peers.python, str(p.jobs)
    speakers = sorted(d.name for d in raw.iterdir() if d.is_dir())
    exps = {spk: work / "logs" / spk for spk in speakers}
    steps = []
    for spk, exp in exps.items():
        # preprocess.py:26 opens EXP/preprocess.log before it creates EXP; the web UI makes the
        # folder first (infer-web.py:220), so does this
        exp.mkdir(parents=True)
        cmd = [
            py,
            RVC_PREPROCESS,
            str(raw / spk),
            str(RVC_SAMPLE_RATE),
            n_p,
            str(exp),
            "False",
            f"{RVC_PIECE_S:.1f}",
        ]
        steps.append(run_step(cmd, cwd=peers.rvc, env=peers.rvc_env))
    for exp in exps.values():
        steps.append(run_step([py, RVC_EXTRACT, str(exp), n_p, p.f0], cwd=peers.rvc, env=peers.rvc_env))
    for spk, exp in exps.items():
        _check_rvc(exp, n_inputs=sum(1 for _ in (raw / spk).iterdir()))
    return steps, work / "logs"


def _check_rvc(exp: Path, *, n_inputs: int) -> None:
    """RVC's scripts log a failed file and exit 0: fail here unless every file made every output."""
    logs = {n: (exp / n).read_text(errors="replace") for n in ("preprocess.log", "extract_f0_feature.log")}
    counts = {d: len(list((exp / d).glob("*"))) for d in ("0_gt_wavs", "1_16k_wavs", "2a_f0", "2b-f0nsf")}
    ok = (
        logs["preprocess.log"].count("-> Success") == n_inputs
        and "f0fail" not in logs["extract_f0_feature.log"]
    )
    if not ok or min(counts.values()) == 0 or len(set(counts.values())) != 1:
        raise RuntimeError(
            f"RVC did not process every file of {exp} (outputs per folder: {counts}); its logs:\n"
            + "\n".join(f"--- {n} ---\n{t[-3000:]}" for n, t in logs.items())
        )


def _sovits(p: Pipeline, raw: Path, work: Path, peers: Peers) -> tuple[list[float], Path]:
    """so-vits-svc's resample.py, preprocess_flist_config.py --vol_aug and the F0/volume harness."""
    assert peers.sovits is not None
    py, root = peers.python, peers.sovits
    # a so-vits working folder: the scripts read configs_template/ and write configs/, filelists/
    # and dataset/44k/ relative to the working directory
    (work / "configs_template").symlink_to(root / "configs_template")
    (work / "configs").mkdir()
    (work / "filelists").mkdir()
    steps = [
        run_step([py, str(root / "resample.py"), "--in_dir", str(raw)], cwd=work, env=peers.env),
        run_step([py, str(root / "preprocess_flist_config.py"), "--vol_aug"], cwd=work, env=peers.env),
    ]
    harness_env = {**peers.env, "PYTHONPATH": str(root)}
    cmd = [py, str(peers.harness), "--f0_predictor", p.f0, "--num_processes", str(p.jobs)]
    steps.append(run_step(cmd, cwd=work, env=harness_env))
    out = work / "dataset" / "44k"
    wavs = sorted(out.glob("*/*.wav"))
    n_inputs = len(list(raw.glob("*/*.wav")))
    missing = [w.name for w in wavs if not (Path(f"{w}.f0.npy").exists() and Path(f"{w}.vol.npy").exists())]
    if len(wavs) != n_inputs or missing:
        raise RuntimeError(
            f"so-vits made {len(wavs)} of {n_inputs} files in {out}; no F0/volume for {missing}"
        )
    return steps, out


RUNNERS: dict[str, Callable[[Pipeline, Path, Path, Peers], tuple[list[float], Path]]] = {
    "svcprep": _svcprep,
    "rvc": _rvc,
    "sovits": _sovits,
}


def folder_bytes(path: Path) -> int:
    """Bytes of every regular file below ``path`` (links not followed)."""
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file() and not f.is_symlink())


def run_once(p: Pipeline, raw: Path, work: Path, peers: Peers) -> dict[str, Any]:
    """One run of ``p`` into the fresh folder ``work``: seconds of each of its processes and their
    sum (the wall time a user waits for), output bytes, 1-minute load before and after."""
    work.mkdir(parents=True)
    load_before = os.getloadavg()[0]
    steps, out = RUNNERS[p.framework](p, raw, work, peers)
    return {
        "step_seconds": steps,
        "wall_seconds": sum(steps),
        "out_dir": str(out),
        "out_bytes": folder_bytes(out),
        "loadavg_1min": [load_before, os.getloadavg()[0]],
    }


# --- preflight ----------------------------------------------------------------------------


def _peer_imports(python: str, code: str, *, cwd: Path, env: dict[str, str]) -> str | None:
    """None when ``code`` runs in the peer interpreter, else its error (last lines)."""
    proc = subprocess.run([python, "-c", code], cwd=cwd, env=env, capture_output=True, text=True, check=False)
    return None if proc.returncode == 0 else proc.stderr.strip()[-1500:]


def ffmpeg_path_dir(python: str, work: Path) -> Path | None:
    """A folder holding an ``ffmpeg`` program for RVC's ``load_audio`` (None when PATH already has one).

    RVC decodes every file with the ffmpeg command (infer/lib/audio.py:46). Without one on PATH,
    imageio-ffmpeg's bundled binary (in the peer interpreter) is linked as ``ffmpeg`` in a folder
    that goes first on the RVC children's PATH only. Exits with instructions when neither exists.
    """
    if shutil.which("ffmpeg"):
        return None
    proc = subprocess.run(
        [python, "-c", "import imageio_ffmpeg; print(imageio_ffmpeg.get_ffmpeg_exe())"],
        capture_output=True,
        text=True,
        check=False,
    )
    exe = proc.stdout.strip().splitlines()[-1] if proc.returncode == 0 and proc.stdout.strip() else ""
    if not exe or not Path(exe).is_file():
        raise SystemExit(
            "RVC decodes audio with the `ffmpeg` program (infer/lib/audio.py:46) and none is on PATH: "
            f"install one (apt-get install ffmpeg) or `{python} -m pip install imageio-ffmpeg`"
        )
    bin_dir = work / "ffmpeg-bin"
    bin_dir.mkdir(exist_ok=True)
    (bin_dir / "ffmpeg").symlink_to(exe)
    return bin_dir


def check_rvc(path: Path, python: str, env: dict[str, str]) -> None:
    """Exit with a message unless ``path`` is an RVC checkout whose timed scripts import in ``python``."""
    for script in (RVC_PREPROCESS, RVC_EXTRACT):
        if not (path / script).is_file():
            raise SystemExit(
                f"--rvc {path}: no {script} (expected a Retrieval-based-Voice-Conversion-WebUI checkout)"
            )
    code = (
        "import numpy, scipy, librosa, pyworld, parselmouth, ffmpeg, av\n"
        "from infer.lib.audio import load_audio\nfrom infer.lib.slicer2 import Slicer\n"
    )
    err = _peer_imports(python, code, cwd=path, env=env)
    if err:
        raise SystemExit(
            f"RVC's preprocess.py and extract_f0_print.py need, in {python}: numpy, scipy, librosa, pyworld, "
            "praat-parselmouth (imported for every method, extract_f0_print.py:5), ffmpeg-python and av "
            f"(infer/lib/audio.py:2-4): `{python} -m pip install ...` what is missing.\n{err}"
        )


def check_sovits(path: Path, python: str, env: dict[str, str]) -> None:
    """Exit with a message unless ``path`` is a so-vits-svc 4.1 checkout whose timed parts import."""
    missing = [
        s for s in (*SOVITS_SCRIPTS, "configs_template/config_template.json") if not (path / s).is_file()
    ]
    if missing:
        raise SystemExit(f"--sovits {path}: no {', '.join(missing)} (expected a so-vits-svc 4.1 checkout)")
    code = (
        "import librosa, rich, scipy, loguru, tqdm, pyworld\nimport diffusion.logger.utils\nimport utils\n"
        "from modules.F0Predictor.HarvestF0Predictor import HarvestF0Predictor\n"
    )
    err = _peer_imports(python, code, cwd=path, env={**env, "PYTHONPATH": str(path)})
    if err:
        raise SystemExit(
            "so-vits-svc's resample.py, preprocess_flist_config.py and the F0 part of "
            f"preprocess_hubert_f0.py need, in {python}: torch, librosa, scipy, rich, loguru, tqdm, "
            "pyyaml, pyworld, and faiss-cpu and scikit-learn (imported by its utils.py:12-17): "
            f"`{python} -m pip install ...` what is missing.\n{err}"
        )


def pipelines(only: Sequence[str], rvc: Path | None, sovits: Path | None) -> list[Pipeline]:
    """The rows to run, in table order (a framework without its checkout is skipped with a message)."""
    rows: list[Pipeline] = []
    if "svcprep" in only:
        rows += [Pipeline("svcprep", "harvest"), Pipeline("svcprep", "dio")]
        if importlib.util.find_spec("torchfcpe") is not None:
            rows.append(Pipeline("svcprep", "fcpe"))
        else:
            print("svcprep fcpe: skipped (torchfcpe does not import; pip install 'svcprep[fcpe]')")
        rows.append(Pipeline("svcprep", "harvest", jobs=2))
    if "rvc" in only:
        if rvc is None:
            print("RVC: skipped (no --rvc checkout given)")
        else:
            # parselmouth is already required by check_rvc: extract_f0_print.py imports it for every method
            rows += [Pipeline("rvc", m) for m in ("harvest", "dio", "pm")]
            rows.append(Pipeline("rvc", "harvest", jobs=2))
    if "sovits" in only:
        if sovits is None:
            print("so-vits-svc: skipped (no --sovits checkout given)")
        else:
            rows += [Pipeline("sovits", m) for m in ("harvest", "dio")]
    return rows


# --- accuracy -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Piece:
    """Stored F0 of one piece of a source: frame ``i`` at ``offset_s + i * step_s`` in the source."""

    offset_s: float
    step_s: float
    f0: npt.NDArray[np.float64]
    voiced: npt.NDArray[np.bool_]


def locate(
    piece: npt.NDArray[np.float64], source: npt.NDArray[np.float64], sample_rate: int
) -> tuple[int, float]:
    """Where ``piece`` starts in ``source`` (samples) and the normalised cross-correlation there.

    Both are compared in 1-6 kHz (zero-phase band-pass): below that RVC's causal 48 Hz
    high-pass (preprocess.py:46, 86) turns the phase of the low harmonics enough to pull the
    correlation of a correctly placed piece down to about 0.8; in the band it is above 0.98.
    """
    from scipy.signal import butter, correlate, sosfiltfilt

    n = piece.size
    if n < 64 or n > source.size:  # too short for the filter's padding, or longer than the source
        return 0, 0.0
    sos = butter(4, LOCATE_BAND_HZ, btype="band", fs=sample_rate, output="sos")
    piece, source = sosfiltfilt(sos, piece), sosfiltfilt(sos, source)
    corr = correlate(source, piece, mode="valid", method="fft")
    energy = np.concatenate([[0.0], np.cumsum(source**2)])
    window = np.sqrt(np.maximum(energy[n:] - energy[:-n], 1e-20))
    ncc = corr / (window * max(float(np.linalg.norm(piece)), 1e-20))
    k = int(np.argmax(ncc))
    return k, float(ncc[k])


def _source_audio(raw: Path, name: str, sample_rate: int) -> npt.NDArray[np.float64]:
    """An accuracy source file as float64 at ``sample_rate`` (soxr VHQ), to locate pieces in."""
    import soxr

    y, sr = sf.read(raw / "vocadito" / name, dtype="float64")
    return y if sr == sample_rate else soxr.resample(y, sr, sample_rate, quality="VHQ")


def pieces_svcprep(out: Path) -> tuple[dict[str, list[Piece]], dict[str, Any]]:
    """svcprep's items by source file name, placed by their records' ``start_s``."""
    import svcprep

    ds = svcprep.open(out)
    step = ds.hop_length / ds.sample_rate
    found: dict[str, list[Piece]] = {}
    for item_id in ds.ids:
        it = ds[item_id]
        rec = it["record"]
        found.setdefault(Path(rec.source).name, []).append(
            Piece(
                float(rec.start_s), step, np.asarray(it["f0"], np.float64), np.asarray(it["uv"]).astype(bool)
            )
        )
    return found, {"pieces": len(ds.ids), "placed_by": "record start_s"}


def pieces_rvc(out: Path, raw: Path) -> tuple[dict[str, list[Piece]], dict[str, Any]]:
    """RVC's 2b-f0nsf pieces (10 ms frames of the 16 kHz pieces), located in their 16 kHz source."""
    exp = out / "vocadito"
    names = sorted(os.listdir(raw / "vocadito"))  # preprocess.py:115 numbers the inputs this way
    sources = {name: _source_audio(raw, name, 16000) for name in names}
    found: dict[str, list[Piece]] = {}
    worst, unplaced = 1.0, 0
    for npy in sorted((exp / "2b-f0nsf").glob("*.wav.npy")):
        wav = exp / "1_16k_wavs" / npy.name[: -len(".npy")]
        name = names[int(wav.stem.split("_")[0])]
        y, sr = sf.read(wav, dtype="float64")
        start, ncc = locate(y, sources[name], sr)
        worst = min(worst, ncc)
        if ncc < MIN_LOCATE_NCC:
            unplaced += 1
            continue
        f0 = np.load(npy).astype(np.float64)
        found.setdefault(name, []).append(Piece(start / sr, 0.01, f0, f0 > 0))
    total = len(list((exp / "2b-f0nsf").glob("*.wav.npy")))
    return found, {
        "pieces": total,
        "unplaced": unplaced,
        "worst_ncc": worst,
        "placed_by": "cross-correlation",
    }


def pieces_sovits(out: Path, raw: Path) -> tuple[dict[str, list[Piece]], dict[str, Any]]:
    """so-vits's (f0, uv) per file (hop 512 at 44.1 kHz), located in the source (resample.py trims it)."""
    found: dict[str, list[Piece]] = {}
    worst, unplaced, total = 1.0, 0, 0
    for wav in sorted((out / "vocadito").glob("*.wav")):
        total += 1
        y, sr = sf.read(wav, dtype="float64")
        start, ncc = locate(y, _source_audio(raw, wav.name, sr), sr)
        worst = min(worst, ncc)
        if ncc < MIN_LOCATE_NCC:
            unplaced += 1
            continue
        f0, uv = np.load(f"{wav}.f0.npy", allow_pickle=True)
        found[wav.name] = [Piece(start / sr, 512 / sr, np.asarray(f0, np.float64), np.asarray(uv) > 0.5)]
    return found, {
        "pieces": total,
        "unplaced": unplaced,
        "worst_ncc": worst,
        "placed_by": "cross-correlation",
    }


def score(found: dict[str, list[Piece]], truth: dict[str, Path]) -> dict[str, Any]:
    """RPA / VFA of the placed pieces against the truth, per file and pooled over the files.

    Each truth frame takes the nearest frame of the piece it lies deepest inside (pieces may
    overlap). Truth frames that no piece covers are audio the pipeline cut out: RPA is over
    the covered truth-voiced frames (``voiced_coverage`` is their share of all truth-voiced
    frames), VFA over every truth-unvoiced frame (one cut out is not called voiced), so each
    pipeline's VFA has the same denominator whatever its slicer keeps.
    """
    from svcprep.dsp.f0 import compare_f0, read_f0_csv

    per_file: dict[str, dict[str, float]] = {}
    for name, csv in truth.items():
        ref_t, ref_f = read_f0_csv(csv)
        depth = np.full(ref_t.size, -np.inf)
        cand = np.zeros(ref_t.size)
        voiced = np.zeros(ref_t.size, dtype=bool)
        for pc in found.get(name, []):
            if not pc.f0.size:
                continue
            rel = (ref_t - pc.offset_s) / pc.step_s
            d = np.minimum(rel + 0.5, pc.f0.size - 0.5 - rel)  # > 0 inside the piece
            better = (d >= 0) & (d > depth)
            idx = np.clip(np.rint(rel[better]).astype(np.int64), 0, pc.f0.size - 1)
            depth[better], cand[better], voiced[better] = d[better], pc.f0[idx], pc.voiced[idx]
        cov = np.isfinite(depth)
        covered = compare_f0(ref_t[cov], cand[cov], voiced[cov], ref_t[cov], ref_f[cov])
        every = compare_f0(ref_t, cand, voiced, ref_t, ref_f)
        per_file[name] = {
            "raw_pitch_accuracy": covered["raw_pitch_accuracy"],
            "voicing_false_alarm": every["voicing_false_alarm"],
            "voicing_recall": every["voicing_recall"],
            "n_covered_voiced": covered["n_ref_voiced"],
            "n_truth_voiced": every["n_ref_voiced"],
            "n_truth_unvoiced": every["n_ref_unvoiced"],
        }
    files = per_file.values()
    n_cv = sum(f["n_covered_voiced"] for f in files)
    n_v = sum(f["n_truth_voiced"] for f in files)
    n_u = sum(f["n_truth_unvoiced"] for f in files)
    return {
        "raw_pitch_accuracy": sum(f["raw_pitch_accuracy"] * f["n_covered_voiced"] for f in files)
        / max(n_cv, 1.0),
        "voicing_false_alarm": sum(f["voicing_false_alarm"] * f["n_truth_unvoiced"] for f in files)
        / max(n_u, 1.0),
        "voicing_recall": sum(f["voicing_recall"] * f["n_truth_voiced"] for f in files) / max(n_v, 1.0),
        "voiced_coverage": n_cv / max(n_v, 1.0),
        "files": per_file,
    }


def accuracy(rows: list[Pipeline], peers: Peers, work: Path) -> dict[str, dict[str, Any]]:
    """Run each ``-j 1`` pipeline once on the vocadito files with truth and score its F0."""
    raw, truth = accuracy_corpus()
    results: dict[str, dict[str, Any]] = {}
    for p in rows:
        if p.jobs != 1:
            continue  # the same F0 as its -j 1 row
        print(f"accuracy run: {p.name} ...", flush=True)
        run = run_once(p, raw, work / f"accuracy-{p.framework}-{p.f0}", peers)
        out = Path(run["out_dir"])
        if p.framework == "svcprep":
            found, placing = pieces_svcprep(out)
        elif p.framework == "rvc":
            found, placing = pieces_rvc(out, raw)
        else:
            found, placing = pieces_sovits(out, raw)
        if placing.get("unplaced"):
            print(
                f"  {placing['unplaced']} of {placing['pieces']} pieces not found in their source "
                f"(best correlation under {MIN_LOCATE_NCC}): left out of the scores"
            )
        results[p.name] = {**score(found, truth), "placing": placing, "wall_seconds": run["wall_seconds"]}
        shutil.rmtree(work / f"accuracy-{p.framework}-{p.f0}", ignore_errors=True)
    return results


# --- the summary --------------------------------------------------------------------------


def cpu_model() -> str:
    """The CPU's model name from /proc/cpuinfo (``unknown`` without it)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return "unknown"


def summarise(
    rows: list[Pipeline], runs: dict[str, list[dict[str, Any]]], audio_s: float, raw_bytes: int
) -> dict[str, dict[str, Any]]:
    """Per pipeline: median wall seconds and RTF, ratio to RVC harvest -j 1, output size / raw size."""
    out: dict[str, dict[str, Any]] = {}
    for p in rows:
        walls = [r["wall_seconds"] for r in runs[p.name]]
        out[p.name] = {
            "framework": p.framework,
            "f0": p.f0,
            "jobs": p.jobs,
            "wall_seconds_median": statistics.median(walls),
            "rtf_median": statistics.median(audio_s / w for w in walls),
            "rtf_all": [audio_s / w for w in walls],
            "out_bytes": runs[p.name][-1]["out_bytes"],
            "out_over_raw": runs[p.name][-1]["out_bytes"] / raw_bytes,
            "load_max": max(max(r["loadavg_1min"]) for r in runs[p.name]),
        }
    base = out.get(Pipeline("rvc", "harvest").name)
    for s in out.values():
        s["rtf_over_rvc_harvest"] = s["rtf_median"] / base["rtf_median"] if base else None
    return out


def print_table(summary: dict[str, dict[str, Any]], acc: dict[str, dict[str, Any]]) -> None:
    """The compact comparison table."""
    rows = []
    for s in summary.values():
        a = acc.get(Pipeline(s["framework"], s["f0"]).name) if s["jobs"] == 1 else None
        ratio = s["rtf_over_rvc_harvest"]
        rows.append(
            [
                s["framework"],
                s["f0"],
                str(s["jobs"]),
                f"{s['wall_seconds_median']:.1f}",
                f"{s['rtf_median']:.2f}",
                "-" if ratio is None else f"{ratio:.2f}x",
                f"{s['out_over_raw']:.2f}",
                "-" if a is None else f"{a['raw_pitch_accuracy']:.3f}",
                "-" if a is None else f"{a['voicing_false_alarm']:.3f}",
                "-" if a is None else f"{a['voiced_coverage']:.3f}",
                f"{s['load_max']:.1f}",
            ]
        )
    header = [
        "pipeline",
        "F0",
        "-j",
        "wall s",
        "RTF",
        "vs RVC harvest",
        "out/raw",
        "RPA",
        "VFA",
        "cov",
        "load",
    ]
    print(table(rows, header))


def main(argv: list[str] | None = None) -> int:
    """Run the comparison; returns the exit code."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument(
        "--rvc", type=Path, help="a Retrieval-based-Voice-Conversion-WebUI checkout (ref 20240604)"
    )
    ap.add_argument("--sovits", type=Path, help="a so-vits-svc checkout (branch 4.1-Stable)")
    ap.add_argument(
        "--peer-python", default=sys.executable, help="interpreter for the frameworks (default: this one)"
    )
    ap.add_argument("--minutes", type=float, default=6.7, help="minutes of audio to time (default 6.7)")
    ap.add_argument(
        "--rounds", type=int, default=3, help="timed runs per pipeline, alternating order (default 3)"
    )
    ap.add_argument(
        "--only", nargs="+", choices=["svcprep", "rvc", "sovits"], default=["svcprep", "rvc", "sovits"]
    )
    ap.add_argument("--skip-accuracy", action="store_true", help="no F0 accuracy runs on vocadito")
    ap.add_argument(
        "--out",
        type=Path,
        default=REPO / "bench" / "results",
        help="folder for the JSON (default bench/results)",
    )
    args = ap.parse_args(argv)
    if args.minutes <= 0 or args.rounds < 1:
        ap.error("--minutes and --rounds must be positive")
    if shutil.which(args.peer_python) is None:
        ap.error(f"--peer-python {args.peer_python}: no such interpreter")
    require_libraries()
    rvc = args.rvc.resolve() if args.rvc and "rvc" in args.only else None
    sovits = args.sovits.resolve() if args.sovits and "sovits" in args.only else None
    env = child_env()
    work = Path(tempfile.mkdtemp(prefix="svcprep-bench-compare-"))
    try:
        rvc_env = env
        if rvc is not None:
            check_rvc(rvc, args.peer_python, env)
            bin_dir = ffmpeg_path_dir(args.peer_python, work)
            if bin_dir is not None:
                rvc_env = {**env, "PATH": f"{bin_dir}{os.pathsep}{env.get('PATH', '')}"}
        if sovits is not None:
            check_sovits(sovits, args.peer_python, env)
        harness = work / "sovits_f0_volume.py"
        harness.write_text(SOVITS_F0_HARNESS)
        peers = Peers(rvc, sovits, args.peer_python, env, rvc_env, harness)
        rows = pipelines(args.only, rvc, sovits)
        if not rows:
            ap.error("nothing to run: give --rvc/--sovits or include svcprep in --only")
        return compare(args, rows, peers, work)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def warm_fcpe(raw: Path, first_file: str, work: Path, peers: Peers) -> None:
    """Build 5 s with FCPE once: its network is exported to ONNX in the first process that needs
    it and kept in ``~/.cache/svcprep`` (about 7 s), which a user pays once, not per build."""
    warm = work / "warmup-raw" / "w"
    warm.mkdir(parents=True)
    y, sr = sf.read(raw / first_file, frames=5 * SAMPLE_RATE, dtype="float32")
    sf.write(warm / "w.wav", y, sr, subtype="PCM_16")
    run_once(Pipeline("svcprep", "fcpe"), warm.parent, work / "warmup", peers)
    shutil.rmtree(work / "warmup")


def timed_rounds(
    rows: list[Pipeline], raw: Path, audio_s: float, rounds: int, work: Path, peers: Peers
) -> dict[str, list[dict[str, Any]]]:
    """Every pipeline once per round, in alternating order; the runs of each pipeline."""
    runs: dict[str, list[dict[str, Any]]] = {p.name: [] for p in rows}
    for r in range(rounds):
        for p in rows if r % 2 == 0 else rows[::-1]:
            print(f"round {r + 1}/{rounds}: {p.name} ...", end=" ", flush=True)
            folder = work / f"r{r}-{p.framework}-{p.f0}-j{p.jobs}"
            res = run_once(p, raw, folder, peers)
            shutil.rmtree(folder)
            runs[p.name].append({**res, "round": r})
            (a, b), wall = res["loadavg_1min"], res["wall_seconds"]
            print(f"{wall:.1f} s, RTF {audio_s / wall:.2f}, load {a:.1f}->{b:.1f}")
    return runs


def compare(args: argparse.Namespace, rows: list[Pipeline], peers: Peers, work: Path) -> int:
    """The timed rounds, the accuracy runs, the table and the JSON."""
    raw, listing = corpus(args.minutes)
    audio_s = sum(f["seconds"] for f in listing)
    infos = [sf.info(p) for p in sorted(raw.glob("*/*.wav"))]
    raw_bytes = sum(i.frames * i.channels * 2 for i in infos)
    machine = {**machine_info(), "cpu_model": cpu_model(), "loadavg_start": list(os.getloadavg())}
    cpu = f"{machine['cpu_model']}, {machine['cpu_count']} cores"
    print(f"machine: {cpu}, load {machine['loadavg_start'][0]:.2f}")
    print(f"corpus: {raw} ({len(listing)} files, {audio_s:.1f} s, {raw_bytes / 1e6:.1f} MB as 16-bit)")
    if any(p.f0 == "fcpe" for p in rows):
        warm_fcpe(raw, listing[0]["file"], work, peers)
    runs = timed_rounds(rows, raw, audio_s, args.rounds, work, peers)
    summary = summarise(rows, runs, audio_s, raw_bytes)
    acc = {} if args.skip_accuracy else accuracy(rows, peers, work)
    machine["loadavg_end"] = list(os.getloadavg())

    print()
    print(
        f"{audio_s / 60:.2f} min of audio, {args.rounds} round(s), medians; RTF = audio s / wall s of the "
        f"whole pipeline (every process, one thread each); load = highest 1-min load average of its "
        f"runs; {cpu}"
    )
    print_table(summary, acc)
    for fw in ("svcprep", "rvc"):
        one, two = summary.get(Pipeline(fw, "harvest").name), summary.get(Pipeline(fw, "harvest", 2).name)
        if one and two:
            print(f"{fw} harvest -j 1 -> -j 2: {two['rtf_median'] / one['rtf_median']:.2f}x")
    if acc:
        print(
            "RPA over the truth-voiced frames the stored pieces cover (cov: their share), VFA over all "
            "truth-unvoiced frames, pooled over the vocadito files with truth; RVC stores 0 Hz on "
            "unvoiced frames, so its RPA also counts its F0 method's voicing misses"
        )
    path = write_json(
        args.out,
        "compare",
        {
            "benchmark": "compare",
            "machine": machine,
            "params": {
                "minutes": args.minutes,
                "rounds": args.rounds,
                "seed": SEED,
                "corpus_version": CORPUS_VERSION,
                "peer_python": peers.python,
                "rvc": str(peers.rvc) if peers.rvc else None,
                "sovits": str(peers.sovits) if peers.sovits else None,
                "rvc_sample_rate_hz": RVC_SAMPLE_RATE,
                "rvc_piece_s": RVC_PIECE_S,
            },
            "corpus": {
                "path": str(raw),
                "files": listing,
                "audio_seconds": audio_s,
                "raw_16bit_bytes": raw_bytes,
            },
            "runs": runs,
            "summary": summary,
            "accuracy": acc,
        },
    )
    print(f"results: {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
