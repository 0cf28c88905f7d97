"""The reference scenario: ``gateway`` (FastAPI) calls ``orders`` (Flask with sqlite),
driven by a fixed cast of tokens (healthy, expired, revoked, rotated, in the URL, ...).

``tokentrace demo`` runs it for anyone who installed the backend extra, so it ships in the
package; the end-to-end tests run the same services behind the real collector. It talks
to the backend only as a client (OTLP out, HTTP API in) and imports nothing of it but the
shape of its processes.
"""
