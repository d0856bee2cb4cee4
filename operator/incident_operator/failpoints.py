"""Named failpoints for crash-recovery tests: INCIDENT_FAILPOINTS="respond.after-apply=crash,...".

`crash` ends the process at once (as a SIGKILL would); `hang` blocks forever; `error` raises; `sleep:N` waits
N seconds (a slow phase).
Unset in production.
"""

from __future__ import annotations

import os
import time


def hit(name: str) -> None:
    spec = os.environ.get("INCIDENT_FAILPOINTS", "")
    if not spec:
        return
    for item in spec.split(","):
        point, _, what = item.partition("=")
        if point.strip() == name:
            if what.strip() == "error":
                raise RuntimeError(f"failpoint {name}")
            if what.strip().startswith("sleep:"):
                time.sleep(float(what.strip().split(":", 1)[1]))
                return
            if what.strip() == "hang":
                while True:
                    time.sleep(3600)
            os._exit(137)
