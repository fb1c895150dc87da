"""Tests for webgen.feedback.site.workspace and webgen.core.blobs, on real files under tmp_path."""

from __future__ import annotations

import os
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from webgen.core.blobs import BlobStore, FileBlobStore, MemoryBlobStore, digest_of
from webgen.feedback.site.workspace import FileWrite, MissingBlob, UnknownSnapshot, Workspace, WorkspaceLimits

OLD_NS = 1_600_000_000 * 10**9  # a fixed mtime far in the past


class CountingStore:
    """A real MemoryBlobStore that counts calls."""

    def __init__(self) -> None:
        self.inner = MemoryBlobStore()
        self.puts = 0
        self.has_calls = 0

    def has(self, digest: str) -> bool:
        self.has_calls += 1
        return self.inner.has(digest)

    def put(self, digest: str, data: bytes) -> None:
        self.puts += 1
        self.inner.put(digest, data)

    def get(self, digest: str) -> bytes:
        return self.inner.get(digest)


@dataclass(frozen=True)
class Action:  # stands in for a parser's FileAction
    path: str
    content: str


def tree(root: Path) -> dict[str, bytes]:
    """Regular files under root (not following symlinks), excluding node_modules and dist."""
    out: dict[str, bytes] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        if Path(dirpath) == root:
            dirnames[:] = [d for d in dirnames if d not in ("node_modules", "dist")]
        for name in filenames:
            p = Path(dirpath) / name
            if not p.is_symlink():
                out[p.relative_to(root).as_posix()] = p.read_bytes()
    return out


def dirs(root: Path) -> set[str]:
    return {p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_dir() and not p.is_symlink()}


@pytest.fixture
def outside(tmp_path: Path) -> Path:
    d = tmp_path / "outside"
    d.mkdir()
    (d / "secret.txt").write_text("secret")
    return d


@pytest.fixture
def ws(tmp_path: Path) -> Workspace:
    return Workspace(tmp_path / "site", MemoryBlobStore(), protected=frozenset({"vite.config.ts", "tailwind.*"}))


def test_write_creates_nested_dirs(ws: Workspace) -> None:
    report = ws.apply(
        [FileWrite(path="src/pages/about/About.tsx", content="export {}\n"), Action("./index.html", "<x>")]
    )
    assert report.written == ["src/pages/about/About.tsx", "index.html"]
    assert report.rejected == []
    assert report.unchanged == []
    assert (ws.root / "src/pages/about/About.tsx").read_text() == "export {}\n"
    assert ws.read("src/pages/about/About.tsx") == "export {}\n"
    assert ws.files() == {"index.html": "<x>", "src/pages/about/About.tsx": "export {}\n"}


def test_unchanged_write_keeps_mtime(ws: Workspace) -> None:
    ws.apply([FileWrite(path="src/a.ts", content="same")])
    target = ws.root / "src/a.ts"
    os.utime(target, ns=(OLD_NS, OLD_NS))
    report = ws.apply([FileWrite(path="src/a.ts", content="same")])
    assert report.unchanged == ["src/a.ts"]
    assert report.written == []
    assert target.stat().st_mtime_ns == OLD_NS
    report = ws.apply([FileWrite(path="src/a.ts", content="diff")])
    assert report.written == ["src/a.ts"]
    assert target.read_text() == "diff"


def test_last_write_wins_within_batch(ws: Workspace) -> None:
    report = ws.apply(
        [FileWrite(path="a.ts", content="1"), FileWrite(path="b.ts", content="b"), FileWrite(path="a.ts", content="22")]
    )
    assert report.written == ["a.ts", "b.ts"]
    assert ws.read("a.ts") == "22"


