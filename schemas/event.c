/*  event -- the integrity log's event model. See event.h. */
#include "event.h"

#include <stdio.h>
#include <string.h>

static const char *s_type_names[EVENT_TYPE_COUNT] = {
    [EVENT_COMMAND_RECEIVED] = "command.received",
    [EVENT_COMMAND_VALIDATED] = "command.validated",
    [EVENT_COMMAND_EXECUTED] = "command.executed",
    [EVENT_DECISION] = "validation.decision",
    [EVENT_ESCALATION] = "escalation.requested",
    [EVENT_VERDICT] = "expert.verdict",
    [EVENT_FILE_WRITE] = "file.write",
    [EVENT_SESSION_START] = "session.start",
    [EVENT_SESSION_END] = "session.end",
    [EVENT_AGENT_JOIN] = "agent.join",
    [EVENT_AGENT_LEAVE] = "agent.leave",
    [EVENT_INTEGRITY_ALERT] = "integrity.alert",
    [EVENT_CUSTOM] = "custom",
    [EVENT_POLICY_LOADED] = "policy.loaded",
    [EVENT_ESCALATION_ASSIGNED] = "escalation.assigned",
    [EVENT_ESCALATION_EXPIRED] = "escalation.expired",
    [EVENT_VERDICT_REVOKED] = "verdict.revoked",
    [EVENT_VERDICT_USED] = "verdict.used",
    [EVENT_FILE_DELETE] = "file.delete",
    [EVENT_FILE_RENAME] = "file.rename",
    [EVENT_FILE_MKDIR] = "file.mkdir",
    [EVENT_FILE_LINK] = "file.link",
    [EVENT_FILE_ATTR] = "file.attr",
};

static bool
s_file_type (event_type_t type)
{
    return type == EVENT_FILE_WRITE || (type >= EVENT_FILE_DELETE && type <= EVENT_FILE_ATTR);
}

const char *
event_type_name (event_type_t type)
{
    return (int) type >= 0 && type < EVENT_TYPE_COUNT ? s_type_names[type] : NULL;
}

int
event_type_parse (const char *name, size_t len)
{
    for (int type = 0; type < EVENT_TYPE_COUNT; type++)
        if (strlen (s_type_names[type]) == len && memcmp (s_type_names[type], name, len) == 0)
            return type;
    return -1;
}

bool
event_type_allowed (event_type_t type, const char *role)
{
    if (strcmp (role, "node") == 0 || strcmp (role, "admin") == 0)
        return true;
    //  An agent reports what it did; what was decided about it is not its to say
    if (strcmp (role, "agent") == 0)
        return type == EVENT_COMMAND_EXECUTED || s_file_type (type) ||
               type == EVENT_SESSION_START || type == EVENT_SESSION_END || type == EVENT_CUSTOM;
    return false;
}

bool
event_ref_valid (const char *text, size_t len)
{
    if (len == 0 || len > EVENT_MAX_REF)
        return false;
    for (size_t i = 0; i < len; i++)
        if (text[i] < 0x21 || text[i] > 0x7e)
            return false;
    return true;
}

//  A reference (client_id, correlation, causation): printable ASCII.
static lh_err_t
s_ref (const msgpack_object *val, const char *key, char *out, char *why, size_t why_size)
{
    if (val->type != MSGPACK_OBJECT_STR) {
        snprintf (why, why_size, "field '%s' must be a string", key);
        return LH_E_BAD_REQUEST;
    }
    if (val->via.str.size > EVENT_MAX_REF) {
        snprintf (why, why_size, "field '%s' is longer than %d bytes", key, EVENT_MAX_REF);
        return LH_E_TOO_LARGE;
    }
    if (val->via.str.size == 0) {
        snprintf (why, why_size, "field '%s' is empty", key);
        return LH_E_BAD_REQUEST;
    }
    if (!event_ref_valid (val->via.str.ptr, val->via.str.size)) {
        snprintf (why, why_size, "field '%s' must be printable ASCII without spaces", key);
        return LH_E_BAD_REQUEST;
    }
    memcpy (out, val->via.str.ptr, val->via.str.size);
    out[val->via.str.size] = 0;
    return LH_OK;
}

