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
    'common.save': '保存',
    'common.more': '加载更多',
    'map.loading': '正在加载网格：{count}',
    'map.grids': '网格 {count} 个',
    'map.hazards': '隐患 {count} 条',
    'map.settings': '地图设置',
    'map.recent': '最新隐患',
    'map.nogrid': '网格外',
    'map.grid': '网格',
    'map.zoom': '定位到地图',
    'map.tile_url': '底图瓦片地址（可选）',
    'map.crs': '底图坐标系',
    'map.tile_hint': '不填则以网格边界为地图。国内底图多用 GCJ-02，请选择与底图一致的坐标系。',
    'crs.wgs84': 'WGS-84（GPS）',
    'crs.gcj02': 'GCJ-02（高德、腾讯）',
    'crs.bd09': 'BD-09（百度）',
    'hazard.id': '编号',
    'hazard.severity': '级别',
    'hazard.kind': '类型',
    'hazard.rule': '隐患',
    'hazard.status': '状态',
    'hazard.grid': '网格',
    'hazard.device': '设备',
    'hazard.unit': '单位',
    'hazard.opened': '发生时间',
    'hazard.occurrences': '次数',
    'hazard.acked_by': '确认人',
    'hazard.note': '备注',
    'ack.note': '确认备注',
    'ack.submit': '确认',
    'fire.title': '确认火警',
    'fire.count': '{count} 起火警等待确认。确认后警报停止。',
    'fire.ack': '确认火警',
    'countdown.days': '{days}天',
    'countdown.overdue': '已超时',
    'countdown.paused': '挂账中',
    'case.id': '工单号',
    'case.category': '类别',
    'case.urgency': '紧急程度',
    'case.status': '状态',
    'case.assignee': '处置人',
    'case.unassigned': '未分派',
    'case.escalation': '升级',
    'case.stage': '环节',
    'case.deadline': '剩余时限',
    'case.created': '立案时间',
    'case.more': '仅显示最近 {count} 条工单，请按状态筛选。',
    'case_status.reported': '已上报',
    'case_status.filed': '已立案',
    'case_status.dispatched': '已派遣',
    'case_status.signed': '已签收',
    'case_status.handled': '已处置',
    'case_status.verified': '已核查',
    'case_status.closed': '已结案',
    'case_status.returned': '已退回',
    'stage.file': '立案',
    'stage.sign': '签收',
    'stage.handle': '处置',
    'stage.verify': '核查',
    'urgency.urgent': '紧急',
    'urgency.normal': '一般',
    'category.fire': '火警',
    'category.hydrant_problem': '消火栓问题',
    'category.extinguisher_problem': '灭火器问题',
    'category.damaged_facility': '设施损坏',
    'category.blocked_exit': '安全出口堵塞',
    'category.ebike_indoor_charging': '电动车室内充电',
    'category.illegal_wiring': '私拉乱接',
    'category.crowded_rental': '群租',
    'category.combustibles_in_corridor': '楼道堆物',
    'category.other': '其他',
    'kind.device_event': '设备事件',
    'kind.threshold': '阈值',
    'kind.sudden_drop': '骤降',
    'kind.silence': '离线',
    'kind.correlation': '联动确认',
    'kind.false_alarms': '误报',
    'kind.patrol_compliance': '巡查',
    'kind.report': '网格员上报',
    'rule.smoke_alarm': '烟感报警',
    'rule.smoke_confirmed_fire': '确认火警（两个烟感）',
    'rule.smoke_with_pressure_drop': '烟感报警且水压骤降',
    'rule.smoke_fault': '烟感故障',
    'rule.smoke_low_battery': '烟感电量低',
    'rule.smoke_tamper': '烟感被拆',
    'rule.smoke_silence': '烟感离线',
    'rule.transmission_fire_alarm': '传输装置火警',
    'rule.transmission_fault': '传输装置故障',
    'rule.transmission_silence': '传输装置离线',
    'rule.hydrant_municipal_low': '市政消火栓水压低',
    'rule.hydrant_municipal_high': '市政消火栓水压高',
    'rule.hydrant_indoor_low': '室内消火栓水压低',
    'rule.hydrant_indoor_high': '室内消火栓水压高',
    'rule.hydrant_cap_open': '消火栓盖被打开',
    'rule.hydrant_tilt': '消火栓倾斜',
    'rule.hydrant_fault': '消火栓设备故障',
    'rule.hydrant_low_battery': '消火栓设备电量低',
    'rule.water_tank_low': '消防水箱水位低',
    'rule.extinguisher_pressure_low': '灭火器压力低',
    'rule.extinguisher_scrap': '灭火器到期报废',
    'rule.extinguisher_service_due': '灭火器需维修',
    'rule.extinguisher_monthly_check': '灭火器月检逾期',
    'rule.hydrant_sudden_drop': '消火栓水压骤降',
    'rule.extinguisher_moved': '灭火器被移动',
    'rule.unit_false_alarms': '误报过多',
    'rule.grid_patrol': '巡查不足',
    'rule.worker_report': '网格员上报',
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
    'common.save': 'Save',
    'common.more': 'Load more',
    'map.loading': 'Loading grids: {count}',
    'map.grids': '{count} grids',
    'map.hazards': '{count} hazards',
    'map.settings': 'Map settings',
    'map.recent': 'Latest hazards',
    'map.nogrid': 'outside the grids',
    'map.grid': 'Grid',
    'map.zoom': 'Show on the map',
    'map.tile_url': 'Tile URL (optional)',
    'map.crs': 'Tile coordinate system',
    'map.tile_hint': 'Without tiles the grid polygons are the map. Most Chinese tile providers use GCJ-02: pick the one your tiles use.',
    'crs.wgs84': 'WGS-84 (GPS)',
    'crs.gcj02': 'GCJ-02 (Amap, Tencent)',
    'crs.bd09': 'BD-09 (Baidu)',
    'hazard.id': 'ID',
    'hazard.severity': 'Severity',
    'hazard.kind': 'Kind',
    'hazard.rule': 'Hazard',
    'hazard.status': 'Status',
    'hazard.grid': 'Grid',
    'hazard.device': 'Device',
    'hazard.unit': 'Unit',
    'hazard.opened': 'Opened',
    'hazard.occurrences': 'Occurrences',
    'hazard.acked_by': 'Acknowledged by',
    'hazard.note': 'Note',
    'ack.note': 'Note',
    'ack.submit': 'Acknowledge',
    'fire.title': 'CONFIRMED FIRE',
    'fire.count': '{count} fire(s) waiting for acknowledgement. The alarm stops once acknowledged.',
    'fire.ack': 'Acknowledge the fire',
    'countdown.days': '{days}d',
    'countdown.overdue': 'Overdue',
    'countdown.paused': 'Paused',
    'case.id': 'Case',
    'case.category': 'Category',
    'case.urgency': 'Urgency',
    'case.status': 'Status',
    'case.assignee': 'Assignee',
    'case.unassigned': 'unassigned',
    'case.escalation': 'Escalation',
    'case.stage': 'Stage',
    'case.deadline': 'Time left',
    'case.created': 'Created',
    'case.more': 'Only the latest {count} cases are shown: filter by status.',
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
