// Transcribe tab: a file or a microphone recording to /v1/audio/transcriptions, words with their
// timings (the one being played is highlighted), SRT and VTT from the same API.
import { api, download } from "./api.js";

const $ = (id) => document.getElementById(id);

export function initTranscribe(showError) {
  let audioFile = null;
  let audioUrl = null;
  let recorder = null;
  let words = [];

  function form(file, format) {
    const body = new FormData();
    body.append("file", file, file.name || "recording.webm");
    body.append("model", "whisper-1");
    body.append("response_format", format);
    const language = $("transcribe-language").value.trim();
    if (language) body.append("language", language);
    if (format === "verbose_json") {
      body.append("timestamp_granularities[]", "word");
      body.append("timestamp_granularities[]", "segment");
    }
    return body;
  }

  function renderWords(result) {
    const box = $("transcript");
    words = [];
    box.replaceChildren();
    for (const word of result.words || []) {
      const span = document.createElement("span");
      span.className = "word";
      span.textContent = word.word.trim();
      span.title = `${word.start.toFixed(2)}–${word.end.toFixed(2)} s`;
      span.addEventListener("click", () => {
        $("transcribe-audio").currentTime = word.start;
        $("transcribe-audio").play().catch(() => {});
      });
      words.push({ ...word, span });
      box.append(span, " ");
    }
    if (!words.length) box.textContent = result.text || "(no speech found)";
  }

  function highlight() {
    const t = $("transcribe-audio").currentTime;
    for (const word of words) word.span.classList.toggle("current", t >= word.start && t < word.end);
  }

  async function transcribe(file) {
    audioFile = file;
    showError(null);
    if (audioUrl) URL.revokeObjectURL(audioUrl);
    audioUrl = URL.createObjectURL(file);
    $("transcribe-audio").src = audioUrl;
    $("transcribe-audio").hidden = false;
    $("transcript").replaceChildren();
    $("download-srt").disabled = $("download-vtt").disabled = true;
    $("transcribe-status").textContent = "Transcribing…";
    const started = performance.now();
    try {
      const result = await (await api("/v1/audio/transcriptions", { method: "POST", body: form(file, "verbose_json") })).json();
      renderWords(result);
      const seconds = ((performance.now() - started) / 1000).toFixed(1);
      $("transcribe-status").textContent =
        `${result.duration.toFixed(1)} s of audio (${result.language}) transcribed in ${seconds} s. Play it to follow the words.`;
      $("download-srt").disabled = $("download-vtt").disabled = false;
    } catch (exc) {
      $("transcribe-status").textContent = "Transcription failed.";
      showError(exc);
    }
  }

  async function subtitles(format) {
    $("transcribe-status").textContent = `Preparing ${format.toUpperCase()}…`;
    try {
      const response = await api("/v1/audio/transcriptions", { method: "POST", body: form(audioFile, format) });
      download(await response.blob(), `transcript.${format}`);
      $("transcribe-status").textContent = `${format.toUpperCase()} downloaded.`;
    } catch (exc) {
      showError(exc);
    }
  }

  async function toggleRecording() {
    const button = $("record");
    if (recorder) {
      recorder.stop();
      return;
    }
    let stream;
    try {
      stream = await navigator.mediaDevices.getUserMedia({ audio: true });
    } catch (exc) {
      showError(new Error(`the microphone is not available: ${exc.message}`));
      return;
    }
    const chunks = [];
    recorder = new MediaRecorder(stream);
    recorder.ondataavailable = (event) => chunks.push(event.data);
    recorder.onstop = () => {
      stream.getTracks().forEach((track) => track.stop());
      recorder = null;
      button.setAttribute("aria-pressed", "false");
      button.textContent = "Record from microphone";
      const type = chunks[0]?.type || "audio/webm";
      transcribe(new File(chunks, "recording.webm", { type }));
    };
    recorder.start();
    button.setAttribute("aria-pressed", "true");
    button.textContent = "Stop recording";
    $("transcribe-status").textContent = "Recording… press again to stop and transcribe.";
  }

  $("audio-file").addEventListener("change", (event) => {
    const [file] = event.target.files;
    if (file) transcribe(file);
  });
  $("record").addEventListener("click", toggleRecording);
  $("transcribe-audio").addEventListener("timeupdate", highlight);
  $("transcribe-audio").addEventListener("seeked", highlight);
  $("download-srt").addEventListener("click", () => subtitles("srt"));
  $("download-vtt").addEventListener("click", () => subtitles("vtt"));
}
