/*  test_jsonpack -- unit tests for schemas/jsonpack.c (cmocka). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "codec.h"
#include "jsonpack.h"
#include "test_util.h"

//  JSON text -> msgpack bytes; fails the test when refused
static void
s_from_json (const char *text, msgpack_sbuffer *out)
{
    char why[256] = "";
    msgpack_sbuffer_init (out);
    if (jsonpack_from_json (text, strlen (text), out, why, sizeof (why)) != 0)
        fail_msg ("jsonpack_from_json refused %s: %s", text, why);
}

//  Unpacks one msgpack object from data (which must outlive it)
static msgpack_object
s_unpack (const void *data, size_t size, msgpack_zone *zone)
{
    msgpack_object obj;
    size_t off = 0;
    msgpack_zone_init (zone, 1024);
    assert_int_equal (msgpack_unpack (data, size, &off, zone, &obj), MSGPACK_UNPACK_SUCCESS);
    assert_int_equal (off, size);
    return obj;
}

//  msgpack bytes -> compact JSON, caller frees
static char *
s_to_json (const void *data, size_t size, bool pretty)
{
    msgpack_zone zone;
    msgpack_object obj = s_unpack (data, size, &zone);
    char *json = jsonpack_to_json (&obj, pretty);
    msgpack_zone_destroy (&zone);
    return json;
}

static void
test_from_json_bytes (void **state)
{
    (void) state;
    struct {
        const char *json;
        const char *msgpack;
        size_t size;
    } cases[] = {
        {"{}", "\x80", 1},
        {"{\"a\":1}",
         "\x81\xA1"
         "a\x01",
         4},
        {"{\"x\":-1}", "\x81\xA1x\xFF", 4},
        {"[1,\"a\"]",
         "\x92\x01\xA1"
         "a",
         4},
        {"null", "\xC0", 1},
        {"true", "\xC3", 1},
        {"false", "\xC2", 1},
        {"42", "\x2A", 1},
        {"1.5", "\xCB\x3F\xF8\x00\x00\x00\x00\x00\x00", 9},
        {"\"h\\u00e9\"", "\xA3h\xC3\xA9", 4},
        {"{\"n\":{\"m\":[]}}", "\x81\xA1n\x81\xA1m\x90", 7},
        {" {\n \"a\" : true\n} ",
         "\x81\xA1"
         "a\xC3",
         4},
    };
    for (size_t i = 0; i < sizeof (cases) / sizeof (cases[0]); i++) {
        msgpack_sbuffer sb;
        s_from_json (cases[i].json, &sb);
        if (sb.size != cases[i].size || memcmp (sb.data, cases[i].msgpack, sb.size) != 0)
            fail_msg ("%s: wrong msgpack (%zu bytes, expected %zu)", cases[i].json, sb.size,
                      cases[i].size);
        msgpack_sbuffer_destroy (&sb);
    }

    //  Output is appended, not replacing what the buffer holds
    msgpack_sbuffer sb;
    msgpack_sbuffer_init (&sb);
    msgpack_sbuffer_write (&sb, "\x92", 1);
    char why[64];
    assert_int_equal (jsonpack_from_json ("1", 1, &sb, why, sizeof (why)), 0);
    assert_int_equal (jsonpack_from_json ("2", 1, &sb, why, sizeof (why)), 0);
    assert_int_equal (sb.size, 3);
    assert_memory_equal (sb.data, "\x92\x01\x02", 3);
    msgpack_sbuffer_destroy (&sb);

    //  Length is honoured: the text need not be NUL-terminated
    msgpack_sbuffer_init (&sb);
    assert_int_equal (jsonpack_from_json ("{}garbage", 2, &sb, why, sizeof (why)), 0);
    assert_int_equal (sb.size, 1);
    msgpack_sbuffer_destroy (&sb);
}

//  Compact JSON -> msgpack -> JSON gives back the same text
static void
test_round_trip (void **state)
{
    (void) state;
    const char *texts[] = {
        "{}",
        "{\"a\":1,\"b\":[true,false,null],\"c\":\"x\",\"d\":1.5,\"e\":-3,\"f\":{}}",
        "{\"z\":1,\"a\":2,\"m\":3}", //  order is kept
        "{\"max\":9223372036854775807,\"min\":-9223372036854775808}",
        "{\"reals\":[0.5,-2.25,1.0000000000000001e300,-0.0,1.0,4.9406564584124654e-324]}",
        "{\"s\":\"h\xC3\xA9llo \xE2\x82\xAC \xF0\x9F\x98\x80\",\"esc\":\"\\\"\\\\\\n\\t\\u0001\"}",
        "{\"deep\":{\"a\":{\"b\":{\"c\":[[[[1]]]]}}}}",
        "[1,2,3]",
        "\"top-level string\"",
        "-17",
    };
    for (size_t i = 0; i < sizeof (texts) / sizeof (texts[0]); i++) {
        msgpack_sbuffer sb;
        s_from_json (texts[i], &sb);
        char *back = s_to_json (sb.data, sb.size, false);
        assert_non_null (back);
        if (strcmp (back, texts[i]) != 0)
            fail_msg ("round trip changed %s into %s", texts[i], back);
        //  And the msgpack form is stable too
        msgpack_sbuffer again;
        s_from_json (back, &again);
        assert_int_equal (again.size, sb.size);
        assert_memory_equal (again.data, sb.data, sb.size);
        free (back);
        msgpack_sbuffer_destroy (&again);
        msgpack_sbuffer_destroy (&sb);
    }
}

static void
test_objects_pass_codec_check (void **state)
{
    (void) state;
    msgpack_sbuffer sb;
    s_from_json ("{\"service\":\"echo\",\"args\":{\"n\":[1,2,{\"k\":null}]}}", &sb);
    const char *why = NULL;
    assert_int_equal (codec_check (sb.data, sb.size, NULL, &why), LH_OK);
    lh_err_t err;
    codec_doc_t *doc = codec_doc_decode (sb.data, sb.size, &err, &why);
    assert_non_null (doc);
    assert_true (codec_str_eq (codec_map_get (codec_doc_root (doc), "service"), "echo"));
    codec_doc_destroy (&doc);
    msgpack_sbuffer_destroy (&sb);
}

static void
test_duplicate_keys_rejected (void **state)
{
    (void) state;
    const char *texts[] = {
        "{\"a\":1,\"a\":2}",
        "{\"a\":1,\"b\":2,\"a\":1}",
        "{\"outer\":{\"k\":1,\"k\":2}}",
        "[{\"k\":1,\"k\":1}]",
    };
    for (size_t i = 0; i < sizeof (texts) / sizeof (texts[0]); i++) {
        msgpack_sbuffer sb;
        msgpack_sbuffer_init (&sb);
        char why[256] = "";
        int rc = jsonpack_from_json (texts[i], strlen (texts[i]), &sb, why, sizeof (why));
        if (rc != -1)
            fail_msg ("%s accepted", texts[i]);
        assert_non_null (strstr (why, "duplicate"));
        assert_int_equal (sb.size, 0);
        msgpack_sbuffer_destroy (&sb);
    }
}

static void
test_invalid_json_message (void **state)
{
    (void) state;
    struct {
        const char *text;
        const char *prefix;
    } cases[] = {
        {"", "invalid JSON at line "},
        {"{\"a\":", "invalid JSON at line 1 column "},
        {"{\"a\" 1}", "invalid JSON at line 1 column "},
        {"{\n  \"a\": tru\n}", "invalid JSON at line 2 column "},
        {"[1,2,]", "invalid JSON at line 1 column "},
        {"{'a':1}", "invalid JSON at line 1 column "},
        {"{} {}", "invalid JSON at line 1 column "},
        {"\"\xC3\x28\"", "invalid JSON at line 1 column "}, //  bad UTF-8
        {"{\"big\":18446744073709551616}", "invalid JSON at line 1 column "},
        {"NaN", "invalid JSON at line 1 column "},
    };
    for (size_t i = 0; i < sizeof (cases) / sizeof (cases[0]); i++) {
        msgpack_sbuffer sb;
        msgpack_sbuffer_init (&sb);
        char why[256] = "";
        int rc = jsonpack_from_json (cases[i].text, strlen (cases[i].text), &sb, why, sizeof (why));
        if (rc != -1)
            fail_msg ("'%s' accepted", cases[i].text);
        if (strncmp (why, cases[i].prefix, strlen (cases[i].prefix)) != 0)
            fail_msg ("'%s': message '%s' does not start with '%s'", cases[i].text, why,
                      cases[i].prefix);
        //  Something after "column N: "
        const char *colon = strstr (why, ": ");
        assert_non_null (colon);
        assert_true (strlen (colon) > 2);
        assert_int_equal (sb.size, 0);
        msgpack_sbuffer_destroy (&sb);
    }
    //  A small buffer truncates the message but stays terminated
    msgpack_sbuffer sb;
    msgpack_sbuffer_init (&sb);
    char small[8];
    memset (small, 'x', sizeof (small));
    assert_int_equal (jsonpack_from_json ("{", 1, &sb, small, sizeof (small)), -1);
    assert_int_equal (strlen (small), sizeof (small) - 1);
    msgpack_sbuffer_destroy (&sb);
}

static void
test_to_json_types (void **state)
{
    (void) state;
    buf_t b = {0};
    b_byte (&b, 0x89);
    b_str (&b, "nil"), b_byte (&b, 0xC0);
    b_str (&b, "t"), b_byte (&b, 0xC3);
    b_str (&b, "neg"), b_bytes (&b, 3, 0xD1, 0x80, 0x00);
    b_str (&b, "u32"), b_bytes (&b, 5, 0xCE, 0xFF, 0xFF, 0xFF, 0xFF);
    b_str (&b, "f32"), b_bytes (&b, 5, 0xCA, 0x3F, 0xC0, 0x00, 0x00);
    b_str (&b, "str"), b_str (&b, "tab\there");
    b_str (&b, "arr"), b_bytes (&b, 3, 0x92, 0x01, 0x90);
    b_str (&b, "map"), b_bytes (&b, 4, 0x81, 0xA1, 'k', 0x80);
    b_str (&b, "nul"), b_bytes (&b, 4, 0xA3, 'a', 0x00, 'b');
    char *json = s_to_json (b.data, b.size, false);
    assert_non_null (json);
    assert_string_equal (json, "{\"nil\":null,\"t\":true,\"neg\":-32768,\"u32\":4294967295,"
                               "\"f32\":1.5,\"str\":\"tab\\there\",\"arr\":[1,[]],"
                               "\"map\":{\"k\":{}},\"nul\":\"a\\u0000b\"}");
    free (json);

    json = s_to_json (b.data, b.size, true);
    assert_non_null (json);
    assert_non_null (strstr (json, "{\n  \"nil\": null,\n  \"t\": true,"));
    free (json);
    b_free (&b);
}

//  uint64 past INT64_MAX has no JSON integer form in jansson: it becomes a
//  real of the same magnitude, never a wrapped negative number
static void
test_to_json_big_uint (void **state)
{
    (void) state;
    buf_t b = {0};
    b_bytes (&b, 3, 0x81, 0xA1, 'u');
    b_byte (&b, 0xCF);
    b_be (&b, UINT64_MAX, 8);
    char *json = s_to_json (b.data, b.size, false);
    assert_non_null (json);
    assert_null (strchr (json, '-'));
    double value = strtod (json + strlen ("{\"u\":"), NULL);
    assert_true (value == 18446744073709551616.0);
    free (json);
    b_free (&b);
}

static void
test_bin_to_base64 (void **state)
{
    (void) state;
    struct {
        const char *bytes;
        size_t size;
        const char *json;
    } cases[] = {
        {"", 0, "{\"b\":\"\"}"},
        {"M", 1, "{\"b\":\"TQ==\"}"},
        {"Ma", 2, "{\"b\":\"TWE=\"}"},
        {"Man", 3, "{\"b\":\"TWFu\"}"},
        {"\x00\x01\x02\xFF", 4, "{\"b\":\"AAEC/w==\"}"},
        {"\xFB\xFF\xBF", 3, "{\"b\":\"+/+/\"}"},
    };
    for (size_t i = 0; i < sizeof (cases) / sizeof (cases[0]); i++) {
        buf_t b = {0};
        b_bytes (&b, 4, 0x81, 0xA1, 'b', 0xC4);
        b_byte (&b, (uint8_t) cases[i].size);
        b_put (&b, cases[i].bytes, cases[i].size);
        char *json = s_to_json (b.data, b.size, false);
        assert_non_null (json);
        assert_string_equal (json, cases[i].json);
        free (json);
        b_free (&b);
    }
    //  bin32 of 1000 bytes: 1336 base64 characters
    buf_t b = {0};
    b_bytes (&b, 3, 0x81, 0xA1, 'b');
    b_byte (&b, 0xC6);
    b_be (&b, 1000, 4);
    for (int i = 0; i < 1000; i++)
        b_byte (&b, (uint8_t) i);
    char *json = s_to_json (b.data, b.size, false);
    assert_non_null (json);
    assert_int_equal (strlen (json), strlen ("{\"b\":\"\"}") + 1336);
    free (json);
    b_free (&b);
}

//  "Conversion is exact for nil/bool/int/float/str/map/array": a value JSON
//  cannot hold must make the conversion fail (NULL), not vanish.
static void
test_to_json_nonfinite_not_dropped (void **state)
{
    (void) state;
    const uint8_t nan_bytes[] = {0xCB, 0x7F, 0xF8, 0, 0, 0, 0, 0, 0};
    const uint8_t inf_bytes[] = {0xCA, 0x7F, 0x80, 0x00, 0x00};
    const uint8_t *values[] = {nan_bytes, inf_bytes};
    const size_t sizes[] = {sizeof (nan_bytes), sizeof (inf_bytes)};
    for (int i = 0; i < 2; i++) {
        //  {"x": value, "y": 1}
        buf_t b = {0};
        b_bytes (&b, 3, 0x82, 0xA1, 'x');
        b_put (&b, values[i], sizes[i]);
        b_bytes (&b, 3, 0xA1, 'y', 0x01);
        char *json = s_to_json (b.data, b.size, false);
        b_free (&b);
        if (json && !strstr (json, "\"x\"")) {
            char shown[64];
            snprintf (shown, sizeof (shown), "%s", json);
            free (json);
            fail_msg ("%s: field x silently dropped: %s", i ? "Inf" : "NaN", shown);
        }
        free (json);

        //  [1, value, 2]: dropping shifts every later index
        b_bytes (&b, 2, 0x93, 0x01);
        b_put (&b, values[i], sizes[i]);
        b_byte (&b, 0x02);
        json = s_to_json (b.data, b.size, false);
        b_free (&b);
        bool dropped = json && strcmp (json, "[1,2]") == 0;
        free (json);
        if (dropped)
            fail_msg ("%s: array element silently dropped: [1,2]", i ? "Inf" : "NaN");
    }
}

//  Map keys are str and may hold NUL (valid UTF-8, accepted by codec_check):
//  distinct keys must stay distinct.
static void
test_to_json_keys_with_nul (void **state)
{
    (void) state;
    buf_t b = {0};
    b_byte (&b, 0x82);
    b_bytes (&b, 4, 0xA3, 'a', 0x00, 'b'), b_byte (&b, 0x01);
    b_bytes (&b, 4, 0xA3, 'a', 0x00, 'c'), b_byte (&b, 0x02);
    const char *why = NULL;
    assert_int_equal (codec_check (b.data, b.size, NULL, &why), LH_OK);
    char *json = s_to_json (b.data, b.size, false);
    b_free (&b);
    if (json) {
        msgpack_sbuffer sb;
        s_from_json (json, &sb);
        msgpack_zone zone;
        msgpack_object obj = s_unpack (sb.data, sb.size, &zone);
        bool two = obj.type == MSGPACK_OBJECT_MAP && obj.via.map.size == 2;
        msgpack_zone_destroy (&zone);
        msgpack_sbuffer_destroy (&sb);
        char shown[64];
        snprintf (shown, sizeof (shown), "%s", json);
        free (json);
        if (!two)
            fail_msg ("two distinct keys rendered as %s", shown);
    }
}

//  msgpack-c hands over a zero-length str that comes before any other
//  str/bin in the buffer with via.str.ptr == NULL; that is still "".
static void
test_to_json_empty_strings (void **state)
{
    (void) state;
    struct {
        const char *msgpack;
        size_t size;
        const char *json;
    } cases[] = {
        {"\x91\xA0", 2, "[\"\"]"},
        {"\x92\xA0\xA1x", 4, "[\"\",\"x\"]"},
        {"\x81\xA0\xA0", 3, "{\"\":\"\"}"},
        {"\xA0", 1, "\"\""},
        //  After a non-empty str msgpack-c happens to keep a pointer: fine
        {"\x92\xA1x\xA0", 4, "[\"x\",\"\"]"},
    };
    for (size_t i = 0; i < sizeof (cases) / sizeof (cases[0]); i++) {
        char *json = s_to_json (cases[i].msgpack, cases[i].size, false);
        char shown[64];
        snprintf (shown, sizeof (shown), "%s", json ? json : "NULL");
        bool same = json && strcmp (json, cases[i].json) == 0;
        free (json);
        if (!same)
            fail_msg ("case %zu: rendered as %s, expected %s", i, shown, cases[i].json);
    }
    //  The same through JSON: from_json then to_json
    const char *texts[] = {"[\"\"]", "\"\"", "[\"\",1]"};
    for (size_t i = 0; i < sizeof (texts) / sizeof (texts[0]); i++) {
        msgpack_sbuffer sb;
        s_from_json (texts[i], &sb);
        char *back = s_to_json (sb.data, sb.size, false);
        msgpack_sbuffer_destroy (&sb);
        char shown[64];
        snprintf (shown, sizeof (shown), "%s", back ? back : "NULL");
        bool same = back && strcmp (back, texts[i]) == 0;
        free (back);
        if (!same)
            fail_msg ("round trip changed %s into %s", texts[i], shown);
    }
}

//  A str holding NUL is valid msgpack and valid UTF-8; to_json writes it as
//  \u0000, which is valid JSON. from_json must take its own sibling's output.
static void
test_nul_in_string_round_trip (void **state)
{
    (void) state;
    const char *text = "{\"s\":\"a\\u0000b\"}";
    msgpack_sbuffer sb;
    msgpack_sbuffer_init (&sb);
    char why[256] = "";
    int rc = jsonpack_from_json (text, strlen (text), &sb, why, sizeof (why));
    if (rc != 0) {
        msgpack_sbuffer_destroy (&sb);
        fail_msg ("jsonpack_from_json refused %s: %s", text, why);
    }
    assert_int_equal (sb.size, 7);
    assert_memory_equal (sb.data,
                         "\x81\xA1s\xA3"
                         "a\0b",
                         7);
    msgpack_sbuffer_destroy (&sb);
}

int
main (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_from_json_bytes),
        cmocka_unit_test (test_round_trip),
        cmocka_unit_test (test_objects_pass_codec_check),
        cmocka_unit_test (test_duplicate_keys_rejected),
        cmocka_unit_test (test_invalid_json_message),
        cmocka_unit_test (test_to_json_types),
        cmocka_unit_test (test_to_json_big_uint),
        cmocka_unit_test (test_bin_to_base64),
        cmocka_unit_test (test_to_json_nonfinite_not_dropped),
        cmocka_unit_test (test_to_json_keys_with_nul),
        cmocka_unit_test (test_to_json_empty_strings),
        cmocka_unit_test (test_nul_in_string_round_trip),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
