import assert from "node:assert/strict";
import { afterEach, beforeEach, describe, mock, test } from "node:test";
import { reactive, watch } from "vue";

import { connectionStatus, lastDataText } from "../../static/components/ConnectionIndicator.js";
import { SEAM_MARGIN_MS, useRealtimeDatapoints } from "../../static/realtime.js";
import {
  advance, ENV, enableTimers, failUntilPolling, fakeServer, fakeWebSocket, nextFrame, point, settle, shown, START,
  start, stopAll,
} from "./fakes.mjs";

beforeEach(enableTimers);
afterEach(() => {
  stopAll();
  mock.timers.reset();
});

describe("starting", () => {
  test("opens the stream, loads the cursor, latest values and readings since the seam, without doubles", async () => {
    const quiet = point(1, { event: "evt_b" });
    const live = start({ committed: [quiet, point(2), point(3), point(4), point(5), point(6)] });
    assert.equal(live.sockets.length, 1);
    assert.equal(live.socket().url, `${live.env.streamUrl}?status=1`);
    assert.equal(live.state.mode, "connecting");
    assert.equal(live.state.attempt, 0);
    assert.equal(live.state.maxAttempts, 3);
    await settle();

    const [cursor, since] = ["page", "since"].map((kind) => live.server.requests.find((asked) => asked.kind === kind));
    assert.equal(cursor.url, `${live.env.apiBaseUrl}/datapoints?page_size=1`);
    const seam = new Date(START - SEAM_MARGIN_MS).toISOString();
    assert.equal(since.url, `${live.env.apiBaseUrl}/datapoints?from=${encodeURIComponent(seam)}&page_size=3`);
    assert.equal(live.server.count("since"), 2, "the readings since the seam, paged with before=");
    assert.equal(live.server.count("latest"), 1);
    assert.deepEqual(shown(live), ["dp_2", "dp_3", "dp_4", "dp_5", "dp_6"]);
    assert.deepEqual(live.series.evt_b.points, [{ ...quiet, time: Date.parse(quiet.timestamp) }]);
    assert.deepEqual(live.series.evt_b.latest, live.series.evt_b.points[0]);
    assert.equal(live.state.cursor, "6");
  });

  test("refuses an env that lacks a setting rather than spinning its timers", () => {
    const { FakeWebSocket, sockets } = fakeWebSocket();
    const server = fakeServer();
    const env = Object.freeze({ ...ENV, pollIntervalMs: undefined, streamUrl: undefined });
    assert.throws(() => useRealtimeDatapoints({ env, WebSocket: FakeWebSocket, fetch: server.fetch }),
      { name: "TypeError", message: "frontend env: missing or invalid streamUrl, pollIntervalMs" });
    assert.equal(sockets.length, 0);
    assert.equal(server.requests.length, 0);
  });

  test("last data is the newest reading's time, as the cards show it, at the next frame", async () => {
    const live = start({ committed: [point(1, { second: -300 }), point(2, { event: "evt_b", second: -90 })] });
    await settle();
    await nextFrame();
    assert.equal(live.state.lastDataAt, Date.parse(point(2, { second: -90 }).timestamp), "not when history arrived");
    assert.equal(live.state.lastDataAt, live.series.evt_b.latest.time);

    await advance(1234);
    live.socket().open();
    live.socket().deliver({ ...point(3, { second: 1 }), cursor: "3" });
    live.socket().deliver(point(4, { second: -500 }));  // a late reading: the card keeps the newer one, and so does this
    assert.equal(live.state.lastDataAt, Date.parse(point(2, { second: -90 }).timestamp), "shown with the cards");
    await nextFrame();
    assert.equal(live.state.lastDataAt, Date.parse(point(3, { second: 1 }).timestamp));
    assert.equal(live.state.lastDataAt, live.series.evt_a.latest.time);
  });

  test("a failed history load is recorded and tried again before the catch-up, never polling from no cursor", async () => {
    const server = fakeServer([point(1), point(2)]);
    server.fail("latest", 503);
    const live = start({ server });
    await settle();
    assert.equal(live.state.lastError, "history failed: HTTP 503");
    assert.equal(live.state.cursor, null);

    live.server.recover("latest");
    live.socket().open();
    await settle();
    assert.equal(live.server.count("page"), 2);
    assert.deepEqual(shown(live), ["dp_1", "dp_2"]);
    assert.ok(live.server.requests.every((request) => !request.url.includes("after=null")));
    assert.equal(live.server.requests.at(-1).url, `${live.env.apiBaseUrl}/datapoints?after=2&limit=3`);
  });
});

