"""Why a chat completion was refused; the API maps each to its HTTP status in one place."""

from __future__ import annotations


class ChatRefused(Exception):
    """The base: the message is one sentence for the client."""


class ContextTooLong(ChatRefused):
    """The conversation cannot fit N_CTX under the request's context_overflow mode; `param`
    names the request field at fault, when there is one."""

    def __init__(self, message: str, param: str | None = None) -> None:
        super().__init__(message)
        self.param = param


class ServerBusy(ChatRefused):
    """Every slot is busy and MAX_QUEUE requests are already waiting."""


class ShuttingDown(ChatRefused):
    """The server stops and takes no new work."""


class NoSuchRun(ChatRefused):
    """No running completion has this id."""


class KnowledgeUnavailable(ChatRefused):
    """The request asks for documents, and this server has no knowledge base (no embedder)."""


class NoSuchVectorStore(ChatRefused):
    """A vector store the request names does not exist."""


class InvalidField(ChatRefused):
    """A request field this model cannot honour (a JSON schema keyword the grammar cannot
    enforce, a token id outside the vocabulary); `param` names it, `code` says which kind."""

    def __init__(self, message: str, param: str, code: str) -> None:
        super().__init__(message)
        self.param = param
        self.code = code
