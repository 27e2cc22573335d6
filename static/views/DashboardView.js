// Live values and charts (stale events and those with an active alarm marked, each chart with its rules'
// thresholds), the running experiment, and how the data is arriving. Built to stay clear at 100 events:
// compact cards in collapsible groups (the event's `group`, "Other" without one) that a search narrows,
// and only the charts the user chose, each of one event or several overlaid (dashboardLayout.js). The
// charts and the folded groups are the user's preferences, kept on the server (preferences.js), so they
// follow the user to another browser.
import { computed, nextTick, onMounted, reactive, ref, watch } from "vue";
import env from "../env.js";
import { activeByEvent, rulesByEvent } from "../alarms.js";
import { listOf, useAnnouncer } from "../announce.js";
import { api, listRules, query } from "../api.js";
import { useNow } from "../clock.js";
import { alarmFeed, openAlarms, takeAlarmFrame } from "../openAlarms.js";
import { useRealtimeDatapoints } from "../realtime.js";
import { chartsOf, groupsOf, matches, mayOverlay, overlay, removeFromCharts, toggleCharted, unitsOf }
  from "../dashboardLayout.js";
import { loadPreferences, savePreferences } from "../preferences.js";
import { session, signOut } from "../session.js";
import ConnectionIndicator from "../components/ConnectionIndicator.js";
import EventCard from "../components/EventCard.js";
import EventChart from "../components/EventChart.js";
import ExperimentPanel from "../components/ExperimentPanel.js";
import HistoryChart from "../components/HistoryChart.js";
import RangePicker, { shiftedSpan, spanOf, zoomedSpan } from "../components/RangePicker.js";
import { colourScheme } from "../components/ThemeToggle.js";

const PREFERENCES_KEY = "dashboard";
const SERIES_POINTS = 600;  // about one bucket per horizontal pixel of a chart
const SERIES_EVENTS = 100;  // events per /datapoints/series request
const NONE = Object.freeze([]);  // an event without rules or alarms: the same empty list each time, so it stays put

