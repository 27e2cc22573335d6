// The form that creates an event or edits one: each field labelled, each refusal (the form's own or the
// server's) said beside its field and once for the whole form.
import { computed, nextTick, reactive, ref } from "vue";
import { createEvent, updateEvent } from "../api.js";
import env from "../env.js";
import { eventBody, eventForm, eventProblems } from "../manage.js";

let forms = 0;  // ids of labels and messages, unique on the page

export default {
  props: { event: { type: Object, default: null }, groups: { type: Array, default: () => [] } },
  emits: ["saved", "cancel"],
  setup(props, { emit }) {
    const creating = !props.event;
    const form = reactive(eventForm(props.event));
    const problems = ref({});
    const error = ref(null);
    const busy = ref(false);
    const prefix = `event-form-${++forms}`;
    const label = computed(() => (creating ? "New event" : `Edit ${props.event.name}`));
    const fields = [
      { name: "name", label: "Name", maxlength: 200 },
      ...(creating ? [{ name: "public_id", label: "Id", hint: "optional", maxlength: 64, placeholder: "evt_…" }] : []),
      { name: "type", label: "Type" },
      { name: "unit", label: "Unit", maxlength: 32 },
      { name: "group", label: "Group", maxlength: 100 },
      { name: "min_value", label: "Minimum", inputmode: "decimal" },
      { name: "max_value", label: "Maximum", inputmode: "decimal" },
      { name: "stale_after", label: "Stale after (s)", inputmode: "decimal", placeholder: "never" },
    ];

    async function submit() {
      const body = eventBody(form, creating);
      problems.value = eventProblems(body);
      error.value = null;
      if (Object.keys(problems.value).length) {
        error.value = "Check the fields marked.";
        await nextTick();
        document.querySelector(`#${prefix} [aria-invalid="true"]`)?.focus();
        return;
      }
      busy.value = true;
      try {
        const saved = creating ? await createEvent(body) : await updateEvent(props.event.public_id, body);
        if (creating) Object.assign(form, eventForm(), { type: form.type, group: form.group });  // ready for the next
        emit("saved", saved);
      } catch (failure) {
        problems.value = failure.details ?? {};
        error.value = Object.keys(problems.value).length ? `${failure.message}: check the fields marked.`
          : failure.message;
        await nextTick();
        document.querySelector(`#${prefix} [aria-invalid="true"]`)?.focus();
      } finally {
        busy.value = false;
      }
    }
    const invalid = (field) => (problems.value[field] ? "true" : undefined);
    const describedBy = (field) => (problems.value[field] ? `${prefix}-${field}-problem` : undefined);
    return { fields, creating, form, problems, error, busy, prefix, label, submit, invalid, describedBy,
             eventTypes: env.eventTypes, cancel: () => emit("cancel") };
  },
  template: `
    <form :id="prefix" class="event-form" :aria-label="label" @submit.prevent="submit" @keydown.esc="creating || cancel()"
      novalidate>
      <div v-for="field in fields" :key="field.name" class="field" :class="{ wide: field.name === 'name' }">
        <label :for="prefix + '-' + field.name">{{ field.label }}
          <span v-if="field.hint" class="muted small">({{ field.hint }})</span></label>
        <select v-if="field.name === 'type'" :id="prefix + '-type'" v-model="form.type">
          <option v-for="type in eventTypes" :key="type" :value="type">{{ type }}</option>
        </select>
        <input v-else :id="prefix + '-' + field.name" v-model="form[field.name]"
          :maxlength="field.maxlength" :inputmode="field.inputmode" :placeholder="field.placeholder"
          :list="field.name === 'group' ? prefix + '-groups' : undefined" autocomplete="off" spellcheck="false"
          :aria-invalid="invalid(field.name)" :aria-describedby="describedBy(field.name)">
        <p v-if="problems[field.name]" :id="prefix + '-' + field.name + '-problem'" class="problem">{{ problems[field.name] }}</p>
      </div>
      <datalist :id="prefix + '-groups'"><option v-for="group in groups" :key="group" :value="group"></option></datalist>
      <div class="actions wide">
        <button :disabled="busy">{{ creating ? "Create event" : "Save" }}</button>
        <button v-if="!creating" type="button" class="secondary" @click="cancel">Cancel</button>
      </div>
      <p v-if="error" class="error wide" role="alert" data-testid="event-form-error">{{ error }}</p>
    </form>`,
};
