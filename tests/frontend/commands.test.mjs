import assert from "node:assert/strict";
import { afterEach, beforeEach, describe, mock, test } from "node:test";

import {
  announcementOf, controlOf, followCommand, isOn, refusalText, setpointProblem, sliderStep, startingSetpoint, statusText,
} from "../../static/commands.js";
import { START, advance, settle } from "./fakes.mjs";

beforeEach(() => mock.timers.enable({ apis: ["setTimeout", "Date"], now: START }));
afterEach(() => mock.timers.reset());

/** A command as POST /events/{id}/commands answers it: sent now, alive for `ttl` seconds on the server's clock. */
function sent({ ttl = 60, serverClockAhead = 0, ...fields } = {}) {
  const created = START + serverClockAhead;
  return { command_id: "cmd_1", event_public_id: "evt_pump", value: 1, status: "pending", message: null,
           created_at: new Date(created).toISOString(), expires_at: new Date(created + ttl * 1000).toISOString(),
           ...fields };
}

/** A server that answers GET /commands/{id} with each of `answers` in turn, then the last one forever. */
function answering(...answers) {
  const asked = [];
  return {
    asked,
    fetchCommand: async (id) => {
      asked.push(Date.now() - START);
      const answer = answers[Math.min(asked.length - 1, answers.length - 1)];
      if (answer instanceof Error) throw answer;
      return { ...sent(), command_id: id, ...answer };
    },
  };
}

function follow(command, server) {
  const seen = [];
  const ended = [];
  const stop = followCommand(command, {
    fetchCommand: server.fetchCommand,
    onChange: (latest) => seen.push(statusText(latest)),
    onEnd: (last) => ended.push(statusText(last)),
  });
  return { seen, ended, stop };
}

describe("which control an event gets", () => {
  test("a switch for an actuator, a setpoint for a range, a Send button for each cmd_ type, none for a sensor", () => {
    assert.deepEqual(["actuator", "range", "cmd_button", "cmd_opened", "cmd_closed", "sensor", undefined].map(controlOf),
      ["switch", "setpoint", "button", "button", "button", null, null]);
  });

  test("an actuator is on when its newest value is not 0, and off before it has one", () => {
    assert.deepEqual([1, 0, 0.5, null, undefined].map(isOn), [true, false, true, false, false]);
  });
});

describe("setpoints", () => {
  test("must be numbers within the event's bounds, and say which bounds when they are not", () => {
    assert.equal(setpointProblem(42, 0, 100), null);
    assert.equal(setpointProblem(100, 0, 100), null);
    assert.equal(setpointProblem(100.5, 0, 100), "Enter a value from 0 to 100.");
    assert.equal(setpointProblem(-1, 0, null), "Enter a value of at least 0.");
    assert.equal(setpointProblem(1e9, null, null), null);
    assert.equal(setpointProblem("", 0, 100), "Enter a number.");  // an emptied number field
    assert.equal(setpointProblem(Number.NaN, 0, 100), "Enter a number.");
  });

  test("start at the newest reading, kept within the bounds and rounded as the card shows it", () => {
    assert.equal(startingSetpoint(41.98765, 0, 100), 41.988);
    assert.equal(startingSetpoint(130, 0, 100), 100);
    assert.equal(startingSetpoint(null, 10, 100), 10);
    assert.equal(startingSetpoint(null, null, null), 0);
  });

  test("a slider has about a hundred stops between its bounds", () => {
    assert.equal(sliderStep(0, 100), 1);
    assert.equal(sliderStep(0, 1), 0.01);
    assert.equal(sliderStep(-500, 500), 10);
    assert.equal(sliderStep(5, 5), 1);
  });
});

describe("what a command's status reads", () => {
  test("its status, with the controller's reason when it failed", () => {
    assert.equal(statusText({ status: "delivered", message: null }), "delivered");
    assert.equal(statusText({ status: "failed", message: "valve stuck" }), "failed: valve stuck");
    assert.equal(statusText({ status: "failed", message: null }), "failed");
  });

  test("a refusal gives the server's reasons, or its message when it names none", () => {
    assert.equal(refusalText({ message: "invalid command", details: { value: "value must be within the event's range, 0 to 40" } }),
      "Not sent: value must be within the event's range, 0 to 40");
    assert.equal(refusalText({ message: "forbidden", details: {} }), "Not sent: forbidden");
    assert.equal(refusalText(new TypeError("Failed to fetch")), "Not sent: Failed to fetch");
  });

  test("its announcement names the event and what was asked", () => {
    assert.equal(announcementOf("Pump", "switch", { value: 1, status: "acked" }), "Pump on: acked.");
    assert.equal(announcementOf("Pump", "switch", { value: 0, status: "expired" }), "Pump off: expired.");
    assert.equal(announcementOf("Heater", "setpoint", { value: 42, status: "failed", message: "too hot" }),
      "Heater set to 42: failed: too hot.");
    assert.equal(announcementOf("Vent", "button", { value: 1, status: "acked" }), "Vent command: acked.");
  });
});

describe("following a command", () => {
  test("asks every 500 ms, reports each new status and ends once, asking no more, when acked", async () => {
    const server = answering({ status: "pending" }, { status: "delivered" }, { status: "delivered" }, { status: "acked" });
    const { seen, ended } = follow(sent(), server);
    await advance(5000, 100);
    assert.deepEqual(server.asked, [500, 1000, 1500, 2000]);
    assert.deepEqual(seen, ["delivered"], "pending was known already; delivered only once");
    assert.deepEqual(ended, ["acked"]);
  });

  test("ends with the controller's reason when it failed", async () => {
    const server = answering({ status: "delivered" }, { status: "failed", message: "out of range" });
    const { ended } = follow(sent(), server);
    await advance(2000, 100);
    assert.deepEqual(ended, ["failed: out of range"]);
  });

  test("a request that fails is asked again; it is not the command's failure", async () => {
    const server = answering(new TypeError("Failed to fetch"), { status: "acked" });
    const { seen, ended } = follow(sent(), server);
    await advance(2000, 100);
    assert.deepEqual(server.asked, [500, 1000]);
    assert.deepEqual(seen, []);
    assert.deepEqual(ended, ["acked"]);
  });

  test("stops as expired once its time to live has passed on this clock, whatever the server's clock says", async () => {
    // The server's clock is an hour ahead: its expires_at is long past here, yet the command has its 5 s.
    const server = answering({ status: "pending" });
    const { ended } = follow(sent({ ttl: 5, serverClockAhead: 3_600_000 }), server);
    await advance(6000, 100);
    assert.deepEqual(ended, [], "still within its 5 s and the grace for the server's own verdict");
    await advance(2000, 100);
    assert.deepEqual(ended, ["expired"]);
    const asks = server.asked.length;
    await advance(5000, 100);
    assert.equal(server.asked.length, asks, "no more requests after it ended");
  });

  test("stop() ends the following without an end being reported (the card went away)", async () => {
    const server = answering({ status: "pending" });
    const { ended, stop } = follow(sent(), server);
    await advance(1200, 100);
    stop();
    await advance(5000, 100);
    assert.deepEqual(server.asked, [500, 1000]);
    assert.deepEqual(ended, []);
  });

  test("a command already final when sent is not followed", async () => {
    const server = answering({ status: "acked" });
    const { ended } = follow(sent({ status: "acked" }), server);
    await settle();
    await advance(2000, 100);
    assert.deepEqual(server.asked, []);
    assert.deepEqual(ended, ["acked"]);
  });
});
