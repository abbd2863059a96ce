"""Serializer helpers shared by the apps' api/ packages."""

from __future__ import annotations

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
