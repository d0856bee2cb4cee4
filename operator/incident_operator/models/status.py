"""The Incident status, as the operator writes it and the CRD (crds/incident.yaml, `make crd`) publishes it.

This model is the source of truth for `status`: the CRD's schema is generated from it, and every status
write passes `check_patch` first. The API server silently prunes fields its schema does not know, so a
field the operator writes but this model lacks fails here, loudly, instead of vanishing in the cluster.

Status is written with JSON merge patches: a top-level `None` deletes the field, so every field is
optional; nested objects are written whole.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import Field, ValidationError

from .base import CamelModel as _Model
from .diagnosis import Anomaly, EvidenceItem, RemediationAction, RemediationProposal, SimilarIncident, TimelineEntry
from .evidence import SourceOutcome
from .spec import Target
from .strict import unknown_fields

Phase = Literal["Pending", "Gathering", "Reporting", "Collecting", "Correlating", "Diagnosing", "Responding",
                "AwaitingApproval", "Resolved", "NeedsAction", "Failed", "Grouped"]
RunPhase = Literal["Gathering", "Reporting", "Collecting", "Correlating", "Diagnosing", "Responding"]
Outcome = Literal["remediated", "recovered", "unverified", "needs-action", "grouped"]
ActionState = Literal["in-progress", "verifying", "succeeded", "failed", "dry-run", "skipped", "unverified",
                      "awaiting-approval", "denied", "expired", "undoing"]


class IncidentCondition(_Model):
    """One condition, per Kubernetes API conventions. `Ready` is True only once the incident is over
    (Resolved); one condition per phase (Gathered, Reported, Collected, Correlated, Diagnosed, Responded),
    plus Resolved, Failed and TargetAllowed."""

    type: str = Field(description="Condition type in CamelCase: Ready, Gathered, Reported, Collected, Correlated, "
                                  "Diagnosed, Responded, Resolved, Failed, TargetAllowed")
    status: Literal["True", "False", "Unknown"] = Field(description="True, False or Unknown")
    reason: str | None = Field(default=None, description="Why, in one CamelCase word (e.g. Done, Retrying, Remediated, "
                                                          "NeedsAction, CollectingFailed)")
    message: str | None = Field(default=None, description="Human-readable detail (Korean), at most 500 characters")
    last_transition_time: datetime | None = Field(
        default=None, description="When the status last changed (RFC 3339)")
    observed_generation: int | None = Field(
        default=None, description="The metadata.generation of the Incident this condition was set for")


class Claim(_Model):
    """Which operator replica is working on this Incident (covers the moments around a leader hand-over)."""

    holder: str | None = Field(default=None, description="Identity of the replica (INCIDENT_IDENTITY)")
    renewed_at: datetime | None = Field(default=None, description="When the holder last renewed its claim")


class PhaseTiming(_Model):
    """Timing of one phase."""

    started_at: datetime | None = Field(default=None, description="When the phase first started")
    finished_at: datetime | None = Field(default=None, description="When it completed")
    runs: int | None = Field(default=None, description="How many times it ran (more than 1 after a retry or a restart)")


class AffectedObject(_Model):
    """A Kubernetes object the incident touches."""

    kind: str | None = Field(default=None, description="Deployment, Pod, Node, Namespace, ...")
    namespace: str | None = Field(default=None, description="Its namespace (none for a Node)")
    name: str | None = Field(default=None, description="Its name")
    reason: str | None = Field(default=None, description="Why it is a suspect, when the alarm did not name it")


class Window(_Model):
    """The time window the evidence is collected in: the alarm time ± spec.options.windowMinutes."""

    start: datetime | None = Field(default=None, description="Start of the window (RFC 3339)")
    end: datetime | None = Field(default=None, description="End of the window (RFC 3339)")
    anchor: datetime | None = Field(default=None, description="When the incident happened (the alarm time, or the Incident's creation)")
    note: str | None = Field(default=None, description="Why the anchor is not the alarm time, when it is not")


class SuspectSearch(_Model):
    """The search for who an alarm is about when it names no pod or node."""

    suspects: int | None = Field(default=None, description="How many suspects were found")
    failed: list[str] | None = Field(default=None, description="Searches that failed or timed out, with why")


class ReportOp(_Model):
    """An operation the report still owes."""

    op: Literal["open", "comment", "close"] = Field(description="open, comment or close")
    key: str | None = Field(default=None, description="The comment's key (analysis, resolution, recovered; -runN for a re-run)")
    title: str | None = Field(default=None, description="The closing comment's title")


class SinkReport(_Model):
    """One report sink's report (GitHub issue, Slack message, or the cluster's own Events) and what it is
    still owed (the outbox)."""

    sink: str | None = Field(default=None, description="Where the report goes: github, slack or cluster")
    ref: str | None = Field(default=None, description="The report's reference, e.g. owner/repo#12 or CHANNEL/ts")
    url: str | None = Field(default=None, description="Its web address, if it has one")
    channel: str | None = Field(default=None, description="Slack: the channel id of the message")
    ts: str | None = Field(default=None, description="Slack: the message's ts (its replies are its thread)")
    comments: list[str] | None = Field(default=None, description="Keys of the comments already posted")
    closed: bool | None = Field(default=None, description="Whether the report has been closed")
    outbox: list[ReportOp] | None = Field(default=None, description="Operations not delivered yet, in order")
    pending: bool | None = Field(default=None, description="True while the outbox is not empty")
    attempts: int | None = Field(default=None, description="Failed delivery attempts in a row")
    last_error: str | None = Field(default=None, description="The last delivery error")
    next_attempt_at: datetime | None = Field(default=None, description="When delivery is tried again")
    delivered_at: datetime | None = Field(default=None, description="When an operation was last delivered")
    failed: bool | None = Field(default=None, description="The sink refused for good (e.g. bad credentials): not retried")


class ReportStatus(SinkReport):
    """The first report sink's report, with the full Korean text, and any second sink's beside it."""

    markdown: str | None = Field(default=None, description="The full Korean report (`incident-operator report NAME`)")
    slack: SinkReport | None = Field(default=None, description="The Slack message, when Slack is a second sink beside GitHub")


class EvidenceSummary(_Model):
    """What the collecting phase gathered. The bundle itself is in a ConfigMap (`incident-operator evidence NAME`)."""

    config_map: str | None = Field(default=None, description="The ConfigMap holding the evidence bundle (gzip JSON)")
    sources: list[SourceOutcome] | None = Field(default=None, description="Each evidence source and how it answered")
    pods: int | None = Field(default=None, description="Pods seen")
    events: int | None = Field(default=None, description="Kubernetes Events seen")
    deployments: int | None = Field(default=None, description="Deployments seen")
    nodes: int | None = Field(default=None, description="Nodes seen")
    metrics: int | None = Field(default=None, description="Metric series collected")
    logs: int | None = Field(default=None, description="Log lines collected")


class StatusCause(_Model):
    """A likely cause, ranked (1 is the most likely)."""

    rank: int | None = Field(default=None, description="1 = the most likely cause")
    kind: str = Field(description="Analyzer kind, e.g. cpu-burner, image-pull, scaled-to-zero, unknown")
    title: str = Field(description="One line, Korean")
    confidence: float = Field(description="0..1")
    resource: str | None = Field(default=None, description="The object it is about, Kind/namespace/name")
    evidence: list[EvidenceItem] | None = Field(default=None, description="What points at it")
    remediation: RemediationProposal | None = Field(default=None, description="The native fix, when there is one")


class Guide(_Model):
    """The response guide (Korean)."""

    immediate: list[str] | None = Field(default=None, description="What to do now")
    long_term: list[str] | None = Field(default=None, description="What to change so it does not happen again")


class LlmUsage(_Model):
    """The model call of an LLM diagnosis (INCIDENT_LLM_ENABLED)."""

    model: str | None = Field(default=None, description="The model id")
    input_tokens: int | None = Field(default=None, description="Input tokens used")
    output_tokens: int | None = Field(default=None, description="Output tokens used")
    attempts: int | None = Field(default=None, description="Model calls made (retries included)")
    tool_calls: list[str] | None = Field(default=None, description="Tools the model called, in order (at most 50)")
    fallback_reason: str | None = Field(default=None, description="Why the rules' diagnosis was used instead")
    fallback_kind: str | None = Field(
        default=None, description="What stopped the model: budget-incident, budget-day, tool-arguments, unstructured, "
                                  "no-cause, deadline or error")
    tool_argument_repairs: int | None = Field(default=None, description="Invalid tool calls answered with a repair turn")
    incident_token_budget: int | None = Field(default=None, description="The Incident's token budget (INCIDENT_LLM_INCIDENT_TOKEN_BUDGET)")
    day_tokens: int | None = Field(default=None, description="Model tokens spent today (UTC) after this diagnosis")
    day_token_budget: int | None = Field(default=None, description="The day's token budget (INCIDENT_LLM_DAY_TOKEN_BUDGET; 0: none)")


class PlanChange(_Model):
    """One change an action makes: the exact object and field, before and after."""

    object: str = Field(description="Kind/namespace/name")
    field: str = Field(description="The field, e.g. spec.replicas, spec.template.spec.containers[app].image, or (object) for a delete")
    before: str | None = Field(default=None, description="Its value now")
    after: str | None = Field(default=None, description="Its value after the action")


class ApprovalRecord(_Model):
    """A plan proposed for approval, and what became of it (the history of one Incident's approvals)."""

    plan_hash: str | None = Field(default=None, description="The plan")
    action: str | None = Field(default=None, description="The action id")
    state: Literal["pending", "approved", "denied", "expired", "stale", "refused"] | None = Field(
        default=None, description="pending, approved, denied, expired, stale (the target changed: a new plan was "
                                  "proposed), refused (an approval that could not be trusted)")
    by: str | None = Field(default=None, description="Who decided (the API server's username)")
    at: datetime | None = Field(default=None, description="When this state was reached")
    message: str | None = Field(default=None, description="Why, Korean")


class AlarmCheck(_Model):
    """The Incident's CloudWatch alarm as DescribeAlarms described it at the effectiveness check."""

    name: str | None = Field(default=None, description="The alarm asked about")
    state: Literal["OK", "ALARM", "INSUFFICIENT_DATA"] | None = Field(
        default=None, description="Its StateValue then; absent when CloudWatch could not say")
    reason: str | None = Field(default=None, description="Its StateReason (cut)")
    updated_at: datetime | None = Field(default=None, description="Its StateUpdatedTimestamp")
    problem: str | None = Field(default=None, description="Why the alarm could not confirm (missing, unreachable, ...)")
    decided: bool | None = Field(default=None, description="Whether its state decided held / regressed (else the other evidence did)")


class Effectiveness(_Model):
    """Whether a verified fix held, checked some time after Resolved (INCIDENT_REMEDIATION_EFFECTIVENESS_SECONDS)."""

    state: Literal["pending", "held", "regressed"] | None = Field(default=None, description="pending, held or regressed")
    action: str | None = Field(default=None, description="The fix checked")
    check_at: datetime | None = Field(default=None, description="When it is (was) checked")
    checked_at: datetime | None = Field(default=None, description="When it was checked")
    evidence: list[str] | None = Field(default=None, description="What was seen (Korean)")
    alarm: AlarmCheck | None = Field(default=None, description="The CloudWatch alarm's state at the check (CloudWatch Incidents)")


class FixRecord(_Model):
    """How often a fix held for this workload and cause, from past Incidents' effectiveness checks."""

    action: str | None = Field(default=None, description="The fix")
    workload: str | None = Field(default=None, description="The workload's name")
    held: int | None = Field(default=None, description="Times it held")
    total: int | None = Field(default=None, description="Times it was checked")


class ActionRecord(_Model):
    """A remediation action: written `in-progress` before it touches the cluster, so a restart never repeats it."""

    id: str = Field(description="action:Kind/namespace/name")
    action: RemediationAction = Field(description="The action")
    target: str | None = Field(default=None, description="The object acted on, Kind/namespace/name")
    mode: Literal["auto", "approve", "dry-run", "skip"] | None = Field(default=None, description="What the policy decided")
    state: ActionState | None = Field(default=None, description="in-progress, verifying, succeeded, failed, dry-run, skipped, "
                                      "unverified; with approval: awaiting-approval, denied, expired; undoing (an "
                                      "unverified action being put back)")
    plan: list[PlanChange] | None = Field(default=None, description="What the action changes: each object and field, before → after")
    plan_hash: str | None = Field(default=None, description="Hash of the plan and its targets' uid/generation: an approval "
                                  "names it, and a target that changed since makes it stale")
    approval: str | None = Field(default=None, description="The IncidentApproval (same namespace) that decides this plan")
    decided_by: str | None = Field(default=None, description="Who approved or denied: the API server's username of "
                                   "the IncidentApproval's creator (checked at admission)")
    decided_at: datetime | None = Field(default=None, description="When the approval was created")
    proposed_at: datetime | None = Field(default=None, description="When the plan was proposed for approval")
    expires_at: datetime | None = Field(default=None, description="Approval not given by then: expired")
    undo_state: Literal["undoing", "verified", "unverified", "failed", "impossible"] | None = Field(
        default=None, description="The automatic undo of an unverified action: verified (the target is back as before), "
                                  "unverified, failed, impossible (nothing to put back)")
    undo_verify_by: datetime | None = Field(default=None, description="Deadline for the undo to take effect")
    undo_verified_at: datetime | None = Field(default=None, description="When the undo was seen in effect")
    baseline: dict[str, Any] | None = Field(default=None, description="The target's health when verified (free-form: "
                                            "restarts, ready), the effectiveness check compares against it")
    message: str | None = Field(default=None, description="What happened, Korean")
    params: dict[str, Any] | None = Field(default=None, description="The action's parameters (free-form)")
    at: datetime | None = Field(default=None, description="When the state last changed")
    before: dict[str, Any] | None = Field(default=None, description="What the target looked like before (free-form snapshot)")
    after: dict[str, Any] | None = Field(default=None, description="What it looked like after (free-form snapshot)")
    applied_at: datetime | None = Field(default=None, description="When the action was applied")
    verify_by: datetime | None = Field(default=None, description="Deadline for the target to be healthy again")
    verified_at: datetime | None = Field(default=None, description="When it was seen healthy")
    undo: str | None = Field(default=None, description="What undoing an unverified action did (or why it failed)")
    via: str | None = Field(default=None, description="Who acted, when it was not the respond phase (chaos-cleanup: the MCP tool)")


class PreviousAction(_Model):
    """An action of an earlier run."""

    action: str | None = Field(default=None, description="The action")
    target: str | None = Field(default=None, description="The object acted on")
    state: str | None = Field(default=None, description="Its final state")


class PreviousRun(_Model):
    """The result of an earlier analysis, kept when the Incident is re-run (annotation netaiops.io/rerun)."""

    run: int | None = Field(default=None, description="Run number")
    phase: str | None = Field(default=None, description="The phase it ended in")
    top_cause: str | None = Field(default=None, description="Its top cause")
    outcome: str | None = Field(default=None, description="Its outcome")
    finished_at: datetime | None = Field(default=None, description="When it finished")
    actions: list[PreviousAction] | None = Field(default=None, description="Its remediation actions")


class IncidentStatus(_Model):
    """What the operator found and did: written by the operator after every step, read by people."""

    phase: Phase | None = Field(default=None, description="Where the analysis is: Pending, one of the six phases "
                                "(Gathering, Reporting, Collecting, Correlating, Diagnosing, Responding), or a final "
                                "phase (Resolved, NeedsAction, Failed, or Grouped: the same event as its parent)")
    observed_generation: int | None = Field(default=None, description="The metadata.generation the operator last acted on")
    conditions: list[IncidentCondition] | None = Field(default=None, description="Kubernetes conditions; `Ready` is True once the incident is Resolved")
    summary: str | None = Field(default=None, description="One line on where things stand (Korean)")
    outcome: Outcome | None = Field(default=None, description="remediated (fixed and verified), recovered (the alarm "
                                    "went back to OK), unverified (fixed but not healthy in time), needs-action, grouped")
    top_cause: str | None = Field(default=None, description="The most likely cause, kind: resource")
    engine: Literal["rules", "llm"] | None = Field(default=None, description="Who diagnosed: rules or llm")
    incident_type: str | None = Field(default=None, description="pod-cpu-spike, pod-restarts, node-cpu-high, ..., generic or manual")
    target: Target | None = Field(default=None, description="What the incident is about, the spec's target completed from the alarm")
    affected: list[AffectedObject] | None = Field(default=None, description="The objects the incident touches, the target first")
    window: Window | None = Field(default=None, description="The time window of the evidence")
    suspect_search: SuspectSearch | None = Field(default=None, description="The suspect search, when the alarm named no pod or node")
    report: ReportStatus | None = Field(default=None, description="The report and what it is still owed")
    evidence: EvidenceSummary | None = Field(default=None, description="What was collected, and where the bundle is")
    anomalies: list[Anomaly] | None = Field(default=None, description="Anomalies in the window (at most 30)")
    similar_incidents: list[SimilarIncident] | None = Field(default=None, description="Past Incidents with the same alarm, workload or cause, and how they ended")
    causes: list[StatusCause] | None = Field(default=None, description="Likely causes, most likely first, with their evidence")
    timeline: list[TimelineEntry] | None = Field(default=None, description="What happened when")
    guide: Guide | None = Field(default=None, description="The response guide")
    remediation: RemediationProposal | None = Field(default=None, description="The action the diagnosis chose, when it is not the top cause's own")
    llm: LlmUsage | None = Field(default=None, description="The LLM diagnosis' model use")
    actions: list[ActionRecord] | None = Field(default=None, description="Remediation actions and their states")
    completed_phases: list[RunPhase] | None = Field(default=None, description="Phases done, in order (a restart resumes after them)")
    phases: dict[str, PhaseTiming] | None = Field(default=None, description="Timing of each phase, by phase name")
    waiting: RunPhase | None = Field(default=None, description="The phase waiting on the cluster (e.g. a rollout to become healthy)")
    silenced: bool | None = Field(default=None, description="Analysis stopped by the netaiops.io/silenced annotation")
    attempts: int | None = Field(default=None, description="Failed attempts of the current phase")
    last_error: str | None = Field(default=None, description="The last error (secrets redacted)")
    finished_at: datetime | None = Field(default=None, description="When the Incident reached a final phase")
    claim: Claim | None = Field(default=None, description="The replica working on it")
    run: int | None = Field(default=None, description="Analysis run number (1, then +1 per re-run)")
    parent: str | None = Field(default=None, description="Grouped: the Incident (same namespace) this one is the same event as")
    related_incidents: list[str] | None = Field(default=None, description="Incidents grouped under this one (namespace/name), "
                                                "analysed and reported here")
    rerun_token: str | None = Field(default=None, description="The netaiops.io/rerun annotation value the current run started for")
    previous_runs: list[PreviousRun] | None = Field(default=None, description="Earlier runs (the last 10)")
    approvals: list[ApprovalRecord] | None = Field(default=None, description="Plans proposed for approval and what "
                                                   "became of them (the last 10)")
    effectiveness: Effectiveness | None = Field(default=None, description="Whether the fix held after Resolved")
    past_fixes: list[FixRecord] | None = Field(default=None, description="Past fixes of the same workload and cause, "
                                               "most often held first")


class StatusSchemaError(ValueError):
    """A status write the CRD would prune or reject: a bug in the operator, never retried quietly."""


def check_patch(patch: dict[str, Any]) -> None:
    """Raise StatusSchemaError if `patch` (a merge patch of status) has a field the model (and so the CRD)
    does not know, or a value of the wrong shape."""
    unknown = unknown_fields(IncidentStatus, patch)
    if unknown:
        raise StatusSchemaError(f"status fields missing from models/status.py (the API server would drop them; "
                                f"add them and run `make crd`): {', '.join(unknown[:10])}")
    try:
        IncidentStatus.model_validate(patch)
    except ValidationError as exc:
        raise StatusSchemaError(f"status write does not match models/status.py: {exc}") from None
