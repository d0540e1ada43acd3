// Speak tab: the voice catalogue with filters, one-shot synthesis that plays while it streams,
// and a "speak as I type" mode on the TTS WebSocket.
import { ApiError, api, explainRefusal, streamError, wsUrl } from "./api.js";
import { MsePlayer, PcmPlayer, wavFile } from "./player.js";

const $ = (id) => document.getElementById(id);
const WAV_HEADER = 44; // the streamed WAV header (sizes unknown), stripped before playback
const TYPES = { wav: "audio/wav", mp3: "audio/mpeg", opus: "audio/ogg", flac: "audio/flac", aac: "audio/aac", pcm: "audio/pcm" };
const EXTENSIONS = { opus: "ogg" };
const PAUSE_MS = 1200;
const SENTENCE_END = /[.!?…。।]["')\]]*\s*$/;

export function initSpeak(showError) {
  let voices = [];
  let player = null;
  let objectUrl = null;

  function option(value, label, disabled = false) {
    const el = document.createElement("option");
    el.value = value;
    el.textContent = label;
    el.disabled = disabled;
    return el;
  }

  function fillFilter(select, values, allLabel) {
    const current = select.value;
    select.replaceChildren(option("", allLabel), ...[...new Set(values)].sort().map((v) => option(v, v)));
    select.value = values.includes(current) ? current : "";
  }

  function renderVoices(defaultVoice) {
    const language = $("voice-language").value;
    const backend = $("voice-backend").value;
    const select = $("voice");
    const current = select.value || defaultVoice;
    const shown = voices.filter((v) => (!language || v.language === language) && (!backend || v.backend === backend));
    select.replaceChildren(
      ...shown.map((v) =>
        option(v.id, `${v.name} — ${v.language}, ${v.gender}, ${v.backend}${v.available ? "" : " (unavailable)"}`, !v.available),
      ),
    );
    const usable = shown.filter((v) => v.available);
    select.value = usable.some((v) => v.id === current) ? current : usable[0]?.id || "";
    $("speak").disabled = !select.value;
  }

  async function loadVoices() {
    try {
      const body = await (await api("/v1/voices")).json();
      voices = body.voices;
      fillFilter($("voice-language"), voices.map((v) => v.language), "All languages");
      fillFilter($("voice-backend"), voices.map((v) => v.backend), "All backends");
      renderVoices(body.default_voice);
      const ready = voices.filter((v) => v.available).length;
      $("speak-status").textContent = `${ready} of ${voices.length} voices ready.`;
    } catch (exc) {
      $("speak-status").textContent = "The voices could not be loaded.";
      showError(exc);
    }
  }

  function settings() {
    return {
      voice: $("voice").value,
      format: $("format").value,
      speed: Number($("speed").value),
      sampleRate: $("sample-rate").value ? Number($("sample-rate").value) : null,
    };
  }

  function offerDownload(blob, format) {
    const link = $("speech-download");
    if (link.href.startsWith("blob:")) URL.revokeObjectURL(link.href);
    link.href = URL.createObjectURL(blob);
    link.download = `speech.${EXTENSIONS[format] || format}`;
    link.hidden = false;
  }

  function showFile(blob) {
    if (objectUrl) URL.revokeObjectURL(objectUrl);
    objectUrl = URL.createObjectURL(blob);
    $("speech-audio").src = objectUrl;
  }

  // How this format plays while it streams: PCM through Web Audio, MP3 and AAC through Media Source
  // Extensions where the browser has them; other formats (Ogg Opus, FLAC) once complete (null).
  function streamingPlayer(format, rate, onFirstAudio) {
    if (format === "wav" || format === "pcm") return new PcmPlayer(rate, onFirstAudio);
    if ((format === "mp3" || format === "aac") && MsePlayer.supports(TYPES[format])) {
      const mse = new MsePlayer($("speech-audio"), TYPES[format], onFirstAudio);
      if (objectUrl) URL.revokeObjectURL(objectUrl);
      objectUrl = mse.url;
      return mse;
    }
    return null;
  }

  async function speak() {
    const { voice, format, speed, sampleRate } = settings();
    showError(null);
    player?.stop();
    player = null;
    $("speak").disabled = true;
    $("speak-status").textContent = "Synthesising…";
    const started = performance.now();
    let firstAudioMs = null;
    const onFirstAudio = (leadMs) => {
      if (firstAudioMs !== null) return;
      firstAudioMs = performance.now() - started + leadMs;
      $("speak-status").textContent = `Playing — first audio after ${Math.round(firstAudioMs)} ms.`;
    };
    try {
      const response = await api("/v1/text-to-speech", {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify({
          text: $("text").value, voice, response_format: format, speed, sample_rate: sampleRate, stream: true,
        }),
      });
      const rate = Number(response.headers.get("X-Sample-Rate"));
      player = streamingPlayer(format, rate, onFirstAudio);
      if (player instanceof PcmPlayer) await player.resume();
      const parts = [];
      let skip = format === "wav" ? WAV_HEADER : 0;
      const reader = response.body.getReader();
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        let chunk = value;
        if (skip) {
          const cut = Math.min(skip, chunk.length);
          skip -= cut;
          chunk = chunk.subarray(cut);
        }
        if (!chunk.length) continue;
        parts.push(chunk);
        player?.push(chunk);
      }
      if (player instanceof PcmPlayer) {
        // The audio element gets a WAV with its sizes filled in (raw PCM is wrapped for it only).
        const wav = wavFile(parts, rate);
        showFile(wav);
        offerDownload(format === "pcm" ? new Blob(parts, { type: TYPES.pcm }) : wav, format);
      } else if (player instanceof MsePlayer) {
        await player.finish();
        offerDownload(new Blob(parts, { type: TYPES[format] }), format);
      } else {
        const file = new Blob(parts, { type: TYPES[format] });
        showFile(file);
        offerDownload(file, format);
        await $("speech-audio").play().catch(() => {});
      }
      onFirstAudio(0); // a stream that ended before the element started playing
      const note = player ? "" : " (this format plays once complete; WAV, PCM, MP3 and AAC play while they stream)";
      $("speak-status").textContent = `Done — first audio after ${Math.round(firstAudioMs)} ms${note}.`;
    } catch (exc) {
      $("speak-status").textContent = "Synthesis failed.";
      showError(exc instanceof ApiError ? exc : new ApiError(0, "network_error", String(exc)));
    } finally {
      $("speak").disabled = !$("voice").value;
    }
  }

  // What the chosen voice will read: numbers, money, dates and times in its language (POST /v1/text/normalize).
  async function showReading() {
    showError(null);
    const reading = $("speak-reading");
    try {
      const response = await api("/v1/text/normalize", {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ text: $("text").value, voice: $("voice").value || null }),
      });
      const body = await response.json();
      reading.textContent = body.text;
      reading.lang = body.language;
      reading.hidden = false;
    } catch (exc) {
      reading.hidden = true;
      showError(exc instanceof ApiError ? exc : new ApiError(0, "network_error", String(exc)));
    }
  }

  // --- speak as I type: text goes to WS /v1/speak/stream as it is written -----------------------
  let socket = null;
  let sent = ""; // text already sent on this stream (what was spoken cannot be taken back)
  let typingPlayer = null; // this mode's own player, apart from the one of the Speak button

  function openStream() {
    const { voice, speed, sampleRate } = settings();
    const ws = new WebSocket(
      wsUrl("/v1/speak/stream", { voice_id: voice, output_format: "pcm", sample_rate: sampleRate ?? "", speed }),
    );
    ws.binaryType = "arraybuffer";
    let opened = false;
    ws.onopen = () => { opened = true; };
    let rate = 0;
    let received = 0; // bytes of PCM16 audio so far
    ws.onmessage = async (event) => {
      if (typeof event.data !== "string") {
        typingPlayer?.push(new Uint8Array(event.data));
        received += event.data.byteLength;
        $("speak-status").textContent = `Speaking as you type — ${(received / 2 / rate).toFixed(1)} s of audio so far.`;
        return;
      }
      const message = JSON.parse(event.data);
      if (message.type === "ready") {
        typingPlayer?.stop();
        rate = message.sample_rate;
        typingPlayer = new PcmPlayer(rate);
        await typingPlayer.resume();
        $("speak-status").textContent = "Speaking as you type: each finished sentence is spoken; Enter speaks the rest now.";
        sendNew();
      } else if (message.type === "error" && message.error?.param === "idle") {
        $("speak-status").textContent = "The stream closed after a while without typing; typing opens a new one.";
      } else if (message.type === "error") {
        showError(streamError(message));
      }
    };
    ws.onclose = async (event) => {
      if (socket === ws) socket = null;
      if (!opened) showError(await explainRefusal());
    };
    socket = ws;
  }

  function sendNew() {
    if (!socket || socket.readyState !== WebSocket.OPEN || !typingPlayer) return;
    const text = $("text").value;
    if (!text.startsWith(sent)) {
      // Text already sent was edited: only what is typed after the unchanged part is sent.
      let same = 0;
      while (same < sent.length && sent[same] === text[same]) same++;
      sent = text.slice(0, same);
    }
    const fresh = text.slice(sent.length);
    if (!fresh) return;
    socket.send(JSON.stringify({ type: "text", text: fresh }));
    sent = text;
  }

  // The server speaks a sentence once the next one begins; when the writer pauses after a finished
  // sentence, a flush speaks it without waiting for more.
  let pause = null;
  function flushIfFinished() {
    if (socket?.readyState === WebSocket.OPEN && SENTENCE_END.test(sent)) socket.send(JSON.stringify({ type: "flush" }));
  }

  $("text").addEventListener("input", () => {
    if (!$("live-typing").checked) return;
    if (!socket) openStream();
    else sendNew();
    clearTimeout(pause);
    pause = setTimeout(flushIfFinished, PAUSE_MS);
  });
  $("text").addEventListener("keydown", (event) => {
    if ($("live-typing").checked && event.key === "Enter" && !event.shiftKey && socket?.readyState === WebSocket.OPEN) {
      sendNew();
      socket.send(JSON.stringify({ type: "flush" }));
    }
  });
  $("live-typing").addEventListener("change", (event) => {
    if (event.target.checked) {
      $("speak-status").textContent = "Start typing: each finished sentence is spoken.";
      sent = $("text").value; // only new text is spoken
      openStream();
    } else if (socket?.readyState === WebSocket.OPEN) {
      socket.send(JSON.stringify({ type: "close" }));
      $("speak-status").textContent = "Speaking the rest, then the stream ends.";
    }
  });

  $("speak").addEventListener("click", speak);
  $("show-reading").addEventListener("click", showReading);
  $("voice-language").addEventListener("change", () => renderVoices());
  $("voice-backend").addEventListener("change", () => renderVoices());
  $("voice").addEventListener("change", () => { $("speak").disabled = !$("voice").value; });
  $("speed").addEventListener("input", () => { $("speed-value").textContent = `${Number($("speed").value).toFixed(1)}×`; });
  return { loadVoices };
}