lh_err_t
event_check (const msgpack_object *obj, const char *caller_agent, const char *caller_role,
             event_t *ev, char *why, size_t why_size)
{
    memset (ev, 0, sizeof (*ev));
    if (!obj || obj->type != MSGPACK_OBJECT_MAP) {
        snprintf (why, why_size, "an event must be a map");
        return LH_E_BAD_REQUEST;
    }
    const msgpack_object *type = NULL, *agent = NULL;
    for (uint32_t i = 0; i < obj->via.map.size; i++) {
        const msgpack_object *key = &obj->via.map.ptr[i].key;
        const msgpack_object *val = &obj->via.map.ptr[i].val;
        lh_err_t rc = LH_OK;
        if (codec_str_eq (key, "type"))
            type = val;
        else if (codec_str_eq (key, "agent"))
            agent = val;
        else if (codec_str_eq (key, "data"))
            ev->data = val;
        else if (codec_str_eq (key, "client_id"))
            rc = s_ref (val, "client_id", ev->client_id, why, why_size);
        else if (codec_str_eq (key, "correlation"))
            rc = s_ref (val, "correlation", ev->correlation, why, why_size);
        else if (codec_str_eq (key, "causation"))
            rc = s_ref (val, "causation", ev->causation, why, why_size);
        else {
            char name[LH_MAX_KEY + 1] = "?";
            codec_str_copy (key, name, sizeof (name));
            snprintf (why, why_size, "unknown event field '%s'", name);
            return LH_E_BAD_REQUEST;
        }
        if (rc != LH_OK)
            return rc;
    }
    if (!type || type->type != MSGPACK_OBJECT_STR) {
        snprintf (why, why_size, "field 'type' is required and must be a string");
        return LH_E_BAD_REQUEST;
    }
    int t = event_type_parse (type->via.str.ptr, type->via.str.size);
    if (t < 0) {
        snprintf (why, why_size, "unknown event type '%.*s'",
                  (int) (type->via.str.size > 64 ? 64 : type->via.str.size), type->via.str.ptr);
        return LH_E_BAD_REQUEST;
    }
    ev->type = (event_type_t) t;
    if (!ev->data || ev->data->type != MSGPACK_OBJECT_MAP) {
        snprintf (why, why_size, "field 'data' is required and must be a map");
        return LH_E_BAD_REQUEST;
    }
    if (s_file_type (ev->type)) {
        const char *path;
        size_t len;
        lh_err_t rc =
            codec_get_str (ev->data, "path", true, EVENT_MAX_PATH, &path, &len, why, why_size);
        if (rc != LH_OK)
            return rc;
        if (len == 0 || memchr (path, 0, len)) {
            snprintf (why, why_size, "%s needs a non-empty data.path without NUL",
                      event_type_name (ev->type));
            return LH_E_BAD_REQUEST;
        }
    }
    if (!event_type_allowed (ev->type, caller_role)) {
        snprintf (why, why_size, "role '%s' may not append '%s' events", caller_role,
                  event_type_name (ev->type));
        return LH_E_FORBIDDEN;
    }
    if (agent) {
        if (agent->type != MSGPACK_OBJECT_STR ||
            !codec_name_valid (agent->via.str.ptr, agent->via.str.size, LH_MAX_AGENT)) {
            snprintf (why, why_size, "field 'agent' must be an agent id ([A-Za-z0-9._-], 1..%d)",
                      LH_MAX_AGENT);
            return LH_E_BAD_REQUEST;
        }
        memcpy (ev->agent, agent->via.str.ptr, agent->via.str.size);
        ev->agent[agent->via.str.size] = 0;
        //  Only infrastructure speaks about other agents
        bool trusted = strcmp (caller_role, "node") == 0 || strcmp (caller_role, "admin") == 0;
        if (!trusted && strcmp (ev->agent, caller_agent) != 0) {
            snprintf (why, why_size, "agent '%s' may not append events for agent '%s'",
                      caller_agent, ev->agent);
            return LH_E_FORBIDDEN;
        }
    } else
        snprintf (ev->agent, sizeof (ev->agent), "%s", caller_agent);
    snprintf (ev->by, sizeof (ev->by), "%s", caller_agent);
    snprintf (ev->role, sizeof (ev->role), "%s", caller_role);
    return LH_OK;
}

void
event_pack_append (msgpack_packer *pk, size_t count)
{
    msgpack_pack_map (pk, 2);
    codec_pack_kv_str (pk, "op", "append");
    codec_pack_str (pk, "events");
    msgpack_pack_array (pk, count);
}

