"""Deciding which bots a stored message wakes, and the gates in front of them."""
