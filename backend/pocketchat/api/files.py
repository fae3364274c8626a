"""/v1/files: documents uploaded for the knowledge base (multipart, purpose `assistants`)."""

from __future__ import annotations

from flask import Blueprint, Response, request

from pocketchat.api.errors import APIError
from pocketchat.api.knowledge_schemas import Deleted, FileList, FileObject
from pocketchat.api.responses import json_response
from pocketchat.chat.errors import KnowledgeUnavailable
from pocketchat.knowledge.service import KnowledgeBase
from pocketchat.knowledge.store import FileRecord
from pocketchat.runtime import current_runtime

bp = Blueprint("files", __name__)
PURPOSES = ("assistants", "user_data")
# The multipart envelope around the file: field names, boundaries, the purpose.
MULTIPART_OVERHEAD = 64 * 1024


def knowledge_base() -> KnowledgeBase:
    runtime = current_runtime()
    if runtime.knowledge is None:
        raise KnowledgeUnavailable(f"this server has no knowledge base: {runtime.knowledge_error}")
    return runtime.knowledge


def file_object(record: FileRecord) -> FileObject:
    return FileObject(
        id=record.id,
        object="file",
        bytes=record.bytes,
        created_at=record.created_at,
        filename=record.filename,
        purpose=record.purpose,
        status="processed",
    )


@bp.post("/v1/files")
def upload_file() -> Response:
    knowledge = knowledge_base()
    # The JSON routes' MAX_BODY_BYTES is far too small for documents.
    request.max_content_length = knowledge.max_upload_bytes + MULTIPART_OVERHEAD
    if not (request.mimetype or "").startswith("multipart/form-data"):
        raise APIError(415, "upload the file as multipart/form-data (fields `file`, `purpose`)")
    upload = request.files.get("file")
    if upload is None:
        raise APIError(400, "the form has no `file` field", param="file")
    purpose = request.form.get("purpose", "assistants")
    if purpose not in PURPOSES:
        raise APIError(
            400, f"purpose must be one of {', '.join(PURPOSES)}, not {purpose!r}", param="purpose"
        )
    data = upload.stream.read(knowledge.max_upload_bytes + 1)
    record = knowledge.upload(upload.filename or "", data, purpose)
    return json_response(file_object(record))


@bp.get("/v1/files")
def list_files() -> Response:
    records = knowledge_base().store.list_files()
    return json_response(
        FileList(object="list", data=[file_object(r) for r in records], has_more=False)
    )


@bp.get("/v1/files/<file_id>")
def get_file(file_id: str) -> Response:
    return json_response(file_object(knowledge_base().store.get_file(file_id)))


@bp.delete("/v1/files/<file_id>")
def delete_file(file_id: str) -> Response:
    knowledge_base().store.delete_file(file_id)
    return json_response(Deleted(id=file_id, object="file", deleted=True))
