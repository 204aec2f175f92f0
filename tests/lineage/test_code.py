"""Code versioning: commits, archives, patches with untracked files, and restoring them."""

from __future__ import annotations

import subprocess
from pathlib import Path

from tether.lineage._code import (
    commit_new_repository,
    dirty_files,
    inspect_code,
    is_git_repository,
    restore_source,
    write_directory_archive,
    write_patch,
    write_source_archive,
)


def _project(tmp_path: Path) -> Path:
    root = tmp_path / "repo"
    project = root / "sub"
    project.mkdir(parents=True)
    (project / "train.py").write_text("VALUE = 1\n")
    (root / "elsewhere.txt").write_text("not part of the project\n")
    commit_new_repository(root, "first")
    return project


def test_a_project_in_a_subfolder_archives_only_its_folder(tmp_path: Path) -> None:
    project = _project(tmp_path)
    code = inspect_code(project)
    assert code.subdirectory == "sub"
    assert not code.dirty
    out = tmp_path / "out"
    out.mkdir()
    restored = restore_source(write_source_archive(project, code, out), None, tmp_path / "r")
    assert sorted(p.name for p in restored.iterdir()) == ["train.py"]


def test_the_patch_carries_edits_and_untracked_files_without_touching_the_index(
    tmp_path: Path,
) -> None:
    project = _project(tmp_path)
    (project / "train.py").write_text("VALUE = 2\n")
    (project / "new_module.py").write_text("NEW = True\n")
    code = inspect_code(project)
    assert code.dirty
    out = tmp_path / "out"
    out.mkdir()
    archive = write_source_archive(project, code, out)
    patch = write_patch(project, out)
    staged = subprocess.run(
        ["git", "diff", "--cached", "--name-only"], cwd=project, capture_output=True, text=True
    )
    assert staged.stdout == "", "the user's staging area is untouched"
    restored = restore_source(archive, patch, tmp_path / "restored")
    assert (restored / "train.py").read_text() == "VALUE = 2\n"
    assert (restored / "new_module.py").read_text() == "NEW = True\n"


def test_a_folder_archive_is_deterministic_and_skips_state_and_data(tmp_path: Path) -> None:
    project = tmp_path / "plain"
    (project / ".tether").mkdir(parents=True)
    (project / ".tether" / "state").write_text("x")
    (project / "train.py").write_text("A = 1\n")
    (project / "data.csv").write_text("a\n1\n")
    assert not is_git_repository(project)
    first, second = tmp_path / "a", tmp_path / "b"
    first.mkdir()
    second.mkdir()
    one = write_directory_archive(project, [project / "data.csv"], first)
    two = write_directory_archive(project, [project / "data.csv"], second)
    assert one.read_bytes() == two.read_bytes()
    restored = restore_source(one, None, tmp_path / "r")
    assert sorted(p.name for p in restored.iterdir()) == ["train.py"]


def test_dirty_files_names_every_changed_file_whole(tmp_path: Path) -> None:
    # `git status --porcelain` starts a modified file's line with a space (" M tether.toml"):
    # a stripped first line once lost the file name's first character ("ether.toml").
    project = _project(tmp_path)
    (project / "train.py").write_text("VALUE = 2\n")
    (project / "new file.py").write_text("NEW = True\n")
    (project / "données.py").write_text("X = 1\n")
    assert sorted(dirty_files(project)) == ["sub/données.py", "sub/new file.py", "sub/train.py"]


def test_dirty_files_names_both_sides_of_a_staged_rename(tmp_path: Path) -> None:
    project = _project(tmp_path)
    subprocess.run(["git", "mv", "train.py", "renamed.py"], cwd=project, check=True)
    assert sorted(dirty_files(project)) == ["sub/renamed.py", "sub/train.py"]
