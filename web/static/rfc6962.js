/* RFC 6962 / RFC 9162 inclusion proofs and C2SP signed notes, checked in the browser.
 *
 * Nothing here trusts the server: the leaf hash is computed from the leaf bytes, the root
 * from the audit path, and the checkpoint's Ed25519 signatures with WebCrypto against
 * C2SP verifier keys. Everything is a pure function of its arguments; all are on the one
 * global object RFC6962.
 *
 * Byte arguments may be Uint8Array, ArrayBuffer, an array of numbers, or a standard base64
 * string. Sizes and indexes may be numbers (safe integers), decimal strings or BigInts.
 *
 *   await RFC6962.leafHash(bytes)                               -> Uint8Array(32)
 *   await RFC6962.nodeHash(left, right)                         -> Uint8Array(32)
 *   await RFC6962.rootFromInclusion(seq, size, leafHash, proof) -> Uint8Array(32) (throws)
 *   await RFC6962.verifyInclusion(seq, size, leafHash, proof, root)
 *                                                   -> {ok, error?, computed?: Uint8Array}
 *   RFC6962.parseNote(text)      -> {origin, size, sizeText, root, rootB64, extensions,
 *                                    body, signatures: [{name, keyId, keyIdHex, sig}]}
 *                                   (throws Error on a malformed note)
 *   await RFC6962.parseVerifierKey(str) -> {name, keyId, keyIdHex, publicKey} (throws)
 *   await RFC6962.verifyNote(noteText, keys)
 *       -> {ok, valid, total, unsupported, error?, note?, results: [{name, keyIdHex, status}],
 *           keyErrors: [string]}
 *       ok is true only when at least one signature is valid and Ed25519 is available.
 *   await RFC6962.verifyEvent(reply, keys, {seq, origin})
 *       -> {ok, summary, steps: [{status: 'ok'|'bad'|'info', text}], leaf}
 *       reply is the /api/log/event/<seq> answer {raw, proof: {seq, size, leaf_hash,
 *       proof, checkpoint}}; summary starts "verified:" or "REJECTED:".
 *   RFC6962.decodeMsgpack(bytes) -> value (maps as Map, big integers as BigInt) (throws)
 *   RFC6962.formatValue(value)   -> JSON-like text of a decoded value
 */
'use strict';

