"""Tests of svcprep.sources.discover."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from svcprep.audio import load_audio
from svcprep.errors import ConfigError
from svcprep.sources import AUDIO_EXTENSIONS, Discovery, discover, printable_name
from tests.badfiles import (
    NON_UTF8_NAME,
    make_bad_inputs,
    make_unreadable,
    non_utf8_supported,
    permission_denied_observable,
    run_unprivileged,
    world_readable_tmpdir,
)


def touch(path: Path, data: bytes = b"RIFF") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def snapshot(root: Path) -> list[tuple[bytes, int, int, int]]:
    out = []
    for sub, dirs, files in os.walk(os.fsencode(root)):
        for name in sorted(dirs + files):
            st = os.lstat(os.path.join(sub, name))
            out.append((os.path.join(sub, name), st.st_mode, st.st_size, st.st_mtime_ns))
    return sorted(out)


def as_dict(d: Discovery) -> dict[str, str]:
    out = {s.rel: "source" for s in d.sources}
    out.update({k.rel: k.status for k in d.skipped})
    return out


def test_speakers_from_layout(tmp_path: Path) -> None:
    root = tmp_path / "raw_set"
    touch(root / "alice" / "a.wav")
    touch(root / "alice" / "day2" / "deep" / "b.flac")
    touch(root / "bob" / "c.mp3")
    touch(root / "solo.wav")
    d = discover(root)
    assert [(s.rel, s.speaker) for s in d.sources] == [
        ("alice/a.wav", "alice"),
        ("alice/day2/deep/b.flac", "alice"),
        ("bob/c.mp3", "bob"),
        ("solo.wav", "raw_set"),
    ]
    for s in d.sources:
        assert s.path == root / s.rel
    assert d.skipped == ()


def test_extensions_are_case_insensitive_and_complete(tmp_path: Path) -> None:
    for ext in sorted(AUDIO_EXTENSIONS):
        touch(tmp_path / "s" / f"x{ext.upper()}")
    d = discover(tmp_path)
    assert len(d.sources) == len(AUDIO_EXTENSIONS) and d.skipped == ()


def test_garbage_with_audio_extension_is_still_a_source(tmp_path: Path) -> None:
    touch(tmp_path / "s" / "junk.wav", b"not audio at all")
    d = discover(tmp_path)
    assert [s.rel for s in d.sources] == ["s/junk.wav"]


NAMES = [
    "b.wav",
    "A.wav",
    "a.wav",
    "a/b.wav",
    "a-b.wav",
    "ä.flac",
    "Z/1.wav",
    "z/10.wav",
    "z/2.wav",
    "é/x.ogg",
]


def build(root: Path, order: list[int]) -> None:
    for i in order:
        touch(root / "spk" / NAMES[i])
    touch(root / "spk" / "readme.txt")


@settings(max_examples=15, deadline=None)
@given(order=st.permutations(list(range(len(NAMES)))))
def test_order_independent_of_creation_order(
    tmp_path_factory: pytest.TempPathFactory, order: list[int]
) -> None:
    one = tmp_path_factory.mktemp("one")
    two = tmp_path_factory.mktemp("two")
    build(one, list(range(len(NAMES))))
    build(two, order)
    d1, d2 = discover(one), discover(two)
    rels = [s.rel for s in d1.sources]
    assert rels == [s.rel for s in d2.sources]
    assert rels == sorted(rels, key=lambda r: r.encode("utf-8"))
    assert sorted(rels) == sorted(f"spk/{n}" for n in NAMES)
    assert [(k.rel, k.reason) for k in d1.skipped] == [(k.rel, k.reason) for k in d2.skipped]


def test_symlink_loops_are_not_followed(tmp_path: Path) -> None:
    root = tmp_path / "raw"
    touch(root / "spk" / "sub" / "a.wav")
    os.symlink("..", root / "spk" / "sub" / "up")  # -> spk, an ancestor
    os.symlink(".", root / "spk" / "here")  # -> itself
    os.symlink(str(root), root / "spk" / "root_link")  # -> the raw root
    os.symlink("self_link", root / "spk" / "self_link")  # a link that resolves to itself
    d = discover(root)
    assert [s.rel for s in d.sources] == ["spk/sub/a.wav"]
    got = {k.rel: k for k in d.skipped}
    for rel in ("spk/sub/up", "spk/here", "spk/root_link", "spk/self_link"):
        assert got[rel].status == "skipped"
        assert got[rel].reason.startswith("symlink loop -> ")
    assert "-> .." in got["spk/sub/up"].reason


def test_directory_symlink_followed_once(tmp_path: Path) -> None:
    root = tmp_path / "raw"
    outside = tmp_path / "elsewhere"
    touch(outside / "x.wav")
    touch(root / "alice" / "a.wav")
    os.symlink(outside, root / "bob")  # a speaker folder that lives elsewhere: followed when asked
    os.symlink("alice", root / "alice_again")  # the same folder twice: listed once
    d = discover(root, follow_links=True)
    assert [(s.rel, s.speaker) for s in d.sources] == [("alice/a.wav", "alice"), ("bob/x.wav", "bob")]
    (dup,) = d.skipped
    assert dup.rel == "alice_again" and dup.status == "skipped" and "'alice'" in dup.reason


def test_links_leading_outside_raw_are_skipped_unless_asked(tmp_path: Path) -> None:
    root = tmp_path / "raw"
    touch(root / "alice" / "a.wav")
    touch(tmp_path / "elsewhere" / "x.wav")
    os.symlink(tmp_path / "elsewhere", root / "bob")
    os.symlink(tmp_path / "elsewhere" / "x.wav", root / "alice" / "linked.wav")
    os.symlink("a.wav", root / "alice" / "inside.wav")  # stays inside: always followed
    d = discover(root)
    assert [s.rel for s in d.sources] == ["alice/a.wav", "alice/inside.wav"]
    got = {sk.rel: sk for sk in d.skipped}
    for rel in ("bob", "alice/linked.wav"):
        assert got[rel].status == "skipped" and "outside the raw folder" in got[rel].reason
        assert "--follow-links" in got[rel].reason


def test_links_into_virtual_file_systems_are_never_followed(tmp_path: Path) -> None:
    touch(tmp_path / "spk" / "a.wav")
    os.symlink("/proc", tmp_path / "spk" / "proc")
    os.symlink("/dev/zero", tmp_path / "spk" / "zero.wav")
    for follow in (False, True):
        d = discover(tmp_path, follow_links=follow)
        assert [s.rel for s in d.sources] == ["spk/a.wav"]
        got = {sk.rel: sk.reason for sk in d.skipped}
        assert "virtual file system" in got["spk/proc"] and "virtual file system" in got["spk/zero.wav"]


def test_dangling_symlink_is_an_error(tmp_path: Path) -> None:
    touch(tmp_path / "spk" / "ok.wav")
    os.symlink("gone/take.wav", tmp_path / "spk" / "take.wav")
    os.symlink("/nonexistent/dir", tmp_path / "spk" / "folder")
    d = discover(tmp_path)
    got = {k.rel: k for k in d.skipped}
    assert got["spk/take.wav"].status == "error"
    assert got["spk/take.wav"].reason == "dangling symlink -> gone/take.wav"
    assert got["spk/folder"].reason == "dangling symlink -> /nonexistent/dir"


def test_hidden_and_non_audio_files_are_skipped_with_reasons(tmp_path: Path) -> None:
    for name in [".DS_Store", "._take.wav", "notes.txt", "a.zip", "meta.json", "README", "x.m4a", "y.aac"]:
        touch(tmp_path / "spk" / name)
    touch(tmp_path / "spk" / ".cache" / "inside.wav")
    d = discover(tmp_path)
    assert d.sources == ()
    got = {k.rel: (k.status, k.reason) for k in d.skipped}
    assert got["spk/.DS_Store"] == ("skipped", "hidden file")
    assert got["spk/._take.wav"] == ("skipped", "hidden file")
    assert got["spk/.cache"] == ("skipped", "hidden folder")
    assert got["spk/notes.txt"] == ("skipped", "not an audio file (.txt file)")
    assert got["spk/README"] == ("skipped", "not an audio file (file without an extension)")
    assert got["spk/a.zip"][0] == "skipped" and got["spk/meta.json"][0] == "skipped"
    for rel in ("spk/x.m4a", "spk/y.aac"):
        status, reason = got[rel]
        assert status == "skipped" and "no decoder" in reason and "ffmpeg" in reason
    assert "spk/.cache/inside.wav" not in got


def test_non_utf8_names(tmp_path: Path) -> None:
    if not non_utf8_supported(tmp_path):
        pytest.skip("file system refuses non-UTF-8 names")
    spk = os.path.join(os.fsencode(tmp_path), b"spk")
    os.mkdir(spk)
    with open(os.path.join(spk, NON_UTF8_NAME), "wb") as f:
        f.write(b"first")
    # a valid UTF-8 name that looks exactly like the escaped rendering of the other one
    with open(os.path.join(spk, b"caf\\xe9.wav"), "wb") as f:
        f.write(b"second")
    os.mkdir(os.path.join(spk, b"\xff\xfe"))
    with open(os.path.join(spk, b"\xff\xfe", b"tab\there.wav"), "wb") as f:
        f.write(b"third")
    d = discover(tmp_path)
    rels = [s.rel for s in d.sources]
    assert len(set(rels)) == 3
    assert "spk/caf\\xe9.wav" in rels  # the real, printable name keeps its text
    for s in d.sources:
        s.rel.encode("utf-8")  # valid UTF-8
        assert s.rel.isprintable()
    contents = {s.path.read_bytes() for s in d.sources}  # every path opens its own file
    assert contents == {b"first", b"second", b"third"}
    assert printable_name(b"caf\xe9.wav") == ("caf\\xe9.wav", False)
    assert printable_name("café.wav".encode()) == ("café.wav", True)


def test_unreadable_file_and_folder() -> None:
    with world_readable_tmpdir() as d:
        root = d / "raw"
        touch(root / "spk" / "ok.wav")
        locked = touch(root / "spk" / "locked.wav")
        touch(root / "closed" / "hidden_take.wav")
        make_unreadable(locked)
        make_unreadable(root / "closed")
        if not permission_denied_observable(locked):
            pytest.skip("cannot make a file unreadable here")
        res = run_unprivileged(
            f"""
