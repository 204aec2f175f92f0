"""The compliance answer: what trained a model, from the run's own record.

``tether audit`` names the data (digests, rows, time ranges, schemas), the code (commit,
patch, repository), the configuration (params, seed), the environment, the metrics, when
and by whom each model version was registered, and what the closed loop decided about each
(the caller reads the loop's events: lineage comes before loop in the order of packages).
The report is built once as sections of rows and rendered to Markdown, HTML or JSON from
that one structure.

Aliases come from the registry's event log, which is their authority (MLflow's copy can lag
behind, and MLflow's version search does not return aliases at all): the caller passes the
model's aliases now and its history, whose "aliases after" column tells them over time.
"""

from __future__ import annotations

import html
import json
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from tether import _mlflow
from tether.config import Stores
from tether.lineage._environment import MODEL_REQUIREMENTS, Environment
from tether.lineage._record import RunRecord
from tether.lineage._reproduce import load_record, recorded_environment, resolve_run
from tether.lineage._window import TrainWindow

Row = tuple[str, ...]


@dataclass(frozen=True)
class Section:
    """One titled table of the report."""

    title: str
    header: Row
    rows: tuple[Row, ...]


@dataclass(frozen=True)
class HistoryEntry:
    """One registry transition that touched a version of the audited run."""

    event_id: int
    time: str
    action: str
    actor: str
    reason: str
    change: str


@dataclass(frozen=True)
class MonitorEntry:
    """One stored monitor run that judged a version of the audited run: when (the clock's
    time), over which window, what it found for the version and the model's diagnosis."""

    run_id: int
    time: str
    window: str
    version: str
    role: str
    drift: str
    performance: str
    action: str
    cause: str
    alerts: int


@dataclass(frozen=True)
class LoopEntry:
    """One step the closed loop took about a version of the audited run (its retrain, gate,
    shadow and challenger steps, its promotion or discard, a rollback away from it): when (the
    loop's clock), the step, the phase it left the model in, and its evidence."""

    event_id: int
    time: str
    step: str
    version: str
    phase: str
    summary: str
    evidence: Mapping[str, Any]


