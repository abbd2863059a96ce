"""Model fields shared by the apps."""

from __future__ import annotations

from django.db import models

from apps.common import crypto

_PREFIX = "fernet:"


class EncryptedTextField(models.TextField):
    """A text field stored encrypted (MultiFernet); Python sees plaintext.

    Empty strings are stored as empty strings, so "no password" stays visible
    to queries without decrypting anything.
    """

    def from_db_value(self, value, expression, connection):
        if not value:
            return value
        if value.startswith(_PREFIX):
            return crypto.decrypt(value[len(_PREFIX) :])
        return value

    def get_prep_value(self, value):
        value = super().get_prep_value(value)
        if not value:
            return value or ""
        return _PREFIX + crypto.encrypt(value)
