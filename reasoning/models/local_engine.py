"""The local model's engine: one llama.cpp context decoding every call in flight together, a token
each per step, in one batch (continuous batching, as llama.cpp's own server does with its parallel
slots), on a daemon thread. A new call reads its prompt a slice per step beside the others' tokens;
calls share one KV cache (unified), so a call whose prompt begins like another's copies those cells
instead of reading them again. Calls beyond `parallel`, or beyond what the cache can hold, wait in
order. reasoning.models.local loads the weights and builds one Engine per (file, context size,
threads, parallel).
"""

from __future__ import annotations

import codecs
import collections
import ctypes
import random
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from reasoning.call_states import CallStateName
from reasoning.model_protocol import ModelError, Usage

KV_CELLS_PER_CTX = 2  # the shared KV cache holds 2 x n_ctx tokens (16k cells, ~380 MB for SmolLM2)
N_BATCH = 512  # tokens per llama.cpp decode
# While other calls are generating, a prompt is read in slices sized so that a step takes about
# this long: the others keep getting a token every step (a 4.9k-token prompt no longer holds up
# every call for a minute), and a prompt still reads at most of the machine's speed. On this CPU a
# prompt token costs nearly what a generated one does (measured: ~80 vs ~45 tokens per CPU-second),
# so the slice is sized by time, from the measured cost of a token, not by a fixed count.
STEP_TARGET_S = 0.2
MIN_SLICE = 16
SHARE_MIN_GAIN = 32  # a call waits for another reading the same prompt prefix if it saves this much


@dataclass(frozen=True)
class Tick:
    """What one call got from one step (or an event of its own), sent to its stream."""

    served: float = 0.0  # seconds: its share of the step's decode time
    text: str = ""
    state: CallStateName | None = None
    usage: Usage | None = None
    finish: str | None = None
    end: bool = False
    error: BaseException | None = None


@dataclass(eq=False)
class Request:
    prompt: list[int]
    max_tokens: int
    temperature: float
    seed: int | None
    emit: Callable[[Tick], None]  # thread-safe: hands the tick to the stream's event loop
    cancelled: bool = False  # set by the stream when its consumer went away
    # Engine side:
    seq: int = -1  # llama.cpp sequence id while active
    tokens: list[int] = field(default_factory=list)  # evaluated: in the KV cache at positions 0..n-1
    pending: int | None = None  # sampled, evaluated in the next step
    generated: int = 0
    reserve: int = 0  # KV cells this call may come to hold
    sampler: Any = None
    decoder: Any = None
    told_queued: bool = False

    @property
    def reading(self) -> bool:
        return self.pending is None


def common_prefix(a: Sequence[int], b: Sequence[int], limit: int) -> int:
    n = min(len(a), len(b), limit)
    i = 0
    while i + 64 <= n and a[i:i + 64] == b[i:i + 64]:  # slices compare in C
        i += 64
    while i < n and a[i] == b[i]:
        i += 1
    return i


