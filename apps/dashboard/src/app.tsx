import { lazy, Suspense, useEffect, useState, type ComponentType, type LazyExoticComponent } from 'react';
import { session } from './api/client';
import type { User } from './api/types';
import { can, UserContext, type Capability } from './auth';
import { Login } from './pages/login';
import { href, useRoute, type Route } from './router';

// Each page is its own chunk: the first load fetches the shell and the page it opens on. The
// overview's chunk starts loading with the shell, while the session resumes, not after it.
const loadOverview = () => import('./pages/overview');
if (window.location.hash.replace(/^#\/?/, '') === '') void loadOverview();
const Overview = lazy(loadOverview);
const Devices = lazy(() => import('./pages/devices'));
const DeviceDetail = lazy(() => import('./pages/device-detail'));
const Patients = lazy(() => import('./pages/patients'));
const Machines = lazy(() => import('./pages/machines'));
const Alerts = lazy(() => import('./pages/alerts'));
const Lake = lazy(() => import('./pages/lake'));
const Rules = lazy(() => import('./pages/rules'));
const Admin = lazy(() => import('./pages/admin'));
const BenchChart = lazy(() => import('./pages/bench-chart'));

interface Page {
  path: string;
  label: string;
  component: LazyExoticComponent<ComponentType<{ route: Route }>>;
  needs?: Capability;
}

const PAGES: Page[] = [
  { path: '', label: 'Overview', component: Overview },
  { path: 'devices', label: 'Devices', component: Devices },
  { path: 'patients', label: 'Patients', component: Patients, needs: 'patients' },
  { path: 'machines', label: 'Machines', component: Machines, needs: 'machines' },
  { path: 'alerts', label: 'Alerts', component: Alerts, needs: 'alerts:read' },
  { path: 'lake', label: 'Lake', component: Lake, needs: 'lake:query' },
  { path: 'rules', label: 'Rules', component: Rules, needs: 'rules:read' },
  { path: 'admin', label: 'Admin', component: Admin, needs: 'users:manage' },
];

export function App() {
  const route = useRoute();
  const [user, setUser] = useState<User | undefined>(session.user);
  const [resuming, setResuming] = useState(true);
  useEffect(() => {
    const off = session.subscribe(setUser);
    void session.resume().finally(() => setResuming(false));
    return off;
  }, []);

  // The frame-time benchmark page needs no data and no sign-in (bench/dashboard.ts).
  if (route.parts[0] === 'bench') {
    return (
      <Suspense fallback={<p>Loading…</p>}>
        <BenchChart route={route} />
      </Suspense>
    );
  }
  if (resuming && !user) return <p className="loading" role="status">Loading…</p>;
  if (!user) return <Login />;

  const visible = PAGES.filter((p) => !p.needs || can(user, p.needs));
  const top = route.parts[0] ?? '';
  const page = top === 'devices' && route.parts[1] ? { component: DeviceDetail, label: 'Device' } : visible.find((p) => p.path === top);
  const Component = page?.component;
  return (
    <UserContext.Provider value={user}>
      <a className="skip" href="#main" onClick={(e) => { e.preventDefault(); document.getElementById('main')?.focus(); }}>Skip to content</a>
      <div className="layout">
        <header className="top">
          <span className="brand">Strata</span>
          <nav aria-label="Main">
            <ul>
              {visible.map((p) => (
                <li key={p.path}>
                  <a href={href(p.path)} aria-current={top === p.path ? 'page' : undefined}>{p.label}</a>
                </li>
              ))}
            </ul>
          </nav>
          <span className="who">
            <span title={`role: ${user.role}`}>{user.username} ({user.role})</span>
            <button type="button" onClick={() => void session.logout()}>Sign out</button>
          </span>
        </header>
        <main id="main" tabIndex={-1}>
          <Suspense fallback={<p role="status">Loading…</p>}>
            {Component ? <Component route={route} /> : <NotFound />}
          </Suspense>
        </main>
      </div>
    </UserContext.Provider>
  );
}

function NotFound() {
  return (
    <section>
      <h1>Not here</h1>
      <p>This page does not exist or your role may not see it. <a href={href('')}>Go to the overview</a>.</p>
    </section>
  );
}
