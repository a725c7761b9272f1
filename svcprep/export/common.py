"""What every framework exporter shares: the report, atomic file writes, item selection and names."""

from __future__ import annotations

import hashlib
import io
import math
import os
import re
import shutil
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

import numpy as np
import numpy.typing as npt

from svcprep.dsp.frames import num_frames
from svcprep.errors import ConfigError, StoreError
from svcprep.export.content import Encoder, encode
from svcprep.records import Record
from svcprep.store.atomic import atomic_write_bytes
from svcprep.store.reader import Dataset

__all__ = ["ExportItem", "ExportJob", "ExportReport", "item_name", "safe_name", "unique_names", "yaml_text"]


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
    skipped_counts
        ``(reason, items)`` per reason, most common first; a flagged item counts once
        under each of its flags (``"flagged clipping"``).
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
    skipped_counts: tuple[tuple[str, int], ...] = ()
    next_steps: tuple[str, ...] = ()

    def summary(self) -> str:
        """Human-readable multi-line summary (what ``svcprep export`` prints).

        Left-out items are counted per reason (one line each), not listed one by one;
        :attr:`skipped` has every id.
        """
        lines = [
            f"exported {len(self.items)} items ({len(self.train)} train, {len(self.val)} val) of "
            f"{len(self.speakers)} speakers for {self.framework} into {self.dest}: {len(self.files)} files",
        ]
        if self.skipped:
            lines.append(f"left out {len(self.skipped)} items (ids in the report's `skipped`):")
            lines += [f"  {n:5d}  {why}" for why, n in self.skipped_counts]
        if self.todo:
            lines.append("still to produce:")
            lines += [f"  - {t}" for t in self.todo]
        if self.notes:
            lines.append("notes:")
            lines += [f"  - {n}" for n in self.notes]
        if self.next_steps:
            lines.append("next:")
            lines += [f"  {c}" for c in self.next_steps]
        return "\n".join(lines)


_UNSAFE = re.compile(r"[^A-Za-z0-9_-]+")
#: Longest name stem an export writes (the rest of 255 bytes is left for suffixes and temporaries).
MAX_STEM = 120


def safe_name(text: str) -> str:
    """A file-name-safe form of an item id or speaker name: ``[A-Za-z0-9_-]`` only, no dots.

    ``+`` becomes ``p`` (so ``~pitch+2`` and ``~pitch-2`` stay apart), every other run of
    unsafe characters one ``_``. Frameworks split names at the first dot (RVC), so dots go,
    and ``wav`` becomes ``wv``: RVC's feature step names its output
    ``name.replace("wav", "npy")``, which would rename any name containing ``wav``.
    """
    out = _UNSAFE.sub("_", text.replace("+", "p")).strip("_").replace("wav", "wv")
    if len(out) > MAX_STEM:  # file names are limited to 255 bytes, and exporters add suffixes
        digest = hashlib.blake2b(text.encode("utf-8", "surrogateescape"), digest_size=5).hexdigest()
        out = f"{out[: MAX_STEM - 11]}_{digest}"
    return out or "item"


def item_name(item_id: str) -> str:
    """The file name stem of an item: its id without the source's audio extension, made safe.

    ``alice/lullaby.wav#001~pitch+2`` -> ``alice_lullaby_001_pitchp2``.
    """
    from svcprep.sources import AUDIO_EXTENSIONS

    src, sep, rest = item_id.partition("#")
    path = PurePosixPath(src)
    if path.suffix.lower() in AUDIO_EXTENSIONS:
        src = str(path.with_suffix(""))
    return safe_name(f"{src}_{rest}" if sep else src)


def unique_names(keys: Iterable[str], *, stem: Any = safe_name) -> dict[str, str]:
    """Map each key to ``stem(key)``, adding a short hash where two keys would collide.

    Names are compared case-insensitively (case-insensitive file systems).
    """
    keys = sorted(set(keys))
    base = {k: stem(k) for k in keys}
    count: dict[str, int] = {}
    for v in base.values():
        count[v.lower()] = count.get(v.lower(), 0) + 1
    out = {}
    for k, v in base.items():
        if count[v.lower()] > 1:
            v = f"{v}_{hashlib.sha1(k.encode()).hexdigest()[:8]}"
        out[k] = v
    return out


