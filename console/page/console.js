// Parcel Sentinel's console: look a parcel up, work the problem queue, see the
// fleet's health. No framework and no external script: it reads the JSON API
// (console/src/lib.rs) and builds the page with DOM calls (never innerHTML with
// data: carriers' texts and notes are shown as text).
'use strict';

const API = document.querySelector('meta[name="sentinel-api"]').content;
// The page's own query: its language, the parcel an alert links to. Back from the
// hosted sign-in the address holds the sign-in's answer (?code=…&state=…, or
// ?error=…&state=…) instead, and the query the page had when it left was saved
// with the sign-in's state.
const QUERY = new URLSearchParams(location.search);
const RETURNED = QUERY.has('state') && (QUERY.has('code') || QUERY.has('error'));
const PARAMS = RETURNED ? new URLSearchParams(savedSignIn().back || '') : QUERY;
const LANG = PARAMS.get('lang') === 'en' ? 'en' : 'zh';
const REFRESH_MS = 60000;

const TEXT = {
  zh: {
    title: '包裹哨兵', you: '我的名字', lookup: '查件', number_hint: '运单号', carrier_auto: '自动识别快递',
    search: '查询', queue: '问题队列', any_rule: '全部规则', any_severity: '全部级别', any_carrier: '全部快递',
    owner: '处理人', parcel: '包裹', status: '状态', problems: '问题', actions: '操作', queue_empty: '没有问题',
    health: '全局健康', carrier: '快递', delivered: '已签收', on_time_rate: '准时率', p50: '时效 p50 (小时)',
    p90: '时效 p90 (小时)', ack: '认领', snooze: '暂停4小时', close: '关闭', note: '备注', all: '全部处理',
    state_open: '待处理', state_acknowledged: '已认领', state_snoozed: '已暂停', state_closed: '已关闭', state_all: '全部状态',
    since: '开始于', by: '处理人', until: '至', timeline: '物流轨迹', findings: '当前规则', no_trace: '暂无轨迹',
    history: '处理记录', name_first: '请先在页头填写你的名字', note_prompt: '备注内容：', close_prompt: '关闭原因：',
    token_prompt: '请输入访问令牌：', parcels: '包裹总数', with_problems: '有问题的包裹', query_errors: '查询失败',
    by_status: '按状态', by_carrier: '按快递', by_rule: '未解决问题（按规则）', by_severity: '未解决问题（按级别）',
    by_state: '问题（按处理状态）', alerts_per_day: '每日告警（14天）', flow_per_day: '每日揽收登记与签收（14天）',
    registered: '登记', refreshed: '刷新于', taken: '已被他人处理：', done: '已完成', choose_carrier: '该单号在多个快递下登记，请选择：',
    promised: '承诺送达', eta: '预计送达', eta_p90: '九成把握在', eta_prior: '公布时限', eta_lane: '件已送达', order: '订单', phone: '手机', last_error: '最近查询错误', severity_warning: '警告', severity_critical: '严重',
    notify: '通知客户', notify_confirm: '确定给收件人发送该问题的通知短信吗？', queued: '已加入发送队列，发送时间：',
    sign_in_failed: '登录失败，请刷新页面重试', signed_in_as: '已登录：',
  },
  en: {
    title: 'Parcel Sentinel', you: 'My name', lookup: 'Look up', number_hint: 'Tracking number',
    carrier_auto: 'Detect carrier', search: 'Search', queue: 'Problem queue', any_rule: 'Any rule',
    any_severity: 'Any severity', any_carrier: 'Any carrier', owner: 'Owner', parcel: 'Parcel', status: 'Status',
    problems: 'Problems', actions: 'Actions', queue_empty: 'No problems', health: 'Fleet health', carrier: 'Carrier',
    delivered: 'Delivered', on_time_rate: 'On time', p50: 'Transit p50 (h)', p90: 'Transit p90 (h)', ack: 'Acknowledge',
    snooze: 'Snooze 4 h', close: 'Close', note: 'Note', all: 'Take all', state_open: 'Open',
    state_acknowledged: 'Acknowledged', state_snoozed: 'Snoozed', state_closed: 'Closed', state_all: 'Any state',
    since: 'since', by: 'by', until: 'until', timeline: 'Timeline', findings: 'Rules holding now', no_trace: 'No scans yet',
    history: 'History', name_first: 'Enter your name at the top first', note_prompt: 'Note:', close_prompt: 'Why close it?',
    token_prompt: 'Access token:', parcels: 'Parcels', with_problems: 'Parcels with problems', query_errors: 'Query errors',
    by_status: 'By status', by_carrier: 'By carrier', by_rule: 'Open problems by rule', by_severity: 'Open problems by severity',
    by_state: 'Problems by state', alerts_per_day: 'Alerts per day (14 days)', flow_per_day: 'Registered and delivered per day (14 days)',
    registered: 'Registered', refreshed: 'Refreshed', taken: 'Someone else was first: ', done: 'Done',
    choose_carrier: 'This number is registered under several carriers; choose one:', promised: 'Promised by', eta: 'Expected', eta_p90: '90% by', eta_prior: 'published transit times', eta_lane: 'delivered', order: 'Order',
    phone: 'Phone', last_error: 'Last query error', severity_warning: 'warning', severity_critical: 'critical',
    notify: 'Tell the customer', notify_confirm: "Send the recipient this problem's notice by SMS?", queued: 'Queued; it goes out at ',
    sign_in_failed: 'Sign-in failed; reload the page to try again', signed_in_as: 'Signed in as ',
  },
}[LANG];