from svcprep.sources import discover
d = discover({str(root)!r})
print(json.dumps({{"sources": [s.rel for s in d.sources],
                  "skipped": [[k.rel, k.status, k.reason] for k in d.skipped]}}))
"""
        )
    assert res is not None
    assert res["sources"] == ["spk/ok.wav"]
    got = {rel: (status, reason) for rel, status, reason in res["skipped"]}  # type: ignore[union-attr]
    assert got["spk/locked.wav"][0] == "error" and "permission denied" in got["spk/locked.wav"][1]
    assert got["closed"][0] == "error" and "permission denied" in got["closed"][1]


def test_bad_root_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        discover(tmp_path / "nope")
    f = touch(tmp_path / "file.wav")
    with pytest.raises(ConfigError, match="is a file, not a folder"):
        discover(f)


def test_empty_root(tmp_path: Path) -> None:
    assert discover(tmp_path) == Discovery(sources=(), skipped=())


def test_bad_inputs_discovered_as_expected_and_root_untouched(tmp_path: Path) -> None:
    cases = make_bad_inputs(tmp_path)
    before = snapshot(tmp_path)
    d = discover(tmp_path)
    assert snapshot(tmp_path) == before  # nothing created, changed or removed
    got = as_dict(d)
    for rel, code in cases.items():
        if code in ("skipped", "error"):
            assert got[rel] == code, rel
        else:
            assert got[rel] == "source", rel
    assert set(got) == set(cases)
    # every source loads or fails with the expected reason
    for s in d.sources:
        code = cases[s.rel]
        if code == "ok":
            assert load_audio(s.path).samples.dtype.name == "float32"
        else:
            with pytest.raises(Exception) as info:
                load_audio(s.path)
            assert getattr(info.value, "reason", None) == code
