"""Shoal: a self-hosted workspace where people and AI agents work together in rooms."""

__version__ = "0.1.0"
