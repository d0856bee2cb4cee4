"""EKS authentication: a bearer token made from a presigned STS GetCallerIdentity URL.

The same scheme `aws eks get-token` uses: the URL is signed with the `x-k8s-aws-id` header set to
the cluster name, base64url-encoded and prefixed with `k8s-aws-v1.`. Valid for 15 minutes; cached
here until a minute before that.
"""

from __future__ import annotations

import base64
import threading
import time
from typing import Any, Callable

CLUSTER_HEADER = "x-k8s-aws-id"
TOKEN_PREFIX = "k8s-aws-v1."
TOKEN_LIFETIME = 15 * 60
REFRESH_MARGIN = 60
PRESIGN_EXPIRES = 60


def _register_header(sts: Any) -> None:
    def keep_cluster_id(params: dict, context: dict, **_: Any) -> None:
        if CLUSTER_HEADER in params:
            context[CLUSTER_HEADER] = params.pop(CLUSTER_HEADER)

    def add_cluster_header(request: Any, **_: Any) -> None:
        if CLUSTER_HEADER in request.context:
            request.headers[CLUSTER_HEADER] = request.context[CLUSTER_HEADER]

    sts.meta.events.register("provide-client-params.sts.GetCallerIdentity", keep_cluster_id)
    sts.meta.events.register("before-sign.sts.GetCallerIdentity", add_cluster_header)


def make_token(sts: Any, cluster_name: str) -> str:
    _register_header(sts)
    url = sts.generate_presigned_url("get_caller_identity", Params={CLUSTER_HEADER: cluster_name},
                                     ExpiresIn=PRESIGN_EXPIRES, HttpMethod="GET")
    return TOKEN_PREFIX + base64.urlsafe_b64encode(url.encode()).decode().rstrip("=")


class TokenProvider:
    """Hands out a cached token, making a new one shortly before the old one expires."""

    def __init__(self, sts_factory: Callable[[], Any], cluster_name: str, clock: Callable[[], float] = time.time):
        self._sts_factory = sts_factory
        self._cluster = cluster_name
        self._clock = clock
        self._lock = threading.Lock()
        self._token: str | None = None
        self._expires = 0.0

    def token(self) -> str:
        with self._lock:
            if self._token is None or self._clock() >= self._expires - REFRESH_MARGIN:
                self._token = make_token(self._sts_factory(), self._cluster)
                self._expires = self._clock() + TOKEN_LIFETIME
            return self._token

    def __repr__(self) -> str:  # never print the token
        return f"TokenProvider(cluster={self._cluster!r})"
