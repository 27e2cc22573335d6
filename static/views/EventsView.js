// The events (sensors and actuators) by group, with a search; operators and admins create, edit and delete them.
import { computed, nextTick, onMounted, ref } from "vue";
import { useAnnouncer } from "../announce.js";
import { deleteEvent, listEvents } from "../api.js";
import { formatValue } from "../format.js";
import { eventMatches, eventsInOrder, failureText } from "../manage.js";
import { mayOperate } from "../session.js";
import EventForm from "../components/EventForm.js";

export default {
  components: { EventForm },
  setup() {
    const events = ref([]);
    const loaded = ref(false);
    const error = ref(null);
    const search = ref("");
    const editing = ref(null);  // public_id of the event whose form is open
    const heading = ref(null);
    const announcer = useAnnouncer();

    const groups = computed(() => [...new Set(events.value.map((event) => event.group).filter(Boolean))].sort());
    const shown = computed(() => eventsInOrder(events.value.filter((event) => eventMatches(event, search.value))));
    const headings = computed(() => ["Event", "Group", "Type", "Unit", "Limits", "Stale after",
      ...(mayOperate() ? ["Actions"] : [])]);

    async function refresh() {
      try {
        events.value = await listEvents();
        loaded.value = true;
        error.value = null;
      } catch (failure) {
        error.value = `Could not load events: ${failure.message}`;
      }
    }
    onMounted(refresh);

    const row = (event) => document.querySelector(`tr[data-event="${CSS.escape(event.public_id)}"]`);

    async function created(event) {
      events.value = [...events.value, event];
      if (!eventMatches(event, search.value)) search.value = "";  // the new row must be seen
      announcer.announce(`Created ${event.name}.`);
      await nextTick();
      row(event)?.querySelector("th")?.focus();
    }

    async function edit(event) {
      editing.value = event.public_id;
      await nextTick();
      document.querySelector("tr.editing input")?.focus();
    }
    async function closeEdit(event, saved = null) {
      editing.value = null;
      if (saved) {
        events.value = events.value.map((each) => (each.public_id === saved.public_id ? saved : each));
        announcer.announce(`Saved ${saved.name}.`);
      }
      await nextTick();
      row(event)?.querySelector("button.edit")?.focus();
    }

    async function remove(event) {
      const label = `"${event.name}" (${event.public_id})`;
      if (!window.confirm(`Delete event ${label}? This cannot be undone.`)) return;
      error.value = null;
      try {
        try {
          await deleteEvent(event.public_id);
        } catch (failure) {
          if (failure.status !== 409) throw failure;
          // The server keeps an event with datapoints unless asked to delete them with it.
          const question = `Event ${label} has stored datapoints. Delete it together with ALL its datapoints?`
            + " They cannot be recovered.";
          if (!window.confirm(question)) {
            announcer.announce(`${event.name} was kept.`);
            return;
          }
          await deleteEvent(event.public_id, true);
        }
        const index = shown.value.findIndex((each) => each.public_id === event.public_id);
        events.value = events.value.filter((each) => each.public_id !== event.public_id);
        announcer.announce(`Deleted ${event.name}.`);
        // Its row is gone: the keyboard goes to the row that took its place, or to the heading.
        await nextTick();
        const next = shown.value[Math.min(index, shown.value.length - 1)];
        (next && row(next)?.querySelector("th") || heading.value)?.focus();
      } catch (failure) {
        error.value = `Could not delete ${event.name}: ${failureText(failure)}`;
        if (failure.status === 404) refresh();
      }
    }

    const limits = (event) => (event.min_value === null && event.max_value === null ? "—"
      : `${formatValue(event.min_value)} to ${formatValue(event.max_value)}`);
    const staleAfter = (event) => (event.stale_after === null ? "never" : `${formatValue(event.stale_after)} s`);
    return { events, loaded, error, search, editing, heading, groups, shown, headings, created, edit,
             closeEdit, remove, limits, staleAfter, announcement: announcer.text, mayOperate };
  },
  template: `
    <main class="manage">
      <p class="visually-hidden" role="status" data-testid="announcement">{{ announcement }}</p>
      <section v-if="mayOperate()" class="panel" aria-labelledby="new-event-heading">
        <h2 id="new-event-heading">New event</h2>
        <EventForm :groups="groups" @saved="created" />
      </section>
      <p v-if="error" class="error" role="alert">{{ error }}</p>
      <section class="panel" aria-labelledby="events-heading">
        <div class="list-head">
          <h2 id="events-heading" ref="heading" tabindex="-1">Events</h2>
          <label class="search">Search <input v-model="search" type="search" autocomplete="off"
            placeholder="name, id, group or unit"></label>
          <span class="muted small" data-testid="event-count">{{ shown.length === events.length
            ? events.length + " events" : shown.length + " of " + events.length + " events" }}</span>
        </div>
        <table class="stacked manage-table" role="table" aria-labelledby="events-heading">
          <thead role="rowgroup">
            <tr role="row"><th v-for="name in headings" :key="name" role="columnheader" scope="col">{{ name }}</th></tr>
          </thead>
          <tbody role="rowgroup">
            <template v-for="event in shown" :key="event.public_id">
              <tr role="row" :data-event="event.public_id">
                <th scope="row" role="rowheader" tabindex="-1">
                  <span class="name">{{ event.name }}</span>
                  <span class="muted small id">{{ event.public_id }}</span>
                </th>
                <td role="cell" data-label="Group" data-testid="group">{{ event.group ?? "—" }}</td>
                <td role="cell" data-label="Type">{{ event.type }}</td>
                <td role="cell" data-label="Unit" data-testid="unit">{{ event.unit || "—" }}</td>
                <td role="cell" data-label="Limits">{{ limits(event) }}</td>
                <td role="cell" data-label="Stale after">{{ staleAfter(event) }}</td>
                <td role="cell" v-if="mayOperate()" data-label="Actions" class="actions">
                  <button type="button" class="secondary edit" :aria-label="'Edit ' + event.name"
                    :aria-expanded="editing === event.public_id ? 'true' : 'false'" @click="edit(event)">Edit</button>
                  <button type="button" class="danger" :aria-label="'Delete ' + event.name"
                    @click="remove(event)">Delete</button>
                </td>
              </tr>
              <tr v-if="editing === event.public_id" role="row" class="editing">
                <td role="cell" :colspan="headings.length">
                  <EventForm :event="event" :groups="groups" @saved="closeEdit(event, $event)"
                    @cancel="closeEdit(event)" />
                </td>
              </tr>
            </template>
            <tr role="row" v-if="loaded && !shown.length"><td role="cell" :colspan="headings.length" class="muted">
              {{ events.length ? "No event matches." : "No events yet." }}</td></tr>
          </tbody>
        </table>
      </section>
    </main>`,
};
