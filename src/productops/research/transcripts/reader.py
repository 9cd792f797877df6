"""One entry point, `read_transcript(name, data)`, for every kind of file, and the markdown a
transcript is stored as: one paragraph per turn, `**Speaker** (hh:mm:ss): words`."""

from __future__ import annotations

import codecs
import re
from dataclasses import dataclass, field
from pathlib import PurePath

from productops.research.transcripts.base import TranscriptError

DEFAULT_MAX_BYTES = 10 * 1024 * 1024
DEFAULT_MAX_UNPACKED = 50 * 1024 * 1024
KINDS = {".txt": "txt", ".md": "md", ".markdown": "md", ".vtt": "vtt", ".srt": "srt"}
KINDS[".docx"] = "docx"
MAX_LABEL = 60
# "Ana Silva: words", "Interviewer: words", "[00:01:02] Ana: words", "- Ana: words"
_SPOKEN = re.compile(
    r"^\s*(?:-\s*)?(?:\[?(?P<time>\d{1,2}:\d{2}(?::\d{2})?(?:[.,]\d+)?)\]?\s*)?"
    r"(?P<label>[A-Z\u00C0-\u024F][\w .'\u00C0-\u024F-]{0,58}?)\s*:\s+(?P<text>\S.*)$"
)
# How a stored transcript writes a turn (see `to_markdown`).
_TURN = re.compile(
    r"^\*\*(?P<label>[^*\n]{1,200})\*\*(?: \((?P<time>\d{2}:\d{2}:\d{2})\))?: ", re.MULTILINE
)


@dataclass(frozen=True)
class Turn:
    """Words one speaker said (speaker None: narration or notes without a speaker)."""

    speaker: str | None
    text: str
    start_seconds: float | None = None


@dataclass(frozen=True)
class Transcript:
    kind: str  # txt, md, vtt, srt, docx
    turns: list[Turn] = field(default_factory=list)

    @property
    def speakers(self) -> list[str]:
        seen: dict[str, None] = {}
        for t in self.turns:
            if t.speaker:
                seen.setdefault(t.speaker, None)
        return list(seen)


def kind_of(name: str) -> str:
    suffix = PurePath(name).suffix.lower()
    if suffix not in KINDS:
        raise TranscriptError(
            name,
            f"'{suffix or 'no extension'}' is not a transcript: use .txt, .md, .vtt, .srt or .docx",
        )
    return KINDS[suffix]


def decode(data: bytes, file: str) -> str:
    """Text of a file: UTF-8 (with or without a BOM) or UTF-16 with a BOM; NUL bytes refused."""
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        try:
            text = data.decode("utf-16")
        except UnicodeDecodeError as exc:
            raise TranscriptError(
                file, f"the file says UTF-16 but byte {exc.start} is not"
            ) from None
    else:
        try:
            text = data.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            line = data[: exc.start].count(b"\n") + 1
            raise TranscriptError(
                file, f"is not UTF-8 text (byte {exc.start}); save it as UTF-8", line=line
            ) from None
    if "\x00" in text:
        raise TranscriptError(file, "holds NUL bytes: it is not a text file")
    return text.replace("\r\n", "\n").replace("\r", "\n")


def clean_label(label: str) -> str:
    """A speaker label as stored: one line, no markdown emphasis, at most 200 characters."""
    return " ".join(label.replace("*", "").split())[:200]


def plain_turns(text: str) -> list[Turn]:
    """Turns of plain text: lines `Name: words` start a turn; other lines continue it; a blank
    line ends a paragraph without a speaker."""
    turns: list[Turn] = []
    speaker: str | None = None
    start: float | None = None
    words: list[str] = []

    def flush() -> None:
        nonlocal words
        body = "\n".join(words).strip()
        if body:
            turns.append(Turn(speaker, body, start))
        words = []

    for line in text.split("\n"):
        m = _SPOKEN.match(line)
        if m and len(m.group("label").split()) <= 4 and not m.group("label").endswith(" "):
            flush()
            speaker = clean_label(m.group("label"))
            start = _seconds(m.group("time")) if m.group("time") else None
            words = [m.group("text").strip()]
        elif not line.strip():
            flush()
            speaker, start = None, None
        else:
            words.append(line.rstrip())
    flush()
    return turns


def _seconds(stamp: str) -> float:
    parts = [float(p.replace(",", ".")) for p in stamp.split(":")]
    total = 0.0
    for p in parts:
        total = total * 60 + p
    return total


