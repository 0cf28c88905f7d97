"""The API's settings: constructor arguments win, environment variables are the fallback."""

from __future__ import annotations

import os
from dataclasses import dataclass

from tokentrace_backend.settings import TOKENTRACE_API_KEY, TOKENTRACE_JAEGER_URL


@dataclass(frozen=True)
class ApiSettings:
    api_key: str | None
    jaeger_url: str | None

    @classmethod
    def resolve(cls, api_key: str | None, jaeger_url: str | None) -> ApiSettings:
        """Arguments first, then ``TOKENTRACE_API_KEY`` / ``TOKENTRACE_JAEGER_URL``.

        An empty string argument means "none", without looking at the environment.
        """
        if api_key is None:
            api_key = os.environ.get(TOKENTRACE_API_KEY)
        if jaeger_url is None:
            jaeger_url = os.environ.get(TOKENTRACE_JAEGER_URL)
        return cls(
            api_key=api_key or None, jaeger_url=jaeger_url.rstrip("/") if jaeger_url else None
        )
