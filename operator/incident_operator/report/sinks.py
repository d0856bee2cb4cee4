"""Where the report goes. Every sink is idempotent: open() finds its own report again."""

from __future__ import annotations

from abc import ABC, abstractmethod

from pydantic import BaseModel

from ..kube.events import EventRecorder


class ReportRef(BaseModel):
    sink: str
    ref: str
    url: str | None = None


class ReportSink(ABC):
    name: str

    @abstractmethod
    def open(self, fingerprint: str, title: str, body: str, labels: list[str]) -> ReportRef:
        """Open the report, or return the one already opened for this fingerprint."""

    @abstractmethod
    def comment(self, ref: ReportRef, key: str, body: str) -> None:
        """Add a comment once per key."""

    @abstractmethod
    def close(self, ref: ReportRef, body: str) -> None: ...


class ClusterSink(ReportSink):
    """No external tracker: the report lives in the Incident's status, each step announced by an Event
    with a fixed name, so a retried step finds its Event and does not post it again."""

    name = "cluster"

    def __init__(self, recorder: EventRecorder):
        self.recorder = recorder

    def open(self, fingerprint: str, title: str, body: str, labels: list[str]) -> ReportRef:
        self.recorder.emit("ReportOpened", f"{title} ({', '.join(labels)})", key="report-opened")
        return ReportRef(sink=self.name, ref=f"incident/{self.recorder.namespace}/{self.recorder.name}")

    def comment(self, ref: ReportRef, key: str, body: str) -> None:
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

    def open(self, fingerprint: str, title: str, body: str, labels: list[str]) -> ReportRef:
        from ..tools.github import CreateIssueInput, create_issue
        issue = create_issue(CreateIssueInput(title=title, body=body, labels=labels, fingerprint=fingerprint), self.deps)
        if issue.created:
            self.recorder.emit("ReportOpened", f"{title}: {issue.url}", key="report-opened")
        return ReportRef(sink=self.name, ref=f"{self.deps.settings.github_repo}#{issue.number}", url=issue.url)

    def comment(self, ref: ReportRef, key: str, body: str) -> None:
        from ..tools.github import AddCommentInput, add_comment
        add_comment(AddCommentInput(issue_number=self._number(ref), body=body, key=key), self.deps)

    def close(self, ref: ReportRef, body: str) -> None:
        from ..tools.github import CloseIssueInput, close_issue
        close_issue(CloseIssueInput(issue_number=self._number(ref)), self.deps)
        self.recorder.emit("ReportClosed", f"{ref.ref} closed", key="report-closed")
