"""Replayable incident scenarios for the local stack (kwok-simulated kubelet faults, metrics, logs, alarm)."""
