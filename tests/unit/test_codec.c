/*  test_codec -- unit tests for schemas/codec.c (cmocka). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "codec.h"
#include "test_util.h"

//  --------------------------------------------------------------------------
//  Helpers

//  codec_check and codec_doc_decode must both give code and reason
static void
s_expect (const char *label, const void *data, size_t size, lh_err_t code, const char *reason)
{
    const char *why = NULL;
    lh_err_t rc = codec_check (data, size, NULL, &why);
    if (rc != code)
        fail_msg ("%s: codec_check returned %s (%s), expected %s", label, codec_err_name (rc),
                  why ? why : "-", codec_err_name (code));
    if (reason && (!why || strcmp (why, reason) != 0))
        fail_msg ("%s: reason '%s', expected '%s'", label, why ? why : "(null)", reason);

    lh_err_t err = LH_OK;
    const char *why2 = NULL;
    codec_doc_t *doc = codec_doc_decode (data, size, &err, &why2);
    if (code == LH_OK) {
        if (!doc)
            fail_msg ("%s: decode failed: %s", label, why2 ? why2 : "-");
        codec_doc_destroy (&doc);
        assert_null (doc);
    } else {
        if (doc)
            fail_msg ("%s: decode accepted a body the check refuses", label);
        if (err != code)
            fail_msg ("%s: decode returned %s, expected %s", label, codec_err_name (err),
                      codec_err_name (code));
        if (reason && (!why2 || strcmp (why2, reason) != 0))
            fail_msg ("%s: decode reason '%s', expected '%s'", label, why2 ? why2 : "(null)",
                      reason);
    }
}

//  Wraps one value as {"v": value}
static void
s_expect_value (const char *label, const uint8_t *value, size_t size, lh_err_t code,
                const char *reason)
{
    buf_t b = {0};
    b_bytes (&b, 3, 0x81, 0xA1, 'v');
    b_put (&b, value, size);
    s_expect (label, b.data, b.size, code, reason);
    b_free (&b);
}

static codec_doc_t *
s_decode_ok (const buf_t *b)
{
    lh_err_t err = LH_E_COUNT;
    const char *why = NULL;
    codec_doc_t *doc = codec_doc_decode (b->data, b->size, &err, &why);
    if (!doc)
        fail_msg ("decode failed: %s (%s)", codec_err_name (err), why ? why : "-");
    assert_int_equal (err, LH_OK);
    return doc;
}

//  {"k": {"k": ... {}}}: levels maps in all, the root included
static void
s_nested_maps (buf_t *b, int levels)
{
    for (int i = 0; i < levels - 1; i++)
        b_bytes (b, 3, 0x81, 0xA1, 'k');
    b_byte (b, 0x80);
}

//  --------------------------------------------------------------------------
//  Valid bodies

static void
test_limits_default (void **state)
{
    (void) state;
    const codec_limits_t *limits = codec_limits_default ();
    assert_non_null (limits);
    assert_int_equal (limits->max_size, LH_MAX_BODY);
    assert_int_equal (limits->max_depth, LH_MAX_DEPTH);
    assert_int_equal (limits->max_str, LH_MAX_STR);
    assert_int_equal (limits->max_key, LH_MAX_KEY);
    assert_int_equal (limits->max_items, LH_MAX_ITEMS);
}

//  A map16 holding every msgpack type the protocol allows, in every width
static void
s_every_type (buf_t *b)
{
    b_bytes (b, 3, 0xDE, 0x00, 29);
    b_str (b, "nil"), b_byte (b, 0xC0);
    b_str (b, "true"), b_byte (b, 0xC3);
    b_str (b, "false"), b_byte (b, 0xC2);
    b_str (b, "pfix"), b_byte (b, 0x7F);
    b_str (b, "nfix"), b_byte (b, 0xE0);
    b_str (b, "u8"), b_bytes (b, 2, 0xCC, 0xFF);
    b_str (b, "u16"), b_bytes (b, 3, 0xCD, 0xFF, 0xFF);
    b_str (b, "u32"), b_bytes (b, 5, 0xCE, 0xFF, 0xFF, 0xFF, 0xFF);
    b_str (b, "u64"), b_byte (b, 0xCF), b_be (b, UINT64_MAX, 8);
    b_str (b, "i8"), b_bytes (b, 2, 0xD0, 0x80);
    b_str (b, "i16"), b_bytes (b, 3, 0xD1, 0x80, 0x00);
    b_str (b, "i32"), b_bytes (b, 5, 0xD2, 0x80, 0x00, 0x00, 0x00);
    b_str (b, "i64"), b_byte (b, 0xD3), b_be (b, (uint64_t) INT64_MIN, 8);
    b_str (b, "f32"), b_bytes (b, 5, 0xCA, 0x3F, 0xC0, 0x00, 0x00);       //  1.5
    b_str (b, "f64"), b_bytes (b, 9, 0xCB, 0xC0, 0x02, 0, 0, 0, 0, 0, 0); //  -2.25
    b_str (b, "fixstr"), b_bytes (b, 4, 0xA3, 'a', 'b', 'c');
    b_str (b, "str8"), b_bytes (b, 5, 0xD9, 3, 'a', 'b', 'c');
    b_str (b, "str16"), b_bytes (b, 6, 0xDA, 0, 3, 'a', 'b', 'c');
    b_str (b, "str32"), b_bytes (b, 8, 0xDB, 0, 0, 0, 3, 'a', 'b', 'c');
    b_str (b, "bin8"), b_bytes (b, 4, 0xC4, 2, 0x00, 0xFF);
    b_str (b, "bin16"), b_bytes (b, 5, 0xC5, 0, 2, 0x00, 0xFF);
    b_str (b, "bin32"), b_bytes (b, 7, 0xC6, 0, 0, 0, 2, 0x00, 0xFF);
    b_str (b, "arr"), b_bytes (b, 3, 0x92, 0x01, 0xC0);
    b_str (b, "arr16"), b_bytes (b, 5, 0xDC, 0, 2, 0x01, 0xC0);
    b_str (b, "arr32"), b_bytes (b, 7, 0xDD, 0, 0, 0, 2, 0x01, 0xC0);
    b_str (b, "map"), b_bytes (b, 4, 0x81, 0xA1, 'k', 0x01);
    b_str (b, "map16"), b_bytes (b, 6, 0xDE, 0, 1, 0xA1, 'k', 0x01);
    b_str (b, "map32"), b_bytes (b, 8, 0xDF, 0, 0, 0, 1, 0xA1, 'k', 0x01);
    b_str (b, "empty"), b_bytes (b, 4, 0x93, 0xA0, 0x90, 0x80);
}

static void
s_assert_str_value (const msgpack_object *root, const char *key, const char *expected)
{
    const msgpack_object *v = codec_map_get (root, key);
    if (!v)
        fail_msg ("field %s missing", key);
    assert_int_equal (v->type, MSGPACK_OBJECT_STR);
    assert_int_equal (v->via.str.size, strlen (expected));
    assert_memory_equal (v->via.str.ptr, expected, strlen (expected));
}

static void
s_assert_bin_value (const msgpack_object *root, const char *key)
{
    const msgpack_object *v = codec_map_get (root, key);
    if (!v)
        fail_msg ("field %s missing", key);
    assert_int_equal (v->type, MSGPACK_OBJECT_BIN);
    assert_int_equal (v->via.bin.size, 2);
    assert_memory_equal (v->via.bin.ptr, "\x00\xFF", 2);
}

static void
s_assert_pair_array (const msgpack_object *root, const char *key)
{
    const msgpack_object *v = codec_map_get (root, key);
    if (!v)
        fail_msg ("field %s missing", key);
    assert_int_equal (v->type, MSGPACK_OBJECT_ARRAY);
    assert_int_equal (v->via.array.size, 2);
    assert_int_equal (v->via.array.ptr[0].type, MSGPACK_OBJECT_POSITIVE_INTEGER);
    assert_int_equal (v->via.array.ptr[0].via.u64, 1);
    assert_int_equal (v->via.array.ptr[1].type, MSGPACK_OBJECT_NIL);
}

static void
s_assert_one_map (const msgpack_object *root, const char *key)
{
    const msgpack_object *v = codec_map_get (root, key);
    if (!v)
        fail_msg ("field %s missing", key);
    assert_int_equal (v->type, MSGPACK_OBJECT_MAP);
    assert_int_equal (v->via.map.size, 1);
    const msgpack_object *k = codec_map_get (v, "k");
    assert_non_null (k);
    assert_int_equal (k->via.u64, 1);
}

static void
test_valid_every_type (void **state)
{
    (void) state;
    buf_t b = {0};
    s_every_type (&b);
    s_expect ("every type", b.data, b.size, LH_OK, NULL);

    codec_doc_t *doc = s_decode_ok (&b);
    const msgpack_object *root = codec_doc_root (doc);
    assert_int_equal (root->type, MSGPACK_OBJECT_MAP);
    assert_int_equal (root->via.map.size, 29);

    assert_int_equal (codec_map_get (root, "nil")->type, MSGPACK_OBJECT_NIL);
    bool flag = false;
    char why[128];
    assert_int_equal (codec_get_bool (root, "true", true, &flag, why, sizeof (why)), LH_OK);
    assert_true (flag);
    assert_int_equal (codec_get_bool (root, "false", true, &flag, why, sizeof (why)), LH_OK);
    assert_false (flag);

    const msgpack_object *u64 = codec_map_get (root, "u64");
    assert_int_equal (u64->type, MSGPACK_OBJECT_POSITIVE_INTEGER);
    assert_true (u64->via.u64 == UINT64_MAX);

    struct {
        const char *key;
        int64_t value;
    } ints[] = {{"pfix", 127},   {"nfix", -32},       {"u8", 255},
                {"u16", 65535},  {"u32", 4294967295}, {"i8", -128},
                {"i16", -32768}, {"i32", INT32_MIN},  {"i64", INT64_MIN}};
    for (size_t i = 0; i < sizeof (ints) / sizeof (ints[0]); i++) {
        int64_t n = 0;
        lh_err_t rc =
            codec_get_int (root, ints[i].key, true, INT64_MIN, INT64_MAX, &n, why, sizeof (why));
        if (rc != LH_OK || n != ints[i].value)
            fail_msg ("%s: rc %d value %lld, expected %lld", ints[i].key, rc, (long long) n,
                      (long long) ints[i].value);
    }
    const msgpack_object *f32 = codec_map_get (root, "f32");
    assert_int_equal (f32->type, MSGPACK_OBJECT_FLOAT32);
    assert_true (f32->via.f64 == 1.5);
    const msgpack_object *f64 = codec_map_get (root, "f64");
    assert_int_equal (f64->type, MSGPACK_OBJECT_FLOAT64);
    assert_true (f64->via.f64 == -2.25);

    s_assert_str_value (root, "fixstr", "abc");
    s_assert_str_value (root, "str8", "abc");
    s_assert_str_value (root, "str16", "abc");
    s_assert_str_value (root, "str32", "abc");
    s_assert_bin_value (root, "bin8");
    s_assert_bin_value (root, "bin16");
    s_assert_bin_value (root, "bin32");
    s_assert_pair_array (root, "arr");
    s_assert_pair_array (root, "arr16");
    s_assert_pair_array (root, "arr32");
    s_assert_one_map (root, "map");
    s_assert_one_map (root, "map16");
    s_assert_one_map (root, "map32");
    const msgpack_object *empty = codec_map_get (root, "empty");
    assert_int_equal (empty->via.array.size, 3);
    assert_int_equal (empty->via.array.ptr[0].via.str.size, 0);
    assert_int_equal (empty->via.array.ptr[1].via.array.size, 0);
    assert_int_equal (empty->via.array.ptr[2].via.map.size, 0);
    codec_doc_destroy (&doc);
    assert_null (doc);
    b_free (&b);
}

static void
test_valid_root_headers (void **state)
{
    (void) state;
    const uint8_t fixmap_empty[] = {0x80};
    const uint8_t map16_empty[] = {0xDE, 0, 0};
    const uint8_t map32_empty[] = {0xDF, 0, 0, 0, 0};
    const uint8_t map16_one[] = {0xDE, 0, 1, 0xA1, 'a', 0x01};
    const uint8_t map32_one[] = {0xDF, 0, 0, 0, 1, 0xA1, 'a', 0x01};
    s_expect ("fixmap {}", fixmap_empty, sizeof (fixmap_empty), LH_OK, NULL);
    s_expect ("map16 {}", map16_empty, sizeof (map16_empty), LH_OK, NULL);
    s_expect ("map32 {}", map32_empty, sizeof (map32_empty), LH_OK, NULL);
    s_expect ("map16 {a}", map16_one, sizeof (map16_one), LH_OK, NULL);
    s_expect ("map32 {a}", map32_one, sizeof (map32_one), LH_OK, NULL);
}

//  --------------------------------------------------------------------------
//  Rejections

static void
test_reject_empty_and_not_map (void **state)
{
    (void) state;
    const uint8_t one = 0x80;
    s_expect ("empty", &one, 0, LH_E_BAD_REQUEST, "empty body");
    s_expect ("NULL, 0", NULL, 0, LH_E_BAD_REQUEST, "empty body");

    const uint8_t *not_maps[] = {
        (const uint8_t *) "\x90",
        (const uint8_t *) "\xC0",
        (const uint8_t *) "\x01",
        (const uint8_t *) "\xA1"
                          "a",
        (const uint8_t *) "\xDC\x00\x00",
        (const uint8_t *) "\xC4\x00",
        (const uint8_t *) "\xC1",
        (const uint8_t *) "\xFF",
    };
    const size_t sizes[] = {1, 1, 1, 2, 3, 2, 1, 1};
    for (size_t i = 0; i < sizeof (sizes) / sizeof (sizes[0]); i++) {
        char label[64];
        snprintf (label, sizeof (label), "not a map #%zu", i);
        s_expect (label, not_maps[i], sizes[i], LH_E_BAD_REQUEST, "body is not a msgpack map");
    }
}

static void
test_reject_truncated_every_byte (void **state)
{
    (void) state;
    buf_t b = {0};
    s_every_type (&b);
    assert_true (b.size > 100);
    for (size_t cut = 1; cut < b.size; cut++) {
        char label[64];
        snprintf (label, sizeof (label), "cut at %zu of %zu", cut, b.size);
        s_expect (label, b.data, cut, LH_E_BAD_REQUEST, "truncated msgpack");
    }
    b_free (&b);
}

static void
test_reject_lying_counts (void **state)
{
    (void) state;
    codec_limits_t loose = *codec_limits_default ();
    loose.max_items = SIZE_MAX;
    const char *why = NULL;

    //  array32 claiming 2^32-1 items, 10 bytes in all
    const uint8_t array32[] = {0x81, 0xA1, 'a', 0xDD, 0xFF, 0xFF, 0xFF, 0xFF, 0x01, 0x02};
    s_expect ("array32 2^32-1", array32, sizeof (array32), LH_E_TOO_LARGE,
              "too many entries in a map or array");
    assert_int_equal (codec_check (array32, sizeof (array32), &loose, &why), LH_E_BAD_REQUEST);
    assert_string_equal (why, "truncated msgpack");

    //  Root map32 claiming 2^32-1 entries
    const uint8_t map32[] = {0xDF, 0xFF, 0xFF, 0xFF, 0xFF, 0xA1, 'a', 0x01};
    s_expect ("map32 2^32-1", map32, sizeof (map32), LH_E_TOO_LARGE,
              "too many entries in a map or array");
    assert_int_equal (codec_check (map32, sizeof (map32), &loose, &why), LH_E_BAD_REQUEST);
    assert_string_equal (why, "truncated msgpack");

    //  Within max_items but past the end of the body
    const uint8_t array16[] = {0x81, 0xA1, 'a', 0xDC, 0x10, 0x00, 0x01, 0x02};
    s_expect ("array16 4096", array16, sizeof (array16), LH_E_BAD_REQUEST, "truncated msgpack");
    const uint8_t map16[] = {0x81, 0xA1, 'a', 0xDE, 0x0B, 0xB8, 0xA1, 'b', 0x01};
    s_expect ("map16 3000", map16, sizeof (map16), LH_E_BAD_REQUEST, "truncated msgpack");
    //  2 entries need at least 4 bytes, 3 left
    const uint8_t map2[] = {0x82, 0xA1, 'a', 0x01};
    s_expect ("fixmap 2 in 3 bytes", map2, sizeof (map2), LH_E_BAD_REQUEST, "truncated msgpack");

    //  Strings and bins claiming more bytes than there are
    const uint8_t str32[] = {0x81, 0xA1, 'a', 0xDB, 0x00, 0x01, 0x00, 0x00, 'x', 'y', 'z'};
    s_expect ("str32 65536", str32, sizeof (str32), LH_E_BAD_REQUEST, "truncated msgpack");
    const uint8_t str32_huge[] = {0x81, 0xA1, 'a', 0xDB, 0xFF, 0xFF, 0xFF, 0xFF, 'x'};
    s_expect ("str32 2^32-1", str32_huge, sizeof (str32_huge), LH_E_TOO_LARGE, "string too long");
    const uint8_t bin32[] = {0x81, 0xA1, 'a', 0xC6, 0x00, 0x00, 0x00, 0x64, 0x00, 0x01};
    s_expect ("bin32 100", bin32, sizeof (bin32), LH_E_BAD_REQUEST, "truncated msgpack");
    const uint8_t bin32_huge[] = {0x81, 0xA1, 'a', 0xC6, 0xFF, 0xFF, 0xFF, 0xFF, 0x00};
    s_expect ("bin32 2^32-1", bin32_huge, sizeof (bin32_huge), LH_E_TOO_LARGE,
              "binary value too long");
    const uint8_t key16[] = {0x81, 0xDA, 0x00, 0x20, 'k', 0x01};
    s_expect ("str16 key 32", key16, sizeof (key16), LH_E_BAD_REQUEST, "truncated msgpack");
}

static void
test_reject_depth (void **state)
{
    (void) state;
    buf_t b = {0};
    s_nested_maps (&b, LH_MAX_DEPTH);
    s_expect ("16 maps", b.data, b.size, LH_OK, NULL);
    b_free (&b);
    s_nested_maps (&b, LH_MAX_DEPTH + 1);
    s_expect ("17 maps", b.data, b.size, LH_E_TOO_LARGE, "nesting too deep");
    b_free (&b);

    //  Root map, then arrays
    for (int levels = LH_MAX_DEPTH; levels <= LH_MAX_DEPTH + 1; levels++) {
        b_bytes (&b, 3, 0x81, 0xA1, 'a');
        for (int i = 1; i < levels - 1; i++)
            b_byte (&b, 0x91);
        b_byte (&b, 0x90);
        if (levels == LH_MAX_DEPTH)
            s_expect ("map + 15 arrays", b.data, b.size, LH_OK, NULL);
        else
            s_expect ("map + 16 arrays", b.data, b.size, LH_E_TOO_LARGE, "nesting too deep");
        b_free (&b);
    }

    //  Custom limits are honoured
    codec_limits_t shallow = *codec_limits_default ();
    shallow.max_depth = 2;
    const char *why = NULL;
    s_nested_maps (&b, 2);
    assert_int_equal (codec_check (b.data, b.size, &shallow, &why), LH_OK);
    b_free (&b);
    s_nested_maps (&b, 3);
    assert_int_equal (codec_check (b.data, b.size, &shallow, &why), LH_E_TOO_LARGE);
    assert_string_equal (why, "nesting too deep");
    b_free (&b);
}

static void
test_reject_key_too_long (void **state)
{
    (void) state;
    char key[LH_MAX_KEY + 2];
    memset (key, 'k', sizeof (key));
    buf_t b = {0};
    b_byte (&b, 0x81);
    b_strn (&b, key, LH_MAX_KEY);
    b_byte (&b, 0x01);
    s_expect ("key 64", b.data, b.size, LH_OK, NULL);
    b_free (&b);

    b_byte (&b, 0x81);
    b_strn (&b, key, LH_MAX_KEY + 1);
    b_byte (&b, 0x01);
    s_expect ("key 65", b.data, b.size, LH_E_TOO_LARGE, "map key too long");
    b_free (&b);

    //  Nested, and as str32: the header form does not matter
    b_bytes (&b, 4, 0x81, 0xA1, 'a', 0x81);
    b_byte (&b, 0xDB);
    b_be (&b, LH_MAX_KEY + 1, 4);
    b_put (&b, key, LH_MAX_KEY + 1);
    b_byte (&b, 0x01);
    s_expect ("nested str32 key 65", b.data, b.size, LH_E_TOO_LARGE, "map key too long");
    b_free (&b);

    //  A 65-byte string is fine as a value
    b_bytes (&b, 3, 0x81, 0xA1, 'a');
    b_strn (&b, key, LH_MAX_KEY + 1);
    s_expect ("value 65", b.data, b.size, LH_OK, NULL);
    b_free (&b);
}

static void
s_big_value (buf_t *b, uint8_t type, size_t len, char fill)
{
    b_bytes (b, 3, 0x81, 0xA1, 'v');
    b_byte (b, type);
    b_be (b, len, 4);
    size_t at = b->size;
    for (size_t i = 0; i < len; i++)
        b_byte (b, (uint8_t) fill);
    assert_int_equal (b->size, at + len);
}

static void
test_reject_string_too_long (void **state)
{
    (void) state;
    buf_t b = {0};
    s_big_value (&b, 0xDB, LH_MAX_STR, 'x');
    s_expect ("str LH_MAX_STR", b.data, b.size, LH_OK, NULL);
    b_free (&b);
    s_big_value (&b, 0xDB, LH_MAX_STR + 1, 'x');
    s_expect ("str LH_MAX_STR+1", b.data, b.size, LH_E_TOO_LARGE, "string too long");
    b_free (&b);
    s_big_value (&b, 0xC6, LH_MAX_STR, 0);
    s_expect ("bin LH_MAX_STR", b.data, b.size, LH_OK, NULL);
    b_free (&b);
    s_big_value (&b, 0xC6, LH_MAX_STR + 1, 0);
    s_expect ("bin LH_MAX_STR+1", b.data, b.size, LH_E_TOO_LARGE, "binary value too long");
    b_free (&b);
}

//  {"a": bin, "b": bin} of exactly size bytes (size >= 15)
static void
s_body_of_size (buf_t *b, size_t size)
{
    size_t payload = size - 15;
    size_t first = payload > LH_MAX_STR ? LH_MAX_STR : payload;
    b_bytes (b, 3, 0x82, 0xA1, 'a');
    b_byte (b, 0xC6);
    b_be (b, first, 4);
    for (size_t i = 0; i < first; i++)
        b_byte (b, 0x55);
    b_bytes (b, 2, 0xA1, 'b');
    b_byte (b, 0xC6);
    b_be (b, payload - first, 4);
    for (size_t i = 0; i < payload - first; i++)
        b_byte (b, 0xAA);
    assert_int_equal (b->size, size);
}

static void
test_reject_body_too_large (void **state)
{
    (void) state;
    buf_t b = {0};
    s_body_of_size (&b, LH_MAX_BODY);
    s_expect ("body LH_MAX_BODY", b.data, b.size, LH_OK, NULL);
    b_byte (&b, 0xC0);
    s_expect ("body LH_MAX_BODY+1", b.data, b.size, LH_E_TOO_LARGE, "body too large");
    b_free (&b);

    codec_limits_t small = *codec_limits_default ();
    small.max_size = 4;
    const uint8_t four[] = {0x81, 0xA1, 'a', 0x01};
    const uint8_t five[] = {0x81, 0xA1, 'a', 0xCC, 0x01};
    const char *why = NULL;
    assert_int_equal (codec_check (four, sizeof (four), &small, &why), LH_OK);
    assert_int_equal (codec_check (five, sizeof (five), &small, &why), LH_E_TOO_LARGE);
    assert_string_equal (why, "body too large");
}

static void
test_reject_too_many_items (void **state)
{
    (void) state;
    buf_t b = {0};
    for (int n = LH_MAX_ITEMS; n <= LH_MAX_ITEMS + 1; n++) {
        b_bytes (&b, 3, 0x81, 0xA1, 'a');
        b_byte (&b, 0xDC);
        b_be (&b, (uint64_t) n, 2);
        for (int i = 0; i < n; i++)
            b_byte (&b, 0xC0);
        if (n == LH_MAX_ITEMS)
            s_expect ("array 4096", b.data, b.size, LH_OK, NULL);
        else
            s_expect ("array 4097", b.data, b.size, LH_E_TOO_LARGE,
                      "too many entries in a map or array");
        b_free (&b);

        b_byte (&b, 0xDE);
        b_be (&b, (uint64_t) n, 2);
        for (int i = 0; i < n; i++) {
            char key[8];
            snprintf (key, sizeof (key), "k%d", i);
            b_str (&b, key);
            b_byte (&b, 0x01);
        }
        if (n == LH_MAX_ITEMS)
            s_expect ("map 4096", b.data, b.size, LH_OK, NULL);
        else
            s_expect ("map 4097", b.data, b.size, LH_E_TOO_LARGE,
                      "too many entries in a map or array");
        b_free (&b);
    }
}

static void
test_reject_unsupported_types (void **state)
{
    (void) state;
    struct {
        const char *label;
        uint8_t bytes[8];
        size_t size;
    } cases[] = {
        {"0xC1", {0xC1}, 1},
        {"ext8", {0xC7, 0x01, 0x05, 0x00}, 4},
        {"ext16", {0xC8, 0x00, 0x01, 0x05, 0x00}, 5},
        {"ext32", {0xC9, 0x00, 0x00, 0x00, 0x01, 0x05, 0x00}, 7},
        {"fixext1", {0xD4, 0x05, 0x00}, 3},
        {"fixext2", {0xD5, 0x05, 0x00, 0x00}, 4},
        {"fixext4", {0xD6, 0x05, 0x00, 0x00, 0x00, 0x00}, 6},
        {"fixext8", {0xD7, 0x05, 0, 0, 0, 0, 0, 0}, 8},
        {"timestamp", {0xD6, 0xFF, 0x00, 0x00, 0x00, 0x01}, 6},
    };
    for (size_t i = 0; i < sizeof (cases) / sizeof (cases[0]); i++)
        s_expect_value (cases[i].label, cases[i].bytes, cases[i].size, LH_E_BAD_REQUEST,
                        "unsupported msgpack type");

    //  fixext16 (18 bytes) inside an array
    buf_t b = {0};
    b_bytes (&b, 5, 0x81, 0xA1, 'a', 0x92, 0x01);
    b_bytes (&b, 2, 0xD8, 0x05);
    for (int i = 0; i < 16; i++)
        b_byte (&b, 0);
    s_expect ("fixext16 in array", b.data, b.size, LH_E_BAD_REQUEST, "unsupported msgpack type");
    b_free (&b);
}

static void
test_reject_non_string_keys (void **state)
{
    (void) state;
    struct {
        const char *label;
        uint8_t bytes[10];
        size_t size;
    } keys[] = {
        {"int key", {0x01}, 1},
        {"negative key", {0xE0}, 1},
        {"uint8 key", {0xCC, 0x01}, 2},
        {"nil key", {0xC0}, 1},
        {"bool key", {0xC3}, 1},
        {"float key", {0xCB, 0x3F, 0xF0, 0, 0, 0, 0, 0, 0}, 9},
        {"bin key", {0xC4, 0x01, 'a'}, 3},
        {"array key", {0x91, 0xA1, 'a'}, 3},
        {"map key", {0x80}, 1},
        {"ext key", {0xD4, 0x01, 0x00}, 3},
    };
    buf_t b = {0};
    for (size_t i = 0; i < sizeof (keys) / sizeof (keys[0]); i++) {
        b_byte (&b, 0x81);
        b_put (&b, keys[i].bytes, keys[i].size);
        b_byte (&b, 0x01);
        s_expect (keys[i].label, b.data, b.size, LH_E_BAD_REQUEST, "map key is not a string");
        b_free (&b);
    }
    //  Second key of a nested map
    const uint8_t nested[] = {0x81, 0xA1, 'a', 0x82, 0xA1, 'b', 0x01, 0x02, 0x03};
    s_expect ("nested int key", nested, sizeof (nested), LH_E_BAD_REQUEST,
              "map key is not a string");
}

typedef struct {
    const char *bytes;
    size_t size;
} text_t;
#define TEXT(lit)                                                                                  \
    {                                                                                              \
        lit, sizeof (lit) - 1                                                                      \
    }

static const text_t s_bad_utf8[] = {
    TEXT ("\xC0\x80"),             //  overlong NUL
    TEXT ("\xC1\xBF"),             //  overlong U+007F
    TEXT ("\xE0\x80\x80"),         //  overlong 3-byte
    TEXT ("\xE0\x9F\xBF"),         //  overlong U+07FF
    TEXT ("\xF0\x80\x80\x80"),     //  overlong 4-byte
    TEXT ("\xF0\x8F\xBF\xBF"),     //  overlong U+FFFF
    TEXT ("\xED\xA0\x80"),         //  surrogate U+D800
    TEXT ("\xED\xBF\xBF"),         //  surrogate U+DFFF
    TEXT ("\xF4\x90\x80\x80"),     //  U+110000
    TEXT ("\xF5\x80\x80\x80"),     //  past U+10FFFF
    TEXT ("\xF8\x88\x80\x80\x80"), //  5-byte form
    TEXT ("\xFE"),                 //
    TEXT ("\xFF"),                 //
    TEXT ("\x80"),                 //  lone continuation
    TEXT ("a\xBF"),                //  lone continuation after ASCII
    TEXT ("\xC3"),                 //  truncated 2-byte
    TEXT ("\xE2\x82"),             //  truncated 3-byte
    TEXT ("\xF0\x9F\x98"),         //  truncated 4-byte
    TEXT ("ok\xE2\x82"),           //  truncated at the end
    TEXT ("\xE2\x82"
          "a"),        //  ASCII where a continuation belongs
    TEXT ("\xC3\x28"), //  bad continuation
};

static const text_t s_good_utf8[] = {
    TEXT (""),
    TEXT ("plain"),
    {"a\0b", 3}, //  NUL is valid UTF-8
    TEXT ("\xC2\x80"),
    TEXT ("\xDF\xBF"),
    TEXT ("\xE0\xA0\x80"),
    TEXT ("\xED\x9F\xBF"), //  U+D7FF, just below the surrogates
    TEXT ("\xEE\x80\x80"), //  U+E000, just above
    TEXT ("\xEF\xBF\xBF"),
    TEXT ("\xF0\x90\x80\x80"),
    TEXT ("\xF4\x8F\xBF\xBF"), //  U+10FFFF
    TEXT ("h\xC3\xA9llo \xE2\x82\xAC \xF0\x9F\x98\x80"),
};

static void
test_utf8 (void **state)
{
    (void) state;
    buf_t b = {0};
    for (size_t i = 0; i < sizeof (s_bad_utf8) / sizeof (s_bad_utf8[0]); i++) {
        char label[64];
        snprintf (label, sizeof (label), "bad UTF-8 value #%zu", i);
        b_bytes (&b, 3, 0x81, 0xA1, 'v');
        b_strn (&b, s_bad_utf8[i].bytes, s_bad_utf8[i].size);
        s_expect (label, b.data, b.size, LH_E_BAD_REQUEST, "string is not valid UTF-8");
        b_free (&b);

        snprintf (label, sizeof (label), "bad UTF-8 key #%zu", i);
        b_byte (&b, 0x81);
        b_strn (&b, s_bad_utf8[i].bytes, s_bad_utf8[i].size);
        b_byte (&b, 0x01);
        s_expect (label, b.data, b.size, LH_E_BAD_REQUEST, "string is not valid UTF-8");
        b_free (&b);
    }
    for (size_t i = 0; i < sizeof (s_good_utf8) / sizeof (s_good_utf8[0]); i++) {
        char label[64];
        snprintf (label, sizeof (label), "good UTF-8 #%zu", i);
        b_bytes (&b, 3, 0x81, 0xA1, 'v');
        b_strn (&b, s_good_utf8[i].bytes, s_good_utf8[i].size);
        s_expect (label, b.data, b.size, LH_OK, NULL);
        b_free (&b);
    }
    //  bin is not text: any bytes
    const uint8_t bin[] = {0xC4, 0x03, 0xED, 0xA0, 0x80};
    s_expect_value ("bin with a surrogate", bin, sizeof (bin), LH_OK, NULL);
}

static void
test_reject_trailing_bytes (void **state)
{
    (void) state;
    const uint8_t nil_after[] = {0x80, 0xC0};
    s_expect ("{} nil", nil_after, sizeof (nil_after), LH_E_BAD_REQUEST,
              "trailing bytes after the body map");
    const uint8_t two_maps[] = {0x81, 0xA1, 'a', 0x01, 0x80};
    s_expect ("two maps", two_maps, sizeof (two_maps), LH_E_BAD_REQUEST,
              "trailing bytes after the body map");
    const uint8_t zero[] = {0x81, 0xA1, 'a', 0x01, 0x00};
    s_expect ("trailing zero", zero, sizeof (zero), LH_E_BAD_REQUEST,
              "trailing bytes after the body map");
}

static void
test_duplicate_keys_short_map (void **state)
{
    (void) state;
    const uint8_t dup[] = {0x82, 0xA1, 'a', 0x01, 0xA1, 'a', 0x02};
    const char *why = NULL;
    //  The byte walker does not look for duplicates; the decoder does
    assert_int_equal (codec_check (dup, sizeof (dup), NULL, &why), LH_OK);
    lh_err_t err = LH_OK;
    assert_null (codec_doc_decode (dup, sizeof (dup), &err, &why));
    assert_int_equal (err, LH_E_BAD_REQUEST);
    assert_string_equal (why, "duplicate map key");

    const uint8_t apart[] = {0x83, 0xA1, 'a', 0x01, 0xA1, 'b', 0x02, 0xA1, 'a', 0x03};
    err = LH_OK;
    assert_null (codec_doc_decode (apart, sizeof (apart), &err, &why));
    assert_int_equal (err, LH_E_BAD_REQUEST);

    const uint8_t nested[] = {0x81, 0xA1, 'x', 0x82, 0xA1, 'k', 0x01, 0xA1, 'k', 0x02};
    err = LH_OK;
    assert_null (codec_doc_decode (nested, sizeof (nested), &err, &why));
    assert_string_equal (why, "duplicate map key");

    const uint8_t in_array[] = {0x81, 0xA1, 'x',  0x92, 0x80, 0x82,
                                0xA1, 'k',  0x01, 0xA1, 'k',  0x02};
    err = LH_OK;
    assert_null (codec_doc_decode (in_array, sizeof (in_array), &err, &why));
    assert_string_equal (why, "duplicate map key");

    //  Same bytes under another header: str8 "a" equals fixstr "a"
    const uint8_t forms[] = {0x82, 0xA1, 'a', 0x01, 0xD9, 0x01, 'a', 0x02};
    err = LH_OK;
    assert_null (codec_doc_decode (forms, sizeof (forms), &err, &why));
    assert_string_equal (why, "duplicate map key");

    //  No false positives: prefixes, the empty key, equal values
    const uint8_t distinct[] = {0x84, 0xA1, 'a',  0x01, 0xA2, 'a', 'b',
                                0x01, 0xA0, 0x01, 0xA1, 'b',  0x01};
    codec_doc_t *doc = codec_doc_decode (distinct, sizeof (distinct), &err, &why);
    assert_non_null (doc);
    codec_doc_destroy (&doc);
}

//  map16 of n entries, keys "key-<i>"; entry dup_of (if >= 0) repeats key dup_at
static void
s_long_map (buf_t *b, int n, int dup_at, int dup_of)
{
    b_byte (b, 0xDE);
    b_be (b, (uint64_t) n, 2);
    for (int i = 0; i < n; i++) {
        char key[16];
        snprintf (key, sizeof (key), "key-%d", i == dup_at ? dup_of : i);
        b_str (b, key);
        b_byte (b, (uint8_t) (i & 0x7F));
    }
}

static void
test_duplicate_keys_long_map (void **state)
{
    (void) state;
    struct {
        int n, at, of;
    } cases[] = {{17, 16, 0}, {20, 19, 0}, {20, 10, 9}, {100, 1, 99}, {4096, 4095, 0}};
    for (size_t i = 0; i < sizeof (cases) / sizeof (cases[0]); i++) {
        buf_t b = {0};
        s_long_map (&b, cases[i].n, cases[i].at, cases[i].of);
        const char *why = NULL;
        lh_err_t err = LH_OK;
        assert_int_equal (codec_check (b.data, b.size, NULL, &why), LH_OK);
        codec_doc_t *doc = codec_doc_decode (b.data, b.size, &err, &why);
        if (doc)
            fail_msg ("%d entries, key %d repeated at %d: accepted", cases[i].n, cases[i].of,
                      cases[i].at);
        assert_int_equal (err, LH_E_BAD_REQUEST);
        assert_string_equal (why, "duplicate map key");
        b_free (&b);
    }
    //  No false positives with many keys sharing prefixes (key-1, key-10, key-100)
    buf_t b = {0};
    s_long_map (&b, 200, -1, 0);
    codec_doc_t *doc = s_decode_ok (&b);
    assert_int_equal (codec_doc_root (doc)->via.map.size, 200);
    codec_doc_destroy (&doc);
    b_free (&b);

    //  A long map nested in a short one
    b_bytes (&b, 4, 0x82, 0xA1, 'a', 0x01);
    b_bytes (&b, 2, 0xA1, 'b');
    s_long_map (&b, 30, 29, 3);
    lh_err_t err = LH_OK;
    const char *why = NULL;
    assert_null (codec_doc_decode (b.data, b.size, &err, &why));
    assert_string_equal (why, "duplicate map key");
    b_free (&b);
}

//  The decoded document must stay valid when the caller reuses or frees the
//  buffer it decoded from (callers destroy the frame right after decoding).
static void
test_doc_independent_of_input (void **state)
{
    (void) state;
    buf_t b = {0};
    b_bytes (&b, 1, 0x82);
    b_str (&b, "service");
    b_str (&b, "echo");
    b_str (&b, "blob");
    b_bytes (&b, 5, 0xC4, 0x03, 0x01, 0x02, 0x03);
    codec_doc_t *doc = s_decode_ok (&b);
    //  Overwritten, not freed, so that the test fails cleanly under ASan too
    memset (b.data, 0xEE, b.size);

    const msgpack_object *root = codec_doc_root (doc);
    const msgpack_object *service = codec_map_get (root, "service");
    if (!service)
        fail_msg ("codec_doc_t keeps pointers into the input buffer: after the buffer was "
                  "overwritten the key 'service' is gone");
    assert_true (codec_str_eq (service, "echo"));
    const msgpack_object *blob = codec_map_get (root, "blob");
    assert_non_null (blob);
    assert_memory_equal (blob->via.bin.ptr, "\x01\x02\x03", 3);
    codec_doc_destroy (&doc);
    b_free (&b);
}

//  --------------------------------------------------------------------------
//  Field getters

//  {"name": "echo", "n": 5, "neg": -7, "big": 2^63, "f": 1.5, "b": true, "m": {"x": 1}}
//  The caller frees b after the doc: see test_doc_independent_of_input
static codec_doc_t *
s_fields_doc (buf_t *b)
{
    b_byte (b, 0x87);
    b_str (b, "name"), b_str (b, "echo");
    b_str (b, "n"), b_byte (b, 0x05);
    b_str (b, "neg"), b_byte (b, 0xF9);
    b_str (b, "big"), b_byte (b, 0xCF), b_be (b, (uint64_t) INT64_MAX + 1, 8);
    b_str (b, "f"), b_bytes (b, 9, 0xCB, 0x3F, 0xF8, 0, 0, 0, 0, 0, 0);
    b_str (b, "b"), b_byte (b, 0xC3);
    b_str (b, "m"), b_bytes (b, 4, 0x81, 0xA1, 'x', 0x01);
    return s_decode_ok (b);
}

static void
test_get_str (void **state)
{
    (void) state;
    buf_t b = {0};
    codec_doc_t *doc = s_fields_doc (&b);
    const msgpack_object *root = codec_doc_root (doc);
    char why[128] = "";
    const char *str = NULL;
    size_t len = 0;

    assert_int_equal (codec_get_str (root, "name", true, 64, &str, &len, why, sizeof (why)), LH_OK);
    assert_int_equal (len, 4);
    assert_memory_equal (str, "echo", 4);
    str = NULL;
    assert_int_equal (codec_get_str (root, "name", true, 4, &str, NULL, why, sizeof (why)), LH_OK);
    assert_non_null (str);

    //  Too long: a limit was exceeded (lh_proto.h: too_large)
    assert_int_equal (codec_get_str (root, "name", true, 3, &str, &len, why, sizeof (why)),
                      LH_E_TOO_LARGE);
    assert_string_equal (why, "field 'name' is longer than 3 bytes");

    assert_int_equal (codec_get_str (root, "nope", true, 64, &str, &len, why, sizeof (why)),
                      LH_E_BAD_REQUEST);
    assert_string_equal (why, "missing field 'nope'");

    const char *untouched = "sentinel";
    str = untouched;
    len = 99;
    assert_int_equal (codec_get_str (root, "nope", false, 64, &str, &len, why, sizeof (why)),
                      LH_OK);
    assert_ptr_equal (str, untouched);
    assert_int_equal (len, 99);

    assert_int_equal (codec_get_str (root, "n", false, 64, &str, &len, why, sizeof (why)),
                      LH_E_BAD_REQUEST);
    assert_string_equal (why, "field 'n' must be a string");

    //  Not a map at all: the field is missing
    const msgpack_object *n = codec_map_get (root, "n");
    assert_int_equal (codec_get_str (n, "name", true, 64, &str, &len, why, sizeof (why)),
                      LH_E_BAD_REQUEST);
    assert_string_equal (why, "missing field 'name'");
    assert_int_equal (codec_get_str (NULL, "name", true, 64, &str, &len, why, sizeof (why)),
                      LH_E_BAD_REQUEST);
    codec_doc_destroy (&doc);
    b_free (&b);
}

static void
test_get_int (void **state)
{
    (void) state;
    buf_t b = {0};
    codec_doc_t *doc = s_fields_doc (&b);
    const msgpack_object *root = codec_doc_root (doc);
    char why[128] = "";
    int64_t v = 0;

    assert_int_equal (codec_get_int (root, "n", true, 0, 10, &v, why, sizeof (why)), LH_OK);
    assert_int_equal (v, 5);
    //  Bounds are inclusive
    assert_int_equal (codec_get_int (root, "n", true, 5, 5, &v, why, sizeof (why)), LH_OK);
    assert_int_equal (codec_get_int (root, "neg", true, -7, -7, &v, why, sizeof (why)), LH_OK);
    assert_int_equal (v, -7);

    v = 42;
    assert_int_equal (codec_get_int (root, "n", true, 6, 10, &v, why, sizeof (why)),
                      LH_E_BAD_REQUEST);
    assert_string_equal (why, "field 'n' must be between 6 and 10");
    assert_int_equal (v, 42);
    assert_int_equal (codec_get_int (root, "n", true, 0, 4, &v, why, sizeof (why)),
                      LH_E_BAD_REQUEST);
    assert_int_equal (codec_get_int (root, "neg", true, 0, 10, &v, why, sizeof (why)),
                      LH_E_BAD_REQUEST);
    assert_string_equal (why, "field 'neg' must be between 0 and 10");

    //  2^63 does not fit an int64_t
    assert_int_equal (
        codec_get_int (root, "big", true, INT64_MIN, INT64_MAX, &v, why, sizeof (why)),
        LH_E_BAD_REQUEST);
    assert_string_equal (why, "field 'big' must be an integer");
    assert_int_equal (codec_get_int (root, "f", true, 0, 10, &v, why, sizeof (why)),
                      LH_E_BAD_REQUEST);
    assert_string_equal (why, "field 'f' must be an integer");
    assert_int_equal (codec_get_int (root, "name", false, 0, 10, &v, why, sizeof (why)),
                      LH_E_BAD_REQUEST);

    assert_int_equal (codec_get_int (root, "nope", true, 0, 10, &v, why, sizeof (why)),
                      LH_E_BAD_REQUEST);
    assert_string_equal (why, "missing field 'nope'");
    v = 42;
    assert_int_equal (codec_get_int (root, "nope", false, 0, 10, &v, why, sizeof (why)), LH_OK);
    assert_int_equal (v, 42);
    codec_doc_destroy (&doc);
    b_free (&b);
}

static void
test_get_bool_and_map (void **state)
{
    (void) state;
    buf_t b = {0};
    codec_doc_t *doc = s_fields_doc (&b);
    const msgpack_object *root = codec_doc_root (doc);
    char why[128] = "";
    bool flag = false;

    assert_int_equal (codec_get_bool (root, "b", true, &flag, why, sizeof (why)), LH_OK);
    assert_true (flag);
    assert_int_equal (codec_get_bool (root, "n", true, &flag, why, sizeof (why)), LH_E_BAD_REQUEST);
    assert_string_equal (why, "field 'n' must be a boolean");
    assert_int_equal (codec_get_bool (root, "nope", true, &flag, why, sizeof (why)),
                      LH_E_BAD_REQUEST);
    assert_string_equal (why, "missing field 'nope'");
    flag = false;
    assert_int_equal (codec_get_bool (root, "nope", false, &flag, why, sizeof (why)), LH_OK);
    assert_false (flag);

    const msgpack_object *m = NULL;
    assert_int_equal (codec_get_map (root, "m", true, &m, why, sizeof (why)), LH_OK);
    assert_non_null (m);
    assert_int_equal (m->type, MSGPACK_OBJECT_MAP);
    assert_non_null (codec_map_get (m, "x"));
    assert_int_equal (codec_get_map (root, "name", true, &m, why, sizeof (why)), LH_E_BAD_REQUEST);
    assert_string_equal (why, "field 'name' must be a map");
    assert_int_equal (codec_get_map (root, "nope", true, &m, why, sizeof (why)), LH_E_BAD_REQUEST);
    m = NULL;
    assert_int_equal (codec_get_map (root, "nope", false, &m, why, sizeof (why)), LH_OK);
    assert_null (m);
    codec_doc_destroy (&doc);
    b_free (&b);
}

static void
test_str_helpers_and_id (void **state)
{
    (void) state;
    buf_t b = {0};
    codec_doc_t *doc = s_fields_doc (&b);
    const msgpack_object *root = codec_doc_root (doc);
    const msgpack_object *name = codec_map_get (root, "name");
    assert_non_null (name);
    assert_null (codec_map_get (root, "nam"));
    assert_null (codec_map_get (root, "names"));
    assert_null (codec_map_get (name, "name"));
    assert_null (codec_map_get (NULL, "name"));

    assert_true (codec_str_eq (name, "echo"));
    assert_false (codec_str_eq (name, "ech"));
    assert_false (codec_str_eq (name, "echoo"));
    assert_false (codec_str_eq (codec_map_get (root, "n"), "5"));
    assert_false (codec_str_eq (NULL, "echo"));

    char buf[8];
    assert_true (codec_str_copy (name, buf, 5));
    assert_string_equal (buf, "echo");
    assert_false (codec_str_copy (name, buf, 4)); //  no room for the NUL
    assert_false (codec_str_copy (codec_map_get (root, "n"), buf, sizeof (buf)));

    assert_true (codec_id_valid (codec_map_get (root, "n")));
    assert_true (codec_id_valid (codec_map_get (root, "big")));
    assert_true (codec_id_valid (name));
    assert_false (codec_id_valid (codec_map_get (root, "neg")));
    assert_false (codec_id_valid (codec_map_get (root, "f")));
    assert_false (codec_id_valid (codec_map_get (root, "b")));
    assert_false (codec_id_valid (NULL));
    char long_id[LH_MAX_ID + 1];
    memset (long_id, 'i', sizeof (long_id));
    msgpack_object id = {.type = MSGPACK_OBJECT_STR};
    id.via.str.ptr = long_id;
    id.via.str.size = LH_MAX_ID;
    assert_true (codec_id_valid (&id));
    id.via.str.size = LH_MAX_ID + 1;
    assert_false (codec_id_valid (&id));
    codec_doc_destroy (&doc);
    b_free (&b);
}

//  --------------------------------------------------------------------------
//  Error names

static void
test_err_names (void **state)
{
    (void) state;
    for (int code = 0; code < LH_E_COUNT; code++) {
        const char *name = codec_err_name ((lh_err_t) code);
        assert_non_null (name);
        assert_true (strlen (name) > 0);
        assert_int_equal (codec_err_from_name (name, strlen (name)), code);
        for (int other = 0; other < code; other++)
            assert_string_not_equal (name, codec_err_name ((lh_err_t) other));
    }
    //  The wire names are part of the protocol
    assert_string_equal (codec_err_name (LH_OK), "ok");
    assert_string_equal (codec_err_name (LH_E_BAD_REQUEST), "bad_request");
    assert_string_equal (codec_err_name (LH_E_TOO_LARGE), "too_large");
    assert_string_equal (codec_err_name (LH_E_UNKNOWN_SERVICE), "unknown_service");
    assert_string_equal (codec_err_name (LH_E_FORBIDDEN), "forbidden");
    assert_string_equal (codec_err_name (LH_E_RATE_LIMITED), "rate_limited");
    assert_string_equal (codec_err_name (LH_E_OVERLOADED), "overloaded");
    assert_string_equal (codec_err_name (LH_E_UNAVAILABLE), "unavailable");
    assert_string_equal (codec_err_name (LH_E_TIMEOUT), "timeout");
    assert_string_equal (codec_err_name (LH_E_WORKER_LOST), "worker_lost");
    assert_string_equal (codec_err_name (LH_E_NOT_FOUND), "not_found");
    assert_string_equal (codec_err_name (LH_E_INTERNAL), "internal");
    assert_string_equal (codec_err_name (LH_E_UNSUPPORTED), "unsupported");

    assert_string_equal (codec_err_name (LH_E_COUNT), "internal");
    assert_string_equal (codec_err_name ((lh_err_t) -1), "internal");
    assert_string_equal (codec_err_name ((lh_err_t) 1000), "internal");

    assert_int_equal (codec_err_from_name ("nope", 4), LH_E_COUNT);
    assert_int_equal (codec_err_from_name ("", 0), LH_E_COUNT);
    assert_int_equal (codec_err_from_name ("bad_request", 10), LH_E_COUNT);
    assert_int_equal (codec_err_from_name ("bad_requestX", 11), LH_E_BAD_REQUEST);
    assert_int_equal (codec_err_from_name ("BAD_REQUEST", 11), LH_E_COUNT);
}

//  --------------------------------------------------------------------------
//  Packing

typedef struct {
    msgpack_sbuffer sb;
    codec_doc_t *doc;
    const msgpack_object *root;
} reply_t;

static void
s_error_reply (reply_t *r, const msgpack_object *id, lh_err_t code, const char *message)
{
    msgpack_sbuffer_init (&r->sb);
    msgpack_packer pk;
    msgpack_packer_init (&pk, &r->sb, msgpack_sbuffer_write);
    codec_pack_error (&pk, id, code, message);
    lh_err_t err = LH_OK;
    const char *why = NULL;
    r->doc = codec_doc_decode (r->sb.data, r->sb.size, &err, &why);
    if (!r->doc) {
        msgpack_sbuffer_destroy (&r->sb);
        fail_msg ("codec_pack_error output refused by the codec: %s (%s)", codec_err_name (err),
                  why ? why : "-");
    }
    r->root = codec_doc_root (r->doc);

    //  {id, ok: false, error: {code, message}}, in that order
    assert_int_equal (r->root->via.map.size, 3);
    assert_true (codec_str_eq (&r->root->via.map.ptr[0].key, "id"));
    assert_true (codec_str_eq (&r->root->via.map.ptr[1].key, "ok"));
    assert_true (codec_str_eq (&r->root->via.map.ptr[2].key, "error"));
    const msgpack_object *ok = &r->root->via.map.ptr[1].val;
    assert_int_equal (ok->type, MSGPACK_OBJECT_BOOLEAN);
    assert_false (ok->via.boolean);
    const msgpack_object *error = &r->root->via.map.ptr[2].val;
    assert_int_equal (error->type, MSGPACK_OBJECT_MAP);
    assert_int_equal (error->via.map.size, 2);
    assert_true (codec_str_eq (&error->via.map.ptr[0].key, "code"));
    assert_true (codec_str_eq (&error->via.map.ptr[1].key, "message"));
    assert_true (codec_str_eq (&error->via.map.ptr[0].val, codec_err_name (code)));
    assert_int_equal (error->via.map.ptr[1].val.type, MSGPACK_OBJECT_STR);
}

static void
s_reply_free (reply_t *r)
{
    codec_doc_destroy (&r->doc);
    msgpack_sbuffer_destroy (&r->sb);
}

static const msgpack_object *
s_reply_message (reply_t *r)
{
    return codec_map_get (codec_map_get (r->root, "error"), "message");
}

static void
test_pack_error (void **state)
{
    (void) state;
    reply_t r;
    msgpack_object id = {.type = MSGPACK_OBJECT_POSITIVE_INTEGER};
    id.via.u64 = 42;
    s_error_reply (&r, &id, LH_E_FORBIDDEN, "role may not call this");
    const msgpack_object *rid = codec_map_get (r.root, "id");
    assert_int_equal (rid->type, MSGPACK_OBJECT_POSITIVE_INTEGER);
    assert_int_equal (rid->via.u64, 42);
    assert_true (codec_str_eq (s_reply_message (&r), "role may not call this"));
    s_reply_free (&r);

    s_error_reply (&r, NULL, LH_E_BAD_REQUEST, "");
    assert_int_equal (codec_map_get (r.root, "id")->type, MSGPACK_OBJECT_NIL);
    assert_true (codec_str_eq (s_reply_message (&r), ""));
    s_reply_free (&r);

    msgpack_object sid = {.type = MSGPACK_OBJECT_STR};
    sid.via.str.ptr = "req-1";
    sid.via.str.size = 5;
    s_error_reply (&r, &sid, LH_E_TIMEOUT, "late");
    assert_true (codec_str_eq (codec_map_get (r.root, "id"), "req-1"));
    s_reply_free (&r);

    //  An invalid id is not echoed
    msgpack_object neg = {.type = MSGPACK_OBJECT_NEGATIVE_INTEGER};
    neg.via.i64 = -1;
    s_error_reply (&r, &neg, LH_E_INTERNAL, "x");
    assert_int_equal (codec_map_get (r.root, "id")->type, MSGPACK_OBJECT_NIL);
    s_reply_free (&r);

    //  Out-of-range codes go out as "internal"
    s_error_reply (&r, NULL, LH_E_COUNT, "x");
    assert_true (
        codec_str_eq (codec_map_get (codec_map_get (r.root, "error"), "code"), "internal"));
    s_reply_free (&r);

    //  Messages are cut to LH_MAX_MESSAGE bytes
    char long_message[LH_MAX_MESSAGE + 100];
    memset (long_message, 'm', sizeof (long_message) - 1);
    long_message[sizeof (long_message) - 1] = 0;
    s_error_reply (&r, NULL, LH_E_BAD_REQUEST, long_message);
    assert_int_equal (s_reply_message (&r)->via.str.size, LH_MAX_MESSAGE);
    s_reply_free (&r);
}

//  Cutting a long message must not split a UTF-8 sequence: the reply would
//  be refused by every peer's codec_check.
static void
test_pack_error_utf8_cut (void **state)
{
    (void) state;
    char message[LH_MAX_MESSAGE + 8];
    memset (message, 'a', LH_MAX_MESSAGE - 1);
    //  "é" (C3 A9) straddles byte LH_MAX_MESSAGE
    memcpy (message + LH_MAX_MESSAGE - 1, "\xC3\xA9 tail", 8);
    reply_t r;
    s_error_reply (&r, NULL, LH_E_BAD_REQUEST, message);
    const msgpack_object *m = s_reply_message (&r);
    assert_true (m->via.str.size <= LH_MAX_MESSAGE);
    assert_memory_equal (m->via.str.ptr, message, LH_MAX_MESSAGE - 1);
    s_reply_free (&r);
}

static void
test_pack_ok_head (void **state)
{
    (void) state;
    msgpack_sbuffer sb;
    msgpack_sbuffer_init (&sb);
    msgpack_packer pk;
    msgpack_packer_init (&pk, &sb, msgpack_sbuffer_write);
    msgpack_object id = {.type = MSGPACK_OBJECT_POSITIVE_INTEGER};
    id.via.u64 = 9;
    codec_pack_ok_head (&pk, &id, 1);
    codec_pack_str (&pk, "answer");
    codec_pack_strn (&pk, "42xyz", 2);
    buf_t b = {(uint8_t *) sb.data, sb.size, sb.size};
    codec_doc_t *doc = s_decode_ok (&b);
    const msgpack_object *root = codec_doc_root (doc);
    assert_int_equal (root->via.map.size, 3);
    assert_int_equal (codec_map_get (root, "id")->via.u64, 9);
    assert_true (codec_map_get (root, "ok")->via.boolean);
    assert_true (codec_str_eq (codec_map_get (root, "answer"), "42"));
    codec_doc_destroy (&doc);
    msgpack_sbuffer_destroy (&sb);
}

//  --------------------------------------------------------------------------
//  codec_with_id

static void
s_with_id_ok (const buf_t *in, uint64_t id, uint32_t expect_entries)
{
    msgpack_sbuffer out;
    msgpack_sbuffer_init (&out);
    const char *why = NULL;
    lh_err_t rc = codec_with_id (in->data, in->size, id, &out, &why);
    if (rc != LH_OK)
        fail_msg ("codec_with_id: %s (%s)", codec_err_name (rc), why ? why : "-");
    buf_t b = {(uint8_t *) out.data, out.size, out.size};
    codec_doc_t *with = s_decode_ok (&b);
    codec_doc_t *orig = s_decode_ok (in);
    const msgpack_object *w = codec_doc_root (with);
    const msgpack_object *o = codec_doc_root (orig);
    assert_int_equal (w->via.map.size, expect_entries);
    assert_int_equal (w->via.map.size, o->via.map.size + 1);
    assert_true (codec_str_eq (&w->via.map.ptr[0].key, "id"));
    assert_int_equal (w->via.map.ptr[0].val.type, MSGPACK_OBJECT_POSITIVE_INTEGER);
    assert_true (w->via.map.ptr[0].val.via.u64 == id);
    for (uint32_t i = 0; i < o->via.map.size; i++) {
        assert_true (msgpack_object_equal (o->via.map.ptr[i].key, w->via.map.ptr[i + 1].key));
        assert_true (msgpack_object_equal (o->via.map.ptr[i].val, w->via.map.ptr[i + 1].val));
    }
    codec_doc_destroy (&with);
    codec_doc_destroy (&orig);
    msgpack_sbuffer_destroy (&out);
}

static void
test_with_id (void **state)
{
    (void) state;
    buf_t b = {0};
    b_byte (&b, 0x82);
    b_str (&b, "a"), b_byte (&b, 0x01);
    b_str (&b, "b"), b_str (&b, "x");
    s_with_id_ok (&b, 7, 3);
    s_with_id_ok (&b, 0, 3);
    s_with_id_ok (&b, UINT64_MAX, 3);
    b_free (&b);

    b_byte (&b, 0x80);
    s_with_id_ok (&b, 1, 1);
    b_free (&b);

    //  map16 and map32 headers are replaced, not copied
    b_bytes (&b, 3, 0xDE, 0x00, 0x02);
    b_str (&b, "a"), b_byte (&b, 0x01);
    b_str (&b, "b"), b_byte (&b, 0xC3);
    s_with_id_ok (&b, 5, 3);
    b_free (&b);
    b_bytes (&b, 5, 0xDF, 0x00, 0x00, 0x00, 0x02);
    b_str (&b, "a"), b_byte (&b, 0x01);
    b_str (&b, "b"), b_bytes (&b, 2, 0x91, 0xC2);
    s_with_id_ok (&b, 5, 3);
    b_free (&b);

    //  15 entries: the new header grows from fixmap to map16
    b_byte (&b, 0x8F);
    for (int i = 0; i < 15; i++) {
        char key[8];
        snprintf (key, sizeof (key), "k%d", i);
        b_str (&b, key), b_byte (&b, (uint8_t) i);
    }
    s_with_id_ok (&b, 77, 16);
    b_free (&b);

    //  LH_MAX_ITEMS - 1 entries fit, LH_MAX_ITEMS do not
    s_long_map (&b, LH_MAX_ITEMS - 1, -1, 0);
    s_with_id_ok (&b, 3, LH_MAX_ITEMS);
    b_free (&b);
    s_long_map (&b, LH_MAX_ITEMS, -1, 0);
    msgpack_sbuffer out;
    msgpack_sbuffer_init (&out);
    const char *why = NULL;
    assert_int_equal (codec_with_id (b.data, b.size, 3, &out, &why), LH_E_TOO_LARGE);
    assert_int_equal (out.size, 0);
    b_free (&b);
    msgpack_sbuffer_destroy (&out);
}

static void
test_with_id_rejects (void **state)
{
    (void) state;
    msgpack_sbuffer out;
    msgpack_sbuffer_init (&out);
    const char *why = NULL;

    //  The body already has an id
    buf_t b = {0};
    b_byte (&b, 0x82);
    b_str (&b, "x"), b_byte (&b, 0x01);
    b_str (&b, "id"), b_byte (&b, 0x05);
    assert_int_equal (codec_with_id (b.data, b.size, 1, &out, &why), LH_E_BAD_REQUEST);
    assert_non_null (strstr (why, "'id'"));
    assert_int_equal (out.size, 0);
    b_free (&b);

    //  An "id" only in a nested map does not count
    b_byte (&b, 0x81);
    b_str (&b, "inner"), b_byte (&b, 0x81);
    b_str (&b, "id"), b_byte (&b, 0x05);
    s_with_id_ok (&b, 1, 2);
    b_free (&b);

    //  Whatever the codec refuses
    const uint8_t array[] = {0x91, 0x01};
    why = NULL;
    assert_int_equal (codec_with_id (array, sizeof (array), 1, &out, &why), LH_E_BAD_REQUEST);
    assert_string_equal (why, "body is not a msgpack map");
    const uint8_t dup[] = {0x82, 0xA1, 'a', 0x01, 0xA1, 'a', 0x02};
    assert_int_equal (codec_with_id (dup, sizeof (dup), 1, &out, &why), LH_E_BAD_REQUEST);
    assert_string_equal (why, "duplicate map key");
    const uint8_t huge_key[] = {0x81, 0xDB, 0xFF, 0xFF, 0xFF, 0xFF};
    assert_int_equal (codec_with_id (huge_key, sizeof (huge_key), 1, &out, &why), LH_E_TOO_LARGE);
    assert_int_equal (codec_with_id (huge_key, 0, 1, &out, &why), LH_E_BAD_REQUEST);
    assert_int_equal (out.size, 0);
    msgpack_sbuffer_destroy (&out);
}

//  codec_with_id guards LH_MAX_ITEMS for its output; it must not hand back a
//  body that breaks LH_MAX_BODY either.
static void
test_with_id_size_limit (void **state)
{
    (void) state;
    buf_t b = {0};
    s_body_of_size (&b, LH_MAX_BODY);
    const char *why = NULL;
    assert_int_equal (codec_check (b.data, b.size, NULL, &why), LH_OK);
    msgpack_sbuffer out;
    msgpack_sbuffer_init (&out);
    lh_err_t rc = codec_with_id (b.data, b.size, 1, &out, &why);
    b_free (&b);
    size_t out_size = out.size;
    lh_err_t check = rc == LH_OK ? codec_check (out.data, out.size, NULL, &why) : LH_OK;
    msgpack_sbuffer_destroy (&out);
    if (check != LH_OK)
        fail_msg ("codec_with_id returned LH_OK with a %zu-byte body that codec_check "
                  "refuses: %s",
                  out_size, why);
    if (rc != LH_OK)
        assert_int_equal (rc, LH_E_TOO_LARGE);
}

//  msgpack-c gives a zero-length str that comes first in the buffer a NULL
//  pointer. The duplicate-key check must cope: memcmp (NULL, p, 0) is
//  undefined behaviour (UBSan aborts here in the LH_SANITIZE build). Last in
//  the list so that such an abort cannot hide other results.
static void
test_empty_first_key (void **state)
{
    (void) state;
    const uint8_t body[] = {0x82, 0xA0, 0x01, 0xA1, 'a', 0x02};
    lh_err_t err = LH_E_COUNT;
    const char *why = NULL;
    codec_doc_t *doc = codec_doc_decode (body, sizeof (body), &err, &why);
    assert_non_null (doc);
    const msgpack_object *root = codec_doc_root (doc);
    assert_int_equal (root->via.map.ptr[0].key.type, MSGPACK_OBJECT_STR);
    assert_int_equal (root->via.map.ptr[0].key.via.str.size, 0);
    assert_true (codec_str_eq (&root->via.map.ptr[1].key, "a"));
    codec_doc_destroy (&doc);

    const uint8_t dup[] = {0x82, 0xA0, 0x01, 0xA0, 0x02};
    assert_null (codec_doc_decode (dup, sizeof (dup), &err, &why));
    assert_string_equal (why, "duplicate map key");
}

int
main (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_limits_default),
        cmocka_unit_test (test_valid_every_type),
        cmocka_unit_test (test_valid_root_headers),
        cmocka_unit_test (test_reject_empty_and_not_map),
        cmocka_unit_test (test_reject_truncated_every_byte),
        cmocka_unit_test (test_reject_lying_counts),
        cmocka_unit_test (test_reject_depth),
        cmocka_unit_test (test_reject_key_too_long),
        cmocka_unit_test (test_reject_string_too_long),
        cmocka_unit_test (test_reject_body_too_large),
        cmocka_unit_test (test_reject_too_many_items),
        cmocka_unit_test (test_reject_unsupported_types),
        cmocka_unit_test (test_reject_non_string_keys),
        cmocka_unit_test (test_utf8),
        cmocka_unit_test (test_reject_trailing_bytes),
        cmocka_unit_test (test_duplicate_keys_short_map),
        cmocka_unit_test (test_duplicate_keys_long_map),
        cmocka_unit_test (test_doc_independent_of_input),
        cmocka_unit_test (test_get_str),
        cmocka_unit_test (test_get_int),
        cmocka_unit_test (test_get_bool_and_map),
        cmocka_unit_test (test_str_helpers_and_id),
        cmocka_unit_test (test_err_names),
        cmocka_unit_test (test_pack_error),
        cmocka_unit_test (test_pack_error_utf8_cut),
        cmocka_unit_test (test_pack_ok_head),
        cmocka_unit_test (test_with_id),
        cmocka_unit_test (test_with_id_rejects),
        cmocka_unit_test (test_with_id_size_limit),
        cmocka_unit_test (test_empty_first_key),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
