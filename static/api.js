// The REST API as the views use it: JSON in and out, the session's bearer token, errors as ApiError.
import env from "./env.js";
import { session, signOut } from "./session.js";

export class ApiError extends Error {
  constructor(status, message, details = {}) {
    super(message);
    this.status = status;
    this.details = details;
  }
}

export async function api(method, path, body = undefined) {
  const headers = authorization();
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const response = await fetch(env.apiBaseUrl + path, {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  if (response.status === 204) return null;
  const payload = await response.json().catch(() => null);
  if (response.ok) return payload;
  if (response.status === 401 && session.token) signOut("Your session has ended: please sign in again.");
  const error = payload?.error;
  throw new ApiError(response.status, error?.message ?? `HTTP ${response.status}`, error?.details);
}

/** Ask the controller of an event to set it to `value`; answers the command, "pending" at first. */
export function sendCommand(eventPublicId, value) {
  return api("POST", `/events/${encodeURIComponent(eventPublicId)}/commands`, { value });
}

/** A command as the server last heard of it (see commands.js for following one). */
export function getCommand(commandId) {
  return api("GET", `/commands/${encodeURIComponent(commandId)}`);
}

export function query(params) {
  const search = new URLSearchParams();
  for (const [name, value] of Object.entries(params)) {
    for (const item of [value].flat()) {
      if (item !== null && item !== undefined && item !== "") search.append(name, item);
    }
  }
  const text = search.toString();
  return text ? `?${text}` : "";
}

// A plain link cannot carry the bearer token, so the file is fetched and handed to the browser.
export async function download(path, filename) {
  const response = await fetch(env.apiBaseUrl + path, { headers: authorization() });
  if (!response.ok) {
    const payload = await response.json().catch(() => null);
    throw new ApiError(response.status, payload?.error?.message ?? `HTTP ${response.status}`);
  }
  const url = URL.createObjectURL(await response.blob());
  const link = Object.assign(document.createElement("a"), { href: url, download: filename });
  document.body.append(link);
  link.click();
  link.remove();
  URL.revokeObjectURL(url);
}

function authorization() {
  return session.token ? { Authorization: `Bearer ${session.token}` } : {};
}
