"""The README is part of the product: its configuration table matches ``config.py``, and
what it points to lies inside this repository (a fresh clone has nothing beside it)."""

from __future__ import annotations

import re
from pathlib import Path

from tether import config

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text(encoding="utf-8")
FREE_FORM = {
    "datasets": "datasets.<name>",
    "train.params": "train.params.<name>",
    "monitoring.business": "monitoring.business.<name>",
    "train.window": "train.window.known_time.<name>",
}
"""Tables whose keys are the user's own names: the README documents them with a placeholder."""


def _section(title: str) -> str:
    start = README.index(f"## {title}")
    end = README.find("\n## ", start + 1)
    return README[start : end if end != -1 else None]


def _first_cells(text: str) -> list[str]:
    return re.findall(r"^\| `([^`]+)` \|", text, flags=re.MULTILINE)


def test_the_reference_table_documents_every_key_config_reads_and_no_other() -> None:
    documented = _first_cells(_section("Configuration reference"))
    known = {
        f"{section}.{key}"
        for section, keys in config._SECTIONS.items()
        for key in keys
        if f"{section}.{key}" not in FREE_FORM
    }
    known |= set(FREE_FORM.values())
    known -= {"train.params", "monitoring.business"}  # tables: documented by placeholder rows
    known.discard("train.threshold")  # a table of fixed keys, each documented
    known |= {f"train.threshold.{key}" for key in ("rule", *config.THRESHOLD_KEYS.values())}
    tables = [key for key in documented if key.endswith("<name>")]
    keys = [key for key in documented if key not in tables and "." in key]
    assert len(set(documented)) == len(documented), "a key is documented twice"
    assert set(keys) | set(tables) == known


def test_every_environment_variable_config_reads_is_documented() -> None:
    variables = {
        value
        for name, value in vars(config).items()
        if name.endswith("_ENV") and isinstance(value, str) and value.startswith("TETHER_")
    }
    documented = set(_first_cells(_section("Configuration reference")))
    assert variables <= documented, sorted(variables - documented)


def test_every_default_in_the_table_is_the_default_config_applies(tmp_path: Path) -> None:
    settings = config.settings_from_mapping(
        {"project": {"name": "p"}, "train": {"entry_point": "train:train", "label": "y"}},
        tmp_path,
        {},
    )
    rows = dict(
        re.findall(r"^\| `([^`]+)` \| `([^`]+)` \|", _section("Configuration reference"), re.M)
    )
    values = {
        "train.seed": settings.train.seed,
        "train.threads": settings.train.threads,
        "train.threshold.value": settings.train.threshold.value,
        "tracking.timeout_s": settings.stores.timeout_s,
        "tracking.retries": settings.stores.retries,
        "features.engine": settings.features.engine,
        "features.online": settings.features.online,
        "features.naive_timestamps": settings.features.naive_timestamps,
        "features.max_skew_rate": settings.features.max_skew_rate,
        "features.skew_tolerance": settings.features.skew_tolerance,
        # Every scalar serving key, from config's own table of keys: a new one is checked too.
        **{
            f"serving.{key}": getattr(settings.serving, key)
            for key in config._SECTIONS["serving"]
            if not isinstance(getattr(settings.serving, key), tuple)  # lists: shown as []
        },
        **{
            f"monitoring.{key}": getattr(settings.monitoring, key)
            for key in config._SECTIONS["monitoring"] - {"business", "webhook_url"}
        },
    }
    for key, value in values.items():
        shown = rows[key]
        if isinstance(value, bool):
            assert shown == str(value).lower(), key
        elif isinstance(value, int | float):
            assert float(shown) == value, key
        else:
            assert shown == value, key


def test_links_and_paths_stay_inside_the_repository() -> None:
    targets = re.findall(r"\]\(([^)\s]+)\)", README)
    for target in targets:
        assert not re.match(r"[a-z]+://", target), f"a link leaves the repository: {target}"
        assert (ROOT / target.split("#")[0]).exists(), f"a link to a missing file: {target}"
    assert "../" not in README.replace("../my-fraud", ""), "a path outside the repository"
    for path in re.findall(r"`((?:docs|benchmarks|tests|src)/[\w./-]+)`", README):
        assert (ROOT / path.split("::")[0]).exists(), f"the README names a missing file: {path}"
