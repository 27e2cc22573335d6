// A new alarm rule for one event (operators and admins): a name, a condition with the numbers it takes, how
// long it must hold, the hysteresis that clears it and a severity. Checked here first (alarms.js's ruleBody),
// then by the server, whose refusal is shown beside the form.
import { computed, reactive, ref } from "vue";
import { CONDITIONS, SEVERITIES, failureText, ruleBody } from "../alarms.js";
import { createRule } from "../api.js";

const CONDITION_NAMES = { above: "above", below: "below", outside: "outside a range", inside: "inside a range",
                          no_data: "no data for" };
const EMPTY = { name: "", condition: "above", threshold: "", low: "", high: "", seconds: "", for: "", hysteresis: "",
                severity: "warning" };

export default {
  props: { event: { type: Object, required: true } },  // {public_id, name, unit}
  emits: ["created"],
  setup(props, { emit }) {
    const form = reactive({ ...EMPTY });
    const error = ref(null);
    const busy = ref(false);
    const added = ref("");
    const nameInput = ref(null);
    const ranged = computed(() => form.condition === "outside" || form.condition === "inside");

    async function add() {
      added.value = "";
      const { body, problem } = ruleBody(props.event.public_id, form);
      error.value = problem ?? null;
      if (problem) return;
      busy.value = true;
      try {
        const rule = await createRule(body);
        Object.assign(form, EMPTY);
        added.value = `Added rule ${rule.name}: ${rule.description}.`;
        emit("created", rule);
        nameInput.value?.focus();  // ready for the next one
      } catch (failure) {
        error.value = `Not added: ${failureText(failure)}`;
      } finally {
        busy.value = false;
      }
    }
    // The numbers' step: "any", so 0.5 or 1e-3 pass the browser's own check.
    return { form, error, busy, added, nameInput, ranged, add, CONDITIONS, CONDITION_NAMES, SEVERITIES };
  },
  template: `
    <form class="rule-form" novalidate :aria-label="'New alarm rule for ' + event.name" @submit.prevent="add">
      <label class="wide">Name <input ref="nameInput" v-model="form.name" maxlength="200" autocomplete="off"
        required></label>
      <label class="wide">Condition
        <select v-model="form.condition">
          <option v-for="condition in CONDITIONS" :key="condition" :value="condition">{{ CONDITION_NAMES[condition] }}</option>
        </select>
      </label>
      <label v-if="form.condition === 'above' || form.condition === 'below'">Threshold
        <input v-model="form.threshold" type="number" step="any" inputmode="decimal" required></label>
      <template v-else-if="ranged">
        <label>Low <input v-model="form.low" type="number" step="any" inputmode="decimal" required></label>
        <label>High <input v-model="form.high" type="number" step="any" inputmode="decimal" required></label>
      </template>
      <label v-else class="wide">Seconds without data
        <input v-model="form.seconds" type="number" min="0" step="any" inputmode="decimal" required></label>
      <label>For (s) <input v-model="form.for" type="number" min="0" step="any" inputmode="decimal"
        placeholder="0"></label>
      <label>Hysteresis <input v-model="form.hysteresis" type="number" min="0" step="any" inputmode="decimal"
        placeholder="0"></label>
      <label class="wide">Severity
        <select v-model="form.severity">
          <option v-for="severity in SEVERITIES" :key="severity" :value="severity">{{ severity }}</option>
        </select>
      </label>
      <div class="wide"><button :disabled="busy">Add rule</button></div>
      <p v-if="error" class="wide small error" role="alert" data-testid="rule-error">{{ error }}</p>
      <p class="wide small visually-hidden" role="status">{{ added }}</p>
    </form>`,
};
