import assert from "node:assert/strict";
import { afterEach, beforeEach, describe, mock, test } from "node:test";
import { effectScope } from "vue";

import {
  activeByEvent, alarmMark, alarmOfFrame, applyAlarm, bannerText, countBySeverity, failureText, fromAnswer, isOpen,
  raisedAnnouncement, rangeWithLines, ruleBody, ruleForm, rulesByEvent, thresholdLines, worstSeverity,
} from "../../static/alarms.js";
import { useRealtimeDatapoints } from "../../static/realtime.js";
import { ENV, enableTimers, fakeServer, fakeWebSocket, settle } from "./fakes.mjs";

/** An alarm as the API and the stream's frames give it: raised, active and unacknowledged unless told. */
function alarm(n, fields = {}) {
  return { alarm_id: `alm_${n}`, rule_id: `rul_${n}`, rule_name: `Rule ${n}`, event_public_id: "evt_a",
           severity: "warning", condition: "above 80", state: "active", acknowledged: false,
           raised_at: new Date(Date.UTC(2025, 0, 15, 14, 0, n)).toISOString(), ...fields };
}

const cleared = { state: "cleared", cleared_at: "2025-01-15T14:05:00Z" };
const acked = { acknowledged: true, acknowledged_by: "op@lab.example" };
const ids = (list) => list.map((listed) => listed.alarm_id);

describe("which alarms need attention", () => {
  test("open means active, or cleared but not yet acknowledged", () => {
    assert.deepEqual([alarm(1), alarm(2, cleared), alarm(3, acked), alarm(4, { ...cleared, ...acked })].map(isOpen),
      [true, true, true, false]);
  });

  test("the banner counts open alarms by severity, the most urgent first, and says nothing when none are", () => {
    const alarms = [alarm(1, { severity: "critical" }), alarm(2), alarm(3, { severity: "critical" }),
                    alarm(4, { severity: "info", ...cleared, ...acked })];
    const counts = countBySeverity(alarms);
    assert.deepEqual(counts, { critical: 2, warning: 1, info: 0 });
    assert.equal(bannerText(counts), "3 open alarms: 2 critical, 1 warning");
    assert.equal(bannerText(countBySeverity([alarm(1)])), "1 open alarm: 1 warning");
    assert.equal(bannerText(countBySeverity([])), "");
    assert.equal(worstSeverity(counts), "critical");
    assert.equal(worstSeverity(countBySeverity([alarm(1, { severity: "info" })])), "info");
    assert.equal(worstSeverity(countBySeverity([])), null);
  });
});

describe("frames change the open list", () => {
  test("a raised alarm is added newest first, and its later frames replace it", () => {
    const closed = new Set();
    let list = applyAlarm([], alarm(1), closed);
    list = applyAlarm(list, alarm(2), closed);
    assert.deepEqual(ids(list), ["alm_2", "alm_1"]);
    list = applyAlarm(list, alarm(1, acked), closed);
    assert.deepEqual(ids(list), ["alm_2", "alm_1"]);
    assert.equal(list[1].acknowledged, true);
  });

  test("an alarm cleared and acknowledged leaves the list, whichever came last", () => {
    const closed = new Set();
    let list = [alarm(1), alarm(2)].reduce((taken, next) => applyAlarm(taken, next, closed), []);
    list = applyAlarm(list, alarm(1, cleared), closed);
    assert.deepEqual(ids(list), ["alm_2", "alm_1"], "cleared, but not yet acknowledged: still open");
    list = applyAlarm(list, alarm(1, { ...cleared, ...acked }), closed);
    list = applyAlarm(list, alarm(2, acked), closed);
    list = applyAlarm(list, alarm(2, { ...cleared, ...acked }), closed);
    assert.deepEqual(ids(list), []);
  });

  test("an older copy changes nothing: neither brings a closed alarm back nor undoes an acknowledgement", () => {
    const closed = new Set();
    let list = applyAlarm([], alarm(1, acked), closed);
    list = applyAlarm(list, alarm(1), closed);
    assert.equal(list[0].acknowledged, true);
    list = applyAlarm(list, alarm(1, { ...cleared, ...acked }), closed);
    assert.deepEqual(applyAlarm(list, alarm(1), closed), []);
  });

  test("the list read over HTTP takes in again the frames that came while it was asked for", () => {
    const closed = new Set();
    // Asked for; meanwhile alm_3 was raised and alm_1 acknowledged and cleared; the answer was read before both.
    const meanwhile = [alarm(3), alarm(1, { ...cleared, ...acked })];
    for (const frame of meanwhile) applyAlarm([], frame, closed);
    const list = fromAnswer([alarm(1), alarm(2)], meanwhile, closed);
    assert.deepEqual(ids(list), ["alm_3", "alm_2"]);
  });

  test("a list read after a frame does not lose what the frame said, nor bring back what it closed", () => {
    const closed = new Set();
    applyAlarm([alarm(1)], alarm(1, { ...cleared, ...acked }), closed);
    const list = fromAnswer([alarm(1), alarm(2, acked)], [alarm(2)], closed);
    assert.deepEqual(ids(list), ["alm_2"]);
    assert.equal(list[0].acknowledged, true, "the answer's acknowledged copy is newer than the raised frame");
  });

  test("only alarm frames with an alarm in them are taken", () => {
    assert.deepEqual(alarmOfFrame({ type: "alarm", kind: "alarm.raised", alarm: alarm(1) }), alarm(1));
    for (const frame of [{ type: "event_status", event_public_id: "evt_a", stale: true }, { type: "alarm" },
                         { type: "alarm", alarm: { alarm_id: 5 } }, null]) {
      assert.equal(alarmOfFrame(frame), null);
    }
  });
});

