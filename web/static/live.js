/* lh-web live page: decisions as they happen, and the fleet's rate chart. */
'use strict';

(function () {
  const MAX_ROWS = 500;
  const WINDOW_S = 120;
  const COLORS = { allow: '#1b7a34', deny: '#b3261e', escalate: '#d99a00', defer: '#9aa0a6', p99: '#6a3fb5' };
  const KINDS = ['allow', 'deny', 'escalate', 'defer'];

  const tbody = document.querySelector('#decisions tbody');
  const fAgent = $('filter-agent');
  const fRule = $('filter-rule');
  const fDecision = $('filter-decision');
  const pauseBtn = $('pause');
  const droppedEl = $('dropped');
  const statusEl = $('stream-status');
  const rowCount = $('row-count');
  const rateNow = $('rate-now');
  const canvas = $('rate-chart');

  let source = null;
  let generation = 0;
  let paused = false;
  let pausedBuffer = [];
  let pausedSeen = 0;
  let dropped = 0;
  const ticks = new Map(); /* t (s) -> tick */

  /* ---- filters ---- */

  function filterQuery() {
    const parts = [];
    const agent = fAgent.value.trim();
    const decision = fDecision.value;
    const rule = fRule.value.trim();
    if (agent) parts.push('agent=' + encodeURIComponent(agent));
    if (decision) parts.push('decision=' + encodeURIComponent(decision));
    if (rule) parts.push('rule=' + encodeURIComponent(rule));
    return parts.join('&');
  }

  /* ---- rows ---- */

  function decisionKey(d) {
    return [d.time_ms, d.agent, d.tool, d.subject, d.decision, d.rule, d.latency_us, d.session].map(String).join('\u0000');
  }

  function makeRow(d) {
    const tr = document.createElement('tr');
    tr.classList.add('decision-row');
    const dc = decisionClass(d.decision);
    if (dc) tr.classList.add(dc);
    tr.appendChild(el('td', { class: 'time', text: fmtTime(d.time_ms) }));
    tr.appendChild(el('td', { class: 'agent', text: d.agent }));
    tr.appendChild(el('td', { class: 'tool', text: d.tool }));
    tr.appendChild(el('td', { class: 'subject', text: d.subject }));
    tr.appendChild(el('td', { class: 'dec', text: d.decision }));
    tr.appendChild(el('td', { class: 'rule', text: d.rule }));
    tr.appendChild(el('td', { class: 'num latency', text: d.latency_us === undefined ? '' : fmtNumber(d.latency_us) }));
    const details = [];
    if (d.cwd !== undefined) details.push('cwd: ' + d.cwd);
    if (d.by !== undefined) details.push('by: ' + d.by);
    if (d.risk !== undefined) details.push('risk: ' + d.risk);
    if (d.role !== undefined) details.push('role: ' + d.role);
    if (d.policy !== undefined) details.push('policy: ' + d.policy);
    if (d.session !== undefined) details.push('session: ' + d.session);
    if (details.length) tr.setAttribute('title', showText(details.join('\n'), { multiline: true }));
    return tr;
  }

  function trimRows() {
    while (tbody.rows.length > MAX_ROWS) tbody.deleteRow(tbody.rows.length - 1);
    rowCount.textContent = tbody.rows.length + ' shown' + (tbody.rows.length >= MAX_ROWS ? ' (newest ' + MAX_ROWS + ')' : '');
  }

  function addDecision(d, fresh) {
    if (!d || typeof d !== 'object') return;
    const tr = makeRow(d);
    if (fresh) tr.classList.add('fresh');
    tbody.insertBefore(tr, tbody.firstChild);
  }

  function onDecision(d) {
    if (paused) {
      pausedSeen++;
      pausedBuffer.push(d);
      if (pausedBuffer.length > MAX_ROWS) pausedBuffer.shift();
      pauseBtn.textContent = 'Resume (' + pausedSeen + ' new)';
      return;
    }
    addDecision(d, true);
    trimRows();
  }

  pauseBtn.addEventListener('click', () => {
    paused = !paused;
    if (paused) {
      pausedSeen = 0;
      pausedBuffer = [];
      pauseBtn.textContent = 'Resume (0 new)';
      pauseBtn.setAttribute('aria-pressed', 'true');
    } else {
      for (const d of pausedBuffer) addDecision(d, false);
      pausedBuffer = [];
      trimRows();
      pauseBtn.textContent = 'Pause';
      pauseBtn.setAttribute('aria-pressed', 'false');
    }
  });

  function setDropped() {
    droppedEl.textContent = dropped > 0 ? fmtNumber(dropped) + ' not shown' : '';
  }

  /* ---- stream ---- */

  function parseData(ev) {
    try {
      return JSON.parse(ev.data);
    } catch (e) {
      return null;
    }
  }

  function setStatus(up, text) {
    statusEl.textContent = text;
    statusEl.classList.toggle('up', up);
    statusEl.classList.toggle('down', !up);
  }

  async function reopen() {
    const gen = ++generation;
    if (source) {
      source.close();
      source = null;
    }
    clear(tbody);
    pausedBuffer = [];
    pausedSeen = 0;
    if (paused) pauseBtn.textContent = 'Resume (0 new)';
    dropped = 0;
    setDropped();

    const q = filterQuery();
    /* Events that arrive before the initial fill are held, then added after it. */
    let filled = false;
    const early = [];

    const es = new EventSource('/api/stream' + (q ? '?' + q : ''));
    source = es;
    setStatus(false, 'connecting…');
    es.addEventListener('open', () => {
      if (gen === generation) setStatus(true, 'live');
    });
    es.addEventListener('error', () => {
      if (gen !== generation) return;
      if (es.readyState === EventSource.CLOSED) {
        setStatus(false, 'disconnected; retrying…');
        /* Maybe the session ended: api() goes to /login on 401. */
        session(true)
          .then(() => {
            if (gen === generation) setTimeout(() => { if (gen === generation) reopen(); }, 3000);
          })
          .catch(() => {
            if (gen === generation) setTimeout(() => { if (gen === generation) reopen(); }, 5000);
          });
      } else {
        setStatus(false, 'reconnecting…');
      }
    });
    es.addEventListener('decision', (ev) => {
      if (gen !== generation) return;
      const d = parseData(ev);
      if (!d) return;
      if (!filled) early.push(d);
      else onDecision(d);
    });
    es.addEventListener('tick', (ev) => {
      if (gen !== generation) return;
      const t = parseData(ev);
      if (t) addTick(t);
    });
    es.addEventListener('queue', () => {
      if (gen === generation) refreshPending();
    });
    es.addEventListener('dropped', (ev) => {
      if (gen !== generation) return;
      const d = parseData(ev);
      const n = d ? Number(d.count) : NaN;
      if (Number.isFinite(n) && n > 0) {
        dropped += n;
        setDropped();
      }
    });
    es.addEventListener('hello', () => {
      if (gen === generation) setStatus(true, 'live');
    });

    try {
      const r = await api('GET', '/api/decisions?limit=100' + (q ? '&' + q : ''));
      if (gen !== generation) return;
      const list = r && Array.isArray(r.decisions) ? r.decisions : [];
      const seen = new Set();
      for (const d of list) {
        if (!d || typeof d !== 'object') continue;
        seen.add(decisionKey(d));
        addDecision(d, false);
      }
      filled = true;
      for (const d of early) if (!seen.has(decisionKey(d))) onDecision(d);
      trimRows();
    } catch (e) {
      if (gen !== generation) return;
      filled = true;
      for (const d of early) onDecision(d);
      setStatus(false, 'could not load recent decisions: ' + showText(e.message));
    }
  }

  let filterTimer = null;
  function filtersChanged() {
    clearTimeout(filterTimer);
    filterTimer = setTimeout(reopen, 350);
  }
  fAgent.addEventListener('input', filtersChanged);
  fRule.addEventListener('input', filtersChanged);
  fDecision.addEventListener('change', () => {
    clearTimeout(filterTimer);
    reopen();
  });
  $('filters').addEventListener('submit', (ev) => {
    ev.preventDefault();
    clearTimeout(filterTimer);
    reopen();
  });

  /* ---- rates ---- */

  function num(x) {
    const v = Number(x);
    return Number.isFinite(v) && v >= 0 ? v : 0;
  }

  function addTick(t, noDraw) {
    const sec = Number(t.t);
    if (!Number.isFinite(sec)) return;
    ticks.set(Math.floor(sec), {
      t: Math.floor(sec),
      allow: num(t.allow),
      deny: num(t.deny),
      escalate: num(t.escalate),
      defer: num(t.defer),
      p99_us: num(t.p99_us),
    });
    let latest = -Infinity;
    for (const k of ticks.keys()) if (k > latest) latest = k;
    for (const k of [...ticks.keys()]) if (k <= latest - WINDOW_S) ticks.delete(k);
    if (!noDraw) {
      const last = ticks.get(latest);
      const total = last.allow + last.deny + last.escalate + last.defer;
      rateNow.textContent = fmtNumber(total) + ' decisions/s, p99 ' + fmtNumber(last.p99_us) + ' µs';
      rateNow.setAttribute('title',
        last.allow + ' allow, ' + last.deny + ' deny, ' + last.escalate + ' escalate, ' + last.defer + ' defer');
      draw();
    }
  }

  function niceMax(v) {
    if (v <= 0) return 1;
    const p = Math.pow(10, Math.floor(Math.log10(v)));
    for (const m of [1, 2, 2.5, 5, 10]) if (m * p >= v) return m * p;
    return 10 * p;
  }

  function draw() {
    const dpr = window.devicePixelRatio || 1;
    const cssW = canvas.clientWidth || 800;
    const cssH = canvas.clientHeight || 200;
    if (canvas.width !== Math.round(cssW * dpr) || canvas.height !== Math.round(cssH * dpr)) {
      canvas.width = Math.round(cssW * dpr);
      canvas.height = Math.round(cssH * dpr);
    }
    const ctx = canvas.getContext('2d');
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    ctx.clearRect(0, 0, cssW, cssH);
    const padL = 46, padR = 56, padT = 10, padB = 22;
    const w = cssW - padL - padR;
    const h = cssH - padT - padB;
    if (w <= 10 || h <= 10) return;

    let latest = -Infinity;
    for (const k of ticks.keys()) if (k > latest) latest = k;
    if (!Number.isFinite(latest)) latest = Math.floor(Date.now() / 1000);
    const first = latest - WINDOW_S + 1;
    const series = [];
    let maxTotal = 0, maxP99 = 0;
    for (let s = first; s <= latest; s++) {
      const t = ticks.get(s) || null;
      series.push(t);
      if (t) {
        maxTotal = Math.max(maxTotal, t.allow + t.deny + t.escalate + t.defer);
        maxP99 = Math.max(maxP99, t.p99_us);
      }
    }
    const yMax = niceMax(maxTotal);
    const pMax = niceMax(maxP99);
    const x = (i) => padL + (w * i) / (WINDOW_S - 1);
    const y = (v) => padT + h - (h * v) / yMax;
    const yp = (v) => padT + h - (h * v) / pMax;

    /* grid and axes */
    ctx.font = '11px system-ui, sans-serif';
    ctx.lineWidth = 1;
    ctx.strokeStyle = '#e3e6ea';
    ctx.fillStyle = '#5d6672';
    ctx.textBaseline = 'middle';
    for (let g = 0; g <= 4; g++) {
      const gy = padT + (h * g) / 4;
      ctx.beginPath();
      ctx.moveTo(padL, gy + 0.5);
      ctx.lineTo(padL + w, gy + 0.5);
      ctx.stroke();
      ctx.textAlign = 'right';
      ctx.fillText(fmtNumber(Math.round((yMax * (4 - g)) / 4 * 100) / 100), padL - 4, gy);
      ctx.textAlign = 'left';
      ctx.fillStyle = COLORS.p99;
      ctx.fillText(fmtNumber(Math.round((pMax * (4 - g)) / 4)), padL + w + 4, gy);
      ctx.fillStyle = '#5d6672';
    }
    ctx.textAlign = 'center';
    ctx.textBaseline = 'top';
    for (let sAgo = WINDOW_S - 1 - ((WINDOW_S - 1) % 30); sAgo >= 0; sAgo -= 30) {
      const i = WINDOW_S - 1 - sAgo;
      ctx.fillText(sAgo === 0 ? 'now' : '-' + sAgo + 's', x(i), padT + h + 5);
    }
    ctx.save();
    ctx.translate(10, padT + h / 2);
    ctx.rotate(-Math.PI / 2);
    ctx.textAlign = 'center';
    ctx.textBaseline = 'middle';
    ctx.fillText('decisions/s', 0, 0);
    ctx.restore();

    /* stacked areas, bottom to top: allow, deny, escalate, defer */
    const base = new Array(WINDOW_S).fill(0);
    for (const kind of KINDS) {
      const top = series.map((t, i) => base[i] + (t ? t[kind] : 0));
      ctx.beginPath();
      ctx.moveTo(x(0), y(top[0]));
      for (let i = 1; i < WINDOW_S; i++) ctx.lineTo(x(i), y(top[i]));
      for (let i = WINDOW_S - 1; i >= 0; i--) ctx.lineTo(x(i), y(base[i]));
      ctx.closePath();
      ctx.globalAlpha = 0.55;
      ctx.fillStyle = COLORS[kind];
      ctx.fill();
      ctx.globalAlpha = 1;
      for (let i = 0; i < WINDOW_S; i++) base[i] = top[i];
    }

    /* p99 line on the right axis; gaps where no tick arrived */
    ctx.strokeStyle = COLORS.p99;
    ctx.lineWidth = 1.6;
    ctx.beginPath();
    let pen = false;
    for (let i = 0; i < WINDOW_S; i++) {
      const t = series[i];
      if (!t) {
        pen = false;
        continue;
      }
      if (!pen) ctx.moveTo(x(i), yp(t.p99_us));
      else ctx.lineTo(x(i), yp(t.p99_us));
      pen = true;
    }
    ctx.stroke();

    ctx.strokeStyle = '#9aa3ad';
    ctx.lineWidth = 1;
    ctx.strokeRect(padL + 0.5, padT + 0.5, w, h);
  }

  async function loadRates() {
    try {
      const r = await api('GET', '/api/rates');
      const list = r && Array.isArray(r.ticks) ? r.ticks : [];
      for (const t of list) if (t && typeof t === 'object') addTick(t, true);
      if (list.length) addTick(list[list.length - 1]);
      else draw();
    } catch (e) {
      draw();
    }
  }

  let resizeTimer = null;
  window.addEventListener('resize', () => {
    clearTimeout(resizeTimer);
    resizeTimer = setTimeout(draw, 150);
  });

  loadRates();
  reopen();
})();
