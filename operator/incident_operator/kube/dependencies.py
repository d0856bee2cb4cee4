"""The Services a workload calls, as its configuration names them: env values, command/args and the ConfigMaps
it mounts or reads env from. `http://payments:8080`, `payments.shop.svc.cluster.local`, `redis:6379`, or an
env var such as `DB_HOST=postgres`.

Only the host (and port) is kept, never the value around it: a DSN's password or a token in a URL never leaves
this module. Pure functions: the collector reads the objects, this finds the names.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass, field

MAX_DEPENDENCIES = 8
MAX_TEXT = 64 * 1024  # of one ConfigMap's values, or one container's env and args, read for names

_LABEL = r"[a-z0-9](?:[-a-z0-9]{0,61}[a-z0-9])?"
# scheme://[user[:password]@]host[:port]
URL = re.compile(rf"\b[a-z][a-z0-9+.-]*://(?:[^@/\s'\"]+@)?({_LABEL}(?:\.{_LABEL})*)(?::(\d{{1,5}}))?", re.I)
# name.namespace.svc[.cluster.local][:port]
FQDN = re.compile(rf"(?<![\w.-])({_LABEL})\.({_LABEL})\.svc(?:\.cluster\.local)?\.?(?::(\d{{1,5}}))?(?![\w-])", re.I)
# host:port with a one-label host (redis:6379), not part of a longer name, a URL's scheme or user
HOST_PORT = re.compile(rf"(?<![\w.@/:-])({_LABEL}):(\d{{2,5}})(?![\w.:-])", re.I)
# env vars whose bare value is a host
HOST_ENV = re.compile(r"(HOST|ADDR|ADDRESS|SERVER|SERVICE|ENDPOINT|URL|URI|DSN|BROKER|BACKEND|UPSTREAM)S?$", re.I)
NOT_SERVICES = {"localhost", "127", "0", "host", "http", "https", "tcp", "udp", "kubernetes"}


@dataclass
class Reference:
    name: str
    namespace: str
    address: str  # host[:port] as written
    by: list[str] = field(default_factory=list)
    certain: bool = True  # a cluster DNS name or an explicit address (a missing Service then matters)


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
        return True
    except ValueError:
        return False


def names_in(text: str, namespace: str, bare_host: bool = False) -> list[tuple[str, str, str, bool]]:
    """(service, namespace, address, certain) named in `text`. `bare_host`: the whole text may be a host name
    (the value of an env var such as DB_HOST)."""
    text = text[:MAX_TEXT]
    out: list[tuple[str, str, str, bool]] = []
    for m in FQDN.finditer(text):
        out.append((m.group(1).lower(), m.group(2).lower(), m.group(0).rstrip("."), True))
    for m in URL.finditer(text):
        host = m.group(1).lower().rstrip(".")
        if ".svc" in host or _is_ip(host):
            continue  # cluster DNS names are read above
        if "." not in host:
            out.append((host, namespace, host + (f":{m.group(2)}" if m.group(2) else ""), True))
    for m in HOST_PORT.finditer(text):
        host = m.group(1).lower()
        # a port, not an image tag (postgres:16, node:20): service ports below 80 are rare outside 53
        if not host.isdigit() and (int(m.group(2)) >= 80 or m.group(2) == "53"):
            out.append((host, namespace, m.group(0), True))
    value = text.strip()
    if bare_host and re.fullmatch(_LABEL, value, re.I) and not value.isdigit():
        out.append((value.lower(), namespace, value.lower(), False))
    return [o for o in out if o[0] not in NOT_SERVICES]


def references(namespace: str, sources: list[tuple[str, str, bool]]) -> list[Reference]:
    """Every Service named by `sources` — (where, text, bare_host) — once, in the order first named."""
    found: dict[tuple[str, str], Reference] = {}
    for where, text, bare in sources:
        for name, ns, address, certain in names_in(text or "", namespace, bare):
            ref = found.setdefault((ns, name), Reference(name, ns, address, certain=certain))
            ref.certain = ref.certain or certain
            if ":" in address and ":" not in ref.address:
                ref.address = address
            if where not in ref.by and len(ref.by) < 5:
                ref.by.append(where)
    return list(found.values())


def container_sources(containers, config_maps: dict[str, dict[str, str]]) -> list[tuple[str, str, bool]]:
    """(where, text, bare_host) of the given V1Containers: each literal env value, the command and args, and the
    values of the ConfigMaps (`config_maps`: name -> data) they read env from."""
    out: list[tuple[str, str, bool]] = []
    for c in containers:
        for e in c.env or []:
            if e.value:
                out.append((f"env {e.name}", e.value, bool(HOST_ENV.search(e.name or ""))))
        argv = " ".join(list(c.command or []) + list(c.args or []))
        if argv:
            out.append((f"args ({c.name})", argv, False))
    for name, data in config_maps.items():
        for key, value in (data or {}).items():
            out.append((f"ConfigMap/{name}", value or "", bool(HOST_ENV.search(key or ""))))
    return out
