"""``tokentrace report ID``: everything known about one token, in one document.

Asks the API for ``/api/tokens/{id}/report`` (as the query commands do: ``--url``,
``TOKENTRACE_API_KEY``) and prints it as aligned sections for a terminal or a ticket
(``--format text``), as the API's JSON, or as the API's HTML page. Span names, routes, user
agents and messages come from the traced apps and their clients: control characters in
them are shown escaped (``\\x1b``), so that they cannot drive the terminal.
"""

from __future__ import annotations

import argparse
import json
import re
import unicodedata
from typing import Any, Final

from tokentrace.cli import Subparsers

from .query import (
    add_api_options,
    add_token_id,
    api_get,
    format_table,
    run_guarded,
    shorten,
    show_ms,
    show_outcomes,
    show_time,
)

FORMATS: Final = ("text", "json", "html")
_TRACE_ID: Final = re.compile(r"[0-9a-f]{32}")
_MESSAGE_WIDTH: Final = 60


def add_commands(subparsers: Subparsers) -> None:
    """Register ``report``."""
    report = subparsers.add_parser(
        "report",
        help="everything known about one token, in one document (text, json or html)",
        description="One token's summary, lifecycle, downstream errors, dependency map and "
        "findings, for an incident ticket.",
    )
    add_token_id(report)
    add_api_options(report)
    report.add_argument(
        "--format",
        choices=FORMATS,
        default="text",
        help="text (aligned sections, the default), json (the API's) or html (one page)",
    )
    report.set_defaults(func=_run_report)


def _run_report(args: argparse.Namespace) -> int:
    return run_guarded(args, _show_report)


def _show_report(args: argparse.Namespace) -> str:
    path = f"/api/tokens/{args.token_id}/report"
    if args.format == "html":
        return api_get(args, path, format="html").text
    report = api_get(args, path).json()
    if args.format == "json":
        return json.dumps(report, indent=2)
    return format_report(report)


def format_report(report: dict[str, Any]) -> str:
    """The report (the API's JSON) as aligned sections."""
    sections = [
        _header(report),
        _lifecycle(report["lifecycle"]),
        _requests(report["summary"]),
        _errors(report["errors"]),
        _dependencies(report["dependencies"]),
        _findings(report["findings"]),
        _traces(report),
    ]
    return "\n\n".join("\n".join(lines) for lines in sections)


def _header(report: dict[str, Any]) -> list[str]:
    summary = report["summary"]
    lifecycle = report["lifecycle"]
    lines = [
        f"TOKEN REPORT  {report['token_id']}",
        _field("generated", show_time(report["generated_at"]) + "  (times are UTC)"),
        _field("window", f"{show_time(report['since'])} .. {show_time(report['until'])}"),
    ]
    filters = [f"{name} {report[name]}" for name in ("service", "outcome") if report[name]]
    if filters:
        lines.append(_field("filters", "    ".join(filters)))
    lines += [
        _field(
            "owner",
            f"{_text(summary['owner'])}    name {_text(summary['name'])}    "
            f"key ids {_text(','.join(summary['key_ids']))}",
        ),
        _field("seen", f"{show_time(summary['first_seen'])} .. {show_time(summary['last_seen'])}"),
        _field(
            "traces",
            _text(report["jaeger_url"])
            if report["jaeger_url"]
            else "no Jaeger UI configured (TOKENTRACE_JAEGER_URL)",
        ),
    ]
    if lifecycle["states"]["rotated_still_used"]:
        lines.append(_field("WARNING", "used after it was rotated or revoked"))
    if lifecycle["expired"]:
        lines.append(_field("WARNING", "expired"))
    elif lifecycle["states"]["expiring_soon"]:
        lines.append(_field("WARNING", "expiring soon"))
    return lines


