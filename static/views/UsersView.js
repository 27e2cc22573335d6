// The people who sign in (admins only): add one with a one-time password or a set one, change a role, reset a
// password, delete. A role change, a reset or a deletion ends the user's sessions (the server does it).
import { nextTick, onMounted, reactive, ref } from "vue";
import { useAnnouncer } from "../announce.js";
import { addUser, changeRole, deleteUser, listUsers, resetPassword } from "../api.js";
import { formatTime } from "../format.js";
import env from "../env.js";
import { failureText } from "../manage.js";
import { session, signOut } from "../session.js";
import OneTimePassword from "../components/OneTimePassword.js";

export default {
  components: { OneTimePassword },
  setup() {
    const users = ref([]);
    const loaded = ref(false);
    const error = ref(null);
    const announcer = useAnnouncer();
    const form = reactive({ email: "", role: "viewer", kind: "one-time", password: "" });
    const formError = ref(null);
    const busy = ref(false);
    const secret = ref(null);  // {email, password, reason}: a one-time password, kept until the admin is done
    const roles = reactive({});  // user id -> the role chosen in its row
    const emailInput = ref(null);
    const heading = ref(null);

    async function refresh() {
      try {
        users.value = await listUsers();
        for (const user of users.value) roles[user.id] = user.role;
        loaded.value = true;
      } catch (failure) {
        error.value = `Could not load users: ${failure.message}`;
      }
    }
    onMounted(refresh);

    // The server ended the sessions of whom a change was about: when that was the admin themself, say why now
    // rather than at their next click.
    const endedMine = (user, why) => {
      if (user.email === session.user?.email) signOut(`${why}: please sign in again.`);
    };

    const row = (user) => document.querySelector(`tr[data-user="${user.id}"]`);
    async function focusIn(user, selector) {
      await nextTick();
      row(user)?.querySelector(selector)?.focus();
    }

    async function add() {
      formError.value = null;
      const password = form.kind === "set" ? form.password : null;
      if (password !== null && password.length < env.minPassword) {
        formError.value = `The password needs at least ${env.minPassword} characters.`;
        return;
      }
      busy.value = true;
      try {
        const user = await addUser(form.email.trim(), form.role, password);
        Object.assign(form, { email: "", password: "" });
        await refresh();
        if (user.one_time_password) {
          secret.value = { email: user.email, password: user.one_time_password, reason: "added" };
        } else {
          announcer.announce(`Added ${user.email} as ${user.role}.`);
          await focusIn(user, "th");
        }
      } catch (failure) {
        formError.value = failureText(failure);
      } finally {
        busy.value = false;
      }
    }

    async function saveRole(user) {
      const role = roles[user.id];
      const yourself = user.email === session.user?.email ? " You will have to sign in again." : "";
      if (!window.confirm(`Make ${user.email} ${role === "admin" ? "an" : "a"} ${role} (now ${user.role})?`
        + ` Their sessions end.${yourself}`)) {
        roles[user.id] = user.role;
        return;
      }
      error.value = null;
      try {
        const changed = await changeRole(user.id, role);
        users.value = users.value.map((each) => (each.id === changed.id ? changed : each));
        announcer.announce(`${changed.email} is now ${changed.role}.`);
        endedMine(changed, `You are now ${changed.role}`);
      } catch (failure) {
        roles[user.id] = user.role;
        error.value = `Role of ${user.email} not changed: ${failureText(failure)}`;
      }
      await focusIn(user, "select");
    }

    async function reset(user) {
      if (!window.confirm(`Give ${user.email} a new one-time password? Their current password stops working and`
        + " their sessions end.")) return;
      error.value = null;
      try {
        const answer = await resetPassword(user.id);
        users.value = users.value.map((each) => (each.id === answer.id ? { ...each, ...answer } : each));
        secret.value = { email: user.email, password: answer.one_time_password, reason: "reset" };
      } catch (failure) {
        error.value = `Password of ${user.email} not reset: ${failureText(failure)}`;
      }
    }

    async function remove(user) {
      if (!window.confirm(`Delete user ${user.email}? Their sessions end and they can no longer sign in.`
        + " This cannot be undone.")) return;
      error.value = null;
      try {
        await deleteUser(user.id);
        users.value = users.value.filter((each) => each.id !== user.id);
        announcer.announce(`Deleted ${user.email}.`);
        endedMine(user, "Your account was deleted");
        await nextTick();
        heading.value?.focus();
      } catch (failure) {
        error.value = `${user.email} not deleted: ${failureText(failure)}`;
      }
    }

    async function forgetSecret() {
      secret.value = null;
      await nextTick();
      emailInput.value?.focus();
    }

    return { users, loaded, error, form, formError, busy, secret, roles, emailInput, heading, add, saveRole, reset,
             remove, forgetSecret, formatTime, session, announcement: announcer.text, userRoles: env.userRoles,
             minPassword: env.minPassword };
  },
  template: `
    <main class="manage">
      <p class="visually-hidden" role="status" data-testid="announcement">{{ announcement }}</p>
      <OneTimePassword v-if="secret" :email="secret.email" :password="secret.password" :reason="secret.reason"
        @done="forgetSecret" />

      <form class="panel add-user" @submit.prevent="add" aria-labelledby="add-user-heading" novalidate>
        <h2 id="add-user-heading">Add a user</h2>
        <label>Email <input ref="emailInput" v-model="form.email" type="email" required maxlength="254"
          autocomplete="off"></label>
        <label>Role
          <select v-model="form.role"><option v-for="role in userRoles" :key="role" :value="role">{{ role }}</option></select>
        </label>
        <fieldset>
          <legend>Password</legend>
          <label><input type="radio" name="password-kind" v-model="form.kind" value="one-time"> a one-time password
            (shown once; they choose their own at the first sign-in)</label>
          <label><input type="radio" name="password-kind" v-model="form.kind" value="set"> this password</label>
          <label v-if="form.kind === 'set'">Password <span class="muted small">(at least {{ minPassword }} characters)</span>
            <input v-model="form.password" type="password" autocomplete="new-password" required :minlength="minPassword"></label>
        </fieldset>
        <div><button :disabled="busy || !form.email.trim()">Add user</button></div>
        <p v-if="formError" class="error" role="alert" data-testid="add-user-error">{{ formError }}</p>
      </form>

      <p v-if="error" class="error" role="alert" data-testid="users-error">{{ error }}</p>
      <section class="panel" aria-labelledby="users-heading">
        <h2 id="users-heading" ref="heading" tabindex="-1">Users</h2>
        <table class="stacked manage-table" role="table" aria-labelledby="users-heading">
          <thead role="rowgroup">
            <tr role="row">
              <th role="columnheader" scope="col">User</th><th role="columnheader" scope="col">Role</th>
              <th role="columnheader" scope="col">Password</th><th role="columnheader" scope="col">Added</th>
              <th role="columnheader" scope="col">Actions</th>
            </tr>
          </thead>
          <tbody role="rowgroup">
            <tr v-for="user in users" :key="user.id" role="row" :data-user="user.id" :data-email="user.email">
              <th scope="row" role="rowheader" tabindex="-1"><span class="name">{{ user.email }}</span>
                <span v-if="user.email === session.user?.email" class="muted small"> (you)</span></th>
              <td role="cell" data-label="Role">
                <form class="role" @submit.prevent="saveRole(user)">
                  <select v-model="roles[user.id]" :aria-label="'Role of ' + user.email" data-testid="role">
                    <option v-for="role in userRoles" :key="role" :value="role">{{ role }}</option>
                  </select>
                  <button v-if="roles[user.id] !== user.role" class="secondary"
                    :aria-label="'Save role of ' + user.email">Save</button>
                </form>
              </td>
              <td role="cell" data-label="Password" data-testid="password-state">{{ user.must_change_password
                ? "one-time: to be changed at sign-in" : "set by the user" }}</td>
              <td role="cell" data-label="Added">{{ formatTime(user.created_at) }}</td>
              <td role="cell" data-label="Actions" class="actions">
                <button type="button" class="secondary" :aria-label="'Reset password of ' + user.email"
                  @click="reset(user)">Reset password</button>
                <button type="button" class="danger" :aria-label="'Delete ' + user.email"
                  @click="remove(user)">Delete</button>
              </td>
            </tr>
            <tr role="row" v-if="loaded && !users.length"><td role="cell" colspan="5" class="muted">No users.</td></tr>
          </tbody>
        </table>
      </section>
    </main>`,
};
