// The console's shell: login, the top bar (navigation, live status, language, logout), the
// hash router that shows one page at a time, and the confirmed-fire takeover above all pages.

import { html, render } from 'htm/preact';
import { useEffect, useState } from 'preact/hooks';
import { apiGet, getToken, logout, onLogout, setToken } from './api.js';
import { FireTakeover } from './fire.js';
import { getLang, onLangChange, setLang, t } from './i18n.js';
import { startLive, stopLive, watchStatus } from './live.js';
import { DEFAULT_PATH, ROUTES, matchRoute } from './routes.js';
import { unlockSound } from './sound.js';

function useHash() {
  const [hash, setHash] = useState(location.hash);
  useEffect(() => {
    const changed = () => setHash(location.hash);
    window.addEventListener('hashchange', changed);
    return () => window.removeEventListener('hashchange', changed);
  }, []);
  return hash;
}

function Login({ onDone }) {
  const [token, setValue] = useState('');
  const [error, setError] = useState(null);
  const [busy, setBusy] = useState(false);
  const submit = async (event) => {
    event.preventDefault();
    // The click is the user gesture browsers want before they play sound: the fire alarm's
    // audio is unlocked now, so a fire arriving later is heard without another click.
    unlockSound();
    setBusy(true);
    setError(null);
    const candidate = token.trim();
    try {
      await apiGet('/hazards', { limit: 1 }, { token: candidate }); // does the API accept it?
      setToken(candidate);
      onDone();
    } catch (err) {
      setError(err.message);
    } finally {
      setBusy(false);
    }
  };
  return html`
    <main class="login">
      <form class="login-card" onSubmit=${submit} data-testid="login-form">
        <h1>${t('app.title')}</h1>
        <p class="muted">${t('app.subtitle')}</p>
        <label for="token">${t('login.title')}</label>
        <input id="token" name="token" type="password" autocomplete="off" required
          placeholder=${t('login.token')} value=${token}
          onInput=${(e) => setValue(e.currentTarget.value)} />
        <p class="hint">${t('login.hint')}</p>
        ${error && html`<p class="error" role="alert">${t('login.failed', { message: error })}</p>`}
        <button type="submit" disabled=${busy}>${t('login.submit')}</button>
        <button type="button" class="link" onClick=${() => setLang(getLang() === 'en' ? 'zh-CN' : 'en')}>
          ${t('nav.language')}
        </button>
      </form>
    </main>`;
}

function LiveBadge() {
  const [status, setStatus] = useState('offline');
  useEffect(() => watchStatus(setStatus), []);
  return html`<span class=${`live live-${status}`} data-testid="live-status">${t(`live.${status}`)}</span>`;
}

function TopBar({ current }) {
  return html`
    <header class="topbar">
      <a class="brand" href=${`#${DEFAULT_PATH}`}>${t('app.title')}</a>
      <nav data-testid="nav">
        ${ROUTES.filter((r) => r.nav).map(
          (r) => html`<a href=${`#${r.path}`} class=${current === r ? 'active' : ''}>${t(r.nav)}</a>`,
        )}
      </nav>
      <span class="spacer"></span>
      <${LiveBadge} />
      <button class="link" onClick=${() => setLang(getLang() === 'en' ? 'zh-CN' : 'en')}>
        ${t('nav.language')}
      </button>
      <button class="link" onClick=${logout} data-testid="logout">${t('nav.logout')}</button>
    </header>`;
}

// Loaded page modules, by route: each is imported once, the first time it is shown.
const loaded = new Map();

function Page({ match }) {
  const [, setTick] = useState(0);
  const [error, setError] = useState(null);
  const route = match?.route;
  useEffect(() => {
    if (!route || loaded.has(route)) return;
    route.load().then(
      (module) => {
        loaded.set(route, module.default);
        setTick((n) => n + 1);
      },
      (err) => setError(err.message),
    );
  }, [route]);
  if (!match) return html`<p class="error">${t('page.notfound', { path: location.hash })}</p>`;
  if (error) return html`<p class="error">${t('common.error', { message: error })}</p>`;
  const Component = loaded.get(route);
  if (!Component) return html`<p class="muted">${t('common.loading')}</p>`;
  return html`<${Component} params=${match.params} query=${match.query} />`;
}

function Console() {
  const hash = useHash();
  const match = matchRoute(hash);
  useEffect(() => {
    startLive();
    return stopLive;
  }, []);
  return html`
    <div class="shell">
      <${TopBar} current=${match?.route} />
      <main class=${`page page-${match?.route.path.split('/')[1] ?? 'none'}`} key=${hash}>
        <${Page} match=${match} />
      </main>
      <${FireTakeover} />
    </div>`;
}

function App() {
  const [signedIn, setSignedIn] = useState(getToken() !== null);
  const [lang, setLangState] = useState(getLang());
  useEffect(() => onLogout(() => setSignedIn(false)), []);
  useEffect(() => onLangChange(() => setLangState(getLang())), []);
  // key=lang: a language switch redraws every label, including those pages computed once.
  if (!signedIn) return html`<${Login} key=${lang} onDone=${() => setSignedIn(true)} />`;
  return html`<${Console} key=${lang} />`;
}

render(html`<${App} />`, document.getElementById('app'));
