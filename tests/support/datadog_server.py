"""A Datadog API stand-in: the v1 query/events/monitor and v2 span search endpoints, with Datadog's
key headers (403 {"errors": ["Forbidden"]} without valid ones) and its documented response shapes."""

from __future__ import annotations

import time

from local_stack.http_stub import Request, Response, StubServer

API_KEY, APP_KEY = "dd-api-0123456789abcdef", "dd-app-0123456789abcdef0123"


class DatadogServer(StubServer):
    def __init__(self) -> None:
        super().__init__()
        self.monitors: list[dict] = []
        self.events: list[dict] = []
        self.spans: list[dict] = []
        self.series: dict[str, list[list[float]]] = {}
        self.route("GET", "/api/v1/query")(self._query)
        self.route("GET", "/api/v1/events")(self._events)
        self.route("GET", "/api/v1/monitor")(self._monitors)
        self.route("POST", "/api/v2/spans/events/search")(self._spans)

    def _guard(self, req: Request) -> Response | None:
        if req.headers.get("dd-api-key") != API_KEY or req.headers.get("dd-application-key") != APP_KEY:
            return 403, {}, {"errors": ["Forbidden"]}
        return None

    def _query(self, req: Request) -> Response:
        q = req.query["query"]
        pts = self.series.get(q, [])
        return self._guard(req) or (200, {}, {
            "status": "ok", "res_type": "time_series", "query": q, "from_date": int(req.query["from"]) * 1000,
            "to_date": int(req.query["to"]) * 1000,
            "series": [{"metric": q.split("{")[0].split(":")[-1], "expression": q, "pointlist": pts, "length": len(pts),
                        "scope": q.split("{")[-1].rstrip("}"), "interval": 60}] if pts else []})

    def _events(self, req: Request) -> Response:
        start, end = int(req.query["start"]), int(req.query["end"])
        tags = set(filter(None, req.query.get("tags", "").split(",")))
        events = [e for e in self.events if start <= e["date_happened"] <= end and tags <= set(e.get("tags", []))]
        return self._guard(req) or (200, {}, {"events": events, "status": "ok"})

    def _monitors(self, req: Request) -> Response:
        tags = set(filter(None, req.query.get("monitor_tags", "").split(",")))
        return self._guard(req) or (200, {}, [m for m in self.monitors if tags <= set(m.get("tags", []))])

    def _spans(self, req: Request) -> Response:
        limit = req.body["data"]["attributes"]["page"]["limit"]
        return self._guard(req) or (200, {}, {"data": self.spans[:limit], "meta": {"status": "done", "page": {}}})


def sample(server: DatadogServer) -> None:
    now = int(time.time())
    server.series["avg:kubernetes.cpu.usage.total{kube_namespace:shop}"] = [[(now - 300 + 60 * i) * 1000, v] for i, v in enumerate([1.0, 1.2, 3.5, 7.9, 8.1])]
    server.events.append({"id": 1, "title": "Deployment checkout rolled out", "text": "image 1.4.2", "date_happened": now - 600,
                          "alert_type": "info", "tags": ["kube_namespace:shop"]})
    server.monitors += [{"id": 11, "name": "checkout error rate", "type": "query alert", "overall_state": "Alert",
                         "query": "sum(last_5m):sum:trace.http.request.errors{service:checkout} > 50", "tags": ["kube_namespace:shop"]},
                        {"id": 12, "name": "catalog latency", "type": "query alert", "overall_state": "OK",
                         "query": "avg(last_5m):p95:trace.http.request{service:catalog} > 1", "tags": ["kube_namespace:shop"]}]
    server.spans.append({"id": "s1", "type": "spans", "attributes": {
        "service": "checkout", "resource_name": "POST /pay", "status": "error", "start_timestamp": "2026-11-25T00:00:00Z",
        "custom": {"duration": 1_500_000_000, "error": {"message": "upstream payments: connection refused"}}}})
