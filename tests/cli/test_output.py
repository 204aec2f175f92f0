"""What the CLI prints is the text tether wrote: square brackets are never Rich markup.

tether's messages quote TOML sections (``[serving]``), lists (``['customer_id']``) and
user values, all in square brackets, which Rich would read as style tags and drop. Every
renderer is fed bracketed text here: error and warning paragraphs, tables, the progress
label, plain text, help, and ``--json``.
"""

from __future__ import annotations

import io
import json
from collections.abc import Callable
from pathlib import Path

import pytest
from rich.console import Console

from tether.cli import _render

RunCli = Callable[[list[str]], tuple[int, str, str]]
BRACKETED = "[serving] [bold]x[/bold] [link=https://example.com]y[/link] :warning: [/]"
SHORT = "[serving] [bold]x[/] :warning:"  # a table cell that fits the 80 columns of a test


def test_error_and_warning_paragraphs_keep_square_brackets(
    capsys: pytest.CaptureFixture[str],
) -> None:
    _render.error(BRACKETED)
    _render.warning(BRACKETED)
    err = capsys.readouterr().err
    assert err.splitlines() == [f"error: {BRACKETED}", f"warning: {BRACKETED}"]


def test_tables_and_plain_text_keep_square_brackets(capsys: pytest.CaptureFixture[str]) -> None:
    _render.key_values(f"title {BRACKETED}", {f"key {SHORT}": f"value {SHORT}"})
    _render.text(BRACKETED)
    out = capsys.readouterr().out
    assert f"title {BRACKETED}" in out
    assert f"key {SHORT}" in out and f"value {SHORT}" in out
    assert out.splitlines()[-1] == BRACKETED


def test_the_progress_label_keeps_square_brackets(monkeypatch: pytest.MonkeyPatch) -> None:
    screen = io.StringIO()
    console = Console(file=screen, force_terminal=True, width=200, record=True)
    monkeypatch.setattr(_render, "err", console)
    with _render.steps(f"title {BRACKETED}", False) as progress:
        progress(f"step {BRACKETED}")
    assert f"title {BRACKETED}: step {BRACKETED}..." in console.export_text()


def test_an_unknown_section_names_it_with_its_brackets(tmp_path: Path, run_cli: RunCli) -> None:
    (tmp_path / "tether.toml").write_text('[project]\nname = "x"\n[servng]\nport = 1\n')
    code, _, err = run_cli(["-C", str(tmp_path), "features", "list"])
    assert code == 2
    assert "Unknown section [servng] in tether.toml; expected one of [project]," in err


def test_help_texts_are_printed_verbatim(run_cli: RunCli) -> None:
    code, out, _ = run_cli(["serve", "--help"])
    assert code == 0
    assert "[serving] port, 8000" in " ".join(out.split())


def test_json_output_stays_json_with_brackets_in_values(
    feature_project: Path, run_cli: RunCli
) -> None:
    cli = ["-C", str(feature_project), "features", "get", "[a]", "--request", "amount=1"]
    code, out, err = run_cli([*cli, "--json"])
    assert code == 0, err
    assert json.loads(out)["vectors"][0]["entity"] == {"customer_id": "[a]"}
    code, out, err = run_cli(cli)
    assert code == 0, err
    assert "customer_id=[a]" in out  # the title, its brackets kept (no rich markup)


def test_a_metrics_line_prints_counts_whole_and_tiny_values_in_significant_digits() -> None:
    line = _render.metrics_line(
        {"roc_auc": 0.93121, "eval_rows": 1317.0, "threshold": 5.1432e-05, "precision": 1.0}
    )
    assert line == "eval_rows=1317 precision=1.0000 roc_auc=0.9312 threshold=5.14e-05"
    assert _render.metrics_line({"threshold": 0.0}) == "threshold=0.0000"