describe("cards and charts", () => {
  test("active alarms mark their events; cleared ones do not", () => {
    const byEvent = activeByEvent([alarm(1), alarm(2, { event_public_id: "evt_b", ...cleared }),
                                   alarm(3, { severity: "critical", condition: "no data for 30 s" })]);
    assert.deepEqual([...byEvent.keys()], ["evt_a"]);
    assert.equal(alarmMark(byEvent.get("evt_a")), "warning alarm: above 80; critical alarm: no data for 30 s");
  });

  test("rules are grouped by event, each event's in the order listed", () => {
    const rules = [{ rule_id: "rul_1", event_public_id: "evt_a" }, { rule_id: "rul_2", event_public_id: "evt_b" },
                   { rule_id: "rul_3", event_public_id: "evt_a" }];
    const byEvent = rulesByEvent(rules);
    assert.deepEqual([...byEvent.keys()], ["evt_a", "evt_b"]);
    assert.deepEqual(byEvent.get("evt_a").map((rule) => rule.rule_id), ["rul_1", "rul_3"]);
  });

  test("a newly raised alarm is announced by severity, rule and condition", () => {
    assert.equal(raisedAnnouncement([alarm(1, { severity: "critical", rule_name: "Boiler hot" })]),
      "Critical alarm: Boiler hot, above 80.");
  });

  test("rules draw a line where each alarm zone begins; no_data rules draw none", () => {
    const rules = [
      { rule_id: "rul_1", condition: "above", threshold: 80, low: null, high: null, severity: "critical" },
      { rule_id: "rul_2", condition: "below", threshold: 10, low: null, high: null, severity: "warning" },
      { rule_id: "rul_3", condition: "outside", threshold: null, low: 0, high: 100, severity: "info" },
      { rule_id: "rul_4", condition: "inside", threshold: null, low: 40, high: 45.5, severity: "warning" },
      { rule_id: "rul_5", condition: "no_data", seconds: 30, low: null, high: null, severity: "warning" },
    ];
    assert.deepEqual(thresholdLines(rules).map(({ value, label, severity, ruleId }) => [value, label, severity, ruleId]), [
      [80, "above 80", "critical", "rul_1"],
      [10, "below 10", "warning", "rul_2"],
      [0, "below 0", "info", "rul_3"],
      [100, "above 100", "info", "rul_3"],
      [40, "inside from 40", "warning", "rul_4"],
      [45.5, "inside up to 45.5", "warning", "rul_4"],
    ]);
  });

  test("the y range stretches to show every line, and stays empty without data or lines", () => {
    const lines = [{ value: 80 }, { value: -5 }];
    assert.deepEqual(rangeWithLines(20, 30, lines), [-5, 80]);
    assert.deepEqual(rangeWithLines(20, 30, []), [20, 30]);
    assert.deepEqual(rangeWithLines(null, null, lines), [-5, 80]);
    assert.deepEqual(rangeWithLines(null, null, []), [null, null]);
  });
});