describe("reconnecting with backoff", () => {
  async function assertWaits(random, waits) {
    const live = start({ random });
    for (const [index, wait] of waits.entries()) {
      live.socket().drop();
      assert.equal(live.state.mode, "connecting");
      assert.equal(live.state.attempt, index + 1);
      const opened = live.sockets.length;
      await advance(wait - 1);
      assert.equal(live.sockets.length, opened, `attempt ${index + 1} came before ${wait} ms`);
      await advance(1);
      assert.equal(live.sockets.length, opened + 1, `attempt ${index + 1} did not come at ${wait} ms`);
    }
  }

  test("waits base * 2^(n-1), capped, jittered down to half the delay when random() is 0", async () => {
    await assertWaits(0, [500, 1000, 1500]);
  });

  test("waits the full capped delay when random() is 1", async () => {
    await assertWaits(1, [1000, 2000, 3000]);
  });

  test("losing an open stream starts again from attempt 1", async () => {
    const live = start();
    live.socket().drop();
    await advance(500);
    live.socket().drop();
    await advance(1000);
    live.socket().open();
    assert.equal(live.state.mode, "websocket");
    assert.equal(live.state.attempt, 0);

    live.socket().drop(1001);
    assert.equal(live.state.mode, "connecting");
    assert.equal(live.state.attempt, 1);
    assert.equal(live.state.lastError, "stream closed (1001)");
  });

  test("a WebSocket that cannot even be created counts as a failed attempt", async () => {
    const live = start();
    live.socket().drop();
    live.FakeWebSocket.refusing = true;
    await advance(500);
    assert.equal(live.state.lastError, "stream failed: refused by the test");
    assert.equal(live.state.mode, "connecting");
    assert.equal(live.state.attempt, 2);

    live.FakeWebSocket.refusing = false;
    await advance(1000);
    assert.equal(live.sockets.length, 2);
  });
});

describe("falling back to polling", () => {
  test("after three failed reconnects it is still connecting; the next loss switches to polling", async () => {
    const live = start({ committed: [point(1)] });
    for (let attempt = 1; attempt <= 3; attempt += 1) {
      live.socket().drop();
      await advance(live.env.reconnectCapMs);
    }
    assert.equal(live.state.mode, "connecting");
    assert.equal(live.state.attempt, 3);
    assert.equal(live.server.count("after"), 0);

    live.socket().drop();
    await settle();
    assert.equal(live.state.mode, "polling");
    assert.equal(live.server.requests.at(-1).url, `${live.env.apiBaseUrl}/datapoints?after=1&limit=3`);
  });

  test("polls from the cursor every pollIntervalMs, following the cursor the server returns", async () => {
    const live = start({ committed: [point(1)] });
    await failUntilPolling(live);
    assert.equal(live.server.count("after"), 1);

    live.server.commit(point(2), point(3));
    await advance(live.env.pollIntervalMs - 1);
    assert.equal(live.server.count("after"), 1);
    await advance(1);
    assert.equal(live.server.requests.at(-1).url, `${live.env.apiBaseUrl}/datapoints?after=1&limit=3`);
    assert.deepEqual(shown(live), ["dp_1", "dp_2", "dp_3"]);
    assert.equal(live.state.cursor, "3");

    await advance(live.env.pollIntervalMs);
    assert.equal(live.server.requests.at(-1).url, `${live.env.apiBaseUrl}/datapoints?after=3&limit=3`);
    assert.equal(live.server.count("after"), 3);
  });

  test("a poll that gets a full page asks again at once", async () => {
    const live = start({ committed: [point(1)] });
    await failUntilPolling(live);
    live.server.commit(point(2), point(3), point(4), point(5));
    await advance(live.env.pollIntervalMs);
    assert.deepEqual(live.server.requests.slice(-2).map((request) => new URL(request.url).search),
      ["?after=1&limit=3", "?after=4&limit=3"]);
    assert.equal(live.state.cursor, "5");
  });

  test("keeps one poll in flight at most: ticks during a poll are skipped, not queued", async () => {
    const live = start({ committed: [point(1)] });
    await settle();
    live.server.hold("after");
    await failUntilPolling(live);
    await advance(live.env.pollIntervalMs);
    await advance(live.env.pollIntervalMs);
    assert.equal(live.server.count("after"), 1);

    live.server.release("after");
    await settle();
    assert.equal(live.server.count("after"), 1);
    await advance(live.env.pollIntervalMs);
    assert.equal(live.server.count("after"), 2);
  });

  test("a failed poll is recorded and the next tick tries again", async () => {
    const live = start({ committed: [point(1)] });
    await settle();
    live.server.fail("after", 503);
    await failUntilPolling(live);
    assert.equal(live.state.lastError, "poll failed: HTTP 503");
    assert.equal(live.state.mode, "polling");

    live.server.recover("after");
    live.server.commit(point(2));
    await advance(live.env.pollIntervalMs);
    assert.equal(live.server.count("after"), 2);
    assert.deepEqual(shown(live), ["dp_1", "dp_2"]);
  });

  test("a catch-up asked for while a poll runs runs again after it, so nothing committed meanwhile is missed", async () => {
    const live = start({ committed: [point(1)] });
    await failUntilPolling(live);
    await advance(live.env.streamRetryMs - live.env.pollIntervalMs, live.env.pollIntervalMs);
    live.server.hold("after");
    await advance(live.env.pollIntervalMs);
    const polls = live.server.count("after");

    live.server.commit(point(2));
    live.socket().open();
    live.server.release("after");
    await settle();
    assert.equal(live.server.count("after"), polls + 1);
    assert.deepEqual(shown(live), ["dp_1", "dp_2"]);
    assert.equal(live.state.cursor, "2");
  });

  test("retries the stream in the background every streamRetryMs and stays polling when a retry fails", async () => {
    const live = start();
    await failUntilPolling(live);
    const sockets = live.sockets.length;

    await advance(live.env.streamRetryMs - 1);
    assert.equal(live.sockets.length, sockets);
    await advance(1);
    assert.equal(live.sockets.length, sockets + 1);

    live.socket().drop();
    assert.equal(live.state.mode, "polling");
    const polls = live.server.count("after");
    await advance(live.env.streamRetryMs - 1, live.env.pollIntervalMs);
    assert.equal(live.sockets.length, sockets + 1);
    assert.equal(live.server.count("after"), polls + Math.floor((live.env.streamRetryMs - 1) / live.env.pollIntervalMs));
    await advance(1);
    assert.equal(live.sockets.length, sockets + 2);
  });

  test("when a background socket opens, polling stops and the mode is websocket at attempt 0", async () => {
    const live = start({ committed: [point(1)] });
    await failUntilPolling(live);
    await advance(live.env.streamRetryMs);
    live.socket().open();
    await settle();
    assert.equal(live.state.mode, "websocket");
    assert.equal(live.state.attempt, 0);

    const polls = live.server.count("after");
    await advance(live.env.pollIntervalMs * 4);
    assert.equal(live.server.count("after"), polls);
    assert.equal(live.sockets.length, live.sockets.indexOf(live.socket()) + 1);

    live.socket().drop();
    assert.equal(live.state.mode, "connecting");
    assert.equal(live.state.attempt, 1, "failures were reset when the background socket opened");
  });
});

