"""Deterministic train/validation splits by speaker that keep flagged items out of training."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from svcprep.store.keys import digest_bytes

__all__ = ["Split", "split_from_config", "split_records", "stored_split"]


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
    """Split the items of a manifest into training and validation sets, flagged ones excluded.

    This is the one split rule: the build computes it from its ``[split]`` config and
    stores it in each record's ``split``; :meth:`svcprep.Dataset.split`, ``svcprep
    export`` and :class:`svcprep.torch.TorchDataset` read that back, and call this only
    when asked for another policy.

    Items are grouped with their augmentation variants: a variant always lands where
    the item it was made from lands (validation never hears a shifted copy of a training
    item, and a variant of an excluded item is excluded too). Per speaker, groups are
    ordered by a hash of ``seed`` and the group id, and the first ones go to validation:
    the choice does not depend on the order of the records or on which other items exist.

    Parameters
    ----------
    records
        Manifest records (``svcprep.open(out).manifest``).
    val_items_per_speaker
        Validation groups per speaker (ignored when ``val_fraction`` is given). A
        speaker with a single group keeps it for training; 0 puts nothing in validation.
    val_fraction
        Share of each speaker's groups for validation instead (rounded, at least 1 when
        the speaker has 2 or more groups).
    seed
        Changes which items are chosen.
    exclude_flags
        Flags that keep an item out of both sets; None (the default) or ``["all"]``
        means every flag.
    include_flags
        Flags that never exclude an item (e.g. ``["channel_cancellation"]``).
    """
    excl = None if exclude_flags is None else list(exclude_flags)
    exclude = None if excl is None or "all" in excl else set(excl)
    include = set(include_flags)
    items = [r for r in records if r.get("status") == "ok" and r.get("kind", "item") == "item"]
    by_id = {r["id"]: r for r in items}
    groups: dict[str, dict[str, list[str]]] = defaultdict(lambda: defaultdict(list))
    excluded: list[str] = []
    for r in items:
        gid = r.get("variant_of") or r["id"]
        head = by_id.get(gid, r)
        flags = {*r.get("flags", ()), *head.get("flags", ())}
        if _excluded(sorted(flags), exclude, include):
            excluded.append(r["id"])
            continue
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


def split_from_config(records: Iterable[Mapping[str, Any]], policy: Any) -> Split:
    """:func:`split_records` with a :class:`svcprep.config.SplitConfig` (the build's ``[split]``)."""
    return split_records(
        records,
        val_items_per_speaker=policy.val_items_per_speaker,
        val_fraction=policy.val_fraction,
        seed=policy.seed,
        exclude_flags=policy.exclude_flags,
        include_flags=policy.include_flags,
    )


def stored_split(records: Iterable[Mapping[str, Any]]) -> Split | None:
    """The split the build stored in the records' ``split`` field (None if a record lacks it)."""
    where: dict[str, list[str]] = {"train": [], "val": [], "excluded": []}
    for r in records:
        if r.get("status") != "ok" or r.get("kind", "item") != "item":
            continue
        s = r.get("split")
        if s not in where:
            return None
        where[s].append(r["id"])
    return Split(*(tuple(sorted(where[k])) for k in ("train", "val", "excluded")))
