"""``tokentrace tokens | token ID | errors ID``: the correlation API from the command line.

The commands call the HTTP API of a running ``tokentrace serve`` (``--url``, default
http://127.0.0.1:8318) and print aligned tables (or the raw JSON with ``--json``). When
``TOKENTRACE_API_KEY`` is set it is sent as ``Authorization: Bearer``. ``report ID``
(:mod:`.report`) goes through the same functions.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections.abc import Callable, Sequence
from typing import Any

import httpx

from tokentrace.cli import Subparsers
from tokentrace_backend.settings import (
    DEFAULT_API_URL,
    TOKENTRACE_API_KEY,
    TOKENTRACE_URL,
    ApiSettings,
    api_url,
)

TIMEOUT_SECONDS = 30.0
_TOKEN_ID = re.compile(r"[0-9a-fA-F]{32}")


def token_id_argument(text: str) -> str:
    """argparse type of a token id: 32 hex characters, lowercased.

    Anything else is refused before a request is made, without repeating the value: a raw
    token pasted by mistake must not travel in a URL (proxy logs) or land in scrollback.
    """
    if _TOKEN_ID.fullmatch(text) is None:
        raise argparse.ArgumentTypeError(
            "expected a token id of 32 hex characters (get one with: tokentrace hash)"
        )
    return text.lower()


class CommandError(Exception):
    """A failure to report in one line and exit non-zero."""


def add_commands(subparsers: Subparsers) -> None:
    """Register ``tokens``, ``token`` and ``errors``."""
    tokens = subparsers.add_parser("tokens", help="tokens seen recently, most recent first")
    _add_common(tokens)
    tokens.add_argument("--limit", type=int, default=50, help="rows to show (default 50)")
    tokens.add_argument("--offset", type=int, default=0, help="rows to skip (paging)")
    tokens.set_defaults(func=_run_tokens)

    token = subparsers.add_parser("token", help="one token's summary")
    add_token_id(token)
    _add_common(token)
    token.set_defaults(func=_run_token)

    errors = subparsers.add_parser("errors", help="errors linked to a token through its traces")
    add_token_id(errors)
    _add_common(errors)
    errors.add_argument("--limit", type=int, default=50, help="groups to show (default 50)")
    errors.set_defaults(func=_run_errors)


def add_token_id(parser: argparse.ArgumentParser) -> None:
    """The ``ID`` argument of the per-token commands."""
    parser.add_argument(
        "token_id", metavar="ID", type=token_id_argument, help="token id (see: tokentrace hash)"
    )


def _add_common(parser: argparse.ArgumentParser) -> None:
    add_api_options(parser)
    parser.add_argument("--json", action="store_true", help="print the API's JSON")


def add_api_options(parser: argparse.ArgumentParser) -> None:
    """``--url`` and the filters every per-token route takes."""
    parser.add_argument(
        "--url",
        default=api_url(),
        help=f"API base URL (default ${TOKENTRACE_URL} or {DEFAULT_API_URL})",
    )
    parser.add_argument("--since", help="ISO-8601 or a duration such as 15m, 7d (default 24h)")
    parser.add_argument("--until", help="ISO-8601 or a duration (default now)")
    parser.add_argument("--service", help="only this service")
    parser.add_argument("--outcome", help="only this auth outcome")


# -- commands ------------------------------------------------------------------------------


def _run_tokens(args: argparse.Namespace) -> int:
    return run_guarded(args, _show_tokens)


def _run_token(args: argparse.Namespace) -> int:
    return run_guarded(args, _show_token)


def _run_errors(args: argparse.Namespace) -> int:
    return run_guarded(args, _show_errors)


def _show_tokens(args: argparse.Namespace) -> str:
    page = _get(args, "/api/tokens", limit=args.limit, offset=args.offset)
    if args.json:
        return json.dumps(page, indent=2)
    rows = [
        [
            token["token_id"],
            token["owner"] or "",
            token["name"] or "",
            str(token["requests"]),
            str(token["errors"]),
            show_outcomes(token["outcomes"]),
            show_time(token["last_seen"]),
            ",".join(token["services"]),
        ]
        for token in page["tokens"]
    ]
    headers = ["TOKEN", "OWNER", "NAME", "REQUESTS", "ERRORS", "OUTCOMES", "LAST SEEN", "SERVICES"]
    text = format_table(headers, rows) if rows else "no tokens in this window"
    if page.get("next_offset") is not None:
        text += f"\n(more: --offset {page['next_offset']})"
    return text


def _show_token(args: argparse.Namespace) -> str:
    summary = _get(args, f"/api/tokens/{args.token_id}")
    if args.json:
        return json.dumps(summary, indent=2)
    latency = summary["latency"]
    lines = [
        f"token      {summary['token_id']}",
        f"owner      {summary['owner'] or '-'}    name {summary['name'] or '-'}",
        f"window     {show_time(summary['since'])} .. {show_time(summary['until'])}",
        f"seen       {show_time(summary['first_seen'])} .. {show_time(summary['last_seen'])}",
        f"requests   {summary['requests']}    outcomes "
        + (show_outcomes({o["outcome"]: o["requests"] for o in summary["outcomes"]}) or "-"),
        f"latency    p50 {show_ms(latency['p50_ms'])}  p95 {show_ms(latency['p95_ms'])}  "
        f"p99 {show_ms(latency['p99_ms'])}  max {show_ms(latency['max_ms'])}",
    ]
    if summary.get("from_rollups"):
        part = summary["from_rollups"]
        lines.append(
            f"rollups    {show_time(part['since'])} .. {show_time(part['until'])}"
            " from the daily roll-ups (older spans expired)"
        )
    if summary["rotated_still_used"]:
        lines.append("WARNING    used after it was rotated or revoked")
    sections = [
        (
            "ROUTES",
            ["SERVICE", "METHOD", "ROUTE", "REQUESTS", "ERRORS", "DENIED", "P95"],
            [
                [
                    r["service"],
                    r["method"] or "",
                    r["route"] or "",
                    str(r["requests"]),
                    str(r["errors"]),
                    str(r["denied"]),
                    show_ms(r["p95_ms"]),
                ]
                for r in summary["routes"]
            ],
        ),
        (
            "CLIENTS",
            ["ADDRESS", "USER AGENT", "REQUESTS", "LAST SEEN"],
            [
                [
                    c["address"] or "",
                    c["user_agent"] or "",
                    str(c["requests"]),
                    show_time(c["last_seen"]),
                ]
                for c in summary["clients"]
            ],
        ),
        (
            "SERVICES",
            ["SERVICE", "CALLS", "ERRORS"],
            [[s["service"], str(s["calls"]), str(s["errors"])] for s in summary["services"]],
        ),
        (
            "LIFECYCLE",
            ["AT", "EVENT", "ROLE", "NEW TOKEN", "ACTOR"],
            [
                [
                    show_time(e["at"]),
                    e["event"],
                    e["role"],
                    e["new_token_id"] or "",
                    e["actor"] or "",
                ]
                for e in summary["lifecycle"]
            ],
        ),
    ]
    for title, headers, rows in sections:
        if rows:
            lines += ["", title, format_table(headers, rows)]
    return "\n".join(lines)


def _show_errors(args: argparse.Namespace) -> str:
    page = _get(args, f"/api/tokens/{args.token_id}/errors", limit=args.limit)
    if args.json:
        return json.dumps(page, indent=2)
    rows = [
        [
            group["service"],
            group["span_name"],
            group["error_type"] or "",
            str(group["count"]),
            show_time(group["last_seen"]),
            shorten(group["message"] or "", 48),
            (group.get("jaeger_urls") or group["trace_ids"] or [""])[0],
        ]
        for group in page["errors"]
    ]
    headers = ["SERVICE", "SPAN", "ERROR TYPE", "COUNT", "LAST SEEN", "MESSAGE", "EXAMPLE TRACE"]
    return format_table(headers, rows) if rows else "no errors linked to this token in the window"


# -- HTTP ----------------------------------------------------------------------------------


def run_guarded(args: argparse.Namespace, show: Callable[[argparse.Namespace], str]) -> int:
    """Print what ``show`` makes of ``args``; a :class:`CommandError` is one line on stderr
    and exit code 1."""
    try:
        print(show(args))
    except CommandError as error:
        print(f"tokentrace {args.command}: {error}", file=sys.stderr)
        return 1
    return 0


def _get(args: argparse.Namespace, path: str, **extra: Any) -> Any:
    return api_get(args, path, **extra).json()


def api_get(args: argparse.Namespace, path: str, **extra: Any) -> httpx.Response:
    """GET ``path`` of the API at ``--url`` with the filters of ``args`` and ``extra``, the
    API key as a bearer token when ``TOKENTRACE_API_KEY`` is set; a :class:`CommandError`
    for anything but a 200."""
    params = {
        name: value
        for name, value in {
            "since": args.since,
            "until": args.until,
            "service": args.service,
            "outcome": args.outcome,
            **extra,
        }.items()
        if value is not None
    }
    headers = {"Accept": "application/json"}
    api_key = ApiSettings.resolve().api_key
    if api_key:
        headers["Authorization"] = f"Bearer {api_key}"
    url = args.url.rstrip("/") + path
    try:
        response = httpx.get(url, params=params, headers=headers, timeout=TIMEOUT_SECONDS)
    except httpx.HTTPError as error:
        raise CommandError(f"cannot reach the API at {args.url}: {error}") from None
    if response.status_code == 401:
        raise CommandError(f"the API refused the request: set {TOKENTRACE_API_KEY} to its API key")
    if response.status_code == 404:
        raise CommandError(_error_message(response, "not found"))
    if response.status_code == 422:
        raise CommandError("bad parameter: " + _validation_message(response))
    if response.status_code != 200:
        raise CommandError(f"the API answered {response.status_code}: {response.text[:200]}")
    return response


def _error_message(response: httpx.Response, fallback: str) -> str:
    try:
        return str(response.json()["error"]["message"])
    except (ValueError, KeyError, TypeError):
        return fallback


def _validation_message(response: httpx.Response) -> str:
    try:
        details = response.json()["detail"]
        return "; ".join(f"{d['loc'][-1]}: {d['msg']}" for d in details)
    except (ValueError, KeyError, TypeError, IndexError):
        return response.text[:200]


# -- formatting ----------------------------------------------------------------------------


# Count columns read best right-aligned.
_NUMERIC_HEADERS = frozenset(
    {"REQUESTS", "ERRORS", "COUNT", "CALLS", "DENIED", "P95", "ID", "TRACES"}
)


def format_table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """Columns separated by two spaces; count columns right-aligned, the rest left-aligned."""
    widths = [len(header) for header in headers]
    for row in rows:
        widths = [max(width, len(cell)) for width, cell in zip(widths, row, strict=True)]
    numeric = [header in _NUMERIC_HEADERS for header in headers]

    def line(cells: Sequence[str]) -> str:
        parts = [
            cell.rjust(width) if is_number else cell.ljust(width)
            for cell, width, is_number in zip(cells, widths, numeric, strict=True)
        ]
        return "  ".join(parts).rstrip()

    return "\n".join([line(headers), *(line(row) for row in rows)])


def show_outcomes(outcomes: dict[str, int]) -> str:
    ordered = sorted(outcomes.items(), key=lambda item: (-item[1], item[0]))
    return " ".join(f"{outcome}={count}" for outcome, count in ordered)


def show_time(value: str | None) -> str:
    """``2026-01-31T12:00:00.123456Z`` → ``2026-01-31 12:00:00``."""
    if not value:
        return "-"
    return value.replace("T", " ")[:19]


def show_ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}ms"


def shorten(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"
