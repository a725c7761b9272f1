"""Manifest records: one frozen, typed record per item, source, dropped piece and skipped file.

A build describes everything it saw as records, and the manifest (``manifest.jsonl``)
is those records as JSON, one per line, sorted by ``id``. There are four kinds:

- :class:`ItemRecord` (``kind = "item"``): a segment of a source, or an augmentation
  variant of one. ``status = "ok"`` items are the dataset; ``"error"`` items failed.
- :class:`SourceRecord` (``"source"``): a whole input that failed (``error``) or held
  nothing to train on (``dropped``).
- :class:`PieceRecord` (``"piece"``): a piece of a source the slicer left out.
- :class:`FileRecord` (``"file"``): a file that is not audio (``skipped``) or could not
  be opened (``error``).

Each record is also a read-only mapping of its JSON fields (``rec["flags"]``,
``rec.get("split")``), so code written against the plain-dict manifest keeps working.
Every line carries ``schema_version``; a manifest written before it existed (schema 1)
has the same field names and reads unchanged.

The rules "is this an item of the dataset" and "does it train" are defined here once
(:attr:`Record.in_dataset`, :attr:`Record.trains`) and used everywhere else.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal, TypeAlias, get_args

from svcprep.errors import StoreError
from svcprep.quality.flags import FLAG_NAMES

__all__ = [
    "MANIFEST_SCHEMA_VERSION",
    "FileRecord",
    "ItemRecord",
    "Kind",
    "PieceRecord",
    "Record",
    "SourceRecord",
    "SplitName",
    "Status",
    "dataset_items",
    "originals",
    "record_from_dict",
    "records_from_jsonl",
    "records_to_jsonl",
]

#: Version of the record layout written to every manifest line (absent = 1).
MANIFEST_SCHEMA_VERSION = 2

Status: TypeAlias = Literal["ok", "error", "dropped", "skipped"]
Kind: TypeAlias = Literal["item", "source", "piece", "file"]
SplitName: TypeAlias = Literal["train", "val", "excluded"]

_STATUSES = frozenset(get_args(Status))
_SPLITS = frozenset(get_args(SplitName))


def _round(x: float | None) -> float | None:
    return None if x is None else round(float(x), 6)


@dataclass(frozen=True, kw_only=True, eq=False)
class Record(Mapping[str, Any]):
    """Fields every record has (the manifest's field names).

    Attributes
    ----------
    id
        ``<source>#NNN`` for a segment, ``<source>#NNN~pitch+2`` for a variant,
        ``<source>#droppedNNN`` for a dropped piece, the source path otherwise.
    source
        Path relative to the raw folder, ``/``-separated.
    speaker
        The speaker folder ("" for a file outside any).
    status
        ``ok``, ``error``, ``dropped`` or ``skipped``.
    error
        Why the record is not ``ok`` (None when it is).
    flags
        Sorted names from :class:`svcprep.quality.flags.FlagName`.
    flag_details
        Per flag: ``metric``, ``value``, ``threshold``, ``detail`` (and ``duplicate_of``,
        ``offset_s`` for duplicates).
    metrics
        Measurements (``peak_dbfs``, ``snr_db`` ...).
    start_s, end_s, duration_s
        Position in the source and length, in seconds at the dataset rate.
    variant_of
        The item a variant was made from, else None.
    """

    kind: ClassVar[Kind]
    _allowed_status: ClassVar[frozenset[str]] = _STATUSES

    id: str
    source: str
    speaker: str
    status: Status
    error: str | None = None
    flags: tuple[str, ...] = ()
    flag_details: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    metrics: Mapping[str, Any] = field(default_factory=dict)
    start_s: float | None = None
    end_s: float | None = None
    duration_s: float | None = None
    variant_of: str | None = None

    def __post_init__(self) -> None:
        if self.status not in self._allowed_status:
            raise ValueError(
                f"record {self.id!r}: status {self.status!r} is not one of {sorted(self._allowed_status)} "
                f"for a {self.kind} record"
            )
        flags = tuple(sorted({str(f) for f in self.flags}))
        unknown = [f for f in flags if f not in FLAG_NAMES]
        if unknown:
            raise ValueError(
                f"record {self.id!r}: unknown flags {unknown} (see svcprep.quality.flags.FlagName)"
            )
        object.__setattr__(self, "flags", flags)
        for name in ("start_s", "end_s", "duration_s"):
            object.__setattr__(self, name, _round(getattr(self, name)))

    # -- the rules, defined once ----------------------------------------------------------

    @property
    def in_dataset(self) -> bool:
        """An item of the dataset: ``kind == "item"`` and ``status == "ok"``."""
        return False

    @property
    def trains(self) -> bool:
        """In the dataset and in the training split."""
        return False

    @property
    def is_variant(self) -> bool:
        """An augmentation variant (``variant_of`` is set)."""
        return self.variant_of is not None

    # -- JSON -----------------------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        """The record as the manifest's JSON object (lists for tuples, no ``None``-only extras)."""
        out: dict[str, Any] = {"schema_version": MANIFEST_SCHEMA_VERSION, "kind": self.kind}
        for f in dataclasses.fields(self):
            if f.name == "extra":
                continue
            v = getattr(self, f.name)
            if f.name in self._optional_keys and v is None:
                continue
            out[f.name] = _plain(v)
        out.update(getattr(self, "extra", {}))
        return out

    _optional_keys: ClassVar[frozenset[str]] = frozenset()

    def replace(self, **changes: Any) -> Record:
        """A copy with ``changes`` applied (records are frozen)."""
        return dataclasses.replace(self, **changes)

    # -- the mapping view -----------------------------------------------------------------

    def _keys(self) -> list[str]:
        return list(self.to_dict())

    def __getitem__(self, key: str) -> Any:
        if key == "kind":
            return self.kind
        if key == "schema_version":
            return MANIFEST_SCHEMA_VERSION
        if key in self._field_names():
            v = getattr(self, key)
            if v is None and key in self._optional_keys:
                raise KeyError(key)
            return _plain(v)
        extra = getattr(self, "extra", {})
        if key in extra:
            return extra[key]
        raise KeyError(key)

    def get(self, key: str, default: Any = None) -> Any:
        """``rec[key]``, or ``default`` when the record has no such field."""
        try:
            return self[key]
        except KeyError:
            return default

    def __iter__(self) -> Iterator[str]:
        return iter(self._keys())

    def __len__(self) -> int:
        return len(self._keys())

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str) and self.get(key, _MISSING) is not _MISSING

    @classmethod
    def _field_names(cls) -> frozenset[str]:
        names = cls.__dict__.get("_names")
        if names is None:
            names = frozenset(f.name for f in dataclasses.fields(cls) if f.name != "extra")
            cls._names = names  # type: ignore[attr-defined]
        return names


