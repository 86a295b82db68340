"""Outbound webhook subscriptions: room and house events POSTed, signed, to subscribers' URLs.

`queue` and `emit` put deliveries in the transaction of the change that caused them;
`delivery` sends them as the scheduler's `delivery` kind; `subscriptions` and `log` back the
API. This package's root imports nothing, so the room and house write paths can use `queue`.
"""
