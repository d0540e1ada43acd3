"""The Svara SDK (`svara-voice`) against the gateway with the Piper voice: whole and streamed speech
with its extra fields, the stream-input WebSocket, and audio with character timings."""

from __future__ import annotations

import io
import wave
from collections.abc import Iterator

import pytest
import svara

from tests.support.tts_gateway import Gateway, audio_seconds

TEXT = "Hello from the appliance. This is a short test. It has three sentences."


@pytest.fixture(scope="module")
def client(tts_gateway: Gateway) -> Iterator[svara.Svara]:
    with svara.Svara(api_key="unused", base_url=tts_gateway.url, max_retries=0) as sdk:
        yield sdk


def test_whole_wav_has_its_real_length(client: svara.Svara) -> None:
    audio = client.speech.create(input=TEXT, voice="en_us_joe", response_format="wav", temperature=0.7, top_p=0.9)
    with wave.open(io.BytesIO(audio)) as clip:  # an open-ended header would read as hours
        seconds = clip.getnframes() / clip.getframerate()
        assert clip.getframerate() == audio.sample_rate
    assert 2.0 < seconds < 10.0
    assert seconds == pytest.approx(audio_seconds(audio), abs=0.01)


def test_pcm_at_the_sdk_rate(client: svara.Svara) -> None:
    audio = client.speech.create(input=TEXT, voice="alloy", response_format="pcm", sample_rate=16000, language="en")
    assert audio.sample_rate == 16000 and len(audio) / 2 / 16000 > 2.0


def test_streamed_speech(client: svara.Svara) -> None:
    with client.speech.stream(input=" ".join([TEXT] * 3), voice="en_us_joe", response_format="mp3") as stream:
        parts = list(stream)
    assert len(parts) > 1 and audio_seconds(b"".join(parts)) > 6.0


def test_stream_input_websocket(client: svara.Svara) -> None:
    def words() -> Iterator[object]:
        for word in TEXT.split(" "):
            yield word + " "
        yield svara.FLUSH  # speak what is buffered; the SDK then sends its end frame

    pcm = b"".join(client.speech.stream_input(words(), voice="en_us_joe", response_format="pcm"))  # type: ignore[arg-type]
    assert len(pcm) / 2 / 24000 > 2.0  # the SDK's default rate


def test_audio_with_character_timings(client: svara.Svara) -> None:
    result = client.speech.create_with_timestamps(input=TEXT, voice="en_us_joe", response_format="mp3")
    alignment = result.alignment
    assert alignment.text == TEXT
    starts, ends = alignment.start_times, alignment.end_times
    assert all(a <= b for a, b in zip(starts, starts[1:], strict=False))
    assert all(s <= e for s, e in zip(starts, ends, strict=True))
    # Timed by the audio: the last character ends where the clip does, sentences start in turn.
    assert ends[-1] == pytest.approx(audio_seconds(result.audio), abs=0.1)
    second = TEXT.index("This")
    assert 0.5 < starts[second] < ends[-1] - 0.5
    assert [w for w, _, _ in alignment.words()] == TEXT.split()


def test_streamed_audio_with_character_timings(client: svara.Svara) -> None:
    chunks = list(client.speech.stream_with_timestamps(input=TEXT, voice="en_us_joe", response_format="pcm"))
    assert len(chunks) == 3  # one per sentence
    assert "".join(c.alignment.text for c in chunks) == TEXT
    pcm = b"".join(c.audio for c in chunks)
    assert chunks[-1].alignment.end_times[-1] == pytest.approx(len(pcm) / 2 / 24000, abs=0.01)
    for before, after in zip(chunks, chunks[1:], strict=False):  # offsets run on across chunks
        assert before.alignment.end_times[-1] == pytest.approx(after.alignment.start_times[0], abs=0.001)


def test_voice_list(client: svara.Svara) -> None:
    voices = {v.voice_id: v for v in client.voices.list()}
    assert "en_us_joe" in voices and "hi_male" in voices  # Piper's, and Svara's (listed, not speaking here)
