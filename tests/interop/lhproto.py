"""lhproto -- what the Python interop tests share, written from
docs/PROTOCOL.md alone: the error codes (section 6), strict msgpack
(section 4.1), check helpers, free loopback ports, and a child process that
dies with its parent.

Used by test_interop.py (the broker) and test_events.py (the integrity log).
"""
import ctypes
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
