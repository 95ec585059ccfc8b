/* lh-web common helpers.
 *
 * Everything the server sends is treated as hostile: agent ids, commands, rules, reasons,
 * paths and names may be written by the agent being watched. No HTML is ever parsed from
 * data: the DOM is built with createElement and textContent only.
 */
'use strict';

/* Characters that hide text or change its direction, and controls.
 * The brief's list (C0, C1, U+061C, U+200B-U+200F, U+202A-U+202E, U+2060-U+2064,
 * U+2066-U+2069, U+FEFF, U+2028, U+2029) plus other invisible fillers, variation
 * selectors (usable to smuggle bytes), Unicode tag characters (invisible ASCII copies)
 * and lone surrogates. */
const HIDDEN_RE = new RegExp(
  '[\\u0000-\\u001F\\u007F-\\u009F\\u00AD\\u034F\\u061C\\u115F\\u1160\\u17B4\\u17B5' +
    '\\u180B-\\u180F\\u200B-\\u200F\\u2028-\\u202E\\u2060-\\u206F\\u3164\\uFE00-\\uFE0F' +
    '\\uFEFF\\uFFA0\\uFFF9-\\uFFFB\\u{1D173}-\\u{1D17A}\\u{E0000}-\\u{E007F}' +
    '\\u{E0100}-\\u{E01EF}\\uD800-\\uDFFF]',
  'gu'
);

function codePointMarker(ch) {
  const cp = ch.codePointAt(0);
  return '\u27E6U+' + cp.toString(16).toUpperCase().padStart(4, '0') + '\u27E7';
}

/* showText(s, opts) -> string with every hidden/direction character replaced by a
 * visible marker such as ⟦U+202E⟧. opts.multiline keeps "\n" (and "\t") as they are, for
 * <pre> blocks. */
function showText(s, opts) {
  return showTextInfo(s, opts).text;
}

function showTextInfo(s, opts) {
  let str;
  if (s === null || s === undefined) str = '';
  else if (typeof s === 'string') str = s;
  else str = String(s);
  const multiline = !!(opts && opts.multiline);
  let replaced = false;
  const text = str.replace(HIDDEN_RE, (ch) => {
    if (multiline && (ch === '\n' || ch === '\t')) return ch;
    replaced = true;
    return codePointMarker(ch);
  });
  return { text, replaced };
}

const SUSPICIOUS_TITLE = 'contains hidden or direction-changing characters';

/* textCell(el, s, opts): show hostile text in an element. */
function textCell(node, s, opts) {
  const info = showTextInfo(s, opts);
  node.textContent = info.text;
  node.setAttribute('dir', 'ltr');
  node.classList.add('agent-text');
  if (info.replaced) {
    node.classList.add('suspicious');
    node.setAttribute('title', SUSPICIOUS_TITLE);
  } else {
    node.classList.remove('suspicious');
    if (node.getAttribute('title') === SUSPICIOUS_TITLE) node.removeAttribute('title');
  }
  return node;
}

/* A same-origin path: starts with one "/" that is not followed by "/" or "\". */
function isLocalPath(v) {
  return typeof v === 'string' && /^\/(?![\/\\])/.test(v) && !/[\u0000-\u0020\u007F]/.test(v);
}

const URL_ATTRS = new Set(['href', 'src', 'action', 'formaction', 'xlink:href', 'poster', 'data', 'srcset', 'background', 'ping', 'cite']);

/* el(tag, {class, text, attrs, dir, title, children}) -> element.
 * text goes through textCell (so hidden characters are always shown); attrs only through
 * setAttribute; names starting with "on", "style" and "srcdoc" are refused, and URL
 * attributes must be same-origin paths. */
function el(tag, opts) {
  const node = document.createElement(tag);
  opts = opts || {};
  if (opts.class) {
    for (const c of String(opts.class).split(/\s+/)) if (c) node.classList.add(c);
  }
  if (opts.text !== undefined && opts.text !== null) textCell(node, opts.text, opts);
  if (opts.title !== undefined) node.setAttribute('title', showText(opts.title));
  if (opts.attrs) {
    for (const [name, value] of Object.entries(opts.attrs)) {
      const n = String(name).toLowerCase();
      if (!/^[a-z][a-z0-9:_-]*$/.test(n) || n.startsWith('on') || n === 'style' || n === 'srcdoc') {
        throw new Error('el: refused attribute ' + n);
      }
      if (URL_ATTRS.has(n) && !isLocalPath(String(value))) {
        throw new Error('el: refused ' + n + ' that is not a same-origin path');
      }
      node.setAttribute(n, String(value));
    }
  }
  if (opts.children) for (const c of opts.children) if (c) node.appendChild(c);
  return node;
}

function clear(node) {
  while (node.firstChild) node.removeChild(node.firstChild);
}

function $(id) {
  return document.getElementById(id);
}

/* ---- session and API ---- */

let sessionPromise = null;
let csrfToken = null; /* kept in memory only */
let leaving = false;

function goLogin() {
  if (leaving) return;
  leaving = true;
  window.location.assign('/login');
}

function session(refresh) {
  if (!sessionPromise || refresh) {
    sessionPromise = api('GET', '/api/session').then((s) => {
      csrfToken = s && typeof s.csrf === 'string' ? s.csrf : null;
      return s;
    });
    sessionPromise.catch(() => {
      sessionPromise = null;
    });
  }
  return sessionPromise;
}

/* api(method, path, body) -> parsed JSON. Non-GET requests carry the CSRF token from
 * /api/session. 401 goes to /login. Other non-2xx throw Error(server's message) with
 * .status set. */
