"""Content-addressed data snapshots: each dataset a run reads is stored once, under its sha256.

A store is a folder, local or at any fsspec URL (``s3://``, ``gs://``, ``memory://``)::

    <root>/tether-snapshots.json       {"algorithm": "sha256", "format_version": 1}
    <root>/objects/sha256/ab/cdef...   the bytes whose sha256 is abcdef... (64 hex in all)
    <root>/tmp/                        writes in flight; never read, safe to empty when idle

Why sha256: it is the digest tether already records for model artifacts, hashlib computes it
with OpenSSL (SHA-NI on current x86 CPUs), and it is what coreutils ``sha256sum`` prints, so an
auditor can check any object with ``sha256sum`` and nothing else installed.

Why hash first, then copy: a retraining loop snapshots the same data again and again, so the
common case must be cheap. ``put_file`` hashes the source in one read pass and, when the object
is already stored, stops there: nothing is written. Copying while hashing into a temporary
object reads once for new data but writes the whole dataset even when it is already stored
(measured in ``benchmarks/README.md``). For new data on a local store the copy is made by the
kernel (``shutil.copyfile``) and then the copy itself is hashed; on a remote store the bytes are
hashed as they are sent. Either way an object is published only if its bytes match its name,
even if the source changed between the two passes. That matters because the store is
append-only: a wrong object could never be replaced.

Append-only and durable: the store never overwrites or deletes an object. Local objects are
made read-only (0o444), fsynced, then published with a hard link, which fails rather than replace
an existing name; the folder is fsynced too, so a digest a run has recorded survives a crash.
Remote objects are moved into place only if absent (use bucket object lock for more).

Every read verifies: ``open``, ``read_bytes``, ``materialize`` and ``verify`` hash the whole
object and raise `IntegrityError` on a mismatch. ``put_file`` does not re-read an object that
is already stored (that would double the cost of the common case); it checks the size only.
"""

from __future__ import annotations

import hashlib
import json
import os
import posixpath
import re
import shutil
import uuid
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, cast

import fsspec
from fsspec.implementations.local import LocalFileSystem

from tether.errors import IntegrityError, SnapshotError

ALGORITHM = "sha256"
FORMAT_VERSION = 1
MANIFEST_NAME = "tether-snapshots.json"
# 1 MiB: hashing ran at the same speed with 256 KiB to 4 MiB chunks; 1 MiB bounds memory use.
CHUNK_SIZE = 1 << 20
_HEX_DIGEST = re.compile(r"[0-9a-f]{64}")
_PREFIX = f"{ALGORITHM}:"
_EXPECTED_DIGEST = f"64 lowercase hex characters (a sha256), optionally prefixed {_PREFIX!r}"


@dataclass(frozen=True)
class Snapshot:
    """One stored object: what a training run records for each dataset it read.

    Attributes:
        digest: the sha256 of the bytes, 64 lowercase hex characters.
        size: the number of bytes.
        uri: where the object lives, e.g. ``file:///.../objects/sha256/ab/cdef...``.
    """

    digest: str
    size: int
    uri: str

    @property
    def qualified_digest(self) -> str:
        """The digest with its algorithm, ``"sha256:<hex>"``, as recorded in run metadata."""
        return f"{_PREFIX}{self.digest}"


def sha256_file(path: str | os.PathLike[str]) -> str:
    """Return the sha256 of a local file as 64 hex characters, streamed in 1 MiB chunks.

    The result equals the first field of ``sha256sum FILE``. Errors opening or reading the
    file are the ``OSError`` that ``open`` raises; the caller knows what the file was for.

    Example:
        >>> sha256_file("model.pkl")  # doctest: +SKIP
        '5e0c3e2a...'
    """
    return _hash_local(os.fspath(path))[0]


def _hash_stream(source: BinaryIO, sink: BinaryIO | None = None) -> tuple[str, int]:
    """Hash ``source`` to its end; copy each chunk to ``sink`` if given. Return (hex, size)."""
    # read() allocates a chunk per call, but measured as fast as readinto() a reused buffer.
    digest = hashlib.sha256()
    size = 0
    while chunk := source.read(CHUNK_SIZE):
        digest.update(chunk)
        if sink is not None:
            sink.write(chunk)
        size += len(chunk)
    return digest.hexdigest(), size


