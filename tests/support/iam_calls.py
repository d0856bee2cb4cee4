"""The AWS API calls the product code makes, found by reading it (an AST walk), as IAM actions.

What counts as a boto3 client:
- `boto3.client("svc", ...)`, `<session>.client("svc", ...)` and `<cache>.client("svc", factory)` (then the
  factory function decides: a factory that does not return a boto3 client is not one);
- what a function returns when it returns a client (also `boto3.client(param)` with the service passed in);
- a variable or parameter assigned a client, or passed one at a call site of a project function;
- a parameter or variable named after a service the project makes clients for (`cloudwatch`, `sts`,
  `ssm_client`), the convention the code uses where clients are handed in.
Then every `<client>.<operation>(...)`, `get_paginator("op")`, `generate_presigned_url("op")` whose name is
an operation of that service (botocore's own service model) is one action: IAM prefix + the operation's
CamelCase name (with the few documented exceptions in ACTION_OVERRIDES).
"""

from __future__ import annotations

import ast
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

# botocore service name -> IAM service prefix, where they differ
IAM_PREFIX = {"bedrock-runtime": "bedrock", "opensearch": "es", "elbv2": "elasticloadbalancing"}
# (service, operation) -> IAM action, where the action is not named after the operation
ACTION_OVERRIDES = {("bedrock-runtime", "Converse"): "bedrock:InvokeModel",
                    ("bedrock-runtime", "ConverseStream"): "bedrock:InvokeModelWithResponseStream"}
OPERATION_ARG_METHODS = {"get_paginator", "generate_presigned_url", "can_paginate", "get_waiter"}


@lru_cache(maxsize=None)
def _services() -> frozenset[str]:
    import botocore.session
    return frozenset(botocore.session.get_session().get_available_services())


@lru_cache(maxsize=None)
def operations(service: str) -> dict[str, str]:
    """snake_case method name -> operation name."""
    import botocore.session
    from botocore import xform_name
    model = botocore.session.get_session().get_service_model(service)
    return {xform_name(op): op for op in model.operation_names}


def action(service: str, operation: str) -> str:
    return ACTION_OVERRIDES.get((service, operation)) or f"{IAM_PREFIX.get(service, service)}:{operation}"


@dataclass(frozen=True)
class Call:
    action: str
    path: str  # relative to the root
    line: int
    function: str


@dataclass
class _Func:
    node: ast.FunctionDef | ast.AsyncFunctionDef
    path: str
    qualname: str
    params: list[str] = field(default_factory=list)
    tags: dict[str, set[str]] = field(default_factory=dict)  # variable -> services
    returns: set[str] = field(default_factory=set)
    returns_param: int | None = None  # returns boto3.client(<this parameter>)


