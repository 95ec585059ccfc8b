#!/usr/bin/env python3
"""Writes the hand-made seed corpora for the fuzz targets.

    python3 schemas/fuzz/gen_corpus.py      # rewrites corpus_codec/ and corpus_json/

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


def write(directory, seeds):
    path = os.path.join(HERE, directory)
    os.makedirs(path, exist_ok=True)
    for name, data in seeds.items():
        with open(os.path.join(path, name), "wb") as f:
            f.write(data)


if __name__ == "__main__":
    write("corpus_codec", CODEC)
    write("corpus_json", JSON)
