/** useRealtimeDatapoints: the dashboard's live datapoints, by WebSocket with backoff, falling back to HTTP polling. */
import { getCurrentScope, onScopeDispose, reactive, readonly, shallowReactive } from "vue";

const NORMAL_CLOSURE = 1000;
const POLICY_VIOLATION = 1008;
const TEXT_SETTINGS = ["apiBaseUrl", "streamUrl"];
const NUMBER_SETTINGS = ["reconnectBaseMs", "reconnectCapMs", "reconnectAttempts", "pollIntervalMs", "streamRetryMs",
  "chartPoints", "pageSize"];

// A setting missing from the generated env would make a timer fire at once, again and again.
function checkEnv(env) {
  const wrong = [...TEXT_SETTINGS.filter((key) => typeof env[key] !== "string"),
    ...NUMBER_SETTINGS.filter((key) => !Number.isFinite(env[key]))];
  if (wrong.length) throw new TypeError(`frontend env: missing or invalid ${wrong.join(", ")}`);
}

function parseDatapoint(text) {
  try {
    const value = JSON.parse(text);
    const valid = value !== null && typeof value === "object"
      && typeof value.public_id === "string" && typeof value.event_public_id === "string";
    return valid ? value : null;
  } catch {
    return null;
  }
}

export function useRealtimeDatapoints({
  env,
  token = null,
  onUnauthorized = () => {},
  WebSocket = globalThis.WebSocket,
  fetch = globalThis.fetch,
  random = Math.random,
}) {
  checkEnv(env);
  const state = reactive({
    mode: "connecting",
    attempt: 0,
    maxAttempts: env.reconnectAttempts,
    lastError: null,
    lastDataAt: null,
    unauthorized: false,
    cursor: null,
  });
  const datapoints = shallowReactive({});
  const retained = new Set();
  const timers = new Set();
  const requests = new Set();
  let socket = null;
  let failures = 0;
  let streamCursorTrusted = false;
  let pollTimer = null;
  let history = null;
  let catchingUp = null;
  let catchUpAgain = false;
  let stopped = false;

  function later(callback, ms) {
    const timer = setTimeout(() => {
      timers.delete(timer);
      callback();
    }, ms);
    timers.add(timer);
  }

  function note(context, error) {
    if (!stopped) state.lastError = `${context}: ${error.message}`;
  }

  function merge(incoming) {
    const changed = new Map();
    for (const { cursor, ...datapoint } of incoming) {
      if (retained.has(datapoint.public_id)) continue;
      retained.add(datapoint.public_id);
      const event = datapoint.event_public_id;
      if (!changed.has(event)) changed.set(event, [...(datapoints[event] ?? [])]);
      const points = changed.get(event);
      const point = { ...datapoint, time: Date.parse(datapoint.timestamp) };
      let index = points.length;
      while (index > 0 && points[index - 1].time > point.time) index -= 1;
      points.splice(index, 0, point);
    }
    for (const [event, points] of changed) {
      for (const dropped of points.splice(0, points.length - env.chartPoints)) retained.delete(dropped.public_id);
      datapoints[event] = points;
    }
    if (changed.size) state.lastDataAt = Date.now();
  }

  function refuse(reason) {
    if (stopped) return;
    state.unauthorized = true;
    state.lastError = reason;
    stop();
    onUnauthorized();
  }

  async function getJson(path) {
    const controller = new AbortController();
    requests.add(controller);
    try {
      const headers = token ? { Authorization: `Bearer ${token}` } : {};
      const response = await fetch(`${env.apiBaseUrl}${path}`, { headers, signal: controller.signal });
      if (response.status === 401) refuse("token refused: HTTP 401");
      if (!response.ok) throw new Error(`HTTP ${response.status}`);
      return await response.json();
    } finally {
      requests.delete(controller);
    }
  }

  async function loadHistory() {
    const [page, latest] = await Promise.all([
      getJson(`/datapoints?page_size=${env.chartPoints}`),
      getJson("/datapoints/latest"),
    ]);
    if (stopped) return;
    merge([...page.data.reverse(), ...latest.data]); // oldest first: each insert then lands at the end
    state.cursor = page.cursor;
  }

  // Shared while in flight, forgotten on failure so the next catch-up asks again.
  function ensureHistory() {
    history ??= loadHistory().catch((error) => {
      history = null;
      throw error;
    });
    return history;
  }

  async function drain() {
    await ensureHistory();
    let page;
    do {
      if (stopped) return;
      page = await getJson(`/datapoints?after=${encodeURIComponent(state.cursor)}&limit=${env.pageSize}`);
      if (stopped) return;
      merge(page.data);
      state.cursor = page.cursor;
    } while (page.has_more);
  }

  // One catch-up at a time; a request made during one runs once more after it, in the same promise.
  function catchUp() {
    if (catchingUp) {
      catchUpAgain = true;
      return catchingUp;
    }
    catchingUp = (async () => {
      try {
        do {
          catchUpAgain = false;
          await drain();
        } while (catchUpAgain && !stopped);
      } finally {
        catchingUp = null;
      }
    })();
    return catchingUp;
  }

  // Stream cursors may lag behind what was delivered, so they are only trusted once polling
  // from the cursor has reached the present; until then the catch-up owns the cursor.
  function catchUpStream(ws) {
    catchUp().then(
      () => {
        if (ws === socket) streamCursorTrusted = true;
      },
      (error) => {
        note("catch-up failed", error);
        if (ws === socket) later(() => ws === socket && catchUpStream(ws), env.pollIntervalMs);
      },
    );
  }

  function poll() {
    if (catchingUp) return;
    catchUp().catch((error) => note("poll failed", error));
  }

  function startPolling() {
    state.mode = "polling";
    pollTimer = setInterval(poll, env.pollIntervalMs);
    poll();
    later(connect, env.streamRetryMs);
  }

  function stopPolling() {
    clearInterval(pollTimer);
    pollTimer = null;
  }

  function backoff(attempt) {
    const delay = Math.min(env.reconnectCapMs, env.reconnectBaseMs * 2 ** (attempt - 1));
    return delay / 2 + (random() * delay) / 2;
  }

  function connect() {
    const url = token ? `${env.streamUrl}?token=${encodeURIComponent(token)}` : env.streamUrl;
    let ws;
    try {
      ws = new WebSocket(url);
    } catch (error) {
      note("stream failed", error);
      lost();
      return;
    }
    socket = ws;
    ws.onopen = () => opened(ws);
    ws.onmessage = (event) => received(event.data);
    ws.onerror = () => {
      state.lastError = "stream error";
    };
    ws.onclose = (event) => closed(event.code);
  }

  function opened(ws) {
    stopPolling();
    state.mode = "websocket";
    state.attempt = 0;
    failures = 0;
    catchUpStream(ws);
  }

  function received(data) {
    const datapoint = parseDatapoint(data);
    if (!datapoint) {
      state.lastError = "stream sent a message that is not a datapoint";
      return;
    }
    merge([datapoint]);
    if (streamCursorTrusted && typeof datapoint.cursor === "string") state.cursor = datapoint.cursor;
  }

  function closed(code) {
    socket = null;
    streamCursorTrusted = false;
    if (code === POLICY_VIOLATION) {
      refuse(`token refused: stream closed (${code})`);
      return;
    }
    state.lastError = `stream closed (${code})`;
    lost();
  }

  function lost() {
    failures += 1;
    if (state.mode === "polling") {
      later(connect, env.streamRetryMs);
    } else if (failures <= env.reconnectAttempts) {
      state.mode = "connecting";
      state.attempt = failures;
      later(connect, backoff(failures));
    } else {
      startPolling();
    }
  }

  function stop() {
    if (stopped) return;
    stopped = true;
    for (const timer of timers) clearTimeout(timer);
    timers.clear();
    stopPolling();
    for (const controller of requests) controller.abort();
    if (socket) {
      socket.onopen = socket.onmessage = socket.onerror = socket.onclose = null;
      socket.close(NORMAL_CLOSURE);
      socket = null;
    }
    state.mode = "closed";
  }

  if (getCurrentScope()) onScopeDispose(stop);
  connect();
  ensureHistory().catch((error) => note("history failed", error));

  return { state: readonly(state), datapoints, stop };
}
