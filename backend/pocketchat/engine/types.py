"""What crosses the engine's boundary: a generation request in, a stream of small events out."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any


@dataclass(frozen=True)
class SamplerConfig:
    temperature: float
    top_p: float
    top_k: int
    min_p: float
    repeat_penalty: float
    repeat_last_n: int
    frequency_penalty: float
    presence_penalty: float
    seed: int | None
    # A GBNF grammar the reply must follow (structured output); its root rule is `root`.
    grammar: str | None = None
    # (token, bias) pairs added to the logits before anything else: -100 bans, +100 forces.
    logit_bias: tuple[tuple[int, float], ...] = ()

    @classmethod
    def greedy(cls, **changes: Any) -> SamplerConfig:
        """Always the most likely token, no penalties: the same text for the same prompt."""
        config = cls(
            temperature=0.0,
            top_p=1.0,
            top_k=0,
            min_p=0.0,
            repeat_penalty=1.0,
            repeat_last_n=64,
            frequency_penalty=0.0,
            presence_penalty=0.0,
            seed=None,
        )
        return replace(config, **changes)


@dataclass(frozen=True)
class GenerationRequest:
    request_id: str
    prompt_tokens: tuple[int, ...]
    max_tokens: int
    sampling: SamplerConfig
    stop: tuple[str, ...] = ()
    # Report each reply token's log-probability and this many most likely alternatives
    # (None: report nothing).
    logprobs: int | None = None
    # Internal work (summaries) is not counted in the request metrics.
    internal: bool = False


@dataclass(frozen=True)
class Queued:
    position: int  # 1 = next to start


@dataclass(frozen=True)
class Started:
    cached_tokens: int  # prompt prefix found in the KV cache
    # Of those, tokens restored from a kept snapshot or copied from another slot's cache.
    restored_tokens: int = 0


@dataclass(frozen=True)
class Progress:
    """Prompt reading: `done` of `total` prompt tokens are in the cache and `reading` more are
    in the decode step that just started, at about `tokens_per_second`."""

    done: int
    total: int
    reading: int
    tokens_per_second: float


@dataclass(frozen=True)
class TokenChoice:
    """A token and its log-probability under the model (before sampling's adjustments)."""

    text: str
    token_bytes: bytes
    logprob: float


@dataclass(frozen=True)
class TokenLogprob:
    chosen: TokenChoice
    top: tuple[TokenChoice, ...]


@dataclass(frozen=True)
class Delta:
    text: str
    # The tokens this text came from, when the request asked for logprobs; a token whose text
    # is held back (a possible stop string, a split character) comes with a later delta.
    logprobs: tuple[TokenLogprob, ...] = ()


@dataclass(frozen=True)
class Timings:
    queued_ms: float
    time_to_first_token_ms: float
    prompt_tokens_processed: int
    prompt_ms: float
    completion_tokens: int
    decode_ms: float

    @property
    def prompt_tokens_per_second(self) -> float:
        return _rate(self.prompt_tokens_processed, self.prompt_ms)

    @property
    def decode_tokens_per_second(self) -> float:
        # The first token comes out of the prefill; the rate is over the tokens after it.
        return _rate(max(0, self.completion_tokens - 1), self.decode_ms)


def _rate(tokens: int, milliseconds: float) -> float:
    return round(tokens * 1000.0 / milliseconds, 2) if milliseconds > 0 else 0.0


@dataclass(frozen=True)
class Finished:
    finish_reason: str  # "stop", "length" or "cancelled"
    text: str
    prompt_tokens: int
    cached_tokens: int
    completion_tokens: int
    timings: Timings
    completion_token_ids: tuple[int, ...] = field(default=(), repr=False)
    # Logprobs of tokens no delta carried (held back, then cut by a stop string).
    logprobs: tuple[TokenLogprob, ...] = ()


@dataclass(frozen=True)
class Failed:
    message: str
    code: str = "server_error"


Event = Queued | Started | Progress | Delta | Finished | Failed
