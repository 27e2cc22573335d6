// Sign in with the REST API; the token is kept for this browser session only.
import { ref } from "vue";
import { api } from "../api.js";
import { session, signIn } from "../session.js";

export default {
  setup() {
    const email = ref("");
    const password = ref("");
    const error = ref(null);
    const busy = ref(false);

    async function submit() {
      busy.value = true;
      error.value = null;
      try {
        const answer = await api("POST", "/auth/login", { email: email.value.trim(), password: password.value });
        signIn(answer.access_token, answer.user);
      } catch (failure) {
        error.value = failure.status === 401 ? "Wrong email or password." : failure.message;
      } finally {
        busy.value = false;
        password.value = "";
      }
    }
    return { email, password, error, busy, submit, session };
  },
  template: `
    <main class="login">
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
