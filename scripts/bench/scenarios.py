"""What the bench asks of pocketchat and of llama-server alike, through the OpenAI-compatible
streaming endpoint both serve: decode, cold TTFT, a burst of requests, returning to a
conversation that lost its slot, and a client hanging up mid-prefill.

Every request is greedy and bans the end-of-generation tokens with `logit_bias` (both servers
take it; the product has no `ignore_eos`, and llama-server's is this same bias), so a reply has
the tokens it asked for even from a random-weight model; rates count the tokens each reports.
"""

from __future__ import annotations

import http.client
import itertools
import json
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import llama_cpp.llama_cpp as llama

from bench.client import StreamResult, chat_body, concurrent_streams, stream_chat
from bench.product import QUESTION, STORY, conversation
from bench.raw import fit_words, vocabulary
from bench.server import ServerProcess

BURST = 4
CONVERSATIONS = 6  # taking turns over 2 slots, about CONVERSATION_TOKENS each
CONVERSATION_TOKENS = 1500
# Stops a server and starts it again with the same settings and data: the product's restart.
Restart = Callable[[], ServerProcess]


@dataclass(frozen=True)
class PeerWork:
    """The prompts, sized in the served model's tokens, and the reply lengths."""

    question: str  # the bench's cold question (50 tokens)
    story: str  # the decode prompt
    follow_up: str  # a short next turn
    burst: tuple[str, ...]  # different prompts, a few hundred tokens each
    conversations: tuple[str, ...]  # ~CONVERSATION_TOKENS each
    long_prompt: str  # ~2,000 tokens, the one a client hangs up on
    banned_tokens: tuple[int, ...]  # end-of-generation tokens
    decode_tokens: int = 128
    reply_tokens: int = 16
    burst_tokens: int = 64


def _fitted(vocab: llama.llama_vocab_p, offset: int, tokens: int) -> str:
    """About `tokens` tokens of text; different offsets start with different words."""
    words = f"{STORY} {QUESTION}".split()
    return fit_words(vocab, " ".join(words[offset:] + words[:offset]), tokens)


