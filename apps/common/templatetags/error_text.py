"""`{% error_text message %}`: a whole error message, folded to its first line when it is longer.

Errors are never cut: the summary is the first line (shortened only when that line alone is
long), and opening the <details> shows every character the record holds.
"""

from __future__ import annotations

from django import template

register = template.Library()

# A first line longer than this is shortened in the summary; the whole text is one click away.
SUMMARY_LIMIT = 160


def fold(message: str | None) -> dict:
    """{"summary", "text", "folded"}: folded is True when the summary does not show all of text."""
    text = (message or "").strip()
    first = text.split("\n", 1)[0].strip()
    summary = first if len(first) <= SUMMARY_LIMIT else first[: SUMMARY_LIMIT - 1].rstrip() + "…"
    return {"summary": summary, "text": text, "folded": summary != text}


@register.inclusion_tag("includes/error_text.html")
def error_text(message: str | None, wide: bool = False) -> dict:
    return {**fold(message), "wide": wide}