_MISSING = object()


def _plain(v: Any) -> Any:
    if isinstance(v, tuple):
        return [_plain(x) for x in v]
    if isinstance(v, Mapping) and not isinstance(v, dict):
        return {k: _plain(x) for k, x in v.items()}
    return v


@dataclass(frozen=True, kw_only=True, eq=False)
class ItemRecord(Record):
    """A segment of a source, or an augmentation variant of one.

    Attributes
    ----------
    variant
        ``{"pitch_shift_semitones": 2.0}`` or ``{"time_stretch_rate": 0.9}`` for a variant.
    sample_rate_hz, n_samples, n_frames
        The item's rate, length and frame count on the dataset's grid.
    split
        ``train``, ``val`` or ``excluded`` for ``ok`` items (None for failed ones).
    duplicate_of
        For an ``exact_duplicate`` / ``near_duplicate``: the item it duplicates.
    """

    kind: ClassVar[Kind] = "item"
    _allowed_status: ClassVar[frozenset[str]] = frozenset({"ok", "error"})
    _optional_keys: ClassVar[frozenset[str]] = frozenset({"split", "duplicate_of"})

    variant: Mapping[str, float] | None = None
    sample_rate_hz: int | None = None
    n_samples: int = 0
    n_frames: int = 0
    split: SplitName | None = None
    duplicate_of: str | None = None

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.split is not None and self.split not in _SPLITS:
            raise ValueError(f"record {self.id!r}: split {self.split!r} is not one of {sorted(_SPLITS)}")

    @property
    def in_dataset(self) -> bool:
        """An item of the dataset: ``status == "ok"``."""
        return self.status == "ok"

    @property
    def trains(self) -> bool:
        """In the dataset and in the training split."""
        return self.status == "ok" and self.split == "train"


