"""lhproto -- what the Python interop tests share, written from
docs/PROTOCOL.md alone: the error codes (section 6), strict msgpack
(section 4.1), check helpers, free loopback ports, and a child process that
dies with its parent; and the RFC 6962 hashes and inclusion check of
docs/EVENTS.md 4.1.

Used by test_interop.py (the broker), test_events.py (the integrity log) and
tests/web (the console's proofs, checked apart from the page's own check).
"""
import ctypes
import hashlib
import signal
import socket
import time

import msgpack

ERROR_CODES = {"bad_request", "too_large", "unknown_service", "forbidden", "rate_limited",
               "overloaded", "unavailable", "timeout", "worker_lost", "not_found", "internal",
               "unsupported"}


class Failure(Exception):
    pass


def check(cond, what):
    if not cond:
        raise Failure(what)


def wait_until(predicate, timeout, step=0.05):
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value or time.monotonic() >= deadline:
            return value
        time.sleep(step)


class StrictError(ValueError):
    pass


def _pairs(pairs):
    out = {}
    for key, value in pairs:
        if not isinstance(key, str):
            raise StrictError("map key is not a str")
        if key in out:
            raise StrictError("duplicate map key %r" % key)
        out[key] = value
    return out


def _ext(code, data):
    raise StrictError("ext type %d" % code)


def strict_unpack(data):
    """One msgpack map, str keys, no duplicates, no ext, valid UTF-8, no trailing bytes."""
    try:
        obj = msgpack.unpackb(data, raw=False, strict_map_key=False, object_pairs_hook=_pairs,
                              ext_hook=_ext, timestamp=0)
    except StrictError:
        raise
    except Exception as exc:  # ExtraData, UnicodeDecodeError, truncated data...
        raise StrictError("not one valid msgpack value: %r" % exc)
    if not isinstance(obj, dict):
        raise StrictError("body is not a map")
    return obj


def pack(obj):
    return msgpack.packb(obj, use_bin_type=True)


def free_ports(count):
    socks, ports = [], []
    for _ in range(count):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.bind(("127.0.0.1", 0))
        socks.append(s)
        ports.append(s.getsockname()[1])
    for s in socks:
        s.close()
    return ports


def _die_with_parent():
    #   PR_SET_PDEATHSIG: the broker gets SIGTERM if this test is killed
    try:
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)
    except OSError:
        pass


#   ------------------------------------------------------------------------
#   Merkle tree (EVENTS.md 4.1: RFC 6962 2.1, inclusion verified as RFC 9162 2.1.3.2)

def leaf_hash(leaf):
    return hashlib.sha256(b"\x00" + leaf).digest()


def node_hash(left, right):
    return hashlib.sha256(b"\x01" + left + right).digest()


def verify_inclusion(index, size, lhash, proof, root):
    """RFC 9162 2.1.3.2."""
    if index >= size:
        return False
    fn, sn, r = index, size - 1, lhash
    for p in proof:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            if not fn & 1:
                while True:
                    fn >>= 1
                    sn >>= 1
                    if fn & 1 or fn == 0:
                        break
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    return sn == 0 and r == root
