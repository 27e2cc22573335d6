// The dashboard's layout at scale (static/dashboardLayout.js): search, groups, and the user's charts and overlays.
import assert from "node:assert/strict";
import { test } from "node:test";

import { DEFAULT_CHARTS, OTHER, chartsOf, groupsOf, isCharted, matches, mayOverlay, overlay, removeFromCharts,
  toggleCharted, unitsOf } from "../../static/dashboardLayout.js";

const event = (public_id, name, unit = "°C", group = null) => ({ public_id, name, unit, group });
const units = { a: "°C", b: "°C", c: "bar", d: "%" };
const unitOf = (id) => units[id];

test("a search finds events by every word, in any case and order, across name, id, unit and group", () => {
  const pump = event("evt_p1", "Coolant pump flow", "l/min", "Utilities");
  assert.ok(matches(pump, ""));
  assert.ok(matches(pump, "  FLOW coolant "));
  assert.ok(matches(pump, "utilities evt_p1"));
  assert.ok(matches(pump, "l/min"));
  assert.ok(!matches(pump, "flow reactor"));
  assert.ok(matches(event("evt_x", "X"), "other"));  // no group: "Other"
});

test("cards group by the event's group, by name with Other last, and by name (numbers in order) inside", () => {
  const items = [event("1", "Tank 10", "%", "Utilities"), event("2", "Spare"), event("3", "Tank 9", "%", "Utilities"),
    event("4", "Jacket", "°C", "Reactor"), event("5", "Aux", "V", "")].map((e) => ({ event: e }));
  const groups = groupsOf(items);
  assert.deepEqual(groups.map((group) => group.name), ["Reactor", "Utilities", OTHER]);
  assert.deepEqual(groups[1].items.map((item) => item.event.name), ["Tank 9", "Tank 10"]);
  assert.deepEqual(groups[2].items.map((item) => item.event.name), ["Aux", "Spare"]);
});

test("with nothing saved the first events are charted, each alone; saved charts drop unknown and repeated events", () => {
  const ids = Array.from({ length: 30 }, (_, n) => `evt_${n}`);
  assert.equal(chartsOf(undefined, ids).length, DEFAULT_CHARTS);
  assert.deepEqual(chartsOf(null, ["a", "b"]), [["a"], ["b"]]);
  assert.deepEqual(chartsOf([["a", "gone"], ["gone"], ["b", "a"], "junk", [3, "c"]], ["a", "b", "c"]),
    [["a"], ["b"], ["c"]]);
  assert.deepEqual(chartsOf([], ids), []);  // the user charted nothing: nothing
});

test("toggling charts an event alone at the end, or takes it off the chart that holds it", () => {
  const charts = [["a", "c"], ["b"]];
  assert.deepEqual(toggleCharted(charts, "d"), [["a", "c"], ["b"], ["d"]]);
  assert.deepEqual(toggleCharted(charts, "c"), [["a"], ["b"]]);
  assert.deepEqual(toggleCharted(charts, "b"), [["a", "c"]]);
  assert.deepEqual(charts, [["a", "c"], ["b"]]);  // never changed in place
  assert.ok(isCharted(charts, "c") && !isCharted(charts, "d"));
  assert.deepEqual(removeFromCharts(charts, "a"), [["c"], ["b"]]);
});

test("an overlay takes at most two units, moves the event off its own chart, and keeps the target's place", () => {
  assert.deepEqual(unitsOf(["a", "c", "b"], unitOf), ["°C", "bar"]);
  assert.ok(mayOverlay(["a"], "b", unitOf));
  assert.ok(mayOverlay(["a"], "c", unitOf));
  assert.ok(!mayOverlay(["a", "c"], "d", unitOf));  // a third unit
  assert.ok(!mayOverlay(["a"], "a", unitOf));
  assert.deepEqual(overlay([["a"], ["c"], ["b"]], 0, "c"), [["a", "c"], ["b"]]);
  assert.deepEqual(overlay([["a"], ["b"]], 1, "d"), [["a"], ["b", "d"]]);  // not charted before
  assert.deepEqual(overlay([["a"]], 5, "d"), [["a"]]);  // no such chart: unchanged
});
