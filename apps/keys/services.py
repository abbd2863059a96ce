"""Encryption keys: create (generate or import), delete, and what backups and restores need.

The API, the group page and the admin call these; the backup runner calls
`recipients_for` and restores call `identities_for`.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import RestrictedError

from apps.common import age
from apps.keys.models import NAME_MAX, GroupKey


class KeyInUse(Exception):
    """The key cannot be deleted: databases encrypt their backups with it."""


@dataclass
class NewKey:
    """A key just made; `identity` is the generated secret key, to be shown once ("" when imported)."""

    key: GroupKey
    identity: str


def _clean_name(group, name: str) -> str:
    name = (name or "").strip()
    if not name:
        raise ValidationError({"name": "Enter a name for the key."})
    if len(name) > NAME_MAX:
        raise ValidationError({"name": f"Use at most {NAME_MAX} characters."})
    if GroupKey.objects.filter(group=group, name__iexact=name).exists():
        raise ValidationError({"name": f"This group already has a key named “{name}”."})
    return name


def create_key(group, name: str, *, recipient: str | None = None, keep_identity: bool = False) -> NewKey:
    """Generate a key pair, or import a public recipient when `recipient` is given.

    A generated secret key is returned once in NewKey.identity and stored (encrypted)
    only with keep_identity. Raises ValidationError with per-field messages.
    """
    name = _clean_name(group, name)
    if recipient is not None:
        if keep_identity:
            raise ValidationError({"keep_identity": "An imported recipient has no secret key here to keep."})
        try:
            recipient = age.parse_recipient(recipient)
        except age.AgeError as exc:
            raise ValidationError({"recipient": str(exc)}) from None
        identity = ""
    else:
        identity, recipient = age.generate_identity()
    key = GroupKey(group=group, name=name, recipient=recipient, identity=identity if keep_identity else "")
    key.full_clean(exclude=["group"])
    try:
        with transaction.atomic():
            key.save()
    except IntegrityError:  # a concurrent create with the same name
        raise ValidationError({"name": f"This group already has a key named “{name}”."}) from None
    return NewKey(key, identity)


def in_use_message(key: GroupKey, names: list[str]) -> str:
    shown = ", ".join(f"“{n}”" for n in names[:5]) + (" …" if len(names) > 5 else "")
    return (
        f"The key “{key.name}” encrypts the backups of {shown}: "
        "choose another key (or none) for them before deleting it."
    )


def delete_key(key: GroupKey) -> None:
    """Delete a key; raise KeyInUse (with a message naming the databases) while a database uses it."""
    names = list(key.databases.order_by("name").values_list("name", flat=True))
    if names:
        raise KeyInUse(in_use_message(key, names))
    try:
        key.delete()
    except RestrictedError:  # a database chose it meanwhile
        names = list(key.databases.order_by("name").values_list("name", flat=True))
        raise KeyInUse(in_use_message(key, names)) from None


def recipients_for(database) -> list[str] | None:
    """The age recipients a database's backups are encrypted to; None when it has no key."""
    if database.encryption_key_id is None:
        return None
    return [database.encryption_key.recipient]


def identities_for(group_id: int, recipient: str) -> list[str]:
    """The kept secret keys of a group that open files encrypted to `recipient` (maybe none)."""
    keys = GroupKey.objects.filter(group_id=group_id, recipient=recipient).exclude(identity="")
    return [key.identity for key in keys]


def clean_identity_for(text: str, recipient: str) -> str:
    """Return the canonical secret key in `text` if it opens files encrypted to `recipient`.

    For a restore request that brings its own key: a bad or wrong key is a clear
    ValidationError at request time, never a failed restore later.
    """
    try:
        identity = age.parse_identity(text or "")
        matches = age.recipient_of(identity) == recipient
    except age.AgeError as exc:
        raise ValidationError(str(exc)) from None
    if not matches:
        raise ValidationError(f"This secret key does not open this backup: it was encrypted to {recipient}.")
    return identity