export default {
  components: { ConnectionIndicator, EventCard, EventChart, ExperimentPanel, HistoryChart, RangePicker },
  setup() {
    const { state, series, statuses } = useRealtimeDatapoints({
      env,
      token: () => session.token,  // a getter: a renewed token is used from then on
      onUnauthorized: () => signOut("Your session has ended: please sign in again."),
      onAlarm: takeAlarmFrame,
      onAlarmFeed: alarmFeed,
    });
    const now = useNow(1000);
    const events = ref([]);
    const loadError = ref(null);
    const eventsLoaded = ref(false);  // or failed to: then cards are named by their ids

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
    const experiment = ref(null);  // the running one, as ExperimentPanel last heard: Live charts mark its start
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

    // Looking back: every chart shows one span, read as buckets from /datapoints/series, with the experiments
    // that ran in it. Only charted events are read (the cards show the live values whatever the span).
    const range = ref("live");
    const history = reactive({ span: null, zoomedFrom: null, buckets: {}, experiments: [], error: null, busy: false });
    let asked = 0;  // which loadHistory is the newest: only its answer is shown
    const duringOf = (span) => ({ from: new Date(span.from).toISOString(), to: new Date(span.to).toISOString() });
    // The events' buckets, a hundred events per request.
    async function seriesOf(ids, during) {
      const buckets = {};
      for (let at = 0; at < ids.length; at += SERIES_EVENTS) {
        const answer = await api("GET", "/datapoints/series" + query({
          event_public_id: ids.slice(at, at + SERIES_EVENTS), ...during, points: SERIES_POINTS }));
        Object.assign(buckets, answer.series);
      }
      return buckets;
    }
    async function loadHistory(span) {
      const mine = ++asked;
      history.span = span;
      history.busy = true;
      history.error = null;
      try {
        const during = duringOf(span);
        const [buckets, ran] = await Promise.all([seriesOf([...chartedIds.value], during),
                                                  api("GET", "/experiments" + query({ ...during, limit: 500 }))]);
        if (mine === asked) Object.assign(history, { buckets, experiments: ran.data });
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
    function showCustom(span) {
      range.value = "custom";
      history.zoomedFrom = null;
      loadHistory(span);
    }
    function zoom(span) {
      history.zoomedFrom ??= history.span;
      loadHistory(span);
    }
    const zoomBy = (factor) => zoom(zoomedSpan(history.span, factor));
    const shiftBy = (fraction) => zoom(shiftedSpan(history.span, fraction));
    function resetZoom() {
      const span = history.zoomedFrom;
      history.zoomedFrom = null;
      if (span) loadHistory(span);
    }

    // Which cards show: those the search finds, by group; a folded group shows only its heading.
    const search = ref("");
    const found = computed(() => cards.value.filter((card) => matches(card.event, search.value)));
    const groups = computed(() => groupsOf(found.value));
    const ordered = computed(() => groupsOf(cards.value).flatMap((group) => group.items));

    // The user's charts, each a list of events (`saved` null: never chosen), and the folded groups.
    const layout = reactive({ loaded: false, saved: null, collapsed: [], error: null });
    onMounted(async () => {
      try {
        const mine = await loadPreferences(PREFERENCES_KEY);
        layout.saved = Array.isArray(mine.charts) ? mine.charts : null;
        layout.collapsed = Array.isArray(mine.collapsed) ? mine.collapsed.filter((name) => typeof name === "string") : [];
      } catch (failure) {
        layout.error = `Could not read your dashboard layout: ${failure.message}`;
      }
      layout.loaded = true;
    });
    // None until both the preferences and the events are read: the saved choice, not the default, shows first.
    const charts = computed(() => (layout.loaded && eventsLoaded.value
      ? chartsOf(layout.saved, ordered.value.map((card) => card.event.public_id)) : []));
    function keep(nextCharts = layout.saved, collapsed = layout.collapsed) {
      layout.saved = nextCharts;
      layout.collapsed = collapsed;
      savePreferences(PREFERENCES_KEY, { charts: nextCharts ?? undefined, collapsed }, (failure) => {
        layout.error = failure && `Could not save your dashboard layout: ${failure.message}`;
      });
    }
    const chartedIds = computed(() => new Set(charts.value.flat()));
    // A chart added while looking back (or events read after the span was chosen) gets its history; the
    // charts already read keep theirs.
    watch(chartedIds, async (ids) => {
      if (range.value === "live" || !history.span) return;
      const missing = [...ids].filter((id) => !(id in history.buckets));
      if (!missing.length) return;
      const mine = asked;  // a span asked for meanwhile wins
      try {
        const more = await seriesOf(missing, duringOf(history.span));
        if (mine === asked) history.buckets = { ...history.buckets, ...more };
      } catch (failure) {
        history.error = `Could not load history: ${failure.message}`;
      }
    });
    function toggleChart(id) {
      keep(toggleCharted(charts.value, id));
    }
    function removeFromChart(id) {
      keep(removeFromCharts(charts.value, id));
    }

    const byId = computed(() => new Map(cards.value.map((card) => [card.event.public_id, card])));
    const unitOf = (id) => byId.value.get(id)?.event.unit ?? "";
    const labelOf = (id) => byId.value.get(id)?.event.name ?? id;
    const traceOf = (id) => {
      const card = byId.value.get(id);
      return { id, label: card?.event.name ?? id, unit: card?.event.unit ?? "", live: card?.live ?? null,
               status: statuses[id] ?? null, rules: rulesOf(id), alarms: alarmsOf(id) };
    };
    const liveCharts = computed(() => charts.value.map((ids) => ({ key: ids.join("+"), traces: ids.map(traceOf) })));
    const historyCharts = computed(() => charts.value.map((ids) => ({
      key: ids.join("+"), traces: ids.map((id) => ({ ...traceOf(id), buckets: history.buckets[id] ?? [] })) })));

    // Overlay: a card's button names the event; then the user picks the chart it joins, or cancels.
    const picking = ref(null);
    const picker = ref(null);
    const targets = computed(() => (picking.value === null ? [] : charts.value
      .map((ids, index) => ({ index, ids, title: ids.map(labelOf).join(" + "), units: unitsOf(ids, unitOf) }))
      .filter((chart) => mayOverlay(chart.ids, picking.value, unitOf))));
    // Worked out when the charts or events change, not at each tick of the clock that re-renders the cards.
    const overlayableIds = computed(() => new Set(cards.value.map((card) => card.event.public_id)
      .filter((id) => charts.value.some((ids) => mayOverlay(ids, id, unitOf)))));
    const overlayable = (id) => overlayableIds.value.has(id);
    let pickedFrom = null;
    async function startOverlay(id) {
      picking.value = id;
      pickedFrom = document.activeElement;
      await nextTick();
      picker.value?.querySelector("button")?.focus();
    }
    function endOverlay() {
      picking.value = null;
      pickedFrom?.focus?.();
      pickedFrom = null;
    }
    function overlayOn(index) {
      keep(overlay(charts.value, index, picking.value));
      endOverlay();
    }

    const collapsed = computed(() => new Set(layout.collapsed));
    function toggleGroup(name) {
      keep(layout.saved, collapsed.value.has(name) ? layout.collapsed.filter((other) => other !== name)
        : [...layout.collapsed, name]);
    }
    const groupId = (name) => `group-${name.toLowerCase().replace(/[^a-z0-9]+/g, "-")}`;

    return { state, statuses, announcement: announcer.text, now, cards, seenExperiment, loadError, toggleChart,
             range, history, showCustom, zoom, zoomBy, shiftBy, resetZoom, rulesOf, alarmsOf, rulesError, loadRules, search, found,
             groups, layout, chartedIds, removeFromChart, liveCharts, historyCharts, picking, picker, targets,
             overlayable, startOverlay, endOverlay, overlayOn, labelOf, collapsed, toggleGroup, groupId, colourScheme,
             experiment };
  },
  template: `
    <main class="dashboard">
      <div class="toolbar">
        <ExperimentPanel :seen-experiment="seenExperiment" @running="experiment = $event" />
        <ConnectionIndicator :state="state" :now="now" />
      </div>
      <div class="toolbar">
        <RangePicker v-model="range" @custom="showCustom" />
        <div v-if="range !== 'live' && history.span" class="range" role="group" aria-label="Move through the history">
          <button type="button" class="toggle" @click="shiftBy(-0.5)"><span aria-hidden="true">◀ </span>Earlier</button>
          <button type="button" class="toggle" @click="zoomBy(0.5)">Zoom in</button>
          <button type="button" class="toggle" @click="zoomBy(2)">Zoom out</button>
          <button type="button" class="toggle" @click="shiftBy(0.5)">Later<span aria-hidden="true"> ▶</span></button>
        </div>
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
      <div class="finder" role="search">
        <label class="search"><span>Search events</span>
          <input v-model="search" type="search" placeholder="name, id, unit or group" autocomplete="off"></label>
        <span class="muted small" data-testid="found" aria-live="polite">{{ search.trim() ? found.length + " of " + cards.length + " events" : cards.length + " events" }}</span>
      </div>
      <p v-if="layout.error" class="error" role="alert">{{ layout.error }}</p>
      <section v-for="group in groups" :key="group.name" class="group" :data-group="group.name"
        :aria-labelledby="groupId(group.name) + '-heading'">
        <h2 :id="groupId(group.name) + '-heading'" class="group-heading">
          <button type="button" class="group-toggle" :aria-expanded="collapsed.has(group.name) ? 'false' : 'true'"
            :aria-controls="groupId(group.name)" @click="toggleGroup(group.name)">
            <span class="chevron" aria-hidden="true">▾</span>{{ group.name }}
            <span class="muted small">({{ group.items.length }})</span></button>
        </h2>
        <div v-if="!collapsed.has(group.name)" :id="groupId(group.name)" class="cards">
          <EventCard v-for="card in group.items" :key="card.event.public_id" :event="card.event" :live="card.live"
            :status="statuses[card.event.public_id] ?? null" :now="now"
            :charted="chartedIds.has(card.event.public_id)" :overlayable="overlayable(card.event.public_id)"
            :rules="rulesOf(card.event.public_id)" :alarms="alarmsOf(card.event.public_id)"
            @toggle-chart="toggleChart" @overlay="startOverlay" @rules-changed="loadRules" />
        </div>
      </section>
      <p v-if="cards.length && !found.length" class="muted">No event matches “{{ search }}”.</p>
      <div v-if="picking" ref="picker" class="overlay-picker panel" role="group"
        :aria-label="'Overlay ' + labelOf(picking) + ' on a chart'" @keydown.esc="endOverlay">
        <span>Overlay <strong>{{ labelOf(picking) }}</strong> on:</span>
        <button v-for="target in targets" :key="target.index" type="button" class="secondary"
          @click="overlayOn(target.index)">{{ target.title }}</button>
        <button type="button" class="link" @click="endOverlay">Cancel</button>
      </div>
      <h2 class="visually-hidden">Charts</h2>
      <section class="charts" v-if="range === 'live'" aria-label="Charts">
        <EventChart v-for="chart in liveCharts" :key="chart.key + colourScheme" class="panel" :traces="chart.traces"
          :now="now" :experiment="experiment" @remove="removeFromChart" />
      </section>
      <section class="charts" v-else-if="history.span" aria-label="Charts">
        <HistoryChart v-for="chart in historyCharts" :key="chart.key + colourScheme" class="panel"
          :traces="chart.traces" :from="history.span.from" :to="history.span.to" :experiments="history.experiments"
          @zoom="zoom" @remove="removeFromChart" />
      </section>
    </main>`,
};
