"""Serializer helpers shared by the apps' api/ packages."""

from __future__ import annotations

import copy

from django.core.exceptions import NON_FIELD_ERRORS
from django.core.exceptions import ValidationError as DjangoValidationError
from rest_framework import serializers


class StrictSerializerMixin:
    """Reject fields the serializer does not know, naming them, instead of ignoring them."""

    def to_internal_value(self, data):
        if hasattr(data, "keys"):
            writable = {name for name, field in self.fields.items() if not field.read_only}
            unknown = sorted(str(key) for key in data.keys() if key not in writable)
            if unknown:
                raise serializers.ValidationError({name: ["Unknown field."] for name in unknown})
        elif data is not None and not isinstance(data, dict):
            raise serializers.ValidationError({"non_field_errors": ["Expected a JSON object."]})
        return super().to_internal_value(data)


class ValidatedModelSerializer(StrictSerializerMixin, serializers.ModelSerializer):
    """A ModelSerializer that runs the model's full_clean() on what it would save (as NetBox's does).

    So the API accepts nothing the model (its clean(), field validators and constraints)
    refuses, with the model's own messages. `model_validation_exclude` names fields the
    model must not check (e.g. those a request does not save).
    """

    model_validation_exclude: tuple[str, ...] = ()

    def validate(self, attrs):
        attrs = super().validate(attrs)
        model = self.Meta.model
        names = {f.attname for f in model._meta.concrete_fields} | {
            f.name for f in model._meta.concrete_fields
        }
        values = {key: value for key, value in attrs.items() if key in names}
        original = self.instance if self.instance is not None else model()
        instance = copy.copy(original)
        for key, value in values.items():
            setattr(instance, key, value)
        try:
            instance.full_clean(exclude=list(self.model_validation_exclude))
        except DjangoValidationError as exc:
            raise serializers.ValidationError(_as_serializer_errors(exc)) from None
        # clean() may settle values (e.g. a preset's cron expression): save what the model checked.
        writable = {field.source for field in self.fields.values() if not field.read_only}
        for name in writable & names:
            if name in attrs or getattr(instance, name) != getattr(original, name):
                attrs[name] = getattr(instance, name)
        return attrs


def _as_serializer_errors(exc: DjangoValidationError):
    if not hasattr(exc, "error_dict"):
        return {"non_field_errors": exc.messages}
    errors = exc.message_dict
    if NON_FIELD_ERRORS in errors:
        errors["non_field_errors"] = errors.pop(NON_FIELD_ERRORS)
    return errors
