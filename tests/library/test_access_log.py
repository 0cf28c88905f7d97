"""Web servers' access logs lose the tokens in their URLs when asked to."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import flask
import httpx
import pytest

import tokentrace
from tests.library.tokens import QUERY_KEY
from tests.loopback import serve_wsgi


@pytest.fixture
def redactor() -> Iterator[tokentrace.AccessLogRedactor]:
    redactor = tokentrace.redact_access_logs()
    yield redactor
    for name in tokentrace._access_log.ACCESS_LOGGERS:
        logging.getLogger(name).removeFilter(redactor)


def test_werkzeug_access_log_is_redacted(
    redactor: tokentrace.AccessLogRedactor, caplog: pytest.LogCaptureFixture
) -> None:
    app = flask.Flask("logs")
    app.add_url_rule("/orders", "orders", lambda: "ok")
    with caplog.at_level(logging.INFO, logger="werkzeug"), serve_wsgi(app) as url:
        httpx.get(f"{url}/orders?page=2&api_key={QUERY_KEY}&sort=asc")
    lines = [r.getMessage() for r in caplog.records if r.name == "werkzeug"]
    assert any("/orders?page=2&api_key=REDACTED&sort=asc" in line for line in lines)
    assert QUERY_KEY not in caplog.text


def test_uvicorn_style_record_is_redacted(redactor: tokentrace.AccessLogRedactor) -> None:
    record = logging.LogRecord(
        "uvicorn.access", logging.INFO, __file__, 1,
        '%s - "%s %s HTTP/%s" %d', ("127.0.0.1:5000", "GET", f"/x?token={QUERY_KEY}", "1.1", 200),
        None,
    )  # fmt: skip
    assert redactor.filter(record)
    assert record.getMessage() == '127.0.0.1:5000 - "GET /x?token=REDACTED HTTP/1.1" 200'


def test_installing_twice_adds_one_filter() -> None:
    first = tokentrace.redact_access_logs(["tokentrace.test.access"])
    tokentrace.redact_access_logs(["tokentrace.test.access"])
    filters = logging.getLogger("tokentrace.test.access").filters
    assert filters == [first]
