/*  fuzz_event -- libFuzzer target for the integrity log's event model
    (schemas/event.c).

    Every input is tried in each of the three forms an event takes (see
    event.h). Oracles (any failure abort()s, so libFuzzer keeps the input):

    1. As a leaf: event_decode never crashes; a refusal carries a reason;
       an acceptance gives fields within their limits (seq <= INT64_MAX, a
       known type, a data map, every string terminated inside its buffer),
       and the decoded event packed again (event_pack_body, event_leaf at
       the same seq) decodes to the same fields: what a verifier reads out
       of a leaf is all the leaf says.
    2. As an append request {"events": [...]}: every element goes through
       event_check for an agent ("agent-1", role "agent"), a node ("node-1",
       role "node") and a role with no rights ("v-1", "validator").
       Refusals carry a known code and a reason. An accepted event obeys
       the role rules (an agent speaks only for itself and only of what it
       did; the appender and role are the caller's; references are
       printable ASCII). What an agent may append a node may too, and what
       a node may append the rightless role is refused as forbidden. Each
       accepted event then goes where the replica sends it: stamped, packed
       as a body (skipped over EVENT_MAX_DATA, as the replica refuses it),
       made a leaf at a seq taken from the input and decoded; type, agent,
       by, role, references, ts, seq and data must come back exactly.
    3. As an entry body: event_leaf refuses exactly what is not a fixmap
       or map16 header; a leaf it makes from a decodable body without
       "seq" decodes to {"seq": seq} followed by the body's pairs.
*/
#include "codec.h"
#include "event.h"
#include "fuzz_common.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

static const struct {
    const char *agent;
    const char *role;
} s_callers[] = {{"agent-1", "agent"}, {"node-1", "node"}, {"v-1", "validator"}};

enum { CALLER_AGENT, CALLER_NODE, CALLER_NONE, CALLER_COUNT };

//  A seq that varies with the input: 0, small, the largest, and anything between
static uint64_t
s_seq_from (const uint8_t *data, size_t size)
{
    uint64_t value = 0;
    for (size_t i = 0; i < size && i < 8; i++)
        value = (value << 8) | data[size - 1 - i];
    switch (size % 4) {
    case 0:
        return 0;
    case 1:
        return value % 1000;
    case 2:
        return (uint64_t) INT64_MAX;
    default:
        return value & (uint64_t) INT64_MAX;
    }
}

static bool
s_terminated (const char *text, size_t size)
{
    return memchr (text, 0, size) != NULL;
}

static bool
s_printable (const char *text)
{
    for (const char *c = text; *c; c++)
        if (*c < 0x21 || *c > 0x7e)
            return false;
    return true;
}

static bool
s_agent_id (const char *text)
{
    size_t len = strlen (text);
    if (len == 0 || len > LH_MAX_AGENT)
        return false;
    for (size_t i = 0; i < len; i++)
        if (!strchr ("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-", text[i]))
            return false;
    return true;
}

//  The limits every decoded or checked event keeps
static void
s_check_fields (const event_t *ev)
{
    FUZZ_ASSERT (ev->seq <= (uint64_t) INT64_MAX);
    const char *name = event_type_name (ev->type);
    FUZZ_ASSERT (name != NULL);
    FUZZ_ASSERT (event_type_parse (name, strlen (name)) == (int) ev->type);
    FUZZ_ASSERT (ev->data != NULL && ev->data->type == MSGPACK_OBJECT_MAP);
    FUZZ_ASSERT (s_terminated (ev->agent, sizeof (ev->agent)));
    FUZZ_ASSERT (s_terminated (ev->by, sizeof (ev->by)));
    FUZZ_ASSERT (s_terminated (ev->role, sizeof (ev->role)));
    FUZZ_ASSERT (s_terminated (ev->client_id, sizeof (ev->client_id)));
    FUZZ_ASSERT (s_terminated (ev->correlation, sizeof (ev->correlation)));
    FUZZ_ASSERT (s_terminated (ev->causation, sizeof (ev->causation)));
}

