"""Atlassian Document Format (Jira Cloud's rich text, JSON) rendered as Markdown text.

The result is text to be shown escaped, never HTML: links keep only http(s) and mailto
targets, media become a placeholder, and unknown nodes give their text. Hostile documents
(deep nesting, huge node counts) are cut, not followed.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from productops.portfolio.connectors.parsing import as_dict, as_list

MAX_DEPTH = 60
MAX_CHARS = 200_000
SAFE_SCHEMES = ("http://", "https://", "mailto:")


def adf_to_markdown(doc: Any) -> str:
    """Markdown text of an ADF document (None or anything that is not a document gives "";
    a plain string is returned as it is, as Jira Server sends)."""
    if doc is None:
        return ""
    if isinstance(doc, str):
        return doc.strip()
    if not isinstance(doc, dict):
        return ""
    out = _Renderer().blocks(doc.get("content"), 0)
    text = "\n\n".join(b for b in out if b.strip()).strip()
    return text[:MAX_CHARS]


def _safe_href(href: Any) -> str | None:
    if isinstance(href, str) and href.strip().lower().startswith(SAFE_SCHEMES):
        return href.strip()
    return None


class _Renderer:
    def __init__(self) -> None:
        self.chars = 0

    def blocks(self, nodes: Any, depth: int) -> list[str]:
        if not isinstance(nodes, list) or depth > MAX_DEPTH:
            return []
        return [b for node in nodes for b in [self.block(node, depth)] if b is not None]

    def block(self, node: Any, depth: int) -> str | None:
        if not isinstance(node, dict):
            return None
        kind = node.get("type")
        attrs = as_dict(node.get("attrs"))
        content = node.get("content")
        if kind == "paragraph":
            return self.inline(content, depth)
        if kind == "heading":
            level = attrs.get("level", 1)
            level = level if isinstance(level, int) and 1 <= level <= 6 else 1
            return "#" * level + " " + self.inline(content, depth)
        if kind in ("bulletList", "orderedList", "taskList"):
            return self.list_block(node, depth)
        if kind == "codeBlock":
            lang = attrs.get("language") if isinstance(attrs.get("language"), str) else ""
            return f"```{lang}\n{self.plain(content, depth)}\n```"
        if kind == "blockquote":
            inner = "\n\n".join(self.blocks(content, depth + 1))
            return "\n".join("> " + line for line in inner.splitlines())
        if kind == "rule":
            return "---"
        if kind in ("mediaSingle", "mediaGroup", "media"):
            return "[attachment]"
        if kind == "table":
            return self.table(content, depth)
        if kind == "expand" or kind == "nestedExpand":
            title = attrs.get("title") if isinstance(attrs.get("title"), str) else ""
            inner = "\n\n".join(self.blocks(content, depth + 1))
            return (f"**{title}**\n\n" if title else "") + inner
        if kind == "blockCard" or kind == "embedCard":
            return _safe_href(attrs.get("url")) or ""
        if kind == "panel" or kind == "layoutSection" or kind == "layoutColumn":
            return "\n\n".join(self.blocks(content, depth + 1))
        if kind == "decisionList":
            return "\n".join(
                "- " + self.inline(item.get("content"), depth + 1)
                for item in (content or [])
                if isinstance(item, dict)
            )
        if isinstance(content, list):  # an unknown node: keep its text
            if any(isinstance(c, dict) and c.get("type") == "text" for c in content):
                return self.inline(content, depth)
            return "\n\n".join(self.blocks(content, depth + 1))
        return self.inline([node], depth) or None

    def list_block(self, node: dict[str, Any], depth: int) -> str:
        kind = node.get("type")
        lines: list[str] = []
        items = as_list(node.get("content"))
        attrs = as_dict(node.get("attrs"))
        start = attrs.get("order", 1)
        number = start if isinstance(start, int) else 1
        for item in items:
            if not isinstance(item, dict) or depth > MAX_DEPTH:
                continue
            if kind == "orderedList":
                marker = f"{number}. "
                number += 1
            elif kind == "taskList":
                done = isinstance(item.get("attrs"), dict) and item["attrs"].get("state") == "DONE"
                marker = "- [x] " if done else "- [ ] "
            else:
                marker = "- "
            if item.get("type") == "taskItem":
                body = self.inline(item.get("content"), depth + 1)
            else:
                body = "\n".join(self.blocks(item.get("content"), depth + 1))
            pad = " " * len(marker)
            first, *rest = body.splitlines() or [""]
            lines.append(marker + first)
            lines += [pad + line if line else line for line in rest]
        return "\n".join(lines)

    def table(self, rows: Any, depth: int) -> str:
        out: list[str] = []
        if not isinstance(rows, list):
            return ""
        for i, row in enumerate(rows):
            if not isinstance(row, dict) or not isinstance(row.get("content"), list):
                continue
            cells = [
                " ".join(self.blocks(cell.get("content"), depth + 1)).replace("|", "\\|")
                for cell in row["content"]
                if isinstance(cell, dict)
            ]
            out.append("| " + " | ".join(c.replace("\n", " ") for c in cells) + " |")
            if i == 0:
                out.append("|" + "---|" * len(cells))
        return "\n".join(out)

    def plain(self, nodes: Any, depth: int) -> str:
        if not isinstance(nodes, list):
            return ""
        parts = []
        for node in nodes:
            if isinstance(node, dict):
                if node.get("type") == "text" and isinstance(node.get("text"), str):
                    parts.append(node["text"])
                elif node.get("type") == "hardBreak":
                    parts.append("\n")
                elif depth < MAX_DEPTH:
                    parts.append(self.plain(node.get("content"), depth + 1))
        return "".join(parts)

    def inline(self, nodes: Any, depth: int) -> str:
        if not isinstance(nodes, list) or depth > MAX_DEPTH:
            return ""
        parts: list[str] = []
        for node in nodes:
            if not isinstance(node, dict):
                continue
            kind = node.get("type")
            attrs = as_dict(node.get("attrs"))
            if kind == "text" and isinstance(node.get("text"), str):
                parts.append(_marked(node["text"], node.get("marks")))
            elif kind == "hardBreak":
                parts.append("\n")
            elif kind == "mention":
                text = attrs.get("text")
                parts.append(
                    text
                    if isinstance(text, str) and text.startswith("@")
                    else f"@{text or 'someone'}"
                )
            elif kind == "emoji":
                text = attrs.get("text") or attrs.get("shortName") or ""
                parts.append(str(text))
            elif kind == "inlineCard":
                parts.append(_safe_href(attrs.get("url")) or "")
            elif kind == "status":
                parts.append(f"[{attrs.get('text', '')}]")
            elif kind == "date":
                parts.append(_date(attrs.get("timestamp")))
            elif kind in ("mediaInline", "media"):
                parts.append("[attachment]")
            elif isinstance(node.get("content"), list):
                parts.append(self.inline(node["content"], depth + 1))
        return "".join(parts)


def _date(timestamp: Any) -> str:
    try:
        return dt.datetime.fromtimestamp(int(timestamp) / 1000, dt.UTC).date().isoformat()
    except (TypeError, ValueError, OverflowError, OSError):
        return ""


def _marked(text: str, marks: Any) -> str:
    if not isinstance(marks, list) or not text.strip():
        return text
    href: str | None = None
    for mark in marks:
        if not isinstance(mark, dict):
            continue
        kind = mark.get("type")
        if kind == "strong":
            text = f"**{text}**"
        elif kind == "em":
            text = f"_{text}_"
        elif kind == "code":
            text = f"`{text}`"
        elif kind == "strike":
            text = f"~~{text}~~"
        elif kind == "link" and isinstance(mark.get("attrs"), dict):
            href = _safe_href(mark["attrs"].get("href"))
    if href is not None and href != text:
        text = f"[{text}]({href})"
    return text