@pytest.mark.parametrize(
    ("path", "fragment"),
    [
        ("../x.ts", "escapes"),
        ("src/../../x.ts", "escapes"),
        ("/etc/passwd", "absolute"),
        ("C:\\x.ts", "absolute"),
        ("C:/x.ts", "absolute"),
        ("\\\\server\\share\\x.ts", "absolute"),
        ("src\\x.ts", "backslash"),
        ("a\x00b.ts", "NUL"),
        ("a\nb.ts", "control"),
        ("", "empty"),
        ("src/", "folder"),
        ("node_modules/react/index.js", "node_modules is managed by the harness"),
        ("dist/index.html", "dist is managed by the harness"),
        (".git/config", ".git is managed by the harness"),
        (".webgen/cache", ".webgen is managed by the harness"),
        ("vite.config.ts", "vite.config.ts is owned by the scaffold"),
        ("./vite.config.ts", "owned by the scaffold"),
        ("tailwind.config.js", "tailwind.config.js is owned by the scaffold"),
        ("a/b/c/d/e/f/g/h/i/j/k/l/m.ts", "13 levels deep"),
        ("x" * 201, "characters long"),
    ],
)
def test_rejections(ws: Workspace, path: str, fragment: str) -> None:
    before = tree(ws.root)
    report = ws.apply([FileWrite(path=path, content="x"), FileWrite(path="ok.ts", content="fine")])
    assert [r.path for r in report.rejected] == [path]
    assert fragment in report.rejected[0].reason
    assert report.written == ["ok.ts"]  # the rest of the batch still applies
    assert tree(ws.root) == {**before, "ok.ts": b"fine"}
    assert not (ws.root.parent / "x.ts").exists()


def test_size_and_count_limits(tmp_path: Path) -> None:
    limits = WorkspaceLimits(max_file_bytes=1_000_000, max_files=3, max_total_bytes=2_500_000)
    ws = Workspace(tmp_path / "site", MemoryBlobStore(), limits=limits)
    report = ws.apply([FileWrite(path="big.txt", content="é" * 1_150_000)])  # 2.3 MB of UTF-8
    assert report.rejected[0].reason == "the file is 2.3 MB, over the 1 MB limit"
    assert ws.apply([FileWrite(path="edge.txt", content="x" * 1_000_001)]).rejected[0].reason == (
        "the file is 1,000,001 bytes, over the 1,000,000-byte limit"
    )
    report = ws.apply([FileWrite(path=f"f{i}.txt", content="x" * 900_000) for i in range(4)])
    assert report.written == ["f0.txt", "f1.txt"]
    assert [r.path for r in report.rejected] == ["f2.txt", "f3.txt"]
    assert "over the 2.5 MB limit" in report.rejected[0].reason
    report = ws.apply(
        [
            FileWrite(path="f0.txt", content="small"),
            FileWrite(path="a.txt", content="a"),
            FileWrite(path="b.txt", content="b"),
        ]
    )
    assert report.written == ["f0.txt", "a.txt"]
    assert "limit of 3 files" in report.rejected[0].reason
    assert ws.apply([FileWrite(path="a.txt", content="overwrite is fine")]).written == ["a.txt"]
    assert not (ws.root / "b.txt").exists()
    assert not (ws.root / "big.txt").exists()


def test_symlinked_dir_pointing_outside(ws: Workspace, outside: Path) -> None:
    (ws.root / "src").mkdir()
    (ws.root / "src/evil").symlink_to(outside)
    report = ws.apply(
        [FileWrite(path="src/evil/x.ts", content="pwned"), FileWrite(path="src/evil/sub/y.ts", content="p")]
    )
    assert len(report.rejected) == 2
    assert report.written == []
    assert "src/evil is a symlink pointing outside the project" in report.rejected[0].reason
    assert sorted(p.name for p in outside.iterdir()) == ["secret.txt"]


def test_symlinked_file_pointing_outside(ws: Workspace, outside: Path) -> None:
    (ws.root / "src").mkdir()
    (ws.root / "src/a.ts").symlink_to(outside / "secret.txt")
    report = ws.apply([FileWrite(path="src/a.ts", content="pwned")])
    assert "src/a.ts is a symlink pointing outside" in report.rejected[0].reason
    assert (outside / "secret.txt").read_text() == "secret"
    assert ws.read("src/a.ts") is None  # reads do not follow symlinks either


