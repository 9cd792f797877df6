"""Transcripts and documents are untrusted: each format is read into turns with speakers,
bad files get an error naming the file (and line), hostile Word files are refused before any
XML is parsed."""

from __future__ import annotations

import io
import zipfile

import docx
import pytest

from productops.research.transcripts import TranscriptError, read_transcript, to_markdown, turns_of

VTT = """WEBVTT

00:00:01.000 --> 00:00:04.000
<v Interviewer>How do you share reports?

00:00:05.000 --> 00:00:08.000
<v Ana Silva>We export to PDF,

00:00:08.000 --> 00:00:10.000
<v Ana Silva>and it <b>breaks</b> every week.
"""
SRT = """1
00:00:01,000 --> 00:00:03,000
Interviewer: How do you share reports?

2
00:00:04,000 --> 00:00:06,500
[Ana Silva] We export to PDF.
"""


def _docx(paragraphs: list[str]) -> bytes:
    d = docx.Document()
    for p in paragraphs:
        d.add_paragraph(p)
    buf = io.BytesIO()
    d.save(buf)
    return buf.getvalue()


def test_a_webvtt_transcript_keeps_voices_as_speakers_and_joins_their_cues() -> None:
    t = read_transcript("call.vtt", VTT.encode())
    assert [x.speaker for x in t.turns] == ["Interviewer", "Ana Silva"]
    assert t.turns[1].text == "We export to PDF, and it breaks every week."
    body = to_markdown(t)
    assert "**Ana Silva** (00:00:05): We export" in body
    assert [label for _, _, label in turns_of(body)] == ["Interviewer", "Ana Silva"]


def test_a_subrip_transcript_reads_bracketed_and_colon_speakers() -> None:
    t = read_transcript("call.srt", SRT.encode())
    assert [(x.speaker, x.text) for x in t.turns] == [
        ("Interviewer", "How do you share reports?"),
        ("Ana Silva", "We export to PDF."),
    ]


def test_plain_text_and_word_documents_find_speakers_by_name_and_colon() -> None:
    text = "Interviewer: Hello\nAna: I export.\nIt breaks.\n\nA note without speaker.\n"
    t = read_transcript("notes.txt", text.encode())
    assert [(x.speaker, x.text) for x in t.turns] == [
        ("Interviewer", "Hello"),
        ("Ana", "I export.\nIt breaks."),
        (None, "A note without speaker."),
    ]
    d = read_transcript("notes.docx", _docx(["Interviewer: Hello", "Ana: I export."]))
    assert d.kind == "docx" and d.speakers == ["Interviewer", "Ana"]


@pytest.mark.parametrize(
    ("name", "data", "says"),
    [
        ("x.pdf", b"%PDF", "is not a transcript"),
        ("x.txt", b"", "is empty"),
        ("x.txt", b"caf\xe9 au lait\n", "line 1: is not UTF-8"),
        ("x.txt", b"a\x00b", "NUL bytes"),
        ("x.vtt", b"not a vtt file", "is not a WebVTT file"),
        ("x.srt", b"nonsense here\n1\n00:00:01,000 --> 00:00:02,000\nhi\n", "x.srt: line 1"),
        ("x.docx", b"PK not really a zip", "is not a Word document"),
        ("x.docx", b"plain text pretending", "is not a Word document"),
    ],
)
def test_bad_files_get_an_error_naming_the_file(name: str, data: bytes, says: str) -> None:
    with pytest.raises(TranscriptError, match=says) as err:
        read_transcript(name, data)
    assert name in str(err.value)


def test_a_file_over_the_limit_is_refused() -> None:
    with pytest.raises(TranscriptError, match="the limit is 1,024"):
        read_transcript("big.txt", b"a: b\n" * 1000, max_bytes=1024)


def test_a_zip_that_is_not_a_word_document_is_refused() -> None:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("hello.txt", "hi")
    with pytest.raises(TranscriptError, match=r"no word/document\.xml"):
        read_transcript("x.docx", buf.getvalue())


def test_a_zip_bomb_is_refused_before_it_is_unpacked() -> None:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("word/document.xml", b"<a/>" + b" " * 30_000_000)
    data = buf.getvalue()
    assert len(data) < 100_000
    with pytest.raises(TranscriptError, match="zip bomb"):
        read_transcript("bomb.docx", data, max_unpacked=10_000_000)
    with pytest.raises(TranscriptError, match="inflates"):
        read_transcript("bomb.docx", data, max_unpacked=100_000_000)


def test_a_word_document_with_a_dtd_is_refused() -> None:
    good = _docx(["Ana: hi"])
    src = zipfile.ZipFile(io.BytesIO(good))
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        for item in src.infolist():
            data = src.read(item)
            if item.filename == "word/document.xml":
                data = data.replace(
                    b"?>",
                    b'?><!DOCTYPE w [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;">]>',
                    1,
                )
            z.writestr(item, data)
    with pytest.raises(TranscriptError, match="declares a DTD"):
        read_transcript("evil.docx", buf.getvalue())


def test_a_damaged_word_document_gets_a_clear_error() -> None:
    good = _docx(["Ana: hi"])
    src = zipfile.ZipFile(io.BytesIO(good))
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        for item in src.infolist():
            data = src.read(item)
            if item.filename == "word/document.xml":
                data = data[: len(data) // 2]
            z.writestr(item, data)
    with pytest.raises(TranscriptError, match=r"evil\.docx: is a damaged Word document"):
        read_transcript("evil.docx", buf.getvalue())
