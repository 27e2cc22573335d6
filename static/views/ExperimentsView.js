// Experiments, newest first, with how long each ran and how many readings it holds; everyone downloads their
// CSV, operators and admins start, rename, stop and delete them.
import { nextTick, reactive, ref } from "vue";
import { useAnnouncer } from "../announce.js";
import {
  deleteExperiment, exportExperiment, listExperiments, renameExperiment, startExperiment, stopExperiment,
} from "../api.js";
import { useNow } from "../clock.js";
import { formatTime } from "../format.js";
import { experimentDuration, failureText, readingsText } from "../manage.js";
import { mayOperate } from "../session.js";
import { useRefreshing } from "../refreshing.js";

// A running experiment's reading count grows: read the list again this often while the page is open.
const REFRESH_MS = 5000;
const PAGE = 50;  // experiments shown at first, and added by each "Show older experiments"

export default {
  setup() {
    const experiments = ref([]);
    const shown = ref(PAGE);
    const more = ref(false);  // older experiments than those listed
    const loaded = ref(false);
    const error = ref(null);
    const now = useNow(1000);
    const announcer = useAnnouncer();
    const newName = ref("");
    const busy = ref(false);
    const renaming = reactive({ id: null, name: "", error: null });
    const heading = ref(null);
    let asked = 0;  // answers may cross (a refresh after a change, the periodic one): the newest asked wins

    async function refresh() {
      const mine = ++asked;
      try {
        const listed = await listExperiments(shown.value);
        if (gone() || mine !== asked) return;
        experiments.value = listed.experiments;
        more.value = listed.more;
        loaded.value = true;
        error.value = null;
      } catch (failure) {
        if (!gone() && mine === asked) error.value = `Could not load experiments: ${failure.message}`;
      }
    }
    const gone = useRefreshing(refresh, REFRESH_MS);

    const row = (experiment) => document.querySelector(`tr[data-experiment="${CSS.escape(experiment.public_id)}"]`);
    async function focusIn(experiment, selector) {
      await nextTick();
      row(experiment)?.querySelector(selector)?.focus();
    }
    // The keyboard goes on where the list does: to the first of the older experiments.
    async function showOlder() {
      const first = experiments.value.length;
      shown.value += PAGE;
      await refresh();
      if (experiments.value[first]) await focusIn(experiments.value[first], "button");
    }

    // One action at a time on the page; its failure is said once, above the table.
    async function act(work) {
      busy.value = true;
      error.value = null;
      try {
        return await work();
      } catch (failure) {
        error.value = failureText(failure);
        return null;
      } finally {
        busy.value = false;
        await refresh();
      }
    }

    async function start() {
      const started = await act(() => startExperiment(newName.value.trim()));
      if (!started) return;
      newName.value = "";
      announcer.announce(`Started ${started.name}.`);
      await focusIn(started, "th");
    }

    async function beginRename(experiment) {
      Object.assign(renaming, { id: experiment.public_id, name: experiment.name, error: null });
      await focusIn(experiment, "input");
    }
    async function endRename(experiment) {
      renaming.id = null;
      await focusIn(experiment, "button.rename");
    }
    async function rename(experiment) {
      const name = renaming.name.trim();
      if (!name) {
        renaming.error = "Enter a name.";
        return;
      }
      try {
        const renamed = await renameExperiment(experiment.public_id, name);
        experiments.value = experiments.value.map((each) => (each.public_id === renamed.public_id
          ? { ...each, name: renamed.name } : each));
        announcer.announce(`Renamed to ${renamed.name}.`);
        refresh();  // so a periodic answer asked before the rename cannot bring the old name back
        await endRename(experiment);
      } catch (failure) {
        renaming.error = failureText(failure);
      }
    }

    async function stop(experiment) {
      const question = `Stop experiment "${experiment.name}"? It cannot be started again; readings from now on`
        + " belong to no experiment until another one starts.";
      if (!window.confirm(question)) return;
      const stopped = await act(() => stopExperiment(experiment.public_id));
      if (!stopped) return;
      announcer.announce(`Stopped ${stopped.name} after ${experimentDuration(stopped, Date.now())}.`);
      await focusIn(experiment, "th");  // its Stop button is gone
    }

    async function remove(experiment) {
      const label = `"${experiment.name}" (${experiment.public_id})`;
      if (!window.confirm(`Delete experiment ${label}? This cannot be undone.`)) return;
      const deleted = await act(async () => {
        try {
          await deleteExperiment(experiment.public_id);
        } catch (failure) {
          if (failure.status !== 409) throw failure;
          const question = `Experiment ${label} has ${readingsText(experiment)} stored readings. Delete it together`
            + " with ALL its readings? They cannot be recovered.";
          if (!window.confirm(question)) return false;
          await deleteExperiment(experiment.public_id, true);
        }
        return true;
      });
      if (deleted === false) announcer.announce(`${experiment.name} was kept.`);
      if (!deleted) return;
      announcer.announce(`Deleted ${experiment.name}.`);
      await nextTick();
      heading.value?.focus();
    }

    async function download(experiment) {
      error.value = null;
      try {
        await exportExperiment(experiment);
      } catch (failure) {
        error.value = `Could not download ${experiment.name}: ${failure.message}`;
      }
    }

    const duration = (experiment) => experimentDuration(experiment, now.value);
    return { experiments, more, showOlder, loaded, error, newName, busy, renaming, heading, start, beginRename, endRename, rename,
             stop, remove, download, duration, readingsText, formatTime, announcement: announcer.text, mayOperate };
  },
  template: `
    <main class="manage">
      <p class="visually-hidden" role="status" data-testid="announcement">{{ announcement }}</p>
      <form v-if="mayOperate() && loaded && !experiments.some((experiment) => experiment.running)"
        class="panel inline-form" @submit.prevent="start" aria-labelledby="start-heading">
        <h2 id="start-heading">Start an experiment</h2>
        <label>Name <input v-model="newName" required maxlength="200" autocomplete="off"></label>
        <button :disabled="busy || !newName.trim()">Start</button>
      </form>
      <p v-if="error" class="error" role="alert">{{ error }}</p>
      <section class="panel" aria-labelledby="experiments-heading">
        <div class="list-head">
          <h2 id="experiments-heading" ref="heading" tabindex="-1">Experiments</h2>
          <span class="muted small">newest first</span>
        </div>
        <table class="stacked manage-table" role="table" aria-labelledby="experiments-heading">
          <thead role="rowgroup">
            <tr role="row">
              <th role="columnheader" scope="col">Experiment</th><th role="columnheader" scope="col">Started</th>
              <th role="columnheader" scope="col">Stopped</th><th role="columnheader" scope="col">Duration</th>
              <th role="columnheader" scope="col" class="number">Readings</th>
              <th role="columnheader" scope="col">Actions</th>
            </tr>
          </thead>
          <tbody role="rowgroup">
            <tr v-for="experiment in experiments" :key="experiment.public_id" role="row"
              :data-experiment="experiment.public_id" :class="{ running: experiment.running }">
              <th scope="row" role="rowheader" tabindex="-1">
                <form v-if="renaming.id === experiment.public_id" class="rename" @submit.prevent="rename(experiment)"
                  @keydown.esc="endRename(experiment)">
                  <input v-model="renaming.name" maxlength="200" autocomplete="off" required
                    :aria-label="'New name of ' + experiment.name"
                    :aria-invalid="renaming.error ? 'true' : undefined" aria-describedby="rename-problem">
                  <button>Save</button>
                  <button type="button" class="secondary" @click="endRename(experiment)">Cancel</button>
                  <p v-if="renaming.error" id="rename-problem" class="error small" role="alert">{{ renaming.error }}</p>
                </form>
                <span v-else class="name" data-testid="name">{{ experiment.name }}</span>
                <span class="muted small id">{{ experiment.public_id }}</span>
              </th>
              <td role="cell" data-label="Started">{{ formatTime(experiment.started_at) }}</td>
              <td role="cell" data-label="Stopped" data-testid="stopped">
                <span v-if="experiment.running" class="running-badge">running</span>
                <template v-else>{{ formatTime(experiment.stopped_at) }}</template>
              </td>
              <td role="cell" data-label="Duration" data-testid="duration">{{ duration(experiment) }}<span
                v-if="experiment.running" class="muted small"> so far</span></td>
              <td role="cell" data-label="Readings" class="number" data-testid="readings">{{ readingsText(experiment) }}</td>
              <td role="cell" data-label="Actions" class="actions">
                <button type="button" class="secondary" :aria-label="'Download CSV of ' + experiment.name"
                  @click="download(experiment)">CSV</button>
                <template v-if="mayOperate()">
                  <button v-if="renaming.id !== experiment.public_id" type="button" class="secondary rename"
                    :aria-label="'Rename ' + experiment.name" @click="beginRename(experiment)">Rename</button>
                  <button v-if="experiment.running" type="button" :aria-label="'Stop ' + experiment.name"
                    :disabled="busy" @click="stop(experiment)">Stop</button>
                  <button type="button" class="danger" :aria-label="'Delete ' + experiment.name" :disabled="busy"
                    @click="remove(experiment)">Delete</button>
                </template>
              </td>
            </tr>
            <tr role="row" v-if="loaded && !experiments.length"><td role="cell" colspan="6" class="muted">
              No experiments yet.</td></tr>
          </tbody>
        </table>
        <button v-if="more" type="button" class="secondary" @click="showOlder">Show older experiments</button>
      </section>
    </main>`,
};
