"""Fitting a conversation into N_CTX: as it is, summarized, truncated, or refused.

`plan()` is cheap (tokenization only) and says what the prompt will be and which summaries
still have to be written; the request's run writes them through the engine, so summarizing is
part of the request: queued, streamed as a status, cancelled with it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace

from pocketchat.context.planner import (
    covered_hash,
    cut_points,
    group_turns,
    shorten,
    split_system,
)
from pocketchat.context.prompt import ChatPrompt, Message, Tokenizer
from pocketchat.context.references import Reference, with_references
from pocketchat.context.summaries import SummaryCache, language_of, summary_note, summary_request
from pocketchat.context.tools import NO_OPTIONS, PromptOptions

MIN_PROMPT_BUDGET = 64


class ContextTooLong(Exception):
    def __init__(self, message: str, over_by: int) -> None:
        super().__init__(message)
        self.over_by = over_by


@dataclass(frozen=True)
class ClientSummary:
    covers: int
    hash: str
    text: str


@dataclass(frozen=True)
class SummaryJob:
    """Fold `turns` into the summary so far; the result covers the first `covers` messages."""

    covers: int
    key: str
    turns: list[Message]


@dataclass
class Plan:
    mode: str
    system: Message | None
    history: list[Message]
    prompt_budget: int
    cut: int = 0  # history messages summarized or dropped
    summary: ClientSummary | None = None  # known when no job is left
    base_summary: str | None = None  # what the first job folds into
    jobs: list[SummaryJob] = field(default_factory=list)
    language: str = "en"
    options: PromptOptions = NO_OPTIONS  # the tools and template variables of the request


class ContextManager:
    def __init__(self, prompt: ChatPrompt, tokenizer: Tokenizer, n_ctx: int) -> None:
        self.prompt = prompt
        self.tokenizer = tokenizer
        self.n_ctx = n_ctx
        self.cache = SummaryCache()

    def count(self, text: str) -> int:
        return len(self.tokenizer.tokenize(text, special=False))

    def add_references(
        self, messages: Sequence[Message], references: Sequence[Reference], reply_budget: int
    ) -> tuple[list[Message], int]:
        """The messages with the passages block; the passages take at most half of what the
        reply leaves of N_CTX, so the conversation keeps the rest. Returns how many fit."""
        return with_references(
            messages,
            references,
            count_tokens=self.count,
            budget=max(0, (self.n_ctx - reply_budget) // 2),
        )

    def summary_max_tokens(self, prompt_budget: int) -> int:
        return max(48, min(400, prompt_budget // 8))

    def plan(
        self,
        messages: Sequence[Message],
        reply_budget: int,
        mode: str,
        client_summary: ClientSummary | None = None,
        options: PromptOptions = NO_OPTIONS,
    ) -> tuple[Plan, list[int] | None]:
        """The plan, and the prompt tokens when no summary has to be written first."""
        budget = self.n_ctx - reply_budget
        if budget < MIN_PROMPT_BUDGET:
            raise ContextTooLong(
                f"max_tokens={reply_budget} leaves no room for the conversation in "
                f"N_CTX={self.n_ctx}; ask for at most {self.n_ctx - MIN_PROMPT_BUDGET}",
                over_by=MIN_PROMPT_BUDGET - budget,
            )
        split = split_system(messages)
        plan = Plan(mode, split.system, split.history, budget, language=language_of(messages),
                    options=options)  # fmt: skip
        tokens = self.prompt.tokens(messages, options)
        if len(tokens) <= budget:
            return plan, tokens
        if mode == "error":
            over = len(tokens) - budget
            raise ContextTooLong(
                f"the conversation takes {len(tokens)} tokens and the reply needs "
                f"{reply_budget}, but N_CTX is {self.n_ctx}: {over} tokens over",
                over_by=over,
            )
        self._choose_cut(plan)
        if mode == "summarize" and plan.cut > 0:
            self._schedule_summaries(plan, client_summary)
        if plan.jobs:
            return plan, None
        return plan, self.final_tokens(plan)

    def _choose_cut(self, plan: Plan) -> None:
        turns = group_turns(plan.history, self.count)
        reserve = self.summary_max_tokens(plan.prompt_budget) if plan.mode == "summarize" else 0
        for cut in cut_points(turns, max(32, plan.prompt_budget // 2)):
            kept = self._messages(plan.system, None, plan.history[cut:], plan.language)
            if len(self.prompt.tokens(kept, plan.options)) + reserve <= plan.prompt_budget:
                plan.cut = cut
                return
        # Even the latest turn alone is too long: keep only it, cut down to fit below.
        plan.cut = turns[-1].start if turns else 0

    def _schedule_summaries(self, plan: Plan, client: ClientSummary | None) -> None:
        history = plan.history
        known: dict[int, str] = {}
        if (
            client
            and 0 < client.covers <= plan.cut
            and covered_hash(history, client.covers) == client.hash
        ):
            known[client.covers] = client.text
            self.cache.put(client.hash, client.text)
        turns = group_turns(history, self.count)
        stops = [c for c in cut_points(turns, max(32, plan.prompt_budget // 2)) if c < plan.cut]
        for covers in [*stops, plan.cut]:
            if (text := self.cache.get(covered_hash(history, covers))) is not None:
                known[covers] = text
        base = max((c for c in known if c <= plan.cut), default=0)
        plan.base_summary = known.get(base)
        if base == plan.cut:
            text = known[base]
            plan.summary = ClientSummary(plan.cut, covered_hash(history, plan.cut), text)
            return
        input_budget = self.n_ctx - self.summary_max_tokens(plan.prompt_budget) - 256
        start = base
        for covers in [c for c in [*stops, plan.cut] if c > base]:
            chunk = [
                replace(m, content=shorten(m.content, input_budget // 3, self.count))
                for m in history[start:covers]
            ]
            for piece in self._fit_chunks(chunk, input_budget):
                plan.jobs.append(SummaryJob(covers, covered_hash(history, covers), piece))
            start = covers

    def _fit_chunks(self, messages: list[Message], budget: int) -> list[list[Message]]:
        chunks: list[list[Message]] = [[]]
        used = 0
        for message in messages:
            size = self.count(message.content) + 16
            if chunks[-1] and used + size > budget:
                chunks.append([])
                used = 0
            chunks[-1].append(message)
            used += size
        return chunks

    def summary_prompt(self, plan: Plan, previous: str | None, job: SummaryJob) -> list[int]:
        """The request for one summary, cut down until it and its answer fit in N_CTX."""
        answer = self.summary_max_tokens(plan.prompt_budget)
        limit = self.n_ctx - answer
        if previous:
            previous = shorten(previous, answer * 2, self.count)
        turns = list(job.turns)
        while True:
            messages = summary_request(previous, turns, plan.language, self.prompt.supports_system)
            tokens = self.prompt.tokens(messages)
            if len(tokens) <= limit or not turns:
                return tokens
            longest = max(range(len(turns)), key=lambda i: len(turns[i].content))
            size = self.count(turns[longest].content)
            shortened = shorten(turns[longest].content, size // 2, self.count)
            if shortened == turns[longest].content:
                del turns[0]  # only markers left: let the oldest go
            else:
                turns[longest] = replace(turns[longest], content=shortened)

    def record_summary(self, plan: Plan, job: SummaryJob, text: str, last_of_cover: bool) -> None:
        if last_of_cover:
            self.cache.put(job.key, text)
        if job.covers == plan.cut and last_of_cover:
            plan.summary = ClientSummary(plan.cut, job.key, text)

    def final_tokens(self, plan: Plan) -> list[int]:
        """The prompt to generate from; over-long messages are cut with a marker to fit."""
        summary = plan.summary.text if plan.summary else None
        if summary:
            summary = shorten(summary, 2 * self.summary_max_tokens(plan.prompt_budget), self.count)
        kept = list(plan.history[plan.cut :])
        while True:
            messages = self._messages(plan.system, summary, kept, plan.language)
            tokens = self.prompt.tokens(messages, plan.options)
            over = len(tokens) - plan.prompt_budget
            if over <= 0 or not kept:
                return tokens
            longest = max(range(len(kept)), key=lambda i: len(kept[i].content))
            target = max(16, self.count(kept[longest].content) - over - 32)
            shortened = shorten(kept[longest].content, target, self.count)
            if shortened == kept[longest].content:
                return tokens
            kept[longest] = replace(kept[longest], content=shortened)

    def _messages(
        self, system: Message | None, summary: str | None, kept: list[Message], language: str
    ) -> list[Message]:
        if summary is None:
            return [system, *kept] if system else kept
        note = summary_note(summary, language)
        if system is not None:
            return [Message("system", f"{system.content}\n\n{note}"), *kept]
        if self.prompt.supports_system:
            return [Message("system", note), *kept]
        first = kept[0] if kept else Message("user", "")
        return [replace(first, content=f"{note}\n\n{first.content}"), *kept[1:]]
