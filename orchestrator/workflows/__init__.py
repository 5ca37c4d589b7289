"""Durable orchestrator bodies: deterministic generators that only yield durable tasks."""
