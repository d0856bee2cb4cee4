"""The redactor on its own: cost linear in its input, size bounds, secrets in flag-value pairs."""

from __future__ import annotations

import time

import pytest

from incident_operator.redact import CUT_NOTE, FIELD_MAX, MASK, bounded, redact, redact_data

from .support.adversarial import SHAPES


def _seconds(text: str, repeats: int) -> float:
    """The CPU time of this thread (other processes on a shared machine do not count), best of `repeats`."""
    best = float("inf")
    for _ in range(repeats):
        start = time.thread_time()
        redact(text)
        best = min(best, time.thread_time() - start)
    return best


@pytest.mark.parametrize("shape", sorted(SHAPES))
def test_redactor_time_is_linear_in_adversarial_input(shape):
    # A ratio in one run, not a wall-clock bound: 8 times the text costs about 8 times the time (a
    # quadratic pattern would be 64). The 1 KB step first makes an old quadratic pattern fail in seconds.
    make = SHAPES[shape]
    floor = 20e-6  # below this a timer tick is noise
    t1, t8 = _seconds(make(1024), 9), _seconds(make(8 * 1024), 5)
    assert t8 / max(t1, floor) < 20, (shape, t1, t8)
    t64 = _seconds(make(64 * 1024), 3)
    assert t64 / max(t8, floor) < 20, (shape, t8, t64)


def test_redactor_still_masks_what_it_masked():
    assert redact("DB_PASSWORD=hunter2 x-api-key: abc clientSecret='s3' --token tok") == \
        "DB_PASSWORD=*** x-api-key: *** clientSecret='***' --token ***"
    assert redact('{"password": "p1", "note": "ok"}') == '{"password": "***", "note": "ok"}'
    assert redact("postgres://app:pw@db/app") == "postgres://app:***@db/app"
    assert redact("a " * 5000 + "password=zz") == "a " * 5000 + "password=***"  # after a long innocent run
    assert redact("token bucket, passwordless login, replicas=3") == "token bucket, passwordless login, replicas=3"


def test_flag_and_value_as_separate_argv_items_are_masked():
    secret = "wJalrXUtnFEMIK7MDENGbPxRfiCYEXAMPLEKEY"
    args = ["--aws-secret-access-key", secret, "--db-password", "Hunter2", "-password", "Go-style",
            "-p", "mysqlpw", "--region", "us-east-1", "-p", "8080:80", "--port", "5432", "--api-key=inline",
            "mkdir", "-p", "/data", "-p", "$(DB_PASSWORD)"]
    out = redact_data({"containers": [{"command": ["mysql"], "args": args}]})["containers"][0]["args"]
    assert out == ["--aws-secret-access-key", MASK, "--db-password", MASK, "-password", MASK,
                   "-p", MASK, "--region", "us-east-1", "-p", "8080:80", "--port", "5432", "--api-key=***",
                   "mkdir", "-p", "/data", "-p", "$(DB_PASSWORD)"]
    # the same argv as text (a prompt, a log line): space- and JSON-separated forms
    assert secret not in redact(f"exec app --aws-secret-access-key {secret} -db-password Hunter2")
    assert "Hunter2" not in redact('args: ["--db-password", "Hunter2"]')
    # an env entry whose name names a secret
    assert redact_data([{"name": "DB_PASSWORD", "value": "Hunter2"}, {"name": "LOG_LEVEL", "value": "info"}]) == \
        [{"name": "DB_PASSWORD", "value": MASK}, {"name": "LOG_LEVEL", "value": "info"}]


def test_fields_are_cut_before_the_redactor_runs_without_half_a_secret():
    token = "ghp_" + "Z" * 36
    text = "x " * (FIELD_MAX // 2 - 10) + token + " tail"
    out = redact_data({"message": text})["message"]
    assert len(out) <= FIELD_MAX + len(CUT_NOTE.format(n=len(text))) and "…[cut:" in out
    assert "ghp_" not in out and "ZZZZ" not in out  # the token the cut fell in is dropped whole
    assert bounded("short", 10) == "short"
