"""Token text -> SNAC frames: arbitrary splits, code 0 and 4095 kept, a bad code drops one frame."""

from __future__ import annotations

import random

import numpy as np
import pytest

from common.metrics import SVARA_DROPPED_FRAMES
from tts_engine.svara.tokens import (
    FrameAssembler,
    codes_to_frames,
    frames_to_codes,
    frames_to_token_text,
)


def _frames(count: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 4096, size=(count, 7))


def _feed_split(text: str, pieces: list[int]) -> tuple[FrameAssembler, list[np.ndarray]]:
    assembler = FrameAssembler()
    out: list[np.ndarray] = []
    start = 0
    for size in pieces:
        out.extend(assembler.feed(text[start : start + size]))
        start += size
    out.extend(assembler.feed(text[start:]))
    assembler.finish()
    return assembler, out


def _dropped(reason: str) -> float:
    return SVARA_DROPPED_FRAMES.labels(reason=reason)._value.get()


@pytest.mark.parametrize("max_piece", [1, 3, 17, 200])
def test_any_split_of_the_text_gives_the_same_frames(max_piece: int) -> None:
    frames = _frames(9)
    text = frames_to_token_text(frames)
    rng = random.Random(max_piece)
    _, out = _feed_split(text, [rng.randint(1, max_piece) for _ in range(len(text))])
    assert np.array_equal(np.stack(out), frames)


def test_formula_matches_design() -> None:
    # i-th audio token gives code N - 10 - (i mod 7) * 4096
    text = "".join(f"<custom_token_{10 + j * 4096 + 100 + j}>" for j in range(7))
    (frame,) = FrameAssembler().feed(text)
    assert frame.tolist() == [100, 101, 102, 103, 104, 105, 106]


def test_code_0_and_4095_survive() -> None:
    frames = _frames(3)
    frames[0, :] = 0
    frames[1, :] = 4095
    frames[2, 0], frames[2, 6] = 0, 4095
    out = FrameAssembler().feed(frames_to_token_text(frames))
    assert np.array_equal(np.stack(out), frames)


@pytest.mark.parametrize("slot", [0, 3, 6])
def test_one_bad_code_drops_exactly_its_frame_and_keeps_alignment(slot: int) -> None:
    frames = _frames(5, seed=slot)
    numbers = (frames + np.arange(7) * 4096 + 10).reshape(-1)
    numbers[2 * 7 + slot] = 10 + slot * 4096 + 4096  # code 4096: out of range
    text = "".join(f"<custom_token_{n}>" for n in numbers)
    before = _dropped("invalid_code")
    assembler, out = _feed_split(text, [5] * 400)
    assert np.array_equal(np.stack(out), np.delete(frames, 2, axis=0))
    assert assembler.stats.dropped_invalid == 1
    assert _dropped("invalid_code") - before == 1


def test_negative_code_drops_its_frame() -> None:
    frames = _frames(2)
    numbers = (frames + np.arange(7) * 4096 + 10).reshape(-1)
    numbers[7 + 5] = 10 + 4 * 4096 + 7  # a slot-4 token in slot 5: code < 0
    out = FrameAssembler().feed("".join(f"<custom_token_{n}>" for n in numbers))
    assert np.array_equal(np.stack(out), frames[:1])


def test_control_tokens_take_no_slot_and_incomplete_tail_is_counted() -> None:
    frames = _frames(2)
    text = "<custom_token_1>" + frames_to_token_text(frames) + "<|eot_id|>" + "<custom_token_14>"
    before = _dropped("incomplete")
    assembler, out = _feed_split(text, [4] * 100)
    assert np.array_equal(np.stack(out), frames)
    assert assembler.stats.control_tokens == 1
    assert assembler.stats.dropped_incomplete == 1
    assert _dropped("incomplete") - before == 1


def test_layer_layout_round_trips() -> None:
    frames = _frames(4)
    l0, l1, l2 = frames_to_codes(frames)
    assert l0.tolist() == frames[:, 0].tolist()
    assert l1[:2].tolist() == [frames[0, 1], frames[0, 4]]
    assert l2[:4].tolist() == [frames[0, 2], frames[0, 3], frames[0, 5], frames[0, 6]]
    assert np.array_equal(codes_to_frames(l0, l1, l2), frames)
