"""Deterministic train/validation splits by speaker that keep flagged items out of training."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from svcprep.store.keys import digest_bytes

__all__ = ["Split", "split_records"]


@dataclass(frozen=True)
class Split:
    """Item ids of the training and validation sets, and the flagged items left out of both."""

    train: tuple[str, ...]
    val: tuple[str, ...]
    excluded: tuple[str, ...]


def _excluded(flags: Sequence[str], exclude: set[str] | None, include: set[str]) -> bool:
    for f in flags:
        if f in include:
            continue
        if exclude is None or f in exclude:
            return True
    return False


def split_records(
    records: Iterable[Mapping[str, Any]],
    *,
    val_items_per_speaker: int = 2,
    val_fraction: float | None = None,
    seed: int = 0,
    exclude_flags: Iterable[str] | None = None,
    include_flags: Iterable[str] = (),
) -> Split:
    """Split the ``ok`` items of a manifest into training and validation sets.

    Items are grouped with their augmentation variants (a variant always lands in the
    split of the item it was made from, so validation never hears a shifted copy of a
    training item). Per speaker, groups are ordered by a hash of ``seed`` and the group
    id, and the first ones go to validation: the choice does not depend on the order
    of the records or on which other items exist.

    Parameters
    ----------
    records
        Manifest records (``svcprep.open(out).manifest``).
    val_items_per_speaker
        Validation groups per speaker (ignored when ``val_fraction`` is given). A
        speaker with a single group keeps it for training.
    val_fraction
        Share of each speaker's groups for validation instead (rounded, at least 1 when
        the speaker has 2 or more groups).
    seed
        Changes which items are chosen.
    exclude_flags
        Flags that keep an item out of both sets; None (the default) means every flag.
    include_flags
        Flags that never exclude an item (e.g. ``["channel_cancellation"]``).
    """
    exclude = None if exclude_flags is None else set(exclude_flags)
    include = set(include_flags)
    groups: dict[str, dict[str, list[str]]] = defaultdict(lambda: defaultdict(list))
    excluded: list[str] = []
    for r in records:
        if r.get("status") != "ok" or r.get("kind", "item") != "item":
            continue
        if _excluded(r.get("flags", ()), exclude, include):
            excluded.append(r["id"])
            continue
        gid = r.get("variant_of") or r["id"]
        groups[r["speaker"]][gid].append(r["id"])
    train: list[str] = []
    val: list[str] = []
    for _speaker, by_group in sorted(groups.items()):
        order = sorted(by_group, key=lambda g: digest_bytes(f"{seed}\x00{g}"))
        if val_fraction is not None:
            n_val = max(1, round(val_fraction * len(order))) if len(order) >= 2 else 0
        else:
            n_val = min(val_items_per_speaker, len(order) - 1) if len(order) >= 2 else 0
        for i, g in enumerate(order):
            (val if i < n_val else train).extend(by_group[g])
    return Split(tuple(sorted(train)), tuple(sorted(val)), tuple(sorted(excluded)))
