import pytest

from tether._uris import mask_uri


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("postgresql://ana:s3cret@127.0.0.1:5432/test", "postgresql://ana:***@127.0.0.1:5432/test"),
        ("postgresql+psycopg://ana:p@ss@db/x", "postgresql+psycopg://ana:***@db/x"),
        ("redis://:s3cret@cache:6379/0", "redis://***@cache:6379/0"),
        ("https://tok3n@mlflow.example", "https://***@mlflow.example"),
        ("postgresql://postgres@127.0.0.1/test", "postgresql://postgres@127.0.0.1/test"),
        ("http://127.0.0.1:5000", "http://127.0.0.1:5000"),
        ("sqlite:////tmp/x.db", "sqlite:////tmp/x.db"),
        ("s3://bucket/key?X-Amz-Signature=abc&x=1", "s3://bucket/key?X-Amz-Signature=abc&x=1"),
        (
            "postgresql://db/x?password=s3cret&sslmode=off",
            "postgresql://db/x?password=***&sslmode=off",
        ),
        ("at postgresql://a:b@h/x and redis://:c@h", "at postgresql://a:***@h/x and redis://***@h"),
    ],
)
def test_mask_uri_hides_every_credential_and_nothing_else(text: str, expected: str) -> None:
    assert mask_uri(text) == expected
