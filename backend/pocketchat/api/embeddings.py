"""POST /v1/embeddings, OpenAI compatible: text in, L2-normalized vectors out, as floats or base64.

Texts are embedded as given (no "query: "/"passage: " prefix: an OpenAI client sends both kinds
through this one route); the knowledge base adds its preset's prefixes itself.
"""

from __future__ import annotations

import base64
import struct
from typing import Literal

from flask import Blueprint, Response
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from pocketchat.api.errors import APIError
from pocketchat.api.json_body import read_json
from pocketchat.api.responses import Embedding, EmbeddingList, EmbeddingUsage, json_response
from pocketchat.runtime import current_runtime

bp = Blueprint("embeddings", __name__)
# OpenAI's own limit on inputs per request; the body limit (MAX_BODY_BYTES) bounds their size.
MAX_INPUTS = 2048


class EmbeddingRequest(BaseModel):
    model_config = ConfigDict(strict=True, extra="ignore")

    input: str | list[str] = Field(
        description="A text or a list of texts (token arrays are not accepted); "
        "each is cut to the model's max tokens."
    )
    model: str | None = Field(None, description="Accepted and ignored: one embedder is served.")
    encoding_format: Literal["float", "base64"] = "float"
    dimensions: int | None = Field(
        None, ge=1, description="Must be the model's own dimensions if given (no shortening)."
    )
    user: str | None = None

    @property
    def texts(self) -> list[str]:
        return [self.input] if isinstance(self.input, str) else self.input


def parse_embedding_request(payload: object) -> EmbeddingRequest:
    if not isinstance(payload, dict):
        raise APIError(400, "the request body must be a JSON object", code="invalid_json")
    raw = payload.get("input")
    if isinstance(raw, list) and raw and all(isinstance(x, (int, list)) for x in raw):
        raise APIError(400, "input: token arrays are not supported; send text", param="input")
    try:
        body = EmbeddingRequest.model_validate(payload)
    except ValidationError as error:
        first = error.errors(include_url=False)[0]
        param = str(first["loc"][0]) if first["loc"] else None
        message = f"{param}: {first['msg']}" if param else first["msg"]
        raise APIError(400, message, param=param) from None
    texts = body.texts
    if not texts:
        raise APIError(400, "input: give at least one text", param="input")
    if len(texts) > MAX_INPUTS:
        raise APIError(400, f"input: at most {MAX_INPUTS} texts per request", param="input")
    if any(not text for text in texts):
        raise APIError(400, "input: texts must not be empty", param="input")
    return body


def _encode(vector: list[float], encoding_format: str) -> list[float] | str:
    if encoding_format == "float":
        return vector
    return base64.b64encode(struct.pack(f"<{len(vector)}f", *vector)).decode("ascii")


@bp.post("/v1/embeddings")
def create_embeddings() -> Response:
    runtime = current_runtime()
    body = parse_embedding_request(read_json())
    embedder = runtime.embedder
    if embedder is None:
        raise APIError(503, runtime.embedder_error or "no embedding model", code="no_embedder")
    if body.dimensions is not None and body.dimensions != embedder.dimensions:
        raise APIError(
            400,
            f"dimensions: this model gives {embedder.dimensions} dimensions only",
            param="dimensions",
        )
    embedded = embedder.embed(body.texts)
    data = [
        Embedding(object="embedding", index=index, embedding=_encode(vector, body.encoding_format))
        for index, vector in enumerate(embedded.vectors)
    ]
    usage = EmbeddingUsage(
        prompt_tokens=embedded.prompt_tokens, total_tokens=embedded.prompt_tokens
    )
    return json_response(
        EmbeddingList(object="list", data=data, model=embedder.model_id, usage=usage)
    )
