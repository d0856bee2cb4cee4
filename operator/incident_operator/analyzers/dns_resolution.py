"""Names that do not resolve: CoreDNS down or blocked (often by a NetworkPolicy without a DNS egress rule),
or a wrong Service name. Read from log lines, with or without a level."""

from __future__ import annotations

import re
from collections import Counter

from ..models.diagnosis import Cause
from ..models.evidence import EvidenceBundle
from .base import Analyzer, clamp
from .logs import log_items, matching

# The resolver's failure in every common dialect:
# - glibc gai_strerror: "Temporary failure in name resolution" (EAI_AGAIN), "Name or service not known" (EAI_NONAME),
#   "No address associated with hostname"; Python prints them as "[Errno -3] Try again" (musl's EAI_AGAIN text),
#   "[Errno -2] Name or service not known", "[Errno -5] No address associated with hostname"
# - musl: "Name does not resolve"; busybox wget/nslookup: "bad address 'payments'", "can't resolve"
# - Go net: "lookup payments on 10.96.0.10:53: no such host" / "server misbehaving" / "i/o timeout"
# - Java: java.net.UnknownHostException; Node: getaddrinfo ENOTFOUND / EAI_AGAIN; curl: "Could not resolve host"
# - .NET: "No such host is known"; Ruby: "getaddrinfo: nodename nor servname provided"; NXDOMAIN / SERVFAIL
DNS_FAILURE = re.compile(
    r"no such host|NXDOMAIN|SERVFAIL|name or service not known|temporary failure in name resolution|"
    r"\[Errno -[235]\]|Try again'|EAI_AGAIN|EAI_NONAME|name does not resolve|no address associated with hostname|"
    r"bad address '|can't resolve ['\"]?[a-z]|could not resolve (host|hostname)|couldn't resolve host|"
    r"getaddrinfo (ENOTFOUND|EAI_AGAIN)|nodename nor servname|UnknownHostException|No such host is known|"
    r"lookup [\w.-]+( on [\d.:\[\]a-f]+)?: (no such host|server misbehaving|i/o timeout)", re.I)
HOST = re.compile(
    r"(?:lookup|resolve(?: host)?:?|ENOTFOUND|EAI_AGAIN|UnknownHostException:?|bad address|host=|host:|"
    r"HTTP(?:S)?ConnectionPool\(host=)\s*['\"]?([a-z0-9][\w.-]*[a-z0-9])", re.I)


class DnsResolutionAnalyzer(Analyzer):
    kind = "dns-resolution"
    title = "DNS 이름 해석 실패"

    def analyze(self, bundle: EvidenceBundle) -> list[Cause]:
        lines = matching(bundle, DNS_FAILURE)
        if len(lines) < 2:
            return []
        hosts = Counter(m.group(1) for l in lines for m in [HOST.search(l.text)] if m)
        host = hosts.most_common(1)[0][0] if hosts else None
        cluster_dns = bool(host and (host.endswith(".svc") or ".svc." in host or host.endswith("cluster.local")))
        return [Cause(
            kind=self.kind, title=f"`{host or '?'}` 이름 해석 실패 ({len(lines)}건)" + (" — 클러스터 내부 DNS" if cluster_dns else ""),
            confidence=clamp(0.75 + min(len(lines), 10) * 0.02), evidence=log_items(lines),
            immediate_actions=["`kubectl -n kube-system get pods -l k8s-app=kube-dns`로 CoreDNS 상태 확인",
                               "파드의 NetworkPolicy에 kube-dns(UDP/TCP 53) egress 허용이 있는지 확인",
                               f"호스트 이름 `{host or '?'}`의 오타·네임스페이스 확인"],
            long_term=["NetworkPolicy 템플릿에 DNS egress 기본 포함", "NodeLocal DNSCache 도입"],
        )]
