"""GitHub issues with PyGithub: the incident report, its comments, closing it.

Idempotent by hidden markers: the issue body carries the Incident's fingerprint and each comment its
key, so a retried or restarted step finds what it already posted instead of posting it again.
Rate limits (403/429 with Retry-After or reset headers) and 5xx are retried with backoff.

Called by someone other than the operator (an MCP caller, `deps.caller`), the tools cannot pass for the
operator: keys and fingerprints are prefixed with the caller's name (`mcp.<caller>.`), so the operator
never takes such an issue or comment for its own report or "복구 완료" comment; what is posted starts
with who posted it, with Markdown headings escaped; and a caller scoped to some namespaces sees and
touches only the reports of Incidents in those namespaces (and opens none).
"""

from __future__ import annotations

import re
from typing import Literal

from pydantic import BaseModel, Field

from ..mdescape import title as plain_title
from ..redact import redact
from ..tenancy import Refused
from .base import NotConfigured, Tool, ToolDeps

MARK = "incident-operator"
LABEL_COLORS = {"incident": "d73a4a", "auto-analysis": "0e8a16", "severity:critical": "b60205",
                "severity:high": "d93f0b", "severity:medium": "fbca04", "severity:low": "c2e0c6"}


def outbound(text: str) -> str:
    """What may be posted: secrets masked, and no text posing as one of our hidden markers (a marker
    pasted into an Incident's summary must not make its issue look like another Incident's)."""
    return redact(text).replace(f"<!-- {MARK}:", f"&lt;!-- {MARK}:")


# what a key or fingerprint may contain: no spaces, no `-->` (a key closing our marker early could end the
# text with a marker of the operator's own)
MARKER_VALUE = r"^[A-Za-z0-9._:/-]{1,300}$"
_FINGERPRINT_AT_END = re.compile(rf"<!-- {MARK}:fingerprint=([A-Za-z0-9._:/-]+) -->\s*$")


def as_caller(deps: ToolDeps, value: str) -> str:
    """A key or fingerprint as `deps.caller` may use it: its own, never one of the operator's."""
    return value if deps.caller is None else f"mcp.{deps.caller}.{value}"


def caller_text(deps: ToolDeps, text: str) -> str:
    """What may be posted; a caller's text says who wrote it and cannot pass for a report's heading."""
    text = outbound(text)
    if deps.caller is None:
        return text
    text = re.sub(r"(?m)^([ \t]{0,3})#", r"\1\\#", text)
    return f"> MCP 호출자 `{deps.caller}`가 게시 (incident-operator의 보고가 아님)\n\n{text}"


def report_namespace(body: str | None) -> str | None:
    """The namespace of the Incident whose report this is (from the operator's fingerprint), or None."""
    m = _FINGERPRINT_AT_END.search(body or "")
    if not m or m.group(1).startswith("mcp."):
        return None
    return m.group(1).split("/", 1)[0]


def _tenant(deps: ToolDeps):
    """The scope of a caller bound to some namespaces, or None (the operator, or a cluster-wide caller)."""
    if deps.caller is None:
        return None
    scope = deps.effective_scope()
    return scope if scope.namespaces is not None else None


def require_in_scope(deps: ToolDeps, issue) -> None:
    if (scope := _tenant(deps)) is not None and not scope.may_read(report_namespace(issue.body)):
        raise Refused("CrossNamespaceTarget", f"이슈 #{issue.number}은(는) 호출자 `{deps.caller}`의 네임스페이스 "
                                              "Incident 보고가 아닙니다")


def fingerprint_marker(fingerprint: str) -> str:
    return f"<!-- {MARK}:fingerprint={fingerprint} -->"


def comment_marker(key: str) -> str:
    return f"<!-- {MARK}:comment={key} -->"


def repository(deps: ToolDeps):
    s = deps.settings
    if not (s.github_token and s.github_repo):
        raise NotConfigured("GitHub 토큰/저장소가 설정되지 않음 (GITHUB_TOKEN, GITHUB_REPO)")

    def make():
        from github import Auth, Github, GithubRetry
        gh = Github(auth=Auth.Token(s.github_token.get_secret_value()), base_url=s.github_api_url, lazy=True,
                    timeout=int(s.tool_timeout_seconds), per_page=50, seconds_between_requests=0,
                    seconds_between_writes=s.github_write_interval_seconds,
                    retry=GithubRetry(total=2, connect=1, backoff_factor=0.2, secondary_rate_wait=1,
                                      max_rate_limit_wait=60))
        return gh.get_repo(s.github_repo)
    return deps.client("github", make)


def ensure_labels(repo, labels: list[str]) -> None:
    """Create the missing labels; another Incident creating one at the same moment is fine (422 already_exists)."""
    from github import GithubException
    existing = {l.name for l in repo.get_labels()}
    for name in labels:
        if name not in existing:
            try:
                repo.create_label(name=name, color=LABEL_COLORS.get(name, "ededed"))
            except GithubException as exc:
                errors = (exc.data or {}).get("errors", []) if isinstance(exc.data, dict) else []
                if exc.status != 422 or not any(e.get("code") == "already_exists" for e in errors):
                    raise


TITLE_MAX = 256  # GitHub's limit


def fit_title(title: str) -> str:
    """One line of plain text (a newline would make a second line of the title), cut to GitHub's 256
    characters with an ellipsis that says so."""
    return plain_title(title, TITLE_MAX)


def written_by_us(body: str | None, marker: str) -> bool:
    """Our marker is the last line of what we post; anywhere else it is quoted user text."""
    return (body or "").rstrip().endswith(marker)


