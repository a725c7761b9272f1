"""README tables generated from the code: the flag vocabulary and the manifest record schema.

``python -m svcprep.docs README.md`` rewrites the text between each pair of markers
``<!-- generated:NAME -->`` ... ``<!-- /generated:NAME -->``; a test checks that the
README holds exactly what this module generates, so the documentation cannot drift from
:class:`svcprep.quality.flags.FlagName` and :mod:`svcprep.records`.
"""

from __future__ import annotations

import dataclasses
import re
import sys
from collections.abc import Callable
from pathlib import Path

from svcprep.quality.flags import FlagName
from svcprep.records import MANIFEST_SCHEMA_VERSION, FileRecord, ItemRecord, PieceRecord, Record, SourceRecord

__all__ = ["flag_table", "record_table", "render", "sections"]

_ORIGINS = {
    "input": "discovery / loader",
    "quality": "quality scan",
    "validation": "feature validation",
    "build": "a failed stage",
}

_FIELD_DOCS = {
    "schema_version": f"record layout version ({MANIFEST_SCHEMA_VERSION}; absent in manifests of 0.1.0, "
    "read as 1)",
    "kind": "`item`, `source` (a whole input), `piece` (a dropped piece) or `file` (a skipped file)",
    "id": "`<source>#NNN` for the N-th segment of a source, `<source>#NNN~pitch+2` / `~stretch0.9` for "
    "variants, `<source>#droppedNNN` for a dropped piece, the source path for a source or file record",
    "source": "path relative to `RAW`, `/`-separated (non-UTF-8 bytes shown as `\\xNN`)",
    "speaker": "the speaker folder",
    "status": "`ok` (in the dataset), `error` (could not be read or processed), `dropped` (left out on "
    "purpose: too short, silent), `skipped` (not audio)",
    "error": "the reason, or null",
    "flags": "sorted flag names (see the flag table)",
    "flag_details": "per flag: `metric`, `value`, `threshold`, `detail` (and `duplicate_of`, `offset_s` for "
    "duplicates)",
    "metrics": "measurements: `peak_dbfs`, `rms_dbfs`, `loudness_lufs`, `snr_db`, `bandwidth_hz`, "
    "`clip_ratio`, `active_ratio`, `voiced_ratio`, `octave_jumps`, `f0_p5_hz`, `f0_median_hz`, "
    "`f0_p95_hz`, `source_sample_rate_hz`, `channels`, ...",
    "start_s": "start in the source, seconds at the dataset rate",
    "end_s": "end in the source, seconds",
    "duration_s": "the record's own duration, seconds",
    "variant_of": "the id of the item a variant was made from, else null",
    "variant": "`{pitch_shift_semitones: 2.0}` or `{time_stretch_rate: 0.9}` for a variant, else null",
    "sample_rate_hz": "the item's rate",
    "n_samples": "samples of the item's audio",
    "n_frames": "frames of every frame-level array",
    "split": "`train`, `val` or `excluded` (flagged, by the `[split]` policy); set once by the build, for "
    "`ok` items",
    "duplicate_of": "for a duplicate: the item it duplicates (present only then)",
}

_KINDS: tuple[type[Record], ...] = (ItemRecord, SourceRecord, PieceRecord, FileRecord)


def flag_table() -> str:
    """Markdown table of every flag: name, what sets it, meaning."""
    lines = ["| flag | set by | meaning |", "|---|---|---|"]
    for f in FlagName:
        lines.append(f"| `{f.value}` | {_ORIGINS[f.origin]} | {f.doc} |")
    return "\n".join(lines)


def record_table() -> str:
    """Markdown table of the record fields and which kinds carry them."""
    order = ["schema_version", "kind"]
    for cls in _KINDS:
        for fld in dataclasses.fields(cls):
            if fld.name not in order:
                order.append(fld.name)
    lines = ["| field | item | source | piece | file | meaning |", "|---|:-:|:-:|:-:|:-:|---|"]
    for name in order:
        marks = []
        for cls in _KINDS:
            has = name in ("schema_version", "kind") or name in cls._field_names()
            marks.append("✓" if has else "")
        lines.append(f"| `{name}` | " + " | ".join(marks) + f" | {_FIELD_DOCS.get(name, '')} |")
    return "\n".join(lines)


def sections() -> dict[str, str]:
    """Generated README sections by marker name."""
    return {"flags": flag_table(), "records": record_table()}


def _replacer(body: str) -> Callable[[re.Match[str]], str]:
    def replace(m: re.Match[str]) -> str:
        return m.group(1) + body + "\n" + m.group(2)

    return replace


def render(text: str) -> str:
    """``text`` with every generated section replaced by what this module generates now."""
    for name, body in sections().items():
        pattern = re.compile(
            rf"(<!-- generated:{name} -->\n)(?:.*?\n)?(<!-- /generated:{name} -->)", flags=re.DOTALL
        )
        if not pattern.search(text):
            raise ValueError(f"no <!-- generated:{name} --> ... <!-- /generated:{name} --> markers")
        text = pattern.sub(_replacer(body), text)
    return text


def main(argv: list[str] | None = None) -> int:
    """Rewrite the generated sections of the README files named in ``argv``."""
    for arg in argv if argv is not None else sys.argv[1:]:
        path = Path(arg)
        path.write_text(render(path.read_text(encoding="utf-8")), encoding="utf-8")
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