const RFC6962 = (function () {
  const subtle = globalThis.crypto && globalThis.crypto.subtle;
  const EM_DASH = '\u2014';
  const MAX_SIGNATURES = 100;

  /* ---- bytes ---- */

  function b64decode(s) {
    if (typeof s !== 'string') throw new Error('not a base64 string');
    if (s.length % 4 !== 0 || !/^[A-Za-z0-9+/]*={0,2}$/.test(s)) throw new Error('not standard base64');
    const bin = atob(s);
    const out = new Uint8Array(bin.length);
    for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
    return out;
  }

  function b64encode(bytes) {
    const b = toBytes(bytes);
    let s = '';
    for (let i = 0; i < b.length; i += 0x8000) {
      s += String.fromCharCode.apply(null, b.subarray(i, i + 0x8000));
    }
    return btoa(s);
  }

  function toBytes(x) {
    if (x instanceof Uint8Array) return x;
    if (x instanceof ArrayBuffer) return new Uint8Array(x);
    if (ArrayBuffer.isView(x)) return new Uint8Array(x.buffer, x.byteOffset, x.byteLength);
    if (typeof x === 'string') return b64decode(x);
    if (Array.isArray(x)) {
      const out = new Uint8Array(x.length);
      for (let i = 0; i < x.length; i++) {
        const v = x[i];
        if (!Number.isInteger(v) || v < 0 || v > 255) throw new Error('not a byte array');
        out[i] = v;
      }
      return out;
    }
    throw new Error('not bytes');
  }

  function hex(bytes) {
    return Array.from(toBytes(bytes), (b) => b.toString(16).padStart(2, '0')).join('');
  }

  function equalBytes(a, b) {
    a = toBytes(a);
    b = toBytes(b);
    if (a.length !== b.length) return false;
    let d = 0;
    for (let i = 0; i < a.length; i++) d |= a[i] ^ b[i];
    return d === 0;
  }

  function concat(parts) {
    let n = 0;
    for (const p of parts) n += p.length;
    const out = new Uint8Array(n);
    let o = 0;
    for (const p of parts) {
      out.set(p, o);
      o += p.length;
    }
    return out;
  }

  const utf8 = new TextEncoder();

  async function sha256(bytes) {
    if (!subtle) throw new Error('WebCrypto is not available (the page must be served over https or from localhost)');
    return new Uint8Array(await subtle.digest('SHA-256', bytes));
  }

  function toIndex(x, what) {
    if (typeof x === 'bigint') {
      if (x < 0n) throw new Error(what + ' is negative');
      return x;
    }
    if (typeof x === 'number') {
      if (!Number.isSafeInteger(x) || x < 0) throw new Error(what + ' is not a non-negative integer');
      return BigInt(x);
    }
    if (typeof x === 'string' && /^(0|[1-9][0-9]{0,19})$/.test(x)) return BigInt(x);
    throw new Error(what + ' is not a non-negative integer');
  }

  function hash32(x, what) {
    let b;
    try {
      b = toBytes(x);
    } catch (e) {
      throw new Error(what + ': ' + e.message);
    }
    if (b.length !== 32) throw new Error(what + ' is ' + b.length + ' bytes, not 32');
    return b;
  }

  /* ---- RFC 6962 hashes ---- */

  async function leafHash(bytes) {
    return sha256(concat([new Uint8Array([0]), toBytes(bytes)]));
  }

  async function nodeHash(left, right) {
    return sha256(concat([new Uint8Array([1]), hash32(left, 'left'), hash32(right, 'right')]));
  }

  /* RFC 9162 section 2.1.3.2. Throws on a proof that cannot be valid for (seq, size). */
  async function rootFromInclusion(seq, size, leaf, proof) {
    const index = toIndex(seq, 'seq');
    const n = toIndex(size, 'size');
    if (index >= n) throw new Error('seq ' + index + ' is not below the tree size ' + n);
    if (!Array.isArray(proof)) throw new Error('the proof is not a list');
    if (proof.length > 64) throw new Error('the proof has ' + proof.length + ' hashes, more than any tree can need');
    let fn = index;
    let sn = n - 1n;
    let r = hash32(leaf, 'leaf hash');
    for (let i = 0; i < proof.length; i++) {
      const p = hash32(proof[i], 'proof hash ' + i);
      if (sn === 0n) throw new Error('the proof is longer than the path to the root (hash ' + i + ')');
      if ((fn & 1n) === 1n || fn === sn) {
        r = await nodeHash(p, r);
        if ((fn & 1n) === 0n) {
          while ((fn & 1n) === 0n && fn !== 0n) {
            fn >>= 1n;
            sn >>= 1n;
          }
        }
      } else {
        r = await nodeHash(r, p);
      }
      fn >>= 1n;
      sn >>= 1n;
    }
    if (sn !== 0n) throw new Error('the proof is shorter than the path to the root');
    return r;
  }

  async function verifyInclusion(seq, size, leaf, proof, root) {
    try {
      const want = hash32(root, 'root');
      const computed = await rootFromInclusion(seq, size, leaf, proof);
      if (!equalBytes(computed, want)) return { ok: false, error: 'the audit path leads to a different root', computed };
      return { ok: true, computed };
    } catch (e) {
      return { ok: false, error: e.message };
    }
  }

  /* ---- C2SP signed notes ---- */

  const LONE_SURROGATE = /[\uD800-\uDFFF]/u;
  const NAME_RE = /^[^\s+\u0000-\u001F\u007F\u0085\u00A0\u1680\u2000-\u200A\u2028\u2029\u202F\u205F\u3000]+$/u;

  function parseNote(text) {
    if (typeof text !== 'string') throw new Error('the checkpoint is not text');
    if (text.length > 1 << 20) throw new Error('the checkpoint is too long');
    if (LONE_SURROGATE.test(text)) throw new Error('the checkpoint is not valid UTF-8');
    if (/[\u0000-\u0009\u000B-\u001F\u007F]/.test(text)) throw new Error('the checkpoint contains control characters');
    if (!text.endsWith('\n')) throw new Error('the checkpoint does not end with a newline');
    const split = text.lastIndexOf('\n\n');
    if (split < 0) throw new Error('the checkpoint has no blank line before its signatures');
    const body = text.slice(0, split + 1);
    const sigText = text.slice(split + 2);
    const lines = body.slice(0, -1).split('\n');
    if (lines.length < 3) throw new Error('the checkpoint body has fewer than 3 lines');
    const origin = lines[0];
    if (origin === '') throw new Error('the checkpoint origin is empty');
    const sizeText = lines[1];
    if (!/^(0|[1-9][0-9]{0,19})$/.test(sizeText)) throw new Error('the checkpoint size is not a decimal number');
    const sizeBig = BigInt(sizeText);
    if (sizeBig > BigInt(Number.MAX_SAFE_INTEGER)) throw new Error('the checkpoint size is too large');
    let root;
    try {
      root = b64decode(lines[2]);
    } catch (e) {
      throw new Error('the checkpoint root is not standard base64');
    }
    if (root.length !== 32) throw new Error('the checkpoint root is ' + root.length + ' bytes, not 32');
    const extensions = lines.slice(3);
    for (const x of extensions) if (x === '') throw new Error('the checkpoint has an empty extension line');

    const signatures = [];
    const sigLines = sigText === '' ? [] : sigText.slice(0, -1).split('\n');
    if (sigLines.length > MAX_SIGNATURES) throw new Error('the checkpoint has too many signature lines');
    for (const line of sigLines) {
      if (!line.startsWith(EM_DASH + ' ')) throw new Error('a signature line does not start with "\u2014 "');
      const rest = line.slice(2);
      const sp = rest.indexOf(' ');
      if (sp <= 0) throw new Error('a signature line has no key name');
      const name = rest.slice(0, sp);
      const b64 = rest.slice(sp + 1);
      if (!NAME_RE.test(name)) throw new Error('a signature line has a bad key name');
      let raw;
      try {
        raw = b64decode(b64);
      } catch (e) {
        throw new Error('a signature of ' + name + ' is not standard base64');
      }
      if (raw.length < 5) throw new Error('a signature of ' + name + ' is too short');
      const keyId = raw.slice(0, 4);
      signatures.push({ name, keyId, keyIdHex: hex(keyId), sig: raw.slice(4), line });
    }
    return {
      origin,
      size: Number(sizeBig),
      sizeText,
      root,
      rootB64: lines[2],
      extensions,
      body,
      signatures,
    };
  }

  async function computeKeyId(name, publicKey) {
    const h = await sha256(concat([utf8.encode(name), new Uint8Array([0x0a, 0x01]), publicKey]));
    return h.slice(0, 4);
  }

  /* "<name>+<8 hex id>+<base64(0x01 || 32-byte Ed25519 public key)>" */
  async function parseVerifierKey(str) {
    if (typeof str !== 'string') throw new Error('a verifier key is not a string');
    /* name and id end at the first two "+"; the base64 key may contain "+" itself */
    const s = str.trim();
    const p1 = s.indexOf('+');
    const p2 = p1 < 0 ? -1 : s.indexOf('+', p1 + 1);
    if (p1 <= 0 || p2 < 0) throw new Error('a verifier key is not name+id+key');
    const name = s.slice(0, p1);
    const idHex = s.slice(p1 + 1, p2);
    const b64 = s.slice(p2 + 1);
    if (!NAME_RE.test(name)) throw new Error('a verifier key has a bad name');
    if (!/^[0-9a-fA-F]{8}$/.test(idHex)) throw new Error('verifier key ' + name + ' has a bad id');
    let raw;
    try {
      raw = b64decode(b64);
    } catch (e) {
      throw new Error('verifier key ' + name + ' is not standard base64');
    }
    if (raw.length !== 33 || raw[0] !== 0x01) throw new Error('verifier key ' + name + ' is not an Ed25519 key');
    const publicKey = raw.slice(1);
    const keyId = await computeKeyId(name, publicKey);
    if (hex(keyId) !== idHex.toLowerCase()) throw new Error('verifier key ' + name + ': its id does not match its key');
    return { name, keyId, keyIdHex: hex(keyId), publicKey };
  }

  let ed25519Support = null;

  async function importEd25519(publicKey) {
    return subtle.importKey('raw', publicKey, { name: 'Ed25519' }, false, ['verify']);
  }

  function isUnsupported(e) {
    return e && (e.name === 'NotSupportedError' || /not supported|unrecognized|unknown algorithm/i.test(String(e.message)));
  }

  async function verifyNote(noteText, keys) {
    const result = { ok: false, valid: 0, total: 0, unsupported: false, results: [], keyErrors: [] };
    let note;
    try {
      note = parseNote(noteText);
    } catch (e) {
      result.error = e.message;
      return result;
    }
    result.note = note;
    result.total = note.signatures.length;

    const parsedKeys = [];
    for (const k of Array.isArray(keys) ? keys : []) {
      try {
        parsedKeys.push(await parseVerifierKey(k));
      } catch (e) {
        result.keyErrors.push(e.message);
      }
    }

    const body = utf8.encode(note.body);
    const counted = new Set();
    for (const s of note.signatures) {
      const r = { name: s.name, keyIdHex: s.keyIdHex, status: '' };
      result.results.push(r);
      const key = parsedKeys.find((k) => k.name === s.name && equalBytes(k.keyId, s.keyId));
      if (!key) {
        r.status = 'unknown key';
        continue;
      }
      if (s.sig.length !== 64) {
        r.status = 'invalid (not a 64-byte Ed25519 signature)';
        continue;
      }
      if (ed25519Support === false) {
        r.status = 'not checked: no Ed25519 in this browser';
        result.unsupported = true;
        continue;
      }
      let cryptoKey;
      try {
        cryptoKey = await importEd25519(key.publicKey);
        ed25519Support = true;
      } catch (e) {
        if (isUnsupported(e)) {
          ed25519Support = false;
          result.unsupported = true;
          r.status = 'not checked: no Ed25519 in this browser';
        } else {
          r.status = 'invalid key: ' + e.message;
        }
        continue;
      }
      let good = false;
      try {
        good = await subtle.verify({ name: 'Ed25519' }, cryptoKey, s.sig, body);
      } catch (e) {
        good = false;
      }
      const id = s.name + '+' + s.keyIdHex;
      if (!good) r.status = 'invalid';
      else if (counted.has(id)) r.status = 'duplicate (counted once)';
      else {
        counted.add(id);
        r.status = 'valid';
        result.valid++;
      }
    }
    /* As Go's note.Open: a signature by a known key that does not verify spoils the note. */
    const badKnown = result.results.filter((r) => r.status === 'invalid' || r.status.startsWith('invalid '));
    result.ok = result.valid > 0 && !result.unsupported && badKnown.length === 0;
    if (badKnown.length) result.error = 'invalid signature by ' + badKnown.map((r) => r.name).join(', ');
    else if (result.unsupported) result.error = 'this browser cannot check Ed25519 signatures';
    else if (result.valid === 0) result.error = 'no valid signature';
    return result;
  }

  /* ---- msgpack (the leaf encoding, docs/EVENTS.md 2.3), for showing what was proven ---- */

  class Ext {
    constructor(type, data) {
      this.type = type;
      this.data = data;
    }
  }
  class BadString {
    constructor(bytes) {
      this.bytes = bytes;
    }
  }

  function decodeMsgpack(input) {
    const b = toBytes(input);
    const dv = new DataView(b.buffer, b.byteOffset, b.byteLength);
    const dec = new TextDecoder('utf-8', { fatal: true });
    let pos = 0;

    function need(n) {
      if (n < 0 || pos + n > b.length) throw new Error('msgpack: truncated');
    }
    function u8() { need(1); return b[pos++]; }
    function u16() { need(2); const v = dv.getUint16(pos); pos += 2; return v; }
    function u32() { need(4); const v = dv.getUint32(pos); pos += 4; return v; }
    function bytes(n) { need(n); const v = b.slice(pos, pos + n); pos += n; return v; }
    function str(n) {
      const raw = bytes(n);
      try {
        return dec.decode(raw);
      } catch (e) {
        return new BadString(raw);
      }
    }
    function big(v) {
      return v <= BigInt(Number.MAX_SAFE_INTEGER) && v >= BigInt(Number.MIN_SAFE_INTEGER) ? Number(v) : v;
    }
    function array(n, depth) {
      if (n > b.length - pos) throw new Error('msgpack: array longer than the input');
      const out = [];
      for (let i = 0; i < n; i++) out.push(value(depth + 1));
      return out;
    }
    function map(n, depth) {
      if (2 * n > b.length - pos) throw new Error('msgpack: map longer than the input');
      const out = new Map();
      for (let i = 0; i < n; i++) {
        const k = value(depth + 1);
        const v = value(depth + 1);
        out.set(k, v);
      }
      return out;
    }
    function value(depth) {
      if (depth > 100) throw new Error('msgpack: nested too deep');
      const t = u8();
      if (t <= 0x7f) return t;
      if (t >= 0xe0) return t - 0x100;
      if (t >= 0x80 && t <= 0x8f) return map(t & 0x0f, depth);
      if (t >= 0x90 && t <= 0x9f) return array(t & 0x0f, depth);
      if (t >= 0xa0 && t <= 0xbf) return str(t & 0x1f);
      switch (t) {
        case 0xc0: return null;
        case 0xc2: return false;
        case 0xc3: return true;
        case 0xc4: return bytes(u8());
        case 0xc5: return bytes(u16());
        case 0xc6: return bytes(u32());
        case 0xc7: { const n = u8(); const ty = dv.getInt8((need(1), pos++)); return new Ext(ty, bytes(n)); }
        case 0xc8: { const n = u16(); const ty = dv.getInt8((need(1), pos++)); return new Ext(ty, bytes(n)); }
        case 0xc9: { const n = u32(); const ty = dv.getInt8((need(1), pos++)); return new Ext(ty, bytes(n)); }
        case 0xca: { need(4); const v = dv.getFloat32(pos); pos += 4; return v; }
        case 0xcb: { need(8); const v = dv.getFloat64(pos); pos += 8; return v; }
        case 0xcc: return u8();
        case 0xcd: return u16();
        case 0xce: return u32();
        case 0xcf: { need(8); const v = dv.getBigUint64(pos); pos += 8; return big(v); }
        case 0xd0: { need(1); const v = dv.getInt8(pos); pos += 1; return v; }
        case 0xd1: { need(2); const v = dv.getInt16(pos); pos += 2; return v; }
        case 0xd2: { need(4); const v = dv.getInt32(pos); pos += 4; return v; }
        case 0xd3: { need(8); const v = dv.getBigInt64(pos); pos += 8; return big(v); }
        case 0xd4: case 0xd5: case 0xd6: case 0xd7: case 0xd8: {
          const n = 1 << (t - 0xd4);
          need(1);
          const ty = dv.getInt8(pos++);
          return new Ext(ty, bytes(n));
        }
        case 0xd9: return str(u8());
        case 0xda: return str(u16());
        case 0xdb: return str(u32());
        case 0xdc: return array(u16(), depth);
        case 0xdd: return array(u32(), depth);
        case 0xde: return map(u16(), depth);
        case 0xdf: return map(u32(), depth);
        default: throw new Error('msgpack: bad type byte 0x' + t.toString(16));
      }
    }
    const v = value(0);
    if (pos !== b.length) throw new Error('msgpack: ' + (b.length - pos) + ' bytes after the value');
    return v;
  }

  function formatValue(v, indent) {
    indent = indent || '';
    const inner = indent + '  ';
    if (v === null || v === undefined) return 'null';
    if (typeof v === 'boolean') return String(v);
    if (typeof v === 'number') return Number.isFinite(v) ? String(v) : JSON.stringify(String(v));
    if (typeof v === 'bigint') return v.toString();
    if (typeof v === 'string') return JSON.stringify(v);
    if (v instanceof BadString) return JSON.stringify('(not UTF-8) base64:' + b64encode(v.bytes));
    if (v instanceof Uint8Array) return JSON.stringify('base64:' + b64encode(v));
    if (v instanceof Ext) return '{"$ext": ' + v.type + ', "data": ' + JSON.stringify('base64:' + b64encode(v.data)) + '}';
    if (Array.isArray(v)) {
      if (v.length === 0) return '[]';
      return '[\n' + v.map((x) => inner + formatValue(x, inner)).join(',\n') + '\n' + indent + ']';
    }
    if (v instanceof Map) {
      if (v.size === 0) return '{}';
      const parts = [];
      for (const [k, x] of v) {
        const key = typeof k === 'string' ? JSON.stringify(k) : JSON.stringify(formatValue(k, inner));
        parts.push(inner + key + ': ' + formatValue(x, inner));
      }
      return '{\n' + parts.join(',\n') + '\n' + indent + '}';
    }
    return JSON.stringify(String(v));
  }

  /* ---- the whole check of one /api/log/event reply ---- */

  async function verifyEvent(reply, keys, opts) {
    opts = opts || {};
    const steps = [];
    let failure = null;
    const ok = (text) => steps.push({ status: 'ok', text });
    const info = (text) => steps.push({ status: 'info', text });
    const bad = (text, why) => {
      steps.push({ status: 'bad', text });
      if (!failure) failure = why || text;
    };
    const out = { ok: false, steps, leaf: null, summary: '' };

    const proof = reply && reply.proof;
    if (!reply || typeof reply !== 'object' || !proof || typeof proof !== 'object') {
      out.summary = 'REJECTED: the server sent no proof';
      bad('the reply has no proof');
      return out;
    }
    let seq;
    let size;
    try {
      seq = toIndex(proof.seq, 'proof seq');
      size = toIndex(proof.size, 'proof size');
    } catch (e) {
      bad(e.message);
      out.summary = 'REJECTED: ' + e.message;
      return out;
    }
    if (opts.seq !== undefined && opts.seq !== null && opts.seq !== '') {
      let want;
      try {
        want = toIndex(opts.seq, 'requested seq');
      } catch (e) {
        want = null;
      }
      if (want === null || want !== seq) bad('the proof is for seq ' + seq + ', not the requested ' + opts.seq, 'the proof is for another event');
      else ok('the proof is for the requested seq ' + seq);
    }

    /* (a) the leaf hash, computed here */
    let raw = null;
    let computedLeaf = null;
    try {
      raw = toBytes(reply.raw);
    } catch (e) {
      bad('the leaf bytes are not base64: ' + e.message, 'no leaf bytes');
    }
    if (raw) {
      computedLeaf = await leafHash(raw);
      let sent = null;
      try {
        sent = hash32(proof.leaf_hash, 'leaf_hash');
      } catch (e) {
        bad('the proof\'s leaf hash is malformed: ' + e.message, 'malformed leaf hash');
      }
      if (sent) {
        if (equalBytes(sent, computedLeaf)) ok('leaf hash SHA-256(0x00 || ' + raw.length + ' leaf bytes) = ' + hex(computedLeaf) + ', as the proof says');
        else bad('leaf hash of the bytes is ' + hex(computedLeaf) + ' but the proof says ' + hex(sent), 'the leaf bytes do not hash to the proof\'s leaf hash');
      }
      try {
        const v = decodeMsgpack(raw);
        if (!(v instanceof Map)) throw new Error('not a map');
        out.leaf = v;
        if (v.has('seq')) {
          const ls = v.get('seq');
          if ((typeof ls === 'number' || typeof ls === 'bigint') && BigInt(ls) === seq) ok('the leaf itself says seq ' + ls);
          else bad('the leaf says seq ' + formatValue(ls) + ', the proof is for ' + seq, 'the leaf is another event');
        } else {
          info('the leaf has no seq field');
        }
      } catch (e) {
        info('the leaf bytes are not a msgpack map (' + e.message + '); the event shown is the server\'s, not decoded from the proven bytes');
      }
    }

    /* (b) the root from the audit path */
    let computedRoot = null;
    if (computedLeaf) {
      try {
        computedRoot = await rootFromInclusion(seq, size, computedLeaf, proof.proof);
        ok('audit path of ' + proof.proof.length + ' hashes gives root ' + b64encode(computedRoot) + ' for size ' + size);
      } catch (e) {
        bad('audit path: ' + e.message, 'the audit path is not valid (' + e.message + ')');
      }
    }

    /* (c) the checkpoint */
    let note = null;
    try {
      note = parseNote(proof.checkpoint);
      info('checkpoint: origin ' + note.origin + ', size ' + note.sizeText + ', root ' + note.rootB64 +
        (note.extensions.length ? ', ' + note.extensions.length + ' extension line(s)' : ''));
    } catch (e) {
      bad('checkpoint: ' + e.message, 'the checkpoint is malformed (' + e.message + ')');
    }
    if (note) {
      if (opts.origin && note.origin !== opts.origin) bad('the checkpoint origin ' + note.origin + ' is not this log\'s origin ' + opts.origin, 'the checkpoint is for another log');
      if (BigInt(note.sizeText) === size) ok('the checkpoint is for tree size ' + size);
      else bad('the checkpoint is for size ' + note.sizeText + ', the proof for size ' + size, 'the checkpoint size differs from the proof size');
      if (computedRoot) {
        if (equalBytes(computedRoot, note.root)) ok('the computed root equals the checkpoint root');
        else bad('the computed root ' + b64encode(computedRoot) + ' is not the checkpoint root ' + note.rootB64, 'the root does not match the checkpoint');
      }
    }

    /* (d) the signatures */
    let sigs = null;
    if (note) {
      sigs = await verifyNote(proof.checkpoint, keys);
      for (const e of sigs.keyErrors) info('key list: ' + e);
      for (const r of sigs.results) {
        const t = 'signature by ' + r.name + ' (key ' + r.keyIdHex + '): ' + r.status;
        if (r.status === 'valid') ok(t);
        else if (r.status === 'unknown key') info(t);
        else steps.push({ status: 'bad', text: t });
      }
      if (sigs.unsupported) bad('this browser has no Ed25519 in WebCrypto: signatures not checked', 'cannot check signatures: this browser has no Ed25519 in WebCrypto');
      else if (!sigs.ok && sigs.error && sigs.error.startsWith('invalid signature')) bad(sigs.error + ': a known key signed something else', sigs.error);
      else if (sigs.valid === 0) bad('no valid signature from a known key (' + sigs.total + ' signature line(s))', 'no valid signature');
      else ok(sigs.valid + ' of ' + sigs.total + ' signatures valid');
    }

    if (failure) {
      out.summary = 'REJECTED: ' + failure;
      return out;
    }
    out.ok = true;
    out.summary = 'verified: leaf ' + seq + ' is in the tree of size ' + size + ', root matches the checkpoint, ' +
      sigs.valid + ' of ' + sigs.total + ' signatures valid';
    return out;
  }

  return {
    leafHash,
    nodeHash,
    rootFromInclusion,
    verifyInclusion,
    parseNote,
    parseVerifierKey,
    verifyNote,
    verifyEvent,
    decodeMsgpack,
    formatValue,
    b64decode,
    b64encode,
    hex,
    equalBytes,
    Ext,
    BadString,
  };
})();

globalThis.RFC6962 = RFC6962;
if (typeof module !== 'undefined' && module.exports) module.exports = RFC6962;