def test_symlink_inside_project_is_also_rejected(ws: Workspace) -> None:
    ws.apply([FileWrite(path="src/real/a.ts", content="a")])
    (ws.root / "src/alias").symlink_to(ws.root / "src/real")
    report = ws.apply([FileWrite(path="src/alias/a.ts", content="b")])
    assert "symlink pointing inside the project" in report.rejected[0].reason
    assert ws.read("src/real/a.ts") == "a"


def test_hard_link_is_rejected(ws: Workspace, outside: Path) -> None:
    os.link(outside / "secret.txt", ws.root / "linked.txt")
    report = ws.apply([FileWrite(path="linked.txt", content="pwned")])
    assert "hard-linked" in report.rejected[0].reason
    assert (outside / "secret.txt").read_text() == "secret"


def test_node_modules_symlink_cannot_be_written(ws: Workspace, outside: Path) -> None:
    (ws.root / "node_modules").symlink_to(outside)
    report = ws.apply(
        [
            FileWrite(path="node_modules/react/index.js", content="x"),
            FileWrite(path="Node_Modules/react/index.js", content="x"),
        ]
    )
    assert len(report.rejected) == 2
    assert sorted(p.name for p in outside.iterdir()) == ["secret.txt"]


def _populate(ws: Workspace, outside: Path) -> None:
    ws.apply(
        [
            FileWrite(path="index.html", content="<html></html>"),
            FileWrite(path="src/App.tsx", content="app"),
            FileWrite(path="src/components/Nav.tsx", content="nav"),
            FileWrite(path="src/main.tsx", content="m"),
        ]
    )
    (ws.root / "public").mkdir()
    (ws.root / "public/logo.bin").write_bytes(bytes(range(256)) * 3)
    (ws.root / "node_modules").symlink_to(outside)
    (ws.root / "dist").mkdir()
    (ws.root / "dist/index.html").write_text("built")


def test_snapshot_restore_roundtrip(ws: Workspace, outside: Path) -> None:
    _populate(ws, outside)
    before, before_dirs = tree(ws.root), dirs(ws.root)
    sid = ws.snapshot()
    assert set(ws.manifest(sid)) == set(before)
    assert "dist/index.html" not in ws.manifest(sid)
    ws.apply(
        [
            FileWrite(path="src/App.tsx", content="changed"),
            FileWrite(path="src/new/deep/New.tsx", content="n"),
            FileWrite(path="src/main.tsx", content="M"),
        ]
    )  # same size, likely same mtime tick as the snapshot
    (ws.root / "src/components/Nav.tsx").unlink()
    (ws.root / "public/logo.bin").write_bytes(b"\xff\xfe")
    (ws.root / "dist/index.html").write_text("rebuilt")
    ws.restore(sid)
    assert tree(ws.root) == before
    assert dirs(ws.root) == before_dirs  # src/new/deep was pruned
    assert os.readlink(ws.root / "node_modules") == str(outside)
    assert sorted(p.name for p in outside.iterdir()) == ["secret.txt"]
    assert (ws.root / "dist/index.html").read_text() == "rebuilt"  # ignored dirs are never touched
    assert ws.snapshot() == sid


def test_restore_keeps_matching_files_untouched(ws: Workspace, outside: Path) -> None:
    _populate(ws, outside)
    for p in (ws.root / "src").rglob("*.tsx"):
        os.utime(p, ns=(OLD_NS, OLD_NS))
    sid = ws.snapshot()
    ws.apply([FileWrite(path="src/App.tsx", content="changed")])
    ws.restore(sid)
    assert (ws.root / "src/App.tsx").read_text() == "app"
    assert (ws.root / "src/main.tsx").stat().st_mtime_ns == OLD_NS
    assert (ws.root / "src/components/Nav.tsx").stat().st_mtime_ns == OLD_NS


