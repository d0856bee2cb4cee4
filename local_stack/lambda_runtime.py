"""The bridge as it ships: `build/bridge-lambda.zip` in a Lambda runtime, invoked the way SNS invokes it.

Three parts, none of them part of the product:

- **the execution environment**: the AWS Lambda Runtime Interface Emulator (`aws-lambda-rie`, the Go module
  github.com/aws/aws-lambda-runtime-interface-emulator, built from the Go module proxy into
  ~/.cache/incident-operator/bin) runs the bootstrap of a Python 3.11 runtime: this machine's Python 3.11 with
  `-S` (no site-packages of its own) and `PYTHONPATH=$LAMBDA_RUNTIME_DIR`, as Lambda sets it
  (https://docs.aws.amazon.com/lambda/latest/dg/configuration-envvars.html#configuration-envvars-runtime), the
  runtime directory holding what the managed python3.11 runtime ships: the runtime interface client
  `awslambdaric` (PyPI) and boto3 — nothing else. The zip is unzipped into its own task root
  (`LAMBDA_TASK_ROOT`, the bootstrap's working directory: first on `sys.path`), so the function can import only
  what the zip packs, the runtime's boto3 and the standard library.
- **the function's configuration** is read from the template that ships it (`deploy/aws/bridge.yaml`): runtime,
  handler (`_HANDLER`), `Timeout` (`AWS_LAMBDA_FUNCTION_TIMEOUT`), `MemorySize`, the environment variables,
  and the asynchronous invocation config (`MaximumRetryAttempts`, `MaximumEventAgeInSeconds`), each with the
  template's defaults unless a parameter is given, as a stack would.
- **asynchronous invocation** (`AsyncInvoker`). SNS invokes its Lambda subscribers asynchronously
  (https://docs.aws.amazon.com/lambda/latest/dg/with-sns.html). The emulator does not: its
  `/2015-03-31/functions/function/invocations` endpoint reads no `X-Amz-Invocation-Type` header and always
  answers synchronously (internal/lambda/rie/handlers.go, InvokeHandler), and it has no event queue, retries
  or destinations ("does not emulate Lambda's orchestration", its README). `AsyncInvoker` is that part, after
  https://docs.aws.amazon.com/lambda/latest/dg/invocation-async-error-handling.html: an invocation is
  accepted at once (202); a function error — one returned by the code, or by the runtime, timeouts included —
  is retried `MaximumRetryAttempts` times (default 2), one minute after the first attempt and two minutes
  after the second; system errors (the environment not answering) are retried with a backoff from 1 s
  doubling to 5 minutes; an event older than `MaximumEventAgeInSeconds` is given up. A discarded event goes to
  the on-failure destination as an invocation record
  (https://docs.aws.amazon.com/lambda/latest/dg/invocation-async-retain-records.html): `version`,
  `timestamp`, `requestContext` (`requestId`, `functionArn`, `condition` `RetriesExhausted` or
  `EventAgeExceeded`, `approximateInvokeCount`), `requestPayload` (the event), `responseContext`
  (`statusCode`, `executedVersion`, `functionError`) and `responsePayload` (the runtime's error). The retry
  delays may be shortened for tests (`retry_delays`), never the semantics. One execution environment serves
  the invocations one at a time (a function with a reserved concurrency of 1).

How the emulator reports a function error (it sets no `X-Amz-Function-Error` header): an error returned by the
handler is a 200 whose body is the runtime interface client's error object (`errorMessage`, `errorType`,
`stackTrace`); a failed init (`Runtime.ImportModuleError`, …) is a 502 with that object; a timeout is a 200 with
the body `Task timed out after N.00 seconds`, after which the emulator kills the runtime and the next
invocation starts it again (a new init), as Lambda does.

    python -m local_stack.lambda_runtime build     # the emulator and the runtime directory, into the cache
"""

from __future__ import annotations

import atexit
import fcntl
import functools
import heapq
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
import uuid
import zipfile
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable

import yaml

