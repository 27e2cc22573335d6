/** useRealtimeDatapoints: the dashboard's live datapoints, by WebSocket with backoff, falling back to HTTP polling;
 * which events the server judges stale; and, for whoever asks, the stream's alarm frames. A signed-in page opens
 * each socket with a fresh single-use ticket (POST /stream-ticket), so its token never travels in a URL and the
 * socket ends with the session (logout, expiry, revocation: closed with 1008). */
import {
  getCurrentScope, markRaw, onScopeDispose, reactive, readonly, shallowReactive, shallowReadonly, shallowRef, toValue,
  watch,
} from "vue";

export const LIVE_WINDOW_MS = 15 * 60 * 1000;  // Live shows the last 15 minutes, sliding
export const LIVE_BUCKETS = 600;  // about one bucket per horizontal pixel of a chart
export const SEAM_MARGIN_MS = 5000;  // how far before the page's start history ends: see "The seam"
const SERIES_EVENTS = 100;  // events per /datapoints/series request (the API's limit)
const FRAME_MS = 16;  // without requestAnimationFrame (Node's tests), changes are published this often
const NORMAL_CLOSURE = 1000;
const POLICY_VIOLATION = 1008;
const TEXT_SETTINGS = ["apiBaseUrl", "streamUrl"];
const NUMBER_SETTINGS = ["reconnectBaseMs", "reconnectCapMs", "reconnectAttempts", "pollIntervalMs", "streamRetryMs",
  "chartPoints", "pageSize"];

// The seam between history and live readings. The seam is a moment SEAM_MARGIN_MS before the page
// started. Before it, a chart shows /datapoints/series' buckets over [seam - 15 min, seam); from it on,
// each reading as itself. So a reading is drawn once, by its timestamp alone:
// - stamped before the seam: only in the buckets. The catch-up and the stream leave it out.
// - stamped at or after it: as a reading, kept once by public_id, however often it comes (the list of
//   readings since the seam, the catch-up from the cursor, the stream).
// Nothing is lost: the cursor is taken before the list of readings since the seam and before the buckets
// are read, so what committed before the cursor is in that list or in the buckets, and what committed
// after it comes in the catch-up or the stream. The buckets are read at least SEAM_MARGIN_MS after the
// seam, so they hold every reading stamped before it except one that committed more than that long
// after its own timestamp (a late or backfilled reading): Live does not draw such a one, it only
// updates the card if newer; every history range shows it. (The seam is on this browser's clock: a
// server clock behind it by less than the margin only narrows the margin.)

// A setting missing from the generated env would make a timer fire at once, again and again.
function checkEnv(env) {
  const wrong = [...TEXT_SETTINGS.filter((key) => typeof env[key] !== "string"),
    ...NUMBER_SETTINGS.filter((key) => !Number.isFinite(env[key]))];
  if (wrong.length) throw new TypeError(`frontend env: missing or invalid ${wrong.join(", ")}`);
}

function parseMessage(text) {
  try {
    return JSON.parse(text);
  } catch {
    return null;
  }
}

// Datapoints never carry a `type`; the stream's typed frames (status, recovery) always do.
function isTyped(message) {
  return message !== null && typeof message === "object" && typeof message.type === "string";
}

function isDatapoint(message) {
  return message !== null && typeof message === "object" && !("type" in message)
    && typeof message.public_id === "string" && typeof message.event_public_id === "string"
    && typeof message.timestamp === "string";
}

function timeOf(timestamp) {
  const time = typeof timestamp === "string" ? Date.parse(timestamp) : NaN;
  return Number.isFinite(time) ? time : null;
}

/**
 * One event's Live chart data: buckets (from /datapoints/series, and readings folded in once more than
 * `capacity` are kept as they are), then the newest readings themselves, each oldest first. Bounded:
 * `capacity` readings, and about one bucket per `bucketMs` of the window. Not reactive: `version`
 * changes (at most once per animation frame) when anything here did, so only what shows this event
 * updates.
 */
