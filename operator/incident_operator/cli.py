"""`incident-operator`: run the operator, analyze a saved evidence bundle, print schemas and reports."""

from __future__ import annotations

import argparse
import json
import os
import secrets
import sys
import time
from pathlib import Path

from pydantic import ValidationError

SCHEMAS = {
    "evidence": ("models.evidence", "EvidenceBundle"),
    "diagnosis": ("models.diagnosis", "Diagnosis"),
    "spec": ("models.spec", "IncidentSpec"),
}


M_ARENA_MAX = -8  # glibc mallopt parameter


def limit_malloc_arenas(arenas: int = 2) -> bool:
    """Fewer glibc malloc arenas for this many-threaded process (Kopf, the pipeline workers, HTTP pools):
    each thread otherwise gets an arena of its own whose freed memory is rarely given back, so RSS grows
    with the storm's peak and stays. What MALLOC_ARENA_MAX does, for the processes not started with it."""
    import ctypes
    if os.environ.get("MALLOC_ARENA_MAX"):
        return False  # the environment decided
    try:
        return bool(ctypes.CDLL(None).mallopt(M_ARENA_MAX, arenas))
    except (OSError, AttributeError):  # not glibc (macOS, musl): nothing to do
        return False


def cmd_run(args: argparse.Namespace) -> int:
    limit_malloc_arenas()  # before any thread starts
    import kopf

    from . import handlers  # noqa: F401 - registers the handlers
    from .settings import get_settings

    try:
        cfg = get_settings()
    except ValidationError as exc:
        print(f"invalid configuration: {exc}", file=sys.stderr)
        return 2
    except Exception as exc:  # noqa: BLE001 - e.g. SSM unreachable: say so and stop
        print(f"cannot load configuration: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 2
    from .agent.providers import preflight
    if problem := preflight(cfg):  # a missing LLM module or key stops start-up, not every Incident
        print(f"invalid configuration: {problem}", file=sys.stderr)
        return 2
    # JSON lines by default; Kopf puts the Incident (namespace/name) on every object-related line
    kopf.configure(verbose=args.verbose, log_format=kopf.LogFormat[args.log_format.upper()], log_refkey="incident")
    from .redact import install_log_redaction
    install_log_redaction()  # logs are an outbound boundary too
    namespaces = args.namespace or cfg.namespaces
    cfg = cfg.model_copy(update={"namespaces": namespaces})
    from . import metrics
    try:  # before anything else: a busy metrics port stops the start, with the reason
        metrics.serve(cfg.metrics_port, cfg.metrics_bind_address)
    except metrics.MetricsUnavailable as exc:
        print(f"incident-operator: {exc}", file=sys.stderr)
        return 2
    identity = f"{cfg.identity}/{os.getpid()}-{secrets.token_hex(3)}"  # unique per process, like Kopf's own
    kopf.run(clusterwide=not namespaces, namespaces=namespaces, standalone=args.standalone, identity=identity,
             liveness_endpoint=args.liveness, memo=kopf.Memo(settings=cfg, peer_identity=identity))
    return 0


def cmd_analyze(args: argparse.Namespace) -> int:
    from .analyzers import analyze
    from .models.evidence import EvidenceBundle

    from .models.strict import unknown_fields

    try:
        text = sys.stdin.read() if args.evidence == "-" else Path(args.evidence).read_text()
        bundle = EvidenceBundle.model_validate_json(text)
        unknown = unknown_fields(EvidenceBundle, json.loads(text))
    except (OSError, ValidationError, ValueError) as exc:
        print(f"cannot read evidence bundle {args.evidence}: {exc}", file=sys.stderr)
        return 2
    if unknown:  # silently dropping them would analyse less than the file holds
        print(f"cannot read evidence bundle {args.evidence}: unknown fields: {', '.join(unknown[:20])}"
              + (f" (and {len(unknown) - 20} more)" if len(unknown) > 20 else ""), file=sys.stderr)
        return 2
    print(analyze(bundle).model_dump_json(indent=2, by_alias=True, exclude_none=True))
    return 0


def cmd_schema(args: argparse.Namespace) -> int:
    import importlib

    module, cls = SCHEMAS[args.what]
    model = getattr(importlib.import_module(f".{module}", __package__), cls)
    print(json.dumps(model.model_json_schema(by_alias=True), indent=2, ensure_ascii=False))
    return 0


def cmd_check(args: argparse.Namespace) -> int:
    from . import preflight
    from .settings import get_settings

    try:
        cfg = get_settings()
    except Exception as exc:  # noqa: BLE001 - a bad setting is the first thing to report
        print(f"invalid configuration: {exc}", file=sys.stderr)
        return 2
    checks = preflight.run(cfg)
    if getattr(args, "llm", False):
        checks.append(preflight.llm_tools(cfg))
    print(preflight.table(checks))
    return 0 if all(c.ok for c in checks) else 1


def cmd_crd(args: argparse.Namespace) -> int:
    from . import crd

    text = crd.render(args.which)
    if args.check:
        path = Path(args.check)
        if not path.exists() or path.read_text() != text:
            print(f"{path} is not what the models generate: run `make crd`", file=sys.stderr)
            return 1
        return 0
    if args.output:
        Path(args.output).write_text(text)
    else:
        sys.stdout.write(text)
    return 0


def _incident(args: argparse.Namespace) -> dict:
    from .kube.client import Kube
    from .kube.incidents import IncidentStore

    return IncidentStore(Kube.connect()).get(args.namespace, args.name)


def cmd_report(args: argparse.Namespace) -> int:
    from kubernetes.client import ApiException

    from .report import render

    try:
        inc = _incident(args)
    except ApiException as exc:
        print(f"cannot read Incident {args.namespace}/{args.name}: {exc.reason}", file=sys.stderr)
        return 1
    status = inc.get("status") or {}
    md = (status.get("report") or {}).get("markdown") or render.full_report(args.name, inc.get("spec", {}), status)
    print(md)
    return 0


def cmd_rerun(args: argparse.Namespace) -> int:
    """Ask for a new analysis: the re-run annotation and, in the same write, out of the archive."""
    import time

    from kubernetes.client import ApiException

    from .constants import ANN_RERUN
    from .kube.client import Kube
    from .kube.incidents import IncidentStore, combine_patches
    from .watching import unarchive_patch

    token = args.token or str(int(time.time()))
    try:
        IncidentStore(Kube.connect()).patch(args.namespace, args.name, combine_patches(
            unarchive_patch(), {"metadata": {"annotations": {ANN_RERUN: token}}}))
    except ApiException as exc:
        print(f"cannot re-run Incident {args.namespace}/{args.name}: {exc.reason}", file=sys.stderr)
        return 1
    print(f"incident.netaiops.io/{args.name} re-run requested ({ANN_RERUN}={token})")
    return 0


def cmd_decide(args: argparse.Namespace) -> int:
    """`approve` / `deny`: an IncidentApproval for the plan the Incident awaits approval of. The approver recorded is
    who the API server says the caller is (SelfSubjectReview); admission refuses any other name."""
    from kubernetes.client import ApiException

    from .kube.approvals import create_approval, whoami
    from .kube.client import Kube
    from .kube.incidents import IncidentStore

    decision = "approve" if args.command == "approve" else "deny"
    kube = Kube.connect()
    try:
        inc = IncidentStore(kube).get(args.namespace, args.name)
    except ApiException as exc:
        print(f"cannot read Incident {args.namespace}/{args.name}: {exc.reason}", file=sys.stderr)
        return 1
    waiting = [a for a in (inc.get("status") or {}).get("actions") or []
               if a.get("state") == "awaiting-approval" and (not args.plan or a.get("planHash") == args.plan)]
    if not waiting:
        print(f"Incident {args.namespace}/{args.name} has no plan awaiting approval"
              + (f" with hash {args.plan}" if args.plan else ""), file=sys.stderr)
        return 1
    entry = waiting[0]
    try:
        me = whoami(kube)
        made = create_approval(kube, args.namespace, inc, entry["planHash"], decision, me, args.comment)
    except ApiException as exc:
        if exc.status == 409:
            print(f"plan {entry['planHash']} of {args.namespace}/{args.name} is already decided "
                  f"(incidentapproval {entry.get('approval')})", file=sys.stderr)
        else:
            detail = exc.body if isinstance(exc.body, str) else exc.reason
            print(f"cannot {decision} {args.namespace}/{args.name}: {exc.status} {detail}", file=sys.stderr)
        return 1
    for change in entry.get("plan") or []:
        print(f"  {change.get('object')} {change.get('field')}: {change.get('before')} -> {change.get('after')}")
    print(f"incidentapproval.netaiops.io/{made['metadata']['name']} created: {decision} by {me} "
          f"(plan {entry['planHash']} of {entry.get('id')})")
    return 0


def cmd_evidence(args: argparse.Namespace) -> int:
    from .evidence_store import load
    from .kube.client import Kube
    from .kube.incidents import IncidentStore

    kube = Kube.connect()
    try:
        stored = ((IncidentStore(kube).get(args.namespace, args.name).get("status") or {}).get("evidence") or {}).get("configMap")
    except Exception:  # noqa: BLE001 - the Incident may be gone; its evidence ConfigMap by the default name then
        stored = None
    bundle = load(kube, args.namespace, args.name, stored)
    if bundle is None:
        print(f"no evidence stored for {args.namespace}/{args.name}", file=sys.stderr)
        return 1
    print(bundle.model_dump_json(indent=2, by_alias=True, exclude_none=True))
    return 0


def cmd_alarms_setup(args: argparse.Namespace) -> int:
    import boto3

    from .alarms import load_alarms, setup

    try:
        alarms = load_alarms(args.config)
    except (OSError, ValidationError, ValueError) as exc:
        print(f"cannot read alarm config {args.config}: {exc}", file=sys.stderr)
        return 2
    kw = {"region_name": args.region, "endpoint_url": args.endpoint_url}
    out = setup(boto3.client("cloudwatch", **kw), boto3.client("sns", **kw), args.cluster, args.topic_arn,
                args.create_topic, alarms)
    print(json.dumps(out, indent=2))
    return 0


def cmd_mcp(args: argparse.Namespace) -> int:
    from .mcp_server import McpSettings, serve

    flags = {k: v for k, v in {"callers_file": args.callers, "allowed_hosts": args.allowed_host or None,
                               "tls_cert": args.tls_cert, "tls_key": args.tls_key, "client_ca": args.client_ca,
                               "allow_write": True if args.allow_write else None}.items() if v is not None}
    try:
        ms = McpSettings(**flags)
    except ValueError as exc:
        print(f"invalid configuration: {exc}", file=sys.stderr)
        return 2
    return serve(args.transport, args.host, args.port, ms)


def cmd_agent_runtime(args: argparse.Namespace) -> int:
    from .agent.runtime_app import make_server
    from .kube.client import Kube
    from .settings import get_settings
    from .tools.base import ToolDeps

    from .agent.providers import preflight
    if problem := preflight(get_settings().model_copy(update={"llm_enabled": True, "llm_mode": "local"})):
        print(f"invalid configuration: {problem}", file=sys.stderr)
        return 2
    try:
        kube = Kube.connect()
    except Exception:  # noqa: BLE001 - in AgentCore there is usually no cluster access
        kube = None
    server = make_server(ToolDeps(settings=get_settings(), kube=kube), args.host, args.port)
    print(f"agent runtime on {args.host}:{args.port} (/ping, /invocations)", file=sys.stderr)
    server.serve_forever()
    return 0


def cmd_replay(args: argparse.Namespace) -> int:
    from .kube.client import Kube
    from .scenarios.replay import replay
    from .settings import get_settings

    kube, settings, failed = Kube.connect(), get_settings(), 0
    for d in args.scenario:
        try:
            result = replay(Path(d), kube, settings, timeout=args.timeout)
        except (OSError, ValidationError, TimeoutError, ValueError) as exc:
            result = {"scenario": Path(d).name, "pass": False, "error": f"{type(exc).__name__}: {exc}"}
        failed += not result["pass"]
        print(json.dumps(result, ensure_ascii=False), flush=True)
    return 1 if failed else 0


def cmd_eval(args: argparse.Namespace) -> int:
    """The scenario corpus through the rules engine and the configured model, one table (scenarios/evaluation.py)."""
    from .scenarios import evaluation

    root = Path(args.scenarios_root)
    if args.rescore:
        runs = [Path(r) for r in args.rescore]
        missing = [str(r) for r in runs if not (r / evaluation.ANSWERS).exists()]
        if missing:
            print(f"not a saved eval run (no {evaluation.ANSWERS}): {', '.join(missing)}", file=sys.stderr)
            return 2
        summaries = evaluation.rescore(runs, root)
    else:
        from .kube.client import Kube
        from .settings import get_settings

        settings = get_settings()
        llm = None
        if not args.rules_only:
            from .agent.providers import preflight
            llm = settings.model_copy(update={"llm_enabled": True, "llm_mode": "local"})
            if problem := preflight(llm):
                print(f"invalid configuration: {problem}", file=sys.stderr)
                return 2
        dirs = [Path(d) for d in args.scenario] or sorted(p for p in root.iterdir() if (p / "scenario.yaml").exists())
        out = Path(args.out or f"build/eval/{time.strftime('%Y%m%d-%H%M%S')}")
        kube = Kube.connect()
        for rec in evaluation.capture(dirs, out, kube, settings, llm, timeout=args.timeout, label=args.label):
            m = rec.get("model") or {}
            print(json.dumps({"scenario": rec["scenario"], "error": rec.get("error"),
                              "model": (m.get("answer") or {}).get("causes", [{}])[0].get("kind") if m.get("answer") else m.get("fallbackKind"),
                              "tokens": (m.get("inputTokens") or 0) + (m.get("outputTokens") or 0)}, ensure_ascii=False),
                  file=sys.stderr, flush=True)
        print(f"saved: {out} (re-score without the model: incident-operator eval --rescore {out})", file=sys.stderr)
        summaries = evaluation.rescore([out], root)
    if args.per_scenario:
        print(evaluation.per_scenario(summaries) + "\n")
    print(evaluation.table(summaries))
    if args.json:
        print(json.dumps([s.as_dict() for s in summaries], ensure_ascii=False))
    return 0


def cmd_rbac(args: argparse.Namespace) -> int:
    import yaml

    from .kube.rbac import role_bindings

    try:
        docs = role_bindings(args.namespace, remediation=args.remediation, incidents=not args.no_incidents,
                             service_account=args.service_account, sa_namespace=args.service_account_namespace,
                             protected=("kube-system", "kube-public", "kube-node-lease"))
    except ValueError as exc:
        print(f"incident-operator rbac: {exc}", file=sys.stderr)
        return 2
    print(yaml.safe_dump_all(docs, sort_keys=False), end="")
    return 0


def cmd_webhook(args: argparse.Namespace) -> int:
    """Alertmanager webhook receiver: alerts become Incidents in the incident namespace."""
    import logging

    from .redact import install_log_redaction
    from .settings import load_settings
    from .webhook import Receiver, WebhookServer, make_writer, webhook_namespace

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    install_log_redaction()
    settings = load_settings()
    try:
        server = WebhookServer(settings, Receiver(make_writer(settings), settings.webhook_workers), args.host, args.port)
    except (ValueError, OSError) as exc:
        print(f"incident-operator webhook: {exc}", file=sys.stderr)
        return 2
    logging.getLogger("incident_operator.webhook").info(
        "Alertmanager receiver on %s://%s:%d, Incidents into %s", "https" if server.tls else "http", args.host,
        server.port, webhook_namespace(settings))
    server.serve_forever(signals=True)  # SIGTERM / SIGINT: a graceful stop
    return 0


def cmd_tools(args: argparse.Namespace) -> int:
    from .tools import default_registry

    for tool in default_registry():
        print(f"{tool.name:38} {tool.category:11} {tool.description}")
    return 0


def parser() -> argparse.ArgumentParser:
    from . import __version__

    p = argparse.ArgumentParser(prog="incident-operator", description=__doc__)
    p.add_argument("--version", action="version", version=f"incident-operator {__version__}")
    p.add_argument("--kubeconfig", help="kubeconfig file (default: $KUBECONFIG, then ~/.kube/config)")
    p.add_argument("--context", help="kubeconfig context to use (default: its current context)")
    sub = p.add_subparsers(dest="command", required=True)
    r = sub.add_parser("run", help="run the operator against the current kubeconfig or in-cluster config")
    r.add_argument("-n", "--namespace", action="append", help="watch only these namespaces (repeatable)")
    r.add_argument("--standalone", action="store_true", help="no peering with other replicas")
    r.add_argument("--liveness", default=None, help="liveness endpoint, e.g. http://0.0.0.0:8080/healthz")
    r.add_argument("-v", "--verbose", action="store_true")
    r.add_argument("--log-format", choices=["json", "full", "plain"], default="json")
    r.set_defaults(func=cmd_run)
    a = sub.add_parser("analyze", help="run the deterministic analyzer on an evidence bundle (JSON)")
    a.add_argument("--evidence", required=True, help="bundle file, or - for stdin")
    a.set_defaults(func=cmd_analyze)
    s = sub.add_parser("schema", help="print a JSON Schema")
    s.add_argument("what", choices=sorted(SCHEMAS))
    s.set_defaults(func=cmd_schema)
    al = sub.add_parser("alarms", help="CloudWatch alarms that feed the bridge Lambda")
    al_sub = al.add_subparsers(dest="alarms_command", required=True)
    su = al_sub.add_parser("setup", help="create (or update) the three Container Insights alarms")
    su.add_argument("--cluster", required=True, help="EKS cluster name (ClusterName dimension)")
    topic = su.add_mutually_exclusive_group(required=True)
    topic.add_argument("--topic-arn", help="SNS topic for alarm and OK actions")
    topic.add_argument("--create-topic", metavar="NAME", help="create this SNS topic (idempotent) and use it")
    su.add_argument("--config", help="YAML list of alarms (name, metric, threshold, period, ...)")
    su.add_argument("--region", default=None)
    su.add_argument("--endpoint-url", default=None, help="e.g. a local AWS endpoint")
    su.set_defaults(func=cmd_alarms_setup)
    m = sub.add_parser("mcp", help="serve the tool registry over MCP")
    m.add_argument("--transport", choices=["stdio", "streamable-http"], default="stdio")
    m.add_argument("--host", default="127.0.0.1")
    m.add_argument("--port", type=int, default=8765)
    m.add_argument("--callers", help="HTTP: YAML/JSON file of callers (token, namespaces, nodes, write); "
                                     "or INCIDENT_MCP_CALLERS_FILE / INCIDENT_MCP_TOKEN (docs/mcp.md)")
    m.add_argument("--allow-write", action="store_true",
                   help="HTTP: serve the tools that write (GitHub, chaos-cleanup) to callers allowed to write")
    m.add_argument("--allowed-host", action="append", help="HTTP: a Host header to accept (repeatable; "
                                                           "required on a non-loopback address)")
    m.add_argument("--tls-cert", help="HTTP: serve TLS with this certificate")
    m.add_argument("--tls-key", help="HTTP: and this key")
    m.add_argument("--client-ca", help="HTTP: require client certificates signed by this CA (mTLS)")
    m.set_defaults(func=cmd_mcp)
    ar = sub.add_parser("agent-runtime", help="serve the agent as a Bedrock AgentCore Runtime (/ping, /invocations)")
    ar.add_argument("--host", default="0.0.0.0")
    ar.add_argument("--port", type=int, default=8080)
    ar.set_defaults(func=cmd_agent_runtime)
    rp = sub.add_parser("replay", help="replay scenario folders into the running local stack (one JSON line each)")
    rp.add_argument("scenario", nargs="+")
    rp.add_argument("--timeout", type=float, default=90)
    rp.set_defaults(func=cmd_replay)
    rb = sub.add_parser("rbac", help="print the RoleBindings that let the operator work in some namespaces")
    rb.add_argument("-n", "--namespace", action="append", required=True, help="namespace (repeatable)")
    rb.add_argument("--remediation", action="store_true", help="also allow native remediation there")
    rb.add_argument("--no-incidents", action="store_true", help="no Incidents live there (no evidence ConfigMaps)")
    rb.add_argument("--service-account", default="incident-operator")
    rb.add_argument("--service-account-namespace", default="incident-operator")
    rb.set_defaults(func=cmd_rbac)
    wh = sub.add_parser("webhook", help="receive Alertmanager webhook notifications (alerts become Incidents)")
    wh.add_argument("--host", default="0.0.0.0")
    wh.add_argument("--port", type=int, default=None, help="default: INCIDENT_WEBHOOK_PORT (9095)")
    wh.set_defaults(func=cmd_webhook)
    ck = sub.add_parser("check", help="which configured features can work here (libraries, tokens, region, credentials)")
    ck.add_argument("--llm", action="store_true",
                    help="also ask the configured model for a tiny tool call: does the endpoint support tool calling?")
    ck.set_defaults(func=cmd_check)
    ev = sub.add_parser("eval", help="scenarios through the rules engine and the configured model: top-1, top-3, "
                                     "calibration, tokens and seconds per Incident (docs/scenarios.md)")
    ev.add_argument("scenario", nargs="*", help="scenario folders (default: every folder under --scenarios-root)")
    ev.add_argument("--scenarios-root", default="scenarios", help="where the scenarios and their expected.yaml are")
    ev.add_argument("--out", help="the run's directory (default build/eval/<time>)")
    ev.add_argument("--label", help="the model's name in the table (default: provider and model id)")
    ev.add_argument("--rules-only", action="store_true", help="no model: the rules engine only")
    ev.add_argument("--rescore", nargs="+", metavar="RUN", help="score saved runs again, without cluster or model")
    ev.add_argument("--per-scenario", action="store_true", help="also each scenario's answer per engine")
    ev.add_argument("--json", action="store_true", help="also the summary as one JSON line")
    ev.add_argument("--timeout", type=float, default=90.0, help="seconds to wait for each Incident")
    ev.set_defaults(func=cmd_eval)
    cr = sub.add_parser("crd", help="print the Incident CRD generated from the models (crds/incident.yaml)")
    cr.add_argument("-o", "--output", help="write it to this file instead of stdout")
    cr.add_argument("--check", metavar="FILE", help="exit 1 if FILE differs from what the models generate")
    cr.add_argument("--which", choices=["incident", "approval", "policy"], default="incident",
                    help="which CRD: incident (default), approval (IncidentApproval), policy (RemediationPolicy)")
    cr.set_defaults(func=cmd_crd)
    t = sub.add_parser("tools", help="list the tool catalogue")
    t.set_defaults(func=cmd_tools)
    for name, func, help_ in (("report", cmd_report, "print an Incident's Korean report"),
                              ("evidence", cmd_evidence, "print an Incident's stored evidence bundle"),
                              ("rerun", cmd_rerun, "analyse an Incident again (archived ones too)"),
                              ("approve", cmd_decide, "approve the remediation plan an Incident awaits approval of"),
                              ("deny", cmd_decide, "deny the remediation plan an Incident awaits approval of")):
        x = sub.add_parser(name, help=help_)
        x.add_argument("name")
        x.add_argument("-n", "--namespace", default=None, help="default: the kubeconfig context's namespace")
        if name == "rerun":
            x.add_argument("--token", default=None, help="the re-run annotation's value (default: the current time)")
        if name in ("approve", "deny"):
            x.add_argument("--plan", default=None, help="the plan's hash (status.actions[].planHash); default: the one waiting")
            x.add_argument("--comment", default=None, help="why (shown in the report)")
        x.set_defaults(func=func)
    return p


def main(argv: list[str] | None = None) -> int:
    import os

    args = parser().parse_args(argv)
    if args.kubeconfig:
        os.environ["KUBECONFIG"] = args.kubeconfig
    if args.context:
        from .kube.client import CONTEXT_ENV
        os.environ[CONTEXT_ENV] = args.context
    if getattr(args, "namespace", "") is None and args.command in ("report", "evidence", "rerun", "approve", "deny"):
        from .kube.client import default_namespace
        args.namespace = default_namespace()
    try:
        code = args.func(args)
        sys.stdout.flush()  # inside the try: a reader that left shows up here, not at interpreter exit
        return code
    except BrokenPipeError:  # `incident-operator analyze ... | head`: the reader left, so do we, quietly
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 0


if __name__ == "__main__":
    sys.exit(main())
