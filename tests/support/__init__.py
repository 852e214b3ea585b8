"""Helpers shared by the unit, e2e, fault and bench suites."""
