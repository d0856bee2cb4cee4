"""Assembles a PhaseContext for one Incident from the operator's long-lived parts."""

from __future__ import annotations

import logging

from .kube.client import Kube
from .kube.events import EventRecorder
from .kube.incidents import IncidentStore
from .phases.context import PhaseContext
from .report.sinks import ClusterSink, ReportSink
from .settings import Settings
from .sources import default_sources


def report_sink(recorder: EventRecorder, settings: Settings) -> ReportSink:
    return ClusterSink(recorder)


def build_context(kube: Kube, settings: Settings, incident: dict, logger: logging.Logger | logging.LoggerAdapter | None = None) -> PhaseContext:
    """The spec is parsed by the pipeline, which fails the Incident cleanly when it is unusable."""
    recorder = EventRecorder(kube.core, incident)
    ctx = PhaseContext(
        kube=kube, settings=settings, store=IncidentStore(kube), incident=incident,
        spec=None, events=recorder,
        sink=report_sink(recorder, settings), sources=default_sources(kube, settings))
    if logger is not None:
        ctx.logger = logger
    return ctx