describe("the connection indicator says what is true", () => {
  const label = (live) => connectionStatus(live.state).label;

  test("live, reconnecting (n/3), polling while polls succeed, offline while they fail, and back", async () => {
    const live = start({ committed: [point(1)] });
    const seen = [label(live)];
    const stopWatching = watch(() => label(live), (now) => seen.push(now), { flush: "sync" });
    await settle();
    live.socket().open();
    await failUntilPolling(live);
    live.server.fail("after", 503);
    await advance(live.env.pollIntervalMs);
    assert.equal(live.state.lastError, "poll failed: HTTP 503");
    await advance(live.env.pollIntervalMs);
    live.server.recover("after");
    await advance(live.env.pollIntervalMs);
    assert.equal(live.state.lastError, null, "the error went when polls worked again");
    await advance(live.env.streamRetryMs, live.env.pollIntervalMs);
    live.socket().open();
    stopWatching();
    assert.deepEqual(seen, ["connecting", "live", "reconnecting (1/3)", "reconnecting (2/3)", "reconnecting (3/3)",
      "polling", "offline", "polling", "live"], "each change once, whatever the number of polls");
  });

  test("offline from the first poll when the server cannot be reached at all", async () => {
    const server = fakeServer([point(1)]);
    const live = start({ server });
    await settle();
    server.fail("after", 0);
    await failUntilPolling(live);
    assert.equal(label(live), "offline");
    assert.equal(connectionStatus(live.state).key, "offline");
    assert.equal(live.state.lastError, "poll failed: Failed to fetch");
  });

  test("a poll that goes unanswered for three intervals reads offline too, until it is answered", async () => {
    const live = start({ committed: [point(1)] });
    await settle();
    live.server.hold("after");
    await failUntilPolling(live);
    await advance(2 * live.env.pollIntervalMs, live.env.pollIntervalMs);
    assert.equal(label(live), "polling", "slow is not yet offline");
    await advance(live.env.pollIntervalMs);
    assert.equal(label(live), "offline");
    live.server.release("after");
    await settle();
    assert.equal(label(live), "polling");
  });

  test("the stream opening clears every error and the offline mark", async () => {
    const live = start({ committed: [point(1)] });
    await settle();
    live.server.fail("after", 503);
    await failUntilPolling(live);
    assert.equal(label(live), "offline");
    live.server.recover("after");
    await advance(live.env.streamRetryMs, live.env.pollIntervalMs * 10);
    live.socket().open();
    assert.equal(label(live), "live");
    assert.equal(live.state.offline, false);
    assert.equal(live.state.lastError, null);
  });

  test("a refused session reads signed out; the first connect reads connecting", () => {
    assert.equal(connectionStatus({ mode: "closed", unauthorized: true }).label, "signed out");
    assert.equal(connectionStatus({ mode: "closed", unauthorized: false }).label, "closed");
    assert.equal(connectionStatus({ mode: "connecting", attempt: 0, maxAttempts: 3 }).label, "connecting");
  });

  test("last data: an age, and offline also the time of day it came", () => {
    const at = START - 90_000;
    assert.equal(lastDataText(null, START, false), "last data never");
    assert.equal(lastDataText(at, START, false), "last data 1 min ago");
    assert.equal(lastDataText(at, START, true), `last data at ${new Date(at).toLocaleTimeString()} (1 min ago)`);
  });
});

