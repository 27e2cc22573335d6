// A session's end, known in advance: renewed silently while the user is active, a warning a few minutes before
// it ends otherwise, and its end at the moment it comes (not at the next click). Timers wait for the next of
// these moments; nothing ticks. No module state: session.js makes one keeper, the tests their own.
import { reactive } from "vue";

export const RENEW_BEFORE_MS = 10 * 60 * 1000;  // an active user's session is renewed this long before it ends
export const WARN_BEFORE_MS = 5 * 60 * 1000;  // the warning shows this long before
export const ACTIVE_WITHIN_MS = 5 * 60 * 1000;  // input this recent makes a user active
export const RETRY_MS = 30 * 1000;  // a renewal that could not reach the server is tried again after this

/**
 * expiresAt(): when the session ends (ms), or null while there is none. renew(): asks for a fresh token (and
 * stores it, so expiresAt() moves on); rejects if it could not. end(): the session has ended.
 * Call activity() on the user's input and check() when the session changes (signed in, renewed, signed out).
 */
export function keepSession({ expiresAt, renew, end }) {
  const state = reactive({ warning: false, endsAt: null, renewing: false, error: null });
  let lastActivity = -Infinity;
  let timer = null;
  let failedAt = -Infinity;

  function check() {
    clearTimeout(timer);
    timer = null;
    const ends = expiresAt();
    state.endsAt = ends;
    if (ends === null) {
      state.warning = false;
      return;
    }
    const now = Date.now();
    const left = ends - now;
    if (left <= 0) {
      state.warning = false;
      end();
      return;
    }
    const mayRetry = now - failedAt >= RETRY_MS;
    if (left <= RENEW_BEFORE_MS && now - lastActivity <= ACTIVE_WITHIN_MS && !state.renewing && mayRetry) {
      renewNow();
    }
    state.warning = left <= WARN_BEFORE_MS;
    const next = [ends - RENEW_BEFORE_MS, ends - WARN_BEFORE_MS, ends, failedAt + RETRY_MS]
      .filter((moment) => moment > now);
    timer = setTimeout(check, Math.min(...next) - now);
  }

  async function renewNow() {
    if (state.renewing) return;
    state.renewing = true;
    try {
      await renew();
      state.error = null;
      failedAt = -Infinity;
    } catch (error) {
      state.error = error.message;
      failedAt = Date.now();
    } finally {
      state.renewing = false;
      check();
    }
  }

  function activity() {
    const now = Date.now();
    lastActivity = now;
    const ends = expiresAt();
    // Only near the end does input change anything: it asks for the renewal then.
    if (ends !== null && ends - now <= RENEW_BEFORE_MS && !state.renewing) check();
  }

  function stop() {
    clearTimeout(timer);
    timer = null;
  }

  return { state, check, activity, renew: renewNow, stop };
}
