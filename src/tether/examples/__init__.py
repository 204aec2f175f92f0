"""Bundled example scenarios that ``tether init`` and ``tether demo`` start from.

``init_project`` copies the fraud example's project and generates its data
(:class:`ScenarioConfig`); it returns a :class:`NewProject` naming what it made.
"""

from tether.examples._scaffold import NewProject, init_project
from tether.examples.fraud import ScenarioConfig

__all__ = ["NewProject", "ScenarioConfig", "init_project"]
