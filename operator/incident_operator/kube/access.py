"""A ServiceAccount the API server refused, and what RBAC says about it. Pure functions: the collector reads the
RoleBindings, Roles and the API server's LocalSubjectAccessReview; this parses the refusal and matches them.

The refusal is the API server's own message (k8s.io/apiserver, responsewriters.forbiddenMessage, wrapped by
apierrors.NewForbidden): `pods "x" is forbidden: User "system:serviceaccount:NS:SA" cannot VERB resource "RES[/SUB]"
in API group "G" in the namespace "NS"` (or `at the cluster scope`), written by a client as is or as the JSON
Status body (quotes escaped). Rule matching follows RBAC's (Kubernetes docs "Using RBAC Authorization";
pkg/apis/rbac/v1 evaluation_helpers: `*` everywhere, `*/subresource`, resourceNames only for named requests).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Iterable

from ..models.evidence import PolicyRuleEvidence, ServiceAccountAccessEvidence

MAX_REQUESTS = 3  # distinct refusals looked into per collection
MAX_RULES = 10  # of one Role, kept in the evidence (only those about the refused group/resource)
_Q = r'\\?"'  # a quote, escaped in a JSON body or not
_NAME = r"[\w.-]{1,253}"
# the object's name as Kubernetes names go (no space, quote, `;`, `$` or backtick: it goes into suggested commands)
_OBJECT = r"[A-Za-z0-9][\w.:@-]{0,252}"
_REFUSED = re.compile(
    rf'(?:(?:{_NAME})(?: {_Q}(?P<object>{_OBJECT}){_Q})? is )?forbidden: User {_Q}'
    rf"(?P<user>system:serviceaccount:(?P<sa_namespace>{_NAME}):(?P<sa>{_NAME})){_Q} cannot (?P<verb>\w{{1,32}}) "
    rf"resource {_Q}(?P<resource>[\w.*-]{{1,253}}(?:/[\w.*-]{{1,64}})?){_Q}"
    rf"(?: in API group {_Q}(?P<group>[\w.-]{{0,253}}){_Q})?"
    rf"(?: in the namespace {_Q}(?P<namespace>{_NAME}){_Q}| (?P<cluster>at the cluster scope))?", re.I)
_ANCHOR = re.compile(r"forbidden: User ", re.I)
_BEFORE, _AFTER = 600, 1200  # around the anchor: the longest `RES "OBJ" is ` before it, the longest rest after
_ANCHORS = 8  # tried per text: a line of thousands of anchors costs eight windows, not thousands


class _Refusals:
    """`FORBIDDEN.search(text)`: the API server's refusal in `text`. The pattern is matched only around the literal
    `forbidden: User ` (found by a plain scan), never across the whole text: the optional object prefix made the
    pattern try ~500 steps at every character (a 320 KB line of letters took 2.5 s, holding the GIL)."""

    def search(self, text: str) -> re.Match[str] | None:
        if not text or "orbidden" not in text and "ORBIDDEN" not in text:
            return None
        for n, anchor in enumerate(_ANCHOR.finditer(text)):
            if n >= _ANCHORS:
                break
            start = max(0, anchor.start() - _BEFORE)
            m = _REFUSED.search(text[start:anchor.end() + _AFTER])
            if m:
                return m
        return None


FORBIDDEN = _Refusals()


@dataclass(frozen=True)
class Refusal:
    sa_namespace: str
    sa: str
    verb: str
    resource: str  # resource or resource/subresource
    group: str
    namespace: str | None  # None: at the cluster scope
    name: str | None = None  # the object, when the request named one

    @property
    def key(self) -> tuple:
        """What makes another refusal (the object's name does not): as `evidence_key` reads it back."""
        return (self.sa_namespace, self.sa, self.verb, self.resource, self.group, self.namespace)

    @property
    def user(self) -> str:
        return f"system:serviceaccount:{self.sa_namespace}:{self.sa}"

    @property
    def base(self) -> str:
        return self.resource.split("/", 1)[0]

    @property
    def subresource(self) -> str:
        return self.resource.split("/", 1)[1] if "/" in self.resource else ""

    @property
    def groups(self) -> list[str]:
        """The groups the API server puts a ServiceAccount in (RoleBindings may bind those)."""
        return ["system:serviceaccounts", f"system:serviceaccounts:{self.sa_namespace}", "system:authenticated"]


def parse(text: str) -> Refusal | None:
    m = FORBIDDEN.search(text or "")
    if not m:
        return None
    namespace = None if m.group("cluster") else m.group("namespace")
    if namespace is None and not m.group("cluster"):
        namespace = m.group("sa_namespace")  # an older message without the scope: the account's own namespace
    return Refusal(sa_namespace=m.group("sa_namespace"), sa=m.group("sa"), verb=m.group("verb").lower(),
                   resource=m.group("resource").lower(), group=(m.group("group") or "").lower(), namespace=namespace,
                   name=m.group("object"))


def refusals(texts: Iterable[str], most: int = MAX_REQUESTS) -> list[Refusal]:
    """The distinct refusals in `texts`, in the order first seen (the object's name does not make another)."""
    out: dict[tuple, Refusal] = {}
    for text in texts:
        r = parse(text)
        if r is None:
            continue
        if r.key not in out:
            out[r.key] = r
            if len(out) >= most:
                break
    return list(out.values())


def evidence_key(a: ServiceAccountAccessEvidence) -> tuple:
    """The Refusal.key of what the collector read about a refusal."""
    return (a.namespace, a.name, a.verb, a.resource, a.api_group, a.request_namespace)


def subject_binds(subject: dict | object, r: Refusal, binding_namespace: str | None = None) -> str | None:
    """How a RoleBinding subject binds the refused account: `ServiceAccount ns/name`, `Group g`, or None. A
    ServiceAccount subject without a namespace is the binding's own namespace's (RBAC's appliesToUser)."""
    get = subject.get if isinstance(subject, dict) else (lambda k: getattr(subject, k, None))
    kind, name = get("kind"), get("name")
    if kind == "ServiceAccount" and name == r.sa and (get("namespace") or binding_namespace) == r.sa_namespace:
        return f"ServiceAccount {r.sa_namespace}/{r.sa}"
    if kind == "Group" and name in r.groups:
        return f"Group {name}"
    if kind == "User" and name == r.user:
        return f"User {name}"
    return None


def _resource_matches(resources: list[str], r: Refusal) -> bool:
    return any(x == "*" or x.lower() == r.resource or (r.subresource and x == f"*/{r.subresource}") for x in resources)


def about(rule: PolicyRuleEvidence, r: Refusal) -> bool:
    """The rule concerns the refused group and resource (whatever verbs it grants)."""
    return any(g == "*" or g.lower() == r.group for g in rule.api_groups) and _resource_matches(rule.resources, r)


def grants(rule: PolicyRuleEvidence, r: Refusal) -> bool:
    """The rule allows the refused request: its verb, group and resource, and its object if names are listed."""
    if not about(rule, r) or not any(v == "*" or v.lower() == r.verb for v in rule.verbs):
        return False
    return not rule.resource_names or (r.name is not None and r.name in rule.resource_names)


def rules_about(rules: Iterable[PolicyRuleEvidence], r: Refusal) -> list[PolicyRuleEvidence]:
    return [x for x in rules if about(x, r)][:MAX_RULES]


def verbs_on(rules: Iterable[PolicyRuleEvidence], r: Refusal) -> list[str]:
    """The verbs the rules grant on the refused group/resource (for every object, not only named ones)."""
    verbs: list[str] = []
    for x in rules:
        if about(x, r) and not x.resource_names:
            verbs += [v for v in x.verbs if v not in verbs]
    return verbs


def policy_rule(rule: object) -> PolicyRuleEvidence:
    """A V1PolicyRule (or its dict) as evidence, bounded."""
    get = rule.get if isinstance(rule, dict) else (lambda k: getattr(rule, k, None))

    def strs(key: str, alias: str) -> list[str]:
        return [str(v)[:253] for v in (get(key) or get(alias) or [])][:20]
    return PolicyRuleEvidence(verbs=strs("verbs", "verbs"), api_groups=strs("api_groups", "apiGroups"),
                              resources=strs("resources", "resources"),
                              resource_names=strs("resource_names", "resourceNames"))


def kubectl_resource(r: Refusal) -> str:
    """The refused resource as `kubectl create role --resource` writes it: `pods`, `deployments.apps`, `pods/log`."""
    return r.base + (f".{r.group}" if r.group else "") + (f"/{r.subresource}" if r.subresource else "")
