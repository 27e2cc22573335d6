import assert from "node:assert/strict";
import { afterEach, beforeEach, describe, mock, test } from "node:test";

import { ACTIVE_WITHIN_MS, keepSession, RENEW_BEFORE_MS, RETRY_MS, WARN_BEFORE_MS } from "../../static/renewal.js";
import { settle, START } from "./fakes.mjs";

const HOUR = 3600 * 1000;
const TWELVE_HOURS = 12 * HOUR;

beforeEach(() => mock.timers.enable({ apis: ["setTimeout", "Date"], now: START }));
afterEach(() => mock.timers.reset());

/** A session ending `lifetime` ms from now, kept by keepSession; renewals answer as `answers` says, in turn
 * ("ok", or an Error to reject with), then "ok". */
function session(lifetime, answers = []) {
  const it = { expiresAt: Date.now() + lifetime, renewals: [], ends: [] };
  it.keeper = keepSession({
    expiresAt: () => it.expiresAt,
    renew: async () => {
      it.renewals.push(Date.now());
      const answer = answers.shift() ?? "ok";
      if (answer instanceof Error) throw answer;
      it.expiresAt = Date.now() + TWELVE_HOURS;
    },
    end: () => {
      it.ends.push(Date.now());
      it.expiresAt = null;  // as signOut does: the keeper sees no session
    },
  });
  it.keeper.check();
  return it;
}

async function advance(ms) {
  mock.timers.tick(ms);
  await settle();
}

describe("keeping a session", () => {
  test("an active user's session is renewed silently before it ends, with no warning", async () => {
    const it = session(TWELVE_HOURS);
    await advance(TWELVE_HOURS - RENEW_BEFORE_MS - 60_000);
    it.keeper.activity();  // typing a minute before the renewal is due
    assert.deepEqual(it.renewals, []);
    await advance(60_000);
    assert.deepEqual(it.renewals, [START + TWELVE_HOURS - RENEW_BEFORE_MS]);
    assert.equal(it.keeper.state.warning, false);
    assert.equal(it.expiresAt, it.renewals[0] + TWELVE_HOURS);
    await advance(TWELVE_HOURS - RENEW_BEFORE_MS - 1);
    assert.equal(it.renewals.length, 1, "not asked again until the new session nears its end");
    assert.deepEqual(it.ends, []);
  });

  test("an idle user is warned a few minutes before, and the session ends at its moment, not at the next click", async () => {
    const it = session(TWELVE_HOURS);
    await advance(TWELVE_HOURS - WARN_BEFORE_MS - 1);
    assert.equal(it.keeper.state.warning, false);
    await advance(1);
    assert.equal(it.keeper.state.warning, true);
    assert.equal(it.keeper.state.endsAt, START + TWELVE_HOURS);
    assert.deepEqual(it.renewals, [], "idle: nothing renewed behind their back");
    await advance(WARN_BEFORE_MS - 1);
    assert.deepEqual(it.ends, []);
    await advance(1);
    assert.deepEqual(it.ends, [START + TWELVE_HOURS]);
    assert.equal(it.keeper.state.warning, false);
  });

  test("input during the warning renews silently and the warning goes", async () => {
    const it = session(WARN_BEFORE_MS - 1000);
    assert.equal(it.keeper.state.warning, true);
    await advance(2000);
    it.keeper.activity();
    await settle();
    assert.deepEqual(it.renewals, [START + 2000]);
    assert.equal(it.keeper.state.warning, false);
    await advance(WARN_BEFORE_MS);
    assert.deepEqual(it.ends, []);
  });

  test("input long before the end changes nothing; input older than the active window does not count", async () => {
    const it = session(TWELVE_HOURS);
    it.keeper.activity();
    await advance(TWELVE_HOURS - RENEW_BEFORE_MS - ACTIVE_WITHIN_MS - 1);
    it.keeper.activity();
    await advance(ACTIVE_WITHIN_MS + 2);
    assert.deepEqual(it.renewals, [], "the last input was more than ACTIVE_WITHIN_MS before the renewal was due");
  });

  test("the button of the warning renews at once", async () => {
    const it = session(WARN_BEFORE_MS / 2);
    assert.equal(it.keeper.state.warning, true);
    await it.keeper.renew();
    assert.deepEqual(it.renewals, [START]);
    assert.equal(it.keeper.state.warning, false);
  });

  test("a renewal that cannot reach the server is tried again every RETRY_MS while the user is active", async () => {
    const it = session(WARN_BEFORE_MS - 60_000, [new Error("Failed to fetch"), new Error("Failed to fetch")]);
    it.keeper.activity();
    await settle();
    assert.deepEqual(it.renewals, [START]);
    assert.equal(it.keeper.state.error, "Failed to fetch");
    assert.equal(it.keeper.state.warning, true, "the warning stays while the session is not renewed");
    it.keeper.activity();
    await advance(RETRY_MS - 1);
    assert.equal(it.renewals.length, 1, "not asked again on every key");
    await advance(1);
    await advance(RETRY_MS);
    assert.deepEqual(it.renewals, [START, START + RETRY_MS, START + 2 * RETRY_MS]);
    assert.equal(it.keeper.state.error, null);
    assert.equal(it.keeper.state.warning, false);
  });

  test("a failed renewal is tried again only while the user is active; then the session ends at its moment", async () => {
    const lifetime = WARN_BEFORE_MS + ACTIVE_WITHIN_MS;
    const it = session(lifetime, Array.from({ length: 100 }, () => new Error("Failed to fetch")));
    it.keeper.activity();
    await settle();
    for (let at = RETRY_MS; at < lifetime; at += RETRY_MS) await advance(RETRY_MS);
    const tries = ACTIVE_WITHIN_MS / RETRY_MS + 1;
    assert.deepEqual(it.renewals, Array.from({ length: tries }, (_, n) => START + n * RETRY_MS));
    assert.deepEqual(it.ends, []);
    await advance(RETRY_MS);
    assert.deepEqual(it.ends, [START + lifetime]);
    assert.equal(it.renewals.length, tries);
  });

  test("without a session nothing is scheduled", async () => {
    const it = session(TWELVE_HOURS);
    it.expiresAt = null;
    it.keeper.check();
    it.keeper.activity();
    await advance(2 * TWELVE_HOURS);
    assert.deepEqual([it.renewals, it.ends, it.keeper.state.warning], [[], [], false]);
  });
});