describe("the rule form", () => {
  const form = (fields) => ({ name: "Hot", condition: "above", threshold: "", low: "", high: "", seconds: "", for: "",
                              hysteresis: "", severity: "warning", ...fields });

  test("sends only the chosen condition's numbers, and for and hysteresis when given", () => {
    assert.deepEqual(ruleBody("evt_a", form({ threshold: 80 })).body,
      { name: "Hot", event_public_id: "evt_a", condition: "above", severity: "warning", threshold: 80 });
    assert.deepEqual(ruleBody("evt_a", form({ condition: "outside", low: "0", high: 100, threshold: 5, for: 10,
                                              hysteresis: "0.5", severity: "critical" })).body,
      { name: "Hot", event_public_id: "evt_a", condition: "outside", severity: "critical", low: 0, high: 100, for: 10,
        hysteresis: 0.5 });
    assert.deepEqual(ruleBody("evt_a", form({ condition: "no_data", seconds: 30 })).body,
      { name: "Hot", event_public_id: "evt_a", condition: "no_data", severity: "warning", seconds: 30 });
  });

  test("says what to fix before anything is sent", () => {
    assert.equal(ruleBody("evt_a", form({ name: "  " })).problem, "Enter a name.");
    assert.equal(ruleBody("evt_a", form({})).problem, "Enter a threshold.");
    assert.equal(ruleBody("evt_a", form({ condition: "inside", low: 5 })).problem, "Enter both bounds.");
    assert.equal(ruleBody("evt_a", form({ condition: "inside", low: 5, high: 1 })).problem,
      "The low bound must not be above the high one.");
    assert.equal(ruleBody("evt_a", form({ condition: "no_data", seconds: 0 })).problem,
      "Enter how many seconds without data raise the alarm.");
    assert.equal(ruleBody("evt_a", form({ threshold: 1, for: -1 })).problem, "Enter a duration of 0 or more.");
  });

  test("a new rule's form is blank, above and warning", () => {
    assert.deepEqual(ruleForm(), form({ name: "" }));
  });

  test("a rule to edit fills the form as text, and sending it back gives the same rule", () => {
    // As GET /rules lists them: numbers the condition does not take are null; no_data's are in seconds.
    const listed = (fields) => ({ rule_id: "rul_1", name: "Hot", event_public_id: "evt_a", threshold: null, low: null,
                                  high: null, for: 0, hysteresis: 0, severity: "warning", description: "…",
                                  ...fields });
    const above = listed({ condition: "above", threshold: 80, for: 10, hysteresis: 0.5, severity: "critical" });
    assert.deepEqual(ruleForm(above),
      form({ threshold: "80", for: "10", hysteresis: "0.5", severity: "critical" }));
    assert.deepEqual(ruleBody("evt_a", ruleForm(above)).body,
      { name: "Hot", event_public_id: "evt_a", condition: "above", severity: "critical", threshold: 80, for: 10,
        hysteresis: 0.5 });

    const inside = listed({ condition: "inside", low: -1e-3, high: 100 });
    assert.deepEqual(ruleForm(inside), form({ condition: "inside", low: "-0.001", high: "100", for: "0",
                                              hysteresis: "0" }));
    assert.deepEqual(ruleBody("evt_a", ruleForm(inside)).body,
      { name: "Hot", event_public_id: "evt_a", condition: "inside", severity: "warning", low: -0.001, high: 100,
        for: 0, hysteresis: 0 });

    const silent = listed({ condition: "no_data", seconds: 120 });
    delete silent.threshold;
    assert.deepEqual(ruleForm(silent), form({ condition: "no_data", seconds: "120", for: "0", hysteresis: "0" }));
    assert.deepEqual(ruleBody("evt_a", ruleForm(silent)).body,
      { name: "Hot", event_public_id: "evt_a", condition: "no_data", severity: "warning", seconds: 120, for: 0,
        hysteresis: 0 });
  });

  test("a refusal names its fields' reasons", () => {
    assert.equal(failureText({ message: "invalid rule", details: { threshold: "must be a finite number" } }),
      "invalid rule (threshold: must be a finite number)");
    assert.equal(failureText({ message: "no event evt_x" }), "no event evt_x");
  });
});

describe("the dashboard's stream and alarm frames", () => {
  beforeEach(enableTimers);
  afterEach(() => mock.timers.reset());

  function connect(options) {
    const { FakeWebSocket, sockets } = fakeWebSocket();
    const scope = effectScope();
    scope.run(() => useRealtimeDatapoints({ env: ENV, WebSocket: FakeWebSocket, fetch: fakeServer().fetch,
                                            ...options }));
    return { scope, socket: () => sockets.at(-1) };
  }

  test("asks for alarm frames only when someone takes them, and hands each over", async () => {
    const frames = [];
    const feed = [];
    const live = connect({ onAlarm: (frame) => frames.push(frame), onAlarmFeed: (open) => feed.push(open) });
    assert.equal(live.socket().url, `${ENV.streamUrl}?status=1&alarms=1`);
    live.socket().open();
    await settle();
    const frame = { type: "alarm", kind: "alarm.raised", alarm: alarm(1) };
    live.socket().deliver(frame);
    live.socket().deliver({ type: "event_status", event_public_id: "evt_a", stale: false, last_reading_at: null });
    assert.deepEqual(frames, [frame]);
    live.socket().drop();
    assert.deepEqual(feed, [true, false], "told when the feed opens (to read the list anew) and when it ends");
    live.scope.stop();
    assert.deepEqual(feed, [true, false], "a closed feed is not closed twice");

    const without = connect({});
    assert.equal(without.socket().url, `${ENV.streamUrl}?status=1`);
    without.scope.stop();
  });

  test("stopping the dashboard closes its feed", async () => {
    const feed = [];
    const live = connect({ onAlarm: () => {}, onAlarmFeed: (open) => feed.push(open) });
    live.socket().open();
    await settle();
    live.scope.stop();
    assert.deepEqual(feed, [true, false]);
  });
});
