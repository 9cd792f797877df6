"""What every reader shares: the error naming the file and line."""

from __future__ import annotations

from productops.core.errors import InvalidInput


class TranscriptError(InvalidInput):
    """A transcript or document cannot be read; the message names the file (and line)."""

    def __init__(self, file: str, problem: str, line: int | None = None) -> None:
        where = f"{file}: line {line}" if line is not None else file
        super().__init__(f"{where}: {problem}")
        self.file = file
        self.line = line