ROOT = Path(__file__).resolve().parents[1]
CACHE = Path(os.environ.get("INCIDENT_OPERATOR_CACHE", Path.home() / ".cache" / "incident-operator"))

RIE_MODULE = "github.com/aws/aws-lambda-runtime-interface-emulator"
RIE_VERSION = "v0.0.0-20261030222936-bef5c4ba774d"  # the proxy serves pseudo-versions of it, no tagged release
RIE_BIN = CACHE / "bin" / f"aws-lambda-rie-{RIE_VERSION}" / "aws-lambda-rie"

PYTHON_VERSION = "3.11"  # deploy/aws/bridge.yaml: Runtime python3.11
RUNTIME_PACKAGES = ("awslambdaric==4.2.2", "boto3==1.44.18")  # what the managed runtime brings beside the zip
RUNTIME_DIR = CACHE / "lambda-runtime" / ("python" + PYTHON_VERSION + "-" + "-".join(p.replace("==", "-") for p in RUNTIME_PACKAGES))

BRIDGE_TEMPLATE = ROOT / "deploy" / "aws" / "bridge.yaml"
BRIDGE_FUNCTION = "BridgeFunction"

RETRY_DELAYS = (60.0, 120.0)  # invocation-async-error-handling: 1 min after the 1st attempt, 2 min after the 2nd
SYSTEM_BACKOFF = (1.0, 300.0)  # system errors: from 1 s, exponentially, to at most 5 min
ACCOUNT = "123456789012"


def log(msg: str) -> None:
    print(f"[lambda-runtime] {msg}", file=sys.stderr, flush=True)


class _Lock:
    """An exclusive lock on a file in the cache, so two processes do not build the same thing at once."""

    def __init__(self, path: Path):
        path.parent.mkdir(parents=True, exist_ok=True)
        self._f = open(path, "w")

    def __enter__(self) -> "_Lock":
        fcntl.flock(self._f, fcntl.LOCK_EX)
        return self

    def __exit__(self, *exc: object) -> None:
        fcntl.flock(self._f, fcntl.LOCK_UN)
        self._f.close()


# --- building (cached) ---------------------------------------------------------------------------------

def build_rie() -> Path:
    """aws-lambda-rie from the Go module proxy, into the cache (GOMODCACHE/GOCACHE shared with the cluster's builds)."""
    if RIE_BIN.exists():
        return RIE_BIN
    with _Lock(RIE_BIN.parent.with_suffix(".lock")):
        if RIE_BIN.exists():
            return RIE_BIN
        log(f"building aws-lambda-rie {RIE_VERSION}")
        tmp = Path(tempfile.mkdtemp(prefix="rie-", dir=CACHE / "bin"))
        env = {**os.environ, "GOTOOLCHAIN": "local", "GOFLAGS": "-buildvcs=false", "CGO_ENABLED": "0", "GOBIN": str(tmp),
               "GOMODCACHE": os.environ.get("GOMODCACHE", str(CACHE / "gomod")),
               "GOCACHE": os.environ.get("GOCACHE", str(CACHE / "gobuild"))}
        subprocess.run(["go", "install", "-trimpath", "-ldflags", "-s -w", f"{RIE_MODULE}/cmd/aws-lambda-rie@{RIE_VERSION}"],
                       env=env, cwd=str(CACHE), check=True)
        RIE_BIN.parent.mkdir(parents=True, exist_ok=True)
        os.replace(tmp / "aws-lambda-rie", RIE_BIN)
        shutil.rmtree(tmp, ignore_errors=True)
    return RIE_BIN


