"""DRF glue shared by every app's api/ package."""

from __future__ import annotations

from django.core.exceptions import ObjectDoesNotExist
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import IntegrityError
from rest_framework import exceptions, status
from rest_framework.pagination import LimitOffsetPagination
from rest_framework.response import Response
from rest_framework.routers import SimpleRouter
from rest_framework.views import exception_handler as drf_exception_handler

from apps.common.filters import parse_id


class Pagination(LimitOffsetPagination):
    """`?limit=&offset=` pagination that also understands `?page=`."""

    default_limit = 50
    max_limit = 500

    def get_offset(self, request):
        # Offsets past a 64-bit integer would overflow in the database: refuse them as bad input.
        if "offset" in request.query_params:
            raw = request.query_params["offset"]
            if raw not in ("", "0") and parse_id(raw) is None:
                raise exceptions.ValidationError({"offset": "must be a non-negative integer"})
            return super().get_offset(request)
        if "page" in request.query_params:
            page = parse_id(request.query_params["page"])
            if page is None:
                raise exceptions.ValidationError({"page": "must be a positive integer"})
            return (page - 1) * self.get_limit(request)
        return super().get_offset(request)


def exception_handler(exc, context):
    """DRF's handler, plus: Django validation errors become 400, refusals 403 and missing rows 404."""
    if isinstance(exc, DjangoValidationError):
        detail = exc.message_dict if hasattr(exc, "error_dict") else {"detail": " ".join(exc.messages)}
        return Response(detail, status=status.HTTP_400_BAD_REQUEST)
    if isinstance(exc, DjangoPermissionDenied) and exc.args:
        # A refusal that explains itself (e.g. sign-up closed): keep its words.
        return Response({"detail": str(exc)}, status=status.HTTP_403_FORBIDDEN)
    if isinstance(exc, ObjectDoesNotExist):
        return Response({"detail": "Not found."}, status=status.HTTP_404_NOT_FOUND)
    if isinstance(exc, IntegrityError):
        # A concurrent request won a uniqueness race that validation had already checked.
        return Response(
            {"detail": "This conflicts with an existing record; reload and try again."},
            status=status.HTTP_409_CONFLICT,
        )
    return drf_exception_handler(exc, context)


class OptionalSlashRouter(SimpleRouter):
    """A router whose routes answer with or without the trailing slash (the seed's clients use both)."""

    def __init__(self):
        super().__init__()
        self.trailing_slash = "/?"

    def get_urls(self):
        # With an empty prefix DRF turns "^/?$" into "^?$"; the list route is just "^$".
        urls = super().get_urls()
        for url in urls:
            if str(url.pattern) == "^?$":
                url.pattern = type(url.pattern)("^$", name=url.pattern.name, is_endpoint=True)
        return urls