static void
s_assert_same (const event_t *a, const event_t *b)
{
    if (a->type != b->type || a->ts != b->ts || strcmp (a->agent, b->agent) ||
        strcmp (a->by, b->by) || strcmp (a->role, b->role) || strcmp (a->client_id, b->client_id) ||
        strcmp (a->correlation, b->correlation) || strcmp (a->causation, b->causation))
        fprintf (stderr,
                 "event changed on the way through a leaf:\n"
                 "  type %d/%d ts %lld/%lld agent '%s'/'%s' by '%s'/'%s' role '%s'/'%s'\n"
                 "  client_id '%s'/'%s' correlation '%s'/'%s' causation '%s'/'%s'\n",
                 (int) a->type, (int) b->type, (long long) a->ts, (long long) b->ts, a->agent,
                 b->agent, a->by, b->by, a->role, b->role, a->client_id, b->client_id,
                 a->correlation, b->correlation, a->causation, b->causation);
    FUZZ_ASSERT (a->type == b->type);
    FUZZ_ASSERT (a->ts == b->ts);
    FUZZ_ASSERT (strcmp (a->agent, b->agent) == 0);
    FUZZ_ASSERT (strcmp (a->by, b->by) == 0);
    FUZZ_ASSERT (strcmp (a->role, b->role) == 0);
    FUZZ_ASSERT (strcmp (a->client_id, b->client_id) == 0);
    FUZZ_ASSERT (strcmp (a->correlation, b->correlation) == 0);
    FUZZ_ASSERT (strcmp (a->causation, b->causation) == 0);
    FUZZ_ASSERT (s_obj_same (a->data, b->data));
}

//  Body -> leaf at seq -> decoded event, which must be ev again. Skips
//  (returns false) what the replica would refuse as too large when asked.
static bool
s_through_leaf (const event_t *ev, uint64_t seq, bool enforce_data_limit)
{
    codec_buf_t body;
    codec_buf_init (&body);
    size_t data_size = event_pack_body (&body.pk, ev);
    if (enforce_data_limit && data_size > EVENT_MAX_DATA) {
        codec_buf_destroy (&body);
        return false;
    }
    msgpack_sbuffer leaf;
    msgpack_sbuffer_init (&leaf);
    FUZZ_ASSERT (event_leaf (body.sbuf.data, body.sbuf.size, seq, &leaf) == 0);
    event_t back;
    codec_doc_t *doc = NULL;
    char why[256] = "";
    lh_err_t rc = event_decode (leaf.data, leaf.size, &back, &doc, why, sizeof (why));
    if (rc != LH_OK)
        fprintf (stderr, "the leaf of an event does not decode: %s\n", why);
    FUZZ_ASSERT (rc == LH_OK);
    FUZZ_ASSERT (doc != NULL);
    s_check_fields (&back);
    FUZZ_ASSERT (back.seq == seq);
    s_assert_same (ev, &back);
    codec_doc_destroy (&doc);
    msgpack_sbuffer_destroy (&leaf);
    codec_buf_destroy (&body);
    return true;
}

//  1. The input as a leaf
static void
s_as_leaf (const uint8_t *data, size_t size)
{
    event_t ev;
    codec_doc_t *doc = (codec_doc_t *) &ev; //  must be reset, whatever happens
    char why[256] = "";
    lh_err_t rc = event_decode (data, size, &ev, &doc, why, sizeof (why));
    if (rc != LH_OK) {
        FUZZ_ASSERT (rc == LH_E_BAD_REQUEST);
        FUZZ_ASSERT (doc == NULL);
        FUZZ_ASSERT (why[0] != 0);
        return;
    }
    FUZZ_ASSERT (doc != NULL);
    s_check_fields (&ev);
    //  Packing it again keeps every field and its seq (never over the limits:
    //  the new leaf is no larger than this one)
    FUZZ_ASSERT (s_through_leaf (&ev, ev.seq, false));
    codec_doc_destroy (&doc);
}