def peer_work(model: Path, question: str, story: str, follow_up: str, quick: bool) -> PeerWork:
    """The prompts in the model's tokens; --quick divides every size by 8."""
    scale = 8 if quick else 1
    with vocabulary(model) as vocab:
        banned = tuple(
            token
            for token in range(llama.llama_vocab_n_tokens(vocab))
            if llama.llama_vocab_is_eog(vocab, token)
        )
        return PeerWork(
            question=question,
            story=story,
            follow_up=follow_up,
            burst=tuple(_fitted(vocab, 5 * i, 300 // scale) for i in range(BURST)),
            conversations=tuple(
                _fitted(vocab, 7 * i + 3, CONVERSATION_TOKENS // scale)
                for i in range(CONVERSATIONS)
            ),
            long_prompt=_fitted(vocab, 11, 2000 // scale),
            banned_tokens=banned,
            decode_tokens=128 // scale,
            reply_tokens=16 // scale,
            burst_tokens=64 // scale,
        )


def body(work: PeerWork, messages: list[dict[str, str]], max_tokens: int) -> dict[str, Any]:
    return chat_body(
        messages,
        max_tokens,
        logit_bias={str(token): -100 for token in work.banned_tokens},
        stream_options={"include_usage": True},
    )


def _ok(result: StreamResult, what: str) -> StreamResult:
    if result.status != 200 or result.error or result.first_delta_at is None:
        raise RuntimeError(f"{what}: status {result.status}, error {result.error!r}")
    return result


def _ask(
    port: int, work: PeerWork, messages: list[dict[str, str]], tokens: int, what: str
) -> StreamResult:
    return _ok(stream_chat(port, body(work, messages, tokens)), what)


def burst_figures(results: list[StreamResult]) -> dict[str, float]:
    """The last first token after the burst was sent, and all its tokens over its whole span."""
    start = min(r.sent_at for r in results)
    firsts = [r.first_delta_at for r in results if r.first_delta_at is not None]
    lasts = [r.last_delta_at for r in results if r.last_delta_at is not None]
    tokens = sum(r.completion_tokens for r in results)
    return {
        "burst_last_first_token_ms": (max(firsts) - start) * 1000,
        "burst_tps": tokens / (max(lasts) - start),
    }


def longest_gap_ms(delta_times: list[float], since: float) -> float | None:
    """The longest wait between two deltas of a stream, counting waits that end after `since`."""
    gaps = [later - earlier for earlier, later in itertools.pairwise(delta_times) if later > since]
    return max(gaps) * 1000 if gaps else None


def four_slots(server: ServerProcess, work: PeerWork) -> dict[str, Any]:
    """Decode, cold TTFT, the burst, a decoding stream's longest stall under the burst, RSS."""
    port = server.port
    _ask(port, work, conversation(work.question), 8, "warm-up")
    cold = _ask(port, work, conversation(work.question), work.reply_tokens, "cold")
    decode = _ask(port, work, conversation(work.story), work.decode_tokens, "decode")
    bursts = [body(work, conversation(prompt), work.burst_tokens) for prompt in work.burst]
    burst = [_ok(r, "burst") for r in concurrent_streams(port, bursts)]
    out: dict[str, Any] = {
        "decode_tps": decode.decode_tps,
        "cold_ttft_ms": cold.ttft_ms,
        **burst_figures(burst),
        "burst_stall_ms": _stall_under_burst(port, work, decode),
        "peak_rss_mb": server.peak_rss() / 1e6,
        "tokens": {
            "cold_prompt": cold.usage.get("prompt_tokens"),
            "burst_prompts": [r.usage.get("prompt_tokens") for r in burst],
            "decode_completion": decode.completion_tokens,
            "burst_completions": [r.completion_tokens for r in burst],
        },
    }
    return out


def _stall_under_burst(port: int, work: PeerWork, decode: StreamResult) -> float | None:
    """Start one long reply, send the burst once it decodes (twice the decode run's TTFT plus 8
    of its tokens later), and take the longest gap between its tokens after that."""
    long_body = body(work, conversation(work.story), work.decode_tokens)
    holder: list[StreamResult] = []
    reply = threading.Thread(target=lambda: holder.append(stream_chat(port, long_body)))
    reply.start()
    assert decode.ttft_ms is not None and decode.decode_tps
    time.sleep(decode.ttft_ms / 1000 * 2 + 8 / decode.decode_tps)
    burst_sent = time.perf_counter()
    bursts = [body(work, conversation(prompt), work.burst_tokens) for prompt in work.burst]
    concurrent_streams(port, bursts)
    reply.join()
    long_reply = _ok(holder[0], "long reply under the burst")
    if long_reply.first_delta_at is None or long_reply.first_delta_at > burst_sent:
        return None  # it was not decoding yet when the burst came
    return longest_gap_ms(long_reply.delta_times, burst_sent)


def two_slots(server: ServerProcess, work: PeerWork, restart: Restart | None) -> dict[str, Any]:
    """Six conversations take turns on two slots, then the first one comes back: its TTFT
    against its own cold prefill. With `restart` (the product), the server is then restarted
    and the first conversation sends one more turn."""
    histories = [conversation(prompt) for prompt in work.conversations]
    cold: list[StreamResult] = []
    for number, messages in enumerate(histories, 1):
        cold.append(_ask(server.port, work, messages, work.reply_tokens, f"conversation {number}"))
        messages.append({"role": "assistant", "content": cold[-1].text})
    first = histories[0]
    first.append({"role": "user", "content": work.follow_up})
    back = _ask(server.port, work, first, work.reply_tokens, "return to conversation 1")
    cold_ms = cold[0].ttft_ms
    assert cold_ms is not None and back.ttft_ms is not None
    out: dict[str, Any] = {
        "conversation_cold_ms": cold_ms,
        "return_ttft_ms": back.ttft_ms,
        "return_ratio": back.ttft_ms / cold_ms,
        "tokens": {
            "cold_prompt": cold[0].usage.get("prompt_tokens"),
            "return_prompt": back.usage.get("prompt_tokens"),
            "return_cached": _cached(back),
        },
    }
    if restart is not None:
        first += [
            {"role": "assistant", "content": back.text},
            {"role": "user", "content": work.follow_up},
        ]
        again = restart()
        after = _ask(again.port, work, first, work.reply_tokens, "conversation 1 after restart")
        assert after.ttft_ms is not None
        out |= {"restart_ttft_ms": after.ttft_ms, "restart_ratio": after.ttft_ms / cold_ms}
        out["tokens"] |= {
            "restart_prompt": after.usage.get("prompt_tokens"),
            "restart_cached": _cached(after),
        }
    return out


def _cached(result: StreamResult) -> int | None:
    details = result.usage.get("prompt_tokens_details") or {}
    cached = details.get("cached_tokens", result.timings.get("cache_n"))
    return None if cached is None else int(cached)


def hang_up(port: int, payload: dict[str, Any], after_seconds: float) -> float:
    """Send a request, close the socket `after_seconds` later without reading a byte (a tab
    closed while its prompt is read), and return when that happened."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    headers = {"Content-Type": "application/json"}
    connection.request("POST", "/v1/chat/completions", json.dumps(payload).encode(), headers)
    time.sleep(after_seconds)
    assert connection.sock is not None
    connection.sock.shutdown(socket.SHUT_RDWR)
    connection.close()
    return time.perf_counter()


def one_slot(server: ServerProcess, work: PeerWork) -> dict[str, Any]:
    """A client hangs up a quarter into a long prompt's prefill; the next request's first token
    comes when the server has noticed and freed the only slot."""
    port = server.port
    _ask(port, work, conversation(work.question), 8, "warm-up")
    long_prefill = _ask(port, work, conversation(work.long_prompt), 8, "long prompt")
    assert long_prefill.ttft_ms is not None
    idle = _ask(port, work, conversation("Hello!"), 8, "short request")
    closed_at = hang_up(
        port, body(work, conversation(work.long_prompt), 2), long_prefill.ttft_ms / 4000
    )
    after = _ask(port, work, conversation("Hello!"), 8, "request after the hang-up")
    assert after.first_delta_at is not None
    return {
        "long_prefill_ms": long_prefill.ttft_ms,
        "hangup_next_first_token_ms": (after.first_delta_at - closed_at) * 1000,
        "short_request_ttft_ms": idle.ttft_ms,
        "tokens": {"long_prompt": long_prefill.usage.get("prompt_tokens")},
    }
