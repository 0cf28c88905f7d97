"""Token intelligence: anomaly detectors over the derived tables, and their findings.

Follows ``derived/`` by batch with a watermark of its own (``detect_state``), learns each
token's baseline incrementally (``token_hours``, ``token_clients``,
``token_endpoints``, ``address_failures``; schema in ``storage/schema/2NN_*.sql``) and owns
``findings``. Thresholds live in :mod:`.thresholds`. It reads ``spans`` and the derived
tables and writes only its own tables; it never answers HTTP.
"""

from __future__ import annotations

from tokentrace_backend.detect.detection import Detection
from tokentrace_backend.detect.kinds import AnomalyKind, FindingState, Severity
from tokentrace_backend.detect.thresholds import DetectionThresholds

__all__ = ["AnomalyKind", "Detection", "DetectionThresholds", "FindingState", "Severity"]
