// Live values and charts per event (stale ones and those with an active alarm marked, each chart with its
// rules' thresholds), the running experiment, and how the data is arriving.
import { computed, onMounted, reactive, ref, watch } from "vue";
import env from "../env.js";
import { activeByEvent, rulesByEvent } from "../alarms.js";
import { listOf, useAnnouncer } from "../announce.js";
import { api, listRules, query } from "../api.js";
import { useNow } from "../clock.js";
import { alarmFeed, openAlarms, takeAlarmFrame } from "../openAlarms.js";
import { useRealtimeDatapoints } from "../realtime.js";
import { session, signOut } from "../session.js";
import ConnectionIndicator from "../components/ConnectionIndicator.js";
import EventCard from "../components/EventCard.js";
import EventChart from "../components/EventChart.js";
import ExperimentPanel from "../components/ExperimentPanel.js";
import HistoryChart from "../components/HistoryChart.js";
import RangePicker, { spanOf } from "../components/RangePicker.js";

const HIDDEN_CHARTS_KEY = "webmacs.hiddenCharts";
const SERIES_POINTS = 600;  // about one bucket per horizontal pixel of a chart
const SERIES_EVENTS = 100;  // events per /datapoints/series request
const NONE = Object.freeze([]);  // an event without rules or alarms: the same empty list each time, so it stays put