def _lifecycle(lifecycle: dict[str, Any]) -> list[str]:
    states = lifecycle["states"]
    expires = show_time(lifecycle["expires_at"])
    lines = [
        "LIFECYCLE",
        _field("expires", expires + ("  (expired)" if lifecycle["expired"] else "")),
        _field(
            "used", f"{show_time(lifecycle['first_used'])} .. {show_time(lifecycle['last_used'])}"
        ),
        _field(
            "states",
            "  ".join(f"{name}={_yes_no(value)}" for name, value in states.items()),
        ),
    ]
    rotation = lifecycle["rotation"]
    if rotation is not None:
        replaced_by = f" -> {rotation['new_token_id']}" if rotation["new_token_id"] else ""
        after = f"{rotation['requests_after']} request(s)"
        if rotation["last_used_after"]:
            after += f", the last {show_time(rotation['last_used_after'])}"
        lines += [
            _field(
                _text(rotation["event"]),
                f"{show_time(rotation['at'])} ({_text(rotation['source'])}){replaced_by}",
            ),
            _field("after", after),
            _field("lag", _duration(rotation["lag_ms"])),
            _field("quiet", show_time(rotation["quiet_since"])),
        ]
    events = [
        [
            show_time(e["at"]),
            _text(e["event"]),
            e["role"],
            e["source"],
            e["new_token_id"] or "",
            _cell(e["actor"]),
            show_time(e["expires_at"]) if e["expires_at"] else "",
            e["trace_id"] or "",
        ]
        for e in lifecycle["events"]
    ]
    headers = ["AT", "EVENT", "ROLE", "SOURCE", "NEW TOKEN", "ACTOR", "EXPIRES", "TRACE"]
    lines += ["", _table(headers, events, "no lifecycle event recorded or registered")]
    if rotation is not None and rotation["clients"]:
        clients = [
            [
                _cell(c["address"]),
                _cell(c["user_agent"]),
                str(c["requests"]),
                show_time(c["last_used"]),
            ]
            for c in rotation["clients"]
        ]
        lines += [
            "",
            "CLIENTS AFTER IT",
            format_table(["ADDRESS", "USER AGENT", "REQUESTS", "LAST SEEN"], clients),
        ]
    return lines


def _requests(summary: dict[str, Any]) -> list[str]:
    latency = summary["latency"]
    outcomes = {_text(o["outcome"]): o["requests"] for o in summary["outcomes"]}
    routes = [
        [
            _text(r["service"]),
            _cell(r["method"]),
            _cell(r["route"]),
            str(r["requests"]),
            str(r["errors"]),
            str(r["denied"]),
            show_ms(r["p95_ms"]),
        ]
        for r in summary["routes"]
    ]
    clients = [
        [
            _cell(c["address"]),
            _cell(c["user_agent"]),
            str(c["requests"]),
            show_time(c["first_seen"]),
            show_time(c["last_seen"]),
        ]
        for c in summary["clients"]
    ]
    services = [
        [_text(s["service"]), str(s["calls"]), str(s["errors"])] for s in summary["services"]
    ]
    return [
        "REQUESTS",
        _field("requests", f"{summary['requests']}    outcomes {show_outcomes(outcomes) or '-'}"),
        _field(
            "latency",
            f"p50 {show_ms(latency['p50_ms'])}  p95 {show_ms(latency['p95_ms'])}  "
            f"p99 {show_ms(latency['p99_ms'])}  max {show_ms(latency['max_ms'])}",
        ),
        "",
        "ROUTES",
        _table(
            ["SERVICE", "METHOD", "ROUTE", "REQUESTS", "ERRORS", "DENIED", "P95"],
            routes,
            "no request in the window",
        ),
        "",
        "CLIENTS",
        _table(
            ["ADDRESS", "USER AGENT", "REQUESTS", "FIRST SEEN", "LAST SEEN"],
            clients,
            "no client in the window",
        ),
        "",
        "SERVICES",
        _table(["SERVICE", "CALLS", "ERRORS"], services, "no service reached in the window"),
    ]


def _errors(page: dict[str, Any]) -> list[str]:
    rows = [
        [
            _text(g["service"]),
            _text(g["span_name"]),
            _cell(g["error_type"]),
            str(g["count"]),
            show_time(g["last_seen"]),
            shorten(_cell(g["message"]), _MESSAGE_WIDTH),
            (g["trace_ids"] or [""])[0],
        ]
        for g in page["errors"]
    ]
    headers = ["SERVICE", "SPAN", "ERROR TYPE", "COUNT", "LAST SEEN", "MESSAGE", "EXAMPLE TRACE"]
    lines = ["ERRORS", _table(headers, rows, "no failing span in the token's traces")]
    if page["next_offset"] is not None:
        lines.append(f"(more: tokentrace errors {page['token_id']})")
    return lines


