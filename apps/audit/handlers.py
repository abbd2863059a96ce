"""The audit receivers: sign-ins, changes of the group-owned models, run requests and run ends.

Every door (pages, API, admin, commands) changes these models through their
services and the ORM, so listening to Django's signals records them all
without touching each door. Field values go into `detail` only from the
allow-list below: secrets (passwords, keys, identities, token hashes) never do;
that a secret changed is recorded by the field's name alone.
"""

from __future__ import annotations

from typing import Any

from django.apps import apps
from django.contrib.auth.signals import user_logged_in, user_logged_out, user_login_failed
from django.db.models.signals import post_delete, post_save, pre_save

from apps.audit.models import AuditEntry
from apps.audit.recorder import record
from apps.backups.lifecycle import run_finished

# model label -> (fields whose values may be recorded, secret fields recorded by name only,
#                 how to find the group id of an instance)
WATCHED: dict[str, tuple[tuple[str, ...], tuple[str, ...], object]] = {
    "groups.group": (("name", "description"), (), lambda o: o.pk),
    "accounts.membership": (("user_id", "role"), (), lambda o: o.group_id),
    "keys.groupkey": (("name", "recipient"), ("identity",), lambda o: o.group_id),
    "databases.database": (
        (
            "name",
            "engine",
            "host",
            "port",
            "database_name",
            "compression",
            "timeout_seconds",
            "encryption_key_id",
        ),
        ("password",),
        lambda o: o.group_id,
    ),
    "destinations.destination": (
        (
            "database_id",
            "name",
            "kind",
            "enabled",
            "path",
            "endpoint_url",
            "region",
            "bucket",
            "prefix",
            "path_style",
            "lock_mode",
            "lock_days",
            "host",
            "port",
        ),
        ("access_key_id", "secret_access_key", "password", "private_key"),
        lambda o: o.database.group_id,
    ),
    "schedules.schedule": (
        (
            "database_id",
            "name",
            "interval_value",
            "cron_expression",
            "timezone",
            "enabled",
            "keep_last",
            "keep_days",
            "keep_hourly",
            "keep_daily",
            "keep_weekly",
            "keep_monthly",
            "keep_yearly",
        ),
        (),
        lambda o: o.database.group_id,
    ),
    "notifications.notificationchannel": (
        ("kind", "events", "enabled"),
        ("secret", "target"),
        lambda o: o.group_id,
    ),
    # "Needs attention" acknowledgements on the dashboard: who saw which bad backup (and their note).
    "backups.acknowledgement": (
        ("backup_id", "acknowledged_by_id", "note"),
        (),
        lambda o: o.backup.database.group_id,
    ),
    # Added by the accounts work (tokens, invites, two-factor devices); watched when present.
    "accounts.apitoken": (("user_id", "name", "scope", "expires_at"), (), lambda o: None),
    "accounts.groupinvite": (("role", "expires_at", "revoked_at", "used_by_id"), (), lambda o: o.group_id),
    "otp_totp.totpdevice": (("user_id", "name", "confirmed"), ("key",), lambda o: None),
    "otp_static.staticdevice": (("user_id", "name", "confirmed"), (), lambda o: None),
}

# Runs: requests are creations, ends come from run_finished.
RUNS = {"backups.backup", "backups.restore", "backups.verification", "backups.drill"}
SUCCESSFUL = {"completed", "passed"}


def _label(sender) -> str:
    return sender._meta.label_lower


def _value(value):
    if value is None or isinstance(value, (bool, int, float, str, list, dict)):
        return value
    return str(value)


def _group_id(instance, finder) -> int | None:
    try:
        return finder(instance)
    except Exception:  # a parent already gone in a cascade
        return None


def _snapshot(instance, fields) -> dict:
    return {f: _value(getattr(instance, f, None)) for f in fields}


def before_save(sender, instance, raw=False, **kwargs) -> None:
    """Keep the stored values of the watched fields, to record what an update changed."""
    if raw or instance.pk is None:
        return
    fields, secrets, _ = WATCHED[_label(sender)]
    old = sender._default_manager.filter(pk=instance.pk).first()
    if old is not None:
        instance._audit_before = (_snapshot(old, fields), {s: getattr(old, s, None) for s in secrets})