def build_runtime_dir() -> Path:
    """$LAMBDA_RUNTIME_DIR: awslambdaric and boto3 as Linux x86_64 CPython 3.11 wheels (PyPI), into the cache."""
    if (RUNTIME_DIR / ".complete").exists():
        return RUNTIME_DIR
    with _Lock(RUNTIME_DIR.with_suffix(".lock")):
        if (RUNTIME_DIR / ".complete").exists():
            return RUNTIME_DIR
        log(f"installing {', '.join(RUNTIME_PACKAGES)} into {RUNTIME_DIR}")
        tmp = Path(tempfile.mkdtemp(prefix="runtime-", dir=RUNTIME_DIR.parent))
        subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-warn-conflicts", "--target", str(tmp),
                        "--platform", "manylinux2014_x86_64", "--python-version", PYTHON_VERSION, "--implementation", "cp",
                        "--only-binary=:all:", *RUNTIME_PACKAGES], check=True)
        shutil.rmtree(tmp / "bin", ignore_errors=True)
        (tmp / ".complete").write_text("\n".join(RUNTIME_PACKAGES) + "\n")
        shutil.rmtree(RUNTIME_DIR, ignore_errors=True)
        os.replace(tmp, RUNTIME_DIR)
    return RUNTIME_DIR


@functools.lru_cache(maxsize=1)
def python311() -> str:
    """This machine's Python 3.11 interpreter (the real binary, not a shim)."""
    candidates = [getattr(sys, "_base_executable", None), sys.executable, shutil.which(f"python{PYTHON_VERSION}")]
    for exe in filter(None, candidates):
        out = subprocess.run([exe, "-S", "-c", "import sys; print('%d.%d' % sys.version_info[:2], sys.executable)"],
                             capture_output=True, text=True)
        if out.returncode == 0 and out.stdout.split()[0] == PYTHON_VERSION:
            return out.stdout.split(maxsplit=1)[1].strip()
    raise RuntimeError(f"no Python {PYTHON_VERSION} interpreter found (the bridge's runtime is python{PYTHON_VERSION})")


def build() -> None:
    build_rie()
    build_runtime_dir()


# --- the function's configuration, from its template ---------------------------------------------------

class _CfnLoader(yaml.SafeLoader):
    """CloudFormation YAML: `!Ref X` → {"Ref": X}, `!GetAtt A.B` → {"Fn::GetAtt": [A, B]}, `!Sub`… → {"Fn::Sub": …}."""


def _cfn_tag(loader: Any, suffix: str, node: Any) -> dict[str, Any]:
    if isinstance(node, yaml.ScalarNode):
        value: Any = loader.construct_scalar(node)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)
    if suffix == "Ref":
        return {"Ref": value}
    if suffix == "GetAtt" and isinstance(value, str):
        value = value.split(".", 1)
    return {f"Fn::{suffix}": value}


_CfnLoader.add_multi_constructor("!", _cfn_tag)


@dataclass
class FunctionConfig:
    """What Lambda is told about the function: by the template (resolved with its parameters) or by hand."""
    name: str
    runtime: str
    handler: str
    timeout: int
    memory: int
    environment: dict[str, str]
    maximum_retry_attempts: int = 2
    maximum_event_age: int = 21600
    region: str = "ap-northeast-2"

    @property
    def arn(self) -> str:
        return f"arn:aws:lambda:{self.region}:{ACCOUNT}:function:{self.name}"

    @classmethod
    def from_template(cls, path: Path = BRIDGE_TEMPLATE, parameters: dict[str, Any] | None = None,
                      function: str = BRIDGE_FUNCTION, region: str = "ap-northeast-2") -> "FunctionConfig":
        doc = yaml.load(Path(path).read_text(), Loader=_CfnLoader)  # noqa: S506 - SafeLoader with CFN tags
        params = {k: v.get("Default") for k, v in (doc.get("Parameters") or {}).items()}
        unknown = set(parameters or {}) - set(params)
        if unknown:
            raise ValueError(f"{path.name} has no parameter(s) {sorted(unknown)}")
        params |= parameters or {}
        params |= {"AWS::Region": region, "AWS::AccountId": ACCOUNT, "AWS::StackName": "local"}

        def resolve(v: Any) -> Any:
            if isinstance(v, dict) and set(v) == {"Ref"}:
                if v["Ref"] not in params:
                    raise ValueError(f"!Ref {v['Ref']}: not a parameter (resources are not resolved here)")
                return params[v["Ref"]]
            if isinstance(v, dict):
                raise ValueError(f"cannot resolve {v} locally")
            return v

        resources = doc["Resources"]
        props = resources[function]["Properties"]
        invoke_cfg = next((r["Properties"] for r in resources.values() if r.get("Type") == "AWS::Lambda::EventInvokeConfig"
                           and r["Properties"].get("FunctionName") == {"Ref": function}), {})
        env = {k: "" if resolve(v) is None else str(resolve(v)) for k, v in
               ((props.get("Environment") or {}).get("Variables") or {}).items()}
        return cls(name=str(resolve(props.get("FunctionName", function))), runtime=str(resolve(props["Runtime"])),
                   handler=str(resolve(props["Handler"])), timeout=int(resolve(props.get("Timeout", 3))),
                   memory=int(resolve(props.get("MemorySize", 128))), environment=env,
                   maximum_retry_attempts=int(resolve(invoke_cfg.get("MaximumRetryAttempts", 2))),
                   maximum_event_age=int(resolve(invoke_cfg.get("MaximumEventAgeInSeconds", 21600))), region=region)


