"""Schemathesis hooks for tests/api/openapi.rs: the WHIP endpoint takes an
SDP offer (`application/sdp`), text that Schemathesis sends as it sends
text/plain."""
import schemathesis

schemathesis.serializer.alias("application/sdp", "text/plain")
