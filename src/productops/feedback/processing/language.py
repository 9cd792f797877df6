"""Language detection, offline: py3langid (BSD-3-Clause, a naive-Bayes model over byte
n-grams shipped in the package), limited to the languages customers commonly write in.
Texts too short or too mixed to tell give None."""

from __future__ import annotations

from functools import cache
from typing import Any

LANGUAGES = (
    "en", "de", "fr", "es", "pt", "it", "nl", "sv", "da", "no", "fi", "pl", "cs", "ro", "hu",
    "tr", "el", "ru", "uk", "ar", "he", "hi", "ja", "ko", "zh", "th", "vi", "id", "ms",
)  # fmt: skip
MIN_CONFIDENCE = 0.5
MIN_LETTERS = 8


@cache
def _identifier() -> Any:
    from py3langid.langid import MODEL_FILE, LanguageIdentifier

    ident = LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True)
    ident.set_languages(list(LANGUAGES))
    return ident


def detect(text: str) -> str | None:
    """The text's language (ISO 639-1), or None when it cannot be told."""
    if sum(ch.isalpha() for ch in text[:2000]) < MIN_LETTERS:
        return None
    lang, confidence = _identifier().classify(text[:2000])
    return str(lang) if confidence >= MIN_CONFIDENCE else None
