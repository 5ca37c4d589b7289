"""Thin activity functions: dict in, one port call, dict out."""
