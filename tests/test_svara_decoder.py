"""Streaming SNAC decoding against the whole-utterance decode, on the seeded-random 24 kHz model."""

from __future__ import annotations

import asyncio
from pathlib import Path

import numpy as np
import pytest

from tests.svara_support import encode_frames, seeded_snac_dir, shared_engine, snr_db, speech_like_audio
from tts_engine.svara.errors import SnacLoadError
from tts_engine.svara.snac_decoder import StreamDecoder
from tts_engine.svara.snac_engine import SnacEngine
from tts_engine.svara.snac_model import load_snac


@pytest.fixture(scope="module")
def frames() -> np.ndarray:
    return encode_frames(shared_engine(), speech_like_audio(0.9))  # 11 frames


async def _stream(
    engine: SnacEngine, frames: np.ndarray, seed: int, **options: int
) -> tuple[np.ndarray, int]:
    decoder = StreamDecoder(engine, seed=seed, **options)
    pieces = [a for f in frames if (a := await decoder.push(f)) is not None]
    tail = await decoder.finish()
    pieces += [tail] if tail is not None else []
    assert decoder.frames_at_first_audio is not None
    return np.concatenate(pieces), decoder.frames_at_first_audio


def test_positional_noise_is_reproducible_and_keyed_by_seed(frames: np.ndarray) -> None:
    engine = shared_engine()
    a = engine.decode_whole(frames[:4], seed=1)
    assert np.array_equal(a, engine.decode_whole(frames[:4], seed=1))
    assert (
        snr_db(engine.decode_whole(frames[:4], seed=2), a) < 40
    )  # the noise matters, and moves with the seed


async def test_streamed_audio_equals_whole_decode_to_the_last_frame(frames: np.ndarray) -> None:
    engine = shared_engine()
    whole = engine.decode_whole(frames, seed=11)
    streamed, first = await _stream(engine, frames, seed=11, max_span=4)
    assert streamed.shape == whole.shape == (len(frames) * 2048,)
    assert snr_db(streamed, whole) >= 60
    last = slice(-2048, None)
    assert snr_db(streamed[last], whole[last]) >= 60
    assert first == 3  # the first frame plus its 2 frames of right context


@pytest.mark.parametrize("count", [1, 2, 3])
async def test_short_utterances_are_not_lost(frames: np.ndarray, count: int) -> None:
    engine = shared_engine()
    streamed, _ = await _stream(engine, frames[:count], seed=3)
    whole = engine.decode_whole(frames[:count], seed=3)
    assert streamed.shape == whole.shape
    assert snr_db(streamed, whole) >= 60


async def test_fast_start_option_trades_exactness_for_first_audio_after_two_frames(
    frames: np.ndarray,
) -> None:
    engine = shared_engine()
    streamed, first = await _stream(engine, frames, seed=4, first_right_context=1)
    assert first == 2
    assert snr_db(streamed, engine.decode_whole(frames, seed=4)) > 20


async def test_cross_stream_batching_decodes_together_and_matches_single(frames: np.ndarray) -> None:
    single = shared_engine()
    batched = SnacEngine(single.model, device="cpu", batching=True)
    try:
        results = await asyncio.gather(*(_stream(batched, frames[:6], seed=s) for s in (21, 22, 23)))
    finally:
        await batched.close()
    assert max(batched.batch_sizes) == 3  # three streams' spans went through one decode call
    for (audio, _), seed in zip(results, (21, 22, 23), strict=True):
        assert snr_db(audio, single.decode_whole(frames[:6], seed=seed)) >= 60


def test_model_loads_from_directory_and_fails_clearly(tmp_path: Path) -> None:
    model = load_snac(str(seeded_snac_dir()))
    assert model.sampling_rate == 24000
    with pytest.raises(SnacLoadError, match="pytorch_model.bin"):
        (tmp_path / "config.json").write_text("{}")
        load_snac(str(tmp_path))
    with pytest.raises(SnacLoadError, match="not a directory"):
        load_snac(str(tmp_path / "missing"))


@pytest.mark.gpu
async def test_cuda_batched_streams_match_whole_decode(frames: np.ndarray) -> None:
    engine = SnacEngine.load(str(seeded_snac_dir()), device="cuda")
    assert engine.batching  # auto: on with CUDA
    try:
        results = await asyncio.gather(*(_stream(engine, frames, seed=s) for s in range(8)))
        assert max(engine.batch_sizes) > 1
        for seed, (audio, _) in enumerate(results):
            assert snr_db(audio, engine.decode_whole(frames, seed=seed)) >= 60
    finally:
        await engine.close()
