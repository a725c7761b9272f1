"""Read a built svcprep dataset the way a training script does.

    python examples/read_dataset.py examples/out

1. Through the library: ``svcprep.open`` gives items with aligned audio, F0, mel and
   volume; draw random mini-batches of fixed-length windows from them.
2. Without svcprep: the shards are plain ``.npy`` files plus ``index.json``, so numpy
   alone can read them.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

import svcprep


def random_windows(ds: svcprep.Dataset, *, batch: int, frames: int, seed: int = 0) -> dict[str, np.ndarray]:
    """A mini-batch of ``frames``-long windows (mel, f0, uv, volume and the matching audio)."""
    rng = np.random.default_rng(seed)
    hop = ds.hop_length
    mels, f0s, uvs, vols, wavs = [], [], [], [], []
    for _ in range(batch):
        item = ds[int(rng.integers(len(ds)))]
        n = item["mel"].shape[0]
        start = int(rng.integers(0, max(1, n - frames)))
        stop = min(n, start + frames)
        pad = frames - (stop - start)
        mels.append(np.pad(item["mel"][start:stop], ((0, pad), (0, 0)), constant_values=np.log(1e-5)))
        f0s.append(np.pad(item["f0"][start:stop], (0, pad)))
        uvs.append(np.pad(item["uv"][start:stop], (0, pad)))
        vols.append(np.pad(item["volume"][start:stop], (0, pad)))
        audio = item["audio"][start * hop : stop * hop]
        wavs.append(np.pad(audio, (0, frames * hop - audio.size)))
    return {
        "mel": np.stack(mels),
        "f0": np.stack(f0s),
        "uv": np.stack(uvs),
        "volume": np.stack(vols),
        "audio": np.stack(wavs),
    }


def main(out: Path) -> None:
    """Open the dataset, check every item's arrays line up, draw a batch, read one shard with numpy."""
    full = svcprep.open(out)
    ds = full.train  # what trains: the split the build stored (flagged items and validation left out)
    print(ds)
    if len(ds) == 0:
        raise SystemExit(f"{out} has no training items: see the build summary or `svcprep report {out}`")
    for item in ds:
        n = item["mel"].shape[0]
        assert item["f0"].shape == item["uv"].shape == item["volume"].shape == (n,), item["record"]["id"]
        assert item["audio"].dtype == np.float32 and np.isfinite(item["mel"]).all()
    voiced = np.concatenate([it["f0"][it["uv"] == 1] for it in ds])
    print(
        f"{len(ds)} items, {sum(it['record']['duration_s'] for it in ds):.1f} s at {ds.sample_rate} Hz; "
        f"voiced F0 5-95 %: {np.percentile(voiced, 5):.0f}-{np.percentile(voiced, 95):.0f} Hz"
    )
    batch = random_windows(ds, batch=8, frames=128)
    print("batch:", {k: v.shape for k, v in batch.items()})

    assert all(item["record"].split == "train" for item in ds)
    flagged = [r.id for r in full.manifest if r.flags]
    print(
        f"manifest: {len(full.manifest)} records, {len(flagged)} flagged; "
        f"{len(full.train)} train, {len(full.val)} val of {len(full)} items"
    )

    # numpy only: no svcprep needed to read a shard
    shard = next((out / "shards").iterdir())
    index = json.loads((shard / "index.json").read_text())
    mel = np.load(shard / "mel.npy", mmap_mode="r", allow_pickle=False)
    first = index["items"][0]
    a, b = first["frames"]
    print(f"numpy-only read of {first['id']}: mel {mel[a:b].shape}")


if __name__ == "__main__":
    main(Path(sys.argv[1] if len(sys.argv) > 1 else "examples/out"))
