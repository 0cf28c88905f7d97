"""WSGIMiddleware under a real werkzeug server: Flask (alone and with FlaskInstrumentor),
record_auth from before_request, Django if installed."""

from __future__ import annotations

from collections.abc import Iterator

import flask
import httpx
import pytest
from opentelemetry.instrumentation.flask import FlaskInstrumentor
from opentelemetry.trace import SpanKind

import tokentrace
from tests.library.server_spans import wait_for_server_spans
from tests.library.tokens import API_KEY, BASIC_ENCODED, BASIC_USER, BEARER, QUERY_KEY
from tests.loopback import serve_wsgi
from tokentrace import attributes as attr
from tokentrace.testing import SpanRecorder

LOW_SCOPE = "low-scope-token-77"


def build_flask() -> flask.Flask:
    app = flask.Flask("orders")

    @app.before_request
    def authenticate() -> flask.Response | None:
        if flask.request.path == "/health":
            return None
        header = flask.request.headers.get("Authorization", "")
        if header == f"Bearer {LOW_SCOPE}":
            tokentrace.record_auth(
                "insufficient_scope", scopes=["orders:read"], required_scopes=["orders:write"]
            )
            return flask.Response("needs orders:write", status=403)
        return None

    @app.get("/orders/<int:order_id>")
    def get_order(order_id: int) -> dict[str, int]:
        return {"order": order_id}

    @app.get("/health")
    def health() -> str:
        return "ok"

    @app.get("/boom")
    def boom() -> str:
        raise RuntimeError("the app's own error")

    return app


@pytest.fixture
def flask_url() -> Iterator[str]:
    app = build_flask()
    app.wsgi_app = tokentrace.WSGIMiddleware(app.wsgi_app)  # type: ignore[method-assign]
    with serve_wsgi(app) as url:
        yield url


def test_flask_request_is_tagged(recorder: SpanRecorder, flask_url: str) -> None:
    assert httpx.get(f"{flask_url}/orders/5", headers={"X-API-Key": API_KEY}).json() == {"order": 5}
    [span] = wait_for_server_spans(recorder, 1)
    assert span.attributes is not None
    assert span.attributes[attr.TOKEN_ID] == tokentrace.fingerprint(API_KEY)
    assert span.attributes[attr.TOKEN_SOURCE] == "header:x-api-key"
    assert span.attributes[attr.AUTH_OUTCOME] == "success"
    assert span.attributes[attr.AUTH_OUTCOME_SOURCE] == "inferred"


def test_flask_before_request_records_insufficient_scope(
    recorder: SpanRecorder, flask_url: str
) -> None:
    response = httpx.get(f"{flask_url}/orders/5", headers={"Authorization": f"Bearer {LOW_SCOPE}"})
    assert response.status_code == 403
    [span] = wait_for_server_spans(recorder, 1)
    assert span.attributes is not None
    assert span.attributes[attr.AUTH_OUTCOME] == "insufficient_scope"
    assert span.attributes[attr.AUTH_OUTCOME_SOURCE] == "recorded"
    assert span.attributes[attr.AUTH_REQUIRED_SCOPES] == ("orders:write",)


def test_basic_auth_subject_is_the_fingerprinted_user(
    recorder: SpanRecorder, flask_url: str
) -> None:
    httpx.get(f"{flask_url}/health", headers={"Authorization": f"Basic {BASIC_ENCODED}"})
    [span] = wait_for_server_spans(recorder, 1)
    assert span.attributes is not None
    assert span.attributes[attr.TOKEN_SCHEME] == "basic"
    assert span.attributes[attr.TOKEN_SUBJECT] == tokentrace.fingerprint(BASIC_USER)


def test_query_token_is_redacted_in_http_target(recorder: SpanRecorder, flask_url: str) -> None:
    assert httpx.get(f"{flask_url}/orders/2?api_key={QUERY_KEY}&page=1").status_code == 200
    [span] = wait_for_server_spans(recorder, 1)
    assert span.attributes is not None
    assert span.attributes["http.target"] == "/orders/2?api_key=REDACTED&page=1"
    assert span.attributes[attr.TOKEN_ID] == tokentrace.fingerprint(QUERY_KEY)
    recorder.assert_no_raw_token(QUERY_KEY)


def test_app_exception_passes_through(recorder: SpanRecorder) -> None:
    app = build_flask()
    app.config["PROPAGATE_EXCEPTIONS"] = True
    wrapped = tokentrace.WSGIMiddleware(app.wsgi_app)
    environ = {
        "REQUEST_METHOD": "GET",
        "PATH_INFO": "/boom",
        "SERVER_NAME": "t",
        "SERVER_PORT": "80",
        "wsgi.url_scheme": "http",
        "HTTP_AUTHORIZATION": f"Bearer {BEARER}",
        "wsgi.input": __import__("io").BytesIO(),
        "wsgi.errors": __import__("io").StringIO(),
    }
    with pytest.raises(RuntimeError, match="the app's own error"):
        list(wrapped(environ, lambda status, headers, exc_info=None: lambda data: None))


def test_flask_instrumentor_never_gives_two_server_spans(recorder: SpanRecorder) -> None:
    app = build_flask()
    app.wsgi_app = tokentrace.WSGIMiddleware(app.wsgi_app)  # type: ignore[method-assign]
    FlaskInstrumentor().instrument_app(app)
    try:
        with serve_wsgi(app) as url:
            assert (
                httpx.get(
                    f"{url}/orders/1", headers={"Authorization": f"Bearer {BEARER}"}
                ).status_code
                == 200
            )
        servers = wait_for_server_spans(recorder, 1)
        assert len(servers) == 1
        assert servers[0].attributes[attr.TOKEN_ID] == tokentrace.fingerprint(BEARER)
        flask_spans = [
            s
            for s in recorder.spans()
            if s.instrumentation_scope
            and s.instrumentation_scope.name == "opentelemetry.instrumentation.flask"
        ]
        assert [s.kind for s in flask_spans] == [SpanKind.INTERNAL]
        assert flask_spans[0].attributes[attr.TOKEN_ID] == tokentrace.fingerprint(BEARER)
    finally:
        FlaskInstrumentor().uninstrument_app(app)


def test_django_app(recorder: SpanRecorder) -> None:
    django = pytest.importorskip("django")
    from django.conf import settings

    if not settings.configured:
        settings.configure(
            DEBUG=False,
            SECRET_KEY="test-only",
            ROOT_URLCONF=__name__,
            ALLOWED_HOSTS=["*"],
            MIDDLEWARE=[],
        )
        django.setup()
    from django.core.wsgi import get_wsgi_application

    application = tokentrace.WSGIMiddleware(get_wsgi_application())
    with serve_wsgi(application) as url:
        response = httpx.get(f"{url}/django/hello", headers={"Authorization": f"Token {BEARER}"})
    assert response.text == "hello from django"
    [span] = wait_for_server_spans(recorder, 1)
    assert span.attributes is not None
    assert span.attributes[attr.TOKEN_SCHEME] == "token"
    assert span.attributes[attr.AUTH_OUTCOME] == "success"


def _django_hello(request: object) -> object:
    from django.http import HttpResponse

    return HttpResponse("hello from django")


def _urlpatterns() -> list[object]:
    from django.urls import path

    return [path("django/hello", _django_hello)]


def __getattr__(name: str) -> object:  # Django reads ROOT_URLCONF.urlpatterns lazily
    if name == "urlpatterns":
        return _urlpatterns()
    raise AttributeError(name)
