"""The dashboard's pages and the static report, rendered as HTML from the views.

Pages are server-rendered Jinja2 templates (``templates/``, autoescaped): every number is in
the page's text and tables, readable with JavaScript off; the figures (:mod:`._plots`) are
drawn over them by plotly.js when scripts run. A page links its script from
``{prefix}/static/plotly.min.js``; the report inlines it, and its figures and links point
inside the one file, so it opens from ``file://`` with no network.
"""

from __future__ import annotations

import functools
import json
import logging
from datetime import datetime
from typing import Any
from urllib.parse import quote

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape
from markupsafe import Markup

from tether.dashboard import _plots as plots
from tether.dashboard import _views as views
from tether.errors import TetherError
from tether.project import Project
from tether.registry import CHAMPION

DEFAULT_PREFIX = "/dashboard"
"""Where the server mounts the pages."""
PLOTLY_PATH = "/static/plotly.min.js"
"""Where, under the prefix, the server serves plotly's bundled script."""
_LOGGER = logging.getLogger("tether.dashboard")

_ENVIRONMENT = Environment(
    loader=PackageLoader("tether.dashboard", "templates"),
    autoescape=select_autoescape(default=True),
    undefined=StrictUndefined,  # a template naming a missing value fails its test, not silently
    trim_blocks=True,
    lstrip_blocks=True,
)


def _when(moment: datetime | None) -> str:
    # isoformat, not strftime: a timeline writes thousands, and strftime is 5 times slower.
    return "" if moment is None else moment.isoformat(sep=" ", timespec="minutes")[:16]


def _number(value: object, digits: int = 3) -> str:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return "-" if value is None else str(value)
    return f"{value:.{digits}f}" if isinstance(value, float) else f"{value:,}"


def _readable_json(value: object) -> str:
    # For reading in a <pre>, escaped by the template like any text; Jinja's own tojson is
    # for scripts, so it writes an apostrophe as \u0027.
    return json.dumps(value, indent=2, sort_keys=True, ensure_ascii=False)


_ENVIRONMENT.filters["when"] = _when
_ENVIRONMENT.filters["number"] = _number
_ENVIRONMENT.filters["readable_json"] = _readable_json


