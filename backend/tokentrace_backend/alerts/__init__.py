"""Alerts and metrics: what the backend tells other systems.

Owns the alert rules (``rules``: a TOML file, validated at start), the dispatcher that
turns each new finding (``findings``: what it reads of them) and each token entering a
lifecycle state (``lifecycle``: the states of every token, evaluated periodically, and the
pairs that turned on) into one alert per matching rule and posts it to the rule's webhook
(``dispatcher``, ``webhook``, ``message``), the delivery log (``delivery_log``: its
tables, migrations 3NN in ``storage/schema``), and the Prometheus metrics behind
``/metrics`` (``metrics``). It reads ``findings`` (written by the detectors), the derived
tables (their state, ``token_dim``, and through ``queries`` the lifecycle states), and
writes only its own tables, through cursors of the one connection; it never answers HTTP
(``api/`` serves ``/api/alerts`` and ``/metrics``).
"""

from __future__ import annotations

from .delivery_log import alerts_overview
from .dispatcher import AlertDispatcher
from .metrics import METRICS_CONTENT_TYPE, BackendMetrics, DropCounter, SpanCounter
from .results import AlertsOverview
from .rules import AlertRule, load_rules, parse_rules
from .webhook import DeliveryPolicy

__all__ = [
    "METRICS_CONTENT_TYPE",
    "AlertDispatcher",
    "AlertRule",
    "AlertsOverview",
    "BackendMetrics",
    "DeliveryPolicy",
    "DropCounter",
    "SpanCounter",
    "alerts_overview",
    "load_rules",
    "parse_rules",
]