export class LiveSeries {
  constructor(eventId, capacity, bucketMs) {
    this.eventId = eventId;
    this.capacity = capacity;
    this.bucketMs = bucketMs;
    this.points = [];  // readings as the API sends them, plus `time` (ms)
    this.buckets = [];  // {t, min, max, sum, count, last, lastTime}: t, the start, and lastTime in ms
    this.bucketed = 0;  // readings in the buckets
    this.latest = null;  // the newest reading seen, whichever way it came: the card's value
    this.version = shallowRef(0);
    // Ids of the readings added lately, so a repeat (a reconnect's catch-up overlaps the stream) is
    // not added again even once its reading went into a bucket.
    this.recent = new Set();
    this.recentOrder = [];
    markRaw(this);
  }

  /** How many readings the chart stands for: in buckets and as themselves. */
  get count() {
    return this.bucketed + this.points.length;
  }

  /** Keeps the newest reading for the card; true if this one is it. */
  noteLatest(point) {
    const latest = this.latest;
    if (latest && (latest.time > point.time || latest.public_id === point.public_id)) return false;
    this.latest = point;
    return true;
  }

  /** A reading stamped at or after the seam; false if it is here already. */
  add(point) {
    if (this.recent.has(point.public_id)) return false;
    this.recent.add(point.public_id);
    this.recentOrder.push(point.public_id);
    if (this.recentOrder.length > 2 * this.capacity) this.recent.delete(this.recentOrder.shift());
    const points = this.points;
    if (points.length >= this.capacity && point.time < points[0].time) {
      this.fold(point);
      return true;
    }
    let index = points.length;
    while (index > 0 && points[index - 1].time > point.time) index -= 1;
    points.splice(index, 0, point);
    if (points.length > this.capacity) this.fold(points.shift());
    return true;
  }

  fold(point) {
    const t = Math.floor(point.time / this.bucketMs) * this.bucketMs;  // as the API's buckets: from 1970
    this.mergeBucket({ t, min: point.value, max: point.value, sum: point.value, count: 1, last: point.value,
      lastTime: point.time });
  }

  /** /datapoints/series' buckets of this event, all before the seam. */
  addBuckets(buckets, bucketSeconds, seam) {
    this.bucketMs = bucketSeconds * 1000;
    for (const bucket of buckets) {
      const t = Date.parse(bucket.t);
      this.mergeBucket({ t, min: bucket.min, max: bucket.max, sum: bucket.avg * bucket.count, count: bucket.count,
        last: bucket.last, lastTime: Math.min(t + this.bucketMs, seam) - 1 });
    }
  }

  mergeBucket(part) {
    const buckets = this.buckets;
    let index = buckets.length;
    while (index > 0 && buckets[index - 1].t > part.t) index -= 1;
    const same = buckets[index - 1];
    if (same?.t === part.t) {
      same.min = Math.min(same.min, part.min);
      same.max = Math.max(same.max, part.max);
      same.sum += part.sum;
      same.count += part.count;
      if (part.lastTime >= same.lastTime) Object.assign(same, { last: part.last, lastTime: part.lastTime });
    } else {
      buckets.splice(index, 0, part);
    }
    this.bucketed += part.count;
  }

  /** Forgets what is older than `start`, where the window now begins. */
  slide(start) {
    let gone = 0;
    while (gone < this.buckets.length && this.buckets[gone].t + this.bucketMs <= start) {
      this.bucketed -= this.buckets[gone].count;
      gone += 1;
    }
    this.buckets.splice(0, gone);
    gone = 0;
    while (gone < this.points.length && this.points[gone].time < start) gone += 1;
    this.points.splice(0, gone);
  }

