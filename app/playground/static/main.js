// Wires the page together: the key form, the tabs (keyboard as in the ARIA tabs pattern), errors.
import { ApiError, apiKey, setApiKey } from "./api.js";
import { initLive } from "./live.js";
import { initSpeak } from "./speak.js";
import { initStatus } from "./status.js";
import { initTranscribe } from "./transcribe.js";

const errorBox = document.getElementById("error");

// Every module reports failures here: plain words first, then the appliance's message and code.
function showError(exc) {
  errorBox.replaceChildren();
  if (!exc) {
    errorBox.hidden = true;
    return;
  }
  const plain = document.createElement("strong");
  const detail = document.createElement("span");
  if (exc instanceof ApiError) {
    plain.textContent = exc.plain;
    const status = exc.status > 0 ? `HTTP ${exc.status}, ` : "";
    detail.append(` ${exc.detail ? exc.detail + " " : ""}(${status}code `);
    const code = document.createElement("code");
    code.textContent = exc.code || "unknown";
    detail.append(code, ")");
  } else {
    plain.textContent = "Something went wrong in the page.";
    detail.textContent = ` ${exc.message || exc}`;
  }
  errorBox.append(plain, detail);
  errorBox.hidden = false;
}

function initTabs(onShow) {
  const tabs = [...document.querySelectorAll('[role="tab"]')];
  const select = (tab) => {
    for (const other of tabs) {
      const selected = other === tab;
      other.setAttribute("aria-selected", String(selected));
      other.tabIndex = selected ? 0 : -1;
      document.getElementById(other.getAttribute("aria-controls")).hidden = !selected;
    }
    tab.focus();
    onShow(tab.id.replace("tab-", ""));
  };
  tabs.forEach((tab, i) => {
    tab.addEventListener("click", () => select(tab));
    tab.addEventListener("keydown", (event) => {
      const next = { ArrowRight: i + 1, ArrowLeft: i - 1, Home: 0, End: tabs.length - 1 }[event.key];
      if (next === undefined) return;
      event.preventDefault();
      select(tabs[(next + tabs.length) % tabs.length]);
    });
  });
}

function initKey(onChange) {
  const form = document.getElementById("key-form");
  const input = document.getElementById("api-key");
  input.value = apiKey();
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    setApiKey(input.value.trim());
    showError(null);
    onChange();
  });
}

const speak = initSpeak(showError);
initTranscribe(showError);
initLive(showError);
const status = initStatus(showError);
initKey(() => speak.loadVoices());
initTabs((name) => status.visible(name === "status"));
speak.loadVoices();
