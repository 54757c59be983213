// The web console: a small single-page app over /api/v1 (hash routes, no build step).
import { api, apiCall, ApiError, download, enc, newIdempotencyKey, session, setUnauthorizedHandler } from './api.js';
import { dailyChart, fillDays, SERIES } from './chart.js';
import { formatDate, parseDate } from './dates.js';
import { clear, h, s as svgEl } from './dom.js';
import { lang, LANGS, setLang, t } from './i18n.js';

const POLL_MS = 3000;
const LANG_KEY = 'qc.lang';
const ACCOUNT_KEY = 'qc.account';
const STATUSES = ['pending', 'dialing', 'completed', 'failed', 'expired', 'cancelled'];
const STRATEGIES = ['ring-all', 'round-robin', 'longest-idle'];
// the prompts a department may replace (src/domain/model.ts PROMPT_NAMES)
const PROMPT_NAMES = ['offer', 'confirmation', 'requestFailed', 'whisper', 'customerNoAnswer', 'connecting', 'outOfHours', 'confirmationNextOpening', 'holdForEmployee', 'customerConfirm'];
// how callbacks are delivered (src/domain/model.ts DELIVERY_MODES)
const DELIVERY_MODES = ['employee-first', 'customer-first'];
// src/domain/business-hours.ts WEEKDAYS
const WEEKDAYS = ['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun'];

/** "09:00-13:00, 14:00-18:00" → intervals; a piece that does not parse is sent as it is, so the API names the bad field */
function parseIntervals(text) {
  return String(text)
    .split(',')
    .map((p) => p.trim())
    .filter(Boolean)
    .map((p) => {
      const m = /^(\S+?)\s*[-–]\s*(\S+)$/.exec(p);
      return m ? { from: m[1], to: m[2] } : { from: p, to: '' };
    });
}
const formatIntervals = (list) => (list ?? []).map((i) => `${i.from}-${i.to}`).join(', ');

/** The announcements fieldset of the department form (src/domain/announcement.ts) and a reader of what it holds. */
function announcementsFieldset(a) {
  const v = a ?? { position: false, waitTime: false, waitTimeCapMinutes: 30 };
  const interval = numberInput('announcements.intervalS', v.intervalS ?? '', { min: '5', max: '3600', required: false, 'data-testid': 'department-announce-interval' });
  const cap = select('announcements.waitTimeCapMinutes', Array.from({ length: 24 }, (_, i) => [String((i + 1) * 5), String((i + 1) * 5)]), String(v.waitTimeCapMinutes), { 'data-testid': 'department-announce-cap' });
  const el = h(
    'fieldset',
    { 'data-testid': 'department-announcements' },
    h('legend', {}, t('announce.title')),
    h('p', { class: 'hint fieldset-hint' }, t('announce.hint')),
    checkbox('announcements.position', t('announce.position'), v.position, 'department-announce-position'),
    checkbox('announcements.waitTime', t('announce.waitTime'), v.waitTime, 'department-announce-wait'),
    h('div', { class: 'grid2' }, unitField(t('announce.interval'), interval, t('unit.s')), unitField(t('announce.cap'), cap, t('unit.min'))),
    h('p', { class: 'hint' }, t('announce.intervalHint')),
  );
  /** what the form says: undefined when nothing is to be announced */
  const read = (form) => {
    const position = form.elements.namedItem('announcements.position').checked;
    const waitTime = form.elements.namedItem('announcements.waitTime').checked;
    if (!position && !waitTime) return undefined;
    const out = { position, waitTime, waitTimeCapMinutes: Number(cap.value) };
    if (String(interval.value).trim() !== '') out.intervalS = Number(interval.value);
    return out;
  };
  return { el, read };
}

/** The business-hours fieldset of the department form and a reader of what it holds. */
function businessHoursFieldset(bh) {
  const v = bh ?? {
    timeZone: 'Europe/Moscow',
    weekly: Object.fromEntries(WEEKDAYS.map((d) => [d, ['sat', 'sun'].includes(d) ? [] : [{ from: '09:00', to: '18:00' }]])),
    exceptions: [],
    outsideHoursOffer: 'none',
    windowOutsideHours: 'carry-over',
  };
  const zones = typeof Intl.supportedValuesOf === 'function' ? Intl.supportedValuesOf('timeZone') : [];
  if (!zones.includes(v.timeZone)) zones.unshift(v.timeZone);
  const enabled = h('input', { type: 'checkbox', id: 'bh-enabled', name: 'businessHoursEnabled', checked: Boolean(bh), 'data-testid': 'department-hours-enabled' });
  const dayInputs = WEEKDAYS.map((d) =>
    h('input', { name: `businessHours.weekly.${d}`, value: formatIntervals(v.weekly[d]), placeholder: t('hours.closed'), 'data-testid': `department-hours-${d}`, 'aria-label': t(`weekday.${d}`) }),
  );
  const exceptionList = h('div', { class: 'exceptions', 'data-testid': 'department-hours-exceptions' });
  const addException = (e) => {
    const i = exceptionList.children.length;
    const row = h(
      'div',
      { class: 'exception-row grid2' },
      h('input', { type: 'date', name: `businessHours.exceptions.${i}.date`, value: e.date, 'aria-label': t('hours.date'), required: true }),
      h('input', { name: `businessHours.exceptions.${i}.hours`, value: formatIntervals(e.hours), placeholder: t('hours.closed'), 'aria-label': t('hours.special') }),
      h('button', { type: 'button', class: 'btn btn-danger-ghost', onclick: () => row.remove() }, t('common.delete')),
    );
    exceptionList.append(row);
  };
  v.exceptions.forEach(addException);
  const el = h(
    'fieldset',
    { 'data-testid': 'department-hours' },
    h('legend', {}, t('hours.title')),
    h('div', { class: 'check' }, enabled, h('label', { for: 'bh-enabled' }, t('hours.enabled'))),
    h('p', { class: 'hint fieldset-hint' }, t('hours.hint')),
    h(
      'div',
      { class: 'grid2' },
      field(t('hours.timeZone'), select('businessHours.timeZone', zones.map((z) => [z, z]), v.timeZone, { 'data-testid': 'department-hours-tz' })),
      field(t('hours.outsideOffer'), select('businessHours.outsideHoursOffer', [['none', t('hours.offer.none')], ['prompt', t('hours.offer.prompt')]], v.outsideHoursOffer)),
      field(t('hours.window'), select('businessHours.windowOutsideHours', [['carry-over', t('hours.window.carry-over')], ['expire', t('hours.window.expire')]], v.windowOutsideHours)),
    ),
    h(
      'table',
      { class: 'weekly', 'data-testid': 'department-hours-weekly' },
      h('thead', {}, h('tr', {}, h('th', {}, t('hours.day')), h('th', {}, t('hours.intervals')))),
      h('tbody', {}, WEEKDAYS.map((d, i) => h('tr', {}, h('th', { scope: 'row' }, t(`weekday.${d}`)), h('td', {}, dayInputs[i])))),
    ),
    h('h3', {}, t('hours.exceptions')),
    h('p', { class: 'hint' }, t('hours.exceptionsHint')),
    exceptionList,
    h('button', { type: 'button', class: 'btn', 'data-testid': 'department-hours-add-exception', onclick: () => addException({ date: '', hours: [] }) }, t('hours.addException')),
  );
  /** what the form says: undefined when switched off */
  const read = (form) => {
    if (!enabled.checked) return undefined;
    const f = new FormData(form);
    return {
      timeZone: String(f.get('businessHours.timeZone')),
      weekly: Object.fromEntries(WEEKDAYS.map((d, i) => [d, parseIntervals(dayInputs[i].value)])),
      exceptions: [...exceptionList.children].map((row) => {
        const [date, hours] = row.querySelectorAll('input');
        return { date: date.value, hours: parseIntervals(hours.value) };
      }),
      outsideHoursOffer: String(f.get('businessHours.outsideHoursOffer')),
      windowOutsideHours: String(f.get('businessHours.windowOutsideHours')),
    };
  };
  return { el, read };
}

// src/domain/offer-rules.ts offerRulesSchema (thresholds, then capacity) and src/domain/wait-estimate.ts DEFAULT_WAIT_ESTIMATE
const OFFER_THRESHOLDS = ['minEstimatedWaitS', 'minPosition', 'minWaitedS'];
const DEFAULT_WAIT_ESTIMATE = { defaultHandleTimeS: 180, smoothingS: 3600 };

/** The offer-rules and wait-estimate fieldset of the department form, and a reader of what it holds (docs/ewt.md). */
function offerRulesFieldset(rules, estimate) {
  const r = rules ?? {};
  const optional = (name, value, attrs = {}) =>
    h('input', { type: 'number', name, value: value === undefined ? '' : String(value), min: '0', step: 'any', inputmode: 'decimal', 'data-testid': `department-${name.replace('.', '-')}`, ...attrs });
  const thresholds = OFFER_THRESHOLDS.map((k) => {
    const input = optional(`offerRules.${k}`, r[k], k === 'minPosition' ? { min: '1', step: '1' } : {});
    return k === 'minPosition' ? field(t(`offers.${k}`), input) : unitField(t(`offers.${k}`), input, t('unit.s'));
  });
  const capacity = optional('offerRules.maxPendingCallbacks', r.maxPendingCallbacks, { step: '1' });
  const beyond = checkbox('offerRules.pauseBeyondWindow', t('offers.pauseBeyondWindow'), r.pauseBeyondWindow === true, 'department-offerRules-pauseBeyondWindow');
  const e = estimate ?? {};
  const aht = optional('waitEstimate.defaultHandleTimeS', e.defaultHandleTimeS, { min: '1', placeholder: String(DEFAULT_WAIT_ESTIMATE.defaultHandleTimeS) });
  const smoothing = optional('waitEstimate.smoothingS', e.smoothingS, { min: '1', placeholder: String(DEFAULT_WAIT_ESTIMATE.smoothingS) });
  const el = h(
    'fieldset',
    { 'data-testid': 'department-offer-rules' },
    h('legend', {}, t('offers.title')),
    h('p', { class: 'hint fieldset-hint' }, t('offers.hint')),
    h('div', { class: 'grid2' }, thresholds, field(t('offers.maxPendingCallbacks'), capacity)),
    beyond,
    h('h3', {}, t('offers.estimate')),
    h('div', { class: 'grid2' }, unitField(t('offers.defaultHandleTimeS'), aht, t('unit.s')), unitField(t('offers.smoothingS'), smoothing, t('unit.s'))),
  );
  const num = (input) => (input.value.trim() === '' ? undefined : Number(input.value));
  /** { offerRules, waitEstimate }: undefined where nothing is set (the API then removes them or keeps the defaults) */
  const read = (form) => {
    const rulesOut = {};
    OFFER_THRESHOLDS.forEach((k, i) => {
      const v = num(thresholds[i].querySelector('input'));
      if (v !== undefined) rulesOut[k] = v;
    });
    const cap = num(capacity);
    if (cap !== undefined) rulesOut.maxPendingCallbacks = cap;
    if (form.elements.namedItem('offerRules.pauseBeyondWindow').checked) rulesOut.pauseBeyondWindow = true;
    const [a, sm] = [num(aht), num(smoothing)];
    // an empty field takes its default; the defaults alone are no settings at all
    const we = { defaultHandleTimeS: a ?? DEFAULT_WAIT_ESTIMATE.defaultHandleTimeS, smoothingS: sm ?? DEFAULT_WAIT_ESTIMATE.smoothingS };
    const waitEstimate = we.defaultHandleTimeS === DEFAULT_WAIT_ESTIMATE.defaultHandleTimeS && we.smoothingS === DEFAULT_WAIT_ESTIMATE.smoothingS ? undefined : we;
    return { offerRules: Object.keys(rulesOut).length ? rulesOut : undefined, waitEstimate };
  };
  return { el, read };
}

