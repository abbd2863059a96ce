"""Backups and restores: thin viewsets over apps.backups.services."""

from __future__ import annotations

import re

from django.http import HttpResponse, StreamingHttpResponse
from django.utils.http import content_disposition_header
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import ValidationError
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response

from apps.accounts.permissions import GroupRolePermission
from apps.backups import anomaly, services
from apps.backups.api.filters import BackupFilter, DrillFilter
from apps.backups.api.serializers import (
    BackupSerializer,
    DeleteResultSerializer,
    DrillRequestSerializer,
    DrillSerializer,
    ManualBackupSerializer,
    RestoreAsNewRequestSerializer,
    RestoreRequestSerializer,
    RestoreSerializer,
    VerificationSerializer,
)
from apps.backups.models import Backup, Drill, Restore
from apps.common.filters import int_query_param
from apps.databases.models import Database

DOWNLOAD_CHUNK = 1 << 20
_RANGE = re.compile(r"^bytes=(\d*)-(\d*)$")
_TRUE = {"true", "1", "yes"}
_FALSE = {"false", "0", "no"}


class BackupViewSet(
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.DestroyModelMixin,
    viewsets.GenericViewSet,
):
    serializer_class = BackupSerializer
    permission_classes = [IsAuthenticated, GroupRolePermission]
    operator_actions = {"verify", "download", "restore", "restore_as_new", "drill", "accept_anomaly"}
    filterset_class = BackupFilter
    lookup_value_regex = r"\d+"

    def get_queryset(self):
        queryset = Backup.objects.visible_to(self.request.user).select_related("database")
        return queryset.prefetch_related("copies").order_by("-created_at", "-id")

    def group_id_of(self, obj) -> int:
        return obj.database.group_id

    @extend_schema(request=ManualBackupSerializer, responses={202: BackupSerializer})
    @action(detail=False, methods=["post"])
    def manual(self, request):
        serializer = ManualBackupSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        database_id = serializer.validated_data["database_id"]
        database = Database.objects.visible_to(request.user).filter(pk=database_id).first()
        if database is None:
            raise ValidationError({"database_id": [f"Database {database_id} does not exist."]})
        backup = services.request_manual_backup(database, request.user)
        return Response(BackupSerializer(backup).data, status=status.HTTP_202_ACCEPTED)

    @extend_schema(
        methods=["GET"],
        responses={200: VerificationSerializer, 404: OpenApiTypes.OBJECT},
        description="The latest verification of the backup.",
    )
    @extend_schema(
        methods=["POST"],
        request=None,
        responses={202: VerificationSerializer, 409: OpenApiTypes.OBJECT},
        description="Queue a verification of every saved copy; the worker runs it (or the one already queued).",
    )
    @action(detail=True, methods=["get", "post"])
    def verify(self, request, pk=None):
        backup = self.get_object()
        if request.method == "POST":
            try:
                verification = services.request_verification(backup, request.user)
            except services.BackupBusy as exc:
                return Response({"detail": str(exc)}, status=status.HTTP_409_CONFLICT)
            return Response(VerificationSerializer(verification).data, status=status.HTTP_202_ACCEPTED)
        verification = services.latest_verification(backup)
        if verification is None:
            return Response(
                {"detail": f"Backup #{backup.pk} has not been verified yet; POST to this URL to verify it."},
                status=status.HTTP_404_NOT_FOUND,
            )
        return Response(VerificationSerializer(verification).data)

    @extend_schema(
        parameters=[OpenApiParameter("destination_id", int)],
        responses={
            (200, "application/octet-stream"): OpenApiTypes.BINARY,
            (206, "application/octet-stream"): OpenApiTypes.BINARY,
        },
    )
    @action(detail=True, methods=["get"])
    def download(self, request, pk=None):
        backup = self.get_object()
        destination_id = int_query_param(request, "destination_id")
        try:
            copy, fh, size = services.open_copy_for_download(backup, destination_id)
        except services.NotAvailable as exc:
            return Response({"detail": str(exc)}, status=status.HTTP_404_NOT_FOUND)
        name = backup.file_name or copy.location.rsplit("/", 1)[-1]
        try:
            start, end = _parse_range(request.headers.get("Range"), size)
        except _Unsatisfiable:
            fh.close()
            response = HttpResponse(status=416)
            response["Content-Range"] = f"bytes */{size}"
            return response
        if start is None:
            response = StreamingHttpResponse(_stream(fh, 0, size), content_type="application/octet-stream")
            response["Content-Length"] = str(size)
        else:
            length = end - start + 1
            response = StreamingHttpResponse(
                _stream(fh, start, length), status=206, content_type="application/octet-stream"
            )
            response["Content-Length"] = str(length)
            response["Content-Range"] = f"bytes {start}-{end}/{size}"
        response["Content-Disposition"] = content_disposition_header(True, name)
        response["Accept-Ranges"] = "bytes"
        response["X-Checksum-Sha256"] = backup.checksum_sha256
        return response

    @extend_schema(
        parameters=[OpenApiParameter("delete_files", bool)],
        responses={204: None, 409: DeleteResultSerializer},
    )
    def destroy(self, request, *args, **kwargs):
        backup = self.get_object()
        delete_files = _bool_query_param(request, "delete_files", default=False)
        try:
            result = services.delete_backup(backup, delete_files)
        except services.BackupBusy as exc:
            return Response({"detail": str(exc)}, status=status.HTTP_409_CONFLICT)
        if result.deleted:
            return Response(status=status.HTTP_204_NO_CONTENT)
        return Response(
            {
                "detail": "Some files could not be deleted; the backup stays on record "
                "with the copies that remain.",
                "deleted": False,
                "results": result.results,
            },
            status=status.HTTP_409_CONFLICT,
        )

    @extend_schema(request=RestoreRequestSerializer, responses={202: RestoreSerializer})
    @action(detail=True, methods=["post"])
    def restore(self, request, pk=None):
        backup = self.get_object()
        serializer = RestoreRequestSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        target = Database.objects.filter(pk=data["target_database_id"]).first()
        if target is None:
            raise ValidationError(
                {"target_database_id": [f"Database {data['target_database_id']} does not exist."]}
            )
        restore = services.request_restore(
            backup,
            target,
            request.user,
            data["confirm"],
            identity=data.get("identity") or None,
            clean=data.get("clean", False),
        )
        return Response(RestoreSerializer(restore).data, status=status.HTTP_202_ACCEPTED)

    @extend_schema(
        request=RestoreAsNewRequestSerializer,
        responses={202: RestoreSerializer},
        description="Create a new database on the server of a registered one, register it in that "
        "database's group and restore the backup into it (nothing existing is replaced).",
    )
    @action(detail=True, methods=["post"], url_path="restore-as-new")
    def restore_as_new(self, request, pk=None):
        backup = self.get_object()
        serializer = RestoreAsNewRequestSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        server = Database.objects.visible_to(request.user).filter(pk=data["server_database_id"]).first()
        if server is None:
            raise ValidationError(
                {"server_database_id": [f"Database {data['server_database_id']} does not exist."]}
            )
        restore = services.request_restore_as_new(
            backup,
            server,
            request.user,
            name=data["name"],
            database_name=data["database_name"],
            identity=data.get("identity") or None,
        )
        return Response(RestoreSerializer(restore).data, status=status.HTTP_202_ACCEPTED)

    @extend_schema(request=DrillRequestSerializer, responses={202: DrillSerializer})
    @action(detail=True, methods=["post"])
    def drill(self, request, pk=None):
        backup = self.get_object()
        serializer = DrillRequestSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        target_id = serializer.validated_data["target_database_id"]
        target = Database.objects.visible_to(request.user).filter(pk=target_id).first()
        if target is None:
            raise ValidationError({"target_database_id": [f"Database {target_id} does not exist."]})
        drill = services.request_drill(backup, target, request.user)
        return Response(DrillSerializer(drill).data, status=status.HTTP_202_ACCEPTED)

    @extend_schema(request=None, responses={200: BackupSerializer})
    @action(detail=True, methods=["post"], url_path="accept-anomaly")
    def accept_anomaly(self, request, pk=None):
        backup = anomaly.accept(self.get_object())
        return Response(BackupSerializer(backup).data)


class DrillViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    serializer_class = DrillSerializer
    permission_classes = [IsAuthenticated, GroupRolePermission]
    filterset_class = DrillFilter
    lookup_value_regex = r"\d+"

    def get_queryset(self):
        return (
            Drill.objects.visible_to(self.request.user)
            .select_related("backup")
            .order_by("-created_at", "-id")
        )

    def group_id_of(self, obj) -> int:
        return obj.backup.database.group_id


class RestoreViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    serializer_class = RestoreSerializer
    permission_classes = [IsAuthenticated, GroupRolePermission]
    filter_backends: list = []
    lookup_value_regex = r"\d+"

    def get_queryset(self):
        return (
            Restore.objects.visible_to(self.request.user)
            .select_related("target_database")
            .order_by("-created_at", "-id")
        )

    def group_id_of(self, obj) -> int:
        return obj.target_database.group_id


class _Unsatisfiable(Exception):
    pass


def _parse_range(header: str | None, size: int) -> tuple[int | None, int | None]:
    """Return (start, end) of a single `bytes=a-b` range, or (None, None) to send everything.

    Several ranges or a malformed header are ignored (the whole file is sent,
    as RFC 9110 allows); a range outside the file raises _Unsatisfiable.
    """
    if not header:
        return None, None
    match = _RANGE.match(header.strip())
    if not match or match.groups() == ("", ""):
        return None, None
    first, last = match.groups()
    if first == "":
        length = int(last)
        if length == 0 or size == 0:
            raise _Unsatisfiable
        return max(0, size - length), size - 1
    start = int(first)
    end = int(last) if last else size - 1
    if start >= size or end < start:
        raise _Unsatisfiable
    return start, min(end, size - 1)


def _stream(fh, start: int, length: int):
    """Yield `length` bytes of fh from `start` in 1 MiB chunks; close fh at the end."""
    try:
        if start:
            fh.seek(start)
        remaining = length
        while remaining > 0:
            chunk = fh.read(min(DOWNLOAD_CHUNK, remaining))
            if not chunk:
                break
            remaining -= len(chunk)
            yield chunk
    finally:
        fh.close()


def _bool_query_param(request, name: str, default: bool) -> bool:
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return default
    value = raw.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ValidationError({name: [f"must be true or false, not {raw!r}"]})