size_t
event_pack_body (msgpack_packer *pk, const event_t *ev)
{
    size_t pairs =
        7 + (ev->client_id[0] != 0) + (ev->correlation[0] != 0) + (ev->causation[0] != 0);
    msgpack_pack_map (pk, pairs);
    codec_pack_str (pk, "v");
    msgpack_pack_uint8 (pk, EVENT_VERSION);
    codec_pack_kv_i64 (pk, "ts", ev->ts);
    codec_pack_kv_str (pk, "type", event_type_name (ev->type));
    codec_pack_kv_str (pk, "agent", ev->agent);
    codec_pack_kv_str (pk, "by", ev->by);
    codec_pack_kv_str (pk, "role", ev->role);
    if (ev->client_id[0]) {
        codec_pack_kv_str (pk, "client_id", ev->client_id);
    }
    if (ev->correlation[0]) {
        codec_pack_kv_str (pk, "correlation", ev->correlation);
    }
    if (ev->causation[0]) {
        codec_pack_kv_str (pk, "causation", ev->causation);
    }
    codec_pack_str (pk, "data");
    msgpack_sbuffer *sbuf = (msgpack_sbuffer *) pk->data;
    size_t before = sbuf->size;
    msgpack_pack_object (pk, *ev->data);
    return sbuf->size - before;
}

int
event_leaf (const void *body, size_t size, uint64_t seq, msgpack_sbuffer *out)
{
    const uint8_t *p = (const uint8_t *) body;
    uint32_t pairs;
    size_t head;
    if (size >= 1 && p[0] >= 0x80 && p[0] <= 0x8f) {
        pairs = p[0] & 0x0f;
        head = 1;
    } else if (size >= 3 && p[0] == 0xde) {
        pairs = (uint32_t) p[1] << 8 | p[2];
        head = 3;
    } else
        return -1;
    msgpack_packer pk;
    msgpack_packer_init (&pk, out, msgpack_sbuffer_write);
    msgpack_pack_map (&pk, pairs + 1);
    codec_pack_kv_u64 (&pk, "seq", seq);
    msgpack_sbuffer_write (out, (const char *) p + head, size - head);
    return 0;
}

lh_err_t
event_decode (const void *leaf, size_t size, event_t *ev, codec_doc_t **doc_p, char *why,
              size_t why_size)
{
    memset (ev, 0, sizeof (*ev));
    *doc_p = NULL;
    lh_err_t err;
    const char *cwhy;
    codec_doc_t *doc = codec_doc_decode (leaf, size, &err, &cwhy);
    if (!doc) {
        snprintf (why, why_size, "%s", cwhy);
        return LH_E_BAD_REQUEST;
    }
    const msgpack_object *root = codec_doc_root (doc);
    int64_t seq = 0, v = 0, ts = 0;
    const char *type;
    size_t type_len;
    lh_err_t rc = codec_get_int (root, "seq", true, 0, INT64_MAX, &seq, why, why_size);
    if (rc == LH_OK)
        rc = codec_get_int (root, "v", true, EVENT_VERSION, EVENT_VERSION, &v, why, why_size);
    if (rc == LH_OK)
        rc = codec_get_int (root, "ts", true, INT64_MIN, INT64_MAX, &ts, why, why_size);
    if (rc == LH_OK)
        rc = codec_get_str (root, "type", true, 64, &type, &type_len, why, why_size);
    if (rc == LH_OK)
        rc = codec_get_map (root, "data", true, &ev->data, why, why_size);
    int t = rc == LH_OK ? event_type_parse (type, type_len) : -1;
    if (rc == LH_OK && t < 0) {
        snprintf (why, why_size, "unknown event type");
        rc = LH_E_BAD_REQUEST;
    }
    struct {
        const char *key;
        char *out;
        size_t size;
        bool required;
    } fields[] = {
        {"agent", ev->agent, sizeof (ev->agent), true},
        {"by", ev->by, sizeof (ev->by), true},
        {"role", ev->role, sizeof (ev->role), true},
        {"client_id", ev->client_id, sizeof (ev->client_id), false},
        {"correlation", ev->correlation, sizeof (ev->correlation), false},
        {"causation", ev->causation, sizeof (ev->causation), false},
    };
    for (size_t i = 0; rc == LH_OK && i < sizeof (fields) / sizeof (fields[0]); i++) {
        const msgpack_object *val = codec_map_get (root, fields[i].key);
        if (!val && !fields[i].required)
            continue;
        if (!codec_str_copy (val, fields[i].out, fields[i].size)) {
            snprintf (why, why_size, "field '%s' missing, not a string or too long", fields[i].key);
            rc = LH_E_BAD_REQUEST;
        }
    }
    if (rc != LH_OK) {
        codec_doc_destroy (&doc);
        return LH_E_BAD_REQUEST;
    }
    ev->seq = (uint64_t) seq;
    ev->ts = ts;
    ev->type = (event_type_t) t;
    *doc_p = doc;
    return LH_OK;
}
