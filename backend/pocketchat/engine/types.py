"""What crosses the engine's boundary: a generation request in, a stream of small events out."""

from __future__ import annotations

from dataclasses import dataclass, field


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


@dataclass(frozen=True)
class GenerationRequest:
    request_id: str
    prompt_tokens: tuple[int, ...]
    max_tokens: int
    sampling: SamplerConfig
    stop: tuple[str, ...] = ()
    # Internal work (summaries) is not counted in the request metrics.
    internal: bool = False


@dataclass(frozen=True)
class Queued:
    position: int  # 1 = next to start


@dataclass(frozen=True)
class Started:
    cached_tokens: int  # prompt prefix found in the KV cache


@dataclass(frozen=True)
class Delta:
    text: str


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


@dataclass(frozen=True)
class Failed:
    message: str
    code: str = "server_error"


Event = Queued | Started | Delta | Finished | Failed