@dataclass(frozen=True)
class AuditReport:
    """Everything the audit found about one run and the versions it produced."""

    record: RunRecord
    run: _mlflow.RunInfo
    versions: tuple[_mlflow.ModelVersionInfo, ...]
    environment: Environment
    history: tuple[HistoryEntry, ...] = ()
    monitoring: tuple[MonitorEntry, ...] = ()
    aliases: Mapping[str, str] | None = None
    """The model's aliases now, from the event log (alias -> version); None when the event
    log could not be read, and MLflow's copy is shown."""
    loop: tuple[LoopEntry, ...] = ()
    loop_ran: bool | None = None
    """Whether the loop's tables exist in the project's store (False: the loop never ran);
    None when they were not read (the caller had no project)."""

    def version_aliases(self, version: _mlflow.ModelVersionInfo) -> list[str]:
        """The aliases ``version`` holds now: the event log's when known, else MLflow's."""
        if self.aliases is None:
            return sorted(version.aliases)
        return sorted(a for a, v in self.aliases.items() if v == version.version)

    def sections(self) -> list[Section]:
        """The report as titled tables, in the order a reader asks the questions."""
        return [
            _model_section(self),
            _data_section(self.record),
            _code_section(self.record),
            _config_section(self.record),
            _environment_section(self.environment),
            _metrics_section(self.record),
            _monitoring_section(self.record),
            _history_section(self.history),
            _monitor_section(self.monitoring),
            _loop_section(self.loop, self.loop_ran),
        ]

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready form: the full record, the run, versions and every package."""
        return {
            "record": asdict(self.record),
            "run": {**asdict(self.run), "start_time": self.run.start_time.isoformat()},
            "versions": [
                {**asdict(v), "created": v.created.isoformat(), "aliases": self.version_aliases(v)}
                for v in self.versions
            ],
            "aliases": dict(self.aliases) if self.aliases is not None else None,
            "environment": asdict(self.environment),
            "history": [asdict(h) for h in self.history],
            "monitoring": [asdict(m) for m in self.monitoring],
            "loop": {"ran": self.loop_ran, "decisions": [asdict(e) for e in self.loop]},
            # Also inside "record"; at the top so that a reader need not know the record.
            "decision": asdict(self.record.decision) if self.record.decision else None,
            "reference": asdict(self.record.reference) if self.record.reference else None,
        }


def audit(stores: Stores, ref: str, history: Sequence[HistoryEntry] = ()) -> AuditReport:
    """Collect the audit of ``RUN_ID``, ``MODEL@ALIAS`` or ``MODEL/VERSION``.

    ``history`` is what the registry's event log says about the run's versions (the
    caller reads it: lineage does not depend on the registry).

    Example::

        print(render_markdown(audit(locate_stores("my-project"), "fraud-detector/1")))
    """
    tracking = stores.tracking_uri
    run_id = resolve_run(tracking, ref)
    with tempfile.TemporaryDirectory(prefix="tether-audit-") as scratch:
        record = load_record(tracking, run_id, Path(scratch) / "record")
        environment = recorded_environment(tracking, record, Path(scratch) / "env")
    return AuditReport(
        record=record,
        run=_mlflow.get_run(tracking, run_id),
        versions=tuple(_mlflow.versions_of_run(tracking, run_id)),
        environment=environment,
        history=tuple(history),
    )


def _model_section(report: AuditReport) -> Section:
    record, run = report.record, report.run
    rows: list[Row] = [
        ("run", record.run_id, f"started {run.start_time.isoformat()} by {run.user or '?'}"),
        (
            "model file sha256",
            record.model.sha256,
            f"{record.model.flavor}, {record.model.serialization}",
        ),
        ("run key", record.run_key, "digest of code, config and data"),
    ]
    for version in report.versions:
        aliases = ", ".join(report.version_aliases(version)) or "no alias"
        rows.append(
            (
                f"registered {version.name}/{version.version}",
                f"{version.created.isoformat()} by {_registrant(version)}",
                aliases,
            )
        )
    return Section("Model", ("what", "value", "detail"), tuple(rows))


def _registrant(version: _mlflow.ModelVersionInfo) -> str:
    return version.user or version.tags.get("tether.registered_by", "") or "(unknown)"


def _data_section(record: RunRecord) -> Section:
    rows = []
    for dataset in (*record.datasets, record.evaluation):
        ranges = "; ".join(f"{c}: {lo} .. {hi}" for c, (lo, hi) in dataset.time_ranges.items())
        schema = ", ".join(f"{c} {t}" for c, t in dataset.schema.items())
        rows.append(
            (
                dataset.name,
                dataset.context,
                f"sha256:{dataset.digest}",
                str(dataset.rows),
                ranges or "-",
                schema,
                dataset.source,
            )
        )
    header = ("dataset", "role", "digest", "rows", "time range", "schema", "source")
    return Section("Data", header, tuple(rows))


def _code_section(record: RunRecord) -> Section:
    code = record.code
    patch = f"yes, sha256:{code.patch_sha256}" if code.patch_sha256 else "no"
    rows: tuple[Row, ...] = (
        ("commit", code.commit or "(not a git repository: files archived by digest)"),
        ("uncommitted changes recorded", patch if code.commit else "archive only"),
        ("source archive sha256", code.archive_sha256),
        ("repository", code.repository),
        ("folder in repository", code.subdirectory or "(root)"),
        ("branch", code.branch or "-"),
        ("entry point", record.entry_point),
    )
    return Section("Code", ("what", "value"), rows)


def _config_section(record: RunRecord) -> Section:
    rows: list[Row] = [("seed", str(record.seed)), ("threads", str(record.threads))]
    rows += [(f"param {k}", json.dumps(v)) for k, v in sorted(record.params.items())]
    rows.append(("label", record.label))
    if record.window:  # format 3 on: the window the run trained on and its cut-off
        window = TrainWindow.from_dict(dict(record.window))
        rows.append(("training window", window.describe()))
        known = ", ".join(f"{k} by {v}" for k, v in sorted(record.known_time.items()))
        rows.append(("datasets cut at the cut-off", known or "(none)"))
    return Section("Configuration", ("what", "value"), tuple(rows))


def _environment_section(environment: Environment) -> Section:
    rows: list[Row] = [
        ("python", environment.python),
        ("platform", environment.platform),
        ("machine", environment.machine),
        (
            "packages",
            f"{len(environment.packages)} (full list: environment/requirements.frozen.txt)",
        ),
    ]
    rows += [
        (name, environment.packages[name])
        for name in MODEL_REQUIREMENTS
        if name in environment.packages
    ]
    return Section("Environment", ("what", "value"), tuple(rows))


def _metrics_section(record: RunRecord) -> Section:
    rows = tuple((name, f"{value:.6g}") for name, value in sorted(record.metrics.items()))
    return Section("Metrics (held-out evaluation)", ("metric", "value"), rows)


def _monitoring_section(record: RunRecord) -> Section:
    """The decision threshold and the reference profile the monitor compares traffic with."""
    rows: list[Row] = []
    decision = record.decision
    if decision is None:
        what = "none: decisions are null" if record.format_version >= 2 else (
            "none: recorded before tether chose thresholds (record format 1)"
        )  # fmt: skip
        rows.append(("decision threshold", what, ""))
    else:
        rule = "fixed" if decision.target is None else f"{decision.rule} >= {decision.target:g}"
        rows += [
            ("decision threshold", f"{decision.threshold:.6g}", "a score at or above it is 1"),
            ("threshold rule", rule, "[train.threshold], on the held-out frame"),
            (
                "at the threshold (held out)",
                f"precision {decision.precision:.4f}, recall {decision.recall:.4f}, "
                f"decision rate {decision.decision_rate:.4f}",
                f"{decision.rows} rows, {decision.positives} positive",
            ),
        ]
    reference = record.reference
    if reference is None or reference.profile is None:
        rows.append(("reference profile", "none", "trained without one"))
    else:
        profile = reference.profile
        rows += [
            ("reference profile", f"sha256:{profile.sha256}", profile.path),
            ("profiled rows", str(reference.rows), f"format {reference.profile_format}"),
            (
                "profiled features",
                str(len(reference.features)),
                ", ".join(reference.features) + f"; score as {reference.score!r}",
            ),
        ]
    if reference is not None:
        held = reference.held_out
        rows.append(("held-out scores and labels", f"sha256:{held.sha256}", held.path))
        fitted = reference.calibration
        rows.append(
            ("score calibration", f"sha256:{fitted.sha256}", fitted.path)
            if fitted is not None
            else ("score calibration", "none", "not fitted (a regressor, or too few rows)")
        )
    return Section("Monitoring reference", ("what", "value", "detail"), tuple(rows))


def _history_section(history: tuple[HistoryEntry, ...]) -> Section:
    rows = tuple((str(h.event_id), h.time, h.action, h.actor, h.reason, h.change) for h in history)
    header = ("event", "time", "action", "actor", "reason", "aliases after")
    return Section("Registry history (aliases and loop decisions)", header, rows)


def _monitor_section(entries: tuple[MonitorEntry, ...]) -> Section:
    rows = tuple(
        (str(m.run_id), m.time, m.window, f"{m.version} ({m.role})", m.drift, m.performance,
         f"{m.action} ({m.cause})", str(m.alerts))
        for m in entries
    )  # fmt: skip
    header = ("run", "time", "window", "version", "drift", "performance", "diagnosis", "alerts")
    return Section("Monitoring (latest runs of tether monitor)", header, rows)


_LOOP_NOT_RUN = "none: the loop never ran on this project's store"
_LOOP_NOT_READ = "not read: no project settings to find the loop's store"


def _loop_section(entries: tuple[LoopEntry, ...], ran: bool | None) -> Section:
    header = ("event", "time", "step", "version", "phase after", "reason and evidence")
    rows = tuple((str(e.event_id), e.time, e.step, e.version, e.phase, e.summary) for e in entries)
    if not rows:
        said = _LOOP_NOT_READ if ran is None else _LOOP_NOT_RUN if not ran else (
            "none: the loop took no step about these versions"
        )  # fmt: skip
        rows = (("-", "-", "-", "-", "-", said),)
    return Section("Loop decisions", header, rows)


def render_markdown(report: AuditReport) -> str:
    """The audit as a Markdown document."""
    record = report.record
    lines = [f"# Audit of {record.model_name}, run {record.run_id}", ""]
    for section in report.sections():
        lines += [
            f"## {section.title}",
            "",
            _md_row(section.header),
            _md_row(tuple("---" for _ in section.header)),
        ]
        lines += [_md_row(row) for row in section.rows]
        lines.append("")
    return "\n".join(lines)


def _md_row(cells: Row) -> str:
    return "| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |"


def render_html(report: AuditReport) -> str:
    """The audit as a self-contained HTML page."""
    title = html.escape(f"Audit of {report.record.model_name}, run {report.record.run_id}")
    parts = [
        "<!doctype html><html><head><meta charset='utf-8'>",
        f"<title>{title}</title><style>body{{font-family:sans-serif;margin:2em}}"
        "table{border-collapse:collapse;margin-bottom:2em}td,th{border:1px solid #ccc;"
        "padding:4px 8px;text-align:left;vertical-align:top}</style></head><body>",
        f"<h1>{title}</h1>",
    ]
    for section in report.sections():
        parts.append(f"<h2>{html.escape(section.title)}</h2><table><tr>")
        parts += [f"<th>{html.escape(h)}</th>" for h in section.header]
        parts.append("</tr>")
        for row in section.rows:
            parts.append("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in row) + "</tr>")
        parts.append("</table>")
    parts.append("</body></html>")
    return "".join(parts)


def render_json(report: AuditReport) -> str:
    """The audit as JSON: the full record, run, versions and packages."""
    return json.dumps(report.to_dict(), indent=2, sort_keys=True)
