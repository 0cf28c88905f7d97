from tokentrace._redact import redact_query, redact_url, scrub_attributes

PARAMS = frozenset({"api_key", "token"})


def test_query_values_are_redacted_and_keys_kept() -> None:
    assert redact_query("a=1&api_key=s3cr3t&b=2", PARAMS) == "a=1&api_key=REDACTED&b=2"
    assert redact_query("api%5Fkey=s3cr3t", PARAMS) == "api%5Fkey=REDACTED"
    assert redact_query("a=1", PARAMS) == "a=1"
    assert redact_query("token", PARAMS) == "token"


def test_urls_keep_path_and_fragment() -> None:
    assert redact_url("https://h/p?token=x#frag", PARAMS) == "https://h/p?token=REDACTED#frag"
    assert redact_url("/p", PARAMS) == "/p"


def test_scrub_attributes_finds_urls_and_sensitive_headers() -> None:
    changes = scrub_attributes(
        {
            "url.query": "token=abc",
            "http.target": "/x?api_key=abc",
            "url.path": "/x",
            "http.request.header.authorization": ("Bearer abc",),
            "http.request.header.x_api_key": ("abc",),
            "http.request.header.accept": ("*/*",),
        },
        PARAMS,
        frozenset({"authorization", "x-api-key"}),
    )
    assert changes == {
        "url.query": "token=REDACTED",
        "http.target": "/x?api_key=REDACTED",
        "http.request.header.authorization": ("[REDACTED]",),
        "http.request.header.x_api_key": ("[REDACTED]",),
    }
