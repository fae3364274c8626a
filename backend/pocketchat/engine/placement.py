"""Which free slot a new request takes: pure rules over the slots' cached tokens, no llama.cpp.

Two measured facts shape them: a conversation's next turn is fast only if its cache is still in
its slot, and llama.cpp decodes scattered sequences slower than consecutive ones.
"""

from __future__ import annotations

from collections.abc import Sequence

from pocketchat.engine.slots import Slot, common_prefix_length

# A new reply moves next to the others only if it loses at most this many cached prompt tokens
# (about a system prompt's worth, well under a second of prefill).
RELOCATE_MAX_LOST = 64


def pick_slot(free: Sequence[Slot], prompt: tuple[int, ...]) -> Slot:
    """A returning conversation gets the slot with its cache; a new one the slot it costs least.

    Sharing only a system prompt does not make a request the owner of another conversation's
    cache: it takes an empty or the least recently used slot instead, so the other
    conversation's next turn still finds its tokens.
    """
    scored = [(common_prefix_length(slot.cached, prompt), slot) for slot in free]
    shared, best = max(scored, key=lambda pair: (pair[0], -pair[1].last_used))
    if shared > 0 and shared * 2 >= len(best.cached):
        return best
    return min(scored, key=lambda pair: (len(pair[1].cached) - pair[0], pair[1].last_used))[1]


def slot_beside_busy(
    chosen: Slot, free: Sequence[Slot], busy: set[int], prompt: tuple[int, ...]
) -> Slot:
    """The free slot that keeps the generating sequences (`busy` ids) in one run of ids.

    With a KV stream per sequence, llama.cpp cuts a batch into one ubatch per run of
    consecutive sequence ids, and every ubatch reads all the weights again: measured, four
    replies in slots 0, 2, 3 and 5 took 104-119 ms a step against 80 ms in slots 0-3. Returns
    `chosen` when no other slot makes fewer runs, or when taking it would lose more than
    RELOCATE_MAX_LOST cached prompt tokens; the caller moves `target`'s cache into `chosen`.
    """
    target = min(
        free,
        key=lambda slot: (
            runs(busy | {slot.seq}),
            -common_prefix_length(slot.cached, prompt),
            abs(slot.seq - chosen.seq),
        ),
    )
    lost = common_prefix_length(chosen.cached, prompt) - common_prefix_length(target.cached, prompt)
    if runs(busy | {target.seq}) >= runs(busy | {chosen.seq}) or lost > RELOCATE_MAX_LOST:
        return chosen
    return target


def runs(seqs: set[int]) -> int:
    """How many runs of consecutive ids `seqs` makes: the ubatches llama.cpp cuts a step into."""
    return sum(1 for seq in seqs if seq - 1 not in seqs)