async function api(method, path, body) {
  method = String(method || 'GET').toUpperCase();
  if (!isLocalPath(path)) throw new Error('api: path must be same-origin');
  const headers = { Accept: 'application/json' };
  const init = { method, credentials: 'same-origin', headers, cache: 'no-store' };
  if (method !== 'GET' && method !== 'HEAD') {
    if (csrfToken === null) await session();
    headers['Content-Type'] = 'application/json';
    headers['X-CSRF-Token'] = csrfToken || '';
    init.body = JSON.stringify(body === undefined ? {} : body);
  }
  let res;
  try {
    res = await fetch(path, init);
  } catch (e) {
    const err = new Error('network error: ' + (e && e.message ? e.message : 'no answer'));
    err.status = 0;
    throw err;
  }
  if (res.status === 401) {
    goLogin();
    const err = new Error('not logged in');
    err.status = 401;
    throw err;
  }
  let data = null;
  const text = await res.text();
  if (text) {
    try {
      data = JSON.parse(text);
    } catch (e) {
      data = null;
    }
  }
  if (!res.ok) {
    let msg = data && typeof data.error === 'string' ? data.error : res.status + ' ' + res.statusText;
    const err = new Error(msg);
    err.status = res.status;
    err.data = data;
    throw err;
  }
  if (data === null && text) {
    const err = new Error('the server answered something that is not JSON');
    err.status = res.status;
    throw err;
  }
  return data;
}

/* ---- formatting ---- */

function pad(n, w) {
  return String(n).padStart(w || 2, '0');
}

/* HH:MM:SS.mmm local time from ms since the epoch. */
function fmtTime(ms) {
  const n = Number(ms);
  if (!Number.isFinite(n)) return '?';
  const d = new Date(n);
  return pad(d.getHours()) + ':' + pad(d.getMinutes()) + ':' + pad(d.getSeconds()) + '.' + pad(d.getMilliseconds(), 3);
}

/* YYYY-MM-DD HH:MM:SS local. */
function fmtDateTime(ms) {
  const n = Number(ms);
  if (!Number.isFinite(n)) return '?';
  const d = new Date(n);
  return d.getFullYear() + '-' + pad(d.getMonth() + 1) + '-' + pad(d.getDate()) + ' ' +
    pad(d.getHours()) + ':' + pad(d.getMinutes()) + ':' + pad(d.getSeconds());
}

/* "4m 12s", "1h 03m", "2d 4h", "12s" from a duration in ms. */
function fmtDuration(ms) {
  let s = Math.floor(Number(ms) / 1000);
  if (!Number.isFinite(s)) return '?';
  if (s < 0) s = 0;
  const d = Math.floor(s / 86400);
  const h = Math.floor((s % 86400) / 3600);
  const m = Math.floor((s % 3600) / 60);
  const sec = s % 60;
  if (d > 0) return d + 'd ' + h + 'h';
  if (h > 0) return h + 'h ' + pad(m) + 'm';
  if (m > 0) return m + 'm ' + pad(sec) + 's';
  return sec + 's';
}

function fmtAgo(ms) {
  const n = Number(ms);
  if (!Number.isFinite(n)) return '?';
  if (n < 1000) return 'just now';
  return fmtDuration(n) + ' ago';
}

function fmtNumber(n) {
  const v = Number(n);
  if (!Number.isFinite(v)) return showText(n);
  return v.toLocaleString('en-US');
}

function fmtBytes(n) {
  const v = Number(n);
  if (!Number.isFinite(v)) return '?';
  if (v < 1024) return v + ' B';
  if (v < 1024 * 1024) return (v / 1024).toFixed(1) + ' KiB';
  return (v / 1024 / 1024).toFixed(1) + ' MiB';
}

/* Class for a decision string, or '' for anything unexpected. */
function decisionClass(d) {
  return d === 'allow' || d === 'deny' || d === 'escalate' || d === 'defer' ? 'd-' + d : '';
}

/* ---- nav bar ---- */

function setPending(n) {
  const b = $('nav-pending');
  if (!b) return;
  const v = Number(n) || 0;
  b.textContent = v + ' pending';
  b.classList.toggle('none', v === 0);
}

async function refreshPending() {
  try {
    const r = await api('GET', '/api/escalations');
    const list = r && Array.isArray(r.escalations) ? r.escalations : [];
    setPending(list.filter((e) => !e || e.state === undefined || e.state === 'pending').length);
    return list;
  } catch (e) {
    return null;
  }
}

function setupNav() {
  const nav = $('nav');
  if (!nav) return;
  const page = document.body.getAttribute('data-page');
  for (const a of nav.querySelectorAll('a[data-page]')) {
    if (a.getAttribute('data-page') === page) {
      a.classList.add('active');
      a.setAttribute('aria-current', 'page');
    }
  }
  const logout = $('logout');
  if (logout) {
    logout.addEventListener('click', async () => {
      logout.disabled = true;
      try {
        await api('POST', '/api/logout', {});
      } catch (e) {
        /* go to the login page whatever happened */
      }
      goLogin();
    });
  }
  session()
    .then((s) => {
      const u = $('nav-user');
      if (u) {
        textCell(u, s && s.name ? s.name : '?');
        if (s && s.expert === false) u.setAttribute('title', 'no expert key: read only');
      }
    })
    .catch(() => {});
  /* The review page polls the queue itself; the live page refreshes on queue events. */
  if (page !== 'review') {
    refreshPending();
    if (page !== 'live') setInterval(refreshPending, 15000);
  }
}

if (document.readyState === 'loading') {
  document.addEventListener('DOMContentLoaded', setupNav);
} else {
  setupNav();
}
