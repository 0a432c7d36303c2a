// The console's only way to the API: the operator's bearer token on every request, errors in
// the API's envelope ({"error": {"code", "message", "details"}}) thrown as ApiError whose
// message is shown to the operator, and a 401 (token revoked or expired) sends back to login.

const TOKEN_KEY = 'firegrid.token';
const LOGOUT_EVENT = 'firegrid:logout';

// sessionStorage, not localStorage: the token dies with the tab and never enters a URL.
export function getToken() {
  return sessionStorage.getItem(TOKEN_KEY);
}

export function setToken(token) {
  sessionStorage.setItem(TOKEN_KEY, token);
}

export function logout() {
  sessionStorage.removeItem(TOKEN_KEY);
  window.dispatchEvent(new Event(LOGOUT_EVENT));
}

// Call `handler` when the console loses its token (logout, or a 401 anywhere).
export function onLogout(handler) {
  window.addEventListener(LOGOUT_EVENT, handler);
  return () => window.removeEventListener(LOGOUT_EVENT, handler);
}

export class ApiError extends Error {
  constructor(status, code, message, details) {
    super(message);
    this.status = status;
    this.code = code;
    this.details = details;
  }
}

// Build "/api/v1/<path>?k=v": params whose value is null, undefined or "" are left out, so a
// page can pass its filter state as it is (the API refuses unknown or empty filters).
export function apiUrl(path, params = {}) {
  const query = new URLSearchParams();
  for (const [key, value] of Object.entries(params)) {
    if (value !== null && value !== undefined && value !== '') query.append(key, String(value));
  }
  const text = query.toString();
  return `/api/v1${path}${text ? `?${text}` : ''}`;
}

async function request(method, path, { params, body, token } = {}) {
  const headers = { Accept: 'application/json' };
  const bearer = token ?? getToken();
  if (bearer) headers.Authorization = `Bearer ${bearer}`;
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  let answer;
  try {
    answer = await fetch(apiUrl(path, params), {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  } catch (err) {
    throw new ApiError(0, 'network', `network: ${err.message}`);
  }
  const payload = await answer.json().catch(() => null);
  if (answer.ok) return payload;
  const error = payload?.error ?? {};
  const failure = new ApiError(
    answer.status,
    error.code ?? 'http_error',
    error.message ?? `HTTP ${answer.status}`,
    error.details,
  );
  // An explicit token is a login attempt: its 401 is the form's error, not a logout.
  if (answer.status === 401 && token === undefined) logout();
  throw failure;
}

export const apiGet = (path, params, options = {}) => request('GET', path, { params, ...options });
export const apiPost = (path, body, options = {}) =>
  request('POST', path, { body, ...options });

// Every item of a list, following next_cursor (CONTRACT §4 lists); `onPage` sees each page as
// it arrives so a page can draw while the rest is loading.
export async function apiAll(path, params = {}, onPage = null) {
  const items = [];
  let cursor = null;
  do {
    const page = await apiGet(path, { ...params, cursor });
    items.push(...page.items);
    if (onPage) onPage(page.items, page);
    cursor = page.next_cursor;
  } while (cursor);
  return items;
}
