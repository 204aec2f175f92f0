"""``tether init``: a ready project folder made from the bundled fraud example."""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

from tether._progress import Progress, no_progress
from tether.config import CONFIG_FILE, STATE_DIR
from tether.errors import ProjectError
from tether.examples.fraud.simulate import ScenarioConfig, ScenarioFiles, write_scenario
from tether.lineage import commit_new_repository, in_git_work_tree

TEMPLATE = Path(__file__).parent / "fraud" / "project"
DATA_DIR = "data"
GITIGNORE = f"{STATE_DIR}/\n{DATA_DIR}/\n__pycache__/\n"


@dataclass(frozen=True)
class NewProject:
    """What ``tether init`` made."""

    directory: Path
    files: tuple[str, ...]
    data: ScenarioFiles
    commit: str


def init_project(
    directory: Path, scenario: ScenarioConfig, *, progress: Progress = no_progress
) -> NewProject:
    """Copy the fraud example into ``directory``, generate its data, and commit it.

    A folder outside any git repository gets ``git init`` and a first commit, so that
    ``tether train`` can version its code at once; inside a repository, committing is
    left to the user.

    Example::

        init_project(Path("fraud-demo"), ScenarioConfig(n_transactions=200_000))
    """
    directory = directory.resolve()
    if (directory / CONFIG_FILE).exists():
        raise ProjectError(
            f"{directory} already holds a {CONFIG_FILE}; choose an empty or new folder."
        )
    directory.mkdir(parents=True, exist_ok=True)
    progress(f"{scenario.n_transactions:,} transactions")
    copied = []
    for source in sorted(TEMPLATE.iterdir()):
        if source.suffix in {".py", ".toml"}:
            shutil.copyfile(source, directory / source.name)
            copied.append(source.name)
    (directory / ".gitignore").write_text(GITIGNORE, encoding="utf-8")
    data = write_scenario(directory / DATA_DIR, scenario)
    commit = ""
    if not in_git_work_tree(directory):
        commit = commit_new_repository(directory, "New tether project from the fraud example")
    return NewProject(directory, (*copied, ".gitignore"), data, commit)
