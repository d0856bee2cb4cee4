"""A GitHub REST stand-in: the issue, comment and label endpoints PyGithub uses, with GitHub's
documented shapes — token auth (401 "Bad credentials"), Link-header pagination, rate-limit headers,
and injectable 5xx / rate-limit answers."""

from __future__ import annotations

import itertools
import time
from datetime import datetime, timezone
from typing import Any

from .http_stub import Request, Response, StubServer

TOKEN = "ghp_testtoken0123456789abcdefghijklmnopq"


def _now() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


class GitHubServer(StubServer):
    def __init__(self, repo: str = "acme/shop") -> None:
        super().__init__()
        self.repo = repo
        self.labels: dict[str, dict] = {}
        self.issues: dict[int, dict] = {}
        self.comments: dict[int, list[dict]] = {}
        self.ids = itertools.count(1000)
        self.remaining = 5000
        r = repo.replace("/", "/")
        self.route("GET", f"/repos/{r}")(self._repo)
        self.route("GET", f"/repos/{r}/labels")(self._list_labels)
        self.route("POST", f"/repos/{r}/labels")(self._create_label)
        self.route("GET", f"/repos/{r}/issues")(self._list_issues)
        self.route("POST", f"/repos/{r}/issues")(self._create_issue)
        self.route("GET", rf"/repos/{r}/issues/(\d+)")(self._get_issue)
        self.route("PATCH", rf"/repos/{r}/issues/(\d+)")(self._edit_issue)
        self.route("GET", rf"/repos/{r}/issues/(\d+)/comments")(self._list_comments)
        self.route("POST", rf"/repos/{r}/issues/(\d+)/comments")(self._create_comment)

    # --- shapes --------------------------------------------------------------------------------
    @property
    def api(self) -> str:
        return f"{self.url}/repos/{self.repo}"

    def _headers(self, extra: dict[str, str] | None = None) -> dict[str, str]:
        self.remaining = max(0, self.remaining - 1)
        return {"X-RateLimit-Limit": "5000", "X-RateLimit-Remaining": str(self.remaining),
                "X-RateLimit-Reset": str(int(time.time()) + 3600), "X-RateLimit-Used": str(5000 - self.remaining),
                "X-RateLimit-Resource": "core", "X-GitHub-Request-Id": f"STUB:{next(self.ids)}", **(extra or {})}

    def _authorized(self, req: Request) -> bool:
        return req.headers.get("authorization", "") in (f"token {TOKEN}", f"Bearer {TOKEN}")

    def _label(self, name: str) -> dict:
        return self.labels.get(name) or {"id": next(self.ids), "name": name, "color": "ededed", "default": False,
                                         "url": f"{self.api}/labels/{name}", "description": None}

    def _issue(self, n: int) -> dict:
        i = self.issues[n]
        return {**i, "comments": len(self.comments.get(n, [])), "labels": [self._label(l) for l in i["label_names"]]}

    def _page(self, req: Request, items: list[Any]) -> Response:
        per_page = int(req.query.get("per_page", 30))
        page = int(req.query.get("page", 1))
        chunk = items[(page - 1) * per_page: page * per_page]
        links = []
        base = f"{self.url}{req.path}?" + "&".join(f"{k}={v}" for k, v in req.query.items() if k != "page")
        last = max(1, -(-len(items) // per_page))
        if page < last:
            links.append(f'<{base}&page={page + 1}>; rel="next"')
            links.append(f'<{base}&page={last}>; rel="last"')
        return 200, self._headers({"Link": ", ".join(links)} if links else {}), chunk

    def _guard(self, req: Request) -> Response | None:
        if not self._authorized(req):
            return 401, self._headers(), {"message": "Bad credentials", "documentation_url": "https://docs.github.com/rest"}
        return None

    # --- endpoints -----------------------------------------------------------------------------
    def _repo(self, req: Request) -> Response:
        owner, name = self.repo.split("/")
        return self._guard(req) or (200, self._headers(), {
            "id": 1, "name": name, "full_name": self.repo, "private": False, "url": self.api,
            "html_url": f"https://github.example/{self.repo}", "owner": {"login": owner, "id": 2, "type": "Organization"}})

    def _list_labels(self, req: Request) -> Response:
        return self._guard(req) or self._page(req, list(self.labels.values()))

    def _create_label(self, req: Request) -> Response:
        if (g := self._guard(req)):
            return g
        name = req.body["name"]
        if name in self.labels:
            return 422, self._headers(), {"message": "Validation Failed", "errors": [{"resource": "Label", "code": "already_exists", "field": "name"}]}
        self.labels[name] = {"id": next(self.ids), "name": name, "color": req.body.get("color", "ededed"), "default": False,
                             "url": f"{self.api}/labels/{name}", "description": req.body.get("description")}
        return 201, self._headers(), self.labels[name]

    def _list_issues(self, req: Request) -> Response:
        if (g := self._guard(req)):
            return g
        state = req.query.get("state", "open")
        wanted = set(filter(None, req.query.get("labels", "").split(",")))
        items = [self._issue(n) for n in sorted(self.issues, reverse=True)
                 if (state == "all" or self.issues[n]["state"] == state) and wanted <= set(self.issues[n]["label_names"])]
        return self._page(req, items)

    def _create_issue(self, req: Request) -> Response:
        if (g := self._guard(req)):
            return g
        n = len(self.issues) + 1
        self.issues[n] = {
            "id": next(self.ids), "node_id": f"I_{n}", "number": n, "title": req.body["title"], "body": req.body.get("body"),
            "state": "open", "state_reason": None, "locked": False, "assignees": [], "label_names": list(req.body.get("labels", [])),
            "user": {"login": "incident-bot", "id": 3, "type": "Bot"}, "created_at": _now(), "updated_at": _now(),
            "closed_at": None, "url": f"{self.api}/issues/{n}", "html_url": f"https://github.example/{self.repo}/issues/{n}",
            "comments_url": f"{self.api}/issues/{n}/comments", "repository_url": self.api}
        for name in self.issues[n]["label_names"]:
            self.labels.setdefault(name, self._label(name))
        return 201, self._headers(), self._issue(n)

    def _get_issue(self, req: Request) -> Response:
        n = int(req.match.group(1))
        if (g := self._guard(req)):
            return g
        return (200, self._headers(), self._issue(n)) if n in self.issues else (404, self._headers(), {"message": "Not Found"})

    def _edit_issue(self, req: Request) -> Response:
        if (g := self._guard(req)):
            return g
        n = int(req.match.group(1))
        i = self.issues[n]
        for k in ("title", "body", "state", "state_reason"):
            if k in req.body:
                i[k] = req.body[k]
        if req.body.get("state") == "closed":
            i["closed_at"] = _now()
        i["updated_at"] = _now()
        return 200, self._headers(), self._issue(n)

    def _list_comments(self, req: Request) -> Response:
        return self._guard(req) or self._page(req, self.comments.get(int(req.match.group(1)), []))

    def _create_comment(self, req: Request) -> Response:
        if (g := self._guard(req)):
            return g
        n = int(req.match.group(1))
        cid = next(self.ids)
        c = {"id": cid, "node_id": f"IC_{cid}", "body": req.body["body"], "user": {"login": "incident-bot", "id": 3, "type": "Bot"},
             "created_at": _now(), "updated_at": _now(), "url": f"{self.api}/issues/comments/{cid}",
             "html_url": f"https://github.example/{self.repo}/issues/{n}#issuecomment-{cid}", "issue_url": f"{self.api}/issues/{n}"}
        self.comments.setdefault(n, []).append(c)
        return 201, self._headers(), c

    def issue_list(self) -> list[dict[str, Any]]:
        return [self._issue(n) for n in sorted(self.issues)]