/** The department's line now (GET …/status), refreshed while the page is shown; says why offers are off or paused. */
function departmentStatusCard(d) {
  const box = h('dl', { class: 'kv', 'data-testid': 'department-status-values' });
  const offers = h('p', { class: 'status-offers', role: 'status', 'data-testid': 'department-offers' });
  const load = async () => {
    const s = await api('GET', `${acc()}/departments/${enc(d.id)}/status`);
    const row = (label, value, testid) => [h('dt', {}, label), h('dd', { 'data-testid': testid }, value)];
    clear(box).append(
      ...row(t('status.waitingCallers'), String(s.waitingCallers), 'status-waiting-callers'),
      ...row(t('status.pendingCallbacks'), String(s.pendingCallbacks), 'status-pending'),
      ...row(t('status.employees'), `${s.employeesLoggedIn} / ${s.employeesFree}`, 'status-employees'),
      ...row(t('status.aht'), `${fmtDuration(s.averageHandleTimeS * 1000)}${s.handleTimeSource === 'default' ? ` ${t('status.ahtDefault')}` : ''}`, 'status-aht'),
      ...row(t('status.ewt'), `${fmtDuration(s.estimatedWaitS * 1000)}${s.estimateBasis === 'longest-wait' ? ` ${t('status.ewtLongest')}` : ''}`, 'status-ewt'),
    );
    const key = s.offers.reason ?? 'offering';
    const text = t(`status.offers.${key}`, { pending: s.pendingCallbacks, capacity: d.offerRules?.maxPendingCallbacks ?? '', ewt: s.estimatedWaitS, window: d.callbackPolicy.windowS });
    clear(offers).append(text);
    offers.className = `status-offers status-${s.offers.state}`;
    offers.dataset.state = s.offers.state;
  };
  load().catch((x) => clear(offers).append(errorText(x)));
  every(POLL_MS, () => load().catch(() => undefined));
  return h('section', { class: 'card', 'aria-labelledby': 'sec-status', 'data-testid': 'department-status' }, h('h2', { id: 'sec-status' }, t('status.title')), offers, box);
}

const state = { me: null, accounts: [], accountId: null, timers: [], renderId: 0 };
const root = document.getElementById('app');

// ---- helpers ---------------------------------------------------------------------------------

const acc = () => `/accounts/${enc(state.accountId)}`;
const fmtTime = (ms) => (ms ? new Intl.DateTimeFormat(lang() === 'ru' ? 'ru-RU' : 'en-GB', { dateStyle: 'short', timeStyle: 'medium' }).format(new Date(ms)) : '—');
const fmtDay = (day) => new Intl.DateTimeFormat(lang() === 'ru' ? 'ru-RU' : 'en-GB', { day: '2-digit', month: '2-digit', timeZone: 'UTC' }).format(new Date(`${day}T00:00:00Z`));

function fmtDuration(ms) {
  if (ms === null || ms === undefined) return '—';
  const sec = Math.round(ms / 1000);
  if (sec < 60) return `${sec} ${t('unit.s')}`;
  return `${Math.floor(sec / 60)} ${t('unit.min')} ${sec % 60} ${t('unit.s')}`;
}

function stopTimers() {
  for (const id of state.timers) clearInterval(id);
  state.timers = [];
}

/** Repeats fn while the page is shown (a hidden tab does not poll). */
function every(ms, fn) {
  state.timers.push(setInterval(() => {
    if (!document.hidden) fn();
  }, ms));
}

function toast(text, kind = 'ok') {
  const el = document.getElementById('toast');
  if (!el) return;
  clear(el).append(h('div', { class: `toast toast-${kind}` }, text));
  clearTimeout(toast.timer);
  toast.timer = setTimeout(() => clear(el), 4000);
}

function errorText(err) {
  if (err instanceof ApiError) return err.field ? `${t('common.error')}: ${err.message}` : `${t('common.error')}: ${err.message}`;
  return `${t('common.error')}: ${err.message ?? err}`;
}

/** Shows an API error in the form, marking the offending field. */
function showFormError(form, err) {
  for (const el of form.querySelectorAll('[aria-invalid]')) el.removeAttribute('aria-invalid');
  const box = form.querySelector('.form-error');
  if (box) clear(box);
  if (!err) return;
  if (box) box.append(errorText(err));
  if (err instanceof ApiError && err.field) {
    // the longest prefix of the field's path that names an input (businessHours.weekly.mon.0.from → businessHours.weekly.mon)
    const parts = err.field.split('.');
    let input = null;
    for (let n = parts.length; n > 0 && !input; n--) input = form.querySelector(`[name="${CSS.escape(parts.slice(0, n).join('.'))}"]`);
    if (input) {
      input.setAttribute('aria-invalid', 'true');
      input.focus();
    }
  }
}

let fieldSeq = 0;
function field(label, input, hint) {
  const id = input.id || `f${++fieldSeq}`;
  input.id = id;
  const hintEl = hint ? h('p', { class: 'hint', id: `${id}-hint` }, hint) : null;
  if (hintEl) input.setAttribute('aria-describedby', hintEl.id);
  return h('div', { class: 'field' }, h('label', { for: id }, label), input, hintEl);
}

function checkbox(name, label, checked, testid, hint) {
  const id = `f${++fieldSeq}`;
  const input = h('input', { type: 'checkbox', id, name, checked, 'data-testid': testid });
  const hintEl = hint ? h('p', { class: 'hint', id: `${id}-hint` }, hint) : null;
  if (hintEl) input.setAttribute('aria-describedby', hintEl.id);
  return h('div', { class: 'field field-check' }, h('div', { class: 'check' }, input, h('label', { for: id }, label)), hintEl);
}

function numberInput(name, value, attrs = {}) {
  return h('input', { type: 'number', name, value: String(value), min: '1', step: 'any', inputmode: 'decimal', required: true, ...attrs });
}

/** A labelled number field with its unit shown after the input (seconds: «с» / "s"). */
function unitField(label, input, unit) {
  const f = field(label, input);
  const u = h('span', { class: 'unit', id: `${input.id}-unit`, 'data-testid': `unit-${input.name}` }, unit);
  input.setAttribute('aria-describedby', u.id);
  const row = h('div', { class: 'with-unit' });
  f.insertBefore(row, input);
  row.append(input, u);
  return f;
}

/** The prompt files as <option>s, standard then uploaded; `current` is kept even when not listed. */
function promptOptions(files, current, first) {
  const opt = (p) => h('option', { value: p.file, selected: p.file === current }, `${p.file} (${fmtDuration(p.durationMs)})`);
  const standard = files.filter((p) => p.source === 'standard');
  const uploaded = files.filter((p) => p.source === 'uploaded');
  const known = files.some((p) => p.file === current);
  return [
    first ? h('option', { value: first[0], selected: !current }, first[1]) : null,
    current && !known ? h('option', { value: current, selected: true }, t('departments.promptCurrent', { file: current })) : null,
    standard.length ? h('optgroup', { label: t('departments.standardFiles') }, standard.map(opt)) : null,
    uploaded.length ? h('optgroup', { label: t('departments.uploadedFiles') }, uploaded.map(opt)) : null,
  ];
}

/** The name an uploaded file is stored under: its name's letters, digits, - and _ (else a dated name). */
function uploadName(fileName) {
  const base = fileName.replace(/\.[^.]*$/, '').replace(/[^A-Za-z0-9_-]+/g, '-').replace(/^[-_]+|-+$/g, '').slice(0, 64);
  return base || `upload-${new Date().toISOString().replace(/\D/g, '').slice(0, 14)}`;
}

/**
 * A date field in the page's language (see dates.js): a text input, plus a button opening the
 * browser's calendar through a hidden native date input.
 */
function dateField(label, name, iso, testid) {
  const text = h('input', { type: 'text', name, value: formatDate(iso, lang()), lang: lang(), inputmode: 'numeric', autocomplete: 'off', spellcheck: 'false', maxlength: '10', placeholder: t('date.placeholder'), required: true, 'data-testid': testid });
  const native = h('input', { type: 'date', class: 'date-native', tabindex: '-1', 'aria-hidden': 'true', value: iso, onchange: () => { text.value = formatDate(native.value, lang()); } });
  const icon = svgEl('svg', { viewBox: '0 0 16 16', width: 16, height: 16, 'aria-hidden': 'true' }, svgEl('rect', { x: 1.5, y: 3, width: 13, height: 11.5, rx: 1.5, fill: 'none', stroke: 'currentColor' }), svgEl('path', { d: 'M1.5 6.5h13M5 1.5v3M11 1.5v3', stroke: 'currentColor' }));
  const pick = h('button', { type: 'button', class: 'btn date-pick', 'aria-label': t('date.pick'), title: t('date.pick'), onclick: () => {
    const cur = parseDate(text.value);
    if (cur) native.value = cur;
    try {
      native.showPicker();
    } catch {
      native.focus();
    }
  } }, icon);
  const f = field(label, text);
  const row = h('div', { class: 'date-field' });
  f.insertBefore(row, text);
  row.append(text, pick, native);
  return f;
}

