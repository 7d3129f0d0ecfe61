import { Api, ApiError } from './api';
import { ConnectionsView } from './connections-view';
import { byId } from './format';
import { LogsView } from './logs-view';
import { ProxiesView } from './proxies-view';
import { RulesView } from './rules-view';
import { TrafficView } from './traffic-view';

const SECRET_KEY = 'sluice.secret';

/** A view the tabs switch to. */
interface View {
  shown?(): void;
  hidden?(): void;
}

/** Asks for the secret until the API accepts it; it is kept in this browser's localStorage. */
async function authenticate(): Promise<Api> {
  let secret = localStorage.getItem(SECRET_KEY) ?? '';
  const form = byId<HTMLFormElement>('login');
  for (;;) {
    const api = new Api(secret);
    try {
      const { version } = await api.get<{ version: string }>('/version');
      localStorage.setItem(SECRET_KEY, secret);
      byId('status').textContent = version;
      form.hidden = true;
      return api;
    } catch (err) {
      if (!(err instanceof ApiError) || err.status !== 401) throw err;
      form.hidden = false;
      byId('login-error').textContent = secret === '' ? '' : 'That secret was refused.';
      byId<HTMLInputElement>('secret').focus();
      secret = await new Promise<string>((resolve) => {
        form.onsubmit = (e) => {
          e.preventDefault();
          resolve(byId<HTMLInputElement>('secret').value);
        };
      });
    }
  }
}

async function main(): Promise<void> {
  const api = await authenticate();
  byId('app').hidden = false;
  const views: Record<string, View> = {
    connections: new ConnectionsView(api),
    traffic: new TrafficView(api),
    rules: new RulesView(api),
    proxies: new ProxiesView(api),
    logs: new LogsView(api),
  };
  const show = (name: string): void => {
    if (!(name in views)) name = 'connections';
    for (const [n, v] of Object.entries(views)) {
      const section = byId(`view-${n}`);
      const was = !section.hidden;
      section.hidden = n !== name;
      if (n === name) v.shown?.();
      else if (was) v.hidden?.();
    }
    for (const b of document.querySelectorAll<HTMLElement>('#tabs button')) b.classList.toggle('active', b.dataset.view === name);
  };
  for (const b of document.querySelectorAll<HTMLElement>('#tabs button')) b.addEventListener('click', () => (location.hash = b.dataset.view!));
  window.addEventListener('hashchange', () => show(location.hash.slice(1)));
  show(location.hash.slice(1));
}

// Actions run as fire-and-forget promises (close, select, test): a failure shows in the header instead of vanishing.
window.addEventListener('unhandledrejection', (e) => {
  byId('status').textContent = `error: ${(e.reason as Error)?.message ?? String(e.reason)}`;
});

main().catch((err: Error) => {
  byId('status').textContent = `error: ${err.message}`;
});
