// Who is signed in, and until when. Kept in sessionStorage: the token lives as long as this browser tab's session.
// While the user works the session is renewed before it ends (renewal.js); if it ends anyway (expired, or the
// server refused the token), the user stays on the page, under a dialog to sign in again: nothing typed is lost.
import { reactive, watch } from "vue";
import env from "./env.js";
import { keepSession } from "./renewal.js";

const STORAGE_KEY = "webmacs.session";
export const ENDED_NOTICE = "Your session has ended: please sign in again.";
const ACTIVITY = ["keydown", "pointerdown", "wheel", "touchstart"];  // input, not a pointer passing by

// ended: the session ended while someone was signed in; user stays (the page is theirs), token is gone.
export const session = reactive({ token: null, user: null, expiresAt: null, notice: null, ended: false, ...restore() });

/** expiresIn: seconds, as the login and renewal answers give it. */
export function signIn(token, user, expiresIn = null) {
  const expiresAt = Number.isFinite(expiresIn) ? Date.now() + expiresIn * 1000 : null;
  Object.assign(session, { token, user, expiresAt, notice: null, ended: false });
  sessionStorage.setItem(STORAGE_KEY, JSON.stringify({ token, user, expiresAt }));
  if (expiresAt === null) learnExpiry();
}

/** Without a notice, the user signed out. With one, the server ended the session (a refused token, an
 * expiry): whoever was signed in keeps the page, under a dialog to sign in again. */
export function signOut(notice = null) {
  sessionStorage.removeItem(STORAGE_KEY);
  if (notice && session.user) {
    Object.assign(session, { token: null, expiresAt: null, notice, ended: true });
    return;
  }
  Object.assign(session, { token: null, user: null, expiresAt: null, notice, ended: false });
}

// The roles that may change things come from the server (models/roles.py), through the generated env.
export function mayOperate() {
  return env.editorRoles.includes(session.user?.role);
}

// Registering and revoking controllers is for admins alone (models/roles.py ADMINS; the generated env
// carries only the editor roles). The server refuses anyone else whatever the page shows.
export function mayAdminister() {
  return session.user?.role === "admin";
}

/** A fresh token for the same user (POST /auth/renew); the old one stays valid until it expires. */
async function renew() {
  const token = session.token;
  const response = await authorized("POST", "/auth/renew", token);
  if (session.token !== token) return;  // signed out or in again meanwhile
  if (response.status === 401) {
    signOut(ENDED_NOTICE);
    return;
  }
  if (!response.ok) throw new Error(`renewal failed: HTTP ${response.status}`);
  const answer = await response.json();
  if (session.token === token) signIn(answer.access_token, answer.user, answer.expires_in);
}

// A session kept from before this page (or placed there) may not say when it ends: the server knows.
async function learnExpiry() {
  const token = session.token;
  try {
    const response = await authorized("GET", "/auth/me", token);
    if (session.token !== token) return;
    if (response.status === 401) {
      signOut(ENDED_NOTICE);
      return;
    }
    const { expires_at: expiresAt } = await response.json();
    if (session.token !== token || !Number.isFinite(expiresAt)) return;
    session.expiresAt = expiresAt * 1000;
    sessionStorage.setItem(STORAGE_KEY, JSON.stringify({ token, user: session.user, expiresAt: session.expiresAt }));
  } catch {
    // Unreachable now: the next request that fails says so; the expiry stays unknown until the next sign-in.
  }
}

function authorized(method, path, token) {
  return fetch(env.apiBaseUrl + path, { method, headers: { Authorization: `Bearer ${token}` } });
}

export const keeper = keepSession({
  expiresAt: () => (session.token ? session.expiresAt : null),
  renew,
  end: () => signOut(ENDED_NOTICE),
});
watch(() => [session.token, session.expiresAt], () => keeper.check());
for (const type of ACTIVITY) window.addEventListener(type, () => keeper.activity(), { capture: true, passive: true });
keeper.check();
if (session.token && !session.expiresAt) learnExpiry();

function restore() {
  try {
    const { token = null, user = null, expiresAt = null } = JSON.parse(sessionStorage.getItem(STORAGE_KEY)) ?? {};
    if (!token) return {};
    if (Number.isFinite(expiresAt) && expiresAt <= Date.now()) return { notice: ENDED_NOTICE };  // nothing typed yet
    return { token, user, expiresAt: Number.isFinite(expiresAt) ? expiresAt : null };
  } catch {
    return {};
  }
}
