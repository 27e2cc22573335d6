// The activity log (operators and admins): who did what, and when, newest first, a page at a time. The filters
// live in the address (#/activity?subject=alm_1), so an alarm can link to its own entries and Back works.
import { computed, onBeforeUnmount, onMounted, reactive, ref } from "vue";
import { api, query } from "../api.js";
import env from "../env.js";
import { formatTime } from "../format.js";

const ROUTE = "#/activity";
const PAGE_SIZE = 50;
const FILTERS = ["actor", "action", "subject"];

function filtersInAddress() {
  const params = new URLSearchParams(location.hash.split("?")[1] ?? "");
  return Object.fromEntries(FILTERS.map((name) => [name, params.get(name) ?? ""]));
}

/** An entry's details in words: "comment: all fine; value: 1". */
function detailsText(details) {
  return Object.entries(details ?? {}).filter(([, value]) => value !== null && value !== undefined)
    .map(([key, value]) => `${key}: ${typeof value === "object" ? JSON.stringify(value) : value}`).join("; ");
}

export default {
  setup() {
    const shown = reactive(filtersInAddress());  // what the list shows
    const form = reactive({ ...shown });  // what is being typed
    // Pages follow the server's keyset: keysets[n - 1] opens page n (null for the first), as in DatapointsView.
    const page = reactive({ number: 1, rows: [], keysets: [null], loaded: false });
    const error = ref(null);
    const busy = ref(false);
    let asked = 0;  // the newest asked wins

    const hasNext = computed(() => Boolean(page.keysets[page.number]));
    const filterText = computed(() => [shown.actor && `by ${shown.actor}`, shown.action,
      shown.subject && `about ${shown.subject}`].filter(Boolean).join(", "));

    async function load(number) {
      const mine = ++asked;
      busy.value = true;
      error.value = null;
      if (number === 1) page.keysets = [null];
      try {
        const before = page.keysets[number - 1];
        const answer = await api("GET", "/activity" + query({ ...shown, limit: PAGE_SIZE, before }));
        if (mine !== asked) return;
        page.keysets[number] = answer.next_before;
        Object.assign(page, { number, rows: answer.entries, loaded: true });
      } catch (failure) {
        if (mine === asked) error.value = `Could not load the activity log: ${failure.message}`;
      } finally {
        if (mine === asked) busy.value = false;
      }
    }

    // The address is the filters' owner: applying or clearing them changes it, and a change of it loads.
    function follow() {
      if (location.hash.split("?")[0] !== ROUTE) return;  // leaving the page
      Object.assign(shown, filtersInAddress());
      Object.assign(form, shown);
      load(1);
    }
    function show(filters) {
      const search = query(Object.fromEntries(FILTERS.map((name) => [name, filters[name].trim()])));
      const hash = `${ROUTE}${search}`;
      if (location.hash === hash) load(1);
      else location.hash = hash;
    }
    const apply = () => show(form);
    const clear = () => show({ actor: "", action: "", subject: "" });

    onMounted(() => {
      window.addEventListener("hashchange", follow);
      load(1);
    });
    onBeforeUnmount(() => window.removeEventListener("hashchange", follow));

    const subjectLink = (subject) => `${ROUTE}${query({ subject })}`;
    return { form, page, hasNext, filterText, error, busy, load, apply, clear, subjectLink, detailsText,
             formatTime, actions: env.activityActions };
  },
  // The table's roles are spelled out: some browsers drop a table's semantics once CSS stacks its rows.
  template: `
    <main class="activity">
      <form class="panel filters" @submit.prevent="apply" aria-label="Which entries">
        <label>Actor <input v-model="form.actor" autocomplete="off" placeholder="op@lab.example"></label>
        <label>Action
          <select v-model="form.action">
            <option value="">any</option>
            <option v-for="action in actions" :key="action" :value="action">{{ action }}</option>
          </select>
        </label>
        <label>Subject <input v-model="form.subject" autocomplete="off" placeholder="alm_…, rul_…, evt_…"></label>
        <button :disabled="busy">Show</button>
        <button v-if="filterText" type="button" class="link" @click="clear">Show all</button>
      </form>
      <p v-if="error" class="error" role="alert">{{ error }}</p>
      <table class="panel stacked" role="table">
        <caption>Activity, newest first<span v-if="filterText" class="muted small"
          data-testid="activity-filter">: {{ filterText }}</span></caption>
        <thead role="rowgroup">
          <tr role="row">
            <th role="columnheader" scope="col">Time</th><th role="columnheader" scope="col">Actor</th>
            <th role="columnheader" scope="col">Action</th><th role="columnheader" scope="col">Subject</th>
            <th role="columnheader" scope="col">Details</th>
          </tr>
        </thead>
        <tbody role="rowgroup">
          <tr role="row" v-for="entry in page.rows" :key="entry.id" :data-entry="entry.id" :data-action="entry.action">
            <th role="rowheader" scope="row">{{ formatTime(entry.at) }}</th>
            <td role="cell" data-label="Actor">{{ entry.actor }}</td>
            <td role="cell" data-label="Action">{{ entry.action }}</td>
            <td role="cell" data-label="Subject"><a v-if="entry.subject" :href="subjectLink(entry.subject)"
              :aria-label="'Activity about ' + entry.subject">{{ entry.subject }}</a></td>
            <td role="cell" data-label="Details">{{ detailsText(entry.details) }}</td>
          </tr>
          <tr role="row" v-if="page.loaded && !page.rows.length"><td role="cell" colspan="5" class="muted">
            No activity matches.</td></tr>
        </tbody>
      </table>
      <nav class="pager" aria-label="Activity pages">
        <button @click="load(page.number - 1)" :disabled="busy || page.number <= 1">Newer</button>
        <span data-testid="page-status">page {{ page.number }}</span>
        <button @click="load(page.number + 1)" :disabled="busy || !hasNext">Older</button>
      </nav>
    </main>`,
};
