"""The ``[loop]`` table: defaults, values read, and a wrong value refused naming its key."""

from __future__ import annotations

import pytest

from tether._config_loop import loop_settings
from tether.config import LoopSettings
from tether.errors import ConfigError


def test_an_absent_table_gives_the_defaults() -> None:
    assert loop_settings({}) == LoopSettings()
    assert LoopSettings().training_days == 60


def test_values_are_read() -> None:
    found = loop_settings({"training_days": 30, "challenger_share": 0.2, "dry_run": True})
    assert (found.training_days, found.challenger_share, found.dry_run) == (30, 0.2, True)


@pytest.mark.parametrize(
    ("table", "named"),
    [
        ({"training_days": 0}, "loop.training_days"),
        ({"paused": "yes"}, "loop.paused"),
        ({"challenger_share": 0.6, "max_challenger_share": 0.5}, "loop.challenger_share"),
    ],
)
def test_a_wrong_value_is_refused_naming_its_key(table: dict[str, object], named: str) -> None:
    with pytest.raises(ConfigError, match=named):
        loop_settings(table)
