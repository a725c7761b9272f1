"""What every framework exporter shares: the report, atomic file writes, item selection and names."""

from __future__ import annotations

import hashlib
import io
import os
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from svcprep.dsp.frames import num_frames
from svcprep.errors import ConfigError, StoreError
from svcprep.export.content import Encoder, encode
from svcprep.records import Record
from svcprep.store.atomic import atomic_write_bytes
from svcprep.store.reader import Dataset

__all__ = ["ExportItem", "ExportJob", "ExportReport", "safe_name"]


@dataclass(frozen=True)
class ExportReport:
    """What an export wrote and what is left for the user to do.

    Attributes
    ----------
    framework
        The ``--to`` name.
    dest
        The destination folder.
    files
        Paths written, relative to ``dest``, in writing order.
    items
        Item ids exported (training and validation).
    train, val
        Item ids per set, as the framework's file lists hold them.
    skipped
        ``(item id, reason)`` for every item left out (flagged, too short, no voiced frame).
    speakers
        Speaker name -> the id the framework uses.
    todo
        Files the user still has to produce, each with the framework command that does it.
    notes
        Other things to know (differences from the framework's own preprocessing).
    """

    framework: str
    dest: Path
    files: tuple[str, ...]
    items: tuple[str, ...]
    train: tuple[str, ...]
    val: tuple[str, ...]
    skipped: tuple[tuple[str, str], ...]
    speakers: dict[str, Any]
    todo: tuple[str, ...]
    notes: tuple[str, ...] = ()

    def summary(self) -> str:
        """Human-readable multi-line summary (what ``svcprep export`` prints)."""
        lines = [
            f"exported {len(self.items)} items ({len(self.train)} train, {len(self.val)} val) of "
            f"{len(self.speakers)} speakers for {self.framework} into {self.dest}: {len(self.files)} files",
        ]
        if self.skipped:
            lines.append(f"left out {len(self.skipped)} items:")
            lines += [f"  {i}: {why}" for i, why in self.skipped]
        if self.todo:
            lines.append("still to produce:")
            lines += [f"  - {t}" for t in self.todo]
        if self.notes:
            lines.append("notes:")
            lines += [f"  - {n}" for n in self.notes]
        return "\n".join(lines)


_UNSAFE = re.compile(r"[^A-Za-z0-9_-]+")


def safe_name(text: str) -> str:
    """A file-name-safe form of an item id or speaker name: ``[A-Za-z0-9_-]`` only, no dots.

    ``+`` becomes ``p`` (so ``~pitch+2`` and ``~pitch-2`` stay apart), every other run of
    unsafe characters one ``_``. Frameworks split names at the first dot (RVC), so dots go.
    """
    out = _UNSAFE.sub("_", text.replace("+", "p")).strip("_")
    return out or "item"


def unique_names(keys: Iterable[str]) -> dict[str, str]:
    """Map each key to :func:`safe_name`, adding a short hash where two keys would collide."""
    keys = sorted(set(keys))
    base = {k: safe_name(k) for k in keys}
    count: dict[str, int] = {}
    for v in base.values():
        count[v.lower()] = count.get(v.lower(), 0) + 1
    out = {}
    for k, v in base.items():
        if count[v.lower()] > 1:
            v = f"{v}_{hashlib.sha1(k.encode()).hexdigest()[:8]}"
        out[k] = v
    return out


@dataclass
class ExportItem:
    """One item to export: its arrays, record and the names the framework sees."""

    id: str
    speaker: str
    split: str  # "train" or "val"
    name: str
    arrays: dict[str, npt.NDArray[Any]]
    record: Record

    @property
    def audio(self) -> npt.NDArray[np.float32]:
        """float32 mono audio at the dataset rate."""
        return np.asarray(self.arrays["audio"], dtype=np.float32)


