/* lh-web log page: replicas, alerts, and an inclusion proof checked here, not trusted. */
'use strict';

(function () {
  const sizeEl = $('log-size');
  const originEl = $('log-origin');
  const statusEl = $('log-status');
  const cpEl = $('checkpoint');
  const cpCheck = $('checkpoint-check');
  const repBody = document.querySelector('#replicas tbody');
  const alertsUl = $('alerts');
  const seqIn = $('seq');
  const lookupBtn = $('lookup');
  const resultP = $('proof-result');
  const stepsOl = $('proof-steps');
  const eventPre = $('event-json');
  const eventSrc = $('event-source');
  const keysUl = $('log-keys');

  let origin = null;
  let lastCheckpoint = null;
  let lookupGen = 0;

  function cell(text, cls) {
    return el('td', { class: cls, text: text === undefined || text === null ? '' : String(text) });
  }

  function renderReplicas(list) {
    clear(repBody);
    for (const r of Array.isArray(list) ? list : []) {
      if (!r || typeof r !== 'object') continue;
      const tr = document.createElement('tr');
      tr.classList.add('replica-row');
      const age = Number(r.age_ms);
      if (!Number.isFinite(age) || age > 5000) tr.classList.add('stale');
      const mon = r.monitor && typeof r.monitor === 'object' ? r.monitor : null;
      tr.appendChild(cell(r.replica, 'name'));
      tr.appendChild(cell(r.state, 'state'));
      tr.appendChild(cell(r.term, 'num'));
      tr.appendChild(cell(r.leader, 'num'));
      tr.appendChild(cell(r.size === undefined ? '' : fmtNumber(r.size), 'num'));
      tr.appendChild(cell(r.commit_index === undefined ? '' : fmtNumber(r.commit_index), 'num'));
      const monTd = cell(mon ? mon.status : 'unknown', 'monitor');
      if (mon) {
        const extra = [];
        for (const [k, v] of Object.entries(mon)) if (k !== 'status') extra.push(k + ': ' + JSON.stringify(v));
        if (extra.length) monTd.setAttribute('title', showText(extra.join(', ')));
        if (mon.status !== 'ok') monTd.classList.add('error');
      }
      tr.appendChild(monTd);
      tr.appendChild(cell(Number.isFinite(age) ? 'heard ' + fmtAgo(age) : 'never heard', 'age'));
      repBody.appendChild(tr);
    }
    if (!repBody.rows.length) {
      const tr = document.createElement('tr');
      const td = el('td', { class: 'muted', text: 'no replica answered' });
      td.setAttribute('colspan', '8');
      tr.appendChild(td);
      repBody.appendChild(tr);
    }
  }

  function renderAlerts(list) {
    clear(alertsUl);
    const items = Array.isArray(list) ? list : [];
    for (const a of items) {
      if (!a || typeof a !== 'object') {
        alertsUl.appendChild(el('li', { text: JSON.stringify(a) }));
        continue;
      }
      const parts = [];
      if (a.replica !== undefined) parts.push(String(a.replica));
      if (a.kind !== undefined) parts.push(String(a.kind));
      if (a.seq !== undefined) parts.push('seq ' + a.seq);
      if (a.peer !== undefined) parts.push('peer ' + a.peer);
      if (a.detail !== undefined) parts.push(String(a.detail));
      for (const [k, v] of Object.entries(a)) {
        if (!['replica', 'kind', 'seq', 'peer', 'detail'].includes(k)) parts.push(k + ': ' + JSON.stringify(v));
      }
      alertsUl.appendChild(el('li', { class: 'alert', text: parts.join(' · ') }));
    }
    if (!items.length) alertsUl.appendChild(el('li', { class: 'none', text: 'no alerts' }));
  }

  async function fetchKeys() {
    const r = await api('GET', '/api/log/keys');
    const keys = r && Array.isArray(r.keys) ? r.keys.filter((k) => typeof k === 'string') : [];
    clear(keysUl);
    for (const k of keys) keysUl.appendChild(el('li', { class: 'mono', text: k }));
    if (!keys.length) keysUl.appendChild(el('li', { class: 'muted', text: 'the server lists no keys' }));
    return keys;
  }

  /* The latest checkpoint's signatures, checked when it changes. */
  async function checkLatest(text) {
    if (text === lastCheckpoint) return;
    lastCheckpoint = text;
    if (typeof text !== 'string' || !text) {
      cpCheck.textContent = '';
      return;
    }
    try {
      const keys = await fetchKeys();
      const v = await RFC6962.verifyNote(text, keys);
      if (text !== lastCheckpoint) return;
      cpCheck.classList.remove('proof-ok', 'proof-bad', 'muted');
      if (v.ok) {
        cpCheck.classList.add('proof-ok');
        cpCheck.textContent = 'signatures: ' + v.valid + ' of ' + v.total + ' valid';
      } else {
        cpCheck.classList.add('proof-bad');
        cpCheck.textContent = 'signatures: ' + showText(v.error || 'not valid') + ' (' + v.valid + ' of ' + v.total + ' valid)';
      }
    } catch (e) {
      cpCheck.textContent = 'could not check the signatures: ' + showText(e.message);
    }
  }

  async function refresh() {
    let r;
    try {
      r = await api('GET', '/api/log');
    } catch (e) {
      statusEl.textContent = 'could not load: ' + showText(e.message);
      statusEl.classList.add('error');
      return;
    }
    statusEl.classList.remove('error');
    statusEl.textContent = 'updated ' + fmtTime(Date.now());
    r = r && typeof r === 'object' ? r : {};
    sizeEl.textContent = r.size === undefined ? '?' : fmtNumber(r.size);
    if (typeof r.origin === 'string') {
      origin = r.origin;
      textCell(originEl, r.origin);
    }
    textCell(cpEl, typeof r.checkpoint === 'string' ? r.checkpoint : '', { multiline: true });
    renderReplicas(r.replicas);
    renderAlerts(r.alerts);
    checkLatest(r.checkpoint);
  }

  /* ---- event lookup ---- */

  function showSteps(steps) {
    clear(stepsOl);
    for (const s of steps) {
      const li = el('li', { class: 'step-' + s.status, text: s.text });
      stepsOl.appendChild(li);
    }
  }

  function setResult(ok, text) {
    resultP.classList.remove('proof-ok', 'proof-bad');
    resultP.classList.add(ok ? 'proof-ok' : 'proof-bad');
    textCell(resultP, text);
  }

  async function lookup() {
    const seqText = seqIn.value.trim();
    if (!/^(0|[1-9][0-9]{0,15})$/.test(seqText)) {
      resultP.classList.remove('proof-ok', 'proof-bad');
      resultP.textContent = 'enter a sequence number';
      return;
    }
    const gen = ++lookupGen;
    lookupBtn.disabled = true;
    resultP.classList.remove('proof-ok', 'proof-bad');
    resultP.textContent = 'checking…';
    clear(stepsOl);
    eventPre.textContent = '';
    eventSrc.textContent = '';
    try {
      let reply;
      let keys;
      try {
        [reply, keys] = await Promise.all([api('GET', '/api/log/event/' + seqText), fetchKeys()]);
      } catch (e) {
        if (gen !== lookupGen) return;
        setResult(false, 'REJECTED: could not get the event and its proof: ' + e.message);
        return;
      }
      if (gen !== lookupGen) return;
      const v = await RFC6962.verifyEvent(reply, keys, { seq: seqText, origin: origin || undefined });
      if (gen !== lookupGen) return;
      showSteps(v.steps);
      setResult(v.ok, v.summary);
      /* Show the event as the proven bytes say, when they decode; else the server's JSON. */
      if (v.leaf) {
        eventSrc.textContent = 'decoded from the leaf bytes the proof covers';
        textCell(eventPre, RFC6962.formatValue(v.leaf), { multiline: true });
      } else if (reply && reply.event !== undefined) {
        eventSrc.textContent = 'as the server describes it (the leaf bytes are not msgpack, so this is not tied to the proof)';
        textCell(eventPre, JSON.stringify(reply.event, null, 2), { multiline: true });
      }
    } catch (e) {
      if (gen === lookupGen) setResult(false, 'REJECTED: ' + e.message);
    } finally {
      if (gen === lookupGen) lookupBtn.disabled = false;
    }
  }

  $('lookup-form').addEventListener('submit', (ev) => {
    ev.preventDefault();
    lookup();
  });

  refresh();
  setInterval(refresh, 3000);
})();
