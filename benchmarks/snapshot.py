"""Data snapshots: tether's SnapshotStore against coreutils ``sha256sum`` on the same file.

Usage::

    python benchmarks/snapshot.py [--size-mb 1024] [--dir DIR] [--repeats 3]

Writes a file of seeded random bytes, reads it once so that every contender reads from the
page cache, then runs, interleaved, ``--repeats`` times each:

* tether, first snapshot: ``put_file`` into an empty store (hash, copy, hash the copy, fsync);
* tether, second snapshot of the unchanged file: ``put_file`` again (hash only, must write
  nothing: checked by the store's object count and by the process's written bytes);
* ``sha256sum FILE``, the peer: the same file, the same digest (checked);
* the rejected design, copy-while-hashing into a temporary object that is discarded because
  the object already exists: what an unchanged dataset would cost without hashing first.

Prints the median time of each, MiB/s, and the throughput ratio to ``sha256sum``.
Everything is written under a temporary folder that is removed at the end.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import platform
import random
import shutil
import statistics
import subprocess
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from tether.lineage import SnapshotStore, sha256_file

SEED = 20240602
MIB = 1 << 20
CHUNK = MIB


def write_random_file(path: Path, size_mib: int) -> None:
    """Write ``size_mib`` MiB of seeded random bytes, one MiB at a time."""
    generator = random.Random(SEED)
    with path.open("wb") as out:
        for _ in range(size_mib):
            out.write(generator.randbytes(MIB))


def written_bytes() -> int | None:
    """Bytes this process has passed to write-like system calls (Linux ``wchar``), or None."""
    try:
        lines = Path("/proc/self/io").read_text().splitlines()
    except OSError:
        return None
    return next(int(line.split()[1]) for line in lines if line.startswith("wchar:"))


def timed(action: Callable[[], object]) -> tuple[float, int | None]:
    """Run ``action``; return its wall time and the bytes it wrote (None if unknown)."""
    before = written_bytes()
    start = time.perf_counter()
    action()
    elapsed = time.perf_counter() - start
    after = written_bytes()
    return elapsed, None if before is None or after is None else after - before


def run_sha256sum(path: Path, expected: str) -> None:
    """Run coreutils ``sha256sum`` on ``path`` and check it agrees with tether."""
    output = subprocess.run(["sha256sum", str(path)], check=True, capture_output=True, text=True)
    digest = output.stdout.split()[0]
    if digest != expected:
        raise SystemExit(f"sha256sum printed {digest}, tether {expected}: they must agree")


def copy_while_hashing(source: Path, store: SnapshotStore, temp_dir: Path) -> None:
    """The rejected design: copy to a temporary object while hashing, then discard it."""
    digest = hashlib.sha256()
    temp = temp_dir / "copy-while-hashing.partial"
    with source.open("rb", buffering=0) as reader, temp.open("wb") as out:
        while chunk := reader.read(CHUNK):
            digest.update(chunk)
            out.write(chunk)
    if not store.exists(digest.hexdigest()):
        raise SystemExit("copy-while-hashing expected the object to be stored already")
    temp.unlink()


def count_objects(store_root: Path) -> int:
    return sum(1 for path in (store_root / "objects").rglob("*") if path.is_file())


def machine() -> str:
    """CPU model, logical CPUs, memory and Python, for the results header."""
    model = platform.processor() or "unknown CPU"
    memory = ""
    if Path("/proc/cpuinfo").exists():
        info = Path("/proc/cpuinfo").read_text().splitlines()
        model = next((ln.split(":", 1)[1].strip() for ln in info if "model name" in ln), model)
        meminfo = Path("/proc/meminfo").read_text().split()
        memory = f", {int(meminfo[meminfo.index('MemTotal:') + 1]) / MIB:.1f} GiB RAM"
    return f"{model}, {os.cpu_count()} logical CPUs{memory}, Python {platform.python_version()}"


def one_round(source: Path, root: Path, expected: str, work: Path) -> dict[str, float]:
    """Time each contender once on ``source``, with a fresh store at ``root``."""
    store = SnapshotStore(root)
    first, first_written = timed(lambda: store.put_file(source))
    second, second_written = timed(lambda: store.put_file(source))
    if count_objects(root) != 1 or second_written not in (0, None):
        raise SystemExit(f"second snapshot wrote {second_written} bytes; expected none")
    print(f"bytes written: first snapshot {first_written}, second {second_written}", flush=True)
    peer = timed(lambda: run_sha256sum(source, expected))[0]
    rejected = timed(lambda: copy_while_hashing(source, store, work))[0]
    shutil.rmtree(root)
    return {"first": first, "second": second, "sha256sum": peer, "copy_while_hashing": rejected}


def benchmark(work: Path, size_mib: int, repeats: int) -> dict[str, list[float]]:
    """Run the four contenders ``repeats`` times, interleaved; return their wall times."""
    source = work / "data.bin"
    write_random_file(source, size_mib)
    expected = sha256_file(source)  # the warm-up read: all contenders now read from cache
    times: dict[str, list[float]] = {name: [] for name in LABELS}
    for attempt in range(repeats):
        for name, seconds in one_round(source, work / f"store-{attempt}", expected, work).items():
            times[name].append(seconds)
    return times


LABELS = {
    "first": "tether put_file, first snapshot (hash, copy, hash copy, fsync)",
    "second": "tether put_file, unchanged file (hash only, 0 bytes written)",
    "sha256sum": "sha256sum FILE (coreutils)",
    "copy_while_hashing": "rejected design, unchanged file: copy while hashing, discard",
}


def report(times: dict[str, list[float]], size_mib: int) -> None:
    """Print the medians, MiB/s and the throughput ratio to sha256sum as a Markdown table."""
    peer = statistics.median(times["sha256sum"])
    print(f"\n| operation ({size_mib} MiB file) | median s | MiB/s | throughput / sha256sum |")
    print("| --- | ---: | ---: | ---: |")
    for name, label in LABELS.items():
        median = statistics.median(times[name])
        runs = ", ".join(f"{value:.2f}" for value in times[name])
        speed = size_mib / median
        print(f"| {label} | {median:.2f} ({runs}) | {speed:,.0f} | {peer / median:.2f} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size-mb", type=int, default=1024, help="file size in MiB")
    parser.add_argument("--dir", type=Path, default=None, help="where to put the temporary files")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    if shutil.which("sha256sum") is None:
        raise SystemExit("sha256sum (coreutils) is needed as the peer")
    print(f"machine: {machine()}; load average {os.getloadavg()}", flush=True)
    with tempfile.TemporaryDirectory(prefix="tether-snapshot-bench-", dir=args.dir) as work:
        times = benchmark(Path(work), args.size_mb, args.repeats)
    report(times, args.size_mb)


if __name__ == "__main__":
    main()
