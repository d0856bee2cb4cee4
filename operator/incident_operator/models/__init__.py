"""Pydantic models at the operator's edges: the Incident spec, the evidence bundle, the diagnosis."""