def _hash_local(path: str) -> tuple[str, int]:
    """Return the sha256 and size of a local file, streamed."""
    with open(path, "rb", buffering=0) as source:
        return _hash_stream(source)


def _checked_digest(digest: str) -> str:
    """Return the bare hex form of ``digest``, or refuse a value that is not a sha256."""
    bare = digest.removeprefix(_PREFIX)
    if not _HEX_DIGEST.fullmatch(bare):
        raise SnapshotError(f"snapshot digest {digest!r} is malformed; expected {_EXPECTED_DIGEST}")
    return bare


def _copy_local(source: str, dest: str) -> str:
    """Copy a local file in the kernel, then return the sha256 of the copy as written."""
    shutil.copyfile(source, dest)
    return _hash_local(dest)[0]


def _publish_local(temp: str, final: str) -> None:
    """Publish a local temporary file under its final name, durably, never replacing one."""
    os.chmod(temp, 0o444)
    _fsync(temp)  # the bytes reach the disk before any name points at them
    try:
        os.link(temp, final)
    except FileExistsError:
        return  # a concurrent writer stored the same bytes first: theirs stand
    except OSError:
        # A filesystem without hard links: os.replace is atomic but would clobber, so look first.
        if os.path.exists(final):
            return
        os.replace(temp, final)
    _fsync(os.path.dirname(final))  # and the new name reaches it too


