"""Model version numbers: one spelling per version.

MLflow numbers a registered model's versions 1, 2, 3... but parses what it is given, so
``01``, ``0001`` and ``\\u0661`` (an Arabic-Indic one) all reach version 1. Had tether kept
those spellings, ``challenger = 01`` and ``champion = 1`` would be two aliases of one
version and an experiment would compare version 1 with itself. So every version a user
gives is checked here (ASCII decimal digits only, at least 1) and turned into its
canonical form before it is stored, compared or sent to MLflow.
"""

from __future__ import annotations

from tether.errors import RegistryError


def canonical_version(text: str, model: str = "") -> str:
    """``"01"`` -> ``"1"``; refuses anything but ASCII decimal digits naming a version >= 1.

    >>> canonical_version("0003")
    '3'

    Raises:
        RegistryError: ``text`` is not a version number.
    """
    digits = text.strip()
    if not (digits.isascii() and digits.isdigit()) or int(digits) < 1:
        owner = f" of {model}" if model else ""
        raise RegistryError(
            f"Version {text!r}{owner}: expected a version number written with the ASCII "
            "digits 0-9, 1 or more, such as 3."
        )
    return str(int(digits))
