// Labels in zh-CN (the default) and English, all in this one dictionary. The operator's choice
// is remembered in localStorage. Keys are "<page or area>.<name>"; API values shown to the
// operator (severity, status, kind...) are looked up as "<field>.<value>" and fall back to the
// value itself, so a new kind from the rules file shows up raw rather than blank.

const LANG_KEY = 'firegrid.lang';
const LANG_EVENT = 'firegrid:lang';
export const LANGS = ['zh-CN', 'en'];

const DICT = {
  'zh-CN': {
    'app.title': '消防网格',
    'app.subtitle': '运营控制台',
    'login.title': '登录控制台',
    'login.token': '访问令牌',
    'login.hint': '粘贴管理员发放的令牌（./scripts/up 启动时打印）。令牌只保存在本标签页中。',
    'login.submit': '登录',
    'login.failed': '登录失败：{message}',
    'nav.map': '地图',
    'nav.hazards': '隐患',
    'nav.cases': '工单',
    'nav.indicators': '指标',
    'nav.logout': '退出',
    'nav.language': 'English',
    'live.connected': '实时',
    'live.connecting': '连接中…',
    'live.offline': '离线，重连中…',
    'common.loading': '加载中…',
    'common.error': '出错：{message}',
    'common.empty': '暂无数据',
    'common.all': '全部',
    'common.details': '详情',
    'common.close': '关闭',
    'common.none': '—',
    'page.notfound': '没有这个页面：{path}',
    'page.todo': '此页面尚未完成。',
    'severity.critical': '紧急',
    'severity.major': '重要',
    'severity.warning': '警告',
    'severity.info': '提示',
    'status.open': '待处理',
    'status.acknowledged': '已确认',
    'status.cleared': '已消除',
  },
  en: {
    'app.title': 'FireGrid',
    'app.subtitle': 'Operations console',
    'login.title': 'Sign in to the console',
    'login.token': 'Access token',
    'login.hint':
      'Paste the token your administrator gave you (./scripts/up prints one at its first start). It is kept in this tab only.',
    'login.submit': 'Sign in',
    'login.failed': 'Sign-in failed: {message}',
    'nav.map': 'Map',
    'nav.hazards': 'Hazards',
    'nav.cases': 'Cases',
    'nav.indicators': 'Indicators',
    'nav.logout': 'Sign out',
    'nav.language': '中文',
    'live.connected': 'Live',
    'live.connecting': 'Connecting…',
    'live.offline': 'Offline, reconnecting…',
    'common.loading': 'Loading…',
    'common.error': 'Error: {message}',
    'common.empty': 'Nothing here',
    'common.all': 'All',
    'common.details': 'Details',
    'common.close': 'Close',
    'common.none': '—',
    'page.notfound': 'No such page: {path}',
    'page.todo': 'This page is not built yet.',
    'severity.critical': 'Critical',
    'severity.major': 'Major',
    'severity.warning': 'Warning',
    'severity.info': 'Info',
    'status.open': 'Open',
    'status.acknowledged': 'Acknowledged',
    'status.cleared': 'Cleared',
  },
};

let current = LANGS.includes(localStorage.getItem(LANG_KEY))
  ? localStorage.getItem(LANG_KEY)
  : 'zh-CN';
document.documentElement.lang = current;

export function getLang() {
  return current;
}

export function setLang(lang) {
  if (!LANGS.includes(lang) || lang === current) return;
  current = lang;
  localStorage.setItem(LANG_KEY, lang);
  document.documentElement.lang = lang;
  window.dispatchEvent(new Event(LANG_EVENT));
}

// Call `handler` after the language changed (the app re-renders everything).
export function onLangChange(handler) {
  window.addEventListener(LANG_EVENT, handler);
  return () => window.removeEventListener(LANG_EVENT, handler);
}

// The label for `key` in the current language, "{name}" replaced from `vars`; English, then the
// key itself, when a translation is missing, so a gap is visible but never empty.
export function t(key, vars = {}) {
  const text = DICT[current][key] ?? DICT.en[key] ?? key;
  return text.replace(/\{(\w+)\}/g, (_, name) => (name in vars ? String(vars[name]) : `{${name}}`));
}

// The label of an API value (severity, status, kind...): "<field>.<value>", else the value.
export function label(field, value) {
  if (value === null || value === undefined) return t('common.none');
  const key = `${field}.${value}`;
  const text = t(key);
  return text === key ? String(value) : text;
}

// Times as the operator's locale writes them, in the browser's time zone.
export function formatTime(iso) {
  if (!iso) return t('common.none');
  return new Date(iso).toLocaleString(current, { hour12: false });
}