  /** uPlot's columns: time (s), the band's top and bottom, and the line (bucket means, then the readings). */
  columns() {
    const { buckets, points } = this;
    const size = buckets.length + points.length;
    const time = new Float64Array(size), high = new Float64Array(size), low = new Float64Array(size),
      line = new Float64Array(size);
    buckets.forEach((bucket, at) => {
      time[at] = bucket.t / 1000;
      high[at] = bucket.max;
      low[at] = bucket.min;
      line[at] = bucket.sum / bucket.count;
    });
    points.forEach((point, offset) => {
      const at = buckets.length + offset;
      time[at] = point.time / 1000;
      high[at] = low[at] = line[at] = point.value;
    });
    return [time, high, low, line];
  }
}

/** When an event's newest reading was taken, as far as this page knows (ms, or null if none): the server's
 * word in its status, or the newest reading seen, whichever is later. Reads `live.version` for views. */
export function lastReadingOf(status, live) {
  live?.version.value;
  const times = [status?.lastReadingAt, live?.latest?.time].filter(Number.isFinite);
  return times.length ? Math.max(...times) : null;
}

export function useRealtimeDatapoints({
  env,
  // The session's token: a string, or a getter or ref, so that a renewed token is used from then on (and a
  // page whose session was refused comes back when a token is there again). Null: the open stream of development.
  token = null,
  onUnauthorized = () => {},
  // Given, the stream also carries alarm frames (?alarms=1), each handed to onAlarm; onAlarmFeed(true) says a
  // stream carrying them opened (what came before it must be read over HTTP), onAlarmFeed(false) that it closed.
  onAlarm = null,
  onAlarmFeed = () => {},
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
    offline: false,  // while polling: the last poll failed, so nothing reaches this page
    lastDataAt: null,  // the newest reading's time (ms), as the cards show it
    unauthorized: false,
    cursor: null,
  });
  const series = shallowReactive({});  // event public id -> LiveSeries
  // Event public id -> the server's verdict, {stale, lastReadingAt (ms or null)}, frozen and replaced only
  // when it changes, so only what shows that event updates. Events never judged stale are left out.
  const statuses = shallowReactive({});
  const seam = Date.now() - SEAM_MARGIN_MS;
  const bucketMs = Math.ceil(LIVE_WINDOW_MS / 1000 / LIVE_BUCKETS) * 1000;  // as /datapoints/series chooses it
  const changed = new Set();  // LiveSeries to publish at the next frame
  const timers = new Set();
  const requests = new Set();
  let socket = null;
  let failures = 0;
  let streamCursorTrusted = false;
  let pollTimer = null;
  let waitingSince = null;  // when the catch-up a poll waits for began (or was first found running)
  let history = null;
  let seeded = false;
  let catchingUp = null;
  let catchUpAgain = false;
  let frame = null;
  let flushing = false;
  let newestReading = null;
  let stopped = false;  // refused (until a token comes again) or disposed
  let disposed = false;
  let connecting = false;  // a ticket is being asked for: the socket comes after it
  let socketToken = null;  // the token the socket's ticket stands for
  const unfinished = new Set();  // history tasks a refusal interrupted: run again when the page comes back
  // While a stream is open, its status frames are the verdicts (it sends the whole state when it opens,
  // then each change); HTTP answers, which may have been read before the latest frame, only fill in
  // while there is no stream.
  let statusFromStream = false;
  let refreshingStatus = false;
  let alarmFeedOpen = false;

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

  // An error stays shown until what failed works again: then it goes, so the page never shows a stale one.
  function recovered(...contexts) {
    if (contexts.some((context) => state.lastError?.startsWith(context))) state.lastError = null;
  }

  const tokenNow = () => toValue(token) || null;

  function seriesOf(event) {
    return series[event] ??= new LiveSeries(event, env.chartPoints, bucketMs);
  }

  // Readings are taken in at once (so that every repeat is known), and shown at the next animation
  // frame: however fast they come, each chart and card changes at most once per frame.
  function merge(incoming) {
    const windowStart = Date.now() - LIVE_WINDOW_MS;
    for (const { cursor, stale, ...datapoint } of incoming) {  // /latest's `stale` is the event's, not the point's
      const point = { ...datapoint, time: Date.parse(datapoint.timestamp) };
      if (!Number.isFinite(point.time)) continue;
      const live = seriesOf(point.event_public_id);
      let fresh = live.noteLatest(point);
      if (fresh) newestReading = Math.max(newestReading ?? point.time, point.time);
      if (point.time >= seam && point.time >= windowStart && live.add(point)) fresh = true;
      if (fresh) changed.add(live);
    }
    if (changed.size) publishSoon();
  }

  function publishSoon() {
    if (flushing || stopped) return;
    flushing = true;
    if (typeof requestAnimationFrame === "function") frame = requestAnimationFrame(publish);
    else later(publish, FRAME_MS);
  }

  function publish() {
    flushing = false;
    frame = null;
    const windowStart = Date.now() - LIVE_WINDOW_MS;
    for (const live of changed) {
      live.slide(windowStart);
      live.version.value += 1;
    }
    changed.clear();
    if (newestReading !== null) state.lastDataAt = newestReading;
  }

  // Staleness is the server's verdict (it looks once a second), never this browser's: a reading for a
  // stale event updates the value at once, but the mark stays until the server says the event is fresh
  // again (about a second later on the stream, at the next poll while polling). So a late reading, stamped
  // long ago, does not clear it, and every dashboard agrees.
  function judge(event, stale, lastReadingAt) {
    const before = statuses[event];
    if (!before && !stale) return;
    if (before?.stale === stale && before.lastReadingAt === lastReadingAt) return;
    statuses[event] = Object.freeze({ stale, lastReadingAt });
  }

  function judgeFromHttp(event, stale, lastReadingAt = statuses[event]?.lastReadingAt ?? null) {
    if (!statusFromStream && typeof event === "string" && typeof stale === "boolean") {
      judge(event, stale, lastReadingAt);
    }
  }

  // Without a stream, nothing tells of an event turning stale: each poll asks /events (every event's
  // verdict, also of those that never had a reading).
  async function refreshStatus() {
    if (refreshingStatus || statusFromStream) return;
    refreshingStatus = true;
    try {
      const { data } = await getJson("/events");
      if (stopped) return;
      for (const event of data) judgeFromHttp(event.public_id, event.stale);
      recovered("status failed");
    } catch (error) {
      note("status failed", error);
    } finally {
      refreshingStatus = false;
    }
  }

  function typed(frame) {
    if (frame.type === "event_status" && typeof frame.event_public_id === "string"
        && typeof frame.stale === "boolean") {
      judge(frame.event_public_id, frame.stale, timeOf(frame.last_reading_at));
    }
    if (frame.type === "alarm") onAlarm?.(frame);
    // `controller` frames are for views that list controllers; other types (`recovery` answers `after=`,
    // which this client never sends) are not for the cards either.
  }

  function refuse(reason) {
    if (stopped) return;
    halt();
    state.unauthorized = true;
    state.lastError = reason;
    onUnauthorized();
  }

  function getJson(path) {
    return request("GET", path);
  }

  async function request(method, path) {
    const controller = new AbortController();
    requests.add(controller);
    try {
      const token = tokenNow();
      const headers = token ? { Authorization: `Bearer ${token}` } : {};
      const response = await fetch(`${env.apiBaseUrl}${path}`, { method, headers, signal: controller.signal });
      if (response.status === 401) refuse("token refused: HTTP 401");
      if (!response.ok) throw Object.assign(new Error(`HTTP ${response.status}`), { status: response.status });
      return await response.json();
    } finally {
      requests.delete(controller);
    }
  }

  // The cursor the catch-up starts from (a page of one is the cheapest answer that carries one), and
  // each event's newest reading for the cards; then, once, the charts' history (see "The seam").
  async function loadHistory() {
    const [page, latest] = await Promise.all([getJson("/datapoints?page_size=1"), getJson("/datapoints/latest")]);
    if (stopped) return;
    merge(latest.data);
    for (const datapoint of latest.data) {
      judgeFromHttp(datapoint.event_public_id, datapoint.stale, timeOf(datapoint.timestamp));
    }
    state.cursor = page.cursor;
    if (seeded) return;
    seeded = true;
    const recent = latest.data.filter((datapoint) => Date.parse(datapoint.timestamp) >= seam - LIVE_WINDOW_MS);
    keepTrying(loadSinceSeam);
    keepTrying(bucketLoader(recent.map((datapoint) => datapoint.event_public_id)));
  }

  function keepTrying(task) {
    unfinished.add(task);
    task().then(() => {
      if (stopped) return;  // cut short: it runs again if the page comes back
      unfinished.delete(task);
      if (!unfinished.size) recovered("history failed");
    }, (error) => {
      note("history failed", error);
      if (!stopped) later(() => keepTrying(task), env.pollIntervalMs);
    });
  }

  // Every reading stamped since the seam that committed before the cursor (and some after it), newest first.
  async function loadSinceSeam() {
    const since = `/datapoints?from=${encodeURIComponent(new Date(seam).toISOString())}&page_size=${env.pageSize}`;
    let path = since;
    while (path) {
      const page = await getJson(path);
      if (stopped) return;
      merge(page.data);
      path = page.next_before ? `${since}&before=${encodeURIComponent(page.next_before)}` : null;
    }
  }

  // Each event's buckets over [seam - 15 min, seam), per event, up to SERIES_EVENTS events a request;
  // each answer is taken in once, so a retry asks only for the events still missing. An event deleted
  // meanwhile makes its request fail with 404: then they are asked for one by one, and it is left out.
  function bucketLoader(events) {
    const missing = [...events];
    let perRequest = SERIES_EVENTS;
    return async () => {
      while (missing.length && !stopped) {
        const asked = missing.slice(0, perRequest);
        const query = new URLSearchParams(asked.map((event) => ["event_public_id", event]));
        query.append("from", new Date(seam - LIVE_WINDOW_MS).toISOString());
        query.append("to", new Date(seam).toISOString());
        query.append("points", String(LIVE_BUCKETS));
        let answer;
        try {
          answer = await getJson(`/datapoints/series?${query}`);
        } catch (error) {
          if (error.status !== 404) throw error;
          if (asked.length === 1) missing.shift();
          perRequest = 1;
          continue;
        }
        if (stopped) return;
        for (const event of asked) {
          const live = seriesOf(event);
          live.addBuckets(answer.series[event] ?? [], answer.bucket_seconds, seam);
          changed.add(live);
        }
        missing.splice(0, asked.length);
        publishSoon();
      }
    };
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

  // A poll that fails means nothing reaches this page: offline, until one succeeds again. So does one that
  // goes unanswered for several intervals (a server that accepts connections but answers nothing).
  function poll() {
    refreshStatus();
    if (catchingUp) {
      waitingSince ??= Date.now();
      if (Date.now() - waitingSince >= Math.max(3 * env.pollIntervalMs, 10_000)) state.offline = true;
      return;
    }
    waitingSince = Date.now();
    catchUp().then(() => {
      if (stopped) return;
      waitingSince = null;
      state.offline = false;
      recovered("poll failed", "catch-up failed");
    }, (error) => {
      note("poll failed", error);
      if (!stopped && state.mode === "polling") state.offline = true;
    });
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

  // Signed in, every socket opens with a ticket of its own, asked for just before: a refused token (401) is
  // the end of the session; a server that cannot give one counts as a failed attempt, as a socket would.
  async function connect() {
    if (connecting || stopped) return;
    let url = `${env.streamUrl}?status=1${onAlarm ? "&alarms=1" : ""}`;
    const token = tokenNow();
    if (token) {
      connecting = true;
      try {
        const { ticket } = await request("POST", "/stream-ticket");
        url += `&ticket=${encodeURIComponent(ticket)}`;
      } catch (error) {
        if (!stopped) {
          note("stream failed", error);
          lost();
        }
        return;
      } finally {
        connecting = false;
      }
      if (stopped) return;
    }
    let ws;
    try {
      ws = new WebSocket(url);
    } catch (error) {
      note("stream failed", error);
      lost();
      return;
    }
    socket = ws;
    socketToken = token;
    ws.onopen = () => opened(ws);
    ws.onmessage = (event) => received(event.data);
    ws.onerror = () => {
      state.lastError = "stream error";
    };
    ws.onclose = (event) => closed(event.code);
  }

  function opened(ws) {
    stopPolling();
    statusFromStream = true;
    state.mode = "websocket";
    state.attempt = 0;
    state.offline = false;
    state.lastError = null;
    failures = 0;
    feedAlarms(true);
    catchUpStream(ws);
    if (socketToken !== tokenNow()) reopen();  // renewed while this one was asked for
  }

  function feedAlarms(open) {
    if (!onAlarm || alarmFeedOpen === open) return;
    alarmFeedOpen = open;
    onAlarmFeed(open);
  }

  function received(data) {
    const datapoint = parseMessage(data);
    if (isTyped(datapoint)) {
      typed(datapoint);
      return;
    }
    if (!isDatapoint(datapoint)) {
      state.lastError = "stream sent a message that is not a datapoint";
      return;
    }
    merge([datapoint]);
    if (streamCursorTrusted && typeof datapoint.cursor === "string") state.cursor = datapoint.cursor;
  }

  function closed(code) {
    forget();
    // 1008 ends the session, unless it was an older token's socket (renewed since): then it is a loss like any.
    if (code === POLICY_VIOLATION && (socketToken === tokenNow() || !tokenNow())) {
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
      state.attempt = failures;  // first: the status changes once, to "reconnecting (n/3)"
      state.mode = "connecting";
      later(connect, backoff(failures));
    } else {
      startPolling();
    }
  }

  function forget() {
    socket = null;
    feedAlarms(false);
    statusFromStream = false;
    streamCursorTrusted = false;
  }

  // A renewed token: the open socket stands for the old one and would close when it expires, so a new
  // socket (with a ticket of the new token) takes its place now; the catch-up covers the moment between.
  // No token any more (the session ended): nothing more is asked for, and no socket opens without credentials.
  function tokenChanged(now) {
    if (disposed) return;
    if (!now) {
      if (!stopped) {
        halt();
        Object.assign(state, { unauthorized: true, lastError: "signed out" });
      }
    } else if (state.unauthorized) {
      resume();
    } else if (socket && state.mode === "websocket" && socketToken !== now) {
      reopen();
    }
  }

  function reopen() {
    const old = socket;
    old.onopen = old.onmessage = old.onerror = old.onclose = null;
    old.close(NORMAL_CLOSURE);
    forget();
    connect();
  }

  // Signed in again after a refusal: everything starts over from where it was.
  function resume() {
    stopped = false;
    Object.assign(state, { unauthorized: false, lastError: null, offline: false, mode: "connecting", attempt: 0 });
    failures = 0;
    if (state.cursor === null) history = null;  // cut short before it had the cursor: read it again
    connect();
    ensureHistory().catch((error) => note("history failed", error));
    for (const task of unfinished) keepTrying(task);
  }

  function stop() {
    disposed = true;
    halt();
  }

  function halt() {
    if (stopped) return;
    stopped = true;
    for (const timer of timers) clearTimeout(timer);
    timers.clear();
    stopPolling();
    if (frame !== null) cancelAnimationFrame(frame);
    frame = null;
    flushing = false;
    for (const controller of requests) controller.abort();
    feedAlarms(false);
    if (socket) {
      socket.onopen = socket.onmessage = socket.onerror = socket.onclose = null;
      socket.close(NORMAL_CLOSURE);
      socket = null;
    }
    state.mode = "closed";
  }

  if (getCurrentScope()) onScopeDispose(stop);
  if (typeof token === "function" || (token !== null && typeof token === "object")) watch(tokenNow, tokenChanged);
  connect();
  ensureHistory().catch((error) => note("history failed", error));

  return { state: readonly(state), series, statuses: shallowReadonly(statuses), stop };
}
