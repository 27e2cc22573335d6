// Above every page: how many alarms need attention, by severity, linking to the Alarms page. A newly raised
// alarm is announced once; what was open when the page loaded is not (the banner says it).
import { computed, watch } from "vue";
import { useAnnouncer } from "../announce.js";
import { bannerText, countBySeverity, raisedAnnouncement, worstSeverity } from "../alarms.js";
import { useOpenAlarms } from "../openAlarms.js";

export default {
  setup() {
    const alarms = useOpenAlarms();
    const counts = computed(() => countBySeverity(alarms.list));
    const text = computed(() => bannerText(counts.value));
    const worst = computed(() => worstSeverity(counts.value));
    const active = computed(() => alarms.list.filter((alarm) => alarm.state === "active").length);

    const announcer = useAnnouncer();
    const known = new Set();  // ids of the alarms listed so far
    let seeded = false;  // the first list loaded is what was open already
    watch(() => alarms.list, (list) => {
      if (!alarms.loaded) return;
      const raised = list.filter((alarm) => alarm.state === "active" && !known.has(alarm.alarm_id));
      for (const alarm of list) known.add(alarm.alarm_id);
      if (seeded && raised.length) announcer.announce(raisedAnnouncement(raised));
      seeded = true;
    }, { immediate: true });

    return { alarms, text, worst, active, announcement: announcer.text };
  },
  template: `
    <div class="alarm-banner-slot">
      <section v-if="text" class="alarm-banner" :data-severity="worst" aria-label="Open alarms" data-testid="alarm-banner">
        <span aria-hidden="true" class="icon">⚠</span>
        <a href="#/alarms"><strong>{{ text }}</strong></a>
        <span class="small">{{ active ? active + " still active" : "all cleared, awaiting acknowledgement" }}</span>
      </section>
      <p v-else-if="alarms.error" class="error small alarm-banner-error" role="alert">{{ alarms.error }}</p>
      <p class="visually-hidden" role="status" data-testid="alarm-announcement">{{ announcement }}</p>
    </div>`,
};
