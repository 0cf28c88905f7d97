"""tokentrace's last-chance scrub relies on the OTel SDK's span internals
(src/tokentrace/_span_internals.py); this fails loudly if an SDK upgrade changes them."""

from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.trace import Status, StatusCode

from tokentrace._span_internals import (
    attribute_dict,
    rewrite_event_strings,
    rewrite_status_description,
)


def test_ended_span_attributes_events_and_status_can_be_rewritten() -> None:
    span = TracerProvider().get_tracer("t").start_span("s", attributes={"url.query": "a=1"})
    span.add_event("exception", {"exception.message": "bad s3cret"})
    span.set_status(Status(StatusCode.ERROR, "bad s3cret"))
    span.end()
    plain = attribute_dict(span)
    assert plain == {"url.query": "a=1"}
    plain["url.query"] = "a=2"
    rewrite_event_strings(span, lambda text: text.replace("s3cret", "REDACTED"))
    rewrite_status_description(span, lambda text: text.replace("s3cret", "REDACTED"))
    assert span.attributes == {"url.query": "a=2"}
    assert span.events[0].attributes == {"exception.message": "bad REDACTED"}
    assert span.status.description == "bad REDACTED"
