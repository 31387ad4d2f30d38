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


# AMI fields that carry a caller number whatever form it takes (+86..., 0...).
NUMBER_FIELDS = frozenset({"CallerIDNum", "ConnectedLineNum", "caller_number", "number", "phone"})


def redact(text: str | None, number: str | None, full: bool) -> str:
    """``text`` with the caller's full number masked wherever it appears, for viewers who may not see it: a caller
    may say it, and Asterisk puts it in CallerIDNum and in trunk channel names."""
    text = "" if text is None else str(text)
    if full or not number or len(number) < 4:
        return text
    return text.replace(number, mask_number(number))


def redact_fields(data: dict | None, number: str | None, full: bool) -> dict[str, str]:
    """An event's data as shown: number fields masked whole, the caller's number masked inside any other value."""
    return {str(k): mask_number(str(v)) if not full and k in NUMBER_FIELDS and v else redact(v, number, full)
            for k, v in (data or {}).items()}