@dataclass(frozen=True)
class Augmentation:
    """One item's volume / key-shift augmentation (:meth:`ExportJob.augmentation`)."""

    log10_gain: float
    keyshift_semitones: float
    mel: npt.NDArray[np.float32]
    volume: npt.NDArray[np.float32]


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
    experiment: str = "svcprep"  # experiment / model name (RVC's logs/<name>)
    skipped: list[tuple[str, str]] = field(default_factory=list)
    todo: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    files: list[str] = field(default_factory=list)
    speaker_ids: dict[str, Any] = field(default_factory=dict)
    skip_reasons: Counter[str] = field(default_factory=Counter)
    next_steps: list[str] = field(default_factory=list)
    staging: Path | None = None

    # ---- writing -------------------------------------------------------------------------
    #
    # Every file goes to a hidden staging folder inside ``dest`` first; :meth:`commit`
    # moves them into place once the exporter has finished, and :meth:`abort` removes the
    # staging folder, so a failed export leaves nothing behind.

    def _root(self) -> Path:
        if self.staging is None:
            import tempfile

            try:
                self.staging = Path(tempfile.mkdtemp(prefix=".svcprep-export-", dir=self.dest))
            except OSError as err:
                raise StoreError(f"cannot write into {self.dest}: {err.strerror or err}") from None
        return self.staging

    def _path(self, rel: str) -> Path:
        p = self._root() / rel
        try:
            p.parent.mkdir(parents=True, exist_ok=True)
        except OSError as err:
            raise StoreError(f"cannot write {self.dest / rel}: {err.strerror or err}") from None
        return p

    def write_bytes(self, rel: str, data: bytes) -> None:
        """Write a file (staged; in place once the export has finished)."""
        try:
            atomic_write_bytes(self._path(rel), data, fsync=False)
        except OSError as err:
            raise StoreError(f"cannot write {self.dest / rel}: {err.strerror or err}") from None
        self.files.append(rel)

    def staged(self, rel: str) -> Path:
        """Where a file written by this export is until :meth:`commit` (to read it back)."""
        return self._root() / rel

    def commit(self) -> None:
        """Move every staged file into ``dest`` (replacing files of the same name)."""
        if self.staging is None:
            return
        try:
            for rel in dict.fromkeys(self.files):
                target = self.dest / rel
                _no_links_between(self.dest, target.parent)
                target.parent.mkdir(parents=True, exist_ok=True)
                os.replace(self.staging / rel, target)  # replaces a link at target, never follows it
        except OSError as err:
            raise StoreError(f"cannot move the export into {self.dest}: {err.strerror or err}") from None
        shutil.rmtree(self.staging, ignore_errors=True)
        self.staging = None

    def abort(self) -> None:
        """Remove everything staged (after a failure)."""
        if self.staging is not None:
            shutil.rmtree(self.staging, ignore_errors=True)
            self.staging = None

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
        except (OSError, RuntimeError) as err:  # libsndfile's errors are RuntimeErrors
            why = getattr(err, "strerror", None) or err
            raise StoreError(f"cannot write {self.dest / rel}: {why}") from None
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

    @property
    def build_config(self) -> Any:
        """The dataset's build config as a :class:`svcprep.config.BuildConfig`."""
        from svcprep.config import BuildConfig

        cfg = self.ds.config
        return BuildConfig.model_validate({k: v for k, v in cfg.items() if k != "schema_version"})

    def augmentation(self, item: ExportItem, *, pitch_shift: bool) -> Augmentation:
        """The random volume / key-shift augmentation of one item, as NSF-HiFiGAN trainers make it.

        so-vits-svc 4.1 shallow diffusion and DDSP-SVC 6.x draw, per file, a volume gain
        ``10 ** g`` with ``g ~ U(-1, min(1, log10(1 / (peak + 1e-5))))`` (so the louder
        copy never clips), then a key shift ``k ~ U(-5, 5)`` semitones (0 without pitch
        augmentation), and store the mel of the gained audio shifted by ``k``
        (:func:`svcprep.dsp.mel.log_mel` with ``keyshift_semitones``) and its volume.
        The draws come from a generator seeded by the item id, so an export is
        reproducible. The mel has the dataset mel's frame count (cut to ``len // hop``
        where the framework's mel has no extra frame: the caller cuts), the volume the
        grid's.
        """
        from svcprep.stages import run_mel, run_volume

        cfg = self.build_config
        y = item.audio
        seed = int.from_bytes(hashlib.sha256(f"aug:{item.id}".encode()).digest()[:8], "little")
        rng = np.random.default_rng(seed)
        peak = float(np.max(np.abs(y))) if y.size else 0.0
        top = min(1.0, math.log10(1.0 / (peak + 1e-5)))
        log10_gain = float(rng.uniform(-1.0, top))
        keyshift = float(rng.uniform(-5.0, 5.0)) if pitch_shift else 0.0
        gained = (y.astype(np.float64) * 10.0**log10_gain).astype(np.float32)
        n_mel = int(np.shape(item.arrays["mel"])[0])
        n_vol = int(np.shape(item.arrays["volume"])[0])
        mel = run_mel(gained, cfg, n_mel, keyshift_semitones=keyshift)
        vol = run_volume(gained, cfg, n_vol)
        return Augmentation(
            log10_gain=log10_gain, keyshift_semitones=keyshift, mel=np.asarray(mel, np.float32), volume=vol
        )

    def iter_items(self) -> Iterator[ExportItem]:
        """The selected items, training first, in id order."""
        yield from self.items

    def skip(self, item: ExportItem | str, reason: str, *, counted_as: Iterable[str] | None = None) -> None:
        """Leave an item out (it is removed from the item list by :meth:`keep`).

        ``counted_as`` are the summary's reasons (default: ``reason`` itself).
        """
        item_id = item if isinstance(item, str) else item.id
        self.skipped.append((item_id, reason))
        for why in counted_as if counted_as is not None else (reason,):
            self.skip_reasons[why] += 1

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

    @property
    def has_units(self) -> bool:
        """Whether the export writes content units: an encoder was given, or the dataset stores units."""
        return self.encoder is not None or "units" in self.ds.array_names

    def content(self, item: ExportItem) -> npt.NDArray[np.float32] | None:
        """The item's content units: the given encoder's of its 16 kHz audio, else the units the
        build stored (``content.encoder``), else None."""
        if self.encoder is not None:
            return encode(self.encoder, self.audio_16k(item))
        stored = item.arrays.get("units")
        return None if stored is None else np.asarray(stored, dtype=np.float32)

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
            skipped_counts=tuple(sorted(self.skip_reasons.items(), key=lambda kv: (-kv[1], kv[0]))),
            next_steps=tuple(self.next_steps),
        )