describe("merging datapoints", () => {
  test("history, latest values, stream and catch-up overlap without duplicates, and catch-up-only points appear", async () => {
    const live = start({ committed: [point(1), point(2), point(3)] });
    await settle();
    live.server.hold("after");
    const [missed] = live.server.commit(point(4));
    live.socket().open();
    const streamed = live.server.commit(point(5), point(6));
    for (const datapoint of streamed) live.socket().deliver(datapoint);
    live.socket().deliver(streamed[0]);
    assert.deepEqual(shown(live), ["dp_1", "dp_2", "dp_3", "dp_5", "dp_6"]);

    live.server.release("after");
    await settle();
    assert.deepEqual(shown(live), ["dp_2", "dp_3", missed.public_id, "dp_5", "dp_6"]);
  });

  test("the cursor follows stream messages only once the catch-up after opening has finished", async () => {
    const live = start({ committed: [point(1), point(2)] });
    await settle();
    live.server.hold("after");
    live.socket().open();
    const [early] = live.server.commit(point(3));
    live.socket().deliver(early);
    assert.equal(live.state.cursor, "2");

    live.server.release("after");
    await settle();
    assert.equal(live.state.cursor, "3");
    const [later] = live.server.commit(point(4));
    live.socket().deliver(later);
    assert.equal(live.state.cursor, "4");
  });

  test("after every reconnect the cursor waits for that connection's catch-up", async () => {
    const live = start({ committed: [point(1)] });
    live.socket().open();
    await settle();
    const [second] = live.server.commit(point(2));
    live.socket().deliver(second);
    assert.equal(live.state.cursor, "2");

    live.server.hold("after");
    live.socket().drop();
    await advance(live.env.reconnectCapMs);
    live.socket().open();
    await settle();
    live.socket().drop();
    live.server.release("after");
    await settle();
    live.server.hold("after");
    await advance(live.env.reconnectCapMs);
    live.socket().open();
    await settle();
    const [third] = live.server.commit(point(3));
    live.socket().deliver(third);
    assert.equal(live.state.cursor, "2");

    live.server.release("after");
    await settle();
    const [fourth] = live.server.commit(point(4));
    live.socket().deliver(fourth);
    assert.equal(live.state.cursor, "4");
  });

  test("a failed catch-up while streaming is recorded and tried again after pollIntervalMs", async () => {
    const live = start({ committed: [point(1)] });
    await settle();
    live.server.fail("after", 503);
    live.socket().open();
    await settle();
    assert.equal(live.state.lastError, "catch-up failed: HTTP 503");

    live.server.recover("after");
    live.server.commit(point(2));
    await advance(live.env.pollIntervalMs);
    assert.deepEqual(shown(live), ["dp_1", "dp_2"]);
    const [third] = live.server.commit(point(3));
    live.socket().deliver(third);
    assert.equal(live.state.cursor, "3");
    await advance(live.env.pollIntervalMs * 4);
    assert.equal(live.server.count("after"), 2);
  });

  test("polling after a loss repeats nothing already shown, even from a stream cursor that lagged", async () => {
    const live = start({ env: { chartPoints: 10 }, committed: [point(1)] });
    live.socket().open();
    await settle();
    const [second, third] = live.server.commit(point(2), point(3));
    live.socket().deliver(second);
    live.socket().deliver({ ...third, cursor: "1" }); // may repeat, never skip
    assert.equal(live.state.cursor, "1");

    live.server.commit(point(4));
    await failUntilPolling(live);
    assert.deepEqual(shown(live), ["dp_1", "dp_2", "dp_3", "dp_4"]);
    assert.equal(live.state.cursor, "4");
  });

  test("each event keeps its newest chartPoints readings as they are and folds older ones into buckets", async () => {
    const live = start();
    live.socket().open();
    await settle();
    for (let n = 1; n <= 7; n += 1) live.socket().deliver(point(n, { second: 2 * n }));
    live.socket().deliver(point(8, { event: "evt_b" }));
    assert.deepEqual(shown(live), ["dp_3", "dp_4", "dp_5", "dp_6", "dp_7"]);
    assert.deepEqual(live.series.evt_a.buckets.map(({ t, min, max, count, last }) => ({ t, min, max, count, last })), [
      { t: START + 2000, min: 1, max: 1, count: 1, last: 1 },
      { t: START + 4000, min: 2, max: 2, count: 1, last: 2 },
    ]);
    assert.equal(live.series.evt_a.count, 7);
    assert.deepEqual(shown(live, "evt_b"), ["dp_8"]);

    live.socket().deliver(point(1, { second: 2 }));  // a repeat of a reading that is in a bucket now
    live.socket().deliver(point(0, { second: 5 }));  // older than every reading kept as itself: into its bucket
    assert.equal(live.series.evt_a.count, 8);
    assert.deepEqual(live.series.evt_a.buckets.map(({ count, sum }) => [count, sum]), [[1, 1], [2, 2]]);
  });

  test("points are kept in time order whatever order they arrive in", async () => {
    const live = start();
    live.socket().open();
    await settle();
    for (const [n, second] of [[1, 10], [2, 30], [3, 20], [4, 5], [5, 40]]) {
      live.socket().deliver(point(n, { second }));
    }
    assert.deepEqual(shown(live), ["dp_4", "dp_1", "dp_3", "dp_2", "dp_5"]);
    const times = live.series.evt_a.points.map((datapoint) => datapoint.time);
    assert.deepEqual(times, [...times].sort((a, b) => a - b));
  });

  test("views depending on an event see its changes once per animation frame, however many readings came", async () => {
    const live = start();
    live.socket().open();
    await settle();
    live.socket().deliver(point(1));
    await nextFrame();
    const seen = [];
    const stopWatching = watch(() => live.series.evt_a.version.value, () => seen.push(live.series.evt_a.count),
      { flush: "sync" });
    for (let n = 2; n <= 4; n += 1) live.socket().deliver(point(n));
    live.socket().deliver(point(5, { event: "evt_b" }));
    assert.deepEqual(seen, []);
    await nextFrame();
    assert.deepEqual(seen, [4]);
    live.socket().deliver(point(3));  // a repeat changes nothing
    await nextFrame();
    assert.deepEqual(seen, [4]);
    assert.equal(live.series.evt_b.version.value, 1);
    stopWatching();
  });

  test("messages that are not datapoints are ignored and recorded", async () => {
    const live = start();
    live.socket().open();
    await settle();
    for (const message of ["not json", "42", "null", '{"value": 1}', "[]"]) {
      live.socket().deliver(message);
      assert.equal(live.state.lastError, "stream sent a message that is not a datapoint");
      live.socket().deliver(point(1));
    }
    assert.deepEqual(Object.keys(live.series), ["evt_a"]);
    assert.deepEqual(shown(live), ["dp_1"]);
    assert.equal(live.state.mode, "websocket");
  });
});

