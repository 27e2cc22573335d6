// Who is signed in. Kept in sessionStorage: the token lives as long as this browser tab's session.
import { reactive } from "vue";

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

export function mayOperate() {
  return ["admin", "operator"].includes(session.user?.role);
}

function restore() {
  try {
    return JSON.parse(sessionStorage.getItem(STORAGE_KEY)) ?? {};
  } catch {
    return {};
  }
}
