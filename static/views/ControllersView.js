// Registered controllers and who is online (operators and admins); admins register and revoke them.
import { computed, nextTick, reactive, ref, watch } from "vue";
import { listOf, useAnnouncer } from "../announce.js";
import { api } from "../api.js";
import { useNow } from "../clock.js";
import { formatAge, formatDuration, formatTime } from "../format.js";
import { mayAdminister } from "../session.js";
import { useRefreshing } from "../refreshing.js";

// Presence is written to the database about once a second: looking every two seconds shows a controller
// coming or going within about three, at one light request (one row per controller) each time.
const REFRESH_MS = 2000;

function scopeOf(controller) {
  if (controller.events?.length) return controller.events.join(", ");
  if (controller.event_prefix) return `ids starting with ${controller.event_prefix}`;
  return "any event";
}

export default {
  setup() {
    const controllers = ref([]);
    const loaded = ref(false);
    const error = ref(null);
    const now = useNow(1000);
    const announcer = useAnnouncer();
    let asked = 0;  // answers may cross (a refresh after a change, the periodic one): the newest asked wins
    let shown = 0;

    async function refresh() {
      const mine = ++asked;
      try {
        const { data } = await api("GET", "/controllers");
        if (gone() || mine < shown) return;
        shown = mine;
        controllers.value = data;
        loaded.value = true;
        error.value = null;
      } catch (failure) {
        if (!gone()) error.value = `Could not load controllers: ${failure.message}`;
      }
    }
    const gone = useRefreshing(refresh, REFRESH_MS);

    // One polite announcement when controllers come online or go offline; the first load says nothing
    // (the table does).
    const online = computed(() => controllers.value.filter((controller) => controller.connected)
      .map((controller) => controller.public_id));
    let first = true;
    watch(online, (ids, before) => {
      if (first) {
        first = false;
        return;
      }
      const nameOf = (id) => controllers.value.find((controller) => controller.public_id === id)?.name ?? id;
      const came = ids.filter((id) => !before.includes(id)).map(nameOf);
      const left = before.filter((id) => !ids.includes(id)).map(nameOf);
      if (came.length) announcer.announce(`Online: ${listOf(came)}.`);
      if (left.length) announcer.announce(`Offline: ${listOf(left)}.`);
    });

    // Registering: the answer holds the token, kept here only until the admin is done with it.
    const form = reactive({ name: "", scope: "any", events: "", prefix: "" });
    const formError = ref(null);
    const busy = ref(false);
    const created = ref(null);  // {name, public_id, access_token, expires_at}
    const copied = ref("");
    const tokenHeading = ref(null);
    const tokenInput = ref(null);
    const nameInput = ref(null);

    async function register() {
      busy.value = true;
      formError.value = null;
      const body = { name: form.name.trim() };
      if (form.scope === "events") {
        body.events = form.events.split(/[\s,]+/).filter(Boolean);
      } else if (form.scope === "prefix") {
        body.event_prefix = form.prefix.trim();
      }
      try {
        const answer = await api("POST", "/controllers", body);
        created.value = { name: answer.name, public_id: answer.public_id, access_token: answer.access_token,
                          expires_at: answer.expires_at };
        copied.value = "";
        Object.assign(form, { name: "", scope: "any", events: "", prefix: "" });
        await nextTick();
        tokenHeading.value?.focus();  // so a screen reader reads the token panel at once
        refresh();
      } catch (failure) {
        const details = Object.values(failure.details ?? {});
        formError.value = details.length ? `${failure.message}: ${details.join("; ")}` : failure.message;
      } finally {
        busy.value = false;
      }
    }

    async function copyToken() {
      const token = created.value?.access_token;
      if (!token) return;
      try {
        await navigator.clipboard.writeText(token);
        copied.value = "Copied to the clipboard.";
      } catch {
        tokenInput.value.select();  // without clipboard access (no secure context): select it for Ctrl+C
        copied.value = document.execCommand("copy") ? "Copied to the clipboard."
          : "Could not copy: the token is selected, press Ctrl+C.";
      }
    }

    async function forgetToken() {
      created.value = null;
      copied.value = "";
      await nextTick();
      nameInput.value?.focus();
    }

    const actionError = ref(null);
    async function revoke(controller) {
      const question = `Revoke controller "${controller.name}" (${controller.public_id})? Its token stops working`
        + " at once and its connections are closed. This cannot be undone.";
      if (!window.confirm(question)) return;
      actionError.value = null;
      try {
        await api("DELETE", `/controllers/${encodeURIComponent(controller.public_id)}`);
        announcer.announce(`Revoked ${controller.name}.`);
      } catch (failure) {
        actionError.value = `Could not revoke ${controller.name}: ${failure.message}`;
      }
      await refresh();
      // Its Revoke button is gone: keep the keyboard on its row rather than at the top of the page.
      await nextTick();
      document.querySelector(`[data-controller="${CSS.escape(controller.public_id)}"] th`)?.focus();
    }

    const age = (timestamp) => (timestamp ? formatAge(Date.parse(timestamp), now.value) : "never");
    const onlineFor = (controller) => formatDuration(now.value - Date.parse(controller.connected_since));
    const headings = computed(() => ["Controller", "Status", "Address", "Last seen", "Last reading", "Readings/s",
      "Scope", "Token", ...(mayAdminister() ? ["Actions"] : [])]);
    return { controllers, loaded, error, actionError, announcement: announcer.text, form, formError, busy, created, copied,
             tokenHeading, tokenInput, nameInput, register, copyToken, forgetToken, revoke, age, onlineFor, headings,
             scopeOf, formatTime, mayAdminister };
  },
  // The table's roles are spelled out: some browsers drop a table's semantics once CSS stacks its rows.
  template: `
    <main class="controllers">
      <p class="visually-hidden" role="status">{{ announcement }}</p>
      <section v-if="created" class="panel token" aria-labelledby="token-heading" data-testid="new-token">
        <h2 id="token-heading" ref="tokenHeading" tabindex="-1">Token of {{ created.name }}</h2>
        <p class="notice"><strong>Shown only once.</strong> Copy it now and give it to the controller
          (<code>?token=</code> on <code>/ws/controller/telemetry</code>): it cannot be shown again. A lost token
          is replaced by registering the controller anew and revoking the old one.</p>
        <div class="token-row">
          <input ref="tokenInput" readonly :value="created.access_token" aria-label="Token" data-testid="token"
            @focus="$event.target.select()">
          <button type="button" @click="copyToken">Copy</button>
        </div>
        <p class="small muted" role="status">{{ copied }}</p>
        <p class="small muted">Public id {{ created.public_id }}; valid until {{ formatTime(created.expires_at) }}.</p>
        <button type="button" class="link" @click="forgetToken">Done: hide the token</button>
      </section>

      <form v-if="mayAdminister()" class="panel register" @submit.prevent="register" aria-labelledby="register-heading">
        <h2 id="register-heading">Register a controller</h2>
        <label>Name <input ref="nameInput" v-model="form.name" required maxlength="200" autocomplete="off"></label>
        <fieldset>
          <legend>May write</legend>
          <label><input type="radio" name="scope" v-model="form.scope" value="any"> any event</label>
          <label><input type="radio" name="scope" v-model="form.scope" value="events"> these events</label>
          <label><input type="radio" name="scope" v-model="form.scope" value="prefix"> events whose id starts with</label>
        </fieldset>
        <label v-if="form.scope === 'events'">Event ids (separated by commas or spaces)
          <input v-model="form.events" required placeholder="evt_temp01, evt_press01" autocomplete="off"></label>
        <label v-if="form.scope === 'prefix'">Id prefix
          <input v-model="form.prefix" required placeholder="evt_boiler_" autocomplete="off"></label>
        <div><button :disabled="busy || !form.name.trim()">Register</button></div>
        <p v-if="formError" class="error" role="alert">{{ formError }}</p>
      </form>

      <p v-if="error" class="error" role="alert">{{ error }}</p>
      <p v-if="actionError" class="error" role="alert">{{ actionError }}</p>
      <table class="panel stacked" role="table">
        <caption>Registered controllers</caption>
        <thead role="rowgroup">
          <tr role="row">
            <th v-for="heading in headings" :key="heading" role="columnheader" scope="col"
              :class="{ number: heading === 'Readings/s' }">{{ heading }}</th>
          </tr>
        </thead>
        <tbody role="rowgroup">
          <tr role="row" v-for="controller in controllers" :key="controller.public_id" :data-controller="controller.public_id"
            :class="{ revoked: controller.revoked }">
            <th scope="row" role="rowheader" tabindex="-1">
              <span class="name">{{ controller.name }}</span>
              <span class="muted small id">{{ controller.public_id }}</span>
            </th>
            <td role="cell" data-label="Status">
              <span class="presence" :data-connected="controller.connected" data-testid="presence">
                <span class="dot" aria-hidden="true"></span>{{ controller.connected ? "online" : "offline" }}</span>
              <span v-if="controller.connected && controller.connected_since" class="muted small"
                :title="'since ' + formatTime(controller.connected_since)"> for {{ onlineFor(controller) }}</span>
            </td>
            <td role="cell" data-label="Address">{{ controller.address ?? "—" }}</td>
            <td role="cell" data-label="Last seen" :title="formatTime(controller.last_seen)">{{ age(controller.last_seen) }}</td>
            <td role="cell" data-label="Last reading" :title="formatTime(controller.last_reading_at)">{{ age(controller.last_reading_at) }}</td>
            <td role="cell" data-label="Readings/s" class="number">{{ controller.readings_per_second }}</td>
            <td role="cell" data-label="Scope">{{ scopeOf(controller) }}</td>
            <td role="cell" data-label="Token">
              <span v-if="controller.revoked" class="error" data-testid="revoked">revoked {{ formatTime(controller.revoked_at) }}</span>
              <span v-else class="muted">valid until {{ formatTime(controller.expires_at) }}</span>
            </td>
            <td role="cell" v-if="mayAdminister()" data-label="Actions">
              <button v-if="!controller.revoked" type="button" class="danger" :aria-label="'Revoke ' + controller.name"
                @click="revoke(controller)">Revoke</button>
            </td>
          </tr>
          <tr role="row" v-if="loaded && !controllers.length"><td role="cell" :colspan="headings.length" class="muted">
            No controllers registered yet.</td></tr>
        </tbody>
      </table>
    </main>`,
};