class _Walker:
    def __init__(self, root: Path, files: list[Path]):
        self.root = root
        self.funcs: list[_Func] = []
        self.by_name: dict[str, list[_Func]] = {}
        self.module_tags: dict[str, dict[str, set[str]]] = {}
        self.trees: dict[str, ast.Module] = {}
        self.owner: dict[int, _Func | None] = {}  # id(node) -> the innermost function around it
        self.nodes: dict[str, list[ast.AST]] = {}
        for f in files:
            rel = str(f.relative_to(root))
            tree = ast.parse(f.read_text(), filename=rel)
            self.trees[rel] = tree
            self.module_tags[rel] = {}
            self.nodes[rel] = []
            self._collect(tree, rel, "")
        self.used: set[str] = set()

    def _collect(self, node: ast.AST, path: str, prefix: str, owner: _Func | None = None) -> None:
        for child in ast.iter_child_nodes(node):
            self.owner[id(child)] = owner
            self.nodes[path].append(child)
            if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef)):
                a = child.args
                params = [x.arg for x in a.posonlyargs + a.args + a.kwonlyargs]
                fn = _Func(child, path, prefix + child.name, params)
                self.funcs.append(fn)
                self.by_name.setdefault(child.name, []).append(fn)
                self._collect(child, path, prefix + child.name + ".", fn)
            elif isinstance(child, ast.ClassDef):
                self._collect(child, path, prefix + child.name + ".", owner)
            else:
                self._collect(child, path, prefix, owner)

    # --- which services an expression is a client of ------------------------------------------
    def _scope_tags(self, fn: _Func | None, path: str) -> dict[str, set[str]]:
        return fn.tags if fn is not None else self.module_tags[path]

    def _by_name_tag(self, name: str) -> set[str]:
        base = name[: -len("_client")] if name.endswith("_client") else name
        return {base} if base in self.used else set()

    def services_of(self, expr: ast.AST, fn: _Func | None, path: str) -> set[str]:
        if isinstance(expr, ast.Name):
            return set(self._scope_tags(fn, path).get(expr.id, set())) | self._by_name_tag(expr.id)
        if isinstance(expr, ast.Lambda):
            return self.services_of(expr.body, fn, path)
        if not isinstance(expr, ast.Call):
            return set()
        f = expr.func
        name = f.attr if isinstance(f, ast.Attribute) else f.id if isinstance(f, ast.Name) else None
        first = expr.args[0] if expr.args else None
        literal = first.value if isinstance(first, ast.Constant) and isinstance(first.value, str) else None
        if name == "client" and literal in _services():
            factory = expr.args[1] if len(expr.args) > 1 else None
            if isinstance(factory, (ast.Name, ast.Lambda)):  # a cache: what the factory makes
                if isinstance(factory, ast.Lambda):
                    return self.services_of(factory.body, fn, path)
                return {s for g in self._local_funcs(factory.id, fn, path) for s in g.returns}
            self.used.add(literal)
            return {literal}
        if name == "client" and isinstance(first, ast.Name) and fn is not None and first.id in fn.params:
            return set()  # boto3.client(service): resolved at the call sites of fn
        out: set[str] = set()
        for g in self.by_name.get(name or "", []):
            out |= g.returns
            if g.returns_param is not None:
                arg = self._arg_for(expr, g, g.returns_param)
                if isinstance(arg, ast.Constant) and arg.value in _services():
                    self.used.add(arg.value)
                    out.add(arg.value)
        return out

    def _local_funcs(self, name: str, fn: _Func | None, path: str) -> list[_Func]:
        cands = [g for g in self.by_name.get(name, []) if g.path == path]
        if fn is not None:
            nested = [g for g in cands if g.qualname.startswith(fn.qualname + ".")]
            if nested:
                return nested
        return cands

    @staticmethod
    def _arg_for(call: ast.Call, g: _Func, index: int) -> ast.AST | None:
        offset = 1 if g.params and g.params[0] in ("self", "cls") else 0
        pos = index - offset
        if 0 <= pos < len(call.args):
            return call.args[pos]
        for kw in call.keywords:
            if kw.arg == g.params[index]:
                return kw.value
        return None

    def _owner(self, node: ast.AST, path: str) -> _Func | None:
        return self.owner.get(id(node))

    # --- fixpoint: tags, returns, call-site propagation --------------------------------------
    def solve(self) -> None:
        for _ in range(20):
            before = self._state()
            for path, nodes in self.nodes.items():
                for node in nodes:
                    fn = self._owner(node, path)
                    if isinstance(node, (ast.Assign, ast.AnnAssign)) and node.value is not None:
                        svc = self.services_of(node.value, fn, path)
                        targets = node.targets if isinstance(node, ast.Assign) else [node.target]
                        for t in targets:
                            if isinstance(t, ast.Name) and svc:
                                self._scope_tags(fn, path).setdefault(t.id, set()).update(svc)
                    elif isinstance(node, ast.Return) and fn is not None and node.value is not None:
                        fn.returns |= self.services_of(node.value, fn, path)
                        v = node.value
                        if (isinstance(v, ast.Call) and isinstance(v.func, ast.Attribute) and v.func.attr == "client"
                                and v.args and isinstance(v.args[0], ast.Name) and v.args[0].id in fn.params):
                            fn.returns_param = fn.params.index(v.args[0].id)
                    elif isinstance(node, ast.Call):
                        self.services_of(node, fn, path)  # notes the services clients are made for
                        self._propagate(node, fn, path)
            if self._state() == before:
                return
        raise RuntimeError("client tracking did not settle")

    def _propagate(self, call: ast.Call, fn: _Func | None, path: str) -> None:
        f = call.func
        name = f.attr if isinstance(f, ast.Attribute) else f.id if isinstance(f, ast.Name) else None
        for g in self.by_name.get(name or "", []):
            for i, p in enumerate(g.params):
                arg = self._arg_for(call, g, i)
                if arg is not None:
                    svc = self.services_of(arg, fn, path)
                    if svc:
                        g.tags.setdefault(p, set()).update(svc)

    def _state(self) -> tuple:
        return (tuple(sorted(self.used)),
                tuple((f.qualname, f.path, tuple(sorted((k, tuple(sorted(v))) for k, v in f.tags.items())),
                       tuple(sorted(f.returns)), f.returns_param) for f in self.funcs),
                tuple(sorted((p, k, tuple(sorted(v))) for p, t in self.module_tags.items() for k, v in t.items())))

    def calls(self) -> list[Call]:
        out: list[Call] = []
        for path, nodes in self.nodes.items():
            for node in nodes:
                if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)):
                    continue
                fn = self._owner(node, path)
                method = node.func.attr
                for svc in self.services_of(node.func.value, fn, path):
                    ops = operations(svc)
                    if method in OPERATION_ARG_METHODS:
                        first = node.args[0] if node.args else None
                        if not (isinstance(first, ast.Constant) and first.value in ops):
                            raise ValueError(f"{path}:{node.lineno}: {method} of an unknown {svc} operation")
                        op = ops[first.value]
                    elif method in ops:
                        op = ops[method]
                    else:
                        continue  # meta, exceptions, close ...
                    out.append(Call(action(svc, op), path, node.lineno, fn.qualname if fn else "<module>"))
        return out


def boto3_calls(root: Path, *dirs: str) -> list[Call]:
    files = sorted(p for d in dirs for p in (root / d).rglob("*.py"))
    w = _Walker(root, files)
    w.solve()
    return sorted(set(w.calls()), key=lambda c: (c.path, c.line, c.action))
