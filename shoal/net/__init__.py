"""Shoal's calls out to the network, under the operator's outbound policy."""

from shoal.net.outbound import (
    AddressRefused,
    Outbound,
    OutboundError,
    OutboundPolicy,
    OutboundResponse,
    OutboundTimeout,
    ResponseTooLarge,
)

__all__ = [
    "AddressRefused",
    "Outbound",
    "OutboundError",
    "OutboundPolicy",
    "OutboundResponse",
    "OutboundTimeout",
    "ResponseTooLarge",
]