def test_restore_replaces_symlinks_without_following_them(ws: Workspace, outside: Path) -> None:
    ws.apply([FileWrite(path="src/a.ts", content="a"), FileWrite(path="lib/b.ts", content="b")])
    sid = ws.snapshot()
    (ws.root / "src/a.ts").unlink()
    (ws.root / "src/a.ts").symlink_to(outside / "secret.txt")
    (ws.root / "lib/b.ts").unlink()
    (ws.root / "lib").rmdir()
    (ws.root / "lib").symlink_to(outside)
    ws.restore(sid)
    assert tree(ws.root) == {"src/a.ts": b"a", "lib/b.ts": b"b"}
    assert not (ws.root / "src/a.ts").is_symlink()
    assert not (ws.root / "lib").is_symlink()
    assert sorted(p.name for p in outside.iterdir()) == ["secret.txt"]
    assert (outside / "secret.txt").read_text() == "secret"


def test_restore_replaces_folder_standing_where_a_file_was(ws: Workspace, outside: Path) -> None:
    ws.apply([FileWrite(path="src/a.ts", content="a")])
    sid = ws.snapshot()
    (ws.root / "src/a.ts").unlink()
    (ws.root / "src/a.ts").mkdir()
    (ws.root / "src/a.ts/x.ts").write_text("x")
    (ws.root / "src/a.ts/link").symlink_to(outside)  # symlinks are not recorded, so this folder is not pruned
    ws.restore(sid)
    assert tree(ws.root) == {"src/a.ts": b"a"}
    assert sorted(p.name for p in outside.iterdir()) == ["secret.txt"]


def test_restore_with_missing_blob_changes_nothing(tmp_path: Path) -> None:
    store = MemoryBlobStore()
    ws = Workspace(tmp_path / "site", store)
    ws.apply([FileWrite(path="a.ts", content="old")])
    sid = ws.snapshot()
    ws.apply([FileWrite(path="a.ts", content="new"), FileWrite(path="b.ts", content="b")])
    other = Workspace(tmp_path / "site", MemoryBlobStore())
    other.blobs.put(sid, store.get(sid))  # the manifest without its file blobs
    with pytest.raises(MissingBlob, match="missing from the blob store"):
        other.restore(sid)
    assert tree(ws.root) == {"a.ts": b"new", "b.ts": b"b"}


def test_snapshot_skips_symlinks(ws: Workspace, outside: Path) -> None:
    ws.apply([FileWrite(path="src/a.ts", content="a")])
    (ws.root / "src/link.ts").symlink_to(outside / "secret.txt")
    (ws.root / "src/linkdir").symlink_to(outside)
    assert ws.manifest(ws.snapshot()) == {"src/a.ts": digest_of(b"a")}
    assert ws.files() == {"src/a.ts": "a"}


def test_snapshot_ids_are_stable(tmp_path: Path) -> None:
    writes = [FileWrite(path="src/App.tsx", content="app"), FileWrite(path="index.html", content="<p>")]
    a = Workspace(tmp_path / "a", MemoryBlobStore())
    b = Workspace(tmp_path / "b", FileBlobStore(tmp_path / "blobs"))
    a.apply(writes)
    b.apply(list(reversed(writes)))
    assert a.snapshot() == b.snapshot() == a.snapshot()
    b.apply([FileWrite(path="index.html", content="<q>")])
    assert b.snapshot() != a.snapshot()


def test_unchanged_tree_snapshot_does_no_puts(tmp_path: Path) -> None:
    store = CountingStore()
    ws = Workspace(tmp_path / "site", store)
    ws.apply([FileWrite(path=f"src/f{i}.ts", content=f"file {i}") for i in range(20)])
    first = ws.snapshot()
    assert store.puts == 21
    store.puts = 0
    assert ws.snapshot() == first
    assert store.puts == 0
    # with files old enough to be cached, an unchanged snapshot does not even look files up in the store
    for p in (ws.root / "src").iterdir():
        os.utime(p, ns=(OLD_NS, OLD_NS))
    ws.RACY_WINDOW_NS = -(10**18)  # treat every file as settled (ctime is recent and cannot be set)
    ws.snapshot()
    store.has_calls = 0
    assert ws.snapshot() == first
    assert store.has_calls == 1
    assert store.puts == 0