def yaml_text(doc: dict[str, Any], header: Iterable[str] = ()) -> str:
    """``doc`` as block-style YAML in the order given (comment lines from ``header`` first).

    Written with PyYAML's safe dumper, so every framework's ``yaml.safe_load`` /
    ``yaml.load`` reads back exactly ``doc``; non-ASCII text is escaped so the file reads
    the same under any locale.
    """
    import yaml

    lines = [f"# {h}" if h else "#" for h in header]
    body = yaml.safe_dump(doc, sort_keys=False, default_flow_style=False, allow_unicode=False, width=4096)
    return "".join(f"{ln}\n" for ln in lines) + body


def _no_links_between(dest: Path, folder: Path) -> None:
    """Refuse to write through a symlinked folder inside ``dest`` (it would write outside it)."""
    rel = folder.relative_to(dest)
    cur = dest
    for part in rel.parts:
        cur = cur / part
        if cur.is_symlink():
            raise StoreError(
                f"{cur} is a symlink: the export never writes through links inside its destination "
                "(they may lead outside it); remove the link or choose another destination"
            )


def _sweep_staging(dest: Path) -> None:
    """Remove the hidden staging folders that killed exports left in ``dest``."""
    try:
        entries = list(os.scandir(dest))
    except OSError:
        return
    for e in entries:
        if e.name.startswith(".svcprep-export-") and e.is_dir(follow_symlinks=False):
            shutil.rmtree(e.path, ignore_errors=True)


def check_dest(dest: Path, *, overwrite: bool) -> bool:
    """Refuse a destination that is a file, or a non-empty folder unless ``overwrite``.

    Creates the folder if it is missing; returns True when it did (so a failed export can
    remove it again).
    """
    if dest.exists() and not dest.is_dir():
        raise StoreError(f"export destination {dest} exists and is not a folder")
    if dest.is_dir() and overwrite:
        _sweep_staging(dest)
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
    existed = dest.is_dir()
    try:
        dest.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise StoreError(f"cannot create the export destination {dest}: {err.strerror or err}") from None
    return not existed


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
