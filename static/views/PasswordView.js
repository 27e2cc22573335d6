// Change my password (everyone). After a sign-in with a one-time password the app shows only this page until
// the user has chosen their own (app.js); then it goes on to the dashboard.
import { nextTick, onMounted, ref } from "vue";
import { useAnnouncer } from "../announce.js";
import { changeOwnPassword } from "../api.js";
import env from "../env.js";
import { failureText, passwordProblem } from "../manage.js";
import { session, signIn } from "../session.js";

export default {
  setup() {
    const forced = Boolean(session.user?.must_change_password);
    const current = ref("");
    const password = ref("");
    const repeated = ref("");
    const error = ref(null);
    const busy = ref(false);
    const heading = ref(null);
    const done = ref(false);
    const announcer = useAnnouncer();

    onMounted(() => {
      if (forced) heading.value?.focus();  // the page the user did not ask for says why at once
    });

    async function submit() {
      error.value = passwordProblem(password.value, repeated.value, env.minPassword);
      done.value = false;
      if (error.value) return;
      busy.value = true;
      try {
        const answer = await changeOwnPassword(current.value, password.value);
        // Every other session of the user ended: this one goes on with the token the answer holds.
        signIn(answer.access_token, answer.user, answer.expires_in);
        current.value = password.value = repeated.value = "";
        if (forced) {
          location.hash = "#/";
          return;
        }
        done.value = true;
        announcer.announce("Password changed. Your other sessions have ended.");
        await nextTick();
        heading.value?.focus();
      } catch (failure) {
        error.value = failure.details?.current_password ? "The current password is wrong."
          : failureText(failure);
      } finally {
        busy.value = false;
      }
    }
    return { forced, current, password, repeated, error, busy, heading, done, submit, session,
             announcement: announcer.text, minPassword: env.minPassword };
  },
  template: `
    <main class="manage">
      <p class="visually-hidden" role="status" data-testid="announcement">{{ announcement }}</p>
      <form class="panel password-form" @submit.prevent="submit" aria-labelledby="password-heading" novalidate>
        <h2 id="password-heading" ref="heading" tabindex="-1">{{ forced ? "Choose your password" : "Change my password" }}</h2>
        <p v-if="forced" class="notice" data-testid="must-change">You signed in with a one-time password. Choose your
          own password to go on.</p>
        <p v-if="done" class="ok" data-testid="password-changed">Password changed. Your other sessions have ended.</p>
        <input type="email" class="visually-hidden" autocomplete="username" :value="session.user?.email" readonly
          tabindex="-1" aria-hidden="true">
        <label>{{ forced ? "One-time password" : "Current password" }}
          <input v-model="current" type="password" autocomplete="current-password" required></label>
        <label>New password
          <input v-model="password" type="password" autocomplete="new-password" required :minlength="minPassword"
            aria-describedby="new-password-hint"></label>
        <p id="new-password-hint" class="muted small">At least {{ minPassword }} characters.</p>
        <label>New password again
          <input v-model="repeated" type="password" autocomplete="new-password" required></label>
        <div><button :disabled="busy">Change password</button></div>
        <p v-if="error" class="error" role="alert" data-testid="password-error">{{ error }}</p>
      </form>
    </main>`,
};
