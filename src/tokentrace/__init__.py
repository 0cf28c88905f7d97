"""tokentrace: API tokens as first-class citizens of OpenTelemetry traces.

Drop-in ASGI/WSGI middleware tags each request's SERVER span with a keyed fingerprint
of the API token (``tokentrace.token.id``) and the auth outcome, and carries the
fingerprint to downstream services. Raw tokens never leave the process.

The public names are re-exported here from private modules, one concept each (see
docs/architecture.md#the-library): ``attributes`` is the vocabulary the backend shares,
``testing`` the helpers for users' own tests. This package imports OpenTelemetry only,
never the backend's dependencies (DuckDB, FastAPI).
"""

from tokentrace._access_log import AccessLogRedactor, redact_access_logs
from tokentrace._asgi import ASGIMiddleware
from tokentrace._fingerprint import Fingerprinter, fingerprint
from tokentrace._processor import TokenSpanProcessor
from tokentrace._record import record_auth, record_lifecycle
from tokentrace._settings import Owner, SettingsError
from tokentrace._setup import configure, install_processor
from tokentrace._version import __version__
from tokentrace._wsgi import WSGIMiddleware
from tokentrace.attributes import AuthOutcome

__all__ = [
    "ASGIMiddleware",
    "AccessLogRedactor",
    "AuthOutcome",
    "Fingerprinter",
    "Owner",
    "SettingsError",
    "TokenSpanProcessor",
    "WSGIMiddleware",
    "__version__",
    "configure",
    "fingerprint",
    "install_processor",
    "record_auth",
    "record_lifecycle",
    "redact_access_logs",
]
