"""Assembles a PhaseContext for one Incident from the operator's long-lived parts."""

from __future__ import annotations

import logging

from .kube.client import Kube
from .kube.events import EventRecorder
from .kube.incidents import IncidentStore, WriteLog
from .phases.context import PhaseContext
from .report.sinks import ClusterSink, GitHubSink, ReportSink
from .settings import Settings
from .sources import default_sources
from .tools.base import ToolDeps

WRITES = "incident-writes"  # the operator's own Incident writes (kube/incidents.WriteLog), shared by all runs


def report_sinks(recorder: EventRecorder, deps: ToolDeps) -> list[ReportSink]:
    """GitHub and/or Slack, as configured (GitHub first: its state is `status.report`, Slack's then
    `status.report.slack`); neither: the cluster itself."""
    from .report.slack import SlackSink, configured
    s = deps.settings
    found: list[ReportSink] = []
    if s.github_token and s.github_repo:
        found.append(GitHubSink(deps, recorder))
    if configured(s):
        found.append(SlackSink(deps, recorder))
    return found or [ClusterSink(recorder)]


def report_sink(recorder: EventRecorder, deps: ToolDeps) -> ReportSink:
    return report_sinks(recorder, deps)[0]


def build_context(kube: Kube, settings: Settings, incident: dict,
                  logger: logging.Logger | logging.LoggerAdapter | None = None,
                  deps: ToolDeps | None = None) -> PhaseContext:
    """The spec is parsed by the pipeline, which fails the Incident cleanly when it is unusable."""
    from .tenancy import scope_for_incident
    # every tool and source this Incident's phases (and its model) call is bounded to its scope
    deps = (deps or ToolDeps(settings=settings, kube=kube)).scoped(scope_for_incident(incident, settings))
    recorder = EventRecorder(kube.core, incident)
    sink, *extra_sinks = report_sinks(recorder, deps)
    ctx = PhaseContext(
        kube=kube, settings=settings, store=IncidentStore(kube, deps.client(WRITES, WriteLog)), incident=incident,
        spec=None, events=recorder, sink=sink, sources=default_sources(deps), deps=deps, extra_sinks=extra_sinks)
    if logger is not None:
        ctx.logger = logger
    return ctx