describe("Live history from /datapoints/series", () => {
  const SEAM = START - SEAM_MARGIN_MS;
  const buckets = (live, event = "evt_a") => live.series[event]?.buckets ?? [];
  const bucketed = (live, event = "evt_a") => buckets(live, event).reduce((sum, bucket) => sum + bucket.count, 0);

  test("each event's 15 minutes before the seam come as its buckets, never the newest N of all events", async () => {
    const old = [-800, -600, -300, -60, -10].map((second, n) => point(n + 1, { second }));
    const busy = Array.from({ length: 12 }, (_, n) => point(100 + n, { event: "evt_b", second: -50 + n }));
    const gone = point(200, { event: "evt_c", second: -1000 });  // older than the window: no buckets to ask for
    const live = start({ committed: [gone, ...old, ...busy] });
    await settle();

    const asked = live.server.requests.filter((request) => request.kind === "series");
    assert.equal(asked.length, 1);
    const query = new URL(asked[0].url).searchParams;
    assert.deepEqual(query.getAll("event_public_id").sort(), ["evt_a", "evt_b"]);
    assert.equal(query.get("from"), new Date(SEAM - 15 * 60 * 1000).toISOString());
    assert.equal(query.get("to"), new Date(SEAM).toISOString());
    assert.equal(query.get("points"), "600");
    assert.ok(live.server.requests.every((request) => !request.url.includes(`page_size=${live.env.chartPoints}`)));

    assert.equal(bucketed(live), old.length);
    assert.equal(bucketed(live, "evt_b"), busy.length, "more than chartPoints of them, all there");
    assert.deepEqual(buckets(live).map((bucket) => bucket.t), old.map((datapoint) => Date.parse(datapoint.timestamp)));
    assert.deepEqual(shown(live), []);
    assert.equal(live.series.evt_a.latest.public_id, "dp_5");
    assert.equal(live.series.evt_c.count, 0);
    assert.equal(live.series.evt_c.latest.public_id, "dp_200");

    const [time, high, low, line] = live.series.evt_b.columns();
    assert.ok(time instanceof Float64Array && time.length === buckets(live, "evt_b").length);
    assert.equal(live.series.evt_b.bucketMs, 2000);  // 15 minutes in 600 buckets, rounded up to whole seconds
    assert.deepEqual([time[0] * 1000, high[0], low[0], line[0]], [START - 50_000, 101, 100, 100.5]);  // dp_100, dp_101
  });

  test("live readings are appended after the buckets, with no hole and no double at the seam", async () => {
    const server = fakeServer([point(1, { second: -300 }), point(2, { second: -2 })]);
    server.hold("page");  // the cursor: what commits while it is answered comes again in the catch-up
    const live = start({ server });
    await settle();
    const [inFlight, after] = server.commit(point(3, { second: -6 }), point(4, { second: -1 }));
    server.release("page");
    await settle();
    assert.equal(live.state.cursor, "2");
    assert.equal(bucketed(live), 2, "the buckets, read after the cursor, hold the reading from before the seam");
    assert.deepEqual(shown(live), ["dp_2", "dp_4"]);

    live.socket().open();  // the catch-up from the cursor brings dp_3 and dp_4 again
    await settle();
    assert.equal(server.requests.at(-1).url, `${live.env.apiBaseUrl}/datapoints?after=2&limit=3`);
    for (const again of [inFlight, after]) live.socket().deliver(again);
    const [newer] = server.commit(point(5, { second: 1 }));
    live.socket().deliver(newer);
    const [late] = server.commit(point(6, { second: -20 }));  // committed 20 s after its time: not drawn in Live
    live.socket().deliver(late);
    await nextFrame();

    assert.equal(bucketed(live), 2);
    assert.deepEqual(shown(live), ["dp_2", "dp_4", "dp_5"]);
    assert.equal(live.series.evt_a.count, server.log.length - 1);
    assert.equal(live.series.evt_a.latest.public_id, "dp_5");
    assert.equal(live.series.evt_a.version.value > 0, true);
  });

  test("a failed series request is tried again, and its buckets are counted once", async () => {
    const server = fakeServer([point(1, { second: -100 }), point(2, { event: "evt_b", second: -90 })]);
    server.fail("series", 503);
    const live = start({ server });
    await settle();
    assert.equal(live.state.lastError, "history failed: HTTP 503");
    assert.equal(bucketed(live), 0);

    server.recover("series");
    await advance(live.env.pollIntervalMs);
    assert.equal(bucketed(live), 1);
    assert.equal(bucketed(live, "evt_b"), 1);
    await advance(live.env.pollIntervalMs * 3);
    assert.equal(server.count("series"), 2);
    assert.equal(bucketed(live), 1);
  });

  test("an event deleted before its series was read is left out, and the others still get theirs", async () => {
    const server = fakeServer(["evt_a", "evt_b", "evt_c"].map((event, n) => point(n + 1, { event, second: -60 })));
    server.deleteEvent("evt_b");
    const live = start({ server });
    await settle();
    assert.deepEqual(["evt_a", "evt_b", "evt_c"].map((event) => bucketed(live, event)), [1, 0, 1]);
    assert.equal(server.count("series"), 4, "all three at once, then one by one");
    await advance(live.env.pollIntervalMs * 3);
    assert.equal(server.count("series"), 4);
  });

  test("the window slides: what is older than 15 minutes leaves the chart", async () => {
    const live = start({ committed: [point(1, { second: -800 }), point(2, { second: -100 })] });
    live.socket().open();
    await settle();
    assert.equal(live.series.evt_a.count, 2);

    await advance(150 * 1000, 30 * 1000);  // the bucket of dp_1 is now more than 15 minutes old
    live.socket().deliver(point(3, { second: 150 }));
    await nextFrame();
    assert.deepEqual(buckets(live).map((bucket) => bucket.count), [1]);
    assert.equal(live.series.evt_a.count, 2);
    assert.deepEqual(shown(live), ["dp_3"]);
  });
});

