"""Credentials never leave tether in text: the one function that masks them.

Every URI tether prints, logs or puts in an HTTP body goes through :func:`mask_uri` first,
and the fronts (the CLI's renderer, the server's error handler, the log formatter) pass
whole messages through it too, because a library's own exception text can quote a URI.

It masks the password of a URI's user information (``postgresql://ana:s3cret@db/x`` ->
``postgresql://ana:***@db/x``), a user information that is only a password or a token
(``redis://:s3cret@host``, ``https://token@host``; a user name alone stays), and the value
of query parameters and of libpq ``key=value`` settings that name a secret
(``?password=...``, ``&token=...``, ``host=db password=...``). Text without any of these
is returned as it is.

:class:`MaskingFilter` applies it to log records (message, arguments, traceback), so a log
handler that carries it never writes a credential, whichever library logged it.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable

MASK = "***"
"""What a masked credential reads as."""

# scheme://userinfo@ where userinfo has no '/', '@' or whitespace; the last '@' before the
# host ends it, so a password that itself holds '@' is masked whole.
_USERINFO = re.compile(r"(?P<scheme>[A-Za-z][A-Za-z0-9+.\-]*://)(?P<userinfo>[^/\s?#]*)@")
_SECRET_QUERY = re.compile(
    r"(?P<key>(?:^|[?&;\s])(?:password|passwd|pwd|pass|token|secret|access_key|secret_key|"
    r"api_key|apikey|sig|signature)=)(?P<value>'[^']*'|\"[^\"]*\"|[^&#\s;'\"]*)",
    re.IGNORECASE,
)
REFERENCE = re.compile(r"\$\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)\}")
"""A ``${NAME}`` reference of a tether.toml URI to the environment variable ``NAME``."""


def mask_uri(text: str) -> str:
    """``text`` with every credential inside a URI replaced by ``***``.

    >>> mask_uri("postgresql://ana:s3cret@127.0.0.1:5432/test")
    'postgresql://ana:***@127.0.0.1:5432/test'
    >>> mask_uri("Could not reach redis://:s3cret@cache:6379/0 (refused)")
    'Could not reach redis://:***@cache:6379/0 (refused)'
    >>> mask_uri("sqlite:////tmp/x.db")
    'sqlite:////tmp/x.db'
    >>> mask_uri("postgresql://ana:${PG_PASSWORD}@db/x")  # a reference, not a secret
    'postgresql://ana:${PG_PASSWORD}@db/x'
    """
    masked = _USERINFO.sub(_mask_userinfo, text)
    return _SECRET_QUERY.sub(_mask_query, masked)


def is_reference(secret: str) -> bool:
    """Whether ``secret`` is made only of ``${NAME}`` references: it names environment
    variables and holds no secret (masking it would hide the very syntax an error message
    shows as the fix)."""
    return bool(secret) and not REFERENCE.sub("", secret)


def _mask_query(match: re.Match[str]) -> str:
    if is_reference(match.group("value").strip("'\"")):
        return match.group(0)
    return f"{match.group('key')}{MASK}"


def credentials_in(text: str) -> list[str]:
    """The credentials :func:`mask_uri` would hide in ``text``, in order (empty ones too).

    >>> credentials_in("postgresql://ana:s3cret@db/x?sslmode=off&password=p2")
    ['s3cret', 'p2']
    """
    found = []
    for match in _USERINFO.finditer(text):
        secret = _userinfo_secret(match.group("scheme"), match.group("userinfo"))
        if secret is not None:
            found.append(secret)
    found.extend(match.group("value") for match in _SECRET_QUERY.finditer(text))
    return found


def _userinfo_secret(scheme: str, userinfo: str) -> str | None:
    user, colon, password = userinfo.partition(":")
    if colon:
        return password
    if user and scheme.lower().startswith("http"):
        return user  # https://token@host: a bare token
    return None  # a user name alone, as in postgresql://postgres@host, is no secret


def _mask_userinfo(match: re.Match[str]) -> str:
    scheme, userinfo = match.group("scheme"), match.group("userinfo")
    secret = _userinfo_secret(scheme, userinfo)
    if secret is None or is_reference(secret):
        return match.group(0)
    user, colon, _ = userinfo.partition(":")
    if colon:  # user:secret@, or :secret@ (a password alone, as Redis takes it)
        return f"{scheme}{user}:{MASK}@"
    return f"{scheme}{MASK}@"  # https://token@: the secret is all of it


class MaskingFilter(logging.Filter):
    """A log filter that masks credentials in a record's message, arguments and traceback.

    Installed on handlers (not loggers), because a logger's filters do not see the records
    its children propagate. The arguments stay a tuple of the same length, so that
    formatters that read them (uvicorn's access log) keep working.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        """Mask ``record`` in place; never drops it."""
        if isinstance(record.msg, str):
            record.msg = mask_uri(record.msg)
        if isinstance(record.args, tuple):
            record.args = tuple(_masked_argument(arg) for arg in record.args)
        elif isinstance(record.args, dict):
            record.args = {key: _masked_argument(arg) for key, arg in record.args.items()}
        if record.exc_info and not record.exc_text:
            # Formatted here, masked, and cached where every Formatter looks for it first.
            record.exc_text = mask_uri(logging.Formatter().formatException(record.exc_info))
        elif record.exc_text:
            record.exc_text = mask_uri(record.exc_text)
        if record.stack_info:
            record.stack_info = mask_uri(record.stack_info)
        return True


def install_masking(handlers: Iterable[logging.Handler]) -> None:
    """Add one :class:`MaskingFilter` to each of ``handlers`` that has none yet."""
    for handler in handlers:
        if not any(isinstance(f, MaskingFilter) for f in handler.filters):
            handler.addFilter(MaskingFilter())


def _masked_argument(argument: object) -> object:
    # Numbers stay numbers (a %d must still format); anything else whose text holds a
    # credential is replaced by its masked text.
    if argument is None or isinstance(argument, int | float):
        return argument
    text = str(argument)
    masked = mask_uri(text)
    return argument if masked == text else masked
