"""Every threshold of the detectors, in one place.

Baselines are learned per token from its own history (medians, MAD, quantiles of its
hourly counts over ``baseline_days``); these numbers say how far from its own baseline a
token must go, and how much history it needs before a detector judges it at all.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

HOUR_NS = 3_600_000_000_000
DAY_NS = 24 * HOUR_NS

# Normal-distribution consistency constant: 1.4826 * MAD estimates a standard deviation.
MAD_SCALE = 1.4826


@dataclass(frozen=True)
class DetectionThresholds:
    # The baseline: how far back a token's history counts.
    baseline_days: int = 28
    # new_endpoint, new_network: the token's age and requests before a first use is news.
    min_history_days: float = 3.0
    min_history_requests: int = 50
    # burst, error_spike, shared_token: active hours of history before rates are judged.
    min_baseline_hours: int = 24
    # burst: an hour's requests above all of these (median, MAD and 95th percentile of the
    # token's active hours) and at least burst_min_requests.
    burst_min_requests: int = 60
    burst_median_factor: float = 5.0
    burst_p95_factor: float = 2.0
    burst_mad_k: float = 6.0
    # error_spike: an hour's share of requests with a downstream failure.
    error_min_errors: int = 10
    error_min_rate: float = 0.2
    error_median_factor: float = 4.0
    error_p95_margin: float = 0.1
    # auth_failure_burst: invalid, expired or revoked attempts with one token id in an hour.
    auth_failure_min: int = 20
    auth_failure_factor: float = 5.0
    # credential_stuffing: token ids failing from one address in an hour.
    stuffing_min_tokens: int = 10
    stuffing_factor: float = 3.0
    # odd_hours: activity in an hour of the week (with its neighbours) that was silent in
    # every earlier week of the baseline, for a token that has a rhythm at all.
    odd_hours_min_history_days: float = 14.0
    odd_hours_min_requests: int = 5
    odd_hours_max_active_hours_of_week: int = 126  # of 168: silent at least a quarter
    # shared_token: distinct networks or user agents in an hour.
    shared_min_clients: int = 6
    shared_factor: float = 4.0
    # use_after_expiry, use_after_revocation: clock skew forgiven.
    grace_seconds: float = 60.0
    # How many trace ids a finding's evidence lists.
    evidence_traces: int = 10

    @property
    def baseline_hours(self) -> int:
        return self.baseline_days * 24

    def sql_parameters(self) -> dict[str, Any]:
        """The thresholds as the detectors' SQL parameters (``$burst_min_requests``, ...)."""
        parameters = asdict(self)
        parameters |= {
            "baseline_hours": self.baseline_hours,
            "baseline_ns": self.baseline_days * DAY_NS,
            "min_history_ns": int(self.min_history_days * DAY_NS),
            "odd_hours_min_history_ns": int(self.odd_hours_min_history_days * DAY_NS),
            "grace_ns": int(self.grace_seconds * 1e9),
            "mad_scale": MAD_SCALE,
        }
        return parameters
