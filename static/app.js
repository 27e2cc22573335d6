// The dashboard application: sign-in, then the open alarms' banner above the live dashboard, the datapoints
// table, the alarms or, for operators and admins, the controllers and the activity log (hash routes).
import { computed, createApp, ref } from "vue";
import { api } from "./api.js";
import { flushPreferences } from "./preferences.js";
import { mayAdminister, mayOperate, session, signOut } from "./session.js";
import AlarmBanner from "./components/AlarmBanner.js";
import ActivityView from "./views/ActivityView.js";
import AlarmsView from "./views/AlarmsView.js";
import ControllersView from "./views/ControllersView.js";
import DashboardView from "./views/DashboardView.js";
import DatapointsView from "./views/DatapointsView.js";
import EventsView from "./views/EventsView.js";
import ExperimentsView from "./views/ExperimentsView.js";
import LoginView from "./views/LoginView.js";
import SessionWarning from "./components/SessionWarning.js";
import ThemeToggle from "./components/ThemeToggle.js";
import PasswordView from "./views/PasswordView.js";
import UsersView from "./views/UsersView.js";

// `allowed`: who sees the route and its link; anyone else gets the dashboard (the API refuses them anyway).
// A route may carry a query after "?" (#/activity?subject=alm_1): the view reads it.
const ROUTES = {
  "#/": { view: DashboardView },
  "#/datapoints": { view: DatapointsView },
  "#/alarms": { view: AlarmsView },
  "#/controllers": { view: ControllersView, allowed: mayOperate },
  "#/activity": { view: ActivityView, allowed: mayOperate },
  "#/events": { view: EventsView },
  "#/experiments": { view: ExperimentsView },
  "#/users": { view: UsersView, allowed: mayAdminister },
  "#/password": { view: PasswordView },
};

function routeOf(hash) {
  // Signed in with a one-time password: nothing else until the user has chosen their own.
  if (session.user?.must_change_password) return "#/password";
  const path = hash.split("?")[0];
  const route = ROUTES[path];
  return route && (!route.allowed || route.allowed()) ? path : "#/";
}

const App = {
  components: { AlarmBanner, LoginView, SessionWarning, ThemeToggle },
  setup() {
    const hash = ref(location.hash);
    window.addEventListener("hashchange", () => { hash.value = location.hash; });
    const route = computed(() => routeOf(hash.value));  // follows the signed-in role too
    const view = computed(() => ROUTES[route.value].view);

    async function logOut() {
      try {
        await flushPreferences();  // a choice made just before signing out is kept
        await api("POST", "/auth/logout");
      } finally {
        signOut();
      }
    }
    return { session, route, view, logOut, mayOperate, mayAdminister };
  },
  template: `
    <LoginView v-if="!session.user" />
    <template v-else>
      <header class="top">
        <strong>WebMACS</strong>
        <nav v-if="!session.user?.must_change_password">
          <a href="#/" :class="{ active: route === '#/' }" :aria-current="route === '#/' ? 'page' : undefined">Dashboard</a>
          <a href="#/datapoints" :class="{ active: route === '#/datapoints' }"
            :aria-current="route === '#/datapoints' ? 'page' : undefined">Datapoints</a>
          <a href="#/alarms" :class="{ active: route === '#/alarms' }"
            :aria-current="route === '#/alarms' ? 'page' : undefined">Alarms</a>
          <a v-if="mayOperate()" href="#/controllers" :class="{ active: route === '#/controllers' }"
            :aria-current="route === '#/controllers' ? 'page' : undefined">Controllers</a>
          <a v-if="mayOperate()" href="#/activity" :class="{ active: route === '#/activity' }"
            :aria-current="route === '#/activity' ? 'page' : undefined">Activity</a>
          <a href="#/events" :class="{ active: route === '#/events' }"
            :aria-current="route === '#/events' ? 'page' : undefined">Events</a>
          <a href="#/experiments" :class="{ active: route === '#/experiments' }"
            :aria-current="route === '#/experiments' ? 'page' : undefined">Experiments</a>
          <a v-if="mayAdminister()" href="#/users" :class="{ active: route === '#/users' }"
            :aria-current="route === '#/users' ? 'page' : undefined">Users</a>
        </nav>
        <span class="muted">{{ session.user?.email }} ({{ session.user?.role }})</span>
        <a href="#/password" :aria-current="route === '#/password' ? 'page' : undefined">Change my password</a>
        <button class="link" @click="logOut">Sign out</button>
        <ThemeToggle />
      </header>
      <SessionWarning />
      <AlarmBanner />
      <component :is="view" :key="route" />
    </template>`,
};

createApp(App).mount("#app");
