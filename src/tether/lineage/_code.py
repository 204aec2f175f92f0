"""The code version of a run: git commit, source archive, and the patch of a dirty tree.

A run records the commit of the project and stores the source tree of that commit (a
``git archive``) so that ``tether reproduce`` needs no repository. Uncommitted work is
refused unless the caller allows it; then the full patch (tracked changes and untracked,
unignored files) is recorded too. The patch is computed against a temporary index, so the
user's own staging area is never touched.

Outside a git repository, an allowed dirty run archives the project's files directly
(a deterministic tar, every file's digest recorded in it by content).
"""

from __future__ import annotations

import io
import os
import subprocess
import tarfile
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from tether.config import STATE_DIR
from tether.errors import ProjectError

SOURCE_ARCHIVE = "source.tar"
PATCH_FILE = "uncommitted.patch"
_SKIP_DIRS = frozenset({STATE_DIR, ".git", ".venv", "__pycache__", ".mypy_cache", ".ruff_cache"})


@dataclass(frozen=True)
class CodeVersion:
    """Where a run's code came from.

    ``commit`` is empty outside a git repository; ``dirty`` says a patch (or, outside
    git, the archive itself) carries changes that no commit holds.
    """

    commit: str
    dirty: bool
    repository: str
    subdirectory: str
    branch: str


def _git(args: Sequence[str], cwd: Path, env: dict[str, str] | None = None) -> bytes:
    try:
        done = subprocess.run(["git", *args], cwd=cwd, env=env, capture_output=True, check=True)
    except FileNotFoundError as exc:
        raise ProjectError("git is not installed; tether needs it to version code.") from exc
    except subprocess.CalledProcessError as exc:
        message = exc.stderr.decode(errors="replace").strip()
        raise ProjectError(f"git {' '.join(args)} failed in {cwd}: {message}") from exc
    return done.stdout


def _git_text(args: Sequence[str], cwd: Path) -> str:
    return _git(args, cwd).decode().strip()


def is_git_repository(project_dir: Path) -> bool:
    """Whether ``project_dir`` lies inside a git work tree with at least one commit."""
    probe = subprocess.run(
        ["git", "rev-parse", "--verify", "-q", "HEAD"],
        cwd=project_dir,
        capture_output=True,
        check=False,
    )
    return probe.returncode == 0


def inspect_code(project_dir: Path) -> CodeVersion:
    """Describe the code version of ``project_dir`` (which must be a git work tree)."""
    root = Path(_git_text(["rev-parse", "--show-toplevel"], project_dir))
    subdirectory = project_dir.resolve().relative_to(root.resolve()).as_posix()
    if subdirectory != "." and not _git_text(["ls-tree", "HEAD", "--", "."], project_dir):
        raise ProjectError(
            f"The project folder {project_dir} has no committed files in the repository at "
            f"{root} (is it new, or ignored there?). Commit it, or make it its own "
            "repository with `git init`."
        )
    status = _git_text(["status", "--porcelain", "--untracked-files=all", "--", "."], project_dir)
    remote = subprocess.run(
        ["git", "config", "--get", "remote.origin.url"],
        cwd=project_dir,
        capture_output=True,
        check=False,
    )
    return CodeVersion(
        commit=_git_text(["rev-parse", "HEAD"], project_dir),
        dirty=bool(status),
        repository=remote.stdout.decode().strip() or str(root),
        subdirectory="" if subdirectory == "." else subdirectory,
        branch=_git_text(["rev-parse", "--abbrev-ref", "HEAD"], project_dir),
    )


def dirty_files(project_dir: Path) -> list[str]:
    """The files ``git status`` reports as changed or untracked under ``project_dir``.

    Paths are relative to the repository root, unquoted, both sides of a rename included.
    """
    # -z: NUL-separated entries "XY path", a rename's source path following as an entry of
    # its own; no quoting of unusual names. The text must not be stripped: an unstaged change
    # starts with a space (" M tether.toml").
    status = _git(["status", "--porcelain", "-z", "--untracked-files=all", "--", "."], project_dir)
    entries = status.decode("utf-8", errors="replace").split("\0")
    files: list[str] = []
    position = 0
    while position < len(entries):
        entry = entries[position]
        position += 1
        if len(entry) < 4:
            continue  # the empty text after the last NUL
        files.append(entry[3:])
        if entry[0] in "RC" or entry[1] in "RC":
            files.append(entries[position])  # the rename's or copy's source
            position += 1
    return files


