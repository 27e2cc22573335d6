// The dashboard application: sign-in, then the open alarms' banner above the live dashboard, the datapoints
// table, the alarms or, for operators and admins, the controllers and the activity log (hash routes).
import { computed, createApp, ref } from "vue";
import { api } from "./api.js";
import { mayOperate, session, signOut } from "./session.js";
import AlarmBanner from "./components/AlarmBanner.js";
import ActivityView from "./views/ActivityView.js";
import AlarmsView from "./views/AlarmsView.js";
import ControllersView from "./views/ControllersView.js";
import DashboardView from "./views/DashboardView.js";
import DatapointsView from "./views/DatapointsView.js";
import LoginView from "./views/LoginView.js";

// `allowed`: who sees the route and its link; anyone else gets the dashboard (the API refuses them anyway).
// A route may carry a query after "?" (#/activity?subject=alm_1): the view reads it.
const ROUTES = {
  "#/": { view: DashboardView },
  "#/datapoints": { view: DatapointsView },
  "#/alarms": { view: AlarmsView },
  "#/controllers": { view: ControllersView, allowed: mayOperate },
  "#/activity": { view: ActivityView, allowed: mayOperate },
};

function routeOf(hash) {
  const path = hash.split("?")[0];
  const route = ROUTES[path];
  return route && (!route.allowed || route.allowed()) ? path : "#/";
}

const App = {
  components: { AlarmBanner, LoginView },
  setup() {
    const hash = ref(location.hash);
    window.addEventListener("hashchange", () => { hash.value = location.hash; });
    const route = computed(() => routeOf(hash.value));  // follows the signed-in role too
    const view = computed(() => ROUTES[route.value].view);

    async function logOut() {
      try {
        await api("POST", "/auth/logout");
      } finally {
        signOut();
      }
    }
    return { session, route, view, logOut, mayOperate };
  },
  template: `
    <LoginView v-if="!session.token" />
    <template v-else>
      <header class="top">
        <strong>WebMACS</strong>
        <nav>
          <a href="#/" :class="{ active: route === '#/' }" :aria-current="route === '#/' ? 'page' : undefined">Dashboard</a>
          <a href="#/datapoints" :class="{ active: route === '#/datapoints' }"
            :aria-current="route === '#/datapoints' ? 'page' : undefined">Datapoints</a>
          <a href="#/alarms" :class="{ active: route === '#/alarms' }"
            :aria-current="route === '#/alarms' ? 'page' : undefined">Alarms</a>
          <a v-if="mayOperate()" href="#/controllers" :class="{ active: route === '#/controllers' }"
            :aria-current="route === '#/controllers' ? 'page' : undefined">Controllers</a>
          <a v-if="mayOperate()" href="#/activity" :class="{ active: route === '#/activity' }"
            :aria-current="route === '#/activity' ? 'page' : undefined">Activity</a>
        </nav>
        <span class="muted">{{ session.user?.email }} ({{ session.user?.role }})</span>
        <button class="link" @click="logOut">Sign out</button>
      </header>
      <AlarmBanner />
      <component :is="view" :key="route" />
    </template>`,
};

createApp(App).mount("#app");
