import pytest

from tests.library.tokens import NOW, make_jwt
from tokentrace._jwt import read_claims


def test_claims_are_read_without_verification() -> None:
    claims = read_claims(
        make_jwt(sub="s", iss="i", azp="app", exp=NOW, iat=NOW - 5, scp=["a", "b"])
    )
    assert claims is not None
    assert (claims.subject, claims.issuer, claims.client_id) == ("s", "i", "app")
    assert (claims.expires_at, claims.issued_at, claims.scopes) == (NOW, NOW - 5, ("a", "b"))


def test_client_id_and_space_separated_scope() -> None:
    claims = read_claims(make_jwt(client_id="ci", scope="x y"))
    assert claims is not None
    assert claims.client_id == "ci"
    assert claims.scopes == ("x", "y")


@pytest.mark.parametrize(
    "token",
    [
        "a.b.c",
        "eyJhbGciOiJIUzI1NiJ9.bm90LWpzb24.sig",  # payload is not JSON
        "eyJhbGciOiJIUzI1NiJ9.W10.sig",  # payload is a list
        "eyJ0eXAiOiJKV1QifQ.e30.sig",  # header without alg
        "é.é.é",
        "x" * 20000 + ".a.b",
        "only.two",
    ],
)
def test_malformed_jwt_looking_tokens_are_opaque(token: str) -> None:
    assert read_claims(token) is None


def test_non_numeric_exp_is_ignored() -> None:
    claims = read_claims(make_jwt(exp="tomorrow", iat=True))
    assert claims is not None
    assert claims.expires_at is None
    assert claims.issued_at is None
