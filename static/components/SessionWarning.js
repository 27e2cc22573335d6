// The session's end, said in time: a warning a few minutes before (with a button that renews it), and, if it
// ends, a dialog to sign in again over the page as it is, so what the user typed stays where it was.
import { nextTick, onMounted, ref, watch } from "vue";
import { useNow } from "../clock.js";
import { keeper, session } from "../session.js";
import LoginView from "../views/LoginView.js";

function countdown(ms) {
  const seconds = Math.max(0, Math.ceil(ms / 1000));
  return `${Math.floor(seconds / 60)}:${String(seconds % 60).padStart(2, "0")}`;
}

export default {
  components: { LoginView },
  setup() {
    const now = useNow(1000);
    const dialog = ref(null);

    function showEnded(ended) {
      const element = dialog.value;
      if (!element) return;
      if (ended && !element.open) element.showModal();  // modal: the page behind stays, untouchable
      if (!ended && element.open) element.close();
    }
    onMounted(() => showEnded(session.ended));
    watch(() => session.ended, (ended) => nextTick(() => showEnded(ended)));

    const endsAt = (time) => new Date(time).toLocaleTimeString();
    return { session, keeper: keeper.state, renew: keeper.renew, now, dialog, countdown, endsAt };
  },
  template: `
    <div v-if="session.token && keeper.warning" class="session-warning" data-testid="session-warning">
      <p role="alert">Your session ends at {{ endsAt(keeper.endsAt) }}.</p>
      <p class="session-left" data-testid="session-left">{{ countdown(keeper.endsAt - now) }} left</p>
      <button type="button" :disabled="keeper.renewing" @click="renew">Stay signed in</button>
      <p v-if="keeper.error" class="session-error" role="alert">Could not renew the session: {{ keeper.error }}</p>
    </div>
    <dialog ref="dialog" class="session-ended" aria-labelledby="session-ended-title" @cancel.prevent>
      <template v-if="session.ended">
        <h2 id="session-ended-title">Your session has ended</h2>
        <p>Sign in again to carry on. This page stays as it is, with whatever you typed.</p>
        <LoginView again />
      </template>
    </dialog>`,
};
