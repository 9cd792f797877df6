"""Optional PII redaction (`[feedback] redact_pii`): email addresses, phone numbers, card
numbers (Luhn-checked) and IBANs in the text become `[email]`, `[phone]`, `[card]`,
`[iban]` before the item is stored, searched or embedded."""

from __future__ import annotations

import re

EMAIL = re.compile(r"[A-Za-z0-9._%+-]{1,64}@[A-Za-z0-9.-]{1,255}\.[A-Za-z]{2,63}")
CARD = re.compile(r"\b(?:\d[ -]?){13,19}\b")
IBAN = re.compile(r"\b[A-Z]{2}\d{2}(?: ?[A-Z0-9]{4}){2,7}(?: ?[A-Z0-9]{1,4})?\b")
PHONE = re.compile(r"(?<![\w+])\+?\(?\d{1,4}\)?(?:[ .-]?\(?\d{2,4}\)?){2,5}(?!\w)")


def _luhn(digits: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch)
        if i % 2:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


def _card(match: re.Match[str]) -> str:
    digits = re.sub(r"\D", "", match.group(0))
    return "[card]" if 13 <= len(digits) <= 19 and _luhn(digits) else match.group(0)


def _phone(match: re.Match[str]) -> str:
    digits = re.sub(r"\D", "", match.group(0))
    return "[phone]" if 7 <= len(digits) <= 15 else match.group(0)


def redact(text: str) -> str:
    """`text` with contact and payment details replaced by placeholders."""
    text = EMAIL.sub("[email]", text)
    text = IBAN.sub("[iban]", text)
    text = CARD.sub(_card, text)
    return PHONE.sub(_phone, text)