describe("refused tokens", () => {
  test("a 401 from a fetch marks unauthorized, calls onUnauthorized once and stops everything", async () => {
    const server = fakeServer([point(1)]);
    server.hold("ticket");
    server.fail("page", 401);
    server.fail("latest", 401);
    const live = start({ server, token: "expired" });
    await settle();
    assert.equal(live.state.unauthorized, true);
    assert.equal(live.state.lastError, "token refused: HTTP 401");
    assert.equal(live.refusals.length, 1);
    assert.equal(live.state.mode, "closed");
    assert.ok(server.requests.find((request) => request.kind === "ticket").signal.aborted);
    server.release("ticket");
    await settle();
    assert.equal(live.sockets.length, 0, "no socket after the refusal");

    const requests = server.requests.length;
    await advance(live.env.streamRetryMs * 10);
    assert.equal(live.sockets.length, 0);
    assert.equal(server.requests.length, requests);
  });

  test("a stream closed with 1008 marks unauthorized, calls onUnauthorized once and stops everything", async () => {
    const live = start({ token: "revoked" });
    await settle();
    live.server.hold("after");
    live.socket().open();
    await settle();
    live.socket().drop(1008);
    assert.equal(live.state.unauthorized, true);
    assert.equal(live.state.lastError, "token refused: stream closed (1008)");
    assert.equal(live.state.mode, "closed");
    assert.equal(live.refusals.length, 1);
    assert.ok(live.server.requests.at(-1).signal.aborted);

    await advance(live.env.streamRetryMs * 10);
    assert.equal(live.sockets.length, 1);
    assert.equal(live.refusals.length, 1);
  });
});

