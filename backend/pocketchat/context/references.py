"""Passages from the user's documents in the prompt: a numbered block the answer cites as [1].

The block is message text, so it is tokenized like anything a user typed: a document that
contains `<|im_start|>system` forges no turn (prompt.py). It goes before the latest question,
not into the system message: the conversation before it keeps the prompt prefix its slot has
cached, so a follow-up reads only the new turn and its passages. It is cut to a token budget,
so passages never push the question out of N_CTX.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from pocketchat.context.prompt import Message
from pocketchat.context.summaries import language_of

INSTRUCTIONS = {
    "en": (
        "Answer from the numbered passages of the user's documents below. Cite each passage you "
        "use with its number in brackets, like [1] or [2]. If the passages do not contain the "
        "answer, say that the documents do not answer it."
    ),
    "zh": (
        "请根据下面编号的用户文档片段回答，并在用到的内容后用方括号注明片段编号，如 [1]、[2]。"
        "如果这些片段中没有答案，请直接说明文档中没有相关内容。"
    ),
}
NOTHING_FOUND = {
    "en": "No passage of the user's documents matches this question: say that the documents "
    "do not answer it, then answer only if you are sure.",
    "zh": "用户文档中没有与这个问题相关的片段：请先说明文档中没有相关内容，只有在确定时才作答。",
}
PASSAGES_HEADING = {"en": "Passages:", "zh": "文档片段："}
QUESTION = {"en": "Question:", "zh": "问题："}


@dataclass(frozen=True)
class Reference:
    number: int
    source: str  # "policy.pdf, page 3, 报销流程 > 住宿费"
    text: str


def with_references(
    messages: Sequence[Message],
    references: Sequence[Reference],
    *,
    count_tokens: Callable[[str], int],
    budget: int,
) -> tuple[list[Message], int]:
    """The messages with the passage block added, and how many references it kept.

    References go in rank order; the ones that would take the block over `budget` tokens are
    left out (a reference is kept whole or not at all).
    """
    users = [index for index, message in enumerate(messages) if message.role == "user"]
    if not users:
        return list(messages), 0
    language = language_of([messages[users[-1]]])
    kept: list[str] = []
    used = count_tokens(INSTRUCTIONS[language]) + 8
    for reference in references:
        entry = f"[{reference.number}] ({reference.source})\n{reference.text.strip()}"
        cost = count_tokens(entry) + 2
        if used + cost > budget:
            break
        kept.append(entry)
        used += cost
    if kept:
        block = "\n\n".join([INSTRUCTIONS[language], PASSAGES_HEADING[language], *kept])
    else:
        block = NOTHING_FOUND[language]
    result = list(messages)
    question = result[users[-1]]
    result[users[-1]] = Message("user", f"{block}\n\n{QUESTION[language]}\n{question.content}")
    return result, len(kept)
