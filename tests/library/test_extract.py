import base64

import pytest

from tokentrace._extract import Credential, extract_credential
from tokentrace._settings import DEFAULT_SOURCES, parse_sources


def extract(
    headers: dict[str, str], query: str = "", sources: str | None = None
) -> Credential | None:
    chosen = DEFAULT_SOURCES if sources is None else parse_sources(sources)
    return extract_credential(chosen, headers.get, query)


@pytest.mark.parametrize(
    ("header", "scheme", "secret"),
    [
        ("Bearer abc.def", "bearer", "abc.def"),
        ("bearer   spaced  ", "bearer", "spaced"),
        ("Token t-123", "token", "t-123"),
        ("ApiKey k-1", "apikey", "k-1"),
        ("Api-Key k-2", "apikey", "k-2"),
        ("rawvalue", "", "rawvalue"),
        ("Custom c-1", "custom", "c-1"),
    ],
)
def test_authorization_schemes(header: str, scheme: str, secret: str) -> None:
    credential = extract({"authorization": header})
    assert credential == Credential(secret=secret, source="header:authorization", scheme=scheme)


def test_basic_fingerprints_the_whole_credential_and_names_the_user() -> None:
    encoded = base64.b64encode(b"alice:pa:ss").decode()
    credential = extract({"authorization": f"Basic {encoded}"})
    assert credential is not None
    assert credential.secret == "alice:pa:ss"
    assert credential.basic_user == "alice"
    assert credential.scheme == "basic"


@pytest.mark.parametrize(
    "header",
    [
        "Bearer ",
        "Bearer",
        "Basic !!!notbase64",
        "Basic " + base64.b64encode(b"nopassword").decode(),
        "",
    ],
)
def test_unusable_credentials_are_malformed(header: str) -> None:
    credential = extract({"authorization": header})
    assert credential is not None
    assert credential.malformed


def test_default_order_header_then_api_key_then_query() -> None:
    assert extract({"x-api-key": "k"}, "api_key=q") == Credential("k", "header:x-api-key", "apikey")
    assert extract({}, "a=1&access_token=q2") == Credential("q2", "query:access_token", "apikey")
    assert extract({}, "a=1") is None
    assert extract({}, "") is None


def test_cookies_only_when_configured() -> None:
    headers = {"cookie": "theme=dark; session=c00kie"}
    assert extract(headers) is None
    credential = extract(headers, sources="cookie:session")
    assert credential == Credential("c00kie", "cookie:session", "cookie")


def test_bad_source_spec_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="expected header:NAME"):
        parse_sources("body:token")
