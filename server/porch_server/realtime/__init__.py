"""Realtime fan-out: who is connected, and what every process must hear."""
