import assert from "node:assert/strict";
import { afterEach, beforeEach, describe, mock, test } from "node:test";
import { watch } from "vue";

import { listOf } from "../../static/announce.js";
import { formatDuration, formatSilence } from "../../static/format.js";
import { lastReadingOf } from "../../static/realtime.js";
import {
  advance, enableTimers, failUntilPolling, fakeServer, nextFrame, point, settle, shown, START, start, stopAll,
} from "./fakes.mjs";

beforeEach(enableTimers);
afterEach(() => {
  stopAll();
  mock.timers.reset();
});

function eventStatus(event, stale, lastReadingAt = null) {
  return { type: "event_status", event_public_id: event, stale, stale_after: 30,
           last_reading_at: lastReadingAt === null ? null : new Date(lastReadingAt).toISOString(),
           at: new Date(Date.now()).toISOString() };
}

async function streaming(options) {
  const live = start(options);
  await settle();
  live.socket().open();
  await settle();
  return live;
}

describe("typed frames on the stream", () => {
  test("are never taken for datapoints, and are not recorded as bad messages", async () => {
    const live = await streaming();
    const lookalike = { ...point(7), type: "datapoint" };  // has every datapoint field, but a type
    for (const frame of [
      { type: "controller", public_id: "ctl_abc", name: "Boiler", connected: true, connected_since: null,
        address: "10.0.0.5", at: new Date(START).toISOString() },
      eventStatus("evt_a", true, START - 120_000),
      { type: "recovery", complete: false, cursor: "5", message: "fetch the rest" },
      { type: "something_new", public_id: "dp_8", event_public_id: "evt_b", timestamp: new Date(START).toISOString() },
      lookalike,
    ]) {
      live.socket().deliver(frame);
    }
    await nextFrame();
    assert.deepEqual(Object.keys(live.series), []);
    assert.equal(live.state.lastError, null);
    assert.equal(live.state.lastDataAt, null, "no data arrived");

    live.socket().deliver(point(1));
    await nextFrame();
    assert.deepEqual(shown(live), ["dp_1"]);
  });

  test("event_status frames set each event's verdict; a reading does not clear it, the server's word does", async () => {
    const live = await streaming();
    const silentSince = START - 120_000;
    live.socket().deliver(eventStatus("evt_a", true, silentSince));
    assert.deepEqual({ ...live.statuses.evt_a }, { stale: true, lastReadingAt: silentSince });

    live.socket().deliver(point(1));
    await nextFrame();
    assert.equal(live.statuses.evt_a.stale, true, "the value updates, the mark waits for the server");
    assert.equal(lastReadingOf(live.statuses.evt_a, live.series.evt_a), Date.parse(point(1).timestamp));

    live.socket().deliver(eventStatus("evt_a", false, Date.parse(point(1).timestamp)));
    assert.equal(live.statuses.evt_a.stale, false);
    live.socket().deliver(eventStatus("evt_a", true, Date.parse(point(1).timestamp)));
    assert.equal(live.statuses.evt_a.stale, true, "and it can turn stale again");
  });

  test("an event that never was stale gets no entry; frames with bad fields are ignored", async () => {
    const live = await streaming();
    live.socket().deliver(eventStatus("evt_b", false, START));
    live.socket().deliver({ type: "event_status", event_public_id: "evt_c", stale: "yes" });
    live.socket().deliver({ type: "event_status", stale: true });
    assert.deepEqual(Object.keys(live.statuses), []);
    assert.equal(live.state.lastError, null);
  });

  test("only the changed event's verdict is replaced, and an unchanged one not at all", async () => {
    const live = await streaming();
    live.socket().deliver(eventStatus("evt_a", true, START));
    live.socket().deliver(eventStatus("evt_b", true, START));
    const seen = [];
    const stopWatching = watch(() => live.statuses.evt_b, (status) => seen.push(status.stale));
    const before = live.statuses.evt_a;

    live.socket().deliver(eventStatus("evt_a", true, START));  // the same verdict again
    assert.equal(live.statuses.evt_a, before);
    live.socket().deliver(eventStatus("evt_a", false, START));
    await nextFrame();
    assert.deepEqual(seen, []);
    live.socket().deliver(eventStatus("evt_b", false, START));
    await nextFrame();
    assert.deepEqual(seen, [false]);
    stopWatching();
  });
});

