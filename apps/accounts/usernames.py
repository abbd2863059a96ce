"""One rule for usernames: registration (API and page), invites and the admin use it.

A username is normalised with NFKC, must be unique regardless of case, and may
not mix letters of several scripts (a Cyrillic "а" in "аdmin" passes for Latin).
"""

from __future__ import annotations

import unicodedata

from django.contrib.auth import get_user_model
from django.contrib.auth.validators import UnicodeUsernameValidator
from django.core.exceptions import ValidationError

MAX_LENGTH = 150


def _script(char: str) -> str | None:
    """The script of a letter, from its Unicode name (LATIN, CYRILLIC, GREEK, CJK, …); None otherwise."""
    if not char.isalpha():
        return None
    name = unicodedata.name(char, "")
    script = name.split(" ", 1)[0] if name else "UNKNOWN"
    # Japanese mixes these three on purpose.
    return "CJK" if script in {"HIRAGANA", "KATAKANA"} else script


def normalise(username: str) -> str:
    return unicodedata.normalize("NFKC", username or "").strip()


def clean_username(username: str, *, exclude_pk=None) -> str:
    """Return the normalised username, or raise ValidationError with every reason it is refused."""
    name = normalise(username)
    errors: list[str] = []
    if not name:
        raise ValidationError("Choose a username.", code="required")
    if len(name) > MAX_LENGTH:
        errors.append(f"Use at most {MAX_LENGTH} characters.")
    try:
        UnicodeUsernameValidator()(name)
    except ValidationError as exc:
        errors.extend(exc.messages)
    scripts = {s for s in map(_script, name) if s is not None}
    if len(scripts) > 1:
        errors.append(
            "Use letters of one script only: this name mixes "
            + " and ".join(sorted(s.title() for s in scripts))
            + " letters, which can look like another name."
        )
    if not errors:
        taken = get_user_model()._default_manager.filter(username__iexact=name)
        if exclude_pk is not None:
            taken = taken.exclude(pk=exclude_pk)
        if taken.exists():
            errors.append("That username is already taken.")
    if errors:
        raise ValidationError(errors, code="invalid")
    return name
