"""The environment of a run: interpreter, platform, every installed package, and seeds.

MLflow's model ``requirements.txt`` pins only the handful of packages it traces; a run
here records the whole frozen list (``requirements.frozen.txt``), because any installed
library can change a model's output. Reproduce compares the recorded list with the
current one and lists every difference.
"""

from __future__ import annotations

import contextlib
import importlib.metadata
import importlib.util
import platform
import random
import sys
from collections.abc import Iterator, Mapping
from dataclasses import dataclass

import numpy as np
from threadpoolctl import threadpool_limits

FROZEN_REQUIREMENTS = "requirements.frozen.txt"

MODEL_REQUIREMENTS = ("scikit-learn", "numpy", "scipy", "pandas", "cloudpickle")
"""Packages pinned in the MLflow model's own requirements (the rest are in the frozen list)."""


@dataclass(frozen=True)
class Environment:
    """The interpreter, platform and installed distributions of one process."""

    python: str
    implementation: str
    platform: str
    machine: str
    packages: Mapping[str, str]

    def frozen(self) -> str:
        """The package list in ``pip freeze`` form, sorted by name."""
        return "".join(f"{name}=={version}\n" for name, version in sorted(self.packages.items()))

    def pins(self, names: tuple[str, ...]) -> list[str]:
        """``name==version`` lines for those of ``names`` that are installed."""
        return [f"{n}=={self.packages[n]}" for n in names if n in self.packages]


@dataclass(frozen=True)
class EnvironmentDifference:
    """One way the current environment differs from a recorded one."""

    item: str
    recorded: str
    current: str

    def __str__(self) -> str:
        return (
            f"{self.item}: recorded {self.recorded or '(absent)'}, now {self.current or '(absent)'}"
        )


def _normalize(name: str) -> str:
    return name.lower().replace("_", "-").replace(".", "-")


def capture_environment() -> Environment:
    """Describe this process's environment."""
    packages: dict[str, str] = {}
    for dist in importlib.metadata.distributions():
        name = dist.metadata["Name"]
        if name:
            packages[_normalize(name)] = dist.version
    # tether itself is installed editable in development; its version is recorded, not
    # compared, since the code that matters is the project's own, pinned by git.
    packages.pop("tether", None)
    return Environment(
        python=platform.python_version(),
        implementation=platform.python_implementation(),
        platform=platform.platform(),
        machine=platform.machine(),
        packages=packages,
    )


def parse_frozen(text: str) -> dict[str, str]:
    """Read a ``requirements.frozen.txt`` back into ``{name: version}``."""
    packages: dict[str, str] = {}
    for line in text.splitlines():
        name, sep, version = line.strip().partition("==")
        if sep:
            packages[_normalize(name)] = version
    return packages


def compare_environments(
    recorded: Environment, current: Environment
) -> list[EnvironmentDifference]:
    """Every difference, interpreter and platform first, then packages by name."""
    differences = [
        EnvironmentDifference(item, str(getattr(recorded, item)), str(getattr(current, item)))
        for item in ("python", "implementation", "machine")
        if getattr(recorded, item) != getattr(current, item)
    ]
    names = sorted(set(recorded.packages) | set(current.packages))
    for name in names:
        before, after = recorded.packages.get(name, ""), current.packages.get(name, "")
        if before != after:
            differences.append(EnvironmentDifference(name, before, after))
    return differences


def apply_seed(seed: int) -> None:
    """Seed Python's ``random``, NumPy's global generator and, where installed, PyTorch."""
    random.seed(seed)
    np.random.seed(seed)
    if "torch" in sys.modules or importlib.util.find_spec("torch") is not None:
        import torch  # optional, and slow to import: only when installed

        torch.manual_seed(seed)
        torch.use_deterministic_algorithms(True, warn_only=True)


@contextlib.contextmanager
def deterministic(seed: int, threads: int) -> Iterator[None]:
    """Run a block seeded, with native thread pools fixed at ``threads``."""
    apply_seed(seed)
    with threadpool_limits(limits=threads):
        yield