export default {
  components: { ConnectionIndicator, EventCard, EventChart, ExperimentPanel, HistoryChart, RangePicker },
  setup() {
    const { state, series, statuses } = useRealtimeDatapoints({
      env,
      token: session.token,
      onUnauthorized: () => signOut("Your session has ended: please sign in again."),
      onAlarm: takeAlarmFrame,
      onAlarmFeed: alarmFeed,
    });
    const now = useNow(1000);
    const events = ref([]);
    const loadError = ref(null);
    const eventsLoaded = ref(false);  // or failed to: then cards are named by their ids
    const hidden = ref(new Set(JSON.parse(localStorage.getItem(HIDDEN_CHARTS_KEY) ?? "[]")));

    onMounted(async () => {
      try {
        events.value = (await api("GET", "/events")).data;
      } catch (failure) {
        loadError.value = `Could not load events: ${failure.message}`;
      }
      eventsLoaded.value = true;
    });

    // Every event's alarm rules, read once and again whenever a card changes them (nothing streams rules).
    const rules = ref([]);
    const rulesError = ref(null);
    let rulesLoaded = false;
    let rulesAsked = 0;  // answers may cross (two cards changed rules at once): the newest asked wins
    async function loadRules() {
      const mine = ++rulesAsked;
      try {
        const answer = await listRules();
        if (mine !== rulesAsked) return;
        rules.value = answer;
        rulesLoaded = true;
        rulesError.value = null;
      } catch (failure) {
        if (mine === rulesAsked) rulesError.value = `Could not load alarm rules: ${failure.message}`;
      }
    }
    onMounted(loadRules);
    const rulesOfEvents = computed(() => rulesByEvent(rules.value));
    const rulesOf = (id) => rulesOfEvents.value.get(id) ?? NONE;
    const alarmsByEvent = computed(() => activeByEvent(openAlarms.list));
    const alarmsOf = (id) => alarmsByEvent.value.get(id) ?? NONE;
    // An alarm of a rule this page has not read (someone else added it) means the rules changed: its
    // threshold should show too. Asked once per such rule: a deleted rule's alarms name it still.
    const rulesAskedFor = new Set();
    watch(alarmsByEvent, (byEvent) => {
      if (!rulesLoaded) return;
      const known = new Set(rules.value.map((rule) => rule.rule_id));
      const unknown = [...byEvent.values()].flat().map((alarm) => alarm.rule_id)
        .filter((id) => id && !known.has(id) && !rulesAskedFor.has(id));
      if (!unknown.length) return;
      for (const id of unknown) rulesAskedFor.add(id);
      loadRules();
    });

    // Events created after the page loaded still get a card once their data arrives. This list changes
    // only with the events: each card and chart follows its own event's data (see EventCard).
    const cards = computed(() => {
      const known = new Map(events.value.map((event) => [event.public_id, event]));
      for (const id of Object.keys(series)) {
        if (!known.has(id)) known.set(id, { public_id: id, name: id, unit: "" });
      }
      return [...known.values()].map((event) => ({ event, live: series[event.public_id] ?? null }));
    });
    // The experiment of the newest reading: worked out at most once per frame, re-rendering only when it changes.
    const seenExperiment = computed(() => {
      let newest = null;
      for (const live of Object.values(series)) {
        live.version.value;
        if (live.latest && (!newest || live.latest.time > newest.time)) newest = live.latest;
      }
      return newest?.experiment_public_id ?? null;
    });

    // Screen readers hear once when events turn stale or get data again, by name; the card describes it after.
    const announcer = useAnnouncer();
    const staleIds = computed(() => (eventsLoaded.value ? cards.value : [])
      .filter((card) => statuses[card.event.public_id]?.stale).map((card) => card.event.public_id));
    watch(staleIds, (stale, before) => {
      const nameOf = (id) => cards.value.find((card) => card.event.public_id === id)?.event.name ?? id;
      const turned = stale.filter((id) => !before.includes(id)).map(nameOf);
      const back = before.filter((id) => !stale.includes(id)).map(nameOf);
      if (turned.length) announcer.announce(`No data from ${listOf(turned)}.`);
      if (back.length) announcer.announce(`Data again from ${listOf(back)}.`);
    });

    // Looking back: every chart shows one span, read as buckets from /datapoints/series.
    const range = ref("live");
    const history = reactive({ span: null, zoomedFrom: null, buckets: {}, error: null, busy: false });
    let asked = 0;  // which loadHistory is the newest: only its answer is shown
    async function loadHistory(span) {
      const mine = ++asked;
      history.span = span;
      history.busy = true;
      history.error = null;
      try {
        const ids = events.value.map((event) => event.public_id);
        const buckets = {};
        for (let at = 0; at < ids.length; at += SERIES_EVENTS) {
          const answer = await api("GET", "/datapoints/series" + query({
            event_public_id: ids.slice(at, at + SERIES_EVENTS), from: new Date(span.from).toISOString(),
            to: new Date(span.to).toISOString(), points: SERIES_POINTS,
          }));
          Object.assign(buckets, answer.series);
        }
        if (mine === asked) history.buckets = buckets;
      } catch (failure) {
        history.error = `Could not load history: ${failure.message}`;
      } finally {
        history.busy = false;
      }
    }
    watch(range, (key) => {
      history.zoomedFrom = null;
      const span = spanOf(key);
      if (span) loadHistory(span);
    });
    watch(events, () => {  // events that arrive after the range was chosen get their history too
      if (range.value !== "live" && history.span) loadHistory({ ...history.span });
    });
    function showCustom(span) {
      range.value = "custom";
      history.zoomedFrom = null;
      loadHistory(span);
    }
    function zoom(span) {
      history.zoomedFrom ??= history.span;
      loadHistory(span);
    }
    function resetZoom() {
      const span = history.zoomedFrom;
      history.zoomedFrom = null;
      if (span) loadHistory(span);
    }

    function toggleChart(id) {
      const next = new Set(hidden.value);
      next.has(id) ? next.delete(id) : next.add(id);
      hidden.value = next;
      localStorage.setItem(HIDDEN_CHARTS_KEY, JSON.stringify([...next]));
    }

    return { state, statuses, announcement: announcer.text, now, cards, seenExperiment, hidden, loadError, toggleChart,
             range, history, showCustom, zoom, resetZoom, rulesOf, alarmsOf, rulesError, loadRules };
  },
  template: `
    <main class="dashboard">
      <div class="toolbar">
        <ExperimentPanel :seen-experiment="seenExperiment" />
        <ConnectionIndicator :state="state" :now="now" />
      </div>
      <div class="toolbar">
        <RangePicker v-model="range" @custom="showCustom" />
        <button v-if="history.zoomedFrom && range !== 'live'" type="button" class="link" @click="resetZoom">Reset zoom</button>
        <span v-if="history.busy" class="muted small" role="status">loading history…</span>
      </div>
      <p class="visually-hidden" role="status" data-testid="announcement">{{ announcement }}</p>
      <p v-if="history.error" class="error" role="alert">{{ history.error }}</p>
      <p v-if="loadError" class="error" role="alert">{{ loadError }}</p>
      <p v-if="rulesError" class="error" role="alert">{{ rulesError }}</p>
      <p v-if="!cards.length && !loadError" class="muted">
        No events yet. Create one (<code>app.py event add</code> or the API) and start a controller.
      </p>
      <section class="cards">
        <EventCard v-for="card in cards" :key="card.event.public_id" :event="card.event" :live="card.live"
          :status="statuses[card.event.public_id] ?? null" :now="now"
          :charted="!hidden.has(card.event.public_id)" :rules="rulesOf(card.event.public_id)"
          :alarms="alarmsOf(card.event.public_id)" @toggle-chart="toggleChart" @rules-changed="loadRules" />
      </section>
      <section class="charts" v-if="range === 'live'">
        <template v-for="card in cards" :key="card.event.public_id">
          <EventChart v-if="!hidden.has(card.event.public_id)" class="panel" :event-id="card.event.public_id"
            :label="card.event.name" :unit="card.event.unit" :live="card.live"
            :status="statuses[card.event.public_id] ?? null" :now="now" :rules="rulesOf(card.event.public_id)"
            :alarms="alarmsOf(card.event.public_id)" />
        </template>
      </section>
      <section class="charts" v-else-if="history.span">
        <template v-for="card in cards" :key="card.event.public_id">
          <HistoryChart v-if="!hidden.has(card.event.public_id)" class="panel" :event-id="card.event.public_id"
            :label="card.event.name" :unit="card.event.unit" :buckets="history.buckets[card.event.public_id] ?? []"
            :from="history.span.from" :to="history.span.to" @zoom="zoom" />
        </template>
      </section>
    </main>`,
};
