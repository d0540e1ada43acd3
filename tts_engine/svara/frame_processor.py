"""Every generated 7-token group is a valid SNAC frame, by construction: a vLLM logits processor.

Loaded by vLLM, not by the gateway (scripts/start_vllm.sh passes `--logits-processors
tts_engine.svara.frame_processor:<class>`, with the repository on PYTHONPATH). A request opts in with
vLLM's custom arguments, which the gateway sends (PromptTemplate.frame_xargs, SVARA_FRAME_PROCESSOR):

    "vllm_xargs": {"svara_code_start": 128266, "svara_codebook": 4096, "svara_frame_end": [128258]}

The i-th generated token may then only be one of the 4096 codes of slot i mod 7 (ids code_start +
slot * codebook ...), or, at a frame boundary (i mod 7 == 0), one of the end ids. It counts from the
first generated token, so the prompt must end with start-of-speech (the gateway enables it only for
such templates). Requests without these arguments are left alone.

vLLM has two logits-processor interfaces, one per model runner: SvaraFrameProcessor for the V1
runner (vllm.v1.sample.logits_processor; what the CPU build runs, and GPUs with
VLLM_USE_V2_MODEL_RUNNER=0) and SvaraFrameProcessorV2 for Model Runner V2 (vLLM 0.32's GPU default).
scripts/start_vllm.sh passes the one that matches.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import torch
from vllm.v1.sample.logits_processor import BatchUpdate, LogitsProcessor, MoveDirectionality
from vllm.v1.worker.gpu.sample.logits_processor import LogitsProcessor as LogitsProcessorV2

if TYPE_CHECKING:
    from vllm.config import VllmConfig
    from vllm.sampling_params import SamplingParams
    from vllm.v1.worker.gpu.sample.logits_processor import LogitsContext, LogitsProcRequestState

CODES_PER_FRAME = 7
XARGS = ("svara_code_start", "svara_codebook", "svara_frame_end")

Layout = tuple[int, int, tuple[int, ...]]  # code start, codebook size, end ids


def layout_of(params: SamplingParams) -> Layout | None:
    """The request's frame layout, None when it did not opt in; ValueError when malformed."""
    extra: dict[str, Any] = params.extra_args or {}
    if not any(key in extra for key in XARGS):
        return None
    try:
        start, codebook, ends = extra["svara_code_start"], extra["svara_codebook"], extra["svara_frame_end"]
        layout = (int(start), int(codebook), tuple(int(i) for i in ends))
    except (KeyError, TypeError, ValueError) as exc:
        raise ValueError(f"svara frame arguments need all of {', '.join(XARGS)} (ints; end ids a list)") from exc
    if layout[0] < 0 or layout[1] < 1:
        raise ValueError("svara_code_start must be >= 0 and svara_codebook >= 1")
    return layout


def frame_mask(layout: Layout, vocab_size: int) -> torch.Tensor:
    """(7, vocab) bool: row i mod 7 is True where the i-th generated token may be."""
    start, codebook, ends = layout
    # Never raise here (the engine's step would fail): slices past the vocabulary are simply empty.
    mask = torch.zeros((CODES_PER_FRAME, vocab_size), dtype=torch.bool)
    for slot in range(CODES_PER_FRAME):
        mask[slot, start + slot * codebook : start + (slot + 1) * codebook] = True
    mask[0, [i for i in ends if 0 <= i < vocab_size]] = True  # end only at a frame boundary
    return mask


class _Masks:
    """One mask per distinct layout (in practice one per deployment), built on first use."""

    def __init__(self, vocab_size: int, device: torch.device) -> None:
        self.vocab_size, self.device = vocab_size, device
        self.index: dict[Layout, int] = {}
        self.masks: list[torch.Tensor] = []

    def id_of(self, layout: Layout) -> int:
        if layout not in self.index:
            self.index[layout] = len(self.masks)
            self.masks.append(frame_mask(layout, self.vocab_size).to(self.device))
        return self.index[layout]

    def restrict(
        self, logits: torch.Tensor, rows: torch.Tensor, layout_ids: torch.Tensor, phases: torch.Tensor
    ) -> None:
        """Set to -inf, in place, every logit the row's layout does not allow at its phase."""
        for index, mask in enumerate(self.masks):
            chosen = layout_ids == index
            if bool(chosen.any()):
                picked = rows[chosen]
                allowed = mask[phases[chosen]]
                logits[picked] = logits[picked].masked_fill(~allowed, float("-inf"))


