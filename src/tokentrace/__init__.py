"""tokentrace: API tokens as first-class citizens of OpenTelemetry traces.

Drop-in ASGI/WSGI middleware tags each request's SERVER span with a keyed fingerprint
of the API token (``tokentrace.token.id``) and the auth outcome, and carries the
fingerprint to downstream services. Raw tokens never leave the process.
"""

from tokentrace._access_log import AccessLogRedactor, redact_access_logs
from tokentrace._asgi import ASGIMiddleware
from tokentrace._fingerprint import Fingerprinter, fingerprint
from tokentrace._outcome import AuthOutcome
from tokentrace._owner import Owner
from tokentrace._processor import TokenSpanProcessor
from tokentrace._record import record_auth, record_lifecycle
from tokentrace._setup import configure, install_processor
from tokentrace._sources import SettingsError
from tokentrace._version import __version__
from tokentrace._wsgi import WSGIMiddleware

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