const $ = (sel) => document.querySelector(sel);
let vocabulary = { rules: [], statuses: [], severities: [], carriers: [], states: [] };

function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (k === 'class') node.className = v;
    else if (k.startsWith('on')) node.addEventListener(k.slice(2), v);
    else node.setAttribute(k, v);
  }
  for (const c of children.flat()) {
    if (c !== null && c !== undefined) node.append(c instanceof Node ? c : String(c));
  }
  return node;
}

function label(kind, code) {
  if (LANG === 'en') return String(code).replace(/_/g, ' ');
  const found = (vocabulary[kind] || []).find((v) => v.code === code);
  return found && found.zh ? found.zh : code;
}

function when(rfc3339) {
  // The API gives China time with its offset; show it as the carrier did.
  return rfc3339 ? rfc3339.slice(0, 16).replace('T', ' ') : '';
}

function say(text, info) {
  const m = $('#message');
  m.textContent = text;
  m.className = info ? 'info' : '';
  m.hidden = !text;
}

// ---------- sign-in ----------
// On AWS the page signs people in through the Cognito hosted sign-in
// (console-config.json says where): the authorization code flow with PKCE; the ID
// token goes with every API call and says who acts and what they may do. On one
// machine there is no sign-in: loopback, or the bearer token `sentinel serve
// --token` asks for.

let SIGN_IN = null;
const REDIRECT = location.origin + location.pathname;

function b64url(bytes) {
  return btoa(String.fromCharCode(...bytes)).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}

// Once per page, however many calls find they must sign in (the periodic refresh
// asks for the queue and the summary together): a second sign-in would overwrite
// the first's verifier and state, and whichever redirect won, the other's state
// would not match when the browser came back.
let signingIn = null;
function signIn() {
  signingIn = signingIn || goSignIn();
  return signingIn;
}

async function goSignIn() {
  const verifier = b64url(crypto.getRandomValues(new Uint8Array(32)));
  const state = b64url(crypto.getRandomValues(new Uint8Array(16)));
  sessionStorage.setItem('sentinel.pkce', JSON.stringify({ verifier, state, back: location.search }));
  const digest = await crypto.subtle.digest('SHA-256', new TextEncoder().encode(verifier));
  const q = new URLSearchParams({
    response_type: 'code', client_id: SIGN_IN.client_id, redirect_uri: REDIRECT, scope: 'openid email profile',
    state, code_challenge: b64url(new Uint8Array(digest)), code_challenge_method: 'S256',
  });
  location.assign(`${SIGN_IN.domain}/oauth2/authorize?${q}`);
  return new Promise(() => {}); // the page is leaving
}

// What signIn saved for the way back: `{verifier, state, back}`, or `{}`.
function savedSignIn() {
  try { return JSON.parse(sessionStorage.getItem('sentinel.pkce') || 'null') || {}; } catch (_) { return {}; }
}

