"""Chaos runs: a supported fault injected mid-walk (``faults``), driven by ``run``."""
