// Live tab: microphone -> audio worklet (16-bit PCM) -> WS /v1/listen/stream; partials shown
// as they change, finals appended.
import { explainRefusal, streamError, wsUrl } from "./api.js";

const $ = (id) => document.getElementById(id);

export function initLive(showError) {
  let session = null; // {socket, context, stream}

  function stopAudio() {
    if (!session) return;
    session.stream.getTracks().forEach((track) => track.stop());
    session.context.close();
  }

  function ended(text) {
    stopAudio();
    session = null;
    $("live-toggle").setAttribute("aria-pressed", "false");
    $("live-toggle").textContent = "Start listening";
    $("live-status").textContent = text;
  }

  async function start() {
    showError(null);
    let stream;
    try {
      stream = await navigator.mediaDevices.getUserMedia({ audio: { channelCount: 1, echoCancellation: true } });
    } catch (exc) {
      showError(new Error(`the microphone is not available: ${exc.message}`));
      return;
    }
    const context = new AudioContext();
    await context.audioWorklet.addModule("/playground/mic-worklet.js");
    const capture = new AudioWorkletNode(context, "pcm-capture", { numberOfOutputs: 0 }); // a sink: always pulled
    context.createMediaStreamSource(stream).connect(capture);
    const socket = new WebSocket(wsUrl("/v1/listen/stream", {
      sample_rate: context.sampleRate, encoding: "linear16", language: $("live-language").value.trim(),
    }));
    socket.binaryType = "arraybuffer";
    session = { socket, context, stream };
    $("live-final").textContent = "";
    $("live-partial").textContent = "";
    $("live-toggle").setAttribute("aria-pressed", "true");
    $("live-toggle").textContent = "Stop listening";
    $("live-status").textContent = "Connecting…";
    let opened = false;
    socket.onopen = () => {
      opened = true;
      $("live-status").textContent = "Listening — speak now.";
      capture.port.onmessage = (event) => {
        if (socket.readyState === WebSocket.OPEN) socket.send(event.data);
      };
    };
    socket.onmessage = (event) => {
      const message = JSON.parse(event.data);
      if (message.type === "error") {
        showError(streamError(message));
        return;
      }
      if (message.is_final) {
        if (message.transcript) $("live-final").textContent += `${message.transcript} `;
        $("live-partial").textContent = "";
      } else {
        $("live-partial").textContent = message.transcript;
      }
      if (message.is_last) $("live-status").textContent = "Finished.";
    };
    socket.onclose = async () => {
      if (!opened) showError(await explainRefusal());
      if (session?.socket === socket) ended(opened ? "Stopped." : "Could not start.");
    };
  }

  function stop() {
    const { socket } = session;
    stopAudio(); // no more audio; the server sends what it still has, then is_last, then closes
    if (socket.readyState === WebSocket.OPEN) {
      socket.send(JSON.stringify({ type: "close_stream" }));
      $("live-status").textContent = "Finishing the last words…";
    }
  }

  $("live-toggle").addEventListener("click", () => (session ? stop() : start()));
}
