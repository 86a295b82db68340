"""Bots as records: their configuration and who may trigger them."""
