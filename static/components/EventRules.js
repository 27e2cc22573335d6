// An event's alarm rules, folded away on its card: each rule in words, and for operators and admins Edit and
// Delete buttons, a one-click rule from the event's own limits (when it has both) and the form for a new one.
// Edit opens the rule's own form in place of the new one's; closing it puts the keyboard back on its Edit button.
import { computed, nextTick, ref } from "vue";
import { failureText } from "../alarms.js";
import { createRuleFromLimits, deleteRule } from "../api.js";
import { formatValue } from "../format.js";
import { mayOperate } from "../session.js";
import RuleForm from "./RuleForm.js";

export default {
  components: { RuleForm },
  props: {
    event: { type: Object, required: true },  // {public_id, name, min_value, max_value}
    rules: { type: Array, required: true },  // the event's rules, as GET /rules lists them
  },
  emits: ["changed"],
  setup(props, { emit }) {
    const error = ref(null);
    const done = ref("");
    const busy = ref(false);
    const editingId = ref(null);
    // Looked up in the rules given, so a rule deleted meanwhile (here or elsewhere) takes its form with it.
    const editing = computed(() => props.rules.find((rule) => rule.rule_id === editingId.value) ?? null);
    const editButtons = new Map();  // rule id: its Edit button
    const limits = computed(() => {
      const { min_value: min, max_value: max } = props.event;
      return typeof min === "number" && typeof max === "number" ? `${formatValue(min)} to ${formatValue(max)}` : null;
    });

    async function act(work, saying) {
      busy.value = true;
      error.value = null;
      done.value = "";
      try {
        const answer = await work();
        done.value = saying(answer);
        emit("changed");
      } catch (failure) {
        error.value = failureText(failure);
      } finally {
        busy.value = false;
      }
    }
    const fromLimits = () => act(() => createRuleFromLimits(props.event.public_id, "warning"),
      (rule) => `Added rule ${rule.name}: ${rule.description}.`);
    function remove(rule) {
      const question = `Delete the alarm rule "${rule.name}" (${rule.description})? Its active alarm, if any, is`
        + " cleared; its alarms stay in the history.";
      if (window.confirm(question)) act(() => deleteRule(rule.rule_id), () => `Deleted rule ${rule.name}.`);
    }
    function created() {
      error.value = null;
      emit("changed");
    }
    function edit(rule) {
      error.value = null;
      done.value = "";
      editingId.value = rule.rule_id;
    }
    async function closeEditing() {
      const ruleId = editingId.value;
      editingId.value = null;
      await nextTick();
      editButtons.get(ruleId)?.focus();
    }
    function saved(rule) {
      done.value = `Saved rule ${rule.name}: ${rule.description}.`;
      closeEditing();
      emit("changed");
    }
    function rememberEditButton(ruleId, button) {
      if (button) editButtons.set(ruleId, button);
      else editButtons.delete(ruleId);
    }
    return { error, done, busy, limits, editing, fromLimits, remove, created, edit, closeEditing, saved,
             rememberEditButton, mayOperate };
  },
  template: `
    <details v-if="rules.length || mayOperate()" class="rules" data-testid="rules">
      <summary>Alarm rules<span class="visually-hidden"> of {{ event.name }}</span> ({{ rules.length }})</summary>
      <ul v-if="rules.length" class="rule-list">
        <li v-for="rule in rules" :key="rule.rule_id" :data-rule="rule.rule_id">
          <span><strong>{{ rule.name }}</strong>: {{ rule.description }}
            <span class="severity" :data-severity="rule.severity">{{ rule.severity }}</span></span>
          <div v-if="mayOperate()">
            <button :ref="(button) => rememberEditButton(rule.rule_id, button)" type="button" class="link"
              :aria-label="'Edit rule ' + rule.name" :aria-expanded="editing?.rule_id === rule.rule_id"
              @click="edit(rule)">Edit</button> <button type="button" class="link danger-link" :disabled="busy"
              :aria-label="'Delete rule ' + rule.name" @click="remove(rule)">Delete</button>
          </div>
        </li>
      </ul>
      <p v-else class="small muted">No rules yet.</p>
      <RuleForm v-if="editing" :key="editing.rule_id" :event="event" :rule="editing" @saved="saved"
        @cancel="closeEditing" />
      <template v-if="mayOperate()">
        <button v-if="limits" type="button" class="secondary" :disabled="busy"
          :aria-label="'Alarm outside ' + limits + ' for ' + event.name"
          @click="fromLimits">Alarm outside {{ limits }}</button>
        <p v-if="error" class="small error" role="alert">{{ error }}</p>
        <p class="visually-hidden" role="status">{{ done }}</p>
        <RuleForm v-show="!editing" :event="event" @created="created" />
      </template>
    </details>`,
};
