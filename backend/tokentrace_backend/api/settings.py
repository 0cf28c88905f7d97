"""The API's settings: constructor arguments win, environment variables are the fallback."""

from __future__ import annotations

import os
from dataclasses import dataclass

API_KEY_ENV = "TOKENTRACE_API_KEY"
"""Bearer key required on every ``/api`` request when set."""

JAEGER_URL_ENV = "TOKENTRACE_JAEGER_URL"
"""Base URL of the Jaeger UI; trace ids then come with ``{url}/trace/{trace_id}`` links."""


@dataclass(frozen=True)
class ApiSettings:
    api_key: str | None
    jaeger_url: str | None

    @classmethod
    def resolve(cls, api_key: str | None, jaeger_url: str | None) -> ApiSettings:
        """Arguments first, then ``TOKENTRACE_API_KEY`` / ``TOKENTRACE_JAEGER_URL``.

        An empty string argument means "none", without looking at the environment.
        """
        key = (api_key if api_key is not None else os.environ.get(API_KEY_ENV)) or None
        url = (jaeger_url if jaeger_url is not None else os.environ.get(JAEGER_URL_ENV)) or None
        return cls(api_key=key, jaeger_url=url.rstrip("/") if url else None)
