import io
import logging

import pytest

from tether._uris import MaskingFilter, credentials_in, install_masking, mask_uri


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("postgresql://ana:s3cret@127.0.0.1:5432/test", "postgresql://ana:***@127.0.0.1:5432/test"),
        ("postgresql+psycopg://ana:p@ss@db/x", "postgresql+psycopg://ana:***@db/x"),
        ("redis://:s3cret@cache:6379/0", "redis://:***@cache:6379/0"),
        ("https://tok3n@mlflow.example", "https://***@mlflow.example"),
        ("postgresql://postgres@127.0.0.1/test", "postgresql://postgres@127.0.0.1/test"),
        ("http://127.0.0.1:5000", "http://127.0.0.1:5000"),
        ("sqlite:////tmp/x.db", "sqlite:////tmp/x.db"),
        ("s3://bucket/key?X-Amz-Signature=abc&x=1", "s3://bucket/key?X-Amz-Signature=abc&x=1"),
        (
            "postgresql://db/x?password=s3cret&sslmode=off",
            "postgresql://db/x?password=***&sslmode=off",
        ),
        # ${NAME} names an environment variable: no secret, and the fix an error shows.
        ("postgresql://ana:${PG_PW}@db/x", "postgresql://ana:${PG_PW}@db/x"),
        ("postgresql://db/x?password=${PG_PW}", "postgresql://db/x?password=${PG_PW}"),
        ("postgresql://ana:s3${PG_PW}@db/x", "postgresql://ana:***@db/x"),
        (
            "at postgresql://a:b@h/x and redis://:c@h",
            "at postgresql://a:***@h/x and redis://:***@h",
        ),
    ],
)
def test_mask_uri_hides_every_credential_and_nothing_else(text: str, expected: str) -> None:
    assert mask_uri(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("host=db user=ana password=s3cret dbname=x", "host=db user=ana password=*** dbname=x"),
        ("host=db password='s3 cret' port=5", "host=db password=*** port=5"),
        ("password=s3cret", "password=***"),
    ],
)
def test_mask_uri_hides_libpq_key_value_passwords(text: str, expected: str) -> None:
    assert mask_uri(text) == expected


def test_credentials_in_finds_what_mask_uri_hides() -> None:
    text = "postgresql://a:p1@h/x?password=p2 redis://:p3@h https://t0k@h postgresql://u@h"
    assert credentials_in(text) == ["p1", "p3", "t0k", "p2"]


def test_the_log_filter_masks_message_arguments_and_traceback() -> None:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    install_masking([handler])
    install_masking([handler])  # idempotent: one filter
    assert sum(isinstance(f, MaskingFilter) for f in handler.filters) == 1
    logger = logging.getLogger("tests.uris.masking")
    logger.addHandler(handler)
    try:
        uri = "postgresql://ana:s3cret@db/x"
        logger.warning("cannot reach %s (attempt %d)", uri, 2)
        logger.warning(f"inline {uri}")
        try:
            raise RuntimeError(f"connect to {uri} failed")
        except RuntimeError:
            logger.exception("failed: %s", ValueError(uri))
    finally:
        logger.removeHandler(handler)
    written = stream.getvalue()
    assert "s3cret" not in written
    assert "cannot reach postgresql://ana:***@db/x (attempt 2)" in written
    assert "RuntimeError: connect to postgresql://ana:***@db/x failed" in written