/** The ISO date in a date field, or an error at that field. */
function dateValue(form, name) {
  const iso = parseDate(form.elements.namedItem(name).value);
  if (!iso) throw new ApiError(400, { error: t('date.bad'), field: name });
  return iso;
}

function select(name, options, value, attrs = {}) {
  return h('select', { name, ...attrs }, options.map(([v, label]) => h('option', { value: v, selected: v === value }, label)));
}

function pageHeader(title, ...actions) {
  return h('div', { class: 'page-head' }, h('h1', { tabindex: '-1', id: 'page-title' }, title), h('div', { class: 'page-actions' }, actions));
}

function statusBadge(status) {
  return h('span', { class: `badge badge-${status}`, 'data-testid': 'request-status', 'data-status': status }, t(`status.${status}`));
}

function onOff(v) {
  return h('span', { class: v ? 'badge badge-on' : 'badge badge-off' }, v ? t('common.on') : t('common.off'));
}

function table(headers, rows, attrs = {}) {
  if (rows.length === 0) return h('p', { class: 'empty' }, t('common.empty'));
  // each cell carries its column name, shown beside the value when a phone stacks the rows
  for (const row of rows) {
    [...row.children].forEach((td, i) => {
      const head = headers[i];
      if (typeof head === 'string') td.setAttribute('data-label', head);
    });
  }
  return h(
    'div',
    { class: 'table-wrap' },
    h('table', attrs, h('thead', {}, h('tr', {}, headers.map((x) => h('th', { scope: 'col' }, x)))), h('tbody', {}, rows)),
  );
}

// ---- shell -----------------------------------------------------------------------------------

const PAGES = [
  ['numbers', 'nav.numbers'],
  ['employees', 'nav.employees'],
  ['requests', 'nav.requests'],
  ['stats', 'nav.stats'],
  ['tariff', 'nav.tariff'],
];

