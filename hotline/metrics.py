"""Prometheus metrics shared by the IVR (which updates them) and the admin panel (which serves /metrics)."""

from prometheus_client import Counter, Gauge, Histogram

_LATENCY_BUCKETS = (0.05, 0.1, 0.2, 0.3, 0.5, 0.8, 1.0, 1.5, 2.0, 3.0, 5.0, 10.0)

ACTIVE_CALLS = Gauge("hotline_active_calls", "Calls currently connected to the IVR")
CALLS = Counter("hotline_calls_total", "Calls finished, by outcome", ["outcome"])
TURNS = Counter("hotline_turns_total", "Caller turns handled by the IVR")
ESCALATIONS = Counter("hotline_escalations_total", "Calls handed to a human agent, by reason", ["reason"])
ERRORS = Counter("hotline_errors_total", "Errors by kind", ["kind"])
RECOGNITION_SECONDS = Histogram(
    "hotline_recognition_seconds", "Speech recognition time per utterance", buckets=_LATENCY_BUCKETS
)
PROCESSING_SECONDS = Histogram(
    "hotline_processing_seconds",
    "End-of-speech decision to first answer audio frame",
    buckets=_LATENCY_BUCKETS,
)
