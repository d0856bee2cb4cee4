"""Helpers the tests share: the real control plane, workloads with simulated kubelet faults, waiting."""
