// The public API, called with the user's key. The key lives in sessionStorage: it lasts for this
// tab only and is sent only to this appliance (same origin).

const KEY = "appliance.apiKey";

export function apiKey() {
  return sessionStorage.getItem(KEY) || "";
}

export function setApiKey(value) {
  if (value) sessionStorage.setItem(KEY, value);
  else sessionStorage.removeItem(KEY);
}

// Plain words for each HTTP status; the appliance's own message and code follow them.
const PLAIN = {
  400: "The request was not understood.",
  401: "The API key was not accepted. Enter a valid key at the top of the page.",
  402: "The appliance's license has expired.",
  403: "The appliance's license does not allow this.",
  404: "Not found.",
  408: "The upload took too long to arrive.",
  413: "That is too large for this appliance.",
  415: "This audio cannot be read. Try WAV, MP3, FLAC, Ogg or WebM.",
  422: "A setting is not valid.",
  429: "Too many requests, or a quota is used up. Wait a moment and retry.",
  502: "The engine failed while answering. Retry.",
  503: "The engine is not ready yet. Retry shortly; the Status tab shows what is missing.",
  504: "The engine took too long to answer. Retry, or try something shorter.",
};

export class ApiError extends Error {
  constructor(status, code, detail) {
    super(detail);
    this.status = status;
    this.code = code;
    this.detail = detail;
  }

  get plain() {
    if (this.status === 0) return "The appliance could not be reached. Is it running?";
    if (this.status === -1) return "The stream stopped with an error.";
    return PLAIN[this.status] || (this.status >= 500 ? "The appliance failed to answer." : "The request was refused.");
  }
}

// An error from an API response in the appliance's shape {"error": {message, type, param, code}}.
export async function errorFrom(response) {
  let code = "";
  let message = "";
  try {
    const body = await response.json();
    code = body?.error?.code || "";
    message = body?.error?.message || "";
  } catch {
    message = response.statusText;
  }
  return new ApiError(response.status, code, message);
}

export function authHeaders() {
  const key = apiKey();
  return key ? { Authorization: `Bearer ${key}` } : {};
}

// fetch() with the key; a non-2xx answer (other than those listed in `accept`) throws an ApiError.
export async function api(path, options = {}, accept = []) {
  let response;
  try {
    response = await fetch(path, { ...options, headers: { ...authHeaders(), ...(options.headers || {}) } });
  } catch (exc) {
    throw new ApiError(0, "network_error", String(exc.message || exc));
  }
  if (!response.ok && !accept.includes(response.status)) throw await errorFrom(response);
  return response;
}

// WebSocket URL on this host; browsers cannot set headers on a WebSocket, so the key goes in the query.
export function wsUrl(path, params) {
  const url = new URL(path, location.href);
  url.protocol = location.protocol === "https:" ? "wss:" : "ws:";
  for (const [name, value] of Object.entries(params)) {
    if (value !== "" && value !== null && value !== undefined) url.searchParams.set(name, value);
  }
  if (apiKey()) url.searchParams.set("api_key", apiKey());
  return url.toString();
}

// A WebSocket refused at the handshake gives the page no reason: ask the HTTP API, which answers
// the same key check with a proper error, so the user sees why.
export async function explainRefusal() {
  try {
    await api("/v1/voices");
  } catch (exc) {
    return exc;
  }
  return new ApiError(503, "stream_refused", "the stream was refused; see the Status tab");
}

// The message a WebSocket sent before closing: {"type": "error", "error": {code, message}}.
export function streamError(message) {
  return new ApiError(-1, message.error?.code || "stream_error", message.error?.message || "the stream failed");
}

export function download(blob, filename) {
  const link = document.createElement("a");
  link.href = URL.createObjectURL(blob);
  link.download = filename;
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(link.href), 10_000);
}