def test_same_size_rewrite_is_detected(tmp_path: Path) -> None:
    ws = Workspace(tmp_path / "site", MemoryBlobStore())
    ws.apply([FileWrite(path="a.ts", content="aaaa")])
    s1 = ws.snapshot()
    ws.apply([FileWrite(path="a.ts", content="bbbb")])
    s2 = ws.snapshot()
    assert s1 != s2
    # even with the mtime forced back to the cached value, the ctime/racy rule catches the change
    st = (ws.root / "a.ts").stat()
    ws.apply([FileWrite(path="a.ts", content="cccc")])
    os.utime(ws.root / "a.ts", ns=(st.st_atime_ns, st.st_mtime_ns))
    s3 = ws.snapshot()
    assert len({s1, s2, s3}) == 3
    ws.restore(s1)
    assert ws.read("a.ts") == "aaaa"


def test_binary_files_survive_snapshot_restore(ws: Workspace) -> None:
    payload = bytes(range(256)) + b"\x00\xc3\x28"
    (ws.root / "img.png").write_bytes(payload)
    ws.apply([FileWrite(path="a.txt", content="text ✓")])
    sid = ws.snapshot()
    (ws.root / "img.png").write_bytes(b"other")
    (ws.root / "img2.png").write_bytes(b"\x89PNG")
    ws.restore(sid)
    assert tree(ws.root) == {"img.png": payload, "a.txt": "text ✓".encode()}
    assert ws.files() == {"a.txt": "text ✓"}
    assert ws.read("img.png") is None


def test_unknown_snapshot_raises(ws: Workspace) -> None:
    with pytest.raises(UnknownSnapshot):
        ws.restore("0" * 64)
    with pytest.raises(KeyError):
        ws.manifest("not-a-digest")
    data = b"just a blob"
    ws.blobs.put(digest_of(data), data)
    with pytest.raises(UnknownSnapshot, match="not a valid workspace snapshot"):
        ws.restore(digest_of(data))


def test_read_edge_cases(ws: Workspace) -> None:
    ws.apply([FileWrite(path="src/a.ts", content="a")])
    assert ws.read("src/missing.ts") is None
    assert ws.read("../etc/passwd") is None
    assert ws.read("src") is None
    assert ws.read("src/a.ts/b") is None


@pytest.mark.parametrize("store_kind", ["file", "memory"])
def test_blob_store_roundtrip(tmp_path: Path, store_kind: str) -> None:
    store: BlobStore = FileBlobStore(tmp_path / "blobs") if store_kind == "file" else MemoryBlobStore()
    data = b"hello" * 1000
    d = digest_of(data)
    assert not store.has(d)
    store.put(d, data)
    store.put(d, data)
    assert store.has(d)
    assert store.get(d) == data
    with pytest.raises(KeyError):
        store.get(digest_of(b"missing"))
    with pytest.raises(ValueError):
        store.put(d, b"wrong content")
    if store_kind == "file":
        path = tmp_path / "blobs" / d[:2] / d[2:]
        assert path.is_file()
        assert path.stat().st_size < len(data)
        assert not store.has("../../etc/passwd")


def test_file_blob_store_concurrent_puts(tmp_path: Path) -> None:
    store = FileBlobStore(tmp_path / "blobs")
    data = os.urandom(200_000)
    d = digest_of(data)
    barrier = threading.Barrier(8)
    errors: list[BaseException] = []

    def worker() -> None:
        try:
            barrier.wait()
            for _ in range(20):
                store.put(d, data)
                assert store.get(d) == data
        except BaseException as exc:  # collected and asserted below
            errors.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert [p.name for p in (tmp_path / "blobs" / d[:2]).iterdir()] == [d[2:]]  # no temp files left behind


def test_snapshot_timing_is_reasonable(tmp_path: Path) -> None:
    ws = Workspace(tmp_path / "site", MemoryBlobStore())
    ws.apply([FileWrite(path=f"src/d{i % 10}/f{i}.ts", content="x" * 2000) for i in range(300)])
    start = time.perf_counter()
    sid = ws.snapshot()
    ws.restore(sid)
    assert time.perf_counter() - start < 5
