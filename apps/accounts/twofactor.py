"""Two-factor sign-in with django-otp: a TOTP device and 10 single-use recovery codes.

Recovery codes live in django-otp's static device, hashed: the device's tokens are
the first 16 hex digits of sha256(code), and a code typed at sign-in is hashed the
same way before django-otp checks (and deletes) it. Both devices throttle wrong
codes themselves (django-otp's ThrottlingMixin).
"""

from __future__ import annotations

import hashlib
import secrets
from base64 import b32encode

import segno
from django.conf import settings
from django.db import transaction
from django_otp import user_has_device
from django_otp.oath import TOTP
from django_otp.plugins.otp_static.models import StaticDevice, StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice

RECOVERY_CODES = 10
_ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"  # no look-alikes (0/o, 1/l/i)


def has_device(user) -> bool:
    return bool(user and user.is_authenticated and user_has_device(user, confirmed=True))


def required() -> bool:
    """The superuser requires two-factor sign-in for everyone (BM_REQUIRE_2FA)."""
    return bool(getattr(settings, "BM_REQUIRE_2FA", False))


def _code_hash(code: str) -> str:
    normalised = "".join(code.lower().split()).replace("-", "")
    return hashlib.sha256(normalised.encode()).hexdigest()[:16]


def verify(user, code: str):
    """The device that accepts this code (a TOTP code or an unused recovery code), else None."""
    code = "".join((code or "").split())
    if not code or len(code) > 32:
        return None
    if code.isdigit():
        for device in TOTPDevice.objects.devices_for_user(user, confirmed=True):
            if device.verify_token(code):
                return device
        return None
    for device in StaticDevice.objects.devices_for_user(user, confirmed=True):
        if device.verify_token(_code_hash(code)):
            return device
    return None


def start_setup(user) -> TOTPDevice:
    """A new, unconfirmed TOTP device (any earlier unconfirmed one is dropped)."""
    TOTPDevice.objects.filter(user=user, confirmed=False).delete()
    return TOTPDevice.objects.create(user=user, name="Authenticator app", confirmed=False)


def pending_device(user) -> TOTPDevice | None:
    return TOTPDevice.objects.filter(user=user, confirmed=False).order_by("-id").first()


def secret_text(device: TOTPDevice) -> str:
    """The base32 secret, in groups of four, for typing into an app by hand."""
    raw = b32encode(device.bin_key).decode().rstrip("=")
    return " ".join(raw[i : i + 4] for i in range(0, len(raw), 4))


def qr_svg(device: TOTPDevice) -> str:
    """The otpauth:// URL as an inline SVG QR code (made here, no outside service)."""
    return segno.make(device.config_url, error="m").svg_inline(scale=4, dark="#111", light="#fff")


def confirm_setup(user, device: TOTPDevice, code: str) -> list[str] | None:
    """Confirm the device with a code from the app; return new recovery codes, or None if wrong."""
    code = "".join((code or "").split())
    if not code.isdigit() or not device.verify_token(code):
        return None
    with transaction.atomic():
        TOTPDevice.objects.filter(user=user, confirmed=True).exclude(pk=device.pk).delete()
        device.confirmed = True
        device.save(update_fields=["confirmed"])
        return new_recovery_codes(user)


def new_recovery_codes(user) -> list[str]:
    """Replace the user's recovery codes with 10 new ones, returned only now."""
    codes = [
        "-".join("".join(secrets.choice(_ALPHABET) for _ in range(5)) for _ in range(2))
        for _ in range(RECOVERY_CODES)
    ]
    with transaction.atomic():
        StaticDevice.objects.filter(user=user).delete()
        device = StaticDevice.objects.create(user=user, name="Recovery codes", confirmed=True)
        StaticToken.objects.bulk_create(StaticToken(device=device, token=_code_hash(c)) for c in codes)
    return codes


def recovery_codes_left(user) -> int:
    return StaticToken.objects.filter(device__user=user, device__confirmed=True).count()


def disable(user) -> None:
    with transaction.atomic():
        TOTPDevice.objects.filter(user=user).delete()
        StaticDevice.objects.filter(user=user).delete()


def current_totp(device: TOTPDevice) -> str:
    """The code the device expects now (for tests and the set-up check)."""
    totp = TOTP(device.bin_key, device.step, device.t0, device.digits, device.drift)
    return f"{totp.token():0{device.digits}d}"
