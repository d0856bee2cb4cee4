"""Reading Incidents and patching their status subresource."""

from __future__ import annotations

import threading
from collections import OrderedDict
from typing import Any, Iterator

from ..constants import GROUP, PLURAL, VERSION
from ..models.status import check_patch
from ..redact import redact_data
from .client import Kube


def deep_merge(base: dict, patch: dict) -> dict:
    """JSON merge patch semantics (RFC 7386) applied locally, so the in-memory status tracks the API."""
    for k, v in patch.items():
        if v is None:
            base.pop(k, None)
        elif isinstance(v, dict) and isinstance(base.get(k), dict):
            deep_merge(base[k], v)
        else:
            base[k] = v
    return base


def combine_patches(first: dict, then: dict) -> dict:
    """One merge patch with the effect of `first` followed by `then` (nulls kept: they delete in the API)."""
    out = dict(first)
    for k, v in then.items():
        if isinstance(v, dict) and isinstance(out.get(k), dict):
            out[k] = combine_patches(out[k], v)
        else:
            out[k] = v
    return out


class WriteLog:
    """The resourceVersions the operator's own writes produced, for the most recent `size` Incidents: a watch
    event carrying one of them only shows what the writer already knew (scheduling.py need not look again)."""

    def __init__(self, size: int = 4096, per_incident: int = 32):
        self.size, self.per_incident = size, per_incident
        self._versions: OrderedDict[tuple[str, str], list[str]] = OrderedDict()
        self._lock = threading.Lock()

    def record(self, obj: dict[str, Any]) -> None:
        meta = obj.get("metadata") or {}
        key, rv = (meta.get("namespace"), meta.get("name")), meta.get("resourceVersion")
        if not rv:
            return
        with self._lock:
            versions = self._versions.pop(key, [])
            self._versions[key] = (versions + [rv])[-self.per_incident:]
            while len(self._versions) > self.size:
                self._versions.popitem(last=False)

    def forget(self, namespace: str, name: str) -> None:
        with self._lock:
            self._versions.pop((namespace, name), None)

    def ours(self, namespace: str, name: str, resource_version: str | None) -> bool:
        with self._lock:
            return bool(resource_version) and resource_version in self._versions.get((namespace, name), ())


class IncidentStore:
    def __init__(self, kube: Kube, writes: WriteLog | None = None):
        self.kube = kube
        self.writes = writes

    def _wrote(self, obj: dict[str, Any]) -> dict[str, Any]:
        if self.writes is not None:
            self.writes.record(obj)
        return obj

    def get(self, namespace: str, name: str) -> dict[str, Any]:
        return self.kube.custom.get_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, name)

    def _page(self, namespace: str | None, **kw: Any) -> dict[str, Any]:
        if namespace:
            return self.kube.custom.list_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, **kw)
        return self.kube.custom.list_cluster_custom_object(GROUP, VERSION, PLURAL, **kw)

    def list(self, namespace: str | None = None, label_selector: str | None = None,
             limit: int | None = None) -> list[dict[str, Any]]:
        """One page (`limit`) or everything; callers whose cost must not grow with history pass a limit."""
        kw: dict[str, Any] = {"label_selector": label_selector} if label_selector else {}
        if limit:
            kw["limit"] = limit
        return self._page(namespace, **kw).get("items", [])

    def pages(self, namespace: str | None = None, label_selector: str | None = None,
              page: int = 200) -> Iterator[list[dict[str, Any]]]:
        """Every Incident, one page of `page` at a time (`continue` tokens): memory bounded by the page,
        whatever the history."""
        kw: dict[str, Any] = {"limit": page, **({"label_selector": label_selector} if label_selector else {})}
        while True:
            res = self._page(namespace, **kw)
            yield res.get("items", [])
            kw["_continue"] = (res.get("metadata") or {}).get("continue")
            if not kw["_continue"]:
                return

    def patch_status(self, namespace: str, name: str, patch: dict[str, Any],
                     resource_version: str | None = None, *, redacted: bool = False) -> dict[str, Any]:
        """Merge-patch the status; with `resource_version`, only if nobody changed the Incident since.

        Status is readable by whoever can read the Incident: every value passes the redactor (callers
        that already passed it say `redacted=True`)."""
        check_patch(patch)  # a field the CRD does not know would be dropped by the API server without a word
        body: dict[str, Any] = {"status": patch if redacted else redact_data(patch)}
        if resource_version:
            body["metadata"] = {"resourceVersion": resource_version}
        return self._wrote(self.kube.custom.patch_namespaced_custom_object_status(GROUP, VERSION, namespace, PLURAL,
                                                                                  name, body))

    def patch(self, namespace: str, name: str, patch: dict[str, Any]) -> dict[str, Any]:
        return self._wrote(self.kube.custom.patch_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, name, patch))

    def delete(self, namespace: str, name: str) -> None:
        from kubernetes.client import ApiException
        try:
            self.kube.custom.delete_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, name)
        except ApiException as exc:
            if exc.status != 404:
                raise
