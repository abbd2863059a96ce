"""Account operations shared by the web UI and the API."""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.validators import validate_email
from django.db import IntegrityError, transaction

from apps.accounts import usernames


class RegistrationClosed(PermissionDenied):
    """Sign-up is closed: a refusal (403), not bad input."""

    message = "Registration is closed on this server. Ask an administrator for an account."

    def __init__(self):
        super().__init__(self.message)


def registration_open() -> bool:
    """Return True if a new user may sign up: always for the first user, else per settings."""
    User = get_user_model()
    return not User.objects.exists() or bool(getattr(settings, "BM_ALLOW_REGISTRATION", False))


def register_user(username: str, password: str, email: str = "", *, invited: bool = False):
    """Create and return a user; the first user ever becomes a superuser.

    Raises RegistrationClosed when sign-up is closed (unless `invited`: a valid group
    invite allows one account), and ValidationError (with a dict of field -> messages)
    when the username is refused (apps.accounts.usernames), the email is malformed,
    or the password fails the configured validators.
    """
    User = get_user_model()
    email = (email or "").strip()
    errors: dict[str, list[str]] = {}

    if not invited and not registration_open():
        raise RegistrationClosed

    try:
        username = usernames.clean_username(username)
    except ValidationError as exc:
        errors["username"] = exc.messages
        username = usernames.normalise(username)
    if email:
        try:
            validate_email(email)
        except ValidationError:
            errors.setdefault("email", []).append("Enter a valid email address.")
    if not password:
        errors.setdefault("password", []).append("Choose a password.")
    else:
        try:
            validate_password(password, User(username=username, email=email))
        except ValidationError as exc:
            errors.setdefault("password", []).extend(exc.messages)
    if errors:
        raise ValidationError(errors)

    try:
        with transaction.atomic():
            # Decided inside the transaction so two simultaneous first sign-ups
            # cannot both become superusers on databases that serialise writes.
            first = not User.objects.exists()
            if first:
                return User.objects.create_superuser(username, email, password)
            return User.objects.create_user(username, email, password)
    except IntegrityError:
        raise ValidationError({"username": ["That username is already taken."]}) from None
