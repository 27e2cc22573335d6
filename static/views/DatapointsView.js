// Stored datapoints: a filterable, paginated table (events by name and unit, times to the millisecond in the
// browser's time zone or, at a click, in UTC, a choice kept per user), and each experiment's CSV export.
import { computed, onMounted, reactive, ref } from "vue";
import { api, download, query } from "../api.js";
import { formatTime, formatValue } from "../format.js";
import { loadPreferences, savePreferences } from "../preferences.js";
import { formatTimestamp, localZone } from "../timestamps.js";

const PREFERENCES_KEY = "datapoints";  // this view's entry in the user's preferences: { utc: true } or { utc: false }

const PAGE_SIZES = [25, 100, 500];

export default {
  setup() {
    const events = ref([]);
    const experiments = ref([]);
    const filters = reactive({ events: [], experiment: "", from: "", to: "", pageSize: PAGE_SIZES[0] });
    // Pages follow the server's keyset: keysets[n - 1] opens page n (null for the first), so going
    // back is as cheap as going on, at any depth.
    const page = reactive({ number: 1, total: 0, totalIsLowerBound: false, rows: [], keysets: [null] });
    const error = ref(null);
    const busy = ref(false);

    const byId = computed(() => new Map(events.value.map((event) => [event.public_id, event])));
    const units = computed(() => Object.fromEntries(events.value.map((event) => [event.public_id, event.unit])));
    const nameOf = (id) => byId.value.get(id)?.name ?? id;
    const experimentName = (id) => experiments.value.find((experiment) => experiment.public_id === id)?.name ?? id;
    // The time zone the table speaks, the user's choice from the server: null until it is read, and the rows
    // wait for it, so no time is ever shown in the other zone first.
    const utc = ref(null);
    const zone = computed(() => (utc.value === null ? null : utc.value ? "UTC" : localZone()));
    const timeOf = (timestamp) => formatTimestamp(timestamp, utc.value ? "UTC" : undefined);
    const zoneError = ref(null);
    async function readZone() {
      try {
        utc.value = (await loadPreferences(PREFERENCES_KEY)).utc === true;
      } catch (failure) {
        utc.value = false;
        zoneError.value = `Could not read your time zone choice: ${failure.message}`;
      }
    }
    function setUtc(value) {
      utc.value = value;
      savePreferences(PREFERENCES_KEY, { utc: value }, (failure) => {
        zoneError.value = failure && `Could not save your time zone choice: ${failure.message}`;
      });
    }
    const pages = computed(() => Math.max(1, Math.ceil(page.total / filters.pageSize)));
    const hasNext = computed(() => Boolean(page.keysets[page.number]));

    function selection() {
      return {
        event_public_id: filters.events,
        experiment_public_id: filters.experiment,
        from: filters.from && new Date(filters.from).toISOString(),
        to: filters.to && new Date(filters.to).toISOString(),
      };
    }

    async function load(number) {
      busy.value = true;
      error.value = null;
      if (number === 1) page.keysets = [null];  // a new filter starts over
      try {
        const before = page.keysets[number - 1];
        const answer = await api("GET", "/datapoints" + query({
          ...selection(), page_size: filters.pageSize, ...(before ? { before } : {}),
        }));
        page.keysets[number] = answer.next_before;
        Object.assign(page, { number, total: answer.total, totalIsLowerBound: answer.total_is_lower_bound,
                              rows: answer.data });
      } catch (failure) {
        error.value = failure.message;
      } finally {
        busy.value = false;
      }
    }
    async function exportCsv(experiment) {
      error.value = null;
      try {
        await download(`/experiments/${encodeURIComponent(experiment.public_id)}/export.csv`, `${experiment.public_id}.csv`);
      } catch (failure) {
        error.value = `Export failed: ${failure.message}`;
      }
    }

    onMounted(async () => {
      const zoneRead = readZone();  // alongside the lists
      try {
        // The newest 500 experiments name the filter's choices and the rows (an older one's rows show its id).
        const newest = api("GET", "/experiments" + query({ limit: 500 }));
        [events.value, experiments.value] = (await Promise.all([api("GET", "/events"), newest]))
          .map((answer) => answer.data);
      } catch (failure) {
        error.value = failure.message;
      }
      await zoneRead;
      await load(1);
    });
    async function exportSelection() {
      error.value = null;
      try {
        await download("/datapoints/export.csv" + query(selection()), "datapoints.csv");
      } catch (failure) {
        error.value = `Export failed: ${failure.message}`;
      }
    }
    return { events, experiments, filters, page, pages, hasNext, units, error, busy, load, exportCsv, exportSelection,
             formatTime, formatValue, PAGE_SIZES, nameOf, experimentName, utc, zone, timeOf, setUtc, zoneError };
  },
  template: `
    <main class="datapoints">
      <form class="panel filters" @submit.prevent="load(1)">
        <label>Events
          <select v-model="filters.events" multiple size="4">
            <option v-for="event in events" :key="event.public_id" :value="event.public_id">{{ event.name }}{{ event.unit ? " (" + event.unit + ")" : "" }}</option>
          </select>
        </label>
        <label>Experiment
          <select v-model="filters.experiment">
            <option value="">any</option>
            <option v-for="experiment in experiments" :key="experiment.public_id" :value="experiment.public_id">{{ experiment.name }}</option>
          </select>
        </label>
        <label>From <input v-model="filters.from" type="datetime-local" step="1"></label>
        <label>To <input v-model="filters.to" type="datetime-local" step="1"></label>
        <label>Per page
          <select v-model.number="filters.pageSize"><option v-for="size in PAGE_SIZES" :key="size">{{ size }}</option></select>
        </label>
        <button :disabled="busy">Apply</button>
        <label class="utc-toggle"><input type="checkbox" :checked="utc === true" :disabled="utc === null"
          @change="setUtc($event.target.checked)"> Times in UTC</label>
      </form>
      <p v-if="error" class="error" role="alert">{{ error }}</p>
      <p v-if="zoneError" class="error" role="alert">{{ zoneError }}</p>
      <div class="table-scroll" tabindex="0" role="region" aria-label="Datapoints">
      <table class="panel datapoint-table">
        <thead><tr><th data-testid="time-heading">Time<template v-if="zone"> ({{ zone }})</template></th>
          <th>Event</th><th class="number">Value</th><th>Experiment</th><th>Stored by</th><th>Id</th></tr></thead>
        <tbody>
          <tr v-for="row in page.rows" :key="row.public_id">
            <td class="time" data-testid="time"><time :datetime="row.timestamp">{{ timeOf(row.timestamp) }}</time></td>
            <td data-testid="event"><span :title="row.event_public_id">{{ nameOf(row.event_public_id) }}</span></td>
            <td class="number">{{ formatValue(row.value) }} {{ units[row.event_public_id] }}</td>
            <td>{{ row.experiment_public_id ? experimentName(row.experiment_public_id) : "—" }}</td>
            <td class="muted small">{{ row.stored_by ?? "—" }}</td>
            <td class="muted small">{{ row.public_id }}</td>
          </tr>
          <tr v-if="!page.rows.length"><td colspan="6" class="muted">No datapoints match.</td></tr>
        </tbody>
      </table>
      </div>
      <nav class="pager">
        <button @click="load(page.number - 1)" :disabled="busy || page.number <= 1">Previous</button>
        <span data-testid="page-status" v-if="page.totalIsLowerBound">page {{ page.number }} of more than {{ pages }} (over {{ page.total }} datapoints)</span>
        <span data-testid="page-status" v-else>page {{ page.number }} of {{ pages }} ({{ page.total }} datapoints)</span>
        <button @click="load(page.number + 1)" :disabled="busy || !hasNext">Next</button>
        <button type="button" @click="exportSelection" :disabled="busy">Download CSV of this selection</button>
      </nav>
      <section class="panel">
        <h2>Experiments</h2>
        <ul class="experiments">
          <li v-for="experiment in experiments" :key="experiment.public_id">
            <strong>{{ experiment.name }}</strong>
            <span class="muted small">{{ formatTime(experiment.started_at) }} – {{ experiment.running ? "running" : formatTime(experiment.stopped_at) }}</span>
            <a :href="'#/datapoints'" @click.prevent="exportCsv(experiment)">Download CSV</a>
          </li>
          <li v-if="!experiments.length" class="muted">No experiments yet.</li>
        </ul>
      </section>
    </main>`,
};
