"""The content-addressed snapshot store: layout, dedup, append-only writes, verified reads."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import stat
import subprocess
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import fsspec
import pytest

from tether.errors import IntegrityError, SnapshotError
from tether.lineage import _snapshots
from tether.lineage._snapshots import Snapshot, SnapshotStore, sha256_file

DATA = b"customer_id,amount\n1,9.99\n2,120.00\n"
DATA_DIGEST = hashlib.sha256(DATA).hexdigest()


def _objects(root: Path) -> list[Path]:
    return sorted(p for p in (root / "objects").rglob("*") if p.is_file())


def _tamper(store: SnapshotStore, digest: str) -> Path:
    """Flip the first byte of a local object, keeping its size, as an attacker or bad disk would."""
    path = Path(store.uri_for(digest).removeprefix("file://"))
    path.chmod(0o644)
    data = bytearray(path.read_bytes())
    data[0] ^= 0xFF
    path.write_bytes(bytes(data))
    return path


@pytest.fixture
def store(tmp_path: Path) -> SnapshotStore:
    return SnapshotStore(tmp_path / "store")


@pytest.fixture
def memory_root() -> Iterator[str]:
    root = f"memory://tether-test-{uuid.uuid4().hex}"
    yield root
    fs, path = fsspec.core.url_to_fs(root)
    if fs.exists(path):
        fs.rm(path, recursive=True)


READERS: dict[str, Callable[[SnapshotStore, str, Path], object]] = {
    "read_bytes": lambda store, digest, tmp: store.read_bytes(digest),
    "open": lambda store, digest, tmp: store.open(digest).close(),
    "materialize": lambda store, digest, tmp: store.materialize(digest, tmp / "out.csv"),
    "verify": lambda store, digest, tmp: store.verify(digest),
}


def test_put_file_then_every_reader_returns_the_same_bytes(
    store: SnapshotStore, tmp_path: Path
) -> None:
    source = tmp_path / "data.csv"
    source.write_bytes(DATA)
    snapshot = store.put_file(source)
    assert snapshot == Snapshot(digest=DATA_DIGEST, size=len(DATA), uri=store.uri_for(DATA_DIGEST))
    assert store.read_bytes(snapshot.digest) == DATA
    with store.open(snapshot.digest) as handle:
        assert handle.read() == DATA
    copy = store.materialize(snapshot.digest, tmp_path / "nested" / "copy.csv")
    assert copy.read_bytes() == DATA
    store.verify(snapshot.digest)
    assert store.exists(snapshot.digest)


def test_digest_equals_hashlib_sha256_of_the_bytes(store: SnapshotStore) -> None:
    data = os.urandom(10_000)
    assert store.put_bytes(data).digest == hashlib.sha256(data).hexdigest()


@pytest.mark.skipif(shutil.which("sha256sum") is None, reason="coreutils sha256sum not installed")
def test_digest_equals_sha256sum_output(store: SnapshotStore, tmp_path: Path) -> None:
    source = tmp_path / "data.bin"
    source.write_bytes(os.urandom(100_000))
    output = subprocess.run(
        ["sha256sum", str(source)], check=True, capture_output=True, text=True
    ).stdout
    expected = output.split()[0]
    assert store.put_file(source).digest == expected
    assert sha256_file(source) == expected


def test_qualified_digest_names_the_algorithm(store: SnapshotStore) -> None:
    assert store.put_bytes(DATA).qualified_digest == f"sha256:{DATA_DIGEST}"


def test_objects_are_laid_out_by_digest_prefix_and_read_only(
    store: SnapshotStore, tmp_path: Path
) -> None:
    snapshot = store.put_bytes(DATA)
    path = tmp_path / "store" / "objects" / "sha256" / DATA_DIGEST[:2] / DATA_DIGEST[2:]
    assert snapshot.uri == f"file://{path}"
    assert stat.S_IMODE(path.stat().st_mode) == 0o444
    assert list((tmp_path / "store" / "tmp").iterdir()) == []


def test_a_new_local_object_reaches_the_disk_before_its_name_is_published(
    store: SnapshotStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    events: list[str] = []
    real_fsync, real_link = os.fsync, os.link

    def fsync(descriptor: int) -> None:
        events.append("fsync")
        real_fsync(descriptor)

    def link(source: str, dest: str) -> None:
        events.append("link")
        real_link(source, dest)

    monkeypatch.setattr(os, "fsync", fsync)
    monkeypatch.setattr(os, "link", link)
    store.put_bytes(DATA)
    assert events == ["fsync", "link", "fsync"] * 2  # the manifest, then the object


def test_identical_content_is_stored_once(store: SnapshotStore, tmp_path: Path) -> None:
    source = tmp_path / "data.csv"
    source.write_bytes(DATA)
    first = store.put_file(source)
    second = store.put_file(source)
    third = store.put_bytes(DATA)
    assert first == second == third
    assert len(_objects(tmp_path / "store")) == 1


def test_second_put_of_an_unchanged_file_writes_nothing(
    store: SnapshotStore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    source = tmp_path / "data.csv"
    source.write_bytes(DATA)
    store.put_file(source)
    before = os.stat(store.uri_for(DATA_DIGEST).removeprefix("file://"))

    def no_copy(*args: object) -> None:
        raise AssertionError("an already stored file was copied again")

    monkeypatch.setattr(SnapshotStore, "_copy_in", no_copy)
    monkeypatch.setattr(SnapshotStore, "_publish", no_copy)
    store.put_file(source)
    after = os.stat(store.uri_for(DATA_DIGEST).removeprefix("file://"))
    assert (after.st_ino, after.st_mtime_ns) == (before.st_ino, before.st_mtime_ns)


def test_a_large_file_is_streamed_in_chunks_and_round_trips(
    store: SnapshotStore, tmp_path: Path, memory_root: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_snapshots, "CHUNK_SIZE", 64 * 1024)
    data = os.urandom(3 * 1024 * 1024 + 17)  # many chunks, the last one short
    source = tmp_path / "large.bin"
    source.write_bytes(data)
    for target in (store, SnapshotStore(memory_root)):
        snapshot = target.put_file(source)
        assert snapshot.digest == hashlib.sha256(data).hexdigest() == sha256_file(source)
        assert snapshot.size == len(data)
        assert target.materialize(snapshot.digest, tmp_path / "copy.bin").read_bytes() == data


@pytest.mark.parametrize("reader", READERS)
def test_a_tampered_object_raises_integrity_error_naming_both_digests_and_the_path(
    store: SnapshotStore, tmp_path: Path, reader: str
) -> None:
    digest = store.put_bytes(DATA).digest
    path = _tamper(store, digest)
    found = hashlib.sha256(path.read_bytes()).hexdigest()
    with pytest.raises(IntegrityError) as excinfo:
        READERS[reader](store, digest, tmp_path)
    message = str(excinfo.value)
    assert digest in message and found in message and str(path) in message
    assert "modified or corrupted" in message


def test_materialize_leaves_no_file_when_the_object_is_corrupted(
    store: SnapshotStore, tmp_path: Path
) -> None:
    digest = store.put_bytes(DATA).digest
    _tamper(store, digest)
    dest = tmp_path / "out" / "data.csv"
    with pytest.raises(IntegrityError):
        store.materialize(digest, dest)
    assert list(dest.parent.iterdir()) == []


def test_putting_over_an_object_of_the_wrong_size_raises_integrity_error(
    store: SnapshotStore,
) -> None:
    digest = store.put_bytes(DATA).digest
    path = Path(store.uri_for(digest).removeprefix("file://"))
    path.chmod(0o644)
    path.write_bytes(DATA[:-1])
    with pytest.raises(IntegrityError, match=digest):
        store.put_bytes(DATA)
    assert path.read_bytes() == DATA[:-1]  # append-only: the store did not repair it silently


@pytest.mark.parametrize("reader", READERS)
def test_a_missing_object_raises_snapshot_error_naming_digest_and_root(
    store: SnapshotStore, tmp_path: Path, reader: str
) -> None:
    store.put_bytes(DATA)
    missing = hashlib.sha256(b"never stored").hexdigest()
    with pytest.raises(SnapshotError) as excinfo:
        READERS[reader](store, missing, tmp_path)
    assert not isinstance(excinfo.value, IntegrityError)
    assert missing in str(excinfo.value) and store.root in str(excinfo.value)
    assert not store.exists(missing)


@pytest.mark.parametrize(
    "digest", ["", "abc", DATA_DIGEST.upper(), DATA_DIGEST[:-1] + "g", "md5:" + DATA_DIGEST]
)
def test_a_malformed_digest_is_refused_naming_the_value_and_the_expected_form(
    store: SnapshotStore, digest: str
) -> None:
    with pytest.raises(SnapshotError, match="64 lowercase hex") as excinfo:
        store.exists(digest)
    assert repr(digest) in str(excinfo.value)


def test_a_digest_prefixed_with_its_algorithm_is_accepted(store: SnapshotStore) -> None:
    snapshot = store.put_bytes(DATA)
    assert store.read_bytes(snapshot.qualified_digest) == DATA


def test_a_store_on_a_memory_url_round_trips_and_verifies(memory_root: str) -> None:
    store = SnapshotStore(memory_root)
    snapshot = store.put_bytes(DATA)
    assert snapshot.uri.startswith("memory://") and snapshot.uri.endswith(DATA_DIGEST[2:])
    assert store.put_bytes(DATA) == snapshot
    assert store.read_bytes(snapshot.digest) == DATA
    with pytest.raises(SnapshotError, match="is not in the store"):
        store.read_bytes(hashlib.sha256(b"never stored").hexdigest())
    fs, path = fsspec.core.url_to_fs(snapshot.uri)
    fs.pipe_file(path, DATA.upper())
    with pytest.raises(IntegrityError, match=snapshot.digest):
        store.verify(snapshot.digest)


def test_the_manifest_is_written_on_first_put_not_on_open(tmp_path: Path) -> None:
    root = tmp_path / "store"
    SnapshotStore(root)
    assert not root.exists()
    SnapshotStore(root).put_bytes(DATA)
    manifest = json.loads((root / "tether-snapshots.json").read_text())
    assert manifest == {"format_version": 1, "algorithm": "sha256"}


def test_an_unknown_format_version_is_refused_naming_both_versions(tmp_path: Path) -> None:
    root = tmp_path / "store"
    root.mkdir()
    (root / "tether-snapshots.json").write_text('{"format_version": 7, "algorithm": "sha256"}')
    with pytest.raises(SnapshotError, match=r"format_version 7.*format_version 1"):
        SnapshotStore(root)


@pytest.mark.parametrize(
    "manifest", ['{"format_version": 1, "algorithm": "blake3"}', "not json", "[]"]
)
def test_a_manifest_this_code_cannot_read_is_refused(tmp_path: Path, manifest: str) -> None:
    root = tmp_path / "store"
    root.mkdir()
    (root / "tether-snapshots.json").write_text(manifest)
    with pytest.raises(SnapshotError, match=r"tether-snapshots\.json|format_version|algorithm"):
        SnapshotStore(root)


def test_a_source_that_changes_during_the_copy_is_not_stored(
    store: SnapshotStore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    source = tmp_path / "data.csv"
    source.write_bytes(DATA)

    def copy_then_append(src: str, dst: str) -> None:
        Path(dst).write_bytes(Path(src).read_bytes() + b"3,0.01\n")

    monkeypatch.setattr(shutil, "copyfile", copy_then_append)
    with pytest.raises(SnapshotError, match="changed while it was being snapshotted"):
        store.put_file(source)
    assert _objects(tmp_path / "store") == []
    assert list((tmp_path / "store" / "tmp").iterdir()) == []


def test_a_missing_source_file_raises_snapshot_error_naming_it(
    store: SnapshotStore, tmp_path: Path
) -> None:
    with pytest.raises(SnapshotError, match=r"absent\.csv"):
        store.put_file(tmp_path / "absent.csv")


def test_objects_are_published_on_filesystems_without_hard_links(
    store: SnapshotStore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def no_links(src: str, dst: str) -> None:
        raise PermissionError("hard links not supported")

    monkeypatch.setattr(os, "link", no_links)
    snapshot = store.put_bytes(DATA)
    assert store.read_bytes(snapshot.digest) == DATA
    assert len(_objects(tmp_path / "store")) == 1


@pytest.mark.parametrize("kind", ["local", "memory"])
def test_an_object_that_appears_during_a_put_is_never_replaced(
    tmp_path: Path, memory_root: str, monkeypatch: pytest.MonkeyPatch, kind: str
) -> None:
    store = SnapshotStore(tmp_path / "store" if kind == "local" else memory_root)
    store.put_bytes(b"placeholder")  # creates the manifest and folders
    fs, path = fsspec.core.url_to_fs(store.uri_for(DATA_DIGEST))
    fs.makedirs(path.rsplit("/", 1)[0], exist_ok=True)
    fs.pipe_file(path, b"written by a concurrent writer")
    monkeypatch.setattr(SnapshotStore, "_is_stored", lambda self, digest, size: False)
    store.put_bytes(DATA)
    assert fs.cat_file(path) == b"written by a concurrent writer"
