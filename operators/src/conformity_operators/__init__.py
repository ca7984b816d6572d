"""Operator tools: watch the event streams, trace cascades, handle dead letters."""
