"""The deterministic analyzer: one small analyzer per failure kind, all behind `Analyzer`."""

from .engine import ANALYZERS, analyze

__all__ = ["ANALYZERS", "analyze"]
