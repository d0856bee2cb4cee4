"""Where the report goes. Every sink is idempotent: open() finds its own report again."""

from __future__ import annotations

from abc import ABC, abstractmethod

from pydantic import BaseModel

from ..kube.events import EventRecorder


class SinkRejected(Exception):
    """The sink refused for good (bad credentials, no such repository): retrying cannot help."""


class ReportRef(BaseModel):
    sink: str
    ref: str
    url: str | None = None
    channel: str | None = None  # Slack: the channel id and the parent message's ts
    ts: str | None = None


class ReportSink(ABC):
    name: str

    @abstractmethod
    def open(self, fingerprint: str, title: str, body: str, labels: list[str], fresh: bool = False) -> ReportRef:
        """Open the report, or return the one already opened for this fingerprint. `fresh`: no earlier attempt
        can have reached the sink (the first run of the phase), so there is nothing to look for first."""

    @abstractmethod
    def comment(self, ref: ReportRef, key: str, body: str, fresh: bool = False) -> None:
        """Add a comment once per key (`fresh`: as for open)."""

    @abstractmethod
    def close(self, ref: ReportRef, body: str) -> None: ...

    def update(self, ref: ReportRef, fingerprint: str, title: str, body: str, labels: list[str], state: str) -> None:
        """Bring the report's own text up to date (state, outcome) after a comment or closing, where
        the sink has such a thing (Slack's parent message); a no-op elsewhere."""


class ClusterSink(ReportSink):
    """No external tracker: the report lives in the Incident's status, each step announced by an Event
    with a fixed name, so a retried step finds its Event and does not post it again."""

    name = "cluster"

    def __init__(self, recorder: EventRecorder):
        self.recorder = recorder

    def open(self, fingerprint: str, title: str, body: str, labels: list[str], fresh: bool = False) -> ReportRef:
        self.recorder.emit("ReportOpened", f"{title} ({', '.join(labels)})", key="report-opened")
        return ReportRef(sink=self.name, ref=f"incident/{self.recorder.namespace}/{self.recorder.name}")

    def comment(self, ref: ReportRef, key: str, body: str, fresh: bool = False) -> None:
        first_line = next((l.lstrip("# ") for l in body.splitlines() if l.strip()), key)
        self.recorder.emit("ReportComment", first_line, key=f"report-{key}")

    def close(self, ref: ReportRef, body: str) -> None:
        self.recorder.emit("ReportClosed", body.splitlines()[0].lstrip("# ") if body else "closed", key="report-closed")


class GitHubSink(ReportSink):
    """The report as a GitHub issue, comments and closing through the github-* tools."""

    name = "github"

    def __init__(self, deps, recorder: EventRecorder):
        self.deps = deps
        self.recorder = recorder

    @staticmethod
    def _number(ref: ReportRef) -> int:
        return int(ref.ref.rsplit("#", 1)[1])

    @staticmethod
    def classify(exc: Exception) -> Exception:
        """GitHub's 401/404/410/422 are for good; rate limits, 5xx and network errors may pass."""
        from github import GithubException, RateLimitExceededException
        if isinstance(exc, GithubException) and not isinstance(exc, RateLimitExceededException):
            if exc.status in (401, 404, 410, 422) or (exc.status == 403 and "rate limit" not in str(exc).lower()):
                return SinkRejected(f"GitHub {exc.status}: {(exc.data or {}).get('message') if isinstance(exc.data, dict) else exc.data}")
        return exc

    def _call(self, fn, *args):
        try:
            return fn(*args)
        except Exception as exc:  # noqa: BLE001 - re-raised, classified
            raise self.classify(exc) from exc

    def open(self, fingerprint: str, title: str, body: str, labels: list[str], fresh: bool = False) -> ReportRef:
        from ..tools.github import CreateIssueInput, create_issue, fit_title
        issue = self._call(create_issue, CreateIssueInput(title=fit_title(title), body=body, labels=labels,
                                                          fingerprint=fingerprint, search=not fresh), self.deps)
        if issue.created:
            self.recorder.emit("ReportOpened", f"{title}: {issue.url}", key="report-opened")
        return ReportRef(sink=self.name, ref=f"{self.deps.settings.github_repo}#{issue.number}", url=issue.url)

    def comment(self, ref: ReportRef, key: str, body: str, fresh: bool = False) -> None:
        from ..tools.github import AddCommentInput, add_comment
        self._call(add_comment, AddCommentInput(issue_number=self._number(ref), body=body, key=key, search=not fresh),
                   self.deps)

    def close(self, ref: ReportRef, body: str) -> None:
        from ..tools.github import CloseIssueInput, close_issue
        self._call(close_issue, CloseIssueInput(issue_number=self._number(ref)), self.deps)
        self.recorder.emit("ReportClosed", f"{ref.ref} closed", key="report-closed")