class SvaraFrameProcessor(LogitsProcessor):  # type: ignore[misc]  # vLLM is not in the gateway's env
    """The V1 model runner's interface: requests by persistent-batch index, with a live reference to
    each one's generated tokens."""

    def __init__(self, vllm_config: VllmConfig, device: torch.device, is_pin_memory: bool) -> None:
        self._masks = _Masks(vllm_config.model_config.get_vocab_size(), device)
        self._requests: dict[int, tuple[int, list[int]]] = {}  # batch index -> (layout id, output ids)

    @classmethod
    def validate_params(cls, sampling_params: SamplingParams) -> None:
        layout_of(sampling_params)

    def is_argmax_invariant(self) -> bool:
        return False  # it changes what greedy decoding picks

    def update_state(self, batch_update: BatchUpdate | None) -> None:
        if batch_update is None:
            return
        for index in batch_update.removed:
            self._requests.pop(index, None)
        for index, params, _, output_ids in batch_update.added:
            layout = layout_of(params) if params is not None else None
            if layout is None:
                self._requests.pop(index, None)
            else:
                self._requests[index] = (self._masks.id_of(layout), output_ids)
        for a, b, direction in batch_update.moved:
            first, second = self._requests.pop(a, None), self._requests.pop(b, None)
            if first is not None:
                self._requests[b] = first
            if direction == MoveDirectionality.SWAP and second is not None:
                self._requests[a] = second

    def apply(self, logits: torch.Tensor) -> torch.Tensor:
        if not self._requests:
            return logits
        items = list(self._requests.items())
        rows = torch.tensor([index for index, _ in items], dtype=torch.long, device=logits.device)
        layout_ids = torch.tensor([layout for _, (layout, _) in items], dtype=torch.long, device=logits.device)
        phases = torch.tensor(
            [len(output) % CODES_PER_FRAME for _, (_, output) in items], dtype=torch.long, device=logits.device
        )
        self._masks.restrict(logits, rows, layout_ids, phases)
        return logits


class SvaraFrameProcessorV2(LogitsProcessorV2):  # type: ignore[misc]
    """Model Runner V2's interface: requests by slot; rows of a step map to slots."""

    def __init__(self, vllm_config: VllmConfig, req_states: LogitsProcRequestState) -> None:
        self.req_states = req_states
        self._masks = _Masks(req_states.vocab_size, req_states.device)
        # Per request slot: its layout id, -1 when the request did not opt in.
        self.slot_layout = torch.full((req_states.max_num_reqs,), -1, dtype=torch.long)

    @classmethod
    def validate_params(cls, sampling_params: SamplingParams) -> None:
        layout_of(sampling_params)

    def add_request(self, req_idx: int, sampling_params: SamplingParams) -> bool:
        layout = layout_of(sampling_params)
        if layout is None:
            self.slot_layout[req_idx] = -1
            return False
        self.slot_layout[req_idx] = self._masks.id_of(layout)
        return True

    def apply(self, logits: torch.Tensor, ctx: LogitsContext) -> torch.Tensor:
        slots_of_batch = torch.as_tensor(ctx.idx_mapping_np, dtype=torch.long)
        if not bool((self.slot_layout[slots_of_batch] >= 0).any()):
            return logits  # host-side check: nobody in this step opted in
        slots = ctx.expanded_idx_mapping.long()
        layout_ids = self.slot_layout.to(logits.device)[slots]
        # The token sampled from a row sits at position pos + 1; generated tokens start at prompt_len.
        generated = ctx.pos.long() + 1 - self.req_states.prompt_len.gpu.to(logits.device)[slots].long()
        phases = torch.remainder(generated, CODES_PER_FRAME)
        rows = torch.arange(logits.shape[0], device=logits.device)
        chosen = layout_ids >= 0
        self._masks.restrict(logits, rows[chosen], layout_ids[chosen], phases[chosen])
        return logits
