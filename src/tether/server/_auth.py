"""Optional bearer tokens, one per scope: ``predict``, ``feedback``, ``metrics`` (and ``docs``).

A scope whose token is set (``TETHER_PREDICT_TOKEN``, ``TETHER_FEEDBACK_TOKEN``,
``TETHER_METRICS_TOKEN``, read by :mod:`tether.config` only) answers only requests with
``Authorization: Bearer <token>``; a missing or wrong token is a 401 with
``WWW-Authenticate: Bearer``. A scope without a token stays open, as before. Tokens are
compared in constant time (:func:`hmac.compare_digest`), so the time of a refusal says
nothing of how much of a guess was right.

The schema (``/openapi.json``, ``/docs``) is protected as soon as any token is set, and opens
to the holder of any of them (the admin token included): every client needs the schema of
the endpoints it calls, and a stranger learns from it which ones exist. The admin endpoints
keep their own check (``_admin.py``: disabled without ``TETHER_ADMIN_TOKEN``). ``/healthz``
and ``/readyz`` stay open: load balancers and orchestrators probe them without credentials.
"""

from __future__ import annotations

import hmac
from collections.abc import Callable, Sequence

from fastapi import Depends
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from tether.server._errors import ApiError, ErrorBody

_CHALLENGE = {"WWW-Authenticate": "Bearer"}
UNAUTHORIZED: dict[int | str, dict[str, object]] = {
    401: {"model": ErrorBody, "description": "No bearer token, or the wrong one."}
}
"""The response a guarded operation documents."""


def bearer_guard(scope: str, tokens: Sequence[str], variables: str) -> Callable[..., None]:
    """A FastAPI dependency admitting requests that bear one of ``tokens``.

    ``variables`` names where the tokens come from, for the refusal's message.
    """
    expected = [token.encode("utf-8") for token in tokens if token]
    bearer = HTTPBearer(
        auto_error=False, scheme_name=f"{scope}_token", description=f"The token in {variables}."
    )

    # The dependency is a default value, not an Annotated[...] type: postponed annotations
    # are resolved in the module's namespace, where this function's ``bearer`` is unknown.
    def authorize(credentials: HTTPAuthorizationCredentials | None = Depends(bearer)) -> None:  # noqa: B008
        if credentials is None or credentials.scheme.lower() != "bearer":
            raise ApiError(
                401,
                "unauthorized",
                f"The {scope} endpoints of this server need the header `Authorization: Bearer "
                f"<token>`, with the token in {variables}.",
                _CHALLENGE,
            )
        given = credentials.credentials.encode("utf-8", "surrogateescape")
        # Every token is compared, so that which one matched takes no measurable time either.
        matches = [hmac.compare_digest(given, token) for token in expected]
        if not any(matches):
            raise ApiError(
                401,
                "unauthorized",
                f"The bearer token is not the {scope} token ({variables}).",
                _CHALLENGE,
            )

    return authorize