@dataclass(frozen=True, kw_only=True, eq=False)
class SourceRecord(Record):
    """A whole input that failed to load (``error``) or held nothing to train on (``dropped``)."""

    kind: ClassVar[Kind] = "source"
    _allowed_status: ClassVar[frozenset[str]] = frozenset({"error", "dropped"})


@dataclass(frozen=True, kw_only=True, eq=False)
class PieceRecord(Record):
    """A piece of a source left out by the slicer (too short to keep or merge)."""

    kind: ClassVar[Kind] = "piece"
    _allowed_status: ClassVar[frozenset[str]] = frozenset({"dropped"})


@dataclass(frozen=True, kw_only=True, eq=False)
class FileRecord(Record):
    """A file found in the raw folder that is not audio (``skipped``) or cannot be opened (``error``)."""

    kind: ClassVar[Kind] = "file"
    _allowed_status: ClassVar[frozenset[str]] = frozenset({"skipped", "error"})


_BY_KIND: dict[str, type[Record]] = {c.kind: c for c in (ItemRecord, SourceRecord, PieceRecord, FileRecord)}


def record_from_dict(data: Mapping[str, Any]) -> Record:
    """A typed record from one manifest JSON object (schema 1 or 2).

    Raises
    ------
    StoreError
        The object is not a record of a schema this svcprep reads.
    """
    schema = data.get("schema_version", 1)
    if not isinstance(schema, int) or schema > MANIFEST_SCHEMA_VERSION:
        raise StoreError(
            f"manifest record {data.get('id')!r} has schema_version {schema!r}, newer than this svcprep "
            f"reads ({MANIFEST_SCHEMA_VERSION}): upgrade svcprep (pip install -U svcprep)"
        )
    kind = data.get("kind", "item")
    cls = _BY_KIND.get(str(kind))
    if cls is None:
        raise StoreError(f"manifest record {data.get('id')!r} has unknown kind {kind!r}")
    names = cls._field_names()
    values = {k: v for k, v in data.items() if k in names}
    for key in ("flag_details", "metrics"):
        if values.get(key) is None:
            values.pop(key, None)
    if "flags" in values:
        values["flags"] = tuple(values["flags"] or ())
    extra = {k: v for k, v in data.items() if k not in names and k not in ("kind", "schema_version")}
    try:
        rec = cls(**values)
    except (TypeError, ValueError) as err:
        raise StoreError(f"manifest record {data.get('id')!r} is not valid: {err}") from None
    if extra:
        object.__setattr__(rec, "extra", extra)
    return rec


def records_to_jsonl(records: Iterable[Record]) -> str:
    """The manifest text: one JSON object per record (keys sorted, byte-stable), in the given order."""
    lines = []
    for r in records:
        lines.append(json.dumps(r.to_dict(), ensure_ascii=False, allow_nan=False, sort_keys=True))
    return "".join(line + "\n" for line in lines)


def records_from_jsonl(text: str, *, where: str = "manifest") -> list[Record]:
    """Parse manifest text (any schema this svcprep reads) into typed records."""
    out: list[Record] = []
    for n, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            data = json.loads(line)
        except ValueError as err:
            raise StoreError(f"{where} line {n} is not JSON: {err}") from None
        if not isinstance(data, dict):
            raise StoreError(f"{where} line {n} is not a JSON object")
        try:
            out.append(record_from_dict(data))
        except (KeyError, TypeError, ValueError, AttributeError) as err:
            raise StoreError(
                f"{where} line {n} is not a manifest record ({type(err).__name__}: {err})"
            ) from None
    return out


def dataset_items(records: Iterable[Record]) -> list[ItemRecord]:
    """The items of the dataset (:attr:`Record.in_dataset`), in the given order."""
    return [r for r in records if isinstance(r, ItemRecord) and r.in_dataset]


def originals(records: Iterable[Record]) -> list[ItemRecord]:
    """Items of the dataset that are not augmentation variants."""
    return [r for r in dataset_items(records) if not r.is_variant]
