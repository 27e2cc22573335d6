// A one-time password, shown once after a user is added or their password is reset: copy it, hand it over,
// then hide it. Its heading takes the focus so that a screen reader reads the panel at once.
import { nextTick, onMounted, ref, watch } from "vue";

export default {
  props: { email: { type: String, required: true }, password: { type: String, required: true },
           reason: { type: String, default: "added" } },
  emits: ["done"],
  setup(props) {
    const heading = ref(null);
    const input = ref(null);
    const copied = ref("");

    async function show() {
      copied.value = "";
      await nextTick();
      heading.value?.focus();
    }
    onMounted(show);
    watch(() => props.password, show);

    async function copy() {
      try {
        await navigator.clipboard.writeText(props.password);
        copied.value = "Copied to the clipboard.";
      } catch {
        input.value.select();  // without clipboard access (no secure context): select it for Ctrl+C
        copied.value = document.execCommand("copy") ? "Copied to the clipboard."
          : "Could not copy: the password is selected, press Ctrl+C.";
      }
    }
    return { heading, input, copied, copy };
  },
  template: `
    <section class="panel secret" aria-labelledby="secret-heading" data-testid="one-time-password">
      <h2 id="secret-heading" ref="heading" tabindex="-1">One-time password for {{ email }}</h2>
      <p class="notice"><strong>Shown only once.</strong> {{ reason === "reset" ? "Their old password no longer works. " : "" }}Give
        it to {{ email }}: they must change it when they first sign in with it. If it is lost, reset the password again.</p>
      <div class="secret-row">
        <input ref="input" readonly :value="password" aria-label="One-time password" data-testid="secret"
          spellcheck="false" @focus="$event.target.select()">
        <button type="button" @click="copy">Copy</button>
      </div>
      <p class="small muted" role="status">{{ copied }}</p>
      <button type="button" class="link" @click="$emit('done')">Done: hide the password</button>
    </section>`,
};