def write_source_archive(project_dir: Path, code: CodeVersion, dest: Path) -> Path:
    """Write the project's tree at ``code.commit`` as a tar rooted at the project folder."""
    treeish = f"{code.commit}:{code.subdirectory}" if code.subdirectory else code.commit
    path = dest / SOURCE_ARCHIVE
    # From the repository root: in a subfolder git reads the tree path relative to it.
    root = Path(_git_text(["rev-parse", "--show-toplevel"], project_dir))
    _git(["archive", "--format=tar", "-o", str(path), treeish], root)
    return path


def write_patch(project_dir: Path, dest: Path) -> Path:
    """Write the uncommitted changes under ``project_dir``, untracked files included.

    The patch is relative to the project folder and applies to the source archive with
    ``git apply``. A temporary index stages everything without touching the user's.
    """
    with tempfile.TemporaryDirectory() as scratch:
        env = {**os.environ, "GIT_INDEX_FILE": str(Path(scratch) / "index")}
        _git(["read-tree", "HEAD"], project_dir, env)
        _git(["add", "--all", "--", "."], project_dir, env)
        patch = _git(
            ["diff", "--cached", "--binary", "--relative", "--no-color", "HEAD"],
            project_dir,
            env,
        )
    path = dest / PATCH_FILE
    path.write_bytes(patch)
    return path


def write_directory_archive(project_dir: Path, exclude: Sequence[Path], dest: Path) -> Path:
    """Archive a project that is not under git: every file but state, caches and data.

    The tar is deterministic (sorted names, zero times and owners), so the same files give
    the same bytes and the same digest.
    """
    excluded = {p.resolve() for p in exclude}
    path = dest / SOURCE_ARCHIVE
    with tarfile.open(path, "w", format=tarfile.PAX_FORMAT) as tar:
        for file in sorted(_project_files(project_dir, excluded)):
            info = tarfile.TarInfo(file.relative_to(project_dir).as_posix())
            data = file.read_bytes()
            info.size = len(data)
            info.mode = 0o755 if os.access(file, os.X_OK) else 0o644
            tar.addfile(info, io.BytesIO(data))
    return path


def _project_files(project_dir: Path, excluded: set[Path]) -> list[Path]:
    files: list[Path] = []
    for folder, subdirs, names in os.walk(project_dir):
        subdirs[:] = sorted(d for d in subdirs if d not in _SKIP_DIRS)
        for name in names:
            file = Path(folder) / name
            if file.resolve() not in excluded and not file.is_symlink():
                files.append(file)
    return files


def restore_source(archive: Path, patch: Path | None, dest: Path) -> Path:
    """Unpack a source archive into ``dest`` and apply the recorded patch, if any."""
    dest.mkdir(parents=True, exist_ok=True)
    with tarfile.open(archive) as tar:
        tar.extractall(dest, filter="data")
    if patch is not None and patch.stat().st_size > 0:
        # Outside any repository, `git apply` acts as a patch tool that understands
        # binary and new-file hunks.
        _git(["apply", "--whitespace=nowarn", str(patch)], dest)
    return dest


def commit_new_repository(directory: Path, message: str) -> str:
    """``git init`` a folder that is in no repository, commit everything, return the commit.

    When no git identity is configured a fixed one is used, so a new project can train
    at once on a fresh machine.
    """
    _git(["init", "--quiet"], directory)
    _git(["add", "--all"], directory)
    identity: list[str] = []
    if not _configured(directory, "user.email") or not _configured(directory, "user.name"):
        identity = ["-c", "user.name=tether", "-c", "user.email=tether@localhost"]
    _git([*identity, "commit", "--quiet", "--no-gpg-sign", "-m", message], directory)
    return _git_text(["rev-parse", "HEAD"], directory)


def in_git_work_tree(directory: Path) -> bool:
    """Whether ``directory`` is inside a git work tree that does not ignore it."""
    probe = subprocess.run(
        ["git", "rev-parse", "--is-inside-work-tree"],
        cwd=directory,
        capture_output=True,
        check=False,
    )
    if probe.returncode != 0 or probe.stdout.strip() != b"true":
        return False
    ignored = subprocess.run(
        ["git", "check-ignore", "-q", str(directory)], cwd=directory, check=False
    )
    return ignored.returncode != 0


def _configured(directory: Path, key: str) -> bool:
    probe = subprocess.run(
        ["git", "config", "--get", key], cwd=directory, capture_output=True, check=False
    )
    return probe.returncode == 0 and bool(probe.stdout.strip())
