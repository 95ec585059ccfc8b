/*  fuzz_codec -- libFuzzer target for the wire codec.

    Arbitrary bytes go through codec_check, codec_doc_decode, codec_with_id
    and jsonpack_to_json. Oracles (any failure abort()s, so libFuzzer keeps
    the input):

    1. codec_check and codec_doc_decode agree: when the check passes, the
       decode fails only for a duplicate key; when the check fails, the
       decode fails with the same code.
    2. Checking with tighter limits never accepts what the default limits
       reject.
    3. A decoded root re-packed with msgpack_pack_object decodes again, to
       an identical object.
    4. codec_with_id refuses exactly what it should (undecodable body, body
       with "id", too many entries) and otherwise yields a body that decodes
       to {"id": id} followed by the original entries, unchanged.
    5. jsonpack_to_json renders every decoded document, and its output is
       JSON that jsonpack_from_json accepts (except for the known refusal of
       "\u0000", see below).

    With LH_FUZZ_STRICT_JSON=1 in the environment a sixth oracle is on:
    JSON -> msgpack of (5) gives back the original document, allowing only
    the documented conversions (bin -> base64 str, float32 -> float64,
    uint64 past INT64_MAX -> float), and (5) must hold for "\u0000" too.
    It is off by default because known lossy cases (NaN/Inf values, NUL in
    map keys, NUL in strings, empty strings msgpack-c hands over with a NULL
    pointer) fail it within seconds and would hide everything else.
*/
#include "codec.h"
#include "jsonpack.h"
#include "fuzz_common.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static bool s_strict_json = false;

int LLVMFuzzerInitialize (int *argc, char ***argv);
int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

int
LLVMFuzzerInitialize (int *argc, char ***argv)
{
    (void) argc;
    (void) argv;
    const char *strict = getenv ("LH_FUZZ_STRICT_JSON");
    s_strict_json = strict && strcmp (strict, "1") == 0;
    return 0;
}

