"""Span attribute names: the contract between the tokentrace library and its backend.

OpenTelemetry has no semantic convention for credentials or authentication outcomes, so
tokentrace uses its own ``tokentrace.`` namespace. See DESIGN.md for the meaning of each.
"""

from __future__ import annotations

from typing import Final

TOKEN_ID: Final = "tokentrace.token.id"
TOKEN_KEY_ID: Final = "tokentrace.token.key_id"
TOKEN_SOURCE: Final = "tokentrace.token.source"
TOKEN_SCHEME: Final = "tokentrace.token.scheme"
TOKEN_KIND: Final = "tokentrace.token.kind"
TOKEN_CLIENT_ID: Final = "tokentrace.token.client_id"
TOKEN_SUBJECT: Final = "tokentrace.token.subject"
TOKEN_ISSUER: Final = "tokentrace.token.issuer"
TOKEN_ISSUED_AT: Final = "tokentrace.token.issued_at"
TOKEN_EXPIRES_AT: Final = "tokentrace.token.expires_at"
TOKEN_SCOPES: Final = "tokentrace.token.scopes"
TOKEN_OWNER: Final = "tokentrace.token.owner"
TOKEN_OWNER_TYPE: Final = "tokentrace.token.owner_type"
TOKEN_NAME: Final = "tokentrace.token.name"

AUTH_OUTCOME: Final = "tokentrace.auth.outcome"
AUTH_OUTCOME_SOURCE: Final = "tokentrace.auth.outcome_source"
AUTH_REASON: Final = "tokentrace.auth.reason"
AUTH_REQUIRED_SCOPES: Final = "tokentrace.auth.required_scopes"

# Lifecycle events (record_lifecycle) are span events with these attributes.
LIFECYCLE_EVENT_NAME: Final = "tokentrace.lifecycle"
LIFECYCLE_EVENT: Final = "tokentrace.lifecycle.event"
LIFECYCLE_NEW_TOKEN_ID: Final = "tokentrace.lifecycle.new_token_id"
LIFECYCLE_ACTOR: Final = "tokentrace.lifecycle.actor"

# The W3C baggage member that carries the token id to downstream services.
BAGGAGE_TOKEN_ID: Final = TOKEN_ID
