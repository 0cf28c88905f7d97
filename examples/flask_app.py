"""A Flask service with tokentrace: outcomes inferred from the status code.

python examples/flask_app.py    # sends three requests in-process, prints the spans
"""

from __future__ import annotations

import json

import flask

import tokentrace
from tokentrace.testing import SpanRecorder

API_KEYS = {"ak_ci_4f1b": "svc:ci"}

app = flask.Flask("orders")
app.wsgi_app = tokentrace.WSGIMiddleware(app.wsgi_app)  # type: ignore[method-assign]


@app.before_request
def authenticate() -> tuple[str, int] | None:
    key = flask.request.headers.get("X-API-Key") or flask.request.args.get("api_key")
    if key is None:
        return "missing API key", 401
    if key not in API_KEYS:
        return "unknown API key", 401
    tokentrace.record_auth("success", owner=API_KEYS[key], owner_type="service")
    return None


@app.get("/orders")
def orders() -> dict[str, list[int]]:
    return {"orders": [1, 2, 3]}


def main() -> None:
    recorder = SpanRecorder.install()  # in a real service: tokentrace.configure(...)
    client = app.test_client()
    client.get("/orders", headers={"X-API-Key": "ak_ci_4f1b"})
    client.get("/orders?api_key=ak_leaked_in_url&page=2")
    client.get("/orders")
    for span in recorder.server_spans():
        shown = {
            k: v
            for k, v in (span.attributes or {}).items()
            if k.startswith("tokentrace.") or k in ("http.target", "http.status_code")
        }
        print(span.name, json.dumps(shown, indent=2, default=list))


if __name__ == "__main__":
    main()
