"""SvaraBackend: the `tts_engine.base.TTSBackend` for Svara on vLLM.

prompt (template + speaker string) -> vLLM token stream -> frames -> streaming SNAC decode.
Availability follows vLLM's health (its /health and a keyed /v1/models), probed in the background,
and drops at once when a request finds vLLM unreachable.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import time
from collections.abc import AsyncIterator
from pathlib import Path

import numpy as np

from common.aio import cancel_and_wait
from tts_engine.base import SynthesisRequest, Voice
from tts_engine.voices import SvaraVoice

from . import replicas
from .config import SvaraConfig
from .errors import SvaraBadRequest, SvaraUnavailable
from .prompt import PromptTemplate
from .reference import ReferenceEncoder, check_reference
from .snac.decoder import StreamDecoder
from .snac.engine import SnacEngine
from .tokens import CODES_PER_FRAME, FrameAssembler
from .vllm_client import StreamResult, VllmClient, resolve_sampling

log = logging.getLogger(__name__)


class SvaraBackend:
    name = "svara"
    clones_voices = True

    def __init__(
        self,
        *,
        config: SvaraConfig,
        client: VllmClient,
        engine: SnacEngine,
        template: PromptTemplate,
        voices: dict[str, SvaraVoice],
    ) -> None:
        self.client = client
        self.engine = engine
        self.template = template
        self._voices = voices
        self._decoder = config.decoder
        self._health_interval_s = config.health_interval_s
        self.problem: str | None = "vLLM not probed yet"  # why Svara cannot serve now; None: it can
        self._prober: asyncio.Task[None] | None = None
        self.references = ReferenceEncoder(engine)

    @classmethod
    def create(cls, config: SvaraConfig, voices: dict[str, SvaraVoice]) -> SvaraBackend:
        """Load everything (SNAC weights: seconds; run it off the event loop). Raises SnacLoadError
        or ValueError with an actionable message when the configuration is wrong."""
        templates = Path(config.templates_path) if config.templates_path else None
        template = PromptTemplate.load(config.template, templates)
        return cls(
            config=config,
            client=replicas.connect(  # one URL or several
                config,
                stop_token_ids=template.stop_token_ids,
                frame_xargs=template.frame_xargs() if config.frame_processor else None,
            ),
            engine=SnacEngine.load(
                config.snac_model,
                device=config.snac_device,
                batching=config.snac_batching,
                cpu_threads=config.snac_cpu_threads,
            ),
            template=template,
            voices=voices,
        )

    # --- TTSBackend ----------------------------------------------------------------------------
    def voices(self) -> list[Voice]:
        return [v.voice for v in self._voices.values()]

    def is_available(self) -> bool:
        return self.problem is None

    async def start(self) -> None:
        """Probe vLLM now and keep probing in the background."""
        await self.refresh()
        if self._prober is None:
            self._prober = asyncio.create_task(self._probe_loop(), name="svara-health")

    async def refresh(self) -> bool:
        problem = (await self.client.health()).problem
        if problem != self.problem:
            log.info("svara upstream changed", extra={"fields": {"available": problem is None, "problem": problem}})
        self.problem = problem
        return problem is None

    def prompt_for(self, request: SynthesisRequest) -> str:
        voice = self._voices.get(request.voice.id)
        if voice is None:
            raise SvaraBadRequest(f"voice {request.voice.id!r} is not a Svara voice")
        if not request.text.strip():
            raise SvaraBadRequest("text is empty")
        return self.template.build(voice.speaker, request.text)

    def check(self, request: SynthesisRequest) -> None:
        """Everything that can be refused before audio starts: call it before the response begins."""
        prompt = self.prompt_for(request)
        prompt_tokens = None
        if request.reference is not None:
            prompt_tokens = self._clone_prompt_bound(request)
        self.client.payload(prompt, resolve_sampling(request.sampling), prompt_tokens)
        if self.problem is not None:
            raise SvaraUnavailable(
                "the Svara model (vLLM) is not ready", retry_after_s=self.client.retry_after_s
            )

    def _clone_prompt_bound(self, request: SynthesisRequest) -> int:
        """The cloning prompt's token bound from the reference's length alone (before encoding)."""
        assert request.reference is not None
        if self.template.clone_layout is None:
            raise SvaraBadRequest(f"the prompt template {self.template.name} cannot clone a voice")
        check_reference(request.reference, self.engine.sample_rate)
        frames = np.zeros((self.engine.frames_for(request.reference.audio.shape[0]), CODES_PER_FRAME), np.int64)
        return self.template.build_clone(request.reference.transcript, frames, request.text)[1]

    async def _prompt(self, request: SynthesisRequest) -> tuple[str, int | None]:
        if request.reference is None:
            return self.prompt_for(request), None
        encoded = await self.references.encode(request.reference)
        return self.template.build_clone(encoded.transcript, encoded.frames, request.text)

    async def synthesize(self, request: SynthesisRequest) -> AsyncIterator[np.ndarray]:
        self.check(request)
        prompt, prompt_tokens = await self._prompt(request)
        sampling = resolve_sampling(request.sampling)
        seed = sampling.seed if sampling.seed is not None else secrets.randbelow(2**31)
        assembler = FrameAssembler(
            code_offset=self.template.audio_code_offset, codebook_size=self.template.codebook_size
        )
        options = self._decoder
        decoder = StreamDecoder(self.engine, seed=seed, fast_start=options.fast_start, max_span=options.max_span)
        result = StreamResult()
        started = time.monotonic()
        outcome = "ok"
        try:
            async with contextlib.aclosing(self.client.stream(prompt, sampling, result, prompt_tokens)) as pieces:
                async for text in pieces:
                    for frame in assembler.feed(text):
                        audio = await decoder.push(frame)
                        if audio is not None:
                            yield audio
            assembler.finish()
            tail = await decoder.finish()  # every complete frame, none lost at the end
            if tail is not None:
                yield tail
        except SvaraUnavailable as exc:
            self.problem = str(exc)  # do not wait for the next probe to say so
            outcome = "unavailable"
            raise
        except (asyncio.CancelledError, GeneratorExit):
            outcome = "cancelled"
            raise
        except Exception as exc:
            outcome = type(exc).__name__
            raise
        finally:
            stats = assembler.stats
            failed = outcome not in ("ok", "cancelled")
            log.log(
                logging.WARNING if failed else logging.INFO,
                "svara synthesis failed" if failed else "svara synthesis finished",
                extra={
                    "fields": {
                        "outcome": outcome,
                        "frames": stats.frames,
                        "dropped_invalid": stats.dropped_invalid,
                        "dropped_incomplete": stats.dropped_incomplete,
                        "decodes": decoder.decodes,
                        "finish_reason": result.finish_reason,
                        "seconds": round(time.monotonic() - started, 3),
                    }
                },
            )

    async def close(self) -> None:
        await cancel_and_wait([self._prober])
        await self.client.close()
        await self.engine.close()

    async def _probe_loop(self) -> None:
        while True:
            await asyncio.sleep(self._health_interval_s)
            with contextlib.suppress(Exception):  # a probe failure is "not available", never a crash
                await self.refresh()
