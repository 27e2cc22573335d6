// Alarms, newest first, by state and event, a page at a time: what each was raised for, its values, when and why
// it cleared, who acknowledged it and what they said. Operators and admins acknowledge them here (with an
// optional comment) and follow an alarm into the activity log.
import { computed, nextTick, onMounted, reactive, ref, watch } from "vue";
import { useAnnouncer } from "../announce.js";
import { failureText } from "../alarms.js";
import { acknowledgeAlarm, api, query } from "../api.js";
import { formatTime, formatValue } from "../format.js";
import { openAlarms, takeAlarm } from "../openAlarms.js";
import { mayOperate } from "../session.js";

const PAGE_SIZE = 25;
const STATES = [
  { value: "open", name: "open (active or unacknowledged)" },
  { value: "active", name: "active" },
  { value: "cleared", name: "cleared" },
  { value: "acknowledged", name: "acknowledged" },
  { value: "", name: "all" },
];

export default {
  setup() {
    const events = ref([]);
    const filters = reactive({ state: "open", event: "" });
    // Pages follow the server's keyset: keysets[n - 1] opens page n (null for the first), as in DatapointsView.
    const page = reactive({ number: 1, rows: [], keysets: [null], loaded: false });
    const error = ref(null);
    const busy = ref(false);
    const comments = reactive({});  // alarm id -> the comment being written
    const ackErrors = reactive({});  // alarm id -> why its acknowledgement failed
    const list = ref(null);
    const heading = ref(null);
    const announcer = useAnnouncer();
    let asked = 0;  // answers may cross (a filter applied while the list refreshed): the newest asked wins

    const names = computed(() => Object.fromEntries(events.value.map((event) => [event.public_id, event.name])));
    const hasNext = computed(() => Boolean(page.keysets[page.number]));

    async function load(number) {
      const mine = ++asked;
      const hadFocus = list.value?.contains(document.activeElement);
      busy.value = true;
      error.value = null;
      if (number === 1) page.keysets = [null];  // a new filter starts over
      try {
        const before = page.keysets[number - 1];
        const answer = await api("GET", "/alarms" + query({
          state: filters.state, event_public_id: filters.event, limit: PAGE_SIZE, before,
        }));
        if (mine !== asked) return;
        page.keysets[number] = answer.next_before;
        Object.assign(page, { number, rows: answer.alarms, loaded: true });
      } catch (failure) {
        if (mine === asked) error.value = `Could not load alarms: ${failure.message}`;
      } finally {
        if (mine === asked) busy.value = false;
      }
      // An alarm that left the list (acknowledged and cleared, under "needing attention") took the keyboard
      // with it: keep it on the list.
      await nextTick();
      if (hadFocus && !list.value?.contains(document.activeElement)) heading.value?.focus();
    }

    // The first page follows the open alarms (the banner's list, kept fresh by the stream or by polling):
    // when one is raised, cleared or acknowledged anywhere, it is read again. Later pages stay as they were.
    const openSignature = computed(() => openAlarms.list
      .map((alarm) => `${alarm.alarm_id}:${alarm.state}:${alarm.acknowledged}`).join(","));
    watch(openSignature, () => {
      if (page.number === 1 && page.loaded) load(1);
    });

    onMounted(async () => {
      try {
        events.value = (await api("GET", "/events")).data;
      } catch (failure) {
        error.value = `Could not load events: ${failure.message}`;
      }
      await load(1);
    });

    async function acknowledge(alarm) {
      const id = alarm.alarm_id;
      delete ackErrors[id];
      try {
        const answer = await acknowledgeAlarm(id, (comments[id] ?? "").trim());
        page.rows = page.rows.map((row) => (row.alarm_id === id ? answer : row));
        delete comments[id];
        takeAlarm(answer);  // the banner need not wait for the stream or the next poll
        announcer.announce(`Acknowledged ${answer.rule_name}.`);
        // Its form is gone: keep the keyboard on the alarm.
        await nextTick();
        document.getElementById(`alarm-${id}`)?.focus();
      } catch (failure) {
        ackErrors[id] = failure.status === 409 ? "Someone acknowledged it already: shown as it is now."
          : `Not acknowledged: ${failureText(failure)}`;
        if (failure.status === 409) load(page.number);
      }
    }

    const eventName = (id) => names.value[id] ?? id;
    return { events, filters, page, hasNext, error, busy, comments, ackErrors, list, heading, load, acknowledge,
             eventName, announcement: announcer.text, formatTime, formatValue, mayOperate, STATES };
  },
  template: `
    <main class="alarms">
      <p class="visually-hidden" role="status" data-testid="announcement">{{ announcement }}</p>
      <form class="panel filters" @submit.prevent="load(1)" aria-label="Which alarms">
        <label>State
          <select v-model="filters.state">
            <option v-for="state in STATES" :key="state.value" :value="state.value">{{ state.name }}</option>
          </select>
        </label>
        <label>Event
          <select v-model="filters.event">
            <option value="">any</option>
            <option v-for="event in events" :key="event.public_id" :value="event.public_id">{{ event.name }}</option>
          </select>
        </label>
        <button :disabled="busy">Show</button>
      </form>
      <p v-if="error" class="error" role="alert">{{ error }}</p>
      <section ref="list" class="alarm-list" aria-labelledby="alarms-heading">
        <h2 id="alarms-heading" ref="heading" tabindex="-1">Alarms <span class="muted small">newest first</span></h2>
        <article v-for="alarm in page.rows" :key="alarm.alarm_id" class="alarm panel" :data-alarm="alarm.alarm_id"
          :data-state="alarm.state" :data-acknowledged="alarm.acknowledged" :data-severity="alarm.severity"
          :aria-labelledby="'alarm-' + alarm.alarm_id">
          <header>
            <span class="severity" :data-severity="alarm.severity">{{ alarm.severity }}</span>
            <h3 :id="'alarm-' + alarm.alarm_id" tabindex="-1">{{ alarm.rule_name }}</h3>
            <span class="state" data-testid="alarm-state" :data-state="alarm.state">
              <span aria-hidden="true">{{ alarm.state === "active" ? "⚠ " : "✓ " }}</span>{{ alarm.state }}</span>
            <span class="ack-state" data-testid="ack-state">{{ alarm.acknowledged ? "acknowledged" : "not acknowledged" }}</span>
          </header>
          <p class="what">{{ eventName(alarm.event_public_id) }}: {{ alarm.condition }}</p>
          <dl>
            <div><dt>Raised</dt><dd>{{ formatTime(alarm.raised_at) }} at {{ formatValue(alarm.first_value) }}</dd></div>
            <div><dt>Last</dt><dd>{{ formatValue(alarm.last_value) }} at {{ formatTime(alarm.last_at) }}
              ({{ alarm.count }} reading{{ alarm.count === 1 ? "" : "s" }})</dd></div>
            <div v-if="alarm.cleared_at"><dt>Cleared</dt><dd>{{ formatTime(alarm.cleared_at) }}<span
              v-if="alarm.cleared_reason">: {{ alarm.cleared_reason }}</span></dd></div>
            <div v-if="alarm.acknowledged" data-testid="acknowledgement"><dt>Acknowledged</dt>
              <dd>by {{ alarm.acknowledged_by }}, {{ formatTime(alarm.acknowledged_at) }}<span
                v-if="alarm.ack_comment">: “{{ alarm.ack_comment }}”</span></dd></div>
          </dl>
          <form v-if="mayOperate() && !alarm.acknowledged" class="ack" @submit.prevent="acknowledge(alarm)">
            <input v-model="comments[alarm.alarm_id]" maxlength="500" autocomplete="off"
              placeholder="Comment (optional)" :aria-label="'Comment on ' + alarm.rule_name">
            <button :aria-label="'Acknowledge ' + alarm.rule_name">Acknowledge</button>
          </form>
          <p v-if="ackErrors[alarm.alarm_id]" class="small error" role="alert">{{ ackErrors[alarm.alarm_id] }}</p>
          <a v-if="mayOperate()" class="small" :href="'#/activity?subject=' + encodeURIComponent(alarm.alarm_id)"
            :aria-label="'Activity of ' + alarm.rule_name + ' alarm'">Activity</a>
        </article>
        <p v-if="page.loaded && !page.rows.length" class="muted panel">No alarms match.</p>
      </section>
      <nav class="pager" aria-label="Alarm pages">
        <button @click="load(page.number - 1)" :disabled="busy || page.number <= 1">Newer</button>
        <span data-testid="page-status">page {{ page.number }}</span>
        <button @click="load(page.number + 1)" :disabled="busy || !hasNext">Older</button>
      </nav>
    </main>`,
};