# --- one execution environment: the emulator running the zip -------------------------------------------

def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _scratch() -> str | None:
    """Memory (/dev/shm) when there is some: writing a task root there is about twice as fast as to disk."""
    shm = Path("/dev/shm")
    return str(shm) if shm.is_dir() and os.access(shm, os.W_OK) else None


_EXTRACTED: dict[tuple[str, int, int], Path] = {}  # zip (path, size, mtime) -> its task root, this process
_ENTRIES: dict[tuple[str, int, int], Path] = {}    # zip entry (name, CRC, size) -> an extracted copy
_EXTRACT_LOCK = threading.Lock()


def unzip(zip_path: Path) -> Path:
    """The zip extracted into a task root of its own. The function never writes there (read-only on Lambda), so a
    zip extracted before is used again, and an entry that an earlier zip of this process had (same name, CRC and
    size) is hard-linked instead of written: a task root is some thousand files."""
    st = Path(zip_path).stat()
    key = (str(Path(zip_path).resolve()), st.st_size, st.st_mtime_ns)
    with _EXTRACT_LOCK:
        if key in _EXTRACTED and _EXTRACTED[key].exists():
            return _EXTRACTED[key]
        root = Path(tempfile.mkdtemp(prefix="lambda-task-", dir=_scratch()))
        atexit.register(shutil.rmtree, root, True)
        with zipfile.ZipFile(zip_path) as z:
            for info in z.infolist():
                dest = root / info.filename
                if not dest.resolve().is_relative_to(root.resolve()):
                    raise ValueError(f"{zip_path}: entry {info.filename!r} outside the task root")
                if info.is_dir():
                    dest.mkdir(parents=True, exist_ok=True)
                    continue
                dest.parent.mkdir(parents=True, exist_ok=True)
                same = _ENTRIES.get((info.filename, info.CRC, info.file_size))
                if same is not None and same.exists():
                    os.link(same, dest)
                else:
                    with z.open(info) as src, open(dest, "wb") as out:
                        shutil.copyfileobj(src, out, 1 << 20)
                    _ENTRIES[(info.filename, info.CRC, info.file_size)] = dest
        _EXTRACTED[key] = root
        return root


@dataclass
class Invocation:
    """One synchronous invocation of the emulator, classified as Lambda would."""
    request_id: str
    status_code: int
    body: bytes
    seconds: float
    function_error: str | None = None  # "Unhandled" (code, runtime or timeout) or None
    system_error: str | None = None    # the environment did not answer

    @property
    def payload(self) -> Any:
        try:
            return json.loads(self.body)
        except ValueError:
            return self.body.decode(errors="replace")

    @property
    def error(self) -> dict[str, Any] | None:
        if self.system_error:
            return {"errorMessage": self.system_error}
        if not self.function_error:
            return None
        p = self.payload
        return p if isinstance(p, dict) else {"errorMessage": str(p)}