//  2. The input as an append request
static void
s_as_request (const uint8_t *data, size_t size, const msgpack_object *root)
{
    const msgpack_object *events = codec_map_get (root, "events");
    if (!events || events->type != MSGPACK_OBJECT_ARRAY)
        return;
    uint64_t seq = s_seq_from (data, size);
    //  The leader's clock, any int64 (a leaf keeps whatever it was given)
    int64_t ts = (int64_t) (seq * UINT64_C (0x9E3779B97F4A7C15));
    for (uint32_t i = 0; i < events->via.array.size; i++) {
        const msgpack_object *obj = &events->via.array.ptr[i];
        lh_err_t rcs[CALLER_COUNT];
        for (int c = 0; c < CALLER_COUNT; c++) {
            event_t ev;
            char why[256] = "";
            lh_err_t rc =
                event_check (obj, s_callers[c].agent, s_callers[c].role, &ev, why, sizeof (why));
            rcs[c] = rc;
            FUZZ_ASSERT (rc == LH_OK || rc == LH_E_BAD_REQUEST || rc == LH_E_FORBIDDEN ||
                         rc == LH_E_TOO_LARGE);
            if (rc != LH_OK) {
                FUZZ_ASSERT (why[0] != 0);
                continue;
            }
            s_check_fields (&ev);
            FUZZ_ASSERT (ev.seq == 0 && ev.ts == 0);
            FUZZ_ASSERT (event_type_allowed (ev.type, s_callers[c].role));
            FUZZ_ASSERT (strcmp (ev.by, s_callers[c].agent) == 0);
            FUZZ_ASSERT (strcmp (ev.role, s_callers[c].role) == 0);
            FUZZ_ASSERT (s_agent_id (ev.agent));
            if (c == CALLER_AGENT)
                FUZZ_ASSERT (strcmp (ev.agent, s_callers[c].agent) == 0);
            FUZZ_ASSERT (s_printable (ev.client_id));
            FUZZ_ASSERT (s_printable (ev.correlation));
            FUZZ_ASSERT (s_printable (ev.causation));
            if (ev.type == EVENT_FILE_WRITE) {
                const msgpack_object *path = codec_map_get (ev.data, "path");
                FUZZ_ASSERT (path && path->type == MSGPACK_OBJECT_STR);
                FUZZ_ASSERT (path->via.str.size > 0 && path->via.str.size <= EVENT_MAX_PATH);
                FUZZ_ASSERT (!memchr (path->via.str.ptr, 0, path->via.str.size));
            }
            ev.ts = ts;
            s_through_leaf (&ev, seq, true);
        }
        //  A node may append whatever an agent may; the rightless role nothing
        FUZZ_ASSERT (rcs[CALLER_AGENT] != LH_OK || rcs[CALLER_NODE] == LH_OK);
        FUZZ_ASSERT (rcs[CALLER_NONE] != LH_OK);
        if (rcs[CALLER_NODE] == LH_OK)
            FUZZ_ASSERT (rcs[CALLER_NONE] == LH_E_FORBIDDEN);
    }
}

//  3. The input as an entry body
static void
s_as_body (const uint8_t *data, size_t size, const msgpack_object *root)
{
    uint64_t seq = s_seq_from (data, size);
    msgpack_sbuffer leaf;
    msgpack_sbuffer_init (&leaf);
    int rc = event_leaf (data, size, seq, &leaf);
    bool shape =
        (size >= 1 && data[0] >= 0x80 && data[0] <= 0x8f) || (size >= 3 && data[0] == 0xde);
    FUZZ_ASSERT ((rc == 0) == shape);
    FUZZ_ASSERT (rc == 0 || leaf.size == 0);
    if (rc == 0 && root && !codec_map_get (root, "seq") && root->via.map.size + 1 <= LH_MAX_ITEMS &&
        leaf.size <= codec_limits_default ()->max_size) {
        lh_err_t err = LH_OK;
        const char *why = NULL;
        codec_doc_t *doc = codec_doc_decode (leaf.data, leaf.size, &err, &why);
        if (!doc)
            fprintf (stderr, "the leaf of a decodable body does not decode: %s\n", why);
        FUZZ_ASSERT (doc != NULL);
        const msgpack_object *with = codec_doc_root (doc);
        FUZZ_ASSERT (with->via.map.size == root->via.map.size + 1);
        FUZZ_ASSERT (codec_str_eq (&with->via.map.ptr[0].key, "seq"));
        FUZZ_ASSERT (with->via.map.ptr[0].val.type == MSGPACK_OBJECT_POSITIVE_INTEGER);
        FUZZ_ASSERT (with->via.map.ptr[0].val.via.u64 == seq);
        for (uint32_t i = 0; i < root->via.map.size; i++) {
            FUZZ_ASSERT (s_obj_same (&root->via.map.ptr[i].key, &with->via.map.ptr[i + 1].key));
            FUZZ_ASSERT (s_obj_same (&root->via.map.ptr[i].val, &with->via.map.ptr[i + 1].val));
        }
        codec_doc_destroy (&doc);
    }
    if (rc == 0) {
        //  Whatever the body, a leaf that decodes is the event at seq
        event_t ev;
        codec_doc_t *doc = NULL;
        char why[256] = "";
        if (event_decode (leaf.data, leaf.size, &ev, &doc, why, sizeof (why)) == LH_OK) {
            s_check_fields (&ev);
            FUZZ_ASSERT (ev.seq == seq);
            codec_doc_destroy (&doc);
        }
    }
    msgpack_sbuffer_destroy (&leaf);
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
    s_as_leaf (data, size);
    lh_err_t err = LH_OK;
    const char *why = NULL;
    codec_doc_t *doc = codec_doc_decode (data, size, &err, &why);
    const msgpack_object *root = doc ? codec_doc_root (doc) : NULL;
    if (root)
        s_as_request (data, size, root);
    s_as_body (data, size, root);
    codec_doc_destroy (&doc);
    return 0;
}
