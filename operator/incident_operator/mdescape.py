"""Untrusted text in Markdown: one escaper, applied to every outside string a report shows (like the redactor).

The report is Markdown that GitHub renders, and much of what it quotes was written by someone else: alarm
names and reasons, Event messages, termination messages, log lines, a tenant's summary, the model's
answer. Posted as written, such a string could link or embed anything (`[click](…)`, `![](…)`, a bare
URL), notify people (`@team`, `#123` cross-references), start a heading or a list ("# 복구 완료" on a
line of its own), carry HTML or an HTML comment that looks like the operator's own markers, or, in an
issue title, a newline. So every such string goes through one of:

- `text(s)`: inline text. One line (line breaks become spaces); Markdown and HTML syntax escaped with
  backslashes; URLs shown as code (copyable, not a link); `@name` and `#123` defused with a zero-width
  space (GitHub links those in text whatever the escaping). Korean and other text is left as it is.
- `code(s)`: an inline code span around the string, whatever backticks it holds.
- `inline(s)`: like `text(s)`, but the code spans it holds stay code spans. For text an analyzer or the model
  wrote around quoted values (a cause's title, a guide's step: "`checkout`의 `pods` list 권한 없음"): what is
  inside a span renders as code (GitHub makes no link, image, mention or HTML there), everything else is
  escaped as `text` does, and a span is re-fenced, so a value holding backticks cannot end it early.
- `title(s, limit)`: plain text for an issue title (GitHub renders no Markdown there): one line, no
  control or bidirectional-override characters, at most `limit` characters.

`unescape(md)` undoes the backslash escapes for a reader that does not take them (Slack's mrkdwn).
The report's own structure (headings, lists, markers) is written by render.py around these values.
"""

from __future__ import annotations

import re
from typing import Any

ZWSP = "\u200b"  # zero-width space: breaks a mention or a reference without changing what a reader sees

# Line breaks of every kind (one line each), and characters that draw nothing or reorder what is drawn
# (C0/C1 controls, bidirectional embeddings, overrides and isolates: "Trojan Source" text).
_BREAKS = re.compile(r"[\r\n\v\f\x85\u2028\u2029]+")
_INVISIBLE = re.compile(r"[\x00-\x08\x0e-\x1f\x7f-\x84\x86-\x9f\u200e\u200f\u202a-\u202e\u2066-\u2069\ufeff]")
_SPACES = re.compile(r"\s+")

# Where GitHub makes a link of plain text (cmark-gfm's autolink extension): scheme URLs and www. hosts.
_URL = re.compile(r"(?i)(?:(?:https?|ftp)://|(?<![A-Za-z0-9.-])www\.)(?:[^\s<>`]*[^\s<>`.,:;!?)\]'\"])?")
# Markdown/HTML punctuation escaped wherever it is: escapes, code spans, emphasis, links/images, HTML.
_ALWAYS = re.compile(r"([\\`*\[\]<])")
_ENTITY = re.compile(r"&(?=#?[A-Za-z0-9]+;)")  # &#64; would render as "@", &lt; as "<"
_MENTION = re.compile(r"@")  # @user, @org/team, e-mail addresses (x@.evil.com too): every @
_REFERENCE = re.compile(r"(?i)(#|\bGH-)(?=[0-9])")  # #123, owner/repo#123, GH-123: cross-references notify
# What starts a block at the beginning of a line (or right after our own "- "): heading, quote, list, break
_LEADING = re.compile(r"^(?:([#>+=~-])|([0-9]{1,9})([.)]))")


def _one_line(value: Any) -> str:
    s = "" if value is None else str(value)
    return _INVISIBLE.sub("", _BREAKS.sub(" ", s))


def _cut(s: str, limit: int | None) -> str:
    return s if limit is None or len(s) <= limit else s[: max(limit - 1, 0)] + "…"


def _escape_plain(s: str) -> str:
    s = _ALWAYS.sub(r"\\\1", s)
    s = _ENTITY.sub(r"\\&", s)
    s = _MENTION.sub("@" + ZWSP, s)
    return _REFERENCE.sub(lambda m: m.group(1) + ZWSP, s)


def _plain(s: str) -> str:
    out, at = [], 0
    for m in _URL.finditer(s):
        out += [_escape_plain(s[at:m.start()]), code(m.group(0))]
        at = m.end()
    out.append(_escape_plain(s[at:]))
    return "".join(out)


def _no_block(s: str) -> str:
    return _LEADING.sub(lambda m: f"\\{m.group(1)}" if m.group(1) else f"{m.group(2)}\\{m.group(3)}", s, count=1)


def text(value: Any, limit: int | None = None) -> str:
    """An untrusted string as inline Markdown text that renders as exactly that text, on one line."""
    return _no_block(_plain(_cut(_one_line(value).strip(), limit)))


_TICKS = re.compile(r"`+")


def inline(value: Any, limit: int | None = None) -> str:
    """Text with code spans (CommonMark's rule: a run of n backticks closes at the next run of exactly n,
    and one that never closes is literal): the spans kept as code, the rest escaped as `text`. Linear."""
    s = _cut(_one_line(value).strip(), limit)
    runs = list(_TICKS.finditer(s))
    closes: list[int | None] = [None] * len(runs)  # the next run of the same length, found right to left
    last: dict[int, int] = {}
    for i in range(len(runs) - 1, -1, -1):
        n = len(runs[i].group())
        closes[i], last[n] = last.get(n), i
    out, at, i = [], 0, 0
    while i < len(runs):
        j = closes[i]
        if j is None:
            i += 1
            continue
        out += [_plain(s[at:runs[i].start()]), code(s[runs[i].end():runs[j].start()].strip() or " ")]
        at, i = runs[j].end(), j + 1
    out.append(_plain(s[at:]))
    return _no_block(_apart(out))


def _apart(pieces: list[str]) -> str:
    """Pieces joined so that no two code spans touch: `` `a` `` then `` ``b`` `` would make one run of three
    backticks that nothing closes, and every backtick literal — the spans' contents then read as Markdown."""
    joined = ""
    for piece in pieces:
        if joined.endswith("`") and piece.startswith("`"):
            joined += ZWSP
        joined += piece
    return joined


def code(value: Any, limit: int | None = None) -> str:
    """An untrusted string as an inline code span (its delimiters included), on one line."""
    s = _cut(_one_line(value), limit)
    if not s.strip():
        return "` `"
    longest = max((len(run) for run in re.findall(r"`+", s)), default=0)
    fence = "`" * (longest + 1)
    pad = " " if s.startswith("`") or s.endswith("`") or (s.startswith(" ") and s.endswith(" ")) else ""
    return f"{fence}{pad}{s}{pad}{fence}"


def title(value: Any, limit: int) -> str:
    """An untrusted string as plain single-line text of at most `limit` characters (an issue title)."""
    return _cut(_SPACES.sub(" ", _INVISIBLE.sub("", str(value or ""))).strip(), limit)


_ESCAPED = re.compile(r"\\([!-/:-@\[-`{-~])")


def unescape(markdown: str) -> str:
    """Markdown with its backslash escapes undone (for a reader, such as Slack, that shows them as written)."""
    return _ESCAPED.sub(r"\1", markdown)
