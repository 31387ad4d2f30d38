"""Caller numbers as agents see them: 13812345678 -> 138****5678."""

from __future__ import annotations


def mask_number(number: str | None) -> str:
    if not number:
        return ""
    if len(number) >= 8:
        return f"{number[:3]}****{number[-4:]}"
    if len(number) >= 4:
        return f"****{number[-2:]}"
    return "****"


def shown_number(number: str | None, full: bool) -> str:
    return (number or "") if full else mask_number(number)
