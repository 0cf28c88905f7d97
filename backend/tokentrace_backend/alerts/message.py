"""The body an alert posts: Slack-compatible (``text`` and ``blocks``, which Slack, Mattermost
and most chat webhooks render) plus a ``tokentrace`` object for machines: the finding's
fields (:func:`alert_body`), or the token, the lifecycle state it entered and that state's
facts (:func:`lifecycle_alert_body`). docs/alerts.md shows a real one of each.
"""

from __future__ import annotations

from typing import Any, Final

from tokentrace_backend.queries.timestamps import NS_PER_MS, NS_PER_SECOND, datetime_from_ns

from .findings import Finding
from .lifecycle import LifecycleAlert

_DAY_S: Final = 86_400


def alert_body(rule_name: str, finding: Finding) -> dict[str, Any]:
    """What ``rule_name``'s webhook receives for ``finding``."""
    headline = f"[{finding.severity.upper()}] {finding.kind}"
    about = _about(finding)
    text = f"{headline}{about}: {finding.summary}"
    context = (
        f"finding {finding.id} · {finding.state} · subject {finding.subject} · "
        f"first {_instant(finding.first_ns)} · last {_instant(finding.last_ns)} · "
        f"rule {rule_name}"
    )
    return {
        "text": _escape(text),
        "blocks": [
            {
                "type": "section",
                "text": {
                    "type": "mrkdwn",
                    "text": f"*{_escape(headline)}*{_escape(about)}\n{_escape(finding.summary)}",
                },
            },
            {"type": "context", "elements": [{"type": "mrkdwn", "text": _escape(context)}]},
        ],
        "tokentrace": {
            "rule": rule_name,
            "finding_id": finding.id,
            "kind": finding.kind,
            "severity": finding.severity,
            "state": finding.state,
            "token_id": finding.token_id,
            "owner": finding.owner,
            "client_address": finding.client_address,
            "subject": finding.subject,
            "summary": finding.summary,
            "baseline": finding.baseline,
            "evidence": finding.evidence,
            "first_seen": _instant(finding.first_ns),
            "last_seen": _instant(finding.last_ns),
            "detected_at": _instant(finding.detected_at_ns),
            "updated_at": _instant(finding.updated_at_ns),
        },
    }


def lifecycle_alert_body(rule_name: str, alert: LifecycleAlert) -> dict[str, Any]:
    """What ``rule_name``'s webhook receives for a token that entered a lifecycle state."""
    headline = f"[LIFECYCLE] {alert.state}"
    about = " — " + _token(alert.token_id, alert.owner, alert.name)
    details = _lifecycle_details(alert.state, alert.details)
    summary = _lifecycle_summary(alert.state, alert.details, alert.on_ns)
    context = f"lifecycle alert {alert.id} · entered {_instant(alert.on_ns)} · rule {rule_name}"
    return {
        "text": _escape(f"{headline}{about}: {summary}"),
        "blocks": [
            {
                "type": "section",
                "text": {
                    "type": "mrkdwn",
                    "text": f"*{_escape(headline)}*{_escape(about)}\n{_escape(summary)}",
                },
            },
            {"type": "context", "elements": [{"type": "mrkdwn", "text": _escape(context)}]},
        ],
        "tokentrace": {
            "rule": rule_name,
            "lifecycle_id": alert.id,
            "lifecycle_state": alert.state,
            "token_id": alert.token_id,
            "owner": alert.owner,
            "name": alert.name,
            "entered_at": _instant(alert.on_ns),
            "summary": summary,
            "details": details,
        },
    }


