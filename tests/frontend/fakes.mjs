/** Test doubles for realtime.js: a WebSocket the test drives, a datapoints API over an in-memory commit log, and a harness. */
import { mock } from "node:test";
import { effectScope } from "vue";

import { useRealtimeDatapoints } from "../../static/realtime.js";

export const START = Date.UTC(2025, 0, 15, 14, 0, 0);

export const ENV = Object.freeze({
  apiBaseUrl: "http://dashboard.test/api/v1",
  streamUrl: "ws://dashboard.test/ws/datapoints/stream",
  heartbeatIntervalMs: 20000,
  reconnectBaseMs: 1000,
  reconnectCapMs: 3000,
  reconnectAttempts: 3,
  pollIntervalMs: 5000,
  streamRetryMs: 30000,
  chartPoints: 5,
  pageSize: 3,
});

/** Datapoint n of an event, n seconds after START unless `second` says otherwise. */
export function point(n, { event = "evt_a", second = n } = {}) {
  return {
    public_id: `dp_${n}`,
    value: n,
    timestamp: new Date(START + second * 1000).toISOString(),
    event_public_id: event,
    experiment_public_id: null,
  };
}

export function fakeWebSocket() {
  const sockets = [];
  class FakeWebSocket {
    static refusing = false;

    constructor(url) {
      if (FakeWebSocket.refusing) throw new SyntaxError("refused by the test");
      this.url = url;
      this.closedWith = null;
      sockets.push(this);
    }

    close(code) {
      this.closedWith = code;
    }

    open() {
      this.onopen?.({ type: "open" });
    }

    deliver(message) {
      this.onmessage?.({ data: typeof message === "string" ? message : JSON.stringify(message) });
    }

    drop(code = 1006) {
      this.onerror?.({ type: "error" });
      this.onclose?.({ code });
    }
  }
  return { FakeWebSocket, sockets };
}

/**
 * The datapoints API over a commit log. A point's cursor is its position in the log, so `after=n`
 * returns what was committed after the n-th point. Requests of a kind ("page": the newest first;
 * "since": the same from a time on, paged with `before`; "latest"; "after"; "series": buckets per
 * event; "events": every event with the server's stale verdict, which `judge` sets; "ticket": POST
 * /stream-ticket, a new ticket each time) can be made to fail with a status (0: the server cannot be reached,
 * the fetch rejects), or held until released; like a real server, a held request answers with the log and
 * verdicts as they were when the request arrived.
 */
