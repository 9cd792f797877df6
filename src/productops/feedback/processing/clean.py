"""Cleaning: what the customer wrote, without the HTML, the quoted earlier messages and the
signature around it.

Plain rules that hold across mail clients and ticket tools: HTML becomes text (block
elements break lines, entities decode, scripts and styles are dropped); a reply's quoted
history starts at `On … wrote:`, `-----Original Message-----`, `From: … Sent:` or lines
beginning with `>`; a signature starts at `-- ` or a closing such as `Best regards,` near
the end, or at `Sent from my iPhone`.
"""

from __future__ import annotations

import html
import re
from html.parser import HTMLParser

BLOCK_TAGS = {
    "p", "div", "br", "li", "ul", "ol", "tr", "table", "h1", "h2", "h3", "h4", "h5", "h6",
    "blockquote", "pre", "section", "article", "header", "footer", "hr",
}  # fmt: skip
DROPPED_TAGS = {"script", "style", "head", "title", "template", "noscript", "iframe", "object"}
_LOOKS_LIKE_HTML = re.compile(r"<(/?)([a-zA-Z][a-zA-Z0-9]*)\b[^>]*>")
QUOTE_STARTS = (
    re.compile(r"^\s*On .{3,200}(wrote|schrieb|a écrit|escribió|escreveu)\s*:\s*$", re.I),
    re.compile(r"^\s*-{2,}\s*Original Message\s*-{2,}\s*$", re.I),
    re.compile(r"^\s*-{2,}\s*Forwarded message\s*-{2,}\s*$", re.I),
    re.compile(r"^\s*From:\s.+$", re.I),
    re.compile(r"^\s*#{2,}\s*Please type your reply above this line\s*#{2,}\s*$", re.I),
)
SIGNATURE_STARTS = (
    re.compile(r"^--\s*$"),
    re.compile(r"^\s*Sent from my \w+", re.I),
    re.compile(r"^\s*Get Outlook for \w+", re.I),
)
CLOSINGS = re.compile(
    r"^\s*(best|kind|warm)?\s*(regards|wishes)\s*,?\s*$|^\s*(thanks|thank you|cheers|best|"
    r"sincerely|br|mit freundlichen grüßen|cordialement|saludos|atenciosamente)[\s,.!]*$",
    re.I,
)
_SPACES = re.compile(r"[ \t\u00a0]+")
_BLANKS = re.compile(r"\n{3,}")


class _Text(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._dropped = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in DROPPED_TAGS:
            self._dropped += 1
        elif tag in BLOCK_TAGS:
            self.parts.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in DROPPED_TAGS:
            self._dropped = max(0, self._dropped - 1)
        elif tag in BLOCK_TAGS:
            self.parts.append("\n")

    def handle_data(self, data: str) -> None:
        if not self._dropped:
            self.parts.append(data)


def html_to_text(value: str) -> str:
    """Text of an HTML fragment; text that is not HTML comes back as it was."""
    if not _LOOKS_LIKE_HTML.search(value):
        return html.unescape(value) if "&" in value else value
    parser = _Text()
    parser.feed(value)
    parser.close()
    return "".join(parser.parts)


def strip_quoted(text: str) -> str:
    """The text before a reply's quoted history (kept whole if that would leave nothing)."""
    lines = text.split("\n")
    for i, line in enumerate(lines):
        if i == 0:
            continue
        if line.lstrip().startswith(">") or any(p.match(line) for p in QUOTE_STARTS):
            head = "\n".join(lines[:i]).strip()
            if head:
                return head
            break
    return "\n".join(line for line in lines if not line.lstrip().startswith(">")) or text


def strip_signature(text: str) -> str:
    """The text before the signature (a `-- ` line, `Sent from my …`, or a closing in the
    last few lines followed only by short lines such as a name)."""
    lines = text.rstrip().split("\n")
    for i, line in enumerate(lines):
        if i and any(p.match(line) for p in SIGNATURE_STARTS):
            return "\n".join(lines[:i]).rstrip()
    tail_start = max(1, len(lines) - 6)
    for i in range(tail_start, len(lines)):
        rest = lines[i + 1 :]
        if CLOSINGS.match(lines[i]) and all(len(r.strip()) <= 60 for r in rest):
            return "\n".join(lines[:i]).rstrip()
    return text


def clean(body: str) -> str:
    """What the customer wrote: HTML, quoted replies and signature removed, spaces tidied."""
    text = html_to_text(body).replace("\r\n", "\n").replace("\r", "\n")
    text = strip_quoted(text)
    text = strip_signature(text)
    text = "\n".join(_SPACES.sub(" ", line).strip() for line in text.split("\n"))
    return _BLANKS.sub("\n\n", text).strip()
