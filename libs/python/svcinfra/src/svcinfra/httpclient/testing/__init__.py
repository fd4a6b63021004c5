"""Test kit for adapters: a real loopback HTTP server that answers from a script, with faults.

Services test their `ApiClient` subclasses against it (timeouts, 429 with Retry-After, bursts
of 503, resets, a body cut half-way, malformed JSON) instead of mocking the transport.
"""

from ._server import ReceivedRequest, Reply, UpstreamServer, unreachable_url

__all__ = ["ReceivedRequest", "Reply", "UpstreamServer", "unreachable_url"]