FIND_SCAN = 100  # newest issues looked at; the report's number is normally in the Incident's status


def find_issue(repo, fingerprint: str):
    """The fallback when status has no issue number (the operator died right after creating it): the
    issue is among the newest, so only those are read — never the whole history."""
    marker = fingerprint_marker(fingerprint)
    for i, issue in enumerate(repo.get_issues(state="all", labels=["incident"], sort="created", direction="desc")):
        if i >= FIND_SCAN:
            break
        if written_by_us(issue.body, marker):
            return issue
    return None


class CreateIssueInput(BaseModel):
    title: str = Field(max_length=TITLE_MAX)
    body: str
    labels: list[str] = ["incident", "auto-analysis"]
    fingerprint: str = Field(pattern=MARKER_VALUE,
                             description="Stable id of the incident; the same fingerprint never opens a second issue")
    search: bool = Field(default=True, description="Look for an issue opened by an earlier attempt first (skip only "
                                                   "when no earlier attempt can have reached GitHub)")


class IssueRef(BaseModel):
    number: int
    url: str
    state: str
    created: bool = False


def create_issue(args: CreateIssueInput, deps: ToolDeps) -> IssueRef:
    if _tenant(deps) is not None:
        raise Refused("CrossNamespaceTarget", f"네임스페이스로 한정된 호출자 `{deps.caller}`는 이슈를 만들 수 없습니다 "
                                              "(보고는 Incident가 엽니다)")
    repo = repository(deps)
    fingerprint = as_caller(deps, args.fingerprint)
    existing = find_issue(repo, fingerprint) if args.search else None
    if existing is not None:
        return IssueRef(number=existing.number, url=existing.html_url, state=existing.state)
    known = deps.client("github-labels", set)  # labels seen or made by this process: not listed again
    if not set(args.labels) <= known:
        ensure_labels(repo, args.labels)
        known.update(args.labels)
    issue = repo.create_issue(title=fit_title(redact(args.title)), body=f"{caller_text(deps, args.body)}\n\n{fingerprint_marker(fingerprint)}",
                              labels=args.labels)
    return IssueRef(number=issue.number, url=issue.html_url, state=issue.state, created=True)


class AddCommentInput(BaseModel):
    issue_number: int
    body: str
    key: str | None = Field(default=None, pattern=MARKER_VALUE, description="With a key, the comment is posted at most once")
    search: bool = Field(default=True, description="With a key, look for the comment first (skip only when no earlier "
                                                   "attempt can have reached GitHub)")


class CommentRef(BaseModel):
    id: int
    url: str | None = None
    created: bool = False


def add_comment(args: AddCommentInput, deps: ToolDeps) -> CommentRef:
    issue = repository(deps).get_issue(args.issue_number)
    require_in_scope(deps, issue)
    body = caller_text(deps, args.body)
    if args.key:
        marker = comment_marker(as_caller(deps, args.key))
        for c in issue.get_comments() if args.search else []:
            if written_by_us(c.body, marker):
                return CommentRef(id=c.id, url=c.html_url)
        body = f"{body}\n\n{marker}"
    c = issue.create_comment(body)
    return CommentRef(id=c.id, url=c.html_url, created=True)


class ListIssuesInput(BaseModel):
    state: Literal["open", "closed", "all"] = "open"
    labels: list[str] = ["incident"]
    limit: int = Field(default=20, ge=1, le=100)


class IssueSummary(BaseModel):
    number: int
    title: str
    state: str
    url: str
    labels: list[str]


class IssueList(BaseModel):
    issues: list[IssueSummary]


def list_issues(args: ListIssuesInput, deps: ToolDeps) -> IssueList:
    out = []
    scope = _tenant(deps)
    for i, issue in enumerate(repository(deps).get_issues(state=args.state, labels=args.labels)):
        if scope is not None:  # a tenant's: only its Incidents' reports, among the newest few pages
            if i >= 5 * FIND_SCAN:
                break
            if not scope.may_read(report_namespace(issue.body)):
                continue
        out.append(IssueSummary(number=issue.number, title=issue.title, state=issue.state, url=issue.html_url,
                                labels=[l.name for l in issue.labels]))
        if len(out) >= args.limit:
            break
    return IssueList(issues=out)


class CloseIssueInput(BaseModel):
    issue_number: int
    comment: str | None = None
    comment_key: str | None = Field(default=None, pattern=MARKER_VALUE)


def close_issue(args: CloseIssueInput, deps: ToolDeps) -> IssueRef:
    require_in_scope(deps, repository(deps).get_issue(args.issue_number))
    if args.comment:
        add_comment(AddCommentInput(issue_number=args.issue_number, body=args.comment, key=args.comment_key), deps)
    issue = repository(deps).get_issue(args.issue_number)
    if issue.state != "closed":
        issue.edit(state="closed", state_reason="completed")
    return IssueRef(number=issue.number, url=issue.html_url, state="closed")


TOOLS = [
    Tool("github-create-issue", "인시던트 GitHub 이슈 생성 (같은 fingerprint면 기존 이슈 반환, 없는 라벨 생성)",
         CreateIssueInput, IssueRef, create_issue, "github", read_only=False),
    Tool("github-add-comment", "이슈에 댓글 추가 (key가 같으면 한 번만)", AddCommentInput, CommentRef, add_comment, "github",
         read_only=False, idempotent=False),
    Tool("github-list-issues", "인시던트 이슈 목록", ListIssuesInput, IssueList, list_issues, "github"),
    Tool("github-close-issue", "이슈 닫기 (선택: 마지막 댓글)", CloseIssueInput, IssueRef, close_issue, "github",
         read_only=False, destructive=True),
]
