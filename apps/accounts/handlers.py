"""A password change or a deactivation revokes every JWT of the user (pages and admin alike)."""

from __future__ import annotations

from django.conf import settings
from django.db.models.signals import post_save, pre_save
from django.dispatch import receiver

from apps.accounts import tokens

_REVOKE = "_bm_revoke_tokens"


@receiver(pre_save, sender=settings.AUTH_USER_MODEL)
def _note_password_or_deactivation(sender, instance, **kwargs) -> None:
    if instance.pk is None or kwargs.get("raw"):
        return
    before = sender._default_manager.filter(pk=instance.pk).values("password", "is_active").first()
    if before is None:
        return
    if before["password"] != instance.password or (before["is_active"] and not instance.is_active):
        setattr(instance, _REVOKE, True)


@receiver(post_save, sender=settings.AUTH_USER_MODEL)
def _revoke_tokens(sender, instance, created, **kwargs) -> None:
    if getattr(instance, _REVOKE, False):
        setattr(instance, _REVOKE, False)
        tokens.revoke_all_tokens(instance)
