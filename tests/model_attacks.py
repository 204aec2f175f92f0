"""Tampering with a registered model's artifact folder, as an attacker who can write artifacts.

Each attack edits the files of one logged model in place and restores them afterwards. The
payload is a pickle whose loading creates a marker file: if the marker exists, the payload ran.
"""

from __future__ import annotations

import contextlib
import hashlib
import pickle
import shutil
from collections.abc import Iterator
from pathlib import Path

ATTACKS = ("redirect", "added_file", "changed_mlmodel", "changed_model_file")
"""redirect: MLmodel's ``pickled_model`` names a second pickle (the payload); added_file: a
payload pickle next to model.pkl; changed_mlmodel: MLmodel edited; changed_model_file: the
payload written over model.pkl."""


class Payload:
    """Unpickling this creates ``marker`` (``open(marker, "w")``): code ran at load time."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[object, tuple[str, str]]:
        return (open, (str(self.marker), "w"))


def model_folder(project: Path, model_sha256: str) -> Path:
    """The logged model folder (under the project's artifacts) whose model.pkl has that digest."""
    for mlmodel in sorted((project / ".tether" / "artifacts").rglob("MLmodel")):
        candidate = mlmodel.parent / "model.pkl"
        if candidate.is_file() and _sha(candidate) == model_sha256:
            return mlmodel.parent
    raise AssertionError(f"no logged model folder holds a model.pkl with sha256 {model_sha256}")


@contextlib.contextmanager
def attacked(folder: Path, attack: str, marker: Path) -> Iterator[None]:
    """Apply ``attack`` to ``folder`` for the block, then restore every file."""
    backup = folder.parent / f"{folder.name}.backup"
    shutil.copytree(folder, backup)
    payload = pickle.dumps(Payload(marker))
    mlmodel = folder / "MLmodel"
    try:
        if attack == "redirect":
            (folder / "evil.pkl").write_bytes(payload)
            text = mlmodel.read_text(encoding="utf-8")
            assert "pickled_model: model.pkl" in text
            mlmodel.write_text(text.replace("pickled_model: model.pkl", "pickled_model: evil.pkl"))
        elif attack == "added_file":
            (folder / "extra.pkl").write_bytes(payload)
        elif attack == "changed_mlmodel":
            mlmodel.write_text(mlmodel.read_text(encoding="utf-8") + "# edited\n")
        elif attack == "changed_model_file":
            (folder / "model.pkl").write_bytes(payload)
        else:
            raise AssertionError(f"unknown attack {attack!r}")
        yield
    finally:
        shutil.rmtree(folder)
        shutil.move(backup, folder)


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()