def _dependencies(graph: dict[str, Any]) -> list[str]:
    rows = [
        [
            f"{_text(e['source'])} -> {_text(e['target'])}",
            _text(e["target_kind"]),
            str(e["calls"]),
            str(e["errors"]),
            show_ms(e["p95_ms"]),
        ]
        for e in graph["edges"]
    ]
    headers = ["EDGE", "KIND", "CALLS", "ERRORS", "P95"]
    return ["DEPENDENCIES", _table(headers, rows, "no call in the token's traces")]


def _findings(page: dict[str, Any]) -> list[str]:
    rows = [
        [
            str(f["id"]),
            _text(f["severity"]),
            _text(f["state"]),
            _text(f["kind"]),
            _text(f["subject"]),
            show_time(f["last_seen"]),
            str(len(_evidence_trace_ids(f))),
            _text(f["summary"]),
        ]
        for f in page["findings"]
    ]
    headers = ["ID", "SEVERITY", "STATE", "KIND", "SUBJECT", "LAST SEEN", "TRACES", "SUMMARY"]
    lines = ["FINDINGS", _table(headers, rows, "no finding about this token")]
    if page["next_offset"] is not None:
        lines.append(f"(more: GET /api/anomalies?token_id={page['findings'][0]['token_id']})")
    return lines


def _traces(report: dict[str, Any]) -> list[str]:
    """Every trace the report cites, once, with its Jaeger link and what cites it."""
    cited: list[tuple[str, str]] = [
        (e["trace_id"], f"lifecycle {_text(e['event'])}")
        for e in report["lifecycle"]["events"]
        if e["trace_id"]
    ]
    cited += [
        (trace_id, f"error {_text(g['service'])}: {_text(g['span_name'])}")
        for g in report["errors"]["errors"]
        for trace_id in g["trace_ids"]
    ]
    cited += [
        (trace_id, f"finding {f['id']} {_text(f['kind'])}")
        for f in report["findings"]["findings"]
        for trace_id in _evidence_trace_ids(f)
    ]
    by_trace: dict[str, list[str]] = {}
    for trace_id, by in cited:
        by_trace.setdefault(trace_id, []).append(by)
    links: dict[str, str] = report["trace_urls"]
    headers = ["TRACE", *(["JAEGER"] if links else []), "CITED BY"]
    rows = [
        [trace_id, *([links.get(trace_id, "")] if links else []), shorten("; ".join(by), 80)]
        for trace_id, by in by_trace.items()
    ]
    return ["TRACES", _table(headers, rows, "no trace cited")]


def _evidence_trace_ids(finding: dict[str, Any]) -> list[str]:
    trace_ids = finding["evidence"].get("trace_ids")
    if not isinstance(trace_ids, list):
        return []
    return [t for t in trace_ids if isinstance(t, str) and _TRACE_ID.fullmatch(t)]


def _table(headers: list[str], rows: list[list[str]], empty: str) -> str:
    if not rows:
        return f"({empty})"
    return format_table(headers, [[_printable(cell) for cell in row] for row in rows])


def _field(label: str, value: str) -> str:
    return f"{label:<10} {_printable(value)}"


def _cell(value: object) -> str:
    """A table cell: empty for null."""
    return "" if value is None else str(value)


def _text(value: object) -> str:
    """A field: ``-`` for null."""
    return "-" if value is None else str(value)


def _printable(text: str) -> str:
    """``text`` as it may reach the terminal: control and format characters (escape
    sequences, carriage returns, bidi overrides) shown escaped, ``\\x1b``."""
    return "".join(
        char.encode("unicode_escape").decode("ascii")
        if unicodedata.category(char) in {"Cc", "Cf"}
        else char
        for char in text
    )


def _yes_no(value: bool) -> str:
    return "yes" if value else "no"


def _duration(value_ms: float | None) -> str:
    """850.0ms, 42.5s, 10m00s, 3h05m, 2d04h."""
    if value_ms is None:
        return "-"
    if value_ms < 1_000:
        return f"{value_ms:.1f}ms"
    if value_ms < 60_000:
        return f"{value_ms / 1_000:.1f}s"
    minutes, seconds = divmod(int(value_ms // 1_000), 60)
    hours, minutes_left = divmod(minutes, 60)
    days, hours_left = divmod(hours, 24)
    if days:
        return f"{days}d{hours_left:02d}h"
    if hours:
        return f"{hours}h{minutes_left:02d}m"
    return f"{minutes}m{seconds:02d}s"