@dataclass
class ExportJob:
    """State of one export: the dataset, the destination, the writer and the report being built."""

    ds: Dataset
    framework: str
    dest: Path
    encoder: Encoder | None
    items: list[ExportItem]
    speakers: dict[str, str]  # speaker -> safe folder name
    skipped: list[tuple[str, str]] = field(default_factory=list)
    todo: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    files: list[str] = field(default_factory=list)
    speaker_ids: dict[str, Any] = field(default_factory=dict)

    # ---- writing -------------------------------------------------------------------------

    def _path(self, rel: str) -> Path:
        p = self.dest / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        return p

    def write_bytes(self, rel: str, data: bytes) -> None:
        """Write a file atomically (temporary name in the same folder, then rename)."""
        try:
            atomic_write_bytes(self._path(rel), data, fsync=False)
        except OSError as err:
            raise StoreError(f"cannot write {self.dest / rel}: {err.strerror or err}") from None
        self.files.append(rel)

    def write_text(self, rel: str, text: str) -> None:
        """Write UTF-8 text atomically."""
        self.write_bytes(rel, text.encode("utf-8"))

    def write_npy(self, rel: str, arr: npt.ArrayLike) -> None:
        """Write a ``.npy`` file atomically; never pickles (object arrays are refused)."""
        a = np.asarray(arr)
        if a.dtype == object:
            raise TypeError(f"refusing to write an object (pickled) array to {rel}")
        buf = io.BytesIO()
        np.save(buf, a, allow_pickle=False)
        self.write_bytes(rel, buf.getvalue())

    def write_wav(self, rel: str, y: npt.ArrayLike, *, sample_rate_hz: int, subtype: str) -> None:
        """Write a WAV file atomically (``svcprep.audio.write_audio``)."""
        from svcprep.audio import write_audio

        try:
            write_audio(self._path(rel), y, sample_rate_hz=sample_rate_hz, subtype=subtype)
        except OSError as err:
            raise StoreError(f"cannot write {self.dest / rel}: {err.strerror or err}") from None
        self.files.append(rel)

    # ---- helpers -------------------------------------------------------------------------

    @property
    def sample_rate(self) -> int:
        """Rate of the dataset's audio."""
        return self.ds.sample_rate

    @property
    def hop_length(self) -> int:
        """Hop of the dataset's frame grid."""
        return self.ds.hop_length

    @property
    def mel_config(self) -> dict[str, Any]:
        """The ``mel`` section of the build config."""
        return dict(self.ds.config.get("mel", {}))

    def iter_items(self) -> Iterator[ExportItem]:
        """The selected items, training first, in id order."""
        yield from self.items

    def skip(self, item: ExportItem, reason: str) -> None:
        """Leave an item out (it is removed from the item list by :meth:`keep`)."""
        self.skipped.append((item.id, reason))

    def keep(self, predicate: Any) -> None:
        """Keep the items for which ``predicate(item)`` returns None; skip the others with its reason."""
        kept = []
        for it in self.items:
            why = predicate(it)
            if why is None:
                kept.append(it)
            else:
                self.skip(it, why)
        self.items = kept

    def content(self, item: ExportItem) -> npt.NDArray[np.float32] | None:
        """The encoder's units of an item's 16 kHz audio, or None without an encoder."""
        if self.encoder is None:
            return None
        return encode(self.encoder, self.audio_16k(item))

    def audio_16k(self, item: ExportItem) -> npt.NDArray[np.float32]:
        """The item's audio resampled to 16 kHz (cached on the item)."""
        cached = item.arrays.get("_audio_16k")
        if cached is None:
            from svcprep.dsp.resample import resample

            cached = resample(item.audio, orig_sr_hz=self.sample_rate, target_sr_hz=16000)
            item.arrays["_audio_16k"] = cached
        return np.asarray(cached, dtype=np.float32)

    def report(self) -> ExportReport:
        """The finished report."""
        train = tuple(i.id for i in self.items if i.split == "train")
        val = tuple(i.id for i in self.items if i.split == "val")
        return ExportReport(
            framework=self.framework,
            dest=self.dest,
            files=tuple(self.files),
            items=tuple(i.id for i in self.items),
            train=train,
            val=val,
            skipped=tuple(self.skipped),
            speakers=dict(self.speaker_ids),
            todo=tuple(self.todo),
            notes=tuple(self.notes),
        )


def check_dest(dest: Path, *, overwrite: bool) -> None:
    """Refuse a destination that is a file, or a non-empty folder unless ``overwrite``."""
    if dest.exists() and not dest.is_dir():
        raise StoreError(f"export destination {dest} exists and is not a folder")
    if dest.is_dir() and not overwrite:
        try:
            has_entries = next(os.scandir(dest), None) is not None
        except OSError as err:
            raise StoreError(f"cannot read the export destination {dest}: {err.strerror or err}") from None
        if has_entries:
            raise StoreError(
                f"export destination {dest} is not empty: choose an empty or new folder, or pass "
                "--overwrite to replace the files the export writes (other files are left alone)"
            )
    try:
        dest.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise StoreError(f"cannot create the export destination {dest}: {err.strerror or err}") from None


def check_grid(
    ds: Dataset, framework: str, *, frame_count: str, preset: str, rates: Iterable[int] = ()
) -> None:
    """Raise :class:`ConfigError` unless the dataset's frame grid is what ``framework`` needs."""
    cfg = ds.config
    have = cfg.get("features", {}).get("frame_count", "centered")
    sr, hop = ds.sample_rate, ds.hop_length
    problems = []
    if have != frame_count:
        problems.append(f"frame_count {have!r} where {framework} needs {frame_count!r}")
    allowed = tuple(rates)
    if allowed and sr not in allowed:
        problems.append(f"sample rate {sr} Hz where {framework} needs one of {', '.join(map(str, allowed))}")
    if framework == "rvc" and hop * 100 != sr:
        problems.append(
            f"hop {hop} ({1000 * hop / sr:.3g} ms) where RVC's F0 grid is 10 ms (hop {sr // 100})"
        )
    if problems:
        raise ConfigError(
            f"the dataset in {ds.root} (version {ds.version}) does not fit {framework}: "
            + "; ".join(problems)
            + f". Rebuild it with `svcprep build RAW OUT --preset {preset}`"
        )


def frames_ok(item: ExportItem, ds: Dataset) -> str | None:
    """None if every frame array has the grid's frame count, else the reason to skip the item."""
    convention = ds.config.get("features", {}).get("frame_count", "centered")
    n = num_frames(item.audio.size, hop_length=ds.hop_length, convention=convention)
    counts = {k: int(np.shape(item.arrays[k])[0]) for k in ("f0", "uv", "volume", "mel")}
    bad = {k: c for k, c in counts.items() if c != n}
    if bad:
        return f"frame counts {bad} differ from the grid's {n} frames"
    return None