describe("cleaning up", () => {
  test("unmounting closes the socket with 1000, aborts in-flight fetches and clears timers", async () => {
    const server = fakeServer([point(1)]);
    server.hold("page");
    const live = start({ server });
    const socket = live.socket();
    live.scope.stop();
    assert.equal(socket.closedWith, 1000);
    assert.equal(socket.onclose, null);
    assert.ok(server.requests.every((request) => request.signal.aborted));
    assert.equal(live.state.mode, "closed");

    server.release("page");
    await advance(live.env.streamRetryMs * 10);
    assert.equal(live.sockets.length, 1);
    assert.equal(server.requests.length, 2);
    assert.deepEqual(Object.keys(live.series), []);
  });

  test("unmounting while waiting to reconnect cancels the reconnect", async () => {
    const live = start();
    await settle();
    live.socket().drop();
    live.scope.stop();
    await advance(live.env.reconnectCapMs * 10);
    assert.equal(live.sockets.length, 1);
    assert.equal(live.state.mode, "closed");
  });

  test("stopping while polling ends the polls and background retries, and closes a connecting retry", async () => {
    const live = start({ committed: [point(1)] });
    await failUntilPolling(live);
    await advance(live.env.streamRetryMs);
    live.server.hold("after");
    await advance(live.env.pollIntervalMs);
    const retry = live.socket();
    const requests = live.server.requests.length;

    live.stop();
    live.stop();
    assert.equal(retry.closedWith, 1000);
    assert.ok(live.server.requests.at(-1).signal.aborted);
    await advance(live.env.streamRetryMs * 10);
    assert.equal(live.sockets.at(-1), retry);
    assert.equal(live.server.requests.length, requests);
    assert.equal(live.state.mode, "closed");
  });
});

