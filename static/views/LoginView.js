// Sign in with the REST API; the token is kept for this browser session only. `again`: the session ended while
// the page stayed open (see SessionWarning), so the same user signs in again over it, and nothing else changes.
import { ref } from "vue";
import { api } from "../api.js";
import { session, signIn, signOut } from "../session.js";

export default {
  props: { again: { type: Boolean, default: false } },
  setup(props) {
    const email = ref(props.again ? session.user?.email ?? "" : "");
    const password = ref("");
    const error = ref(null);
    const busy = ref(false);

    async function submit() {
      busy.value = true;
      error.value = null;
      try {
        const answer = await api("POST", "/auth/login", { email: email.value.trim(), password: password.value });
        signIn(answer.access_token, answer.user, answer.expires_in);
      } catch (failure) {
        error.value = failure.status === 401 ? "Wrong email or password." : failure.message;
      } finally {
        busy.value = false;
        password.value = "";
      }
    }
    return { email, password, error, busy, submit, session, signOut };
  },
  template: `
    <form v-if="again" class="login-again" @submit.prevent="submit">
      <label>Email <input v-model="email" type="email" autocomplete="username" readonly></label>
      <label>Password <input v-model="password" type="password" autocomplete="current-password" required autofocus></label>
      <div class="actions">
        <button :disabled="busy">Sign in again</button>
        <button type="button" class="link" @click="signOut()">Sign out instead</button>
      </div>
      <p v-if="error" class="error" role="alert">{{ error }}</p>
    </form>
    <main v-else class="login">
      <form class="panel" @submit.prevent="submit">
        <h1>WebMACS</h1>
        <p v-if="session.notice" class="notice">{{ session.notice }}</p>
        <label>Email <input v-model="email" type="email" autocomplete="username" required autofocus></label>
        <label>Password <input v-model="password" type="password" autocomplete="current-password" required></label>
        <button :disabled="busy">Sign in</button>
        <p v-if="error" class="error" role="alert">{{ error }}</p>
      </form>
    </main>`,
};