def classify(status: int, body: bytes) -> tuple[str | None, str | None]:
    """(function_error, system_error) of an emulator answer; see the module docstring."""
    text = body.decode(errors="replace")
    if status >= 500:
        try:
            obj = json.loads(text)
        except ValueError:
            obj = None
        if isinstance(obj, dict) and "errorType" in obj:  # init failed, runtime exited: the runtime's error
            return "Unhandled", None
        return None, f"HTTP {status}: {text[:300]}"
    if status != 200:
        return None, f"HTTP {status}: {text[:300]}"
    if re.fullmatch(r"Task timed out after [0-9.]+ seconds", text.strip()):
        return "Unhandled", None
    try:
        obj = json.loads(text)
    except ValueError:
        return None, None
    if isinstance(obj, dict) and {"errorMessage", "errorType"} <= set(obj):
        return "Unhandled", None
    return None, None


class LambdaRuntime:
    """The emulator running a zip as the function `config` describes; `invoke()` is one synchronous invocation."""

    def __init__(self, zip_path: Path, config: FunctionConfig, extra_env: dict[str, str] | None = None,
                 workdir: Path | None = None):
        self.config = config
        self.zip_path = Path(zip_path)
        self.extra_env = dict(extra_env or {})
        self._own_workdir = workdir is None
        self.workdir = Path(workdir or tempfile.mkdtemp(prefix="lambda-"))
        self.task_root = self.workdir  # set by start(): where the zip is extracted
        self.log_path = self.workdir / "runtime.log"
        self.proc: subprocess.Popen | None = None
        self.port = 0
        self.env: dict[str, str] = {}

    def _unzip(self) -> None:
        self.task_root = unzip(self.zip_path)

    def _bootstrap(self, runtime_dir: Path) -> Path:
        # the managed runtime's bootstrap: its interpreter, no site-packages, the runtime interface client
        path = self.workdir / "bootstrap"
        path.write_text(f"#!/bin/sh\nexec '{python311()}' -S -m awslambdaric \"$_HANDLER\"\n")
        path.chmod(0o755)
        return path

    def start(self) -> "LambdaRuntime":
        if self.config.runtime != f"python{PYTHON_VERSION}":
            raise ValueError(f"the function's runtime is {self.config.runtime}; this environment is python{PYTHON_VERSION}")
        rie, runtime_dir = build_rie(), build_runtime_dir()
        self._unzip()
        bootstrap = self._bootstrap(runtime_dir)
        self.port, api_port = free_port(), free_port()
        cfg = self.config
        self.env = {
            # what Lambda sets (configuration-envvars.html, "Defined runtime environment variables")
            "PATH": "/usr/local/bin:/usr/bin:/bin", "LANG": "en_US.UTF-8", "TZ": ":UTC",
            "LAMBDA_TASK_ROOT": str(self.task_root), "LAMBDA_RUNTIME_DIR": str(runtime_dir), "PYTHONPATH": str(runtime_dir),
            "_HANDLER": cfg.handler, "AWS_EXECUTION_ENV": f"AWS_Lambda_{cfg.runtime}",
            "AWS_LAMBDA_FUNCTION_NAME": cfg.name, "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(cfg.memory), "AWS_LAMBDA_FUNCTION_TIMEOUT": str(cfg.timeout),
            "AWS_LAMBDA_LOG_GROUP_NAME": f"/aws/lambda/{cfg.name}", "AWS_LAMBDA_LOG_STREAM_NAME": "local",
            "AWS_REGION": cfg.region, "AWS_DEFAULT_REGION": cfg.region,
            # /var/task is read-only on Lambda: what the zip does not ship as bytecode is compiled at every cold
            # start. Root writes anywhere, so the runtime is told instead.
            "PYTHONDONTWRITEBYTECODE": "1",
            # the execution role's credentials (nothing here checks them)
            "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_SESSION_TOKEN": "testing",
            # the function's own environment (the template's Variables), then the local additions
            **cfg.environment, **self.extra_env,
        }
        self._log = open(self.log_path, "ab")
        atexit.register(self.stop)
        self.proc = subprocess.Popen(
            [str(rie), "--runtime-interface-emulator-address", f"127.0.0.1:{self.port}",
             "--runtime-api-address", f"127.0.0.1:{api_port}", str(bootstrap)],
            env=self.env, cwd=str(self.task_root), stdout=self._log, stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"aws-lambda-rie exited ({self.proc.returncode}): {self.log()[-2000:]}")
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                return self
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("aws-lambda-rie did not listen within 10 s")

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/2015-03-31/functions/function/invocations"

    def invoke(self, event: Any, request_id: str | None = None) -> Invocation:
        request_id = request_id or str(uuid.uuid4())
        req = urllib.request.Request(self.url, data=json.dumps(event).encode(), method="POST",
                                     headers={"Content-Type": "application/json", "X-Amzn-RequestId": request_id})
        start = time.monotonic()
        try:
            with urllib.request.urlopen(req, timeout=self.config.timeout + 30) as resp:
                status, body = resp.status, resp.read()
        except urllib.error.HTTPError as exc:
            status, body = exc.code, exc.read()
        except (urllib.error.URLError, OSError) as exc:
            return Invocation(request_id, 0, b"", time.monotonic() - start, system_error=f"{type(exc).__name__}: {exc}")
        function_error, system_error = classify(status, body)
        return Invocation(request_id, status, body, time.monotonic() - start, function_error, system_error)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def init_reports(self) -> list[dict[str, Any]]:
        """Every init of the runtime (cold start) so far: phase (`init`, or `invoke` after a reset), status, ms."""
        out = []
        for m in re.finditer(r"INIT START\(type: [^,]+, phase: (\w+)\)(.*?)INIT REPORT\(durationMs: ([0-9.]+)\)", self.log(), re.S):
            status = re.search(r"INIT RTDONE\(status: (\w+)\)", m.group(2))
            out.append({"phase": m.group(1), "status": status.group(1) if status else "unknown", "ms": float(m.group(3))})
        return out

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGTERM)
                self.proc.wait(5)
            except (ProcessLookupError, subprocess.TimeoutExpired):
                try:
                    os.killpg(self.proc.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                self.proc.wait(5)
        if getattr(self, "_log", None):
            self._log.close()
        if self._own_workdir:
            shutil.rmtree(self.workdir, ignore_errors=True)

    def __enter__(self) -> "LambdaRuntime":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


# --- asynchronous invocation: Lambda's event queue, retries and on-failure destination --------------------

@dataclass
class AsyncRequest:
    request_id: str
    event: Any
    accepted: float
    attempts: list[Invocation] = field(default_factory=list)
    system_errors: int = 0
    outcome: str | None = None  # "success", "RetriesExhausted", "EventAgeExceeded"
    done: threading.Event = field(default_factory=threading.Event)


def sqs_destination(sqs: Any, queue_url: str) -> Callable[[dict[str, Any]], None]:
    """An on-failure destination on a standard SQS queue: the invocation record is the message body."""
    return lambda record: sqs.send_message(QueueUrl=queue_url, MessageBody=json.dumps(record))


class AsyncInvoker:
    """`Invoke` with InvocationType=Event against one execution environment (see the module docstring)."""

    def __init__(self, runtime: LambdaRuntime, on_failure: Callable[[dict[str, Any]], None] | None = None,
                 retry_delays: tuple[float, float] = RETRY_DELAYS, system_backoff: tuple[float, float] = SYSTEM_BACKOFF,
                 clock: Callable[[], float] = time.time):
        self.runtime, self.on_failure = runtime, on_failure
        self.retry_delays, self.system_backoff, self.clock = retry_delays, system_backoff, clock
        self.requests: dict[str, AsyncRequest] = {}
        self.failure_records: list[dict[str, Any]] = []
        self._queue: list[tuple[float, int, str]] = []
        self._seq = 0
        self._cv = threading.Condition()
        self._stopped = False
        self._thread = threading.Thread(target=self._run, name="lambda-async", daemon=True)
        self._thread.start()

    def __call__(self, event: Any) -> dict[str, Any]:  # a topic's subscriber (local_stack.loop.BridgePump)
        return self.invoke(event)

    def invoke(self, event: Any) -> dict[str, Any]:
        """Accept the event (like Invoke with InvocationType=Event: 202, the request id) and return at once."""
        req = AsyncRequest(str(uuid.uuid4()), event, self.clock())
        self.requests[req.request_id] = req
        self._schedule(req.request_id, 0.0)
        return {"StatusCode": 202, "RequestId": req.request_id}

    def wait(self, request_id: str, timeout: float = 60) -> AsyncRequest:
        req = self.requests[request_id]
        if not req.done.wait(timeout):
            raise TimeoutError(f"invocation {request_id} not finished after {timeout}s ({len(req.attempts)} attempt(s))")
        return req

    def stop(self) -> None:
        with self._cv:
            self._stopped = True
            self._cv.notify_all()
        self._thread.join(5)

    def _schedule(self, request_id: str, delay: float) -> None:
        with self._cv:
            self._seq += 1
            heapq.heappush(self._queue, (time.monotonic() + delay, self._seq, request_id))
            self._cv.notify_all()

    def _next(self) -> str | None:
        with self._cv:
            while not self._stopped:
                if self._queue and self._queue[0][0] <= time.monotonic():
                    return heapq.heappop(self._queue)[2]
                self._cv.wait(None if not self._queue else max(0.0, self._queue[0][0] - time.monotonic()))
            return None

    def _run(self) -> None:
        while (request_id := self._next()) is not None:
            req = self.requests[request_id]
            if self.clock() - req.accepted > self.runtime.config.maximum_event_age:
                self._give_up(req, "EventAgeExceeded")
                continue
            try:
                inv = self.runtime.invoke(req.event, request_id=req.request_id)
            except Exception as exc:  # noqa: BLE001 - whatever went wrong here is not the function's error
                inv = Invocation(req.request_id, 0, b"", 0.0, system_error=f"{type(exc).__name__}: {exc}")
            if inv.system_error:  # not the function's doing: back in the queue, backoff, until the event is too old
                req.system_errors += 1
                first, cap = self.system_backoff
                self._schedule(request_id, min(cap, first * 2 ** (req.system_errors - 1)))
                req.attempts.append(inv)
                continue
            req.attempts.append(inv)
            function_attempts = [a for a in req.attempts if not a.system_error]
            if not inv.function_error:
                req.outcome = "success"
                req.done.set()
            elif len(function_attempts) > self.runtime.config.maximum_retry_attempts:
                self._give_up(req, "RetriesExhausted")
            else:
                self._schedule(request_id, self.retry_delays[min(len(function_attempts), len(self.retry_delays)) - 1])

    def _give_up(self, req: AsyncRequest, condition: str) -> None:
        last = req.attempts[-1] if req.attempts else None
        record = {
            "version": "1.0",
            "timestamp": datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "requestContext": {"requestId": req.request_id, "functionArn": self.runtime.config.arn + ":$LATEST",
                               "condition": condition, "approximateInvokeCount": len(req.attempts)},
            "requestPayload": req.event,
            "responseContext": {"statusCode": 200, "executedVersion": "$LATEST",
                                **({"functionError": last.function_error} if last and last.function_error else {})},
            "responsePayload": last.error if last else None,
        }
        self.failure_records.append(record)
        req.outcome = condition
        try:
            if self.on_failure:
                self.on_failure(record)
        finally:
            req.done.set()


def main(argv: list[str]) -> int:
    if argv[:1] == ["build"]:
        build()
        print(f"{RIE_BIN}\n{RUNTIME_DIR}")
        return 0
    print(__doc__.split("\n\n")[-1].strip(), file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