export function fakeServer(committed = []) {
  const log = [];
  const failing = new Map();
  const holding = new Set();
  const held = [];
  const requests = [];
  const deleted = new Set();  // events the series endpoint answers 404 for
  const verdicts = new Map();  // event -> stale (true or false); events not here are not stale
  let tickets = 0;

  function commit(...points) {
    return points.map((datapoint) => {
      const stored = { ...datapoint, cursor: String(log.length + 1) };
      log.push(stored);
      return stored;
    });
  }

  function answer(kind, query) {
    if (failing.has(kind)) return [failing.get(kind), { error: { code: failing.get(kind), message: "failed" } }];
    if (kind === "ticket") return [201, { ticket: `tkt_${(tickets += 1)}`, expires_in: 30 }];
    if (kind === "latest") {
      const newest = new Map(log.map((datapoint) => [datapoint.event_public_id, datapoint]));
      return [200, { data: [...newest.values()].map(({ cursor, ...datapoint }) => (
        { ...datapoint, stale: verdicts.get(datapoint.event_public_id) ?? false })) }];
    }
    if (kind === "events") {
      const events = new Set([...log.map((datapoint) => datapoint.event_public_id), ...verdicts.keys()]);
      return [200, { data: [...events].sort().map((event) => ({
        public_id: event, name: event, stale_after: verdicts.has(event) ? 60 : null, stale: verdicts.get(event) ?? false,
      })) }];
    }
    if (kind === "after") {
      const after = query.get("after");
      if (!/^\d+$/.test(after)) return [400, { error: { code: 400, message: "invalid cursor" } }];
      const limit = Number(query.get("limit"));
      const rows = log.slice(Number(after), Number(after) + limit);
      return [200, { data: rows, cursor: rows.at(-1)?.cursor ?? after, has_more: rows.length === limit }];
    }
    if (kind === "series") {
      const unknown = query.getAll("event_public_id").find((event) => deleted.has(event));
      if (unknown) return [404, { error: { code: 404, message: `no event ${unknown}` } }];
      return [200, series(query)];
    }
    const size = Number(query.get("page_size"));
    const from = query.has("from") ? Date.parse(query.get("from")) : -Infinity;
    const newestFirst = log.map((datapoint, at) => ({ datapoint, at, time: Date.parse(datapoint.timestamp) }))
      .filter(({ time }) => time >= from)
      .sort((a, b) => b.time - a.time || b.at - a.at)
      .map(({ datapoint }) => datapoint);
    const skip = Number(query.get("before") ?? 0);  // a real next_before is a keyset; here, rows to skip
    const more = newestFirst.length > skip + size;
    return [200, { page_size: size, data: newestFirst.slice(skip, skip + size),
                   next_before: more ? String(skip + size) : null, cursor: String(log.length) }];
  }

  // Buckets as the server makes them: equal widths from 1970, [from, to), exact min, max, mean, last, count.
  function series(query) {
    const from = Date.parse(query.get("from")), to = Date.parse(query.get("to"));
    const width = Math.ceil((to - from) / 1000 / Number(query.get("points")));
    const answer = {};
    for (const event of query.getAll("event_public_id")) {
      const buckets = new Map();
      for (const datapoint of log) {
        const time = Date.parse(datapoint.timestamp);
        if (datapoint.event_public_id !== event || time < from || time >= to) continue;
        const t = Math.floor(time / 1000 / width) * width * 1000;
        const bucket = buckets.get(t) ?? { t, min: Infinity, max: -Infinity, sum: 0, count: 0, lastTime: -Infinity };
        Object.assign(bucket, { min: Math.min(bucket.min, datapoint.value), max: Math.max(bucket.max, datapoint.value),
          sum: bucket.sum + datapoint.value, count: bucket.count + 1 });
        if (time >= bucket.lastTime) Object.assign(bucket, { last: datapoint.value, lastTime: time });
        buckets.set(t, bucket);
      }
      answer[event] = [...buckets.values()].sort((a, b) => a.t - b.t).map((bucket) => ({
        t: new Date(bucket.t).toISOString(), min: bucket.min, max: bucket.max, avg: bucket.sum / bucket.count,
        last: bucket.last, count: bucket.count }));
    }
    return { from: query.get("from"), to: query.get("to"), bucket_seconds: width, series: answer };
  }

  function kindOf(pathname, searchParams) {
    if (pathname.endsWith("/stream-ticket")) return "ticket";
    if (pathname.endsWith("/latest")) return "latest";
    if (pathname.endsWith("/events")) return "events";
    if (pathname.endsWith("/series")) return "series";
    if (searchParams.has("after")) return "after";
    return searchParams.has("from") ? "since" : "page";
  }

  function fetch(url, { method = "GET", headers = {}, signal } = {}) {
    const { pathname, searchParams } = new URL(url);
    const kind = kindOf(pathname, searchParams);
    const request = { url, kind, method, headers, signal };
    requests.push(request);
    const [status, body] = answer(kind, searchParams);
    return new Promise((resolve, reject) => {
      const respond = () => {
        if (signal?.aborted) return;
        if (status === 0) {
          reject(new TypeError("Failed to fetch"));
          return;
        }
        resolve({ status, ok: status >= 200 && status < 300, json: async () => structuredClone(body) });
      };
      signal?.addEventListener("abort", () => reject(new DOMException("aborted", "AbortError")));
      if (holding.has(kind)) held.push({ kind, respond });
      else respond();
    });
  }

  commit(...committed);
  return {
    log,
    requests,
    commit,
    fetch,
    fail(kind, status) {
      failing.set(kind, status);
    },
    recover(kind) {
      failing.delete(kind);
    },
    hold(kind) {
      holding.add(kind);
    },
    deleteEvent(event) {
      deleted.add(event);
    },
    judge(event, stale) {
      verdicts.set(event, stale);
    },
    release(kind) {
      holding.delete(kind);
      for (const waiting of held.filter((request) => request.kind === kind)) {
        held.splice(held.indexOf(waiting), 1);
        waiting.respond();
      }
    },
    count(kind) {
      return requests.filter((request) => request.kind === kind).length;
    },
  };
}

/** Let pending promise chains (fake fetches, JSON bodies) run to completion. */
export async function settle() {
  for (let round = 0; round < 3; round += 1) await new Promise((resolve) => setImmediate(resolve));
}

/** Move the clock on, settling after every `step` ms so that each tick's fetches finish before the next. */
export async function advance(ms, step = ms) {
  for (let left = ms; left > 0; left -= step) {
    mock.timers.tick(Math.min(step, left));
    await settle();
  }
}

/** The clock starts at START: point(n) is stamped n seconds later, after the seam (SEAM_MARGIN_MS before START). */
export function enableTimers() {
  mock.timers.enable({ apis: ["setTimeout", "setInterval", "Date"], now: START });
}

/** Let the composable publish what came in: charts and cards change once per animation frame. */
export async function nextFrame() {
  await advance(16);
}

const running = [];

/** Start the composable inside an effect scope, as a component would, against fresh fakes. */
export function start({ env = {}, token = null, random = 0, committed = [], server = fakeServer(committed) } = {}) {
  const { FakeWebSocket, sockets } = fakeWebSocket();
  const settings = Object.freeze({ ...ENV, ...env });
  const refusals = [];
  const scope = effectScope();
  const live = scope.run(() => useRealtimeDatapoints({
    env: settings,
    token,
    onUnauthorized: () => refusals.push(Date.now()),
    WebSocket: FakeWebSocket,
    fetch: server.fetch,
    random: () => random,
  }));
  running.push(scope);
  return { ...live, env: settings, server, sockets, scope, refusals, FakeWebSocket, socket: () => sockets.at(-1) };
}

export function stopAll() {
  for (const scope of running.splice(0)) scope.stop();
}

/** Lose the stream reconnectAttempts times, each time waiting out the backoff; then lose it once more. */
export async function failUntilPolling(live) {
  for (let attempt = 0; attempt < live.env.reconnectAttempts; attempt += 1) {
    live.socket().drop();
    await advance(live.env.reconnectCapMs);
  }
  live.socket().drop();
  await settle();
}

export function ids(points = []) {
  return points.map((datapoint) => datapoint.public_id);
}

/** The readings an event's Live chart holds as themselves (not in buckets). */
export function shown(live, event = "evt_a") {
  return ids(live.series[event]?.points);
}