describe("tokens and stream tickets", () => {
  const kinds = (live) => live.server.requests.map((request) => request.kind);

  test("each socket opens with a fresh ticket asked for just before it; the token goes only in a bearer header", async () => {
    const live = start({ token: "a b&c=d" });
    assert.equal(live.sockets.length, 0, "no socket before its ticket");
    await settle();
    assert.equal(live.socket().url, `${live.env.streamUrl}?status=1&ticket=tkt_1`);
    const ticket = live.server.requests.find((request) => request.kind === "ticket");
    assert.equal(ticket.method, "POST");
    assert.equal(ticket.url, `${live.env.apiBaseUrl}/stream-ticket`);
    live.socket().open();
    await settle();
    assert.deepEqual(kinds(live).sort(), ["after", "latest", "page", "since", "ticket"]);
    for (const request of live.server.requests) assert.equal(request.headers.Authorization, "Bearer a b&c=d");

    live.socket().drop();
    await advance(live.env.reconnectCapMs);
    assert.equal(live.socket().url, `${live.env.streamUrl}?status=1&ticket=tkt_2`, "never a ticket twice");
    assert.ok(live.sockets.every((socket) => !socket.url.includes("token") && !socket.url.includes("a%20b")));
  });

  test("while the ticket is on its way there is no socket; it opens once the ticket is there", async () => {
    const live = start({ token: "t" });
    await settle();
    live.server.hold("ticket");
    live.socket().drop();
    await advance(live.env.reconnectCapMs);
    assert.equal(kinds(live).filter((kind) => kind === "ticket").length, 2, "the reconnect asked for a ticket");
    assert.equal(live.sockets.length, 1, "and waits for it");
    live.server.release("ticket");
    await settle();
    assert.equal(live.sockets.length, 2);
    assert.equal(live.socket().url, `${live.env.streamUrl}?status=1&ticket=tkt_2`);
  });

  test("a ticket refused with 401 ends the session: onUnauthorized, and no socket", async () => {
    const server = fakeServer([point(1)]);
    server.fail("ticket", 401);
    const live = start({ server, token: "revoked" });
    await settle();
    assert.equal(live.refusals.length, 1);
    assert.equal(live.state.unauthorized, true);
    assert.equal(live.state.mode, "closed");
    assert.equal(live.sockets.length, 0);
  });

  for (const [why, status] of [["unreachable", 0], ["answering 503", 503]]) {
    test(`a server ${why} for the ticket counts as a failed connect: backoff, then polling`, async () => {
      const server = fakeServer([point(1)]);
      const live = start({ server, token: "t" });
      await settle();
      server.fail("ticket", status);
      live.socket().drop();
      for (let attempt = 2; attempt <= 3; attempt += 1) {
        await advance(live.env.reconnectCapMs);
        assert.equal(live.state.mode, "connecting");
        assert.equal(live.state.attempt, attempt);
      }
      assert.equal(live.state.lastError, status ? "stream failed: HTTP 503" : "stream failed: Failed to fetch");
      await advance(live.env.reconnectCapMs);
      assert.equal(live.state.mode, "polling");
      assert.equal(live.sockets.length, 1);
      assert.equal(live.refusals.length, 0);

      server.recover("ticket");
      await advance(live.env.streamRetryMs, live.env.pollIntervalMs);
      assert.equal(live.sockets.length, 2);
      live.socket().open();
      assert.equal(live.state.mode, "websocket");
      assert.equal(live.state.lastError, null);
    });
  }

  test("a renewed token: the open socket is replaced by one of the new token's ticket, and its 1008 is no sign-out", async () => {
    const session = reactive({ token: "old" });
    const live = start({ token: () => session.token, committed: [point(1)] });
    await settle();
    const old = live.socket();
    old.open();
    await settle();
    session.token = "new";
    await settle();
    assert.equal(old.closedWith, 1000);
    assert.equal(live.sockets.length, 2);
    const tickets = live.server.requests.filter((request) => request.kind === "ticket");
    assert.equal(tickets.at(-1).headers.Authorization, "Bearer new");
    live.socket().open();
    await settle();
    assert.equal(live.state.mode, "websocket");
    assert.equal(live.refusals.length, 0);

    live.server.hold("ticket");
    live.socket().drop();
    await advance(live.env.reconnectCapMs);
    session.token = "newer";  // renewed while a ticket of "new" is on its way: that socket is replaced once open
    await settle();
    live.server.release("ticket");
    await settle();
    const stale = live.socket();
    stale.open();
    await settle();
    assert.equal(stale.closedWith, 1000);
    assert.equal(live.server.requests.filter((request) => request.kind === "ticket").at(-1).headers.Authorization,
      "Bearer newer");
    live.socket().open();
    live.socket().drop(1008);  // the current token's socket refused: that is the end of the session
    assert.equal(live.refusals.length, 1);
  });

  test("a page refused for its token comes back when a token is there again", async () => {
    const session = reactive({ token: "first" });
    const live = start({ token: () => session.token, committed: [point(1)] });
    await settle();
    live.socket().open();
    await settle();
    live.socket().drop(1008);
    assert.equal(live.refusals.length, 1);
    assert.equal(live.state.mode, "closed");
    session.token = null;
    await settle();
    assert.equal(live.sockets.length, 1);

    live.server.commit(point(2));
    session.token = "second";
    await settle();
    assert.equal(live.state.unauthorized, false);
    assert.equal(live.sockets.length, 2);
    live.socket().open();
    await settle();
    assert.equal(live.state.mode, "websocket");
    assert.deepEqual(shown(live), ["dp_1", "dp_2"], "caught up from where it was");
  });

  test("a session that ends stops everything at once, with no socket opened without credentials", async () => {
    const session = reactive({ token: "t" });
    const live = start({ token: () => session.token, committed: [point(1)] });
    await settle();
    const socket = live.socket();
    socket.open();
    await settle();
    session.token = null;
    await settle();
    assert.equal(socket.closedWith, 1000);
    assert.equal(live.state.mode, "closed");
    assert.equal(live.refusals.length, 0, "the session knows already");
    const requests = live.server.requests.length;
    await advance(live.env.streamRetryMs * 3, live.env.pollIntervalMs);
    assert.equal(live.sockets.length, 1);
    assert.equal(live.server.requests.length, requests);

    session.token = "again";
    await settle();
    assert.equal(live.sockets.length, 2);
    assert.equal(live.server.requests.filter((request) => request.kind === "ticket").at(-1).headers.Authorization,
      "Bearer again");
  });

  test("without a token the query is only status=1, and there is no Authorization header", async () => {
    const live = start();
    await settle();
    live.socket().open();
    await settle();
    assert.equal(live.socket().url, `${live.env.streamUrl}?status=1`);
    assert.equal(live.server.requests.length, 4);
    for (const request of live.server.requests) assert.equal("Authorization" in request.headers, false);
  });
});
