"""Export a built dataset into the folder layout of an SVC training framework.

``export_dataset(out, "rvc", dest)`` reads the dataset built in ``out`` and writes the
files the framework's own preprocessing would write (wavs, F0, volume, mel, file lists,
speaker maps) into ``dest``. Every file is written under a temporary name and renamed,
so a failed export never leaves a half-written file. Items the quality manifest flags
are left out unless included. The returned :class:`ExportReport` lists the files, the
items left out and why, and what the user still has to produce (content units need an
encoder the user supplies; see :mod:`svcprep.export.content`).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable
from pathlib import Path

from svcprep.errors import ConfigError
from svcprep.export.common import (
    ExportItem,
    ExportJob,
    ExportReport,
    check_dest,
    frames_ok,
    item_name,
    safe_name,
    unique_names,
)
from svcprep.export.content import Encoder, load_encoder

__all__ = ["FRAMEWORKS", "ExportReport", "export_dataset", "load_encoder"]


def _exporters() -> dict[str, Callable[[ExportJob], None]]:
    from svcprep.export.ddsp import export_ddsp
    from svcprep.export.diffsinger import export_diffsinger
    from svcprep.export.diffsvc import export_diffsvc
    from svcprep.export.rvc import export_rvc
    from svcprep.export.sovits import export_sovits

    return {
        "rvc": export_rvc,
        "sovits": export_sovits,
        "ddsp": export_ddsp,
        "diff-svc": export_diffsvc,
        "diffsinger": export_diffsinger,
    }


#: The ``--to`` names.
FRAMEWORKS: tuple[str, ...] = ("rvc", "sovits", "ddsp", "diff-svc", "diffsinger")


def export_dataset(
    out: str | Path,
    framework: str,
    dest: str | Path,
    *,
    version: str | None = None,
    encoder: str | Encoder | None = None,
    include_flags: Iterable[str] = (),
    exclude_flags: Iterable[str] | None = None,
    val_items_per_speaker: int | None = None,
    overwrite: bool = False,
    name: str | None = None,
) -> ExportReport:
    """Write the dataset built in ``out`` in ``framework``'s layout into ``dest``.

    Parameters
    ----------
    out
        Output folder of ``svcprep build``.
    framework
        One of :data:`FRAMEWORKS`: ``rvc``, ``sovits``, ``ddsp``, ``diff-svc``, ``diffsinger``.
    dest
        Destination folder; created if missing. It must be empty unless ``overwrite``.
    version
        Dataset version to export (``svcprep versions OUT``); None = the latest.
    encoder
        Content encoder: ``"module:function"``, a path to an ``.onnx`` model, or a callable
        ``f(audio_16k) -> (frames, dims)``. None leaves the content-feature files to the
        framework's own command (the report says which).
    include_flags
        Flags that no longer exclude an item, on top of the build's ``[split]`` policy
        (e.g. ``["channel_cancellation"]``).
    exclude_flags
        Flags that exclude an item too, on top of the build's policy (``["all"]``: every
        flag). None (default) = the build's policy as it is. An export never re-admits an
        item the build's policy left out unless its flags are in ``include_flags``.
    val_items_per_speaker
        Validation items per speaker; None (default) = the build's.

    With none of ``include_flags``, ``exclude_flags`` and ``val_items_per_speaker`` given,
    the export uses exactly the split the build stored in the manifest
    (:meth:`svcprep.Dataset.split`); any of them recomputes it by the same rule.
    overwrite
        Write into a non-empty ``dest``, replacing the files the export writes; other
        files there are left alone.
    name
        Experiment / model name where the framework wants one (RVC's ``logs/<name>``,
        the paths in its filelist and the printed training command); None = the
        destination folder's name, made file-name safe.

    Returns
    -------
    ExportReport
        Files written, items exported and skipped with reasons, what is left to do.

    Raises
    ------
    ConfigError
        Unknown framework, a bad encoder spec, an encoder returning a wrong shape, or a
        dataset whose frame grid does not fit the framework (the message names the preset
        to rebuild with).
    StoreError
        ``out`` is not a built dataset, ``dest`` is not empty, or a write failed.
    """
    exporters = _exporters()
    if framework not in exporters:
        raise ConfigError(f"unknown framework {framework!r}: use one of {', '.join(FRAMEWORKS)}")
    if val_items_per_speaker is not None and (
        isinstance(val_items_per_speaker, bool)
        or not isinstance(val_items_per_speaker, int)
        or (val_items_per_speaker < 0)
    ):
        raise ConfigError(f"val_items_per_speaker={val_items_per_speaker!r} must be a whole number >= 0")
    from svcprep.quality.flags import parse_flag_names

    try:
        include = parse_flag_names(include_flags, what="--include")
        exclude = (
            None
            if exclude_flags is None
            else parse_flag_names(exclude_flags, what="--exclude", allow_all=True)
        )
    except ValueError as err:
        raise ConfigError(str(err)) from None
    enc = load_encoder(encoder) if encoder is not None else None
    from svcprep.store.reader import open_dataset

    ds = open_dataset(out, version)
    if exclude is not None or include:
        exclude, include = _policy(ds.config.get("split", {}), exclude, include)
    split = ds.split(
        val_items_per_speaker=val_items_per_speaker,
        exclude_flags=exclude,
        include_flags=include if exclude is not None else None,
    )
    dest_p = Path(dest)
    experiment = safe_name(name if name is not None else dest_p.resolve().name)
    if name is not None and experiment != name:
        raise ConfigError(f"--name {name!r}: use only letters, digits, '_' and '-' (e.g. {experiment!r})")
    created = check_dest(dest_p, overwrite=overwrite)
    chosen = [(i, "train") for i in split.train] + [(i, "val") for i in split.val]
    names = unique_names((i for i, _ in chosen), stem=item_name)
    folders = unique_names({ds.record(i).speaker for i, _ in chosen})
    job = ExportJob(ds=ds, framework=framework, dest=dest_p, encoder=enc, items=[], speakers=folders)
    job.experiment = experiment
    for item_id in split.excluded:
        flags = ds.record(item_id).flags
        job.skip(
            item_id,
            f"flagged ({', '.join(flags)}); include it with --include FLAG",
            counted_as=[f"flagged {f} (--include {f})" for f in flags] or ["excluded by the split"],
        )
    for item_id, which in chosen:
        rec = ds.record(item_id)
        arrays = dict(ds.arrays(item_id).items())
        job.items.append(ExportItem(item_id, rec.speaker, which, names[item_id], arrays, rec))
    try:
        job.keep(lambda it: frames_ok(it, ds))
        exporters[framework](job)
        job.commit()
    except BaseException:
        job.abort()
        if created:
            _remove_empty_tree(dest_p)
        raise
    return job.report()


def _policy(
    stored: dict[str, object], exclude: tuple[str, ...] | None, include: tuple[str, ...]
) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """The build's ``[split]`` flags adjusted by an export's ``--exclude`` / ``--include``."""
    from svcprep.config import SplitConfig

    base = SplitConfig.model_validate(stored) if stored else SplitConfig()
    ex = set(base.exclude_flags) | set(exclude or ())
    inc = (set(base.include_flags) - set(exclude or ())) | set(include)
    both = set(exclude or ()) & set(include)
    if both:
        raise ConfigError(
            f"flag(s) {', '.join(sorted(both))} given to both --exclude and --include: choose one"
        )
    if "all" in ex:
        return ("all",), tuple(sorted(inc))
    return tuple(sorted(ex - inc)), tuple(sorted(inc))


def _remove_empty_tree(path: Path) -> None:
    """Remove ``path`` and the empty folders below it; leave anything holding a file."""
    import os

    if not path.is_dir():
        return
    for root, _dirs, _files in os.walk(path, topdown=False):
        with contextlib.suppress(OSError):
            os.rmdir(root)
