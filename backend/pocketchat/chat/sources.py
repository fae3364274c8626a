"""Retrieval for a chat turn: the query from the conversation, and passages as prompt references."""

from __future__ import annotations

from collections.abc import Sequence

from pocketchat.chat.errors import NoSuchVectorStore
from pocketchat.chat.request import KnowledgeQuery
from pocketchat.context.prompt import Message
from pocketchat.context.references import Reference
from pocketchat.knowledge.service import KnowledgeBase, Passage
from pocketchat.knowledge.store import NotFound

# A follow-up as short as "and for Shanghai?" says little alone: the turn before it joins the
# query (the conversation's gist, cheaply).
SHORT_QUESTION_CHARS = 40


def search_query(messages: Sequence[Message]) -> str:
    questions = [m.content.strip() for m in messages if m.role == "user" and m.content.strip()]
    if not questions:
        return ""
    if len(questions[-1]) < SHORT_QUESTION_CHARS and len(questions) > 1:
        return f"{questions[-2]}\n{questions[-1]}"
    return questions[-1]


def retrieve(
    knowledge: KnowledgeBase, query: KnowledgeQuery, messages: Sequence[Message]
) -> list[Passage]:
    try:
        return knowledge.passages(query.vector_store_ids, search_query(messages), query.max_results)
    except NotFound as error:
        raise NoSuchVectorStore(str(error)) from None


def source_label(passage: Passage) -> str:
    hit = passage.hit
    parts = [hit.filename]
    if hit.page is not None:
        parts.append(f"p. {hit.page}")
    if hit.heading:
        parts.append(hit.heading)
    return ", ".join(parts)


def references(passages: Sequence[Passage]) -> list[Reference]:
    return [Reference(p.number, source_label(p), p.hit.text) for p in passages]