class Dashboard:
    """The pages over ``project``'s stores, each as one HTML string.

    ``prefix`` is where the server mounts them (``/dashboard``). The project stays the
    caller's: the dashboard reads it and never closes it.

    >>> Dashboard(Project.open("my-project")).timeline_page("fraud")  # doctest: +SKIP
    '<!doctype html>...'
    """

    def __init__(self, project: Project, *, prefix: str = DEFAULT_PREFIX) -> None:
        self._project = project
        self._prefix = prefix.rstrip("/")

    def models_page(self) -> str:
        """Each model: its versions, aliases (since when), challenger share and loop state."""
        cards = views.models(self._project)
        return self._render("models.html", "Models", cards=cards)

    def timeline_page(self, model: str, metric: str | None = None) -> str:
        """``model``'s metric per window with its threshold and every change of state."""
        views.require_model(self._project, model)
        view = views.timeline(self._project, model, metric)
        figure = plots.timeline_figure(view, lambda key: self._url(model, "events", key))
        return self._render("timeline.html", f"{model}: timeline", model=model, view=view,
                            figures={"timeline": figure})  # fmt: skip

    def event_page(self, model: str, key: str) -> str:
        """One marker's evidence."""
        views.require_model(self._project, model)
        found = views.marker(self._project, model, key)
        return self._render("event.html", f"{model}: {found.title}", model=model, marker=found)

    def drift_page(self, model: str) -> str:
        """The feature x window PSI heatmap."""
        views.require_model(self._project, model)
        view = views.drift(self._project, model)
        figure = plots.drift_figure(view, lambda name: self._url(model, "drift", name))
        return self._render("drift.html", f"{model}: drift", model=model, view=view,
                            figures={"drift": figure})  # fmt: skip

    def feature_page(self, model: str, feature: str) -> str:
        """One feature's reference and current distributions."""
        views.require_model(self._project, model)
        view = views.feature_bins(self._project, model, feature)
        return self._render("feature.html", f"{model}: {feature}", model=model, view=view,
                            figures={"feature": plots.feature_figure(view)})  # fmt: skip

    def experiments_page(self, model: str) -> str:
        """Champion against challenger, the sequential test over time, shadow agreement."""
        views.require_model(self._project, model)
        view = views.experiments(self._project, model)
        figure = plots.experiment_figure(view)
        return self._render("experiments.html", f"{model}: experiments", model=model,
                            view=view, figures={"experiment": figure})  # fmt: skip

    def lineage_page(self, model: str, version: str) -> str:
        """What trained ``version``: its audit."""
        views.require_model(self._project, model)
        view = views.lineage(self._project, model, version)
        return self._render("lineage.html", f"{model} version {version}: lineage", model=model,
                            view=view)  # fmt: skip

    def report(self, model: str | None = None) -> str:
        """Every view of ``model`` (the project's by default) in one self-contained page."""
        name = model or self._project.settings.model_name
        views.require_model(self._project, name)
        card = views.model_card(self._project, name)
        timeline = views.timeline(self._project, name)
        grid = views.drift(self._project, name)
        found = views.experiments(self._project, name)
        # The champion's lineage; before any deploy (`tether demo`'s plain run), the newest
        # version's, so that the report attached to an audit still says what trained it.
        chosen, whose = card.aliases.get(CHAMPION), "the champion"
        if chosen is None and card.versions:
            chosen = max(card.versions, key=lambda v: int(v.version)).version
            whose = "the newest version (no champion is deployed)"
        lineage, problem = None, ""
        if chosen is not None:
            try:
                lineage = views.lineage(self._project, name, chosen)
            except TetherError as exc:  # the report still tells the rest, and names no store
                _LOGGER.warning("the report could not read version %s's audit: %s", chosen, exc)
                problem = views.STORE_PROBLEM
        figures = {
            "timeline": plots.timeline_figure(timeline, lambda key: f"#marker-{key}"),
            "drift": plots.drift_figure(grid, lambda feature: "#drift"),
            "experiment": plots.experiment_figure(found),
        }
        return _ENVIRONMENT.get_template("report.html").render(
            title=f"tether report: {name}", model=name, card=card, timeline=timeline,
            grid=grid, experiments=found, lineage=lineage, lineage_problem=problem, whose=whose,
            figures=_figure_scripts(figures), script=Markup(_inline_script()),
            url=lambda *parts: "#" + parts[-1] if parts else "#", report=True,
            generated=self._project.clock.now(),
        )  # fmt: skip

    def _url(self, *parts: str) -> str:
        """A page's address: ``url("fraud", "drift")`` is ``/dashboard/models/fraud/drift``."""
        if not parts:
            return self._prefix + "/"
        return f"{self._prefix}/models/" + "/".join(_quoted(part) for part in parts)

    def _render(self, template: str, title: str, **context: Any) -> str:
        figures = context.pop("figures", {})
        script_src = self._prefix + PLOTLY_PATH
        return _ENVIRONMENT.get_template(template).render(
            title=title, url=self._url, figures=_figure_scripts(figures),
            script=Markup(f'<script src="{script_src}"></script>'), report=False,
            models_url=self._url(), **context,
        )  # fmt: skip


@functools.lru_cache(maxsize=4_096)
def _quoted(part: str) -> str:
    # A timeline links each of its thousands of markers twice: quote each name once.
    return quote(part, safe="")


def _figure_scripts(figures: dict[str, plots.Figure]) -> dict[str, Markup]:
    """The figures that have something to draw, as script JSON (an empty plot says nothing
    that the page's "nothing stored yet" does not)."""
    return {
        name: Markup(plots.script_json(figure))
        for name, figure in figures.items()
        if not plots.is_empty(figure)
    }


def _inline_script() -> str:
    # plotly.min.js holds no "</script" (checked by a test): it can sit inside the element.
    return "<script>" + plots.plotly_js().decode("utf-8") + "</script>"
