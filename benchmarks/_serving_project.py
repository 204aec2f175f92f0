"""The serving benchmark's data: one fraud project, trained three times, deployed three ways.

``tether init`` generates the payments; ``tether train`` runs three times, giving versions 1
(``max_iter=100``), 2 (``max_iter=120``) and 3 (``max_iter=80``). Copies of that project folder
then hold the deployments the servers serve, each with its own registry events and prediction
log (two servers never share a SQLite file):

* ``solo``: version 1 champion;
* ``shadow``: version 1 champion, version 3 shadow;
* ``full``: version 1 champion, version 2 challenger at 10%, version 3 shadow.

A copy's MLflow database names the trained artifacts by absolute path, so every copy serves the
very files trained in ``base`` (each load checks them against their manifest). The folder is
reused by later runs when ``ready.json`` says it was built with the same number of transactions
and with artifact manifests.

The request rows are the held-out evaluation frame of version 1, read from the snapshot store
by the digest its run recorded, without the label and without rows holding a NaN (JSON has no
NaN): every server receives the same rows in the same order.
"""

from __future__ import annotations

import io
import json
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

import tether
from tether.lineage import SnapshotStore

MODEL = "fraud-detector"
LABEL = "is_fraud"
TRAININGS = (100, 120, 80)
"""``max_iter`` of versions 1, 2 and 3."""
CHALLENGER_TRAFFIC = 0.1
LAYOUTS: dict[str, list[list[str]]] = {
    "solo": [["1", "--as", "champion"]],
    "shadow": [["1", "--as", "champion"], ["3", "--as", "shadow"]],
    "full": [
        ["1", "--as", "champion"],
        ["2", "--as", "challenger", "--traffic", str(CHALLENGER_TRAFFIC)],
        ["3", "--as", "shadow"],
    ],
}
TETHER = Path(sys.executable).with_name("tether")


@dataclass(frozen=True)
class Projects:
    """The project folders, and the digest of the evaluation frame the requests come from."""

    root: Path
    evaluation_digest: str

    @property
    def base(self) -> Path:
        """The trained project (not served)."""
        return self.root / "base"

    def layout(self, name: str) -> Path:
        """The project folder of deployment ``name`` (a key of :data:`LAYOUTS`)."""
        return self.root / name


def _tether(*args: str, log: Path) -> str:
    """Run the tether CLI; its output is appended to ``log`` and returned."""
    done = subprocess.run([str(TETHER), *args], capture_output=True, text=True, check=False)
    with log.open("a") as out:
        out.write(f"$ tether {' '.join(args)}\n{done.stdout}{done.stderr}\n")
    if done.returncode != 0:
        raise RuntimeError(f"tether {' '.join(args)} failed ({done.returncode}); see {log}")
    return done.stdout


def ensure_projects(root: Path, transactions: int) -> Projects:
    """Build (or reuse) the trained project and its deployments under ``root``."""
    marker = root / "ready.json"
    if marker.exists():
        ready = json.loads(marker.read_text())
        # Built before artifact manifests (issue 8), its versions would be refused: rebuild.
        if ready.get("transactions") == transactions and ready.get("manifests") == 1:
            return Projects(root, str(ready["evaluation_digest"]))
    shutil.rmtree(root, ignore_errors=True)
    root.mkdir(parents=True)
    log = root / "setup.log"
    projects = Projects(root, "")
    _tether("init", str(projects.base), "--transactions", str(transactions), log=log)
    digests = []
    for max_iter in TRAININGS:
        out = _tether("-C", str(projects.base), "train", "--param", f"max_iter={max_iter}",
                      "--json", log=log)  # fmt: skip
        digests.append(json.loads(out)["datasets"]["evaluation"])
    for name, deploys in LAYOUTS.items():
        shutil.copytree(projects.base, projects.layout(name), symlinks=True)
        for deploy in deploys:
            _tether("-C", str(projects.layout(name)), "models", "deploy", *deploy,
                    "--reason", "serving benchmark", log=log)  # fmt: skip
    marker.write_text(
        json.dumps({"transactions": transactions, "evaluation_digest": digests[0], "manifests": 1})
    )
    return Projects(root, digests[0])


def request_rows(projects: Projects, columns: list[str]) -> pd.DataFrame:
    """The request rows: ``columns`` of version 1's evaluation frame, rows without NaN."""
    settings = tether.load_settings(projects.base)
    store = SnapshotStore(settings.stores.snapshot_uri)
    frame = pd.read_parquet(io.BytesIO(store.read_bytes(projects.evaluation_digest)))
    return frame.drop(columns=[LABEL])[columns].dropna().reset_index(drop=True)


def _records(rows: pd.DataFrame) -> list[dict[str, int | float]]:
    """The rows as plain Python numbers (ints stay ints: MLflow's schema says ``long``)."""
    columns = {name: rows[name].tolist() for name in rows.columns}
    return [{name: columns[name][i] for name in rows.columns} for i in range(len(rows))]


def unit_id(position: int) -> str:
    """The sticky unit of request row ``position``: one customer per row."""
    return f"customer-{position}"


def write_bodies(rows: pd.DataFrame, folder: Path) -> dict[str, Path]:
    """One JSON body per line, per request format: ``tether`` (also the floor's), ``mlflow``."""
    folder.mkdir(parents=True, exist_ok=True)
    records = _records(rows)
    columns = list(rows.columns)
    tether_lines = [
        json.dumps({"instances": [{"features": record, "unit_id": unit_id(i)}]})
        for i, record in enumerate(records)
    ]
    mlflow_lines = [
        json.dumps({"dataframe_split": {"columns": columns, "data": [list(record.values())]}})
        for record in records
    ]
    paths = {"tether": folder / "bodies-tether.jsonl", "mlflow": folder / "bodies-mlflow.jsonl"}
    paths["tether"].write_text("\n".join(tether_lines) + "\n")
    paths["mlflow"].write_text("\n".join(mlflow_lines) + "\n")
    return paths
