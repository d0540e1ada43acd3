// Plays 16-bit mono PCM while it arrives: each chunk becomes an AudioBuffer scheduled right after
// the previous one, so playback starts with the first bytes rather than the whole file.

const LEAD_S = 0.05; // scheduled slightly ahead so the first buffer is not clipped

export class PcmPlayer {
  constructor(sampleRate, onFirstAudio = () => {}) {
    this.rate = sampleRate;
    this.onFirstAudio = onFirstAudio;
    this.context = new AudioContext();
    this.next = 0;
    this.carry = null; // an odd byte left over from the previous chunk
    this.sources = new Set();
    this.started = false;
  }

  async resume() {
    if (this.context.state === "suspended") await this.context.resume();
  }

  push(bytes) {
    let data = bytes;
    if (this.carry) {
      data = new Uint8Array(bytes.length + 1);
      data.set(this.carry);
      data.set(bytes, 1);
      this.carry = null;
    }
    if (data.length % 2) {
      this.carry = data.slice(-1);
      data = data.subarray(0, data.length - 1);
    }
    if (!data.length) return;
    const samples = new Int16Array(data.buffer.slice(data.byteOffset, data.byteOffset + data.length));
    const buffer = this.context.createBuffer(1, samples.length, this.rate);
    const channel = buffer.getChannelData(0);
    for (let i = 0; i < samples.length; i++) channel[i] = samples[i] / 32768;
    const source = this.context.createBufferSource();
    source.buffer = buffer;
    source.connect(this.context.destination);
    const at = Math.max(this.next, this.context.currentTime + LEAD_S);
    source.start(at);
    source.onended = () => this.sources.delete(source);
    this.sources.add(source);
    this.next = at + buffer.duration;
    if (!this.started) {
      this.started = true;
      this.onFirstAudio((at - this.context.currentTime) * 1000);
    }
  }

  // Seconds of audio still queued to play.
  get pending() {
    return Math.max(0, this.next - this.context.currentTime);
  }

  stop() {
    for (const source of this.sources) source.stop();
    this.sources.clear();
    if (this.context.state !== "closed") this.context.close();
  }
}

// A WAV file of 16-bit mono PCM (for the audio element and downloads of raw PCM).
export function wavFile(pcmParts, sampleRate) {
  const length = pcmParts.reduce((n, part) => n + part.length, 0);
  const header = new DataView(new ArrayBuffer(44));
  const text = (offset, s) => [...s].forEach((ch, i) => header.setUint8(offset + i, ch.charCodeAt(0)));
  text(0, "RIFF");
  header.setUint32(4, 36 + length, true);
  text(8, "WAVEfmt ");
  header.setUint32(16, 16, true);
  header.setUint16(20, 1, true);
  header.setUint16(22, 1, true);
  header.setUint32(24, sampleRate, true);
  header.setUint32(28, sampleRate * 2, true);
  header.setUint16(32, 2, true);
  header.setUint16(34, 16, true);
  text(36, "data");
  header.setUint32(40, length, true);
  return new Blob([header.buffer, ...pcmParts], { type: "audio/wav" });
}

// Plays a compressed stream (MP3, AAC) while it arrives, through Media Source Extensions on an
// audio element; the element keeps the whole file for replay once the stream has ended.
export class MsePlayer {
  static supports(type) {
    return "MediaSource" in window && MediaSource.isTypeSupported(type);
  }

  constructor(audio, type, onFirstAudio = () => {}) {
    this.audio = audio;
    this.source = new MediaSource();
    this.queue = [];
    this.url = URL.createObjectURL(this.source);
    audio.src = this.url;
    audio.addEventListener("playing", () => onFirstAudio(0), { once: true });
    this.source.addEventListener("sourceopen", () => {
      this.buffer = this.source.addSourceBuffer(type);
      this.buffer.mode = "sequence";
      this.buffer.addEventListener("updateend", () => this.drain());
      this.drain(); // bytes that arrived before the source opened
    }, { once: true });
    this.drained = null; // resolves when finish() has nothing left to append
  }

  push(bytes) {
    this.queue.push(bytes);
    this.drain();
  }

  drain() {
    if (!this.buffer || this.buffer.updating) return;
    const next = this.queue.shift();
    if (next) {
      this.buffer.appendBuffer(next);
      if (this.audio.paused) this.audio.play().catch(() => {});
    } else if (this.drained) {
      this.drained();
    }
  }

  async finish() {
    await new Promise((resolve) => {
      this.drained = resolve;
      this.drain();
    });
    this.source.endOfStream();
  }

  stop() {
    this.audio.pause();
  }
}