describe("stale flags without a stream", () => {
  test("are seeded from /datapoints/latest, with the newest reading's time", async () => {
    const server = fakeServer([point(1), point(2, { event: "evt_b" })]);
    server.judge("evt_a", true);
    server.judge("evt_b", false);
    const live = start({ server });
    await settle();
    assert.deepEqual({ ...live.statuses.evt_a }, { stale: true, lastReadingAt: Date.parse(point(1).timestamp) });
    assert.equal(live.statuses.evt_b, undefined, "never stale: no entry");
    assert.ok(live.series.evt_a.points.every((reading) => !("stale" in reading)), "the flag is the event's");
  });

  test("while polling, each poll asks /events for the server's verdicts, also of events without readings", async () => {
    const live = start({ committed: [point(1)] });
    await failUntilPolling(live);
    assert.equal(live.state.mode, "polling");
    assert.equal(live.server.count("events"), 1, "the first poll asks at once");
    assert.equal(live.statuses.evt_a, undefined);

    live.server.judge("evt_a", true);
    live.server.judge("evt_silent", true);
    await advance(live.env.pollIntervalMs);
    assert.equal(live.server.count("events"), 2);
    assert.deepEqual({ ...live.statuses.evt_a }, { stale: true, lastReadingAt: null });
    assert.deepEqual({ ...live.statuses.evt_silent }, { stale: true, lastReadingAt: null });

    live.server.commit(point(2));
    live.server.judge("evt_a", false);
    await advance(live.env.pollIntervalMs);
    assert.equal(live.statuses.evt_a.stale, false);
    assert.deepEqual(shown(live), ["dp_1", "dp_2"]);
    assert.equal(live.statuses.evt_silent.stale, true);
  });

  test("one /events request at a time, and a failed one is recorded and asked again at the next poll", async () => {
    const live = start({ committed: [point(1)] });
    await settle();
    live.server.hold("events");
    await failUntilPolling(live);
    await advance(live.env.pollIntervalMs * 2);
    assert.equal(live.server.count("events"), 1);
    live.server.fail("events", 503);
    live.server.release("events");
    await settle();
    await advance(live.env.pollIntervalMs);
    assert.equal(live.state.lastError, "status failed: HTTP 503");
    live.server.recover("events");
    live.server.judge("evt_a", true);
    await advance(live.env.pollIntervalMs);
    assert.equal(live.statuses.evt_a.stale, true);
  });

  test("once the stream is back its frames rule: no more /events, and older HTTP answers are not applied", async () => {
    const live = start({ committed: [point(1)] });
    await failUntilPolling(live);
    live.server.judge("evt_a", true);
    await advance(live.env.streamRetryMs - live.env.pollIntervalMs, live.env.pollIntervalMs);
    assert.equal(live.statuses.evt_a.stale, true);
    live.server.hold("events");
    await advance(live.env.pollIntervalMs);  // a poll and the stream's retry, at the same moment
    const asked = live.server.count("events");

    live.socket().open();
    live.socket().deliver(eventStatus("evt_a", false, START));
    live.server.release("events");  // read before the frame: it still says stale
    await settle();
    assert.equal(live.statuses.evt_a.stale, false);
    await advance(live.env.pollIntervalMs * 4);
    assert.equal(live.server.count("events"), asked);
  });

  test("an answer of /datapoints/latest that comes after the stream opened does not overrule it", async () => {
    const server = fakeServer([point(1)]);
    server.judge("evt_a", true);
    server.hold("latest");
    const live = start({ server });
    live.socket().open();
    live.socket().deliver(eventStatus("evt_a", false, START));
    server.release("latest");
    await settle();
    assert.equal(live.statuses.evt_a?.stale ?? false, false);
    assert.deepEqual(shown(live), ["dp_1"], "its readings are still taken");
  });
});

describe("how staleness reads", () => {
  test("the last reading is the later of the server's word and the newest reading seen", () => {
    const live = { version: { value: 0 }, latest: { time: 5000 } };
    assert.equal(lastReadingOf({ stale: true, lastReadingAt: 3000 }, live), 5000);
    assert.equal(lastReadingOf({ stale: true, lastReadingAt: 9000 }, live), 9000);
    assert.equal(lastReadingOf({ stale: true, lastReadingAt: null }, null), null);
    assert.equal(lastReadingOf(null, live), 5000);
  });

  test("durations and silences", () => {
    assert.equal(formatDuration(44_600), "45 s");
    assert.equal(formatDuration(150_000), "2 min");
    assert.equal(formatDuration(3 * 3600_000 + 5), "3 h");
    assert.equal(formatDuration(2 * 86_400_000), "2 d");
    assert.equal(formatDuration(-5), "0 s");
    assert.equal(formatSilence(null, 1000), "no data yet");
    assert.equal(formatSilence(0, 125_000), "no data for 2 min");
  });

  test("names are listed as a sentence reads them", () => {
    assert.equal(listOf(["A"]), "A");
    assert.equal(listOf(["A", "B"]), "A and B");
    assert.equal(listOf(["A", "B", "C"]), "A, B and C");
  });
});
