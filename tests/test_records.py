"""Typed manifest records, the closed flag vocabulary and the README generated from both."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

import svcprep
from svcprep.cli import main
from svcprep.errors import AudioDecodeError, StoreError
from svcprep.quality.flags import FLAG_DOCS, FlagName, parse_flag_names
from svcprep.records import (
    MANIFEST_SCHEMA_VERSION,
    FileRecord,
    ItemRecord,
    PieceRecord,
    SourceRecord,
    record_from_dict,
    records_from_jsonl,
    records_to_jsonl,
)
from svcprep.testing import sing_phrase

REPO = Path(__file__).resolve().parents[1]


def _item(**kw: object) -> ItemRecord:
    base: dict[str, object] = dict(
        id="ann/a.wav#000", source="ann/a.wav", speaker="ann", status="ok", duration_s=2.5, n_samples=110250
    )
    base.update(kw)
    return ItemRecord(**base)  # type: ignore[arg-type]


def test_records_round_trip_through_the_manifest_text() -> None:
    recs = [
        _item(flags=["clipping", "noisy"], split="excluded", flag_details={"noisy": {"metric": "snr_db"}}),
        _item(id="ann/a.wav#000~pitch+2", variant_of="ann/a.wav#000", variant={"pitch_shift_semitones": 2.0}),
        SourceRecord(id="ann/b.wav", source="ann/b.wav", speaker="ann", status="error", flags=["truncated"]),
        PieceRecord(id="ann/a.wav#dropped000", source="ann/a.wav", speaker="ann", status="dropped"),
        FileRecord(id="ann/x.txt", source="ann/x.txt", speaker="", status="skipped", error="not audio"),
    ]
    text = records_to_jsonl(recs)
    lines = [json.loads(line) for line in text.splitlines()]
    assert all(d["schema_version"] == MANIFEST_SCHEMA_VERSION for d in lines)
    assert [d["kind"] for d in lines] == ["item", "item", "source", "piece", "file"]
    assert "split" not in lines[1] and "duplicate_of" not in lines[0]  # only where they mean something
    back = records_from_jsonl(text)
    assert [type(r) for r in back] == [type(r) for r in recs]
    assert back == recs and records_to_jsonl(back) == text


def test_a_record_reads_like_its_json_object() -> None:
    r = _item(flags=("noisy", "clipping"), split="train")
    assert r.flags == ("clipping", "noisy")  # sorted and unique
    d = r.to_dict()
    assert r["flags"] == ["clipping", "noisy"] and r.get("split") == "train"
    assert dict(r) == d and r == d and d == r
    assert "duplicate_of" not in r and r.get("duplicate_of", "none") == "none"
    with pytest.raises(KeyError):
        r["no_such_field"]
    assert r.in_dataset and r.trains and not r.is_variant
    assert not _item(status="error").in_dataset
    assert not _item(split="val").trains
    assert not SourceRecord(id="s", source="s", speaker="", status="dropped").in_dataset
    with pytest.raises(AttributeError):
        r.split = "val"  # type: ignore[misc]


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: _item(status="dropped"), "status 'dropped'"),
        (lambda: _item(split="holdout"), "split 'holdout'"),
        (lambda: _item(flags=["clippin"]), "unknown flags"),
        (lambda: FileRecord(id="x", source="x", speaker="", status="ok"), "status 'ok'"),
    ],
)
def test_records_reject_what_the_schema_does_not_allow(make, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        make()


def test_manifests_of_the_previous_schema_read_and_newer_ones_are_refused() -> None:
    legacy = {
        "id": "a/x.wav#000",
        "kind": "item",
        "source": "a/x.wav",
        "speaker": "a",
        "start_s": 0.0,
        "end_s": 2.0,
        "duration_s": 2.0,
        "variant_of": None,
        "status": "ok",
        "error": None,
        "flags": ["exact_duplicate"],
        "metrics": {"snr_db": 30.0},
        "flag_details": {"exact_duplicate": {"metric": "duplicate_score", "duplicate_of": "a/y.wav#000"}},
        "variant": None,
        "sample_rate_hz": 44100,
        "n_samples": 88200,
        "n_frames": 173,
        "split": "excluded",
        "duplicate_of": "a/y.wav#000",
    }
    rec = record_from_dict(legacy)
    assert isinstance(rec, ItemRecord) and rec.duplicate_of == "a/y.wav#000" and rec.split == "excluded"
    assert {k: v for k, v in rec.to_dict().items() if k != "schema_version"} == legacy
    with pytest.raises(StoreError, match="upgrade svcprep"):
        record_from_dict({**legacy, "schema_version": MANIFEST_SCHEMA_VERSION + 1})
    with pytest.raises(StoreError, match="unknown kind"):
        record_from_dict({**legacy, "kind": "segment"})
    with pytest.raises(StoreError, match="line 2 is not JSON"):
        records_from_jsonl(json.dumps(legacy) + "\n{oops\n")


def test_a_dataset_written_by_the_previous_release_still_opens(tmp_path: Path) -> None:
    raw = tmp_path / "raw"
    (raw / "ann").mkdir(parents=True)
    for k in range(2):
        v = sing_phrase(sample_rate_hz=44100, notes_hz=(220.0 + 20 * k, 262.0), note_s=1.3, seed=k)
        sf.write(raw / "ann" / f"t{k}.wav", v.audio, 44100, subtype="PCM_16")
    out = tmp_path / "out"
    svcprep.build(raw, out, svcprep.load_config(overrides=["denoise.spectral_gating=false"]), jobs=1)
    want = {
        i: {k: np.array(a) for k, a in svcprep.open(out).arrays(i).items()} for i in svcprep.open(out).ids
    }
    # turn it into what 0.1.0 wrote: no schema_version per line, no layout in the version record
    vid = (out / "LATEST").read_text().strip()
    for path in (out / "manifest.jsonl", out / "versions" / f"{vid}.manifest.jsonl"):
        rows = [json.loads(line) for line in path.read_text().splitlines()]
        path.write_text(
            "".join(json.dumps({k: v for k, v in r.items() if k != "schema_version"}) + "\n" for r in rows)
        )
    vpath = out / "versions" / f"{vid}.json"
    version = json.loads(vpath.read_text())
    version.pop("arrays")
    version.pop("manifest_schema_version")
    vpath.write_text(json.dumps(version))

    ds = svcprep.open(out)
    assert all(isinstance(r, (ItemRecord, FileRecord, SourceRecord, PieceRecord)) for r in ds.manifest)
    assert ds.array_names == ("audio", "f0", "uv", "coarse_f0", "mel", "volume")
    for i, arrays in want.items():
        got = ds.arrays(i)
        assert all(np.array_equal(got[k], arrays[k]) for k in arrays), i
    assert set(ds.train.ids) | set(ds.val.ids) | set(ds.split().excluded) == set(ds.ids)


def test_every_reason_code_of_the_loader_is_in_the_vocabulary() -> None:
    codes = {cls.reason for cls in _subclasses(AudioDecodeError)} | {AudioDecodeError.reason}
    assert codes <= set(FLAG_DOCS), codes - set(FLAG_DOCS)
    assert all(f.origin in ("input", "quality", "validation", "build") for f in FlagName)
    assert all(f.doc.endswith(".") and not re.search(r"[a-z)]\. [A-Z]", f.doc) for f in FlagName), (
        "one sentence"
    )


def _subclasses(cls: type) -> list[type]:
    out = []
    for sub in cls.__subclasses__():
        out += [sub, *_subclasses(sub)]
    return out


def test_flag_names_are_checked_the_same_way_everywhere(capsys: pytest.CaptureFixture[str]) -> None:
    assert parse_flag_names(["clipping", "channel_cancellation"], what="x") == (
        "clipping",
        "channel_cancellation",
    )
    with pytest.raises(ValueError, match=r"--include: unknown flag 'clippin' \(did you mean 'clipping'\?\)"):
        parse_flag_names(["clippin"], what="--include")
    with pytest.raises(ValueError, match="unknown flag 'all'"):
        parse_flag_names(["all"], what="--include")
    assert parse_flag_names(["all"], what="--exclude", allow_all=True) == ("all",)
    with pytest.raises(svcprep.errors.ConfigError, match=r"split\.include_flags: unknown flag 'noisey'"):
        svcprep.load_config(overrides=['split.include_flags=["noisey"]'])
    assert main(["flags"]) == 0
    text = capsys.readouterr().out
    assert all(f.value in text for f in FlagName)


def test_the_readme_tables_are_generated_from_the_code() -> None:
    from svcprep.docs import render

    readme = (REPO / "README.md").read_text(encoding="utf-8")
    assert render(readme) == readme, "run `python -m svcprep.docs README.md`"
    assert all(f"`{f.value}`" in readme for f in FlagName)
