"""Reading transcripts and notes from files: plain text or markdown, WebVTT (`.vtt`, voices
as speakers), SubRip (`.srt`) and Word (`.docx`). Every file is untrusted: size-limited,
decoded strictly, a Word file checked as a zip (entries, unpacked size, compression ratio,
no DTDs) before python-docx reads it; a file that cannot be read gets an error naming it and,
where it can, the line."""

from productops.research.transcripts.base import TranscriptError
from productops.research.transcripts.reader import (
    Transcript,
    Turn,
    read_transcript,
    to_markdown,
    turns_of,
)

__all__ = ["Transcript", "TranscriptError", "Turn", "read_transcript", "to_markdown", "turns_of"]