def _fsync(path: str) -> None:
    """Flush a file's or a folder's changes to disk."""
    descriptor = os.open(path, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


@contextmanager
def _os_errors(action: str) -> Iterator[None]:
    """Turn an ``OSError`` raised while doing ``action`` into a `SnapshotError`."""
    try:
        yield
    except OSError as exc:
        raise SnapshotError(f"cannot {action}: {exc}") from exc


class SnapshotStore:
    """An append-only, content-addressed store of data snapshots at a local path or fsspec URL.

    Example:
        >>> store = SnapshotStore(".tether/snapshots")  # doctest: +SKIP
        >>> snapshot = store.put_file("data/transactions.parquet")  # doctest: +SKIP
        >>> store.materialize(snapshot.digest, "/tmp/transactions.parquet")  # doctest: +SKIP
    """

    def __init__(self, root: str | os.PathLike[str]) -> None:
        """Open the store at ``root``, checking its manifest if it has one yet.

        Nothing is created until the first ``put_*``. A manifest with another
        ``format_version`` or algorithm raises `SnapshotError`.
        """
        self._fs, path = fsspec.core.url_to_fs(os.fspath(root))
        self._root = str(path).rstrip("/")
        self._local = isinstance(self._fs, LocalFileSystem)
        with _os_errors(f"open snapshot store {self.root}"):
            self._has_manifest = self._check_manifest()

    @property
    def root(self) -> str:
        """The store's root as a URL, e.g. ``file:///project/.tether/snapshots``."""
        return str(self._fs.unstrip_protocol(self._root))

    def put_file(self, path: str | os.PathLike[str]) -> Snapshot:
        """Store a local file (if not stored yet) and return its snapshot.

        The file is hashed in one streaming pass; if that digest is already stored nothing
        is written. Otherwise it is copied to a temporary object, the copy is hashed, and the
        object is published read-only under its digest.
        """
        source = os.fspath(path)
        with _os_errors(f"snapshot {source!r} into {self.root}"):
            digest, size = _hash_local(source)
            if not self._is_stored(digest, size):
                self._ensure_manifest()
                self._copy_in(source, digest)
        return self._snapshot(digest, size)

    def put_bytes(self, data: bytes) -> Snapshot:
        """Store ``data`` (if not stored yet) and return its snapshot."""
        digest = hashlib.sha256(data).hexdigest()
        with _os_errors(f"store {len(data)} bytes into {self.root}"):
            if not self._is_stored(digest, len(data)):
                self._ensure_manifest()
                temp = self._new_temp()
                try:
                    self._fs.pipe_file(temp, data)
                    self._publish(temp, self._object_path(digest))
                finally:
                    self._discard(temp)
        return self._snapshot(digest, len(data))

    def open(self, digest: str) -> BinaryIO:
        """Open an object for reading, after verifying all of its bytes; the caller closes it.

        The handle is positioned at the start and seekable (Parquet readers need that).
        """
        bare = _checked_digest(digest)
        with _os_errors(f"read snapshot {_PREFIX}{bare} from {self.root}"):
            handle = self._open_object(bare)
            try:
                self._check(bare, _hash_stream(handle)[0])
                handle.seek(0)
            except BaseException:
                handle.close()
                raise
        return handle

    def read_bytes(self, digest: str) -> bytes:
        """Return an object's bytes, verified against ``digest``."""
        bare = _checked_digest(digest)
        with (
            _os_errors(f"read snapshot {_PREFIX}{bare} from {self.root}"),
            self._open_object(bare) as handle,
        ):
            data = handle.read()
        self._check(bare, hashlib.sha256(data).hexdigest())
        return data

    def materialize(self, digest: str, dest_path: str | os.PathLike[str]) -> Path:
        """Copy an object to a local file, verified; return the file's path.

        The copy is written next to ``dest_path`` and renamed onto it only once its bytes
        match ``digest``, so ``dest_path`` never holds unverified data. Parent folders are
        created; an existing file at ``dest_path`` is replaced.
        """
        bare = _checked_digest(digest)
        dest = Path(dest_path)
        temp = dest.with_name(f".{dest.name}.{uuid.uuid4().hex}.partial")
        with _os_errors(f"materialize snapshot {_PREFIX}{bare} to {str(dest)!r}"):
            dest.parent.mkdir(parents=True, exist_ok=True)
            try:
                self._check(bare, self._copy_out(bare, str(temp)))
                os.replace(temp, dest)
            finally:
                temp.unlink(missing_ok=True)
        return dest

    def verify(self, digest: str) -> None:
        """Re-hash an object; raise `IntegrityError` if it no longer matches ``digest``."""
        bare = _checked_digest(digest)
        with (
            _os_errors(f"verify snapshot {_PREFIX}{bare} in {self.root}"),
            self._open_object(bare) as handle,
        ):
            found = _hash_stream(handle)[0]
        self._check(bare, found)

    def exists(self, digest: str) -> bool:
        """Whether an object is stored under ``digest`` (its bytes are not read)."""
        return bool(self._fs.exists(self._object_path(_checked_digest(digest))))

    def uri_for(self, digest: str) -> str:
        """The URI where the object for ``digest`` is (or would be) stored."""
        return str(self._fs.unstrip_protocol(self._object_path(_checked_digest(digest))))

    # -- layout ---------------------------------------------------------------------------

    def _object_path(self, digest: str) -> str:
        return f"{self._root}/objects/{ALGORITHM}/{digest[:2]}/{digest[2:]}"

    def _new_temp(self) -> str:
        temp_dir = f"{self._root}/tmp"
        self._fs.makedirs(temp_dir, exist_ok=True)
        return f"{temp_dir}/{uuid.uuid4().hex}"

    def _snapshot(self, digest: str, size: int) -> Snapshot:
        return Snapshot(digest=digest, size=size, uri=self.uri_for(digest))

    # -- manifest -------------------------------------------------------------------------

    def _check_manifest(self) -> bool:
        """Refuse a store this code cannot read; return whether the manifest exists."""
        path = f"{self._root}/{MANIFEST_NAME}"
        uri = self._fs.unstrip_protocol(path)
        try:
            manifest = json.loads(self._fs.cat_file(path))
        except FileNotFoundError:
            return False
        except ValueError as exc:
            raise SnapshotError(f"snapshot store manifest {uri} is not valid JSON: {exc}") from exc
        version = manifest.get("format_version") if isinstance(manifest, dict) else None
        if type(version) is not int or version != FORMAT_VERSION:
            raise SnapshotError(
                f"snapshot store {self.root} has format_version {version!r}; this tether reads "
                f"format_version {FORMAT_VERSION} only. Use the tether release that wrote it."
            )
        if manifest.get("algorithm") != ALGORITHM:
            raise SnapshotError(
                f"snapshot store {self.root} uses algorithm {manifest.get('algorithm')!r}; "
                f"expected {ALGORITHM!r}"
            )
        return True

    def _ensure_manifest(self) -> None:
        """Write the manifest before the first object, then re-read whichever one won."""
        if self._has_manifest:
            return
        manifest = {"algorithm": ALGORITHM, "format_version": FORMAT_VERSION}
        temp = self._new_temp()
        try:
            self._fs.pipe_file(temp, json.dumps(manifest).encode() + b"\n")
            self._publish(temp, f"{self._root}/{MANIFEST_NAME}")
        finally:
            self._discard(temp)
        self._has_manifest = self._check_manifest()

    # -- writing --------------------------------------------------------------------------

    def _is_stored(self, digest: str, size: int) -> bool:
        """Whether ``digest`` is stored; a stored object of the wrong size is an error."""
        path = self._object_path(digest)
        try:
            stored_size = int(self._fs.size(path))
        except FileNotFoundError:
            return False
        if stored_size != size:
            raise IntegrityError(
                f"snapshot {_PREFIX}{digest} was modified or corrupted: its object "
                f"{self._fs.unstrip_protocol(path)} has {stored_size} bytes, expected {size}. "
                "The store never overwrites an object: move it aside, then snapshot again."
            )
        return True

    def _copy_in(self, source: str, digest: str) -> None:
        """Copy ``source`` into the store under ``digest``, refusing it if it changed."""
        temp = self._new_temp()
        try:
            if self._local:
                copied = _copy_local(source, temp)
            else:
                with open(source, "rb", buffering=0) as reader, self._fs.open(temp, "wb") as out:
                    copied = _hash_stream(reader, out)[0]
            if copied != digest:
                raise SnapshotError(
                    f"{source!r} changed while it was being snapshotted: it hashed to "
                    f"{_PREFIX}{digest}, then its copy to {_PREFIX}{copied}. "
                    "Snapshot it once nothing is writing to it."
                )
            self._publish(temp, self._object_path(digest))
        finally:
            self._discard(temp)

    def _publish(self, temp: str, final: str) -> None:
        """Move a finished temporary file to ``final`` unless something is already there."""
        self._fs.makedirs(posixpath.dirname(final), exist_ok=True)
        if self._local:
            _publish_local(temp, final)
        elif not self._fs.exists(final):
            self._fs.mv(temp, final)

    def _discard(self, temp: str) -> None:
        with suppress(FileNotFoundError):  # already moved into place
            self._fs.rm_file(temp)

    # -- reading --------------------------------------------------------------------------

    def _open_object(self, digest: str) -> BinaryIO:
        """Open an object for reading; a missing object is a `SnapshotError`."""
        try:
            return cast(BinaryIO, self._fs.open(self._object_path(digest), "rb"))
        except FileNotFoundError as exc:
            raise self._missing(digest) from exc

    def _missing(self, digest: str) -> SnapshotError:
        return SnapshotError(
            f"snapshot {_PREFIX}{digest} is not in the store {self.root} "
            f"(no object at {self.uri_for(digest)})"
        )

    def _copy_out(self, digest: str, dest: str) -> str:
        """Copy an object to a new local file; return the sha256 of the bytes copied."""
        if self._local:
            try:
                return _copy_local(self._object_path(digest), dest)
            except FileNotFoundError as exc:  # dest's folder exists: the object is missing
                raise self._missing(digest) from exc
        with self._open_object(digest) as handle, open(dest, "xb") as out:
            return _hash_stream(handle, out)[0]

    def _check(self, digest: str, found: str) -> None:
        """Raise `IntegrityError` unless the bytes read hash to ``digest``."""
        if found != digest:
            raise IntegrityError(
                f"snapshot {_PREFIX}{digest} was modified or corrupted: its object "
                f"{self.uri_for(digest)} now hashes to {_PREFIX}{found}. The store never "
                "overwrites an object: restore it from a copy, or move it aside and snapshot "
                "the original data again."
            )
