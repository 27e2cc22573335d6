import assert from "node:assert/strict";
import { afterEach, beforeEach, describe, mock, test } from "node:test";
import { computed } from "vue";

import { useRealtimeDatapoints } from "../../static/realtime.js";
import {
  advance, ENV, enableTimers, failUntilPolling, fakeServer, fakeWebSocket, ids, point, settle, start, stopAll,
} from "./fakes.mjs";

beforeEach(enableTimers);
afterEach(() => {
  stopAll();
  mock.timers.reset();
});

describe("starting", () => {
  test("opens the stream and loads history and latest values, merged without duplicates", async () => {
    const quiet = point(1, { event: "evt_b" });
    const live = start({ committed: [quiet, point(2), point(3), point(4), point(5), point(6)] });
    assert.equal(live.sockets.length, 1);
    assert.equal(live.socket().url, live.env.streamUrl);
    assert.equal(live.state.mode, "connecting");
    assert.equal(live.state.attempt, 0);
    assert.equal(live.state.maxAttempts, 3);
    await settle();

    const page = live.server.requests.find((request) => request.kind === "page");
    assert.equal(page.url, `${live.env.apiBaseUrl}/datapoints?page_size=${live.env.chartPoints}`);
    assert.equal(live.server.count("latest"), 1);
    assert.deepEqual(ids(live.datapoints.evt_a), ["dp_2", "dp_3", "dp_4", "dp_5", "dp_6"]);
    assert.deepEqual(live.datapoints.evt_b, [{ ...quiet, time: Date.parse(quiet.timestamp) }]);
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

  test("records when data last arrived", async () => {
    const live = start();
    await settle();
    assert.equal(live.state.lastDataAt, null);
    await advance(1234);
    live.socket().open();
    live.socket().deliver({ ...point(1), cursor: "1" });
    assert.equal(live.state.lastDataAt, Date.now());
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
    assert.deepEqual(ids(live.datapoints.evt_a), ["dp_1", "dp_2"]);
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
    assert.deepEqual(ids(live.datapoints.evt_a), ["dp_1", "dp_2", "dp_3"]);
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
    assert.deepEqual(ids(live.datapoints.evt_a), ["dp_1", "dp_2"]);
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
    assert.deepEqual(ids(live.datapoints.evt_a), ["dp_1", "dp_2"]);
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
    assert.deepEqual(ids(live.datapoints.evt_a), ["dp_1", "dp_2", "dp_3", "dp_5", "dp_6"]);

    live.server.release("after");
    await settle();
    assert.deepEqual(ids(live.datapoints.evt_a), ["dp_2", "dp_3", missed.public_id, "dp_5", "dp_6"]);
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
    assert.deepEqual(ids(live.datapoints.evt_a), ["dp_1", "dp_2"]);
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
    assert.deepEqual(ids(live.datapoints.evt_a), ["dp_1", "dp_2", "dp_3", "dp_4"]);
    assert.equal(live.state.cursor, "4");
  });

  test("each event keeps at most chartPoints points, dropping the oldest", async () => {
    const live = start();
    live.socket().open();
    await settle();
    for (let n = 1; n <= 7; n += 1) live.socket().deliver(point(n));
    live.socket().deliver(point(8, { event: "evt_b" }));
    assert.deepEqual(ids(live.datapoints.evt_a), ["dp_3", "dp_4", "dp_5", "dp_6", "dp_7"]);
    assert.deepEqual(ids(live.datapoints.evt_b), ["dp_8"]);
  });

  test("points are kept in time order whatever order they arrive in", async () => {
    const live = start();
    live.socket().open();
    await settle();
    for (const [n, second] of [[1, 10], [2, 30], [3, 20], [4, 5], [5, 40]]) {
      live.socket().deliver(point(n, { second }));
    }
    assert.deepEqual(ids(live.datapoints.evt_a), ["dp_4", "dp_1", "dp_3", "dp_2", "dp_5"]);
    const times = live.datapoints.evt_a.map((datapoint) => datapoint.time);
    assert.deepEqual(times, [...times].sort((a, b) => a - b));
  });

  test("a change replaces the event's array, so views depending on it update", async () => {
    const live = start();
    live.socket().open();
    await settle();
    const count = computed(() => live.datapoints.evt_a?.length ?? 0);
    live.socket().deliver(point(1));
    const before = live.datapoints.evt_a;
    assert.equal(count.value, 1);
    live.socket().deliver(point(2));
    assert.notEqual(live.datapoints.evt_a, before);
    assert.equal(before.length, 1);
    assert.equal(count.value, 2);
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
    assert.deepEqual(Object.keys(live.datapoints), ["evt_a"]);
    assert.deepEqual(ids(live.datapoints.evt_a), ["dp_1"]);
    assert.equal(live.state.mode, "websocket");
  });
});

describe("refused tokens", () => {
  test("a 401 from a fetch marks unauthorized, calls onUnauthorized once and stops everything", async () => {
    const server = fakeServer([point(1)]);
    server.fail("page", 401);
    server.fail("latest", 401);
    const live = start({ server, token: "expired" });
    await settle();
    assert.equal(live.state.unauthorized, true);
    assert.equal(live.state.lastError, "token refused: HTTP 401");
    assert.equal(live.refusals.length, 1);
    assert.equal(live.state.mode, "closed");
    assert.equal(live.sockets[0].closedWith, 1000);

    const requests = server.requests.length;
    await advance(live.env.streamRetryMs * 10);
    assert.equal(live.sockets.length, 1);
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
    assert.deepEqual(Object.keys(live.datapoints), []);
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

describe("tokens", () => {
  test("the token goes on the WebSocket URL as a query and on every fetch as a bearer header", async () => {
    const live = start({ token: "a b&c=d" });
    await settle();
    live.socket().open();
    await settle();
    assert.equal(live.socket().url, `${live.env.streamUrl}?token=a%20b%26c%3Dd`);
    assert.deepEqual(live.server.requests.map((request) => request.kind), ["page", "latest", "after"]);
    for (const request of live.server.requests) assert.equal(request.headers.Authorization, "Bearer a b&c=d");
  });

  test("without a token there is no query and no Authorization header", async () => {
    const live = start();
    await settle();
    live.socket().open();
    await settle();
    assert.equal(live.socket().url, live.env.streamUrl);
    assert.equal(live.server.requests.length, 3);
    for (const request of live.server.requests) assert.equal("Authorization" in request.headers, false);
  });
});
