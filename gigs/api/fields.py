"""Serializer fields shared by the JSON APIs (gigs' and the apps built on it)."""

from rest_framework import serializers


class StrictIntegerField(serializers.IntegerField):
    """An integer that is sent as a JSON integer: DRF's IntegerField would take "10" and 12.0,
    and silently turn True into 1. For JSON bodies only (query parameters are always strings)."""

    def to_internal_value(self, data):
        if isinstance(data, bool) or not isinstance(data, int):
            self.fail("invalid")
        return super().to_internal_value(data)
