"""Kubernetes access: clients, evidence from the API, Incident status, Events."""
