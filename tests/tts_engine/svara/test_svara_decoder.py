"""Streaming SNAC decoding against the whole-utterance decode, on the seeded-random 24 kHz model."""

from __future__ import annotations

import asyncio
from pathlib import Path

import numpy as np
import pytest

from tests.support.svara import seeded_snac_dir, shared_engine, snr_db, speech_like_audio
from tts_engine.svara.errors import SnacLoadError
from tts_engine.svara.snac.decoder import StreamDecoder
from tts_engine.svara.snac.engine import SnacEngine
from tts_engine.svara.snac.model import load_snac


@pytest.fixture(scope="module")
def frames() -> np.ndarray:
    return shared_engine().encode(speech_like_audio(0.9))  # 11 frames


async def _stream(
    engine: SnacEngine, frames: np.ndarray, seed: int, **options: int | bool
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


@pytest.mark.parametrize("max_span", [1, 4, 32])
async def test_streamed_audio_equals_whole_decode_to_the_last_frame(frames: np.ndarray, max_span: int) -> None:
    engine = shared_engine()
    whole = engine.decode_whole(frames, seed=11)
    streamed, first = await _stream(engine, frames, seed=11, max_span=max_span)
    assert streamed.shape == whole.shape == (len(frames) * 2048,)
    # Equal up to float rounding (a windowed decode with 2 frames of context reaches about 85 dB).
    assert snr_db(streamed, whole) >= 100
    last = slice(-2048, None)
    assert snr_db(streamed[last], whole[last]) >= 100
    assert first == 3  # the decoder's right receptive field is about 2.3 frames


def test_each_latent_step_is_decoded_once(frames: np.ndarray) -> None:
    streamer = shared_engine().streamer
    state = streamer.new_state(seed=2)
    pieces = [streamer.step([state], frames[None, i : i + 2])[0] for i in range(0, 8, 2)]
    pieces += streamer.step([state], frames[None, 8:], finish=True)
    # The input consumed is the utterance plus the flush that drains the receptive field, no more.
    assert state.latent_pos == len(frames) * streamer.latents_per_frame + streamer.flush_latents
    # After 2 frames nothing is final; after 4, everything but the last `delay` samples is.
    assert [len(p) for p in pieces[:2]] == [0, 4 * 2048 - streamer.delay]
    assert sum(len(p) for p in pieces) == len(frames) * 2048


async def test_cpu_decodes_run_with_snac_cpu_threads(frames: np.ndarray) -> None:
    """The decode thread uses SNAC_CPU_THREADS (1), whatever the rest of the process uses."""
    import torch

    engine = shared_engine()
    await _stream(engine, frames[:3], seed=3)
    assert engine._thread is not None
    assert engine._thread.submit(torch.get_num_threads).result(10) == engine.cpu_threads == 1


@pytest.mark.parametrize("count", [1, 2, 3])
async def test_short_utterances_are_not_lost(frames: np.ndarray, count: int) -> None:
    engine = shared_engine()
    streamed, _ = await _stream(engine, frames[:count], seed=3)
    whole = engine.decode_whole(frames[:count], seed=3)
    assert streamed.shape == whole.shape
    assert snr_db(streamed, whole) >= 100


async def test_fast_start_option_trades_exactness_for_first_audio_after_two_frames(
    frames: np.ndarray,
) -> None:
    engine = shared_engine()
    whole = engine.decode_whole(frames, seed=4)
    streamed, first = await _stream(engine, frames, seed=4, fast_start=True)
    assert first == 2
    assert streamed.shape == whole.shape
    assert 20 < snr_db(streamed[:2048], whole[:2048]) < 60  # frame 0 is the approximate one
    assert snr_db(streamed[2048:], whole[2048:]) >= 100  # the exact stream resumes right after it


async def test_cross_stream_batching_decodes_together_and_matches_single(frames: np.ndarray) -> None:
    single = shared_engine()
    batched = SnacEngine(single.model, device="cpu", batching=True)
    try:
        results = await asyncio.gather(*(_stream(batched, frames[:6], seed=s) for s in (21, 22, 23)))
    finally:
        await batched.close()
    assert batched.largest_batch == 3  # three streams' steps went through one decode call
    for (audio, _), seed in zip(results, (21, 22, 23), strict=True):
        assert snr_db(audio, single.decode_whole(frames[:6], seed=seed)) >= 100


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
        assert engine.largest_batch > 1
        for seed, (audio, _) in enumerate(results):
            assert snr_db(audio, engine.decode_whole(frames, seed=seed)) >= 60
    finally:
        await engine.close()