class Engine:
    """One llama.cpp context decoding up to `parallel` sequences together, on a daemon thread (a
    non-daemon worker would keep a server alive at exit until a generation ended)."""

    def __init__(self, model: Any, *, n_ctx: int, n_threads: int, parallel: int, name: str) -> None:
        import llama_cpp
        from llama_cpp import _internals

        self._llama = llama_cpp
        self._model = model
        self.n_ctx = n_ctx  # per call: prompt + output
        self.cells = n_ctx * KV_CELLS_PER_CTX
        self.parallel = parallel
        # Ids beyond `parallel` keep finished calls' cells as a prefix cache until needed.
        n_seq_max = self._n_seq_max = min(2 * parallel, llama_cpp.llama_max_parallel_sequences())
        params = llama_cpp.llama_context_default_params()
        params.n_ctx = self.cells
        params.n_batch = params.n_ubatch = N_BATCH
        params.n_seq_max = n_seq_max
        params.kv_unified = True  # one pool of cells: a sequence takes what it needs, prefixes are shared
        params.n_threads = params.n_threads_batch = n_threads
        params.no_perf = True
        self._ctx = _internals.LlamaContext(model=model, params=params, verbose=False)
        self._memory = llama_cpp.llama_get_memory(self._ctx.ctx)
        self._batch = _internals.LlamaBatch(n_tokens=N_BATCH, embd=0, n_seq_max=1, verbose=False)
        self._piece_buffer = ctypes.create_string_buffer(64)
        self._cv = threading.Condition()
        self._pending: collections.deque[Request] = collections.deque()
        self._active: list[Request] = []
        self._cached: dict[int, list[int]] = {}  # idle sequence id -> its tokens, least recently used first
        self._free_ids = list(range(n_seq_max - 1, -1, -1))
        self._turn = 0  # rotates which reading call gets prompt tokens first
        self._token_cost = 0.0  # seconds per token in a decode, smoothed (0: not measured yet)
        self.steps = 0
        self.evaluated = 0  # tokens decoded, prompts and replies (tests: a shared prefix is read once)
        threading.Thread(target=self._serve, name=name, daemon=True).start()

    # -- from the event loop --

    def submit(self, request: Request) -> None:
        with self._cv:
            self._pending.append(request)
            self._cv.notify()

    def wake(self) -> None:
        with self._cv:
            self._cv.notify()

    def in_flight(self) -> int:
        """Calls queued or decoding (tests: a closed stream leaves the engine)."""
        with self._cv:
            return len(self._pending) + len(self._active)

    # -- the engine thread --

    def _serve(self) -> None:
        while True:
            with self._cv:
                while not self._pending and not self._active:
                    self._cv.wait()
                self._drop_cancelled()
                self._admit()
                if not self._active:
                    self._cv.wait(0.05)  # nothing could start (cannot happen with an empty engine)
                    continue
            try:
                self._step()
            except Exception as exc:  # a failed decode fails every call in flight, not the engine
                self._fail_all(exc)

    def _drop_cancelled(self) -> None:
        self._pending = collections.deque(r for r in self._pending if not r.cancelled)
        for request in [r for r in self._active if r.cancelled]:
            self._release(request)

    def _committed(self) -> int:
        """KV cells that active calls may come to hold plus those idle sequences hold. An upper
        bound: cells shared by several sequences are counted once for each."""
        return sum(r.reserve for r in self._active) + sum(len(t) for t in self._cached.values())

    def _admit(self) -> None:
        """Start waiting calls in order while a slot and room in the cache allow (no overtaking:
        a long call is never starved by short ones)."""
        while self._pending and len(self._active) < self.parallel:
            request = self._pending[0]
            if not self._place(request):
                break
            self._pending.popleft()
            self._active.append(request)
            request.emit(Tick(state="reading prompt"))
        for request in self._pending:
            if not request.told_queued:
                request.told_queued = True
                request.emit(Tick(state="queued"))

    def _place(self, request: Request) -> bool:
        """Give the call a sequence id and cells, reusing the longest prefix already in the cache.
        At least the prompt's last token is evaluated again: its logits give the first token."""
        limit = len(request.prompt) - 1
        best, source, from_cache = 0, -1, False
        for seq, tokens in self._cached.items():
            k = common_prefix(tokens, request.prompt, limit)
            if k > best:
                best, source, from_cache = k, seq, True
        for other in self._active:
            k = common_prefix(other.tokens, request.prompt, limit)
            if k > best:
                best, source, from_cache = k, other.seq, False
        request.reserve = min(len(request.prompt) + max(request.max_tokens, 1), self.n_ctx)
        committed = self._committed() - (len(self._cached[source]) if from_cache else 0)
        needs_id = not from_cache
        for seq in list(self._cached):  # evict idle sequences, least recently used first
            if committed + request.reserve <= self.cells and (self._free_ids or not needs_id):
                break
            if from_cache and seq == source:
                continue
            committed -= len(self._cached.pop(seq))
            self._llama.llama_memory_seq_rm(self._memory, seq, 0, -1)
            self._free_ids.append(seq)
        if committed + request.reserve > self.cells or (needs_id and not self._free_ids):
            return False
        if from_cache:
            request.seq = source
            request.tokens = self._cached.pop(source)[:best]
            self._llama.llama_memory_seq_rm(self._memory, source, best, -1)
        else:
            request.seq = self._free_ids.pop()
            self._llama.llama_memory_seq_rm(self._memory, request.seq, 0, -1)
            if best:
                self._llama.llama_memory_seq_cp(self._memory, source, request.seq, 0, best)
                request.tokens = request.prompt[:best]
        request.sampler = self._sampler(request)
        request.decoder = codecs.getincrementaldecoder("utf-8")("ignore")
        return True

    def _sampler(self, request: Request) -> Any:
        """The chain llama-cpp-python's create_completion builds with its defaults (top_k 40,
        typical 1, top_p 0.95, min_p 0.05, temperature, seeded draw); greedy at temperature 0."""
        from llama_cpp import _internals

        sampler = _internals.LlamaSampler()
        if request.temperature <= 0:
            sampler.add_greedy()
        else:
            sampler.add_top_k(40)
            sampler.add_typical(1.0, 1)
            sampler.add_top_p(0.95, 1)
            sampler.add_min_p(0.05, 1)
            sampler.add_temp(request.temperature)
            sampler.add_dist(request.seed if request.seed is not None else random.getrandbits(32))
        return sampler

    def _catch_up(self, request: Request) -> None:
        """A reading call copies a longer prefix of its prompt that another call has evaluated
        meanwhile (parallel samples of one prompt read it once)."""
        limit = len(request.prompt) - 1
        for other in self._active:
            if other is request or len(other.tokens) <= len(request.tokens):
                continue
            k = common_prefix(other.tokens, request.prompt, limit)
            if k > len(request.tokens):
                self._llama.llama_memory_seq_rm(self._memory, request.seq, 0, -1)
                self._llama.llama_memory_seq_cp(self._memory, other.seq, request.seq, 0, k)
                request.tokens = request.prompt[:k]

    def _waits_for(self, request: Request, earlier: Sequence[Request]) -> bool:
        """True when an earlier reading call is evaluating a long prefix this one can copy."""
        limit = len(request.prompt) - 1
        for other in earlier:
            k = common_prefix(other.prompt, request.prompt, limit)
            if k - len(request.tokens) >= SHARE_MIN_GAIN and len(other.tokens) < k:
                return True
        return False

    def _step(self) -> None:
        """One decode: a token for every generating call, then prompt slices for reading calls."""
        entries: list[tuple[Request, list[int], bool]] = []
        generating = [r for r in self._active if not r.reading]
        for request in generating:
            entries.append((request, [request.pending], True))  # type: ignore[list-item]
        room = N_BATCH - len(generating)
        budget = room
        if generating and self._token_cost > 0:
            budget = max(MIN_SLICE, min(room, int(STEP_TARGET_S / self._token_cost) - len(generating)))
        reading = [r for r in self._active if r.reading]
        readers = []
        for i, request in enumerate(reading):
            self._catch_up(request)
            if not self._waits_for(request, reading[:i]):
                readers.append(request)
        if readers:
            start = self._turn % len(readers)
            self._turn += 1
            share = max(MIN_SLICE, budget // len(readers))
            for request in readers[start:] + readers[:start]:
                if budget <= 0:
                    break
                done = len(request.tokens)
                take = min(len(request.prompt) - done, share, budget)
                if take > 1 and done + take == len(request.prompt):
                    # The prompt's last token, whose logits draw the first reply token, is read in a
                    # slice of its own, as a later call that finds the rest of the prompt in the
                    # cache reads it: a batch of one token and one of many give logits a few ulps
                    # apart, which at a temperature can draw another token under the same seed.
                    take -= 1
                entries.append((request, request.prompt[done:done + take], done + take == len(request.prompt)))
                budget -= take

        batch = self._batch.batch
        n = 0
        outputs: list[tuple[Request, int]] = []
        for request, tokens, wants_logits in entries:
            start_pos = len(request.tokens)
            for j, token in enumerate(tokens):
                batch.token[n] = token
                batch.pos[n] = start_pos + j
                batch.n_seq_id[n] = 1
                batch.seq_id[n][0] = request.seq
                batch.logits[n] = False
                n += 1
            if wants_logits:
                batch.logits[n - 1] = True
                outputs.append((request, n - 1))
        batch.n_tokens = n
        started = time.perf_counter()
        code = self._llama.llama_decode(self._ctx.ctx, batch)
        if code == 1 and self._cached:
            # No free cells for the batch (the bound above counts cells, not where they lie): drop
            # the idle prefix cache and try again.
            for seq in list(self._cached):
                del self._cached[seq]
                self._llama.llama_memory_seq_rm(self._memory, seq, 0, -1)
                self._free_ids.append(seq)
            code = self._llama.llama_decode(self._ctx.ctx, batch)
        seconds = time.perf_counter() - started
        if code != 0:
            raise ModelError(f"llama.cpp could not decode a batch of {n} tokens (code {code})")
        self.steps += 1
        self.evaluated += n
        cost = seconds / n
        self._token_cost = cost if self._token_cost == 0 else 0.8 * self._token_cost + 0.2 * cost

        for request, tokens, _ in entries:
            request.tokens.extend(tokens)
            request.pending = None
        sampled = {id(r): r.sampler.sample(self._ctx, index) for r, index in outputs}
        for request, tokens, _ in entries:
            # The step's time is shared by tokens: a call reading 128 prompt tokens beside 7 calls
            # generating one each is charged 128/135 of it.
            served = seconds * len(tokens) / n
            token = sampled.get(id(request))
            if token is None:
                request.emit(Tick(served=served))
                continue
            self._advance(request, token, served)

    def _advance(self, request: Request, token: int, served: float) -> None:
        first = request.generated == 0
        state: CallStateName | None = "generating" if first else None
        if self._llama.llama_vocab_is_eog(self._model.vocab, token):
            # The end-of-turn token: not part of the reply, and not counted (llama.cpp doesn't either).
            self._finish(request, "stop", served, state)
            return
        request.generated += 1
        request.pending = token
        text = request.decoder.decode(self._piece(token))
        if request.generated >= request.max_tokens or len(request.tokens) + 1 >= self.n_ctx:
            self._finish(request, "length", served, state, text)
            return
        request.emit(Tick(served=served, text=text, state=state))

    def _finish(self, request: Request, reason: str, served: float, state: CallStateName | None,
                text: str = "") -> None:
        text += request.decoder.decode(b"", final=True)
        usage = Usage(len(request.prompt), request.generated)
        request.emit(Tick(served=served, text=text, state=state, usage=usage, finish=reason, end=True))
        self._release(request)

    def _release(self, request: Request) -> None:
        """The call leaves; its evaluated cells stay as a prefix cache for later calls."""
        self._active.remove(request)
        self._cached[request.seq] = request.tokens
        request.sampler = None

    def _fail_all(self, exc: Exception) -> None:
        for request in list(self._active):
            request.emit(Tick(error=exc, end=True))
        self._active.clear()
        self._cached.clear()
        self._llama.llama_memory_clear(self._memory, True)
        self._free_ids = list(range(self._n_seq_max - 1, -1, -1))

    def _piece(self, token: int) -> bytes:
        buffer = self._piece_buffer
        n = self._llama.llama_token_to_piece(self._model.vocab, token, buffer, len(buffer), 0, False)
        if n < 0:  # a longer piece: -n bytes
            buffer = ctypes.create_string_buffer(-n)
            n = self._llama.llama_token_to_piece(self._model.vocab, token, buffer, len(buffer), 0, False)
        return buffer.raw[:n]
