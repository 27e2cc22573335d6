// Who is signed in. Kept in sessionStorage: the token lives as long as this browser tab's session.
import { reactive } from "vue";
import env from "./env.js";

const STORAGE_KEY = "webmacs.session";

export const session = reactive({ token: null, user: null, notice: null, ...restore() });

export function signIn(token, user) {
  Object.assign(session, { token, user, notice: null });
  sessionStorage.setItem(STORAGE_KEY, JSON.stringify({ token, user }));
}

export function signOut(notice = null) {
  Object.assign(session, { token: null, user: null, notice });
  sessionStorage.removeItem(STORAGE_KEY);
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

function restore() {
  try {
    return JSON.parse(sessionStorage.getItem(STORAGE_KEY)) ?? {};
  } catch {
    return {};
  }
}
