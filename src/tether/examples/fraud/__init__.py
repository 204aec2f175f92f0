"""The bundled fraud scenario: a drifting card-transaction world and a project to train on it.

``simulate`` draws the world; ``project/`` is the folder ``tether init`` copies (its
``tether.toml``, ``features.py`` and ``train.py``).
"""

from tether.examples.fraud.simulate import ScenarioConfig, ScenarioFiles, simulate, write_scenario

__all__ = ["ScenarioConfig", "ScenarioFiles", "simulate", "write_scenario"]