// Back from the sign-in page with ?code=…&state=…: trade the code for tokens.
// False when the sign-in failed (the page then stops and says so: going straight
// back to the sign-in would loop for as long as it fails).
async function finishSignIn() {
  if (!RETURNED) return true;
  const saved = savedSignIn();
  sessionStorage.removeItem('sentinel.pkce');
  history.replaceState(null, '', REDIRECT + (saved.back || ''));
  const code = QUERY.get('code');
  if (!code || !saved.state || QUERY.get('state') !== saved.state) {
    say(TEXT.sign_in_failed + (QUERY.get('error') ? ` (${QUERY.get('error')})` : ''));
    return false;
  }
  const res = await fetch(`${SIGN_IN.domain}/oauth2/token`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({
      grant_type: 'authorization_code', client_id: SIGN_IN.client_id, code, redirect_uri: REDIRECT, code_verifier: saved.verifier,
    }),
  });
  const tokens = res.ok ? await res.json() : {};
  if (!tokens.id_token) { say(TEXT.sign_in_failed); return false; }
  sessionStorage.setItem('sentinel.id_token', tokens.id_token);
  return true;
}

// Who the ID token names (shown in the header; the server reads the token itself).
function signedInName() {
  const token = sessionStorage.getItem('sentinel.id_token');
  if (!token) return '';
  try {
    // The payload is base64url of UTF-8 JSON (atob alone gives one character per byte).
    const bytes = Uint8Array.from(atob(token.split('.')[1].replace(/-/g, '+').replace(/_/g, '/')), (c) => c.charCodeAt(0));
    const claims = JSON.parse(new TextDecoder().decode(bytes));
    return claims.email || claims['cognito:username'] || '';
  } catch (_) { return ''; }
}

