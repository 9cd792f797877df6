"""Word (.docx) files, read with python-docx after the zip itself is checked: a hostile file
(a zip bomb, thousands of entries, a DTD with entities) is refused before any XML is parsed."""

from __future__ import annotations

import io
import zipfile

from productops.research.transcripts.base import TranscriptError

MAX_ENTRIES = 2_000
MAX_RATIO = 100  # unpacked / packed, per entry of any size worth counting
_XML_PARTS = (".xml", ".rels")


def check_zip(data: bytes, file: str, max_unpacked: int) -> None:
    """Refuse what is not a zip, or would unpack past `max_unpacked` bytes, or inflates more
    than MAX_RATIO times, or carries a DTD (entity expansion)."""
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except (zipfile.BadZipFile, ValueError, OSError):
        raise TranscriptError(
            file, "is not a Word document (.docx is a zip file; this is not)"
        ) from None
    with archive:
        entries = archive.infolist()
        if len(entries) > MAX_ENTRIES:
            raise TranscriptError(
                file, f"has {len(entries):,} parts; a Word document has far fewer"
            )
        total = 0
        for entry in entries:
            total += entry.file_size
            if total > max_unpacked:
                raise TranscriptError(
                    file, f"unpacks to more than {max_unpacked:,} bytes (a zip bomb?)"
                )
            if entry.file_size > 1_000_000 and entry.file_size > MAX_RATIO * max(
                entry.compress_size, 1
            ):
                raise TranscriptError(
                    file,
                    f"part {entry.filename[:80]} inflates "
                    f"{entry.file_size // max(entry.compress_size, 1):,} times (a zip bomb?)",
                )
        if "word/document.xml" not in archive.namelist():
            raise TranscriptError(
                file, "is a zip file but not a Word document (no word/document.xml)"
            )
        for entry in entries:
            if not entry.filename.endswith(_XML_PARTS):
                continue
            try:
                head = archive.open(entry).read(4096)
            except (zipfile.BadZipFile, OSError, RuntimeError, EOFError):
                raise TranscriptError(file, f"part {entry.filename[:80]} is damaged") from None
            if b"<!DOCTYPE" in head.upper() or b"<!ENTITY" in head.upper():
                raise TranscriptError(file, f"part {entry.filename[:80]} declares a DTD; refused")


def docx_text(data: bytes, file: str, *, max_unpacked: int) -> str:
    """The paragraphs (and table cells) of a Word document as plain text, one per line."""
    check_zip(data, file, max_unpacked)
    import docx
    from docx.opc.exceptions import PackageNotFoundError

    try:
        document = docx.Document(io.BytesIO(data))
    except (PackageNotFoundError, KeyError, ValueError, zipfile.BadZipFile) as exc:
        raise TranscriptError(file, f"is not a Word document that can be read ({exc})") from None
    except Exception as exc:  # lxml's XMLSyntaxError and the like: the XML inside is broken
        raise TranscriptError(
            file, f"is a damaged Word document ({type(exc).__name__}: {str(exc)[:120]})"
        ) from None
    lines = [p.text for p in document.paragraphs]
    for table in document.tables:
        for row in table.rows:
            cells = [c.text.strip() for c in row.cells if c.text.strip()]
            if cells:
                lines.append(" | ".join(cells))
    return "\n".join(lines)