def _lifecycle_details(state: str, facts: dict[str, Any]) -> dict[str, Any]:
    """The state's facts with times as the API writes them."""
    if state == "expiring_soon":
        return {
            "expires_at": _optional_instant(facts.get("expires_ns")),
            "last_used": _optional_instant(facts.get("last_used_ns")),
        }
    if state == "rotated_still_used":
        at_ns, last_ns = facts.get("at_ns"), facts.get("last_used_after_ns")
        return {
            "event": facts.get("event"),
            "rotated_at": _optional_instant(at_ns),
            "source": facts.get("source"),
            "new_token_id": facts.get("new_token_id"),
            "requests_after": facts.get("requests_after", 0),
            "last_used_after": _optional_instant(last_ns),
            "lag_ms": None if at_ns is None or last_ns is None else (last_ns - at_ns) / NS_PER_MS,
            "clients": [
                {
                    "address": client["address"],
                    "user_agent": client["user_agent"],
                    "requests": client["requests"],
                    "last_used": _instant(client["last_ns"]),
                }
                for client in facts.get("clients", [])
            ],
        }
    return {
        "last_used": _optional_instant(facts.get("last_used_ns")),
        "unused_since": _optional_instant(facts.get("unused_since_ns")),
    }


def _lifecycle_summary(state: str, facts: dict[str, Any], on_ns: int) -> str:
    if state == "expiring_soon":
        expires_ns, last_ns = facts.get("expires_ns"), facts.get("last_used_ns")
        expiry = "" if expires_ns is None else f"expires {_instant(expires_ns)}"
        if expires_ns is not None:
            expiry += f" (in {_duration(expires_ns - on_ns)})"
        used = "" if last_ns is None else f", last request {_instant(last_ns)}"
        return f"{expiry}, still in use{used}"
    if state == "rotated_still_used":
        at_ns, last_ns = facts.get("at_ns"), facts.get("last_used_after_ns")
        event = facts.get("event") or "rotated"
        new = facts.get("new_token_id")
        text = f"still used after it was {event} at {_optional_instant(at_ns)}"
        text += f" (new token {new})" if new else ""
        requests = facts.get("requests_after", 0)
        text += f": {requests} request{'' if requests == 1 else 's'} since"
        if at_ns is not None and last_ns is not None:
            text += f", the last {_duration(last_ns - at_ns)} after it"
        clients = [
            f"{client['address'] or '?'} ({client['user_agent'] or 'no user agent'})"
            for client in facts.get("clients", [])
        ]
        if clients:
            text += ", from " + ", ".join(clients[:5])
            text += f" and {len(clients) - 5} more" if len(clients) > 5 else ""
        return text
    last_ns, since_ns = facts.get("last_used_ns"), facts.get("unused_since_ns")
    since = "" if since_ns is None else f" ({_duration(on_ns - since_ns)})"
    if last_ns is None:
        unused = f"never used, known since {_optional_instant(since_ns)}{since}"
    else:
        unused = f"unused since {_instant(last_ns)}{since}"
    return f"{unused}; neither revoked nor expired"


def _token(token_id: str, owner: str | None, name: str | None) -> str:
    labels = [label for label in (owner, f'"{name}"' if name else None) if label]
    return f"token {token_id}" + (f" ({', '.join(labels)})" if labels else "")


def _duration(ns: int) -> str:
    """``4 d 23 h``, ``2 h 5 min``, ``10 min``, ``42 s``."""
    seconds = max(ns, 0) // NS_PER_SECOND
    days, rest = divmod(seconds, _DAY_S)
    hours, rest = divmod(rest, 3_600)
    minutes, seconds = divmod(rest, 60)
    if days:
        return f"{days} d {hours} h"
    if hours:
        return f"{hours} h {minutes} min"
    if minutes:
        return f"{minutes} min"
    return f"{seconds} s"


def _optional_instant(unix_ns: int | None) -> str | None:
    return None if unix_ns is None else _instant(unix_ns)


def _about(finding: Finding) -> str:
    parts = []
    if finding.token_id is not None:
        owner = f" ({finding.owner})" if finding.owner else ""
        parts.append(f"token {finding.token_id}{owner}")
    if finding.client_address is not None:
        parts.append(f"from {finding.client_address}")
    return (" — " + ", ".join(parts)) if parts else ""


def _instant(unix_ns: int) -> str:
    """ISO-8601 UTC with a ``Z``, as the API writes times."""
    return datetime_from_ns(unix_ns).isoformat().replace("+00:00", "Z")


def _escape(text: str) -> str:
    """Slack's escaping of its three control characters in text it renders."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
