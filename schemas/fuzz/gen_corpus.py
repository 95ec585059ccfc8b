#!/usr/bin/env python3
"""Writes the hand-made seed corpora for the fuzz targets.

    python3 schemas/fuzz/gen_corpus.py      # rewrites corpus_codec/, corpus_json/, corpus_event/

The seeds are committed; this script only documents how they were made.
Bytes are spelled out by hand (no msgpack module) so that the odd forms
(map32 headers, non-minimal ints, ext types, bad UTF-8) are exactly as
written.
"""
import os
import struct

HERE = os.path.dirname(os.path.abspath(__file__))


def s(text):
    """msgpack str in its smallest form."""
    b = text.encode("utf-8") if isinstance(text, str) else text
    if len(b) < 32:
        return bytes([0xA0 | len(b)]) + b
    if len(b) < 256:
        return b"\xd9" + bytes([len(b)]) + b
    return b"\xda" + struct.pack(">H", len(b)) + b


def fixmap(*pairs):
    assert len(pairs) % 2 == 0 and len(pairs) // 2 < 16
    return bytes([0x80 | len(pairs) // 2]) + b"".join(pairs)


def map16(*pairs):
    assert len(pairs) % 2 == 0
    return b"\xde" + struct.pack(">H", len(pairs) // 2) + b"".join(pairs)


def array(*items):
    assert len(items) < 16
    return bytes([0x90 | len(items)]) + b"".join(items)


def uint(value):
    """msgpack unsigned int in its smallest form."""
    if value < 128:
        return bytes([value])
    for head, fmt, top in ((0xCC, ">B", 1 << 8), (0xCD, ">H", 1 << 16), (0xCE, ">I", 1 << 32)):
        if value < top:
            return bytes([head]) + struct.pack(fmt, value)
    return b"\xcf" + struct.pack(">Q", value)


def int64(value):
    """msgpack int64 as event_pack_body's msgpack_pack_int64 may write it (full width)."""
    return b"\xd3" + struct.pack(">q", value)


CODEC = {
    "empty_map": b"\x80",
    "request": fixmap(s("service"), s("echo"), s("text"), s("hi")),
    "scalars": fixmap(
        s("n"), b"\xc0",
        s("t"), b"\xc3",
        s("f"), b"\xc2",
        s("u8"), b"\xcc\xc8",
        s("i8"), b"\xd0\xfb",
        s("u16"), b"\xcd\x12\x34",
        s("i32"), b"\xd2\x80\x00\x00\x00",
        s("u64"), b"\xcf" + b"\xff" * 8,
        s("i64"), b"\xd3\x00\x00\x00\x00\x00\x00\x00\x05",  # non-minimal positive
        s("neg"), b"\xe0",
    ),
    "floats": fixmap(
        s("f32"), b"\xca" + struct.pack(">f", 1.5),
        s("f64"), b"\xcb" + struct.pack(">d", -2.25),
        s("nan"), b"\xcb\x7f\xf8\x00\x00\x00\x00\x00\x00",
    ),
    "nested": fixmap(s("a"), fixmap(s("b"), b"\x92\x01\x92\x02" + fixmap(s("c"), b"\xc0"))),
    "map16": b"\xde\x00\x02" + s("x") + b"\x01" + s("y") + b"\x02",
    "map32": b"\xdf\x00\x00\x00\x02" + s("k") + b"\xdc\x00\x02" + s("v") + b"\xc3"
    + s("w") + b"\xdd\x00\x00\x00\x00",
    "utf8": fixmap(s("s"), s("h\u00e9llo \u20ac \U00010348"), s("\u00fc"), s("\U0010ffff")),
    "bin": fixmap(s("b"), b"\xc4\x04\x00\x01\x02\xff", s("b16"), b"\xc5\x00\x01\x7f"),
    "str8": fixmap(s("long"), s("x" * 40), s("s32"), b"\xdb\x00\x00\x00\x02ok"),
    "error_reply": fixmap(
        s("id"), b"\x07", s("ok"), b"\xc2",
        s("error"), fixmap(s("code"), s("bad_request"), s("message"), s("nope")),
    ),
    "duplicate_key": fixmap(s("a"), b"\x01", s("a"), b"\x02"),
    "bad_utf8": fixmap(s("s"), s(b"\xed\xa0\x80")),
    "ext": fixmap(s("e"), b"\xd4\x01\x00"),
    "str_id": fixmap(s("id"), s("abc"), s("x"), b"\x90"),
    "many_keys": b"\xde\x00\x12" + b"".join(s("k%02d" % i) + bytes([i]) for i in range(18)),
}

JSON = {
    "empty_object": b"{}",
    "request": b'{"service":"echo","text":"hello"}',
    "scalars": b'{"a":null,"b":true,"c":false,"d":0,"e":-1,'
    b'"f":9223372036854775807,"g":-9223372036854775808}',
    "reals": b'{"r":1.5,"s":-0.0,"t":1e300,"u":5e-324,"v":0.1}',
    "nested": b'{"nested":{"x":[1,[2,[3,{"y":"z"}]]]}}',
    "escapes": b'{"u":"h\\u00e9llo \\u20ac \\ud800\\udf48","esc":"\\"\\\\\\/\\b\\f\\n\\r\\t"}',
    "array": b"[1,2.5,\"three\",null]",
    "string": b'"just a string"',
    "duplicate_key": b'{"dup":1,"dup":2}',
    "truncated": b'{"unterminated": [1,2',
    "nul_escape": b'{"k":"\\u0000"}',
    "deep": b'{"deep":' + b"[" * 18 + b"1" + b"]" * 18 + b"}",
    "number": b"42",
    "too_big_int": b'{"big":18446744073709551616}',
    "pretty": b'{\n  "a": [\n    1,\n    2\n  ],\n  "b": {}\n}\n',
}


# Event model (fuzz_event): each seed is tried as a leaf, as an append
# request and as an entry body, so there are some of each.
TS = 1700000000123456789


def body(etype, agent, by, role, data, ts=TS, **refs):
    """An entry body as event_pack_body writes it: v, ts, type, agent, by, role, refs, data."""
    pairs = [s("v"), uint(1), s("ts"), int64(ts), s("type"), s(etype), s("agent"), s(agent),
             s("by"), s(by), s("role"), s(role)]
    for key in ("client_id", "correlation", "causation"):
        if key in refs:
            pairs += [s(key), s(refs[key])]
    pairs += [s("data"), data]
    return fixmap(*pairs)


def leaf(seq, etype, agent, by, role, data, ts=TS, **refs):
    """{seq, <body's pairs>}: what event_leaf makes of body(...)."""
    b = body(etype, agent, by, role, data, ts, **refs)
    return bytes([b[0] + 1]) + s("seq") + uint(seq) + b[1:]


def append(*events):
    return fixmap(s("op"), s("append"), s("events"), array(*events))


EVENT = {
    "leaf_custom": leaf(0, "custom", "agent-1", "agent-1", "agent", fixmap()),
    "leaf_file_write": leaf(41, "file.write", "agent-1", "agent-1", "agent",
                            fixmap(s("path"), s("/srv/work/a.txt"), s("bytes"), uint(1234)),
                            client_id="c-41", correlation="run-7", causation="cmd-40"),
    "leaf_decision": leaf(2**63 - 1, "validation.decision", "agent-7", "validator-1", "node",
                          fixmap(s("decision"), s("deny"), s("rule"), s("rm-rf"),
                                 s("score"), b"\xcb" + struct.pack(">d", 0.75)),
                          ts=-5, correlation="r-1"),
    "leaf_nested_data": leaf(300, "integrity.alert", "node-2", "node-2", "node",
                             fixmap(s("kind"), s("root_mismatch"),
                                    s("peers"), array(s("n1"), s("n2")),
                                    s("at"), fixmap(s("size"), uint(70000), s("ok"), b"\xc2"))),
    "leaf_map16": b"\xde\x00\x08" + leaf(7, "session.start", "a", "a", "agent", fixmap())[1:],
    "leaf_bad_version": leaf(1, "custom", "a", "a", "agent", fixmap()).replace(
        s("v") + uint(1), s("v") + uint(2)),
    "leaf_unknown_type": leaf(1, "custom.thing", "a", "a", "agent", fixmap()),
    "leaf_role_too_long": leaf(1, "custom", "a", "a", "administrator-role", fixmap()),
    "body_agent_join": body("agent.join", "agent-3", "node-1", "node", fixmap(s("host"), s("h1")),
                            client_id="join-3"),
    "body_map16": map16(s("v"), uint(1), s("ts"), uint(5), s("type"), s("custom"),
                        s("agent"), s("x"), s("by"), s("x"), s("role"), s("agent"),
                        s("data"), fixmap()),
    "request_agent": append(
        fixmap(s("type"), s("file.write"), s("data"), fixmap(s("path"), s("/w/a")),
               s("client_id"), s("c-1")),
        fixmap(s("type"), s("custom"), s("agent"), s("agent-1"), s("data"),
               fixmap(s("k"), array(uint(1), uint(2)))),
        fixmap(s("type"), s("command.executed"), s("data"), fixmap(s("cmd"), s("ls -la")),
               s("correlation"), s("sess-9"), s("causation"), s("cmd-8")),
    ),
    "request_node": append(
        fixmap(s("type"), s("validation.decision"), s("agent"), s("agent-7"),
               s("data"), fixmap(s("decision"), s("allow")), s("correlation"), s("r-1")),
        fixmap(s("type"), s("escalation.requested"), s("agent"), s("agent-7"), s("data"), fixmap()),
        fixmap(s("type"), s("agent.leave"), s("data"), fixmap(s("why"), s("done"))),
    ),
    "request_refused": append(
        fixmap(s("type"), s("custom"), s("agent"), s("agent-2"), s("data"), fixmap()),
        fixmap(s("type"), s("file.write"), s("data"), fixmap(s("path"), s(""))),
        fixmap(s("type"), s("file.write"), s("data"), fixmap(s("path"), s("a\x00b"))),
        fixmap(s("type"), s("custom"), s("data"), fixmap(), s("client_id"), s("has space")),
        fixmap(s("type"), s("custom"), s("data"), fixmap(), s("client_id"), s("x" * 65)),
        fixmap(s("type"), s("custom"), s("data"), fixmap(), s("client_id"), s("")),
        fixmap(s("type"), s("custom"), s("data"), array()),
        fixmap(s("type"), uint(3), s("data"), fixmap()),
        fixmap(s("type"), s("custom"), s("data"), fixmap(), s("seq"), uint(1)),
        fixmap(s("type"), s("custom"), s("agent"), s("bad agent!"), s("data"), fixmap()),
        s("not a map"),
    ),
}


def write(directory, seeds):
    path = os.path.join(HERE, directory)
    os.makedirs(path, exist_ok=True)
    for name, data in seeds.items():
        with open(os.path.join(path, name), "wb") as f:
            f.write(data)


if __name__ == "__main__":
    write("corpus_codec", CODEC)
    write("corpus_json", JSON)
    write("corpus_event", EVENT)
