"""The scenario's clients: drive the gateway with every scenario token.

Run it: ``python -m tokentrace_backend.scenario.traffic --gateway-url URL [--rounds N]``.
The clients are plain HTTP clients (no tracing), like real API consumers.
"""

from __future__ import annotations

import argparse
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field

import httpx

from tokentrace_backend.scenario.tokens import ScenarioToken, scenario_tokens


@dataclass
class TrafficReport:
    """What the clients saw: response status counts per token name, and unexpected ones."""

    statuses: dict[str, Counter[int]] = field(default_factory=dict)
    unexpected: list[str] = field(default_factory=list)

    @property
    def requests(self) -> int:
        """How many requests were made in all."""
        return sum(sum(counter.values()) for counter in self.statuses.values())


def _send(client: httpx.Client, token: ScenarioToken, method: str, path: str) -> int:
    headers = {"user-agent": f"scenario-client/{token.name}"}
    params: dict[str, str] = {}
    if token.authorization is not None:
        headers["authorization"] = token.authorization
    elif token.placement == "x-api-key":
        headers["x-api-key"] = token.raw
    else:
        params["api_key"] = token.raw
    json_body = {"item": "widget"} if method == "POST" else None
    response = client.request(method, path, headers=headers, params=params, json=json_body)
    return response.status_code


def drive(
    gateway_url: str,
    *,
    rounds: int = 3,
    tokens: Iterable[ScenarioToken] | None = None,
) -> TrafficReport:
    """Make every token's requests ``rounds`` times against the gateway at ``gateway_url``."""
    chosen = tuple(tokens) if tokens is not None else scenario_tokens()
    report = TrafficReport()
    with httpx.Client(base_url=gateway_url, timeout=15.0) as client:
        for _ in range(rounds):
            for token in chosen:
                counter = report.statuses.setdefault(token.name, Counter())
                for method, path in token.requests:
                    status = _send(client, token, method, path)
                    counter[status] += 1
                    if status != token.expected_status:
                        report.unexpected.append(f"{token.name} {method} {path}: {status}")
    return report


def main(argv: list[str] | None = None) -> int:
    """Drive the traffic once and print what the clients saw; non-zero if anything was off."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--gateway-url", required=True)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args(argv)
    report = drive(args.gateway_url, rounds=args.rounds)
    for name, counter in report.statuses.items():
        print(f"{name:16} {dict(sorted(counter.items()))}")
    for line in report.unexpected:
        print(f"unexpected: {line}")
    return 1 if report.unexpected else 0


if __name__ == "__main__":
    raise SystemExit(main())