function parseRoute() {
  const parts = (location.hash.replace(/^#\/?/, '') || 'numbers').split('/').map(decodeURIComponent);
  return { page: parts[0], id: parts[1] };
}

function langSwitch() {
  return h(
    'div',
    { class: 'lang', role: 'group', 'aria-label': t('lang.label') },
    LANGS.map((l) =>
      h(
        'button',
        {
          type: 'button',
          class: 'lang-btn',
          'aria-pressed': String(l === lang()),
          'data-testid': `lang-${l}`,
          lang: l,
          onclick: () => {
            localStorage.setItem(LANG_KEY, l);
            setLang(l);
            render();
          },
        },
        l.toUpperCase(),
      ),
    ),
  );
}

function accountSwitch() {
  if (state.me?.role !== 'operator') {
    const a = state.accounts[0];
    return h('div', { class: 'who' }, h('span', { class: 'who-label' }, t('account')), h('span', { class: 'who-name', 'data-testid': 'account-name' }, a ? a.name : state.accountId));
  }
  const id = 'account-select';
  return h(
    'div',
    { class: 'who' },
    h('label', { for: id, class: 'who-label' }, `${t('operator')} · ${t('account')}`),
    select(
      'account',
      state.accounts.map((a) => [a.id, `${a.name} (${a.id})`]),
      state.accountId,
      {
        id,
        'data-testid': 'account-select',
        onchange: (e) => {
          state.accountId = e.target.value;
          sessionStorage.setItem(ACCOUNT_KEY, state.accountId);
          toSection();
          render();
        },
      },
    ),
  );
}

function shell(page) {
  return h(
    'div',
    { class: 'layout' },
    h('a', { class: 'skip', href: '#main', onclick: (e) => { e.preventDefault(); document.getElementById('page-title')?.focus(); } }, t('skip')),
    h(
      'header',
      { class: 'topbar' },
      h('div', { class: 'brand' }, h('span', { class: 'logo', 'aria-hidden': 'true' }, '☎'), h('span', {}, h('strong', {}, t('brand')), h('small', {}, t('brand.sub')))),
      h(
        'div',
        { class: 'top-right' },
        accountSwitch(),
        langSwitch(),
        h('button', { type: 'button', class: 'btn btn-ghost', 'data-testid': 'signout', onclick: signOut }, t('signout')),
      ),
    ),
    h(
      'nav',
      { class: 'sidebar', 'aria-label': t('nav.label') },
      h(
        'ul',
        {},
        PAGES.map(([p, key]) =>
          h('li', {}, h('a', { href: `#/${p}`, 'data-testid': `nav-${p}`, 'aria-current': page === p || (page === 'departments' && p === 'numbers') ? 'page' : undefined }, t(key))),
        ),
      ),
    ),
    h('main', { id: 'main', class: 'content' }, h('div', { id: 'page' }, h('p', { class: 'loading' }, t('common.loading')))),
    h('div', { id: 'toast', class: 'toast-region', role: 'status', 'aria-live': 'polite', 'data-testid': 'toast' }),
  );
}

async function render() {
  stopTimers();
  const my = ++state.renderId;
  if (!session.token || !state.me) {
    renderSignIn();
    return;
  }
  const { page, id } = parseRoute();
  clear(root).append(shell(page));
  const target = document.getElementById('page');
  const pages = { numbers: numbersPage, departments: departmentPage, employees: id ? employeePage : employeesPage, requests: id === 'new' ? newRequestPage : id === 'follow-up' ? followUpPage : requestsPage, stats: statsPage, tariff: tariffPage };
  const fn = pages[page] ?? numbersPage;
  try {
    const content = await fn(id, () => my === state.renderId);
    if (my !== state.renderId) return;
    clear(target).append(content);
    document.title = `${document.getElementById('page-title')?.textContent ?? ''} — ${t('brand')}`;
    document.querySelector('.sidebar a[aria-current="page"]')?.scrollIntoView({ block: 'nearest', inline: 'nearest' });
    if (render.focusNext) document.getElementById('page-title')?.focus();
    render.focusNext = false;
  } catch (err) {
    if (my !== state.renderId) return;
    clear(target).append(h('p', { class: 'alert', role: 'alert' }, errorText(err)));
  }
}

// ---- sign-in ---------------------------------------------------------------------------------

function renderSignIn(message) {
  document.title = `${t('signin.title')} — ${t('brand')}`;
  const input = h('input', { type: 'password', name: 'token', autocomplete: 'current-password', required: true, 'data-testid': 'signin-token', spellcheck: 'false' });
  const err = h('p', { class: 'form-error', role: 'alert', 'data-testid': 'signin-error' }, message ?? '');
  const form = h(
    'form',
    {
      class: 'card signin',
      'data-testid': 'signin-form',
      onsubmit: async (e) => {
        e.preventDefault();
        clear(err);
        try {
          await signIn(input.value.trim());
        } catch (x) {
          const text = x instanceof ApiError && x.status === 429 ? t('signin.limited', { s: x.retryAfter || 60 }) : x instanceof ApiError && x.status === 401 ? t('signin.bad') : errorText(x);
          err.append(text);
          input.setAttribute('aria-invalid', 'true');
          input.focus();
        }
      },
    },
    h('h1', {}, t('signin.title')),
    h('p', { class: 'hint' }, t('signin.hint')),
    field(t('signin.token'), input),
    err,
    h('button', { type: 'submit', class: 'btn btn-primary', 'data-testid': 'signin-submit' }, t('signin.submit')),
  );
  clear(root).append(
    h(
      'div',
      { class: 'signin-page' },
      h('header', { class: 'topbar' }, h('div', { class: 'brand' }, h('span', { class: 'logo', 'aria-hidden': 'true' }, '☎'), h('span', {}, h('strong', {}, t('brand')), h('small', {}, t('brand.sub')))), h('div', { class: 'top-right' }, langSwitch())),
      h('main', { id: 'main', class: 'signin-main' }, form),
    ),
  );
  input.focus();
}

async function loadSession(token) {
  const me = await api('GET', '/me', undefined, token);
  const { items } = await api('GET', '/accounts', undefined, token);
  state.me = me;
  state.accounts = items;
  if (me.role === 'account') state.accountId = me.accountId;
  else {
    const saved = sessionStorage.getItem(ACCOUNT_KEY);
    state.accountId = items.some((a) => a.id === saved) ? saved : items[0]?.id ?? null;
  }
}

/** Drops an item id from the route (it belongs to the account shown before). */
function toSection() {
  const { page } = parseRoute();
  history.replaceState(null, '', `#/${PAGES.some(([p]) => p === page) ? page : 'numbers'}`);
}

async function signIn(token) {
  await loadSession(token);
  session.token = token;
  toSection();
  render.focusNext = true;
  render();
}

function signOut() {
  session.token = null;
  state.me = null;
  state.accounts = [];
  stopTimers();
  renderSignIn();
}

setUnauthorizedHandler(() => {
  session.token = null;
  state.me = null;
  stopTimers();
  renderSignIn(t('signin.bad'));
});

// ---- Numbers and departments -----------------------------------------------------------------

async function numbersPage() {
  const [numbers, departments, employees] = await Promise.all([
    api('GET', `${acc()}/numbers`),
    api('GET', `${acc()}/departments`),
    api('GET', `${acc()}/employees`),
  ]);
  const deptOptions = departments.items.map((d) => [d.id, d.name]);
  const empName = new Map(employees.items.map((e) => [e.id, e.name]));

  const numberRows = numbers.items.map((n) =>
    h(
      'tr',
      { 'data-testid': `number-row-${n.number}` },
      h('td', { class: 'mono' }, n.number),
      h(
        'td',
        {},
        select('departmentId', deptOptions, n.departmentId, {
          'aria-label': `${t('numbers.department')} ${n.number}`,
          onchange: async (e) => {
            try {
              await api('PATCH', `${acc()}/numbers/${enc(n.number)}`, { departmentId: e.target.value });
              toast(t('common.saved'));
            } catch (x) {
              toast(errorText(x), 'error');
            }
          },
        }),
      ),
      h(
        'td',
        { class: 'actions' },
        h('button', { type: 'button', class: 'btn btn-small btn-danger-ghost', 'aria-label': `${t('common.delete')} ${n.number}`, onclick: async () => {
          if (!confirm(t('common.confirmDelete', { name: n.number }))) return;
          try {
            await api('DELETE', `${acc()}/numbers/${enc(n.number)}`);
            toast(t('common.deleted'));
            render();
          } catch (x) {
            toast(errorText(x), 'error');
          }
        } }, t('common.delete')),
      ),
    ),
  );

  const newNumber = h('input', { name: 'number', type: 'tel', placeholder: t('numbers.placeholder'), required: true, pattern: '\\+[1-9][0-9]{6,14}', 'data-testid': 'number-new' });
  const newDept = select('departmentId', deptOptions, deptOptions[0]?.[0], { 'data-testid': 'number-new-department' });
  const addForm = h(
    'form',
    {
      class: 'inline-form',
      novalidate: true,
      onsubmit: async (e) => {
        e.preventDefault();
        try {
          await api('POST', `${acc()}/numbers`, { number: newNumber.value.trim(), departmentId: newDept.value });
          toast(t('common.saved'));
          render();
        } catch (x) {
          showFormError(addForm, x);
        }
      },
    },
    field(t('numbers.number'), newNumber),
    field(t('numbers.department'), newDept),
    h('button', { type: 'submit', class: 'btn btn-primary' }, t('numbers.add')),
    h('p', { class: 'form-error', role: 'alert' }),
  );

  const deptRows = departments.items.map((d) =>
    h(
      'tr',
      { 'data-testid': `department-row-${d.id}` },
      h('td', {}, h('a', { href: `#/departments/${enc(d.id)}` }, d.name), h('div', { class: 'sub mono' }, d.id)),
      h('td', {}, onOff(d.notifyAboutCallback)),
      h('td', {}, t(`strategy.${d.ringStrategy}`)),
      h('td', {}, d.employeeIds.map((id) => empName.get(id) ?? id).join(', ') || '—'),
      h('td', { class: 'actions' }, h('a', { class: 'btn btn-small', href: `#/departments/${enc(d.id)}`, 'aria-label': `${t('common.edit')} ${d.name}` }, t('common.edit'))),
    ),
  );

  return h(
    'div',
    {},
    pageHeader(t('numbers.title')),
    h(
      'section',
      { class: 'card', 'aria-labelledby': 'sec-numbers' },
      h('h2', { id: 'sec-numbers' }, t('numbers.numbers')),
      table([t('numbers.number'), t('numbers.department'), h('span', { class: 'sr-only' }, t('common.actions'))], numberRows, { 'data-testid': 'numbers-table' }),
      addForm,
    ),
    h(
      'section',
      { class: 'card', 'aria-labelledby': 'sec-departments' },
      h('div', { class: 'card-head' }, h('h2', { id: 'sec-departments' }, t('departments.title')), h('a', { class: 'btn btn-primary', href: '#/departments/new', 'data-testid': 'department-new' }, t('departments.add'))),
      table([t('departments.name'), t('departments.notify'), t('departments.strategy'), t('departments.employees'), h('span', { class: 'sr-only' }, t('common.actions'))], deptRows, { 'data-testid': 'departments-table' }),
    ),
  );
}

async function departmentPage(id) {
  const isNew = !id || id === 'new';
  const [employees, d, promptList] = await Promise.all([
    api('GET', `${acc()}/employees`),
    isNew ? Promise.resolve(null) : api('GET', `${acc()}/departments/${enc(id)}`),
    api('GET', `${acc()}/prompts`),
  ]);
  let files = promptList.items;
  const v = d ?? {
    id: '',
    name: '',
    notifyAboutCallback: true,
    employeeIds: [],
    ringStrategy: 'ring-all',
    language: 'ru',
    offerDelayS: 5,
    offerIntervalS: 30,
    holdMusic: 'common/hold-music.wav',
    prompts: {},
    callbackPolicy: { windowS: 600, retryDelayS: 300, maxAttempts: 2, employeeRingTimeoutS: 20, customerRingTimeoutS: 30 },
  };
  const policyKeys = ['windowS', 'retryDelayS', 'maxAttempts', 'employeeRingTimeoutS', 'customerRingTimeoutS'];
  // the voicemail guard (src/domain/voicemail-guard.ts): each check is off while its field is empty
  const guardKeys = ['confirmDigitWithinS', 'minTalkS'];
  const guardMax = { confirmDigitWithinS: '120', minTalkS: '600' };
  const holdMusic = select('holdMusic', [], null, { required: true, 'data-testid': 'department-hold-music' });
  const promptSelects = PROMPT_NAMES.map((n) => select(`prompts.${n}`, [], null, { 'data-testid': `department-prompt-${n}` }));
  /** (re)fills the file selects, keeping what is chosen */
  const fillFiles = (hold, chosen) => {
    clear(holdMusic).append(...promptOptions(files, hold).filter(Boolean));
    promptSelects.forEach((sel, i) => clear(sel).append(...promptOptions(files, chosen[PROMPT_NAMES[i]] ?? '', ['', t('departments.promptStandard')]).filter(Boolean)));
  };
  fillFiles(v.holdMusic, v.prompts ?? {});
  const chosenPrompts = () => Object.fromEntries(PROMPT_NAMES.map((n, i) => [n, promptSelects[i].value]).filter(([, f]) => f));
  const hours = businessHoursFieldset(v.businessHours);
  const offerRules = offerRulesFieldset(v.offerRules, v.waitEstimate);
  const announcements = announcementsFieldset(v.announcements);

  const uploadStatus = h('p', { class: 'form-error', role: 'alert', 'data-testid': 'prompt-upload-error' });
  const uploadInput = h('input', {
    type: 'file',
    id: 'prompt-upload',
    accept: '.wav,audio/wav,audio/x-wav',
    class: 'file-input',
    'data-testid': 'prompt-upload',
    onchange: async () => {
      const file = uploadInput.files?.[0];
      if (!file) return;
      clear(uploadStatus);
      uploadInput.removeAttribute('aria-invalid');
      try {
        const stored = await api('PUT', `${acc()}/prompts/${enc(uploadName(file.name))}`, file, undefined, 'audio/wav');
        files = (await api('GET', `${acc()}/prompts`)).items;
        fillFiles(stored.file, chosenPrompts());
        toast(t('departments.uploaded', { file: stored.file }));
      } catch (x) {
        uploadStatus.append(x instanceof ApiError && x.field === 'file' ? `${t('departments.uploadRefused')} (${x.message.replace(/^file: (.*; this file is )?/, '')})` : errorText(x));
        uploadInput.setAttribute('aria-invalid', 'true');
      } finally {
        uploadInput.value = '';
      }
    },
  });

  const form = h(
    'form',
    {
      class: 'card form',
      'data-testid': 'department-form',
      novalidate: true,
      onsubmit: async (e) => {
        e.preventDefault();
        const f = new FormData(form);
        const body = {
          name: String(f.get('name')).trim(),
          notifyAboutCallback: form.elements.namedItem('notifyAboutCallback').checked,
          offerAnotherNumber: form.elements.namedItem('offerAnotherNumber').checked,
          employeeIds: f.getAll('employeeIds').map(String),
          ringStrategy: String(f.get('ringStrategy')),
          language: String(f.get('language')),
          offerDelayS: Number(f.get('offerDelayS')),
          offerIntervalS: Number(f.get('offerIntervalS')),
          holdMusic: String(f.get('holdMusic')),
          prompts: chosenPrompts(),
          callbackPolicy: Object.fromEntries(policyKeys.map((k) => [k, Number(f.get(`callbackPolicy.${k}`))])),
          deliveryMode: String(f.get('deliveryMode')),
        };
        const shownNumber = String(f.get('customerFirstShownNumber') ?? '').trim();
        if (shownNumber) body.customerFirstShownNumber = shownNumber;
        else if (!isNew) body.customerFirstShownNumber = null;
        const bh = hours.read(form);
        if (bh) body.businessHours = bh;
        else if (!isNew) body.businessHours = null;
        const rules = offerRules.read(form);
        for (const k of ['offerRules', 'waitEstimate']) {
          if (rules[k]) body[k] = rules[k];
          else if (!isNew) body[k] = null;
        }
        const said = announcements.read(form);
        if (said) body.announcements = said;
        else if (!isNew) body.announcements = null;
        const guard = Object.fromEntries(
          guardKeys.map((k) => [k, String(f.get(`voicemailGuard.${k}`) ?? '').trim()]).filter(([, x]) => x !== '').map(([k, x]) => [k, Number(x)]),
        );
        if (Object.keys(guard).length > 0) body.voicemailGuard = guard;
        else if (!isNew) body.voicemailGuard = null;
        try {
          if (isNew) await api('POST', `${acc()}/departments`, { id: String(f.get('id')).trim(), ...body });
          else await api('PATCH', `${acc()}/departments/${enc(v.id)}`, body);
          toast(t('common.saved'));
          location.hash = '#/numbers';
        } catch (x) {
          showFormError(form, x);
        }
      },
    },
    h(
      'fieldset',
      {},
      h('legend', {}, t('departments.general')),
      isNew ? field(t('departments.id'), h('input', { name: 'id', required: true, pattern: '[A-Za-z0-9][A-Za-z0-9_.\\-]{0,63}', 'data-testid': 'department-id' })) : null,
      field(t('departments.name'), h('input', { name: 'name', value: v.name, required: true, maxlength: '200', 'data-testid': 'department-name' })),
      checkbox('notifyAboutCallback', t('departments.notify'), v.notifyAboutCallback, 'department-notify', t('departments.notifyHint')),
      checkbox('offerAnotherNumber', t('departments.anotherNumber'), v.offerAnotherNumber === true, 'department-another-number', t('departments.anotherNumberHint')),
      h(
        'div',
        { class: 'grid2' },
        field(t('departments.strategy'), select('ringStrategy', STRATEGIES.map((s) => [s, t(`strategy.${s}`)]), v.ringStrategy)),
        field(t('departments.language'), select('language', [['ru', t('language.ru')], ['en', t('language.en')]], v.language)),
        unitField(t('departments.offerDelay'), numberInput('offerDelayS', v.offerDelayS), t('unit.s')),
        unitField(t('departments.offerInterval'), numberInput('offerIntervalS', v.offerIntervalS), t('unit.s')),
      ),
      field(t('departments.holdMusic'), holdMusic, t('departments.holdMusicHint')),
      h(
        'div',
        { class: 'field upload' },
        uploadInput,
        h('label', { class: 'btn', for: 'prompt-upload' }, t('departments.upload')),
        h('p', { class: 'hint' }, t('departments.uploadHint')),
        uploadStatus,
      ),
    ),
    h(
      'fieldset',
      {},
      h('legend', {}, t('departments.prompts')),
      h('p', { class: 'hint fieldset-hint' }, t('departments.promptsHint')),
      h('div', { class: 'grid2' }, promptSelects.map((sel, i) => field(t(`prompt.${PROMPT_NAMES[i]}`), sel))),
    ),
    h(
      'fieldset',
      { class: 'checks' },
      h('legend', {}, t('departments.employees')),
      employees.items.length === 0
        ? h('p', { class: 'empty' }, t('common.empty'))
        : employees.items.map((e) => {
            const cid = `emp-${e.id}`;
            return h('div', { class: 'check' }, h('input', { type: 'checkbox', id: cid, name: 'employeeIds', value: e.id, checked: v.employeeIds.includes(e.id) }), h('label', { for: cid }, `${e.name} (${e.id})`));
          }),
    ),
    h(
      'fieldset',
      {},
      h('legend', {}, t('departments.policy')),
      h(
        'div',
        { class: 'grid2' },
        policyKeys.map((k) =>
          k === 'maxAttempts'
            ? field(t(`departments.${k}`), numberInput(`callbackPolicy.${k}`, v.callbackPolicy[k], { step: '1', max: '10' }))
            : unitField(t(`departments.${k}`), numberInput(`callbackPolicy.${k}`, v.callbackPolicy[k]), t('unit.s')),
        ),
        field(
          t('departments.deliveryMode'),
          select('deliveryMode', DELIVERY_MODES.map((m) => [m, t(`delivery.${m}`)]), v.deliveryMode ?? 'employee-first', { 'data-testid': 'department-delivery-mode' }),
          t('departments.deliveryModeHint'),
        ),
        field(
          t('departments.shownNumber'),
          h('input', { name: 'customerFirstShownNumber', type: 'tel', value: v.customerFirstShownNumber ?? '', pattern: '\\+[1-9][0-9]{6,14}', placeholder: '+74950000000', 'data-testid': 'department-shown-number' }),
          t('departments.shownNumberHint'),
        ),
      ),
    ),
    offerRules.el,
    announcements.el,
    h(
      'fieldset',
      { 'data-testid': 'department-voicemail-guard' },
      h('legend', {}, t('departments.voicemailGuard')),
      h('p', { class: 'hint fieldset-hint' }, t('departments.voicemailGuardHint')),
      h(
        'div',
        { class: 'grid2' },
        guardKeys.map((k) =>
          unitField(
            t(`departments.guard.${k}`),
            numberInput(`voicemailGuard.${k}`, v.voicemailGuard?.[k] ?? '', { required: false, max: guardMax[k], placeholder: t('departments.guardOff'), 'data-testid': `department-guard-${k}` }),
            t('unit.s'),
          ),
        ),
      ),
    ),
    hours.el,
    h('p', { class: 'form-error', role: 'alert' }),
    h(
      'div',
      { class: 'form-actions' },
      h('button', { type: 'submit', class: 'btn btn-primary', 'data-testid': 'department-save' }, t('common.save')),
      h('a', { class: 'btn', href: '#/numbers' }, t('common.cancel')),
      isNew
        ? null
        : h('button', { type: 'button', class: 'btn btn-danger-ghost push-right', onclick: async () => {
            if (!confirm(t('common.confirmDelete', { name: v.name }))) return;
            try {
              await api('DELETE', `${acc()}/departments/${enc(v.id)}`);
              toast(t('common.deleted'));
              location.hash = '#/numbers';
            } catch (x) {
              showFormError(form, x);
            }
          } }, t('common.delete')),
    ),
  );
  return h('div', {}, pageHeader(isNew ? t('departments.newTitle') : t('departments.editTitle', { name: v.name }), h('a', { class: 'btn', href: '#/numbers' }, `← ${t('common.back')}`)), isNew ? null : departmentStatusCard(v), form);
}

// ---- Employees -------------------------------------------------------------------------------

async function setLoggedIn(e, on) {
  try {
    await api('POST', `${acc()}/employees/${enc(e.id)}/${on ? 'login' : 'logout'}`);
    toast(t('common.saved'));
    render();
  } catch (x) {
    toast(errorText(x), 'error');
  }
}

async function employeesPage() {
  const { items } = await api('GET', `${acc()}/employees`);
  const rows = items.map((e) =>
    h(
      'tr',
      { 'data-testid': `employee-row-${e.id}` },
      h('td', { class: 'mono' }, e.id),
      h('td', {}, h('a', { href: `#/employees/${enc(e.id)}` }, e.name), h('div', { class: 'sub mono' }, e.sipUri)),
      h('td', {}, onOff(e.callerIdPresentation)),
      h('td', { class: 'mono' }, e.ownNumber ?? '—'),
      h(
        'td',
        {},
        h('span', { class: e.loggedIn ? 'dot dot-on' : 'dot dot-off', 'aria-hidden': 'true' }),
        h('span', {}, e.loggedIn ? t('employees.online') : t('employees.offline')),
      ),
      h(
        'td',
        { class: 'actions' },
        h('button', { type: 'button', class: 'btn btn-small', 'data-testid': `employee-toggle-login-${e.id}`, onclick: () => setLoggedIn(e, !e.loggedIn) }, e.loggedIn ? t('employees.logout') : t('employees.login')),
        h('a', { class: 'btn btn-small', href: `#/employees/${enc(e.id)}`, 'aria-label': `${t('common.edit')} ${e.name}` }, t('common.edit')),
      ),
    ),
  );
  return h(
    'div',
    {},
    pageHeader(t('employees.title'), h('a', { class: 'btn btn-primary', href: '#/employees/new', 'data-testid': 'employee-new' }, t('employees.add'))),
    h(
      'section',
      { class: 'card' },
      table([t('employees.id'), t('employees.name'), t('employees.clirShort'), t('employees.ownNumber'), t('employees.loggedIn'), h('span', { class: 'sr-only' }, t('common.actions'))], rows, { 'data-testid': 'employees-table' }),
    ),
  );
}

async function employeePage(id) {
  const isNew = id === 'new';
  const v = isNew ? { id: '', name: '', sipUri: 'sip:', ownNumber: '', callerIdPresentation: true, loggedIn: false } : await api('GET', `${acc()}/employees/${enc(id)}`);
  const form = h(
    'form',
    {
      class: 'card form',
      'data-testid': 'employee-form',
      novalidate: true,
      onsubmit: async (e) => {
        e.preventDefault();
        const f = new FormData(form);
        const own = String(f.get('ownNumber') ?? '').trim();
        const body = {
          name: String(f.get('name')).trim(),
          sipUri: String(f.get('sipUri')).trim(),
          callerIdPresentation: form.elements.namedItem('callerIdPresentation').checked,
          loggedIn: form.elements.namedItem('loggedIn').checked,
        };
        try {
          if (isNew) await api('POST', `${acc()}/employees`, { id: String(f.get('id')).trim(), ...body, ...(own ? { ownNumber: own } : {}) });
          else await api('PATCH', `${acc()}/employees/${enc(v.id)}`, { ...body, ownNumber: own || null });
          toast(t('common.saved'));
          location.hash = '#/employees';
        } catch (x) {
          showFormError(form, x);
        }
      },
    },
    h(
      'fieldset',
      {},
      h('legend', {}, t('employees.general')),
      isNew ? field(t('employees.id'), h('input', { name: 'id', required: true, 'data-testid': 'employee-id' })) : null,
      field(t('employees.name'), h('input', { name: 'name', value: v.name, required: true, maxlength: '200', 'data-testid': 'employee-name' })),
      field(t('employees.sipUri'), h('input', { name: 'sipUri', value: v.sipUri, required: true, spellcheck: 'false', 'data-testid': 'employee-sip' })),
      checkbox('callerIdPresentation', t('employees.clir'), v.callerIdPresentation, 'employee-clir'),
      field(t('employees.ownNumber'), h('input', { name: 'ownNumber', type: 'tel', value: v.ownNumber ?? '', placeholder: t('employees.ownNumberPlaceholder'), 'data-testid': 'employee-own-number' }), t('employees.ownNumberHint')),
      checkbox('loggedIn', t('employees.loggedIn'), v.loggedIn, 'employee-logged-in'),
    ),
    h('p', { class: 'form-error', role: 'alert' }),
    h(
      'div',
      { class: 'form-actions' },
      h('button', { type: 'submit', class: 'btn btn-primary', 'data-testid': 'employee-save' }, t('common.save')),
      h('a', { class: 'btn', href: '#/employees' }, t('common.cancel')),
      isNew
        ? null
        : h('button', { type: 'button', class: 'btn btn-danger-ghost push-right', onclick: async () => {
            if (!confirm(t('common.confirmDelete', { name: v.name }))) return;
            try {
              await api('DELETE', `${acc()}/employees/${enc(v.id)}`);
              toast(t('common.deleted'));
              location.hash = '#/employees';
            } catch (x) {
              showFormError(form, x);
            }
          } }, t('common.delete')),
    ),
  );
  return h('div', {}, pageHeader(isNew ? t('employees.newTitle') : t('employees.editTitle', { name: v.name }), h('a', { class: 'btn', href: '#/employees' }, `← ${t('common.back')}`)), form);
}

// ---- Callback requests -----------------------------------------------------------------------

const requestFilters = { status: '', departmentId: '' };

/** Attempts that count against the maximum: calls to the customer (as src/domain/callback-request.ts counts them). */
function countedAttempts(r) {
  return r.attempts.filter((a) => a.outcome !== 'interrupted' && a.outcome !== 'employee-hangup').length;
}

/** The attempt whose employee took the call: the answered one, else the latest. */
function takingAttempt(r) {
  return r.attempts.find((a) => a.outcome === 'answered') ?? r.attempts[r.attempts.length - 1];
}

function attemptsTable(r, empName) {
  if (r.attempts.length === 0) return h('p', { class: 'empty', 'data-testid': 'attempts-empty' }, t('requests.noAttempts'));
  return table(
    [t('requests.attemptN'), t('requests.startedAt'), t('requests.takenBy'), t('requests.shownNumber'), t('requests.outcome'), t('requests.sip')],
    r.attempts.map((a) =>
      h(
        'tr',
        {},
        h('td', {}, a.n),
        h('td', {}, fmtTime(a.startedAt)),
        h('td', {}, empName(a.employeeId)),
        h('td', { class: 'mono' }, a.shownNumber ?? '—'),
        h('td', {}, a.outcome ? t(`outcome.${a.outcome}`) : t('outcome.inProgress')),
        h('td', { class: 'mono' }, a.sipStatus ?? '—'),
      ),
    ),
    { 'data-testid': 'attempts-table' },
  );
}

function ringsTable(r, empName) {
  if (r.employeeRings.length === 0) return h('p', { class: 'empty', 'data-testid': 'rings-empty' }, t('requests.noRings'));
  // newest first: the latest rings are what an operator looks for
  const rows = [...r.employeeRings].reverse().map((x) =>
    h(
      'tr',
      {},
      h('td', {}, fmtTime(x.startedAt)),
      h('td', {}, empName(x.employeeId)),
      h('td', { 'data-result': x.result }, t(`ring.${x.result}`)),
      h('td', { class: 'mono' }, x.sipStatus ?? '—'),
    ),
  );
  return table([t('requests.startedAt'), t('requests.employee'), t('requests.result'), t('requests.sip')], rows, { 'data-testid': 'rings-table' });
}

function requestDetail(r, deptName, empName) {
  const act = async (path, msg) => {
    try {
      await api('POST', `${acc()}/requests/${enc(r.id)}/${path}`);
      toast(msg);
      render();
    } catch (x) {
      toast(errorText(x), 'error');
    }
  };
  const pending = r.status === 'pending';
  const taking = takingAttempt(r);
  const max = r.policy.maxAttempts;
  const now = !r.inProgress
    ? null
    : r.inProgress.waitingSince !== undefined && r.inProgress.answeredAt === undefined
      ? t('requests.waitingNow')
      : t(r.inProgress.answeredAt ? 'requests.talkingNow' : 'requests.ringingNow', { employee: empName(r.inProgress.employeeId) });
  return h(
    'section',
    { class: 'card detail', 'aria-labelledby': 'req-detail', 'data-testid': 'request-detail' },
    h('div', { class: 'card-head' }, h('h2', { id: 'req-detail' }, t('requests.details', { caller: r.callerNumber })), statusBadge(r.status)),
    h(
      'dl',
      { class: 'facts' },
      [
        [t('requests.department'), deptName(r.departmentId)],
        [t('requests.number'), r.multichannelNumber],
        [t('requests.created'), fmtTime(r.createdAt)],
        [t('requests.takenBy'), taking ? empName(taking.employeeId) : '—', 'request-taken-by'],
        [t('requests.shownNumber'), taking?.shownNumber ?? '—', 'request-shown-number'],
        [t('requests.attempts'), t('requests.attemptsOf', { n: countedAttempts(r), max }), 'request-attempt-count'],
        [t('requests.rings'), String(r.employeeRings.length), 'request-ring-count'],
        [t('requests.due'), pending ? fmtTime(r.dueAt) : '—'],
        [t('requests.expires'), pending ? fmtTime(r.expiresAt) : '—'],
        [t('requests.reason'), r.reason ?? '—'],
        [t('requests.note'), r.note ?? '—', 'request-note'],
        ...(r.followUpOf ? [[t('requests.followUpOf'), h('a', { href: `#/requests/${enc(r.followUpOf)}` }, t('requests.open'))]] : []),
        ...(r.followedUpBy ? [[t('requests.followedUpBy'), h('a', { href: `#/requests/${enc(r.followedUpBy)}`, 'data-testid': 'request-followed-up-by' }, t('requests.open'))]] : []),
      ].map(([k, val, testid]) => h('div', {}, h('dt', {}, k), h('dd', testid ? { 'data-testid': testid } : {}, val))),
    ),
    now ? h('p', { class: 'live', 'data-testid': 'request-now' }, now) : null,
    h('h3', {}, t('requests.customerAttempts')),
    h('p', { class: 'hint' }, t('requests.attemptsNote', { max })),
    attemptsTable(r, empName),
    h('h3', {}, t('requests.employeeRings')),
    h('p', { class: 'hint' }, t('requests.ringsNote'), r.employeeRings.length >= 50 ? ` ${t('requests.ringsKept', { n: r.employeeRings.length })}` : ''),
    ringsTable(r, empName),
    h(
      'div',
      { class: 'form-actions' },
      h('button', { type: 'button', class: 'btn btn-primary', disabled: !pending, 'data-testid': 'request-call-now', onclick: () => act('call-now', t('requests.calling')) }, t('requests.callNow')),
      h('button', { type: 'button', class: 'btn btn-danger-ghost', disabled: !pending, 'data-testid': 'request-cancel', onclick: () => act('cancel', t('requests.cancelled')) }, t('requests.cancel')),
      h('a', { class: 'btn push-right', href: '#/requests' }, t('requests.close')),
    ),
  );
}

async function requestsPage(id, alive) {
  const [{ items: departments }, { items: employees }] = await Promise.all([api('GET', `${acc()}/departments`), api('GET', `${acc()}/employees`)]);
  const names = new Map(departments.map((d) => [d.id, d.name]));
  const deptName = (d) => names.get(d) ?? d;
  const empNames = new Map(employees.map((e) => [e.id, `${e.name} (${e.id})`]));
  const empName = (id) => empNames.get(id) ?? id;
  let limit = 50;

  const tableBox = h('div', { 'aria-live': 'off' });
  const detailBox = h('div', {});
  const moreBox = h('div', {});

  async function load() {
    const q = new URLSearchParams({ limit: String(limit) });
    if (requestFilters.status) q.set('status', requestFilters.status);
    if (requestFilters.departmentId) q.set('departmentId', requestFilters.departmentId);
    const [page, detail] = await Promise.all([api('GET', `${acc()}/requests?${q}`), id ? api('GET', `${acc()}/requests/${enc(id)}`) : Promise.resolve(null)]);
    if (!alive()) return;
    const rows = page.items.map((r) =>
      h(
        'tr',
        { 'data-testid': `request-row-${r.id}`, class: r.id === id ? 'selected' : undefined },
        h('td', {}, fmtTime(r.createdAt)),
        h('td', {}, h('a', { href: `#/requests/${enc(r.id)}`, class: 'mono', 'aria-current': r.id === id ? 'true' : undefined }, r.callerNumber)),
        h('td', {}, deptName(r.departmentId)),
        h('td', {}, statusBadge(r.status)),
        h('td', { 'data-testid': 'request-row-attempts' }, t('requests.attemptsOf', { n: countedAttempts(r), max: r.policy.maxAttempts })),
        h('td', { 'data-testid': 'request-row-rings' }, r.employeeRings.length),
        h('td', {}, r.status === 'pending' ? fmtTime(r.dueAt) : '—'),
      ),
    );
    clear(tableBox).append(table([t('requests.created'), t('requests.caller'), t('requests.department'), t('requests.status'), t('requests.attempts'), t('requests.rings'), t('requests.due')], rows, { 'data-testid': 'requests-table' }));
    clear(moreBox);
    if (page.nextCursor && limit < 200) {
      moreBox.append(h('button', { type: 'button', class: 'btn', 'data-testid': 'requests-more', onclick: () => { limit = Math.min(200, limit + 50); load(); } }, t('requests.more')));
    }
    if (detail) {
      const focused = detailBox.contains(document.activeElement) ? document.activeElement.dataset.testid : null;
      clear(detailBox).append(requestDetail(detail, deptName, empName));
      if (focused) detailBox.querySelector(`[data-testid="${focused}"]`)?.focus();
    }
  }

  const onFilter = (key) => (e) => {
    requestFilters[key] = e.target.value;
    load().catch((x) => toast(errorText(x), 'error'));
  };
  const filters = h(
    'div',
    { class: 'filters' },
    field(t('requests.status'), select('status', [['', t('requests.allStatuses')], ...STATUSES.map((s) => [s, t(`status.${s}`)])], requestFilters.status, { onchange: onFilter('status'), 'data-testid': 'requests-filter-status' })),
    field(t('requests.department'), select('departmentId', [['', t('requests.allDepartments')], ...departments.map((d) => [d.id, d.name])], requestFilters.departmentId, { onchange: onFilter('departmentId'), 'data-testid': 'requests-filter-department' })),
    csvButton(() => new URLSearchParams(Object.entries(requestFilters).filter(([, v]) => v)), 'requests-csv'),
    h('p', { class: 'live' }, h('span', { class: 'dot dot-on pulse', 'aria-hidden': 'true' }), t('requests.live')),
  );

  await load();
  every(POLL_MS, () => load().catch(() => undefined));
  return h('div', {}, pageHeader(t('requests.title')), requestTabs('all'), detailBox, h('section', { class: 'card' }, filters, tableBox, moreBox));
}

// ---- New callback request, follow-up -----------------------------------------------------------

/** The views of the callbacks section: every request, those needing a follow-up, a new one. */
function requestTabs(current) {
  const tab = (name, hash, key) => h('a', { href: hash, class: 'tab', 'data-testid': `requests-tab-${name}`, 'aria-current': current === name ? 'page' : undefined }, t(key));
  return h('nav', { class: 'tabs', 'aria-label': t('requests.tabs') }, tab('all', '#/requests', 'requests.tabAll'), tab('follow-up', '#/requests/follow-up', 'requests.tabFollowUp'), tab('new', '#/requests/new', 'requests.tabNew'));
}

/** Downloads GET …/requests.csv with the query `query()` gives (fetched with the token: see download()). */
function csvButton(query, testid) {
  const btn = h('button', { type: 'button', class: 'btn', 'data-testid': testid, onclick: async () => {
    btn.disabled = true;
    btn.setAttribute('aria-busy', 'true');
    try {
      const got = await download(`${acc()}/requests.csv?${query()}`, `requests-${state.accountId}.csv`);
      toast(t('requests.csvDone', { name: got.name }));
    } catch (x) {
      toast(errorText(x), 'error');
    } finally {
      btn.disabled = false;
      btn.removeAttribute('aria-busy');
      btn.focus();
    }
  } }, t('requests.csv'));
  return btn;
}

/** The browser's UTC offset and zone name, e.g. "UTC+03:00, Europe/Moscow". */
function localZoneLabel(at = new Date()) {
  const m = -at.getTimezoneOffset();
  const a = Math.abs(m);
  const off = `UTC${m >= 0 ? '+' : '−'}${String(Math.floor(a / 60)).padStart(2, '0')}:${String(a % 60).padStart(2, '0')}`;
  const zone = Intl.DateTimeFormat().resolvedOptions().timeZone;
  return zone ? `${off}, ${zone}` : off;
}

/** The "not before" date and time of the form as ms (the browser's local time), undefined when both are empty. */
function notBeforeValue(form) {
  const dateText = form.elements.namedItem('notBefore').value.trim();
  const timeText = form.elements.namedItem('notBeforeTime').value.trim();
  if (!dateText && !timeText) return undefined;
  const now = new Date();
  const today = `${now.getFullYear()}-${String(now.getMonth() + 1).padStart(2, '0')}-${String(now.getDate()).padStart(2, '0')}`;
  const iso = dateText ? parseDate(dateText) : today;
  if (!iso) throw new ApiError(400, { error: t('date.bad'), field: 'notBefore' });
  const m = /^([01]?\d|2[0-3])[:.]([0-5]\d)$/.exec(timeText);
  if (!m) throw new ApiError(400, { error: t('time.bad'), field: 'notBeforeTime' });
  const [y, mo, d] = iso.split('-').map(Number);
  return new Date(y, mo - 1, d, Number(m[1]), Number(m[2])).getTime();
}

/**
 * A callback request made by hand. One Idempotency-Key per request meant: a second click (or
 * Enter) while the first is on its way sends nothing, and sending the same form again after a
 * lost answer reuses the key, so the service returns the request it already made; a changed
 * form, or the next request after a success, gets a fresh key.
 */
async function newRequestPage() {
  const { items: departments } = await api('GET', `${acc()}/departments`);
  const head = h('div', {}, pageHeader(t('requestNew.title')), requestTabs('new'));
  if (departments.length === 0) {
    return h('div', {}, head, h('section', { class: 'card' }, h('p', { class: 'empty' }, t('requestNew.noDepartments'), ' ', h('a', { href: '#/numbers' }, t('nav.numbers')))));
  }
  let sent = null;
  let busy = false;
  let justSent = false;
  const result = h('p', { class: 'result', role: 'status', 'data-testid': 'request-new-result' });
  const submit = h('button', { type: 'submit', class: 'btn btn-primary', 'data-testid': 'request-new-submit' }, t('requestNew.submit'));
  const dateF = dateField(t('requestNew.date'), 'notBefore', '', 'request-new-date');
  dateF.querySelector('input[name="notBefore"]').required = false;
  const timeF = field(t('requestNew.time'), h('input', { name: 'notBeforeTime', inputmode: 'numeric', autocomplete: 'off', maxlength: '5', placeholder: t('time.placeholder'), class: 'time-input', 'data-testid': 'request-new-time' }));
  const read = () => {
    const f = new FormData(form);
    const body = { departmentId: String(f.get('departmentId')), number: String(f.get('number') ?? '').trim() };
    const when = notBeforeValue(form);
    if (when !== undefined) body.notBefore = new Date(when).toISOString();
    const note = String(f.get('note') ?? '').trim();
    if (note) body.note = note;
    return body;
  };
  const form = h(
    'form',
    {
      class: 'card form',
      'data-testid': 'request-new-form',
      novalidate: true,
      oninput: () => {
        justSent = false;
      },
      onchange: () => {
        justSent = false;
      },
      onsubmit: async (e) => {
        e.preventDefault();
        // busy: a request is on its way. justSent: the form was emptied by a success and nothing has been
        // typed since, so this is the tail of a double click or a second Enter that came after the answer:
        // keep the result on screen instead of replacing it by "number required".
        if (busy || justSent) return;
        clear(result);
        delete result.dataset.status;
        let body;
        try {
          body = read();
        } catch (x) {
          showFormError(form, x);
          return;
        }
        const json = JSON.stringify(body);
        if (!sent || sent.json !== json) sent = { json, key: newIdempotencyKey() };
        busy = true;
        submit.disabled = true;
        submit.textContent = t('requestNew.sending');
        form.setAttribute('aria-busy', 'true');
        try {
          const { status, data } = await apiCall('POST', `${acc()}/requests`, { body, headers: { 'Idempotency-Key': sent.key } });
          sent = null;
          showFormError(form, null);
          for (const name of ['number', 'notBefore', 'notBeforeTime', 'note']) form.elements.namedItem(name).value = '';
          result.append(t(status === 201 ? 'requestNew.created' : 'requestNew.existing', { caller: data.callerNumber }), ' ', h('a', { href: `#/requests/${enc(data.id)}`, 'data-testid': 'request-new-open' }, t('requestNew.open')));
          result.dataset.status = String(status);
          justSent = true;
        } catch (x) {
          showFormError(form, x instanceof ApiError ? x : new Error(t('requestNew.network')));
        } finally {
          busy = false;
          submit.disabled = false;
          submit.textContent = t('requestNew.submit');
          form.removeAttribute('aria-busy');
          if (document.activeElement === document.body) submit.focus();
        }
      },
    },
    h('p', { class: 'hint fieldset-hint' }, t('requestNew.hint')),
    h(
      'div',
      { class: 'grid2' },
      field(t('requestNew.department'), select('departmentId', departments.map((d) => [d.id, d.name]), departments[0].id, { required: true, 'data-testid': 'request-new-department' })),
      field(t('requestNew.number'), h('input', { name: 'number', type: 'tel', required: true, autocomplete: 'off', maxlength: '32', placeholder: t('requestNew.numberPlaceholder'), 'data-testid': 'request-new-number' }), t('requestNew.numberHint')),
    ),
    h(
      'fieldset',
      { 'data-testid': 'request-new-when' },
      h('legend', {}, t('requestNew.when')),
      h('p', { class: 'hint fieldset-hint', id: 'request-new-when-hint' }, t('requestNew.whenHint', { tz: localZoneLabel() })),
      h('div', { class: 'grid2 when' }, dateF, timeF),
    ),
    field(t('requestNew.note'), h('textarea', { name: 'note', rows: '3', maxlength: '500', 'data-testid': 'request-new-note' }), t('requestNew.noteHint')),
    h('p', { class: 'form-error', role: 'alert', 'data-testid': 'request-new-error' }),
    result,
    h('div', { class: 'form-actions' }, submit, h('a', { class: 'btn', href: '#/requests' }, t('common.cancel'))),
  );
  return h('div', {}, head, form);
}

const followUpFilters = { departmentId: '' };

/** Failed and expired requests nobody called back yet, each with "call back now", and their CSV. */
async function followUpPage(_id, alive) {
  const [{ items: departments }, { items: employees }] = await Promise.all([api('GET', `${acc()}/departments`), api('GET', `${acc()}/employees`)]);
  const names = new Map(departments.map((d) => [d.id, d.name]));
  const empNames = new Map(employees.map((e) => [e.id, e.name]));
  const tableBox = h('div', { 'aria-live': 'off' });
  const LIMIT = 200;
  const query = () => {
    const q = new URLSearchParams({ followUp: 'true' });
    if (followUpFilters.departmentId) q.set('departmentId', followUpFilters.departmentId);
    return q;
  };

  async function callBack(r, btn) {
    btn.disabled = true;
    try {
      const { status } = await apiCall('POST', `${acc()}/requests/${enc(r.id)}/call-now`);
      toast(t(status === 201 ? 'followUp.made' : 'followUp.existing', { caller: r.callerNumber }));
    } catch (x) {
      toast(errorText(x), 'error');
    }
    // the row leaves the list: keep the keyboard in it (the next row's button, else the title)
    const buttons = [...tableBox.querySelectorAll('button[data-testid^="followup-call-"]')];
    const at = buttons.indexOf(btn);
    await load();
    const after = [...tableBox.querySelectorAll('button[data-testid^="followup-call-"]')];
    (after[Math.min(at, after.length - 1)] ?? document.getElementById('page-title'))?.focus();
  }

  async function load() {
    const q = query();
    q.set('limit', String(LIMIT));
    const page = await api('GET', `${acc()}/requests?${q}`);
    if (!alive()) return;
    const focused = tableBox.contains(document.activeElement) ? document.activeElement.dataset.testid : null;
    const rows = page.items.map((r) => {
      const last = r.attempts[r.attempts.length - 1];
      const btn = h('button', { type: 'button', class: 'btn btn-primary btn-small', 'data-testid': `followup-call-${r.id}`, 'aria-label': t('followUp.callNowFor', { caller: r.callerNumber }), onclick: () => callBack(r, btn) }, t('followUp.call'));
      return h(
        'tr',
        { 'data-testid': `followup-row-${r.id}` },
        h('td', {}, fmtTime(r.createdAt)),
        h('td', {}, h('a', { href: `#/requests/${enc(r.id)}`, class: 'mono' }, r.callerNumber)),
        h('td', {}, names.get(r.departmentId) ?? r.departmentId),
        h('td', {}, statusBadge(r.status)),
        h('td', {}, t('requests.attemptsOf', { n: countedAttempts(r), max: r.policy.maxAttempts })),
        h('td', {}, last?.outcome ? `${t(`outcome.${last.outcome}`)}${last.employeeId ? ` · ${empNames.get(last.employeeId) ?? last.employeeId}` : ''}` : '—'),
        h('td', { class: 'note' }, r.note ?? '—'),
        h('td', { class: 'actions' }, btn),
      );
    });
    clear(tableBox).append(
      rows.length === 0
        ? h('p', { class: 'empty', 'data-testid': 'followup-empty' }, t('followUp.none'))
        : table([t('requests.created'), t('requests.caller'), t('requests.department'), t('requests.status'), t('requests.attempts'), t('followUp.lastOutcome'), t('requests.note'), h('span', { class: 'sr-only' }, t('common.actions'))], rows, { 'data-testid': 'followup-table' }),
    );
    if (page.nextCursor) tableBox.append(h('p', { class: 'hint' }, t('followUp.first', { n: LIMIT })));
    if (focused) tableBox.querySelector(`[data-testid="${focused}"]`)?.focus();
  }

  const filters = h(
    'div',
    { class: 'filters' },
    field(t('requests.department'), select('departmentId', [['', t('requests.allDepartments')], ...departments.map((d) => [d.id, d.name])], followUpFilters.departmentId, { 'data-testid': 'followup-filter-department', onchange: (e) => {
      followUpFilters.departmentId = e.target.value;
      load().catch((x) => toast(errorText(x), 'error'));
    } })),
    csvButton(query, 'followup-csv'),
    h('p', { class: 'live' }, h('span', { class: 'dot dot-on pulse', 'aria-hidden': 'true' }), t('requests.live')),
  );
  await load();
  every(POLL_MS, () => load().catch(() => undefined));
  return h('div', {}, pageHeader(t('followUp.title')), requestTabs('follow-up'), h('section', { class: 'card' }, h('p', { class: 'hint fieldset-hint' }, t('followUp.hint')), filters, tableBox));
}

// ---- Statistics ------------------------------------------------------------------------------

/** The per-day chart, drawn for its box's width and redrawn when that width changes. */
function chartBox(days, labels) {
  const box = h('div', { class: 'chart-wrap' });
  let drawn = 0;
  const draw = () => {
    const w = box.clientWidth;
    if (!w || w === drawn) return;
    drawn = w;
    clear(box).append(dailyChart(days, labels, w));
  };
  box.append(dailyChart(days, labels));
  new ResizeObserver(draw).observe(box);
  return box;
}

const DAY = 86_400_000;
const statsQuery = { from: '', to: '', departmentId: '' };

async function statsPage(_id, alive) {
  const departments = (await api('GET', `${acc()}/departments`)).items;
  const today = new Date().toISOString().slice(0, 10);
  if (!statsQuery.to) statsQuery.to = today;
  if (!statsQuery.from) statsQuery.from = new Date(Date.now() - 6 * DAY).toISOString().slice(0, 10);

  const dept = select('departmentId', [['', t('requests.allDepartments')], ...departments.map((d) => [d.id, d.name])], statsQuery.departmentId, { 'data-testid': 'stats-department' });
  const out = h('div', {});

  async function load() {
    const fromMs = Date.parse(`${statsQuery.from}T00:00:00Z`);
    const toMs = Date.parse(`${statsQuery.to}T00:00:00Z`) + DAY;
    const q = new URLSearchParams({ from: String(fromMs), to: String(toMs) });
    if (statsQuery.departmentId) q.set('departmentId', statsQuery.departmentId);
    const st = await api('GET', `${acc()}/stats?${q}`);
    if (!alive()) return;
    const kpi = (key, value, testid) => h('div', { class: 'kpi', 'data-testid': testid }, h('div', { class: 'kpi-value' }, value), h('div', { class: 'kpi-label' }, t(key)));
    const dur = (key, p) => h('div', { class: 'kpi kpi-wide' }, h('div', { class: 'kpi-value' }, `${fmtDuration(p.median)} / ${fmtDuration(p.p90)}`), h('div', { class: 'kpi-label' }, `${t(key)} (${t('stats.medianP90')})`));
    const days = fillDays(st.byDay, fromMs, toMs);
    const seriesNames = Object.fromEntries(SERIES.map((x) => [x.key, t(`stats.${x.key}`)]));
    clear(out).append(
      h(
        'div',
        { class: 'kpis' },
        kpi('stats.callsReceived', st.callsReceived, 'kpi-calls'),
        kpi('stats.offersPlayed', st.offersPlayed, 'kpi-offers'),
        kpi('stats.requestsMade', st.requestsMade, 'kpi-requests'),
        kpi('stats.completed', st.completed, 'kpi-completed'),
        kpi('stats.failed', st.failed, 'kpi-failed'),
        kpi('stats.expired', st.expired, 'kpi-expired'),
        kpi('stats.cancelled', st.cancelled, 'kpi-cancelled'),
        kpi('stats.abandonedCalls', st.abandonedCalls, 'kpi-abandoned'),
        dur('stats.toFirstAttempt', st.requestToFirstAttemptMs),
        dur('stats.toConnection', st.requestToConnectionMs),
      ),
      h(
        'section',
        { class: 'card' },
        h('h2', {}, t('stats.byDay')),
        h('ul', { class: 'legend' }, SERIES.map((x) => h('li', {}, h('span', { class: `swatch ${x.cls}`, 'aria-hidden': 'true' }), seriesNames[x.key]))),
        chartBox(days, { title: t('stats.chartLabel'), series: seriesNames, dayLabel: fmtDay }),
      ),
    );
  }

  const form = h(
    'form',
    {
      class: 'card filters',
      novalidate: true,
      onsubmit: (e) => {
        e.preventDefault();
        try {
          statsQuery.from = dateValue(form, 'from');
          statsQuery.to = dateValue(form, 'to');
        } catch (x) {
          showFormError(form, x);
          return;
        }
        statsQuery.departmentId = dept.value;
        showFormError(form, null);
        load().catch((x) => showFormError(form, x));
      },
    },
    dateField(t('stats.from'), 'from', statsQuery.from, 'stats-from'),
    dateField(t('stats.to'), 'to', statsQuery.to, 'stats-to'),
    field(t('stats.department'), dept),
    h('button', { type: 'submit', class: 'btn btn-primary', 'data-testid': 'stats-show' }, t('stats.show')),
    h('p', { class: 'form-error', role: 'alert' }),
  );
  await load();
  return h('div', {}, pageHeader(t('stats.title')), form, out);
}

// ---- Tariff and options ----------------------------------------------------------------------

async function tariffPage() {
  const a = await api('GET', acc());
  const status = h('span', { class: 'option-status', 'data-testid': 'option-callback-status' });
  const sw = h('button', {
    type: 'button',
    role: 'switch',
    class: 'switch',
    id: 'opt-callback',
    'aria-labelledby': 'opt-callback-label',
    'aria-describedby': 'opt-callback-hint',
    'data-testid': 'option-callback',
  });
  const paint = (on) => {
    sw.setAttribute('aria-checked', String(on));
    clear(status).append(on ? t('tariff.enabled') : t('tariff.disabled'));
    status.className = `option-status ${on ? 'on' : 'off'}`;
  };
  paint(a.callbackEnabled);
  sw.addEventListener('click', async () => {
    const next = sw.getAttribute('aria-checked') !== 'true';
    sw.disabled = true;
    try {
      const saved = await api('PATCH', acc(), { callbackEnabled: next });
      paint(saved.callbackEnabled);
      toast(saved.callbackEnabled ? t('tariff.callbackOn') : t('tariff.callbackOff'));
    } catch (x) {
      toast(errorText(x), 'error');
    } finally {
      sw.disabled = false;
      sw.focus();
    }
  });
  return h(
    'div',
    {},
    pageHeader(t('tariff.title')),
    h(
      'section',
      { class: 'card plan' },
      h('h2', {}, t('tariff.plan')),
      h('dl', { class: 'facts' }, h('div', {}, h('dt', {}, t('tariff.planLabel')), h('dd', {}, t('tariff.planName'))), h('div', {}, h('dt', {}, t('tariff.account')), h('dd', {}, `${a.name} (${a.id})`))),
    ),
    h(
      'section',
      { class: 'card', 'aria-labelledby': 'sec-options' },
      h('h2', { id: 'sec-options' }, t('tariff.options')),
      h(
        'ul',
        { class: 'options' },
        h(
          'li',
          { class: 'option', 'data-testid': 'option-row-callback' },
          h('div', { class: 'option-text' }, h('h3', { id: 'opt-callback-label' }, t('tariff.callback')), h('p', { id: 'opt-callback-hint', class: 'hint' }, t('tariff.callbackHint')), h('p', { class: 'hint' }, t('tariff.notifyNote'))),
          h('div', { class: 'option-control' }, status, sw),
        ),
      ),
    ),
    await webhooksSection(),
  );
}

// ---- webhooks (on the Tariff and options page) ------------------------------------------------

/** The account's webhooks, each with its latest deliveries (read-only: they are managed through the API). */
async function webhooksSection() {
  const { items } = await api('GET', `${acc()}/webhooks`);
  const logs = await Promise.all(items.map((w) => api('GET', `${acc()}/webhooks/${enc(w.id)}/deliveries?limit=20`)));
  const lastTry = (d) => {
    const a = d.attempts[d.attempts.length - 1];
    if (!a) return '—';
    return a.status !== undefined ? `HTTP ${a.status}` : (a.error ?? '—');
  };
  const hooks = items.map((w, i) =>
    h(
      'li',
      { class: 'webhook', 'data-testid': 'webhook', 'data-webhook-id': w.id },
      h('h3', { class: 'mono' }, w.url),
      h('p', { class: 'hint' }, `${w.events.join(', ')} · `, onOff(w.enabled), w.description ? ` · ${w.description}` : ''),
      table(
        [t('webhooks.time'), t('webhooks.event'), t('webhooks.status'), t('webhooks.tries'), t('webhooks.last')],
        logs[i].items.map((d) =>
          h(
            'tr',
            { 'data-testid': 'webhook-delivery', 'data-status': d.status },
            h('td', {}, fmtTime(d.createdAt)),
            h('td', {}, h('span', { class: 'mono' }, d.eventType), h('div', { class: 'sub mono' }, d.eventId)),
            h('td', {}, h('span', { class: `badge badge-${d.status === 'delivered' ? 'completed' : d.status}` }, t(`webhooks.status.${d.status}`))),
            h('td', {}, String(d.attempts.length)),
            h('td', {}, d.status === 'pending' && d.nextAttemptAt ? `${lastTry(d)} · ${t('webhooks.next')} ${fmtTime(d.nextAttemptAt)}` : lastTry(d)),
          ),
        ),
        { 'aria-label': t('webhooks.deliveriesOf', { url: w.url }) },
      ),
    ),
  );
  return h(
    'section',
    { class: 'card', 'aria-labelledby': 'sec-webhooks', 'data-testid': 'webhooks' },
    h('h2', { id: 'sec-webhooks' }, t('webhooks.title')),
    h('p', { class: 'hint' }, t('webhooks.hint')),
    items.length === 0 ? h('p', { class: 'empty' }, t('webhooks.none')) : h('ul', { class: 'webhooks' }, hooks),
  );
}

// ---- start -----------------------------------------------------------------------------------

setLang(localStorage.getItem(LANG_KEY) ?? 'ru');
window.addEventListener('hashchange', () => {
  render.focusNext = true;
  render();
});

(async () => {
  if (session.token) {
    try {
      await loadSession(session.token);
    } catch {
      session.token = null;
    }
  }
  render();
})();