def _merge(turns: list[Turn]) -> list[Turn]:
    """Consecutive cues of one speaker become one turn (subtitles cut sentences in pieces)."""
    out: list[Turn] = []
    for t in turns:
        if out and t.speaker is not None and out[-1].speaker == t.speaker:
            prev = out[-1]
            out[-1] = Turn(prev.speaker, f"{prev.text} {t.text}", prev.start_seconds)
        else:
            out.append(t)
    return out


def read_vtt(text: str, file: str) -> list[Turn]:
    import webvtt
    from webvtt.errors import MalformedCaptionError, MalformedFileError

    try:
        captions = webvtt.WebVTT.from_string(text).captions
    except (MalformedFileError, MalformedCaptionError) as exc:
        raise TranscriptError(file, f"is not a WebVTT file that can be read ({exc})") from None
    except (ValueError, IndexError) as exc:
        raise TranscriptError(file, f"is not a WebVTT file that can be read ({exc})") from None
    turns = []
    for c in captions:
        words = " ".join(c.text.split())
        if not words:
            continue
        speaker = clean_label(c.voice) if c.voice else None
        if speaker is None:
            spoken = plain_turns(words)
            if len(spoken) == 1 and spoken[0].speaker:
                speaker, words = spoken[0].speaker, spoken[0].text
        turns.append(Turn(speaker, words, float(c.start_in_seconds)))
    return _merge(turns)


def read_srt(text: str, file: str) -> list[Turn]:
    import srt

    try:
        subtitles = list(srt.parse(text, ignore_errors=False))
    except srt.SRTParseError as exc:
        line = text[: exc.actual_start].count("\n") + 1
        raise TranscriptError(file, "is not a SubRip file that can be read", line=line) from None
    except (ValueError, TypeError) as exc:
        raise TranscriptError(file, f"is not a SubRip file that can be read ({exc})") from None
    turns = []
    for sub in subtitles:
        words = " ".join(re.sub(r"<[^>]{0,200}>", "", sub.content).split())
        if not words:
            continue
        speaker = None
        m = re.match(r"^\[(?P<label>[^\]]{1,60})\]\s*(?P<text>.+)$", words)
        if m:
            speaker, words = clean_label(m.group("label")), m.group("text")
        else:
            spoken = plain_turns(words)
            if len(spoken) == 1 and spoken[0].speaker:
                speaker, words = spoken[0].speaker, spoken[0].text
        turns.append(Turn(speaker, words, sub.start.total_seconds()))
    return _merge(turns)


def read_transcript(
    name: str,
    data: bytes,
    *,
    max_bytes: int = DEFAULT_MAX_BYTES,
    max_unpacked: int = DEFAULT_MAX_UNPACKED,
) -> Transcript:
    """The turns of a transcript or notes file, by its extension. Bad input raises
    TranscriptError naming the file (and the line where one is known)."""
    file = PurePath(name).name[:200] or "upload"
    kind = kind_of(file)
    if len(data) > max_bytes:
        raise TranscriptError(file, f"is {len(data):,} bytes; the limit is {max_bytes:,}")
    if not data.strip():
        raise TranscriptError(file, "is empty")
    if kind == "docx":
        from productops.research.transcripts.docx import docx_text

        text = docx_text(data, file, max_unpacked=max_unpacked)
        turns = plain_turns(text)
    else:
        text = decode(data, file)
        if kind == "vtt":
            turns = read_vtt(text, file)
        elif kind == "srt":
            turns = read_srt(text, file)
        else:
            turns = plain_turns(text)
    if not turns:
        raise TranscriptError(file, "holds no words")
    return Transcript(kind, turns)


def _stamp(seconds: float) -> str:
    s = int(seconds)
    return f"{s // 3600:02d}:{s % 3600 // 60:02d}:{s % 60:02d}"


def to_markdown(transcript: Transcript) -> str:
    """The transcript as the markdown a note keeps: a paragraph per turn."""
    parts = []
    for t in transcript.turns:
        text = t.text.strip()
        if t.speaker:
            when = f" ({_stamp(t.start_seconds)})" if t.start_seconds is not None else ""
            parts.append(f"**{t.speaker}**{when}: {text}")
        else:
            parts.append(text)
    return "\n\n".join(parts) + "\n"


def turns_of(body: str) -> list[tuple[int, int, str]]:
    """(start, end, speaker label) of each turn in a stored note body: where each
    `**Label**: ` paragraph starts and where the next begins."""
    found = [(m.start(), m.group("label")) for m in _TURN.finditer(body)]
    out = []
    for i, (start, label) in enumerate(found):
        end = found[i + 1][0] if i + 1 < len(found) else len(body)
        out.append((start, end, label))
    return out
