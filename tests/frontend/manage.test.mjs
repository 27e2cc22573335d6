import assert from "node:assert/strict";
import { describe, test } from "node:test";

import {
  durationText, eventBody, eventForm, eventMatches, eventProblems, eventsInOrder, experimentDuration, failureText,
  passwordProblem, readingsText,
} from "../../static/manage.js";

const BOILER = { public_id: "evt_boil01", name: "Boiler", type: "sensor", unit: "°C", min_value: 0, max_value: 120,
                 stale_after: null, group: "Reactor" };

describe("the event form", () => {
  test("shows every field as text, empty for none, and gives it back as the API's body", () => {
    const form = eventForm(BOILER);
    assert.deepEqual(form, { public_id: "evt_boil01", name: "Boiler", type: "sensor", unit: "°C", min_value: "0",
                             max_value: "120", stale_after: "", group: "Reactor" });
    assert.deepEqual(eventBody(form, false), { name: "Boiler", type: "sensor", unit: "°C", min_value: 0,
                                               max_value: 120, stale_after: null, group: "Reactor" });
  });

  test("a new event starts as a sensor, and sends its id only when one is given", () => {
    const form = { ...eventForm(), name: "  Flow ", group: "  ", stale_after: "30" };
    assert.equal(form.type, "sensor");
    assert.deepEqual(eventBody(form, true), { name: "Flow", type: "sensor", unit: "", min_value: null,
                                              max_value: null, stale_after: 30, group: null });
    assert.equal(eventBody({ ...form, public_id: " evt_flow01 " }, true).public_id, "evt_flow01");
    assert.equal("public_id" in eventBody({ ...form, public_id: "evt_flow01" }, false), false);  // never changed
  });

  test("problems are found by field before the server is asked", () => {
    const body = (fields) => eventBody({ ...eventForm(), name: "x", ...fields }, true);
    assert.deepEqual(eventProblems(body({ name: " " })), { name: "Enter a name." });
    assert.deepEqual(eventProblems(body({ min_value: "abc" })), { min_value: "Enter a number, or leave it empty." });
    assert.deepEqual(eventProblems(body({ min_value: "5", max_value: "1" })), { min_value: "Not more than the maximum." });
    assert.deepEqual(eventProblems(body({ stale_after: "0" })), { stale_after: "More than 0 seconds, or empty for never." });
    assert.deepEqual(eventProblems(body({ min_value: "-1.5", max_value: "1e3", stale_after: "0.5" })), {});
  });
});

describe("the list of events", () => {
  const events = [
    { ...BOILER, public_id: "evt_b", name: "Zeta", group: null },
    { ...BOILER, public_id: "evt_a", name: "Pump", group: "Utilities" },
    { ...BOILER, public_id: "evt_c", name: "Alpha", group: null },
    { ...BOILER, public_id: "evt_d", name: "Boiler", group: "Reactor" },
  ];

  test("is grouped, the events without a group last, each group by name", () => {
    assert.deepEqual(eventsInOrder(events).map((event) => event.name), ["Boiler", "Pump", "Alpha", "Zeta"]);
  });

  test("a search matches every word typed against name, id, group, unit and type", () => {
    const found = (search) => events.filter((event) => eventMatches(event, search)).map((event) => event.public_id);
    assert.deepEqual(found(""), ["evt_b", "evt_a", "evt_c", "evt_d"]);
    assert.deepEqual(found("util"), ["evt_a"]);
    assert.deepEqual(found("REACTOR boil"), ["evt_d"]);
    assert.deepEqual(found("evt_c °c"), ["evt_c"]);
    assert.deepEqual(found("nothing"), []);
  });
});

describe("experiments", () => {
  test("a reading count past where the server stopped counting says so", () => {
    assert.equal(readingsText({ readings: 1234, readings_is_lower_bound: false }), "1,234");
    assert.equal(readingsText({ readings: 10000, readings_is_lower_bound: true }), "10,000+");
    assert.equal(readingsText({ readings: 0 }), "0");
  });

  test("a duration reads in its two largest units", () => {
    assert.deepEqual([0, 45_000, 200_000, 3_600_000, 7_500_000, 90_061_000, -5].map(durationText),
      ["0 s", "45 s", "3 min 20 s", "1 h", "2 h 5 min", "1 d 1 h", "0 s"]);
  });

  test("a stopped experiment ran from start to stop; a running one runs until now", () => {
    const started_at = "2025-01-15T14:00:00Z";
    assert.equal(experimentDuration({ started_at, stopped_at: "2025-01-15T15:30:00Z" }, Date.now()), "1 h 30 min");
    assert.equal(experimentDuration({ started_at, stopped_at: null }, Date.parse("2025-01-15T14:00:42Z")), "42 s");
  });
});

describe("what users are told", () => {
  test("a refusal says its message and what it said of each field", () => {
    assert.equal(failureText({ message: "invalid event", details: { name: "1 to 200 characters" } }),
      "invalid event (name: 1 to 200 characters)");
    assert.equal(failureText({ message: "the last admin cannot be demoted" }), "the last admin cannot be demoted");
  });

  test("a new password needs 8 characters, typed the same twice", () => {
    assert.equal(passwordProblem("short", "short", 8), "The new password needs at least 8 characters.");
    assert.equal(passwordProblem("long enough", "long enougH", 8), "The two new passwords differ.");
    assert.equal(passwordProblem("long enough", "long enough", 8), null);
  });
});
