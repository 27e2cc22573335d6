// The signed-in user's preferences, kept on the server (GET/PUT /api/v1/auth/preferences), so a choice
// follows the user to any browser. One JSON object; each view keeps its own key in it and replaces only that.
import { api } from "./api.js";
import env from "./env.js";
import { session } from "./session.js";

const SAVE_AFTER_MS = 400;  // a burst of clicks is saved once

let stored = {};  // the object as last read or written
let timer = null;
let waiting = null;  // while a change waits to be sent: the onError of its savePreferences
let saving = Promise.resolve();

function send() {
  clearTimeout(timer);
  const body = stored;
  const onError = waiting;
  waiting = null;
  saving = saving.then(() => api("PUT", "/auth/preferences", body)).then(() => onError(null), onError);
}

/** The preferences under `key` (an object, {} if none), read from the server each time a view opens. */
export async function loadPreferences(key) {
  // Another view's change of a moment ago goes first: read before it, it would be lost at this view's next save.
  if (waiting) send();
  await saving;
  try {
    stored = (await api("GET", "/auth/preferences")) ?? {};
  } catch (failure) {
    if (failure.status !== 403) throw failure;
    stored = {};  // a token that stands for no account: nothing to remember
  }
  const value = stored[key];
  return value && typeof value === "object" ? value : {};
}

/** Sends a change still waiting, and resolves once every change sent so far has been answered (signing out
 * waits for it: after the logout the token could not save it). */
export function flushPreferences() {
  if (waiting) send();
  return saving.catch(() => {});
}

/** Keeps `value` under `key`, a moment later (a burst of changes is one request); `onError` hears of a failure. */
export function savePreferences(key, value, onError = () => {}) {
  stored = { ...stored, [key]: value };
  waiting = onError;
  clearTimeout(timer);
  timer = setTimeout(send, SAVE_AFTER_MS);
}

// A change made just before the tab closes is still sent: a request marked keepalive outlives the page.
if (typeof addEventListener === "function") {
  addEventListener("pagehide", () => {
    if (!waiting || !session.token) return;
    clearTimeout(timer);
    waiting = null;
    fetch(`${env.apiBaseUrl}/auth/preferences`, {
      method: "PUT", keepalive: true, body: JSON.stringify(stored),
      headers: { "Content-Type": "application/json", Authorization: `Bearer ${session.token}` },
    }).catch(() => {});
  });
}
