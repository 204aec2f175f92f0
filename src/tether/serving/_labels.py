"""What a model's label may be, so that feedback can be checked against the model that predicted.

A classifier's label is one of its classes (``classes_``, as scikit-learn fits them); a
regressor's is a finite number. The :class:`LabelSpace` of a model is computed once, when the
deployment is loaded, and stored with each of its predictions (a short JSON text such as
``{"classes":[0,1]}``), so feedback is checked against the version that made the prediction,
even after that version stopped being served, on any replica, without loading it again.
Predictions logged before label spaces were stored (schema version 2 and older) carry none:
their feedback is checked only as a finite JSON scalar, as it was then.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from tether._storage import JSONValue, dump_json, load_json
from tether.errors import InvalidFeedbackError

LabelValue = bool | int | float | str
"""A label as feedback sends it: a JSON scalar."""


@dataclass(frozen=True)
class LabelSpace:
    """The labels a model can be told: its ``classes`` (a classifier), or None (a regressor)."""

    classes: tuple[LabelValue, ...] | None

    @classmethod
    def of(cls, estimator: object) -> LabelSpace:
        """The label space of a fitted estimator: its ``classes_`` when it has them."""
        classes = getattr(estimator, "classes_", None)
        if classes is None:
            return cls(None)
        values = classes.tolist() if hasattr(classes, "tolist") else list(classes)
        return cls(tuple(_plain(value) for value in values))

    @classmethod
    def from_json(cls, text: str) -> LabelSpace:
        """The label space stored as ``text`` by :attr:`json`."""
        stored = load_json(text)
        classes = stored.get("classes")
        return cls(None if classes is None else tuple(classes))

    @property
    def json(self) -> str:
        """The stored form: ``{"classes":[...]}`` or ``{"number":true}``."""
        if self.classes is None:
            return dump_json({"number": True})
        return dump_json({"classes": list(self.classes)})

    @property
    def expected(self) -> str:
        """The accepted labels, in words, for messages."""
        if self.classes is None:
            return "a finite number"
        return "one of " + ", ".join(dump_json(value) for value in self.classes)

    def accepts(self, label: JSONValue) -> LabelValue | None:
        """``label`` as the model's own class (``1.0`` for class ``1`` gives ``1``), or None.

        A boolean only matches boolean classes and a number only numeric ones: JSON ``true``
        is not the class ``1``, although Python says ``True == 1``.
        """
        if self.classes is None:
            if _kind(label) == "number" and math.isfinite(float(label)):  # type: ignore[arg-type]
                return label  # type: ignore[return-value]
            return None
        for value in self.classes:
            if _kind(value) == _kind(label) and value == label:
                return value
        return None


def checked_label(instance_id: str, label: JSONValue, spaces: Sequence[LabelSpace]) -> JSONValue:
    """``label`` in the form every space of the instance's predictions accepts.

    Raises:
        InvalidFeedbackError: a model that predicted ``instance_id`` cannot have that label.
    """
    accepted = label
    for space in spaces:
        found = space.accepts(label)
        if found is None:
            raise InvalidFeedbackError(
                f"label {dump_json(label)} of instance {instance_id!r} is not a label its model "
                f"can have; expected {space.expected}.",
                field="label",
                expected=space.expected,
            )
        accepted = found
    return accepted


def _kind(value: object) -> str:
    """``"bool"``, ``"number"``, ``"text"`` or ``"other"``: labels match only within a kind."""
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int | float):
        return "number"
    return "text" if isinstance(value, str) else "other"


def _plain(value: object) -> LabelValue:
    """A class as JSON holds it (numpy scalars were converted by ``tolist``)."""
    if isinstance(value, bool | int | float | str):
        return value
    return str(value)