static bool
s_is_base64_of (const msgpack_object *str, const char *bin, size_t size)
{
    static const char alphabet[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    size_t expected = (size + 2) / 3 * 4;
    if (str->type != MSGPACK_OBJECT_STR || str->via.str.size != expected)
        return false;
    const uint8_t *in = (const uint8_t *) bin;
    const char *out = str->via.str.ptr;
    for (size_t i = 0, o = 0; i < size; i += 3, o += 4) {
        uint32_t v = (uint32_t) in[i] << 16;
        if (i + 1 < size)
            v |= (uint32_t) in[i + 1] << 8;
        if (i + 2 < size)
            v |= in[i + 2];
        char quad[4] = {alphabet[(v >> 18) & 63], alphabet[(v >> 12) & 63],
                        i + 1 < size ? alphabet[(v >> 6) & 63] : '=',
                        i + 2 < size ? alphabet[v & 63] : '='};
        if (memcmp (out + o, quad, 4) != 0)
            return false;
    }
    return true;
}

//  Original object vs the same object after msgpack -> JSON -> msgpack
static bool
s_json_same (const msgpack_object *m, const msgpack_object *j)
{
    switch (m->type) {
    case MSGPACK_OBJECT_POSITIVE_INTEGER:
        if (m->via.u64 > (uint64_t) INT64_MAX)
            return j->type == MSGPACK_OBJECT_FLOAT64 && j->via.f64 == (double) m->via.u64;
        return j->type == MSGPACK_OBJECT_POSITIVE_INTEGER && j->via.u64 == m->via.u64;
    case MSGPACK_OBJECT_FLOAT32:
    case MSGPACK_OBJECT_FLOAT64:
        return j->type == MSGPACK_OBJECT_FLOAT64 &&
               memcmp (&m->via.f64, &j->via.f64, sizeof (double)) == 0;
    case MSGPACK_OBJECT_BIN:
        return s_is_base64_of (j, m->via.bin.ptr, m->via.bin.size);
    case MSGPACK_OBJECT_ARRAY:
        if (j->type != MSGPACK_OBJECT_ARRAY || j->via.array.size != m->via.array.size)
            return false;
        for (uint32_t i = 0; i < m->via.array.size; i++)
            if (!s_json_same (&m->via.array.ptr[i], &j->via.array.ptr[i]))
                return false;
        return true;
    case MSGPACK_OBJECT_MAP:
        if (j->type != MSGPACK_OBJECT_MAP || j->via.map.size != m->via.map.size)
            return false;
        for (uint32_t i = 0; i < m->via.map.size; i++)
            if (!s_obj_same (&m->via.map.ptr[i].key, &j->via.map.ptr[i].key) ||
                !s_json_same (&m->via.map.ptr[i].val, &j->via.map.ptr[i].val))
                return false;
        return true;
    default:
        return s_obj_same (m, j);
    }
}

//  True if any map key, at any depth, holds a NUL byte: JSON parsers refuse
//  those, so jsonpack_to_json declines such documents (returns NULL).
static bool
s_has_nul_key (const msgpack_object *obj)
{
    if (obj->type == MSGPACK_OBJECT_ARRAY) {
        for (uint32_t i = 0; i < obj->via.array.size; i++)
            if (s_has_nul_key (&obj->via.array.ptr[i]))
                return true;
        return false;
    }
    if (obj->type != MSGPACK_OBJECT_MAP)
        return false;
    for (uint32_t i = 0; i < obj->via.map.size; i++) {
        const msgpack_object_str *key = &obj->via.map.ptr[i].key.via.str;
        if ((key->size && memchr (key->ptr, 0, key->size)) ||
            s_has_nul_key (&obj->via.map.ptr[i].val))
            return true;
    }
    return false;
}

static void
s_check_json (const msgpack_object *root, bool pretty)
{
    char *json = jsonpack_to_json (root, pretty);
    //  NULL exactly when a key holds NUL; never a silent drop
    FUZZ_ASSERT ((json == NULL) == s_has_nul_key (root));
    if (!json)
        return;
    msgpack_sbuffer sb;
    msgpack_sbuffer_init (&sb);
    char why[256] = "";
    int rc = jsonpack_from_json (json, strlen (json), &sb, why, sizeof (why));
    if (rc != 0)
        fprintf (stderr, "jsonpack_from_json refused our own output: %s\n%s\n", why, json);
    FUZZ_ASSERT (rc == 0);
    if (s_strict_json) {
        msgpack_zone zone;
        msgpack_zone_init (&zone, 2048);
        msgpack_object back;
        size_t off = 0;
        FUZZ_ASSERT (msgpack_unpack (sb.data, sb.size, &off, &zone, &back) ==
                     MSGPACK_UNPACK_SUCCESS);
        if (!s_json_same (root, &back))
            fprintf (stderr, "JSON round trip changed the document:\n%s\n", json);
        FUZZ_ASSERT (s_json_same (root, &back));
        msgpack_zone_destroy (&zone);
    }
    msgpack_sbuffer_destroy (&sb);
    free (json);
}

static void
s_check_repack (const msgpack_object *root)
{
    msgpack_sbuffer sb;
    msgpack_sbuffer_init (&sb);
    msgpack_packer pk;
    msgpack_packer_init (&pk, &sb, msgpack_sbuffer_write);
    FUZZ_ASSERT (msgpack_pack_object (&pk, *root) == 0);
    lh_err_t err = LH_OK;
    const char *why = NULL;
    codec_doc_t *again = codec_doc_decode (sb.data, sb.size, &err, &why);
    if (!again)
        fprintf (stderr, "re-packed body refused: %s (%s)\n", codec_err_name (err), why);
    FUZZ_ASSERT (again != NULL);
    FUZZ_ASSERT (s_obj_same (root, codec_doc_root (again)));
    codec_doc_destroy (&again);
    msgpack_sbuffer_destroy (&sb);
}

static void
s_check_with_id (const uint8_t *data, size_t size, const msgpack_object *root, lh_err_t decode_err)
{
    //  An id that varies with the input, including 0 and values past INT64_MAX
    uint64_t id = 0;
    for (size_t i = 0; i < size && i < 8; i++)
        id = (id << 8) | data[size - 1 - i];
    if (size % 3 == 0)
        id >>= 40;

    msgpack_sbuffer out;
    msgpack_sbuffer_init (&out);
    const char *why = NULL;
    lh_err_t rc = codec_with_id (data, size, id, &out, &why);
    if (!root) {
        FUZZ_ASSERT (rc == decode_err);
        FUZZ_ASSERT (why != NULL);
    } else if (codec_map_get (root, "id")) {
        FUZZ_ASSERT (rc == LH_E_BAD_REQUEST);
        FUZZ_ASSERT (why != NULL);
    } else if (root->via.map.size + 1 > LH_MAX_ITEMS)
        FUZZ_ASSERT (rc == LH_E_TOO_LARGE);
    else {
        FUZZ_ASSERT (rc == LH_OK);
        lh_err_t err = LH_OK;
        const char *why2 = NULL;
        codec_doc_t *doc = codec_doc_decode (out.data, out.size, &err, &why2);
        if (!doc)
            fprintf (stderr, "codec_with_id output refused: %s (%s)\n", codec_err_name (err), why2);
        FUZZ_ASSERT (doc != NULL);
        const msgpack_object *with = codec_doc_root (doc);
        FUZZ_ASSERT (with->type == MSGPACK_OBJECT_MAP);
        FUZZ_ASSERT (with->via.map.size == root->via.map.size + 1);
        FUZZ_ASSERT (codec_str_eq (&with->via.map.ptr[0].key, "id"));
        FUZZ_ASSERT (with->via.map.ptr[0].val.type == MSGPACK_OBJECT_POSITIVE_INTEGER);
        FUZZ_ASSERT (with->via.map.ptr[0].val.via.u64 == id);
        for (uint32_t i = 0; i < root->via.map.size; i++) {
            FUZZ_ASSERT (s_obj_same (&root->via.map.ptr[i].key, &with->via.map.ptr[i + 1].key));
            FUZZ_ASSERT (s_obj_same (&root->via.map.ptr[i].val, &with->via.map.ptr[i + 1].val));
        }
        codec_doc_destroy (&doc);
    }
    msgpack_sbuffer_destroy (&out);
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
    const codec_limits_t *def = codec_limits_default ();
    const char *why = NULL;
    lh_err_t check = codec_check (data, size, def, &why);
    FUZZ_ASSERT (check == LH_OK || check == LH_E_BAD_REQUEST || check == LH_E_TOO_LARGE);
    FUZZ_ASSERT (check == LH_OK || why != NULL);

    //  Tighter limits taken from the input: never more permissive
    if (size >= 4) {
        codec_limits_t tight = {
            .max_size = def->max_size,
            .max_depth = data[size - 1] % (def->max_depth + 1),
            .max_str = data[size - 2] % 80,
            .max_key = data[size - 3] % (def->max_key + 1),
            .max_items = data[size - 4] % 20,
        };
        lh_err_t tight_rc = codec_check (data, size, &tight, &why);
        FUZZ_ASSERT (tight_rc != LH_OK || check == LH_OK);
    }

    lh_err_t err = LH_OK;
    why = NULL;
    codec_doc_t *doc = codec_doc_decode (data, size, &err, &why);
    if (check != LH_OK) {
        FUZZ_ASSERT (doc == NULL);
        FUZZ_ASSERT (err == check);
    } else if (!doc) {
        //  The byte walker and msgpack-c must agree on everything but duplicates
        if (strcmp (why, "duplicate map key") != 0)
            fprintf (stderr, "codec_check passed but decode failed: %s\n", why);
        FUZZ_ASSERT (err == LH_E_BAD_REQUEST);
        FUZZ_ASSERT (strcmp (why, "duplicate map key") == 0);
    }

    const msgpack_object *root = doc ? codec_doc_root (doc) : NULL;
    if (root) {
        FUZZ_ASSERT (root->type == MSGPACK_OBJECT_MAP);
        s_check_repack (root);
        s_check_json (root, size & 1);
    }
    s_check_with_id (data, size, root, err);
    codec_doc_destroy (&doc);
    return 0;
}
