// How live data reaches this page, as it is: `live`, `reconnecting (n/3)`, `polling` while polls succeed,
// `offline` (a warning, with the time of the last data) while they fail. Screen readers hear each change of
// status once: the live region holds the status alone, never the age that changes every second.
import { computed } from "vue";
import { formatAge } from "../format.js";

/** The status of a useRealtimeDatapoints state: {key, label}; key is what styles and tests go by. */
export function connectionStatus({ mode, attempt, maxAttempts, offline, unauthorized }) {
  if (mode === "websocket") return { key: "live", label: "live" };
  if (mode === "connecting") {
    return attempt > 0 ? { key: "reconnecting", label: `reconnecting (${attempt}/${maxAttempts})` }
      : { key: "connecting", label: "connecting" };
  }
  if (mode === "polling") return offline ? { key: "offline", label: "offline" } : { key: "polling", label: "polling" };
  return { key: "closed", label: unauthorized ? "signed out" : "closed" };
}

/** "last data 3 s ago"; offline, when it was as a time of day too, since the age alone keeps growing. */
export function lastDataText(lastDataAt, now, offline) {
  if (lastDataAt === null || lastDataAt === undefined) return "last data never";
  const age = formatAge(lastDataAt, now);
  if (!offline) return `last data ${age}`;
  const time = new Date(lastDataAt);
  const sameDay = time.toDateString() === new Date(now).toDateString();
  return `last data at ${sameDay ? time.toLocaleTimeString() : time.toLocaleString()} (${age})`;
}

export default {
  props: { state: { type: Object, required: true }, now: { type: Number, required: true } },
  setup(props) {
    const status = computed(() => connectionStatus(props.state));
    const lastData = computed(() => lastDataText(props.state.lastDataAt, props.now, status.value.key === "offline"));
    // What went wrong is worth showing only while it is still wrong; it clears when things recover.
    const problem = computed(() => (["offline", "reconnecting"].includes(status.value.key) ? props.state.lastError
      : null));
    return { status, lastData, problem };
  },
  template: `
    <div class="connection" :data-status="status.key" :data-mode="state.mode">
      <span class="dot" aria-hidden="true"></span>
      <span role="status"><span class="visually-hidden">Live data: </span><span
        data-testid="connection-mode">{{ status.label }}</span></span>
      <span class="connection-age" data-testid="last-data">· {{ lastData }}</span>
      <span v-if="problem" class="connection-problem" data-testid="connection-problem" :title="problem">· {{ problem }}</span>
    </div>`,
};
