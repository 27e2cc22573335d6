// What the charts and cards draw (static/components/chartStyle.js, Sparkline.js) and how the datapoints table
// writes times (static/timestamps.js).
import assert from "node:assert/strict";
import { test } from "node:test";

import { MINUTE_TICK_SPACE, SECOND_TICK_SPACE, faded, formatTicks, timeTickSpace }
  from "../../static/components/chartStyle.js";
import { SLOTS, sparkPath } from "../../static/components/Sparkline.js";
import { LIVE_WINDOW_MS, LiveSeries } from "../../static/realtime.js";
import { formatTimestamp } from "../../static/timestamps.js";

test("time ticks are labelled as briefly as their step allows, and fit the space between them", () => {
  const noon = Date.UTC(2026, 10, 26, 12, 0, 0) / 1000;
  const minutes = formatTicks([noon, noon + 300, noon + 600], 300);
  assert.equal(new Set(minutes).size, 3);
  assert.ok(minutes.every((label) => !/:\d\d:\d\d/.test(label)), minutes);  // no seconds
  const seconds = formatTicks([noon, noon + 10], 10);
  assert.ok(seconds.every((label) => /\d\d:\d\d:\d\d/.test(label)), seconds);
  const days = formatTicks([noon, noon + 86400], 86400);
  assert.ok(days.every((label) => !/\d\d:\d\d/.test(label)), days);
  // At 12px a character is under 7.5px wide: each label fits the space uPlot keeps between its ticks.
  const widest = (labels) => Math.max(...labels.map((label) => label.length)) * 7.5;
  assert.ok(widest([...minutes, ...days]) < MINUTE_TICK_SPACE, minutes);
  assert.ok(widest(seconds) < SECOND_TICK_SPACE, seconds);
});

test("seconds get the wider spacing only where ticks could fall less than a minute apart", () => {
  assert.equal(timeTickSpace(15 * 60, 260), MINUTE_TICK_SPACE);  // Live on a phone: minutes
  assert.equal(timeTickSpace(15 * 60, 1200), SECOND_TICK_SPACE);  // Live on a wall: could be every 30 s
  assert.equal(timeTickSpace(86400, 1200), MINUTE_TICK_SPACE);
});

test("a band's colour is the line's with transparency", () => {
  assert.equal(faded("#2563eb", 0.15), "rgba(37, 99, 235, 0.15)");
  assert.equal(faded("rgb(1, 2, 3)", 0.5), "rgb(1, 2, 3)");
});

test("a sparkline averages the Live window into slots and scales them into its box", () => {
  const now = Date.UTC(2026, 10, 26, 12, 0, 0);
  const live = new LiveSeries("evt_a", 100, 1500);
  assert.equal(sparkPath(null, now), "");
  live.add({ public_id: "dp_1", value: 1, time: now - 60_000 });
  assert.equal(sparkPath(live, now), "");  // one point is no line
  live.add({ public_id: "dp_2", value: 3, time: now - 1_000 });
  live.add({ public_id: "dp_0", value: 9, time: now - LIVE_WINDOW_MS - 1 });  // before the window: left out
  const path = sparkPath(live, now);
  const points = [...path.matchAll(/[ML]([\d.]+) ([\d.]+)/g)].map((match) => [Number(match[1]), Number(match[2])]);
  assert.equal(points.length, 2);
  assert.ok(points[0][1] > points[1][1]);  // 1 then 3: the line rises (y grows downwards)
  assert.ok(points[1][0] > 100 * (SLOTS - 1) / SLOTS);  // the newest slot is at the right edge
});

test("datapoint times are written to the millisecond, in the browser's zone or a named one", () => {
  assert.equal(formatTimestamp("2026-11-26T17:25:01.123Z", "UTC"), "2026-11-26 17:25:01.123");
  assert.equal(formatTimestamp("2026-11-26T23:59:59.005Z", "Asia/Tokyo"), "2026-11-27 08:59:59.005");
  assert.equal(formatTimestamp(null), "—");
  assert.equal(formatTimestamp("not a time"), "—");
});