async function call(method, path, body) {
  const headers = { Accept: 'application/json' };
  const token = SIGN_IN ? sessionStorage.getItem('sentinel.id_token') : localStorage.getItem('sentinel.token');
  if (SIGN_IN && !token) await signIn();
  if (token) headers.Authorization = 'Bearer ' + token;
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  const res = await fetch(API + path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  if (res.status === 401 && SIGN_IN) {
    sessionStorage.removeItem('sentinel.id_token');
    await signIn();
  }
  if (res.status === 401) {
    const given = prompt(TEXT.token_prompt);
    if (given) {
      localStorage.setItem('sentinel.token', given.trim());
      return call(method, path, body);
    }
  }
  let json = {};
  try { json = await res.json(); } catch (_) { json = { error: res.statusText }; }
  return { status: res.status, body: json };
}

function fill(select, items, text) {
  for (const item of items) select.append(el('option', { value: item.code }, text(item)));
}

async function start() {
  document.documentElement.lang = LANG === 'en' ? 'en' : 'zh-CN';
  for (const node of document.querySelectorAll('[data-t]')) node.textContent = TEXT[node.dataset.t];
  for (const node of document.querySelectorAll('[data-tp]')) node.placeholder = TEXT[node.dataset.tp];
  document.title = TEXT.title;
  const lang = $('#lang');
  lang.textContent = LANG === 'en' ? '中文' : 'English';
  lang.href = LANG === 'en' ? '?' : '?lang=en';
  const me = $('#me');
  me.value = localStorage.getItem('sentinel.me') || '';
  me.addEventListener('change', () => localStorage.setItem('sentinel.me', me.value.trim()));
  try {
    const c = await fetch('console-config.json', { headers: { Accept: 'application/json' } });
    if (c.ok) SIGN_IN = (await c.json()).sign_in || null;
  } catch (_) { SIGN_IN = null; }
  if (SIGN_IN) {
    if (!(await finishSignIn())) return;
    // The token names who acts: no name to type.
    me.closest('label').hidden = true;
    $('#refreshed').before(el('span', { id: 'who', class: 'muted' }, TEXT.signed_in_as + signedInName()));
  }

  const v = await call('GET', 'vocabulary');
  if (v.status === 200) vocabulary = v.body;
  const carrierText = (c) => (LANG === 'en' || !c.zh ? c.code : `${c.zh} ${c.code}`);
  fill($('#carrier'), vocabulary.carriers, carrierText);
  fill($('#f-carrier'), vocabulary.carriers, carrierText);
  fill($('#f-rule'), vocabulary.rules, (r) => label('rules', r.code));
  fill($('#f-severity'), vocabulary.severities, (s) => label('severities', s.code));
  fill($('#f-state'), vocabulary.states.map((s) => ({ code: s })), (s) => TEXT['state_' + s.code] || s.code);
  $('#f-state').value = 'open';

  $('#lookup-form').addEventListener('submit', (e) => { e.preventDefault(); lookup($('#number').value, $('#carrier').value); });
  for (const f of document.querySelectorAll('#queue-filters select, #queue-filters input')) {
    f.addEventListener('change', refreshQueue);
  }
  const asked = PARAMS.get('parcel');
  if (asked) lookup(asked, PARAMS.get('carrier') || '');
  await refresh();
  setInterval(refresh, REFRESH_MS);
}

async function refresh() {
  await Promise.all([refreshQueue(), refreshHealth()]);
  $('#refreshed').textContent = `${TEXT.refreshed} ${new Date().toLocaleTimeString(LANG === 'en' ? 'en-GB' : 'zh-CN')}`;
}

// ---------- lookup ----------

async function lookup(number, carrier) {
  number = number.trim();
  if (!number) return;
  $('#number').value = number;
  const path = carrier ? `shipments/${encodeURIComponent(carrier)}/${encodeURIComponent(number)}` : `shipments/${encodeURIComponent(number)}`;
  const r = await call('GET', path);
  const box = $('#parcel');
  box.replaceChildren();
  if (r.status === 300) {
    box.append(el('p', {}, TEXT.choose_carrier, ' ',
      r.body.carriers.map((c) => el('button', { type: 'button', onclick: () => lookup(number, c) }, c))));
    return;
  }
  if (r.status !== 200) { box.append(el('p', { class: 'muted' }, r.body.error || r.status)); return; }
  say('');
  showParcel(r.body);
}

function showParcel(p) {
  const box = $('#parcel');
  box.replaceChildren();
  box.dataset.parcel = `${p.carrier}/${p.tracking_number}`;
  box.append(el('h3', {}, `${p.carrier} ${p.tracking_number} · `, el('span', { class: 'parcel-status' }, label('statuses', p.status))));
  const facts = [];
  if (p.order_id) facts.push(`${TEXT.order} ${p.order_id}`);
  if (p.promised_at) facts.push(`${TEXT.promised} ${when(p.promised_at)}`);
  if (p.eta) {
    const basis = p.eta.lane ? `${p.eta.lane} ${p.eta.samples} ${TEXT.eta_lane}` : TEXT.eta_prior;
    facts.push(`${TEXT.eta} ${when(p.eta.p50)} (${TEXT.eta_p90} ${when(p.eta.p90)}; ${basis})`);
  }
  if (p.phone_masked) facts.push(`${TEXT.phone} ${p.phone_masked}`);
  if (p.last_error) facts.push(`${TEXT.last_error}: ${p.last_error}`);
  if (facts.length) box.append(el('p', { class: 'muted' }, facts.join(' · ')));
  if (p.problems.length) {
    box.append(el('h3', {}, TEXT.problems));
    box.append(problemList(p, p.problems, true));
  }
  if (p.findings.length) {
    box.append(el('h3', {}, TEXT.findings));
    box.append(el('ul', {}, p.findings.map((f) => el('li', { class: 'sev-' + f.severity },
      `${label('rules', f.rule)} (${label('severities', f.severity)}) ${TEXT.since} ${when(f.since)}`))));
  }
  box.append(el('h3', {}, TEXT.timeline));
  if (!p.timeline.length) { box.append(el('p', { class: 'muted' }, TEXT.no_trace)); return; }
  box.append(el('ol', { class: 'timeline' }, p.timeline.slice().reverse().map((e) =>
    el('li', {}, el('time', { datetime: e.at }, when(e.at)), e.location ? `【${e.location}】` : '', e.text))));
}

// ---------- problems ----------

function problemList(parcel, problems, withHistory) {
  const list = el('div', { class: 'problems' });
  for (const pr of problems) {
    const owner = pr.by ? ` · ${TEXT.by} ${pr.by}` : '';
    const until = pr.until ? ` ${TEXT.until} ${when(pr.until)}` : '';
    const row = el('div', { class: 'problem', 'data-rule': pr.rule },
      el('span', { class: 'sev-' + pr.severity }, label('rules', pr.rule)), ' ',
      el('span', { class: 'state state-' + pr.state }, (TEXT['state_' + pr.state] || pr.state) + until), ' ',
      el('span', { class: 'muted' }, `${TEXT.since} ${when(pr.since)}${owner}`),
      actions(parcel, pr.rule, pr.state));
    if (withHistory && pr.history.length) {
      row.append(el('ul', { class: 'history' }, pr.history.map((h) =>
        el('li', {}, `${when(h.at)} ${h.by} ${h.action}${h.note ? ': ' + h.note : ''}`))));
    }
    list.append(row);
  }
  return list;
}

function actions(parcel, rule, state) {
  const box = el('span', { class: 'actions' });
  const button = (action, text) => el('button', { type: 'button', 'data-action': action,
    onclick: (e) => act(parcel, rule, action, e.target) }, text);
  if (state === 'open' || state === 'snoozed') box.append(button('ack', TEXT.ack));
  if (state !== 'closed') box.append(button('snooze', TEXT.snooze), button('close', TEXT.close));
  box.append(button('note', TEXT.note));
  if (state !== 'closed' && parcel.phone_masked) box.append(button('notify', TEXT.notify));
  return box;
}

async function act(parcel, rule, action, button) {
  const by = SIGN_IN ? signedInName() : $('#me').value.trim();
  if (!by && !SIGN_IN) { say(TEXT.name_first); $('#me').focus(); return; }
  if (action === 'notify' && !confirm(TEXT.notify_confirm)) return;
  const body = { action, by };
  if (action === 'snooze') body.hours = 4;
  if (action === 'note' || action === 'close') {
    const note = prompt(action === 'note' ? TEXT.note_prompt : TEXT.close_prompt);
    if (note === null || (action === 'note' && !note.trim())) return;
    if (note.trim()) body.note = note.trim();
  }
  button.disabled = true;
  const path = `problems/${encodeURIComponent(parcel.carrier)}/${encodeURIComponent(parcel.tracking_number)}/${encodeURIComponent(rule)}`;
  const r = await call('POST', path, body);
  button.disabled = false;
  if (r.status === 409) say(TEXT.taken + r.body.error);
  else if (r.status === 202) say(TEXT.queued + when(r.body.notice.deliver_at), true);
  else if (r.status !== 200) say(r.body.error || String(r.status));
  else say(TEXT.done, true);
  await refreshQueue();
  if ($('#parcel').dataset.parcel === `${parcel.carrier}/${parcel.tracking_number}`) {
    await lookup(parcel.tracking_number, parcel.carrier);
  }
}

async function refreshQueue() {
  const q = new URLSearchParams();
  for (const f of document.querySelectorAll('#queue-filters select, #queue-filters input')) {
    if (f.value.trim()) q.set(f.name, f.value.trim());
  }
  const r = await call('GET', 'problems?' + q.toString());
  const body = $('#queue-table tbody');
  body.replaceChildren();
  if (r.status !== 200) { say(r.body.error || String(r.status)); return; }
  for (const item of r.body.items) {
    const link = el('a', { class: 'parcel-link', onclick: () => lookup(item.tracking_number, item.carrier) },
      `${item.carrier} ${item.tracking_number}`);
    const rules = item.problems.filter((p) => p.state !== 'closed').map((p) => p.rule);
    const all = rules.length > 1
      ? el('button', { type: 'button', 'data-action': 'ack-all', onclick: (e) => act(item, 'all', 'ack', e.target) }, TEXT.all)
      : null;
    body.append(el('tr', { 'data-parcel': `${item.carrier}/${item.tracking_number}` },
      el('td', {}, link, item.order_id ? el('div', { class: 'muted' }, item.order_id) : null),
      el('td', {}, label('statuses', item.status)),
      el('td', {}, problemList(item, item.problems, false)),
      el('td', {}, all)));
  }
  $('#queue-empty').hidden = r.body.items.length > 0;
}

// ---------- fleet health ----------

const SVG = 'http://www.w3.org/2000/svg';
const COLOURS = ['#1463c8', '#b86e00', '#1f7a3f', '#c0262d', '#6b4fbb', '#0f8a8a', '#8a6d0f', '#6b7785'];

function svg(tag, attrs, text) {
  const node = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
  if (text !== undefined) node.textContent = text;
  return node;
}

// Horizontal bars: one per [label, value].
function bars(title, entries, colour) {
  const rowH = 20, labelW = 130, width = 420, max = Math.max(1, ...entries.map((e) => e[1]));
  const chart = svg('svg', { viewBox: `0 0 ${width} ${Math.max(1, entries.length) * rowH + 4}`, role: 'img', 'aria-label': title });
  entries.forEach(([name, value], i) => {
    const y = i * rowH + 2, w = ((width - labelW - 50) * value) / max;
    chart.append(svg('text', { x: 0, y: y + 13 }, name));
    chart.append(svg('rect', { x: labelW, y, width: Math.max(w, 1), height: rowH - 6, fill: colour || COLOURS[0], class: 'bar' }));
    chart.append(svg('text', { x: labelW + w + 4, y: y + 13 }, String(value)));
  });
  return el('div', { class: 'chart' }, el('h3', {}, title), chart);
}

// Vertical bars per day, one series or several side by side.
function columns(title, days, series) {
  const width = 420, height = 140, base = 120, slot = width / Math.max(1, days.length);
  const max = Math.max(1, ...days.flatMap((d) => series.map((s) => d[s.key])));
  const chart = svg('svg', { viewBox: `0 0 ${width} ${height}`, role: 'img', 'aria-label': title });
  days.forEach((d, i) => {
    const w = (slot - 4) / series.length;
    series.forEach((s, j) => {
      const h = ((base - 10) * d[s.key]) / max;
      chart.append(svg('rect', { x: i * slot + 2 + j * w, y: base - h, width: Math.max(w - 1, 1), height: h, fill: s.colour, class: 'bar' },
      ));
    });
    chart.append(svg('text', { x: i * slot + 2, y: base + 14 }, d.date.slice(8)));
  });
  const legend = series.length > 1
    ? el('div', { class: 'legend' }, series.map((s) => el('span', {}, el('i', { style: `background:${s.colour}` }), s.text)))
    : null;
  return el('div', { class: 'chart' }, el('h3', {}, title), chart, legend);
}

async function refreshHealth() {
  const r = await call('GET', 'summary');
  if (r.status !== 200) { say(r.body.error || String(r.status)); return; }
  const s = r.body;
  const figure = (text, value) => el('div', { class: 'figure' }, el('b', {}, value), text);
  $('#health-figures').replaceChildren(
    figure(TEXT.parcels, s.parcels), figure(TEXT.with_problems, s.parcels_with_alerts), figure(TEXT.query_errors, s.query_errors));
  const sorted = (m, kind) => Object.entries(m).sort((a, b) => b[1] - a[1]).map(([k, v]) => [kind ? label(kind, k) : k, v]);
  const states = Object.entries(s.problems_by_state).map(([k, v]) => [TEXT['state_' + k] || k, v]);
  $('#charts').replaceChildren(
    bars(TEXT.by_status, sorted(s.by_status, 'statuses'), COLOURS[0]),
    bars(TEXT.by_carrier, sorted(s.by_carrier), COLOURS[5]),
    bars(TEXT.by_rule, sorted(s.active_alerts, 'rules'), COLOURS[3]),
    bars(TEXT.by_severity, sorted(s.problems_by_severity, 'severities'), COLOURS[1]),
    bars(TEXT.by_state, states, COLOURS[4]),
    columns(TEXT.alerts_per_day, s.days, [{ key: 'alerts', colour: COLOURS[3], text: TEXT.problems }]),
    columns(TEXT.flow_per_day, s.days, [
      { key: 'registered', colour: COLOURS[0], text: TEXT.registered },
      { key: 'delivered', colour: COLOURS[2], text: TEXT.delivered }]));
  const rows = $('#delivery-table tbody');
  rows.replaceChildren();
  const pct = (x) => (x === null || x === undefined ? '–' : `${(x * 100).toFixed(1)}%`);
  const num = (x) => (x === null || x === undefined ? '–' : x.toFixed(1));
  for (const [carrier, d] of Object.entries(s.delivery)) {
    rows.append(el('tr', { 'data-carrier': carrier }, el('td', {}, carrier), el('td', {}, d.delivered),
      el('td', {}, pct(d.on_time_rate)), el('td', {}, num(d.transit_hours_p50)), el('td', {}, num(d.transit_hours_p90))));
  }
}

start().catch((e) => say(String(e)));
