/*  fuzz_json -- libFuzzer target for JSON -> msgpack conversion.

    Arbitrary bytes go to jsonpack_from_json. Oracles (abort() on failure):

    1. A refusal comes with a message; an acceptance appends exactly one
       msgpack object.
    2. When the top level is an object, codec_check runs on the output. If
       it passes, codec_doc_decode must too (jansson already refused
       duplicate keys), and msgpack -> JSON -> msgpack must give back the
       very same bytes: every JSON value has an exact msgpack form.
    3. Any other top level (array, scalar) still renders back to JSON.
*/
#include "codec.h"
#include "jsonpack.h"
#include "fuzz_common.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

static void
s_round_trip (const msgpack_object *obj, const msgpack_sbuffer *first, bool pretty)
{
    char *json = jsonpack_to_json (obj, pretty);
    FUZZ_ASSERT (json != NULL);
    msgpack_sbuffer again;
    msgpack_sbuffer_init (&again);
    char why[256] = "";
    int rc = jsonpack_from_json (json, strlen (json), &again, why, sizeof (why));
    if (rc != 0)
        fprintf (stderr, "jsonpack_from_json refused our own output: %s\n%s\n", why, json);
    FUZZ_ASSERT (rc == 0);
    if (again.size != first->size || memcmp (again.data, first->data, first->size) != 0)
        fprintf (stderr, "JSON round trip changed the msgpack bytes:\n%s\n", json);
    FUZZ_ASSERT (again.size == first->size);
    FUZZ_ASSERT (memcmp (again.data, first->data, first->size) == 0);
    msgpack_sbuffer_destroy (&again);
    free (json);
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
    msgpack_sbuffer sb;
    msgpack_sbuffer_init (&sb);
    char why[256] = "";
    int rc = jsonpack_from_json ((const char *) data, size, &sb, why, sizeof (why));
    FUZZ_ASSERT (rc == 0 || rc == -1);
    if (rc != 0) {
        FUZZ_ASSERT (why[0] != 0);
        FUZZ_ASSERT (sb.size == 0);
        msgpack_sbuffer_destroy (&sb);
        return 0;
    }
    FUZZ_ASSERT (sb.size > 0);

    //  Exactly one object, whatever the top level
    msgpack_zone zone;
    FUZZ_ASSERT (msgpack_zone_init (&zone, 2048));
    msgpack_object obj;
    size_t off = 0;
    msgpack_unpack_return unpacked = msgpack_unpack (sb.data, sb.size, &off, &zone, &obj);
    //  msgpack-c has its own nesting limit (32) below jansson's (2048)
    FUZZ_ASSERT (unpacked == MSGPACK_UNPACK_SUCCESS || unpacked == MSGPACK_UNPACK_PARSE_ERROR ||
                 unpacked == MSGPACK_UNPACK_NOMEM_ERROR);
    if (unpacked == MSGPACK_UNPACK_SUCCESS)
        FUZZ_ASSERT (off == sb.size);

    uint8_t first = (uint8_t) sb.data[0];
    bool is_map = (first >= 0x80 && first <= 0x8F) || first == 0xDE || first == 0xDF;
    if (is_map) {
        const char *reason = NULL;
        lh_err_t check = codec_check (sb.data, sb.size, NULL, &reason);
        FUZZ_ASSERT (check == LH_OK || check == LH_E_BAD_REQUEST || check == LH_E_TOO_LARGE);
        if (check == LH_OK) {
            lh_err_t err = LH_OK;
            codec_doc_t *doc = codec_doc_decode (sb.data, sb.size, &err, &reason);
            if (!doc)
                fprintf (stderr, "checked body did not decode: %s\n", reason);
            FUZZ_ASSERT (doc != NULL);
            s_round_trip (codec_doc_root (doc), &sb, size & 1);
            codec_doc_destroy (&doc);
        }
    } else if (unpacked == MSGPACK_UNPACK_SUCCESS) {
        char *json = jsonpack_to_json (&obj, size & 1);
        FUZZ_ASSERT (json != NULL);
        free (json);
    }
    msgpack_zone_destroy (&zone);
    msgpack_sbuffer_destroy (&sb);
    return 0;
}
