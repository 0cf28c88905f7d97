"""tokentrace: API tokens as first-class citizens of OpenTelemetry traces."""

__version__ = "0.1.0"
