// How an operator commands an event from its card: a switch (actuator), a setpoint within the event's bounds
// (range) or a Send button (cmd_*). What became of the last command sent is shown beside the control until
// it ends; its end is announced once, and the control's description says it afterwards.
import { computed, onBeforeUnmount, ref, watch } from "vue";
import { useAnnouncer } from "../announce.js";
import { getCommand, sendCommand } from "../api.js";
import {
  FINAL, announcementOf, controlOf, followCommand, isOn, refusalText, setpointProblem, sliderStep, startingSetpoint,
  statusText,
} from "../commands.js";

export default {
  props: {
    event: { type: Object, required: true },  // {public_id, name, type, min_value, max_value}
    value: { type: Number, default: null },  // the event's newest reading; null until it has one
  },
  setup(props) {
    const control = computed(() => controlOf(props.event.type));
    const min = computed(() => props.event.min_value ?? null);
    const max = computed(() => props.event.max_value ?? null);
    const bounded = computed(() => min.value !== null && max.value !== null);
    const command = ref(null);  // the last one sent, as the server last told
    const sending = ref(false);
    const error = ref(null);
    const announcer = useAnnouncer();
    let stopFollowing = () => {};
    let gone = false;

    const inFlight = computed(() => command.value !== null && !FINAL.has(command.value.status));
    // While a command is on its way the switch shows what was asked, so a second press asks the opposite;
    // otherwise it shows what the actuator last reported.
    const on = computed(() => (inFlight.value ? isOn(command.value.value) : isOn(props.value)));
    const status = computed(() => (sending.value ? "sending…" : command.value ? statusText(command.value) : ""));

    // The setpoint starts at the first reading (which may come after the card); once edited, it is the operator's.
    const setpoint = ref(startingSetpoint(props.value, min.value, max.value));
    let edited = false;
    if (props.value === null) {
      const stopSeeding = watch(() => props.value, (value) => {
        if (!edited) setpoint.value = startingSetpoint(value, min.value, max.value);
        stopSeeding();
      });
    }
    function edit() {
      edited = true;
      error.value = null;
    }

    async function send(value) {
      if (sending.value) return;  // one request at a time; the control stays focusable for the keyboard
      stopFollowing();
      command.value = null;
      error.value = null;
      sending.value = true;
      try {
        const sent = await sendCommand(props.event.public_id, value);
        if (gone) return;
        command.value = sent;
        stopFollowing = followCommand(sent, {
          fetchCommand: getCommand,
          onChange: (latest) => { command.value = latest; },
          onEnd: (last) => {
            command.value = last;
            announcer.announce(announcementOf(props.event.name, control.value, last));
          },
        });
      } catch (failure) {
        error.value = refusalText(failure);
      } finally {
        sending.value = false;
      }
    }
    function sendSetpoint() {
      error.value = setpointProblem(setpoint.value, min.value, max.value);
      if (!error.value) send(setpoint.value);
    }

    onBeforeUnmount(() => {
      gone = true;
      stopFollowing();
    });
    const statusId = computed(() => `command-${props.event.public_id}`);
    const step = computed(() => (bounded.value ? sliderStep(min.value, max.value) : "any"));
    return { control, min, max, bounded, step, command, on, status, error, setpoint, statusId,
             announcement: announcer.text, edit, send, sendSetpoint };
  },
  template: `
    <div class="command" :data-control="control">
      <button v-if="control === 'switch'" type="button" class="switch" :aria-pressed="on ? 'true' : 'false'"
        :aria-label="'Set ' + event.name" :aria-describedby="statusId" @click="send(on ? 0 : 1)">
        <span class="knob" aria-hidden="true"></span><span aria-hidden="true">{{ on ? "on" : "off" }}</span>
      </button>
      <form v-else-if="control === 'setpoint'" class="setpoint" novalidate @submit.prevent="sendSetpoint">
        <input v-if="bounded" v-model.number="setpoint" type="range" :min="min" :max="max" :step="step"
          :aria-label="'Setpoint of ' + event.name" @input="edit">
        <input v-model.number="setpoint" type="number" :min="min ?? undefined" :max="max ?? undefined" step="any"
          :aria-label="'Setpoint of ' + event.name" :aria-invalid="error ? 'true' : undefined" @input="edit">
        <button :aria-label="'Set ' + event.name" :aria-describedby="statusId">Set</button>
      </form>
      <button v-else type="button" :aria-label="'Send ' + event.name" :aria-describedby="statusId"
        @click="send(1)">Send</button>
      <span :id="statusId" class="small command-status" data-testid="command-status"
        :data-status="command?.status">{{ status }}</span>
      <span v-if="error" class="small error" role="alert" data-testid="command-error">{{ error }}</span>
      <span class="visually-hidden" role="status" data-testid="command-announcement">{{ announcement }}</span>
    </div>`,
};