def after_save(sender, instance, created=False, raw=False, **kwargs) -> None:
    if raw:
        return
    label = _label(sender)
    fields, secrets, finder = WATCHED[label]
    name = sender._meta.model_name
    now = _snapshot(instance, fields)
    detail: dict[str, Any]
    if created:
        detail = dict(now)
        if secrets:
            detail["secrets_set"] = [s for s in secrets if getattr(instance, s, None)]
        record(f"{name}.create", obj=instance, group_id=_group_id(instance, finder), detail=detail)
        return
    saved = getattr(instance, "_audit_before", None)
    before: dict[str, Any] = saved[0] if saved else {}
    old_secrets: dict[str, Any] = saved[1] if saved else {}
    instance.__dict__.pop("_audit_before", None)
    changed = {f: [before.get(f), v] for f, v in now.items() if before and before.get(f) != v}
    secrets_changed = [s for s in secrets if old_secrets and old_secrets.get(s) != getattr(instance, s, None)]
    if not changed and not secrets_changed:
        return  # a save that changed nothing recorded (e.g. the worker's bookkeeping)
    detail = {"changed": changed}
    if secrets_changed:
        detail["secrets_changed"] = secrets_changed
    record(f"{name}.update", obj=instance, group_id=_group_id(instance, finder), detail=detail)


def after_delete(sender, instance, **kwargs) -> None:
    fields, _, finder = WATCHED[_label(sender)]
    group_id = None if _label(sender) == "groups.group" else _group_id(instance, finder)
    detail = _snapshot(instance, fields)
    if _label(sender) == "groups.group":
        group_id = instance.pk  # the entry keeps the id (no constraint): superusers see it
    record(f"{sender._meta.model_name}.delete", obj=instance, group_id=group_id, detail=detail)


def _run_group_id(run) -> int | None:
    target = getattr(run, "target_database", None)
    if target is not None:
        return target.group_id
    backup = run if _label(type(run)) == "backups.backup" else getattr(run, "backup", None)
    return backup.database.group_id if backup is not None else None


def _run_detail(run) -> dict:
    detail = {"status": run.status}
    # A restore says whether it was clean (everything else dropped) or made a new database.
    for field in (
        "backup_id",
        "target_database_id",
        "database_id",
        "trigger",
        "clean_restore",
        "create_target",
    ):
        if hasattr(run, field):
            detail[field] = _value(getattr(run, field))
    return detail


def run_requested(sender, instance, created=False, raw=False, **kwargs) -> None:
    """A manual backup, a restore, a verification or a drill was queued: by whom."""
    if raw or not created:
        return
    if _label(sender) == "backups.backup" and instance.trigger != "manual":
        return
    requester = instance.requested_by
    record(
        f"{sender._meta.model_name}.request",
        obj=instance,
        group_id=_run_group_id(instance),
        detail=_run_detail(instance),
        actor=requester,
        actor_name=requester.get_username() if requester is not None else None,
    )


def backup_deleted(sender, instance, **kwargs) -> None:
    record(
        "backup.delete",
        obj=instance,
        group_id=_group_id(instance, lambda o: o.database.group_id),
        detail=_run_detail(instance),
    )


def run_ended(sender, run, **kwargs) -> None:
    """A run ended (finished, failed, interrupted): the outcome from its status."""
    requester = run.requested_by
    record(
        f"{run._meta.model_name}.finish",
        obj=run,
        group_id=_run_group_id(run),
        outcome=AuditEntry.Outcome.SUCCESS if run.status in SUCCESSFUL else AuditEntry.Outcome.FAILURE,
        detail={**_run_detail(run), "error": (run.error or "")[:500]},
        actor=requester,
        actor_name=requester.get_username() if requester is not None else "",
    )


def logged_in(sender, request, user, **kwargs) -> None:
    record("login", obj=user, object_type="user", actor=user, request=request)


def logged_out(sender, request, user, **kwargs) -> None:
    if user is not None:
        record("logout", obj=user, object_type="user", actor=user, request=request)


def login_failed(sender, credentials, request=None, **kwargs) -> None:
    # credentials holds the password: only the username is kept.
    username = str(credentials.get("username", ""))[:150]
    record(
        "login.fail",
        object_type="user",
        actor=None,
        actor_name=username,
        outcome=AuditEntry.Outcome.FAILURE,
        request=request,
    )


def _connect() -> None:
    for label in WATCHED:
        try:
            model = apps.get_model(label)
        except LookupError:
            continue  # that app or model is not installed here
        uid = f"audit:{label}"
        pre_save.connect(before_save, sender=model, dispatch_uid=uid + ":pre")
        post_save.connect(after_save, sender=model, dispatch_uid=uid + ":post")
        post_delete.connect(after_delete, sender=model, dispatch_uid=uid + ":delete")
    for label in RUNS:
        try:
            model = apps.get_model(label)
        except LookupError:
            continue
        post_save.connect(run_requested, sender=model, dispatch_uid=f"audit:{label}:request")
    post_delete.connect(
        backup_deleted, sender=apps.get_model("backups.backup"), dispatch_uid="audit:backup:delete"
    )
    run_finished.connect(run_ended, dispatch_uid="audit:run_finished")
    user_logged_in.connect(logged_in, dispatch_uid="audit:login")
    user_logged_out.connect(logged_out, dispatch_uid="audit:logout")
    user_login_failed.connect(login_failed, dispatch_uid="audit:login_failed")


_connect()
