/* lh-web review page: the escalation queue, one escalation's detail, and the verdict. */
'use strict';

(function () {
  const tbody = document.querySelector('#queue tbody');
  const table = $('queue');
  const emptyP = $('queue-empty');
  const statusP = $('queue-status');
  const detail = $('detail');
  const approveBtn = $('approve');
  const denyBtn = $('deny');
  const scopeSel = $('verdict-scope');
  const ttlIn = $('verdict-ttl');
  const reasonIn = $('verdict-reason');
  const resultP = $('verdict-result');
  const scopeWarn = $('scope-warning');

  let selectedId = null;
  let detailGen = 0;
  let expert = null; /* unknown until /api/session answers */
  let busy = false;
  let pendingIds = new Set();
  const ID_RE = /^[0-9a-fA-F]{32}$/;

  /* ---- the queue ---- */

  function countdownText(deadline) {
    const d = Number(deadline);
    if (!Number.isFinite(d)) return { text: '?', cls: '' };
    const left = d - Date.now();
    if (left <= 0) return { text: 'expired', cls: 'expired' };
    return { text: fmtDuration(left), cls: left < 60000 ? 'soon' : '' };
  }

  function updateCountdowns() {
    for (const span of document.querySelectorAll('.countdown[data-deadline]')) {
      const c = countdownText(span.getAttribute('data-deadline'));
      span.textContent = c.text;
      span.classList.toggle('expired', c.cls === 'expired');
      span.classList.toggle('soon', c.cls === 'soon');
    }
  }

  function makeCountdown(deadline) {
    const span = el('span', { class: 'countdown' });
    const d = Number(deadline);
    if (Number.isFinite(d)) span.setAttribute('data-deadline', String(d));
    const c = countdownText(deadline);
    span.textContent = c.text;
    if (c.cls) span.classList.add(c.cls);
    return span;
  }

  function makeQueueRow(e) {
    const tr = document.createElement('tr');
    tr.classList.add('escalation-row');
    tr.setAttribute('data-id', e.id);
    if (e.id === selectedId) tr.classList.add('selected');
    tr.appendChild(el('td', { class: 'agent', text: e.agent }));
    tr.appendChild(el('td', { class: 'tool', text: e.tool }));
    tr.appendChild(el('td', { class: 'subject', text: e.subject }));
    tr.appendChild(el('td', { class: 'capability', text: e.capability }));
    tr.appendChild(el('td', { class: 'rule', text: e.rule }));
    tr.appendChild(el('td', { class: 'num allows', text: String(e.allows ?? 0) + ' / ' + String(e.quorum ?? 1) }));
    tr.appendChild(el('td', { class: 'waiting', text: e.waiting_ms === undefined ? '' : fmtDuration(e.waiting_ms) }));
    const td = document.createElement('td');
    td.appendChild(makeCountdown(e.deadline));
    tr.appendChild(td);
    const open = el('button', { class: 'open', text: 'open', attrs: { type: 'button' } });
    const tdb = document.createElement('td');
    tdb.appendChild(open);
    tr.appendChild(tdb);
    return tr;
  }

  tbody.addEventListener('click', (ev) => {
    const tr = ev.target.closest('tr.escalation-row');
    if (!tr || !tbody.contains(tr)) return;
    const id = tr.getAttribute('data-id');
    if (id) openDetail(id);
  });

  async function refreshQueue() {
    let list;
    try {
      const r = await api('GET', '/api/escalations');
      list = r && Array.isArray(r.escalations) ? r.escalations : [];
    } catch (e) {
      statusP.textContent = 'could not load the queue: ' + showText(e.message);
      statusP.classList.add('error');
      return;
    }
    statusP.classList.remove('error');
    statusP.textContent = 'updated ' + fmtTime(Date.now());
    list = list.filter((e) => e && typeof e === 'object' && typeof e.id === 'string' && ID_RE.test(e.id));
    pendingIds = new Set(list.filter((e) => e.state === undefined || e.state === 'pending').map((e) => e.id));
    setPending(pendingIds.size);
    clear(tbody);
    for (const e of list) tbody.appendChild(makeQueueRow(e));
    const empty = list.length === 0;
    emptyP.classList.toggle('hidden', !empty);
    table.classList.toggle('hidden', empty);
    if (selectedId && !pendingIds.has(selectedId)) {
      $('detail-state').textContent = '(no longer pending)';
    }
  }

  /* ---- the detail panel ---- */

  function setField(id, value) {
    const node = $(id);
    if (value === undefined || value === null || value === '') {
      node.textContent = '–';
      node.classList.remove('suspicious');
      node.classList.add('muted');
      return;
    }
    node.classList.remove('muted');
    textCell(node, typeof value === 'object' ? JSON.stringify(value) : value);
  }

  function wrapperText(w) {
    if (typeof w === 'string') return w;
    if (Array.isArray(w)) return w.map(String).join(' ');
    if (w && typeof w === 'object') {
      if (Array.isArray(w.argv)) return w.argv.map(String).join(' ');
      if (typeof w.name === 'string') return w.name;
    }
    return JSON.stringify(w);
  }

  function renderParse(parse, parseError) {
    const ol = $('detail-parse');
    const errP = $('detail-parse-error');
    clear(ol);
    if (parseError !== undefined && parseError !== null) {
      errP.classList.remove('hidden');
      textCell(errP, 'the command could not be parsed: ' + String(parseError));
    } else {
      errP.classList.add('hidden');
      errP.textContent = '';
    }
    if (!Array.isArray(parse)) return;
    for (const c of parse) {
      const li = document.createElement('li');
      li.setAttribute('dir', 'ltr');
      if (!c || typeof c !== 'object') {
        li.appendChild(el('code', { text: JSON.stringify(c) }));
        ol.appendChild(li);
        continue;
      }
      for (const w of Array.isArray(c.wrappers) ? c.wrappers : []) {
        li.appendChild(el('code', { class: 'wrapper', text: wrapperText(w) }));
        li.appendChild(document.createTextNode(' \u25B8 '));
      }
      let firstWord = true;
      for (const word of Array.isArray(c.argv) ? c.argv : []) {
        if (!firstWord) li.appendChild(document.createTextNode(' '));
        firstWord = false;
        li.appendChild(el('code', { class: 'word', text: typeof word === 'string' ? word : JSON.stringify(word) }));
      }
      for (const r of Array.isArray(c.redirects) ? c.redirects : []) {
        li.appendChild(document.createTextNode(' '));
        if (r && typeof r === 'object') {
          li.appendChild(el('code', { class: 'redirect', text: String(r.op ?? '?') }));
          li.appendChild(document.createTextNode(' '));
          li.appendChild(el('code', { class: 'redirect', text: String(r.target ?? '?') }));
        } else {
          li.appendChild(el('code', { class: 'redirect', text: JSON.stringify(r) }));
        }
      }
      if (c.dynamic) {
        li.appendChild(document.createTextNode(' '));
        li.appendChild(el('span', { class: 'dynamic', text: 'dynamic: expands at run time, not fully known' }));
      }
      const known = new Set(['argv', 'wrappers', 'redirects', 'dynamic']);
      for (const [k, v] of Object.entries(c)) {
        if (known.has(k)) continue;
        li.appendChild(el('span', { class: 'muted extra', text: ' ' + k + ': ' + JSON.stringify(v) }));
      }
      ol.appendChild(li);
    }
  }

  function renderRecent(recent) {
    const tb = document.querySelector('#detail-recent tbody');
    clear(tb);
    const list = Array.isArray(recent) ? recent.slice().reverse() : [];
    for (const d of list) {
      if (!d || typeof d !== 'object') continue;
      const tr = document.createElement('tr');
      const dc = decisionClass(d.decision);
      if (dc) tr.classList.add(dc);
      tr.appendChild(el('td', { class: 'time', text: fmtTime(d.time_ms) }));
      tr.appendChild(el('td', { text: d.tool }));
      tr.appendChild(el('td', { class: 'subject', text: d.subject }));
      tr.appendChild(el('td', { class: 'dec', text: d.decision }));
      tr.appendChild(el('td', { text: d.rule }));
      tb.appendChild(tr);
    }
    if (!tb.rows.length) {
      const tr = document.createElement('tr');
      const td = el('td', { class: 'muted', text: 'none' });
      td.setAttribute('colspan', '5');
      tr.appendChild(td);
      tb.appendChild(tr);
    }
  }

  function commandText(e) {
    const req = e.request && typeof e.request === 'object' ? e.request : {};
    const input = req.input && typeof req.input === 'object' ? req.input : null;
    if (input && typeof input.command === 'string') return input.command;
    if (input && typeof input.file_path === 'string') return input.file_path;
    if (typeof e.subject === 'string') return e.subject;
    return input ? JSON.stringify(input, null, 2) : '';
  }

  async function openDetail(id) {
    if (!ID_RE.test(id)) return;
    const gen = ++detailGen;
    selectedId = id;
    for (const tr of tbody.querySelectorAll('tr.escalation-row')) {
      tr.classList.toggle('selected', tr.getAttribute('data-id') === id);
    }
    let r;
    try {
      r = await api('GET', '/api/escalations/' + encodeURIComponent(id));
    } catch (e) {
      if (gen !== detailGen) return;
      detail.classList.remove('hidden');
      $('detail-id').textContent = id;
      resultP.classList.add('error');
      resultP.textContent = 'could not load the escalation: ' + showText(e.message);
      return;
    }
    if (gen !== detailGen) return;
    const e = r && r.escalation && typeof r.escalation === 'object' ? r.escalation : {};
    const req = e.request && typeof e.request === 'object' ? e.request : {};
    detail.classList.remove('hidden');
    detail.setAttribute('data-id', id);
    $('detail-id').textContent = id;
    $('detail-state').textContent = e.state && e.state !== 'pending' ? '(' + showText(e.state) + ')' : '';
    textCell($('detail-command'), commandText(e), { multiline: true });
    setField('detail-agent', e.agent);
    setField('detail-tool', req.tool ?? e.tool);
    setField('detail-cwd', req.cwd);
    setField('detail-project', req.project);
    setField('detail-session', e.session ?? req.session);
    setField('detail-rule', e.rule);
    setField('detail-reason', e.reason);
    setField('detail-risk', e.risk);
    const riskNode = $('detail-risk');
    riskNode.classList.remove('risk-critical', 'risk-high', 'risk-medium');
    if (['critical', 'high', 'medium'].includes(e.risk)) riskNode.classList.add('risk-' + e.risk);
    setField('detail-capability', e.capability);
    setField('detail-quorum', String(e.allows ?? 0) + ' of ' + String(e.quorum ?? 1) + ' approvals');
    setField('detail-code', e.code);
    setField('detail-policy', e.policy);
    const dl = Number(e.deadline);
    setField('detail-deadline', Number.isFinite(dl) ? fmtDateTime(dl) : e.deadline);
    textCell($('detail-input'), req.input === undefined ? '' : JSON.stringify(req.input, null, 2), { multiline: true });
    renderParse(r.parse, r.parse_error);
    renderRecent(r.recent);

    /* a fresh form for each escalation */
    scopeSel.value = e.session || req.session ? 'session' : 'agent';
    scopeWarn.classList.add('hidden');
    ttlIn.value = '3600';
    reasonIn.value = '';
    resultP.classList.remove('error', 'ok');
    resultP.textContent = '';
    applyExpert();
  }

  /* ---- the verdict ---- */

  function applyExpert() {
    const canDecide = expert === true && !busy;
    approveBtn.disabled = !canDecide;
    denyBtn.disabled = !canDecide;
    if (expert === false) {
      resultP.classList.remove('error', 'ok');
      resultP.classList.add('notice');
      resultP.textContent = 'your token has no expert key: you can look, not decide';
    }
  }

  scopeSel.addEventListener('change', () => {
    scopeWarn.classList.toggle('hidden', scopeSel.value !== 'global');
  });

  async function decide(decision) {
    if (!selectedId || expert !== true || busy) return;
    const id = selectedId;
    const reason = reasonIn.value;
    if (new TextEncoder().encode(reason).length > 1024) {
      resultP.classList.add('error');
      resultP.textContent = 'the reason is longer than 1024 bytes';
      return;
    }
    const ttl = Number(ttlIn.value);
    if (!Number.isInteger(ttl) || ttl < 1) {
      resultP.classList.add('error');
      resultP.textContent = 'remember for: a whole number of seconds, at least 1';
      return;
    }
    const scope = scopeSel.value;
    if (!['once', 'session', 'agent', 'global'].includes(scope)) return;
    busy = true;
    applyExpert();
    resultP.classList.remove('error', 'ok', 'notice');
    resultP.textContent = (decision === 'allow' ? 'approving' : 'denying') + '…';
    try {
      const r = await api('POST', '/api/escalations/' + encodeURIComponent(id) + '/decide', {
        decision,
        reason,
        scope,
        ttl,
      });
      if (id !== selectedId) return;
      const state = r && typeof r.state === 'string' ? r.state : '?';
      resultP.classList.add('ok');
      if (state === 'pending') {
        resultP.textContent = 'recorded; more experts must agree (' + showText(String(r.allows ?? '?')) + ' approvals so far)';
      } else {
        resultP.textContent = (decision === 'allow' ? 'approved' : 'denied') + ': ' + showText(state);
      }
      $('detail-state').textContent = state !== 'pending' ? '(' + showText(state) + ')' : '';
    } catch (e) {
      if (id !== selectedId) return;
      resultP.classList.add('error');
      resultP.textContent = showText(e.message);
    } finally {
      busy = false;
      applyExpert();
      refreshQueue();
    }
  }

  approveBtn.addEventListener('click', () => decide('allow'));
  denyBtn.addEventListener('click', () => decide('deny'));
  $('verdict-form').addEventListener('submit', (ev) => ev.preventDefault());

  /* Until the session says otherwise, nobody may press the buttons. */
  approveBtn.disabled = true;
  denyBtn.disabled = true;
  session()
    .then((s) => {
      expert = !!(s && s.expert === true);
      applyExpert();
    })
    .catch(() => {});

  refreshQueue();
  setInterval(refreshQueue, 2000);
  setInterval(updateCountdowns, 1000);
})();
