// An alarm rule's form (operators and admins): a new rule for one event or, given `rule`, that rule to edit. A
// name, a condition with the numbers it takes, how long it must hold, the hysteresis that clears it and a
// severity. Checked here first (alarms.js's ruleBody), then by the server, whose refusal is shown beside the form.
import { computed, onMounted, reactive, ref } from "vue";
import { CONDITIONS, SEVERITIES, failureText, ruleBody, ruleForm } from "../alarms.js";
import { createRule, updateRule } from "../api.js";

const CONDITION_NAMES = { above: "above", below: "below", outside: "outside a range", inside: "inside a range",
                          no_data: "no data for" };

export default {
  props: {
    event: { type: Object, required: true },  // {public_id, name, unit}
    rule: { type: Object, default: null },  // the rule to edit, as GET /rules lists it; null: a new rule
  },
  emits: ["created", "saved", "cancel"],
  setup(props, { emit }) {
    const form = reactive(ruleForm(props.rule));
    const error = ref(null);
    const busy = ref(false);
    const added = ref("");
    const nameInput = ref(null);
    const ranged = computed(() => form.condition === "outside" || form.condition === "inside");
    const label = computed(() => (props.rule ? `Edit alarm rule ${props.rule.name}`
      : `New alarm rule for ${props.event.name}`));
    // An edit form opens when its Edit button is pressed: the keyboard goes straight into it.
    onMounted(() => props.rule && nameInput.value?.focus());

    async function submit() {
      added.value = "";
      const { body, problem } = ruleBody(props.event.public_id, form);
      error.value = problem ?? null;
      if (problem) return;
      busy.value = true;
      try {
        if (props.rule) emit("saved", await updateRule(props.rule.rule_id, body));
        else created(await createRule(body));
      } catch (failure) {
        error.value = `Not ${props.rule ? "saved" : "added"}: ${failureText(failure)}`;
      } finally {
        busy.value = false;
      }
    }
    function created(rule) {
      Object.assign(form, ruleForm());
      added.value = `Added rule ${rule.name}: ${rule.description}.`;
      emit("created", rule);
      nameInput.value?.focus();  // ready for the next one
    }
    function escape() {
      if (props.rule) emit("cancel");
    }
    // The numbers' step: "any", so 0.5 or 1e-3 pass the browser's own check.
    return { form, error, busy, added, nameInput, ranged, label, submit, escape, CONDITIONS, CONDITION_NAMES,
             SEVERITIES };
  },
  template: `
    <form class="rule-form" novalidate :aria-label="label" @submit.prevent="submit" @keydown.esc="escape">
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
      <div class="wide">
        <button :disabled="busy">{{ rule ? "Save rule" : "Add rule" }}</button> <button v-if="rule" type="button"
          class="secondary" @click="$emit('cancel')">Cancel</button>
      </div>
      <p v-if="error" class="wide small error" role="alert" data-testid="rule-error">{{ error }}</p>
      <p v-if="!rule" class="wide small visually-hidden" role="status">{{ added }}</p>
    </form>`,
};
