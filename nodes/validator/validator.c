/*  validator -- the "validate" service. See validator.h. */
#include "validator.h"

#include "lh_dispatch.h"

#include "cache.h"
#include "lh_log.h"
#include "policy.h"

#include <czmq.h>
#include <errno.h>
#include <sodium.h>

#define MAX_PATH             4096
#define MAX_CONTEXT          256                //  bytes of session, tool_use_id, permission_mode
#define VALIDATE_WAIT_MAX_MS 600000             //  wait_ms, as docs/EXPERT.md bounds it
#define MAX_POLICY_READ      (16 * 1024 * 1024) //  policy_load_text has its own, lower bound
#define NOTICE_INPUT         256                //  bytes of the command or path quoted in a notice
//  The input logged whole up to this many packed bytes: the event's data may
//  hold 256 KiB (EVENT_MAX_DATA), the rest of the map stays well under 8 KiB
#define EVENT_INPUT (248 * 1024)

typedef struct {
    uint64_t requests;
    uint64_t errors;
    uint64_t decisions[POLICY_ACTIONS]; //  by policy_action_t
    uint64_t cache_hits;
    uint64_t cache_misses;
    uint64_t reloads;
    uint64_t reload_failures;
    uint64_t escalated;     //  handed to the verdict cache and the experts
    uint64_t verdicts_used; //  answered from a verdict (cache or expert)
    uint64_t fallbacks;     //  escalations that ended without a verdict
} counters_t;

struct _validator_t {
    char *policy_path;
    char *home;
    char *protect;
    redact_t *redact;
    policy_t *policy;
    char sha256[crypto_hash_sha256_BYTES * 2 + 1];
    validator_on_load_fn *on_load;
    void *on_load_arg;
    cache_t *cache;
    counters_t n;
    struct {
        const char *name;
        const uint64_t *value;
    } extra[VALIDATOR_EXTRA];
    size_t extras;
};

//  Reads the policy file once: its SHA-256 is that of the bytes loaded.
static policy_t *
s_load (const char *path, const char *protect, char *sha256, char *err, size_t err_size)
{
    FILE *file = fopen (path, "rb");
    if (!file) {
        snprintf (err, err_size, "%s: cannot open: %s", path, strerror (errno));
        return NULL;
    }
    char *text = (char *) malloc (MAX_POLICY_READ + 1);
    size_t size = text ? fread (text, 1, MAX_POLICY_READ, file) : 0;
    bool bad = !text || ferror (file) || !feof (file);
    fclose (file);
    if (bad || memchr (text, 0, size)) {
        snprintf (err, err_size, "%s: %s", path,
                  !text ? "out of memory"
                  : bad ? "cannot read the file, or it is too large"
                        : "the file contains a NUL byte");
        free (text);
        return NULL;
    }
    text[size] = 0;
    uint8_t hash[crypto_hash_sha256_BYTES];
    crypto_hash_sha256 (hash, (const uint8_t *) text, size);
    policy_t *policy = policy_load_text (text, path, err, err_size);
    free (text);
    if (policy && protect && *protect && !policy_protect (policy, protect, err, err_size))
        policy_destroy (&policy);
    if (policy)
        sodium_bin2hex (sha256, crypto_hash_sha256_BYTES * 2 + 1, hash, sizeof (hash));
    return policy;
}

validator_t *
validator_new (const char *policy_path, size_t cache_size, const char *home, const char *protect,
               redact_t *redact, char *err, size_t err_size)
{
    if (sodium_init () < 0) {
        snprintf (err, err_size, "libsodium failed to initialise");
        return NULL;
    }
    char sha256[crypto_hash_sha256_BYTES * 2 + 1];
    policy_t *policy = s_load (policy_path, protect, sha256, err, err_size);
    if (!policy)
        return NULL;
    validator_t *self = (validator_t *) zmalloc (sizeof (validator_t));
    self->policy_path = strdup (policy_path);
    self->home = strdup (home ? home : "/root");
    self->protect = protect ? strdup (protect) : NULL;
    self->redact = redact;
    self->policy = policy;
    memcpy (self->sha256, sha256, sizeof (sha256));
    self->cache = cache_new (cache_size);
    return self;
}

void
validator_destroy (validator_t **self_p)
{
    if (self_p && *self_p) {
        validator_t *self = *self_p;
        policy_destroy (&self->policy);
        cache_destroy (&self->cache);
        free (self->policy_path);
        free (self->home);
        free (self->protect);
        free (self);
        *self_p = NULL;
    }
}

void
validator_set_on_load (validator_t *self, validator_on_load_fn *fn, void *arg)
{
    self->on_load = fn;
    self->on_load_arg = arg;
    if (fn)
        fn (arg, self, "start", "");
}

const char *
validator_policy_version (validator_t *self)
{
    return policy_version (self->policy);
}

const char *
validator_policy_sha256 (validator_t *self)
{
    return self->sha256;
}

//  The first six pairs of a decision's notice and of its event: when,
//  who, which tool, what was decided by which rule
static void
s_pack_who (msgpack_packer *pk, int64_t now, const char *agent, const char *role, const char *tool,
            const policy_decision_t *decision)
{
    codec_pack_kv_i64 (pk, "time_ms", now);
    codec_pack_kv_str (pk, "agent", agent);
    codec_pack_kv_str (pk, "role", role);
    codec_pack_kv_str (pk, "tool", tool);
    codec_pack_kv_str (pk, "decision", policy_action_name (decision->action));
    codec_pack_kv_str (pk, "rule", decision->rule);
}

void
validator_pack_loaded (validator_t *self, const char *by, const char *role, msgpack_packer *pk)
{
    msgpack_pack_map (pk, 9);
    codec_pack_kv_str (pk, "kind", "policy.loaded");
    codec_pack_kv_i64 (pk, "time_ms", zclock_time ());
    codec_pack_kv_str (pk, "path", self->policy_path);
    codec_pack_kv_str (pk, "sha256", self->sha256);
    codec_pack_kv_str (pk, "version", policy_version (self->policy));
    codec_pack_kv_u64 (pk, "rules", policy_rule_count (self->policy));
    codec_pack_kv_str (pk, "by", by);
    codec_pack_kv_str (pk, "role", role);
    codec_pack_kv_str (pk, "protect", self->protect ? self->protect : "");
}

static int
s_reload (validator_t *self, const char *by, const char *role, char *err, size_t err_size)
{
    char sha256[crypto_hash_sha256_BYTES * 2 + 1];
    policy_t *policy = s_load (self->policy_path, self->protect, sha256, err, err_size);
    if (!policy) {
        self->n.reload_failures++;
        return -1;
    }
    policy_destroy (&self->policy);
    self->policy = policy;
    memcpy (self->sha256, sha256, sizeof (sha256));
    cache_clear (self->cache);
    self->n.reloads++;
    if (self->on_load)
        self->on_load (self->on_load_arg, self, by, role);
    return 0;
}

int
validator_reload (validator_t *self, const char *by, char *err, size_t err_size)
{
    return s_reload (self, by, "", err, err_size);
}

int
validator_add_counter (validator_t *self, const char *name, const uint64_t *value)
{
    if (self->extras == VALIDATOR_EXTRA)
        return -1;
    self->extra[self->extras].name = name;
    self->extra[self->extras++].value = value;
    return 0;
}

//  Copies a str field into buf (NUL-terminated); "" when absent.
static lh_err_t
s_get_text (const msgpack_object *body, const char *key, bool required, char *buf, size_t size,
            char *why, size_t why_size)
{
    const char *text = NULL;
    size_t len = 0;
    lh_err_t rc = codec_get_str (body, key, required, size - 1, &text, &len, why, why_size);
    if (rc != LH_OK)
        return rc;
    if (text && memchr (text, 0, len)) {
        snprintf (why, why_size, "field '%s' holds a NUL byte", key);
        return LH_E_BAD_REQUEST;
    }
    memcpy (buf, text ? text : "", len);
    buf[len] = 0;
    return LH_OK;
}

static void
s_pack_stats (validator_t *self, msgpack_packer *pk, const msgpack_object *id)
{
    codec_pack_ok_head (pk, id, 2);
    codec_pack_kv_str (pk, "policy", policy_version (self->policy));
    codec_pack_str (pk, "counters");
    validator_pack_counters (self, pk);
}

void
validator_pack_counters (validator_t *self, msgpack_packer *pk)
{
    const struct {
        const char *name;
        uint64_t value;
    } counters[] = {
        {"requests", self->n.requests},
        {"errors", self->n.errors},
        {"allow", self->n.decisions[POLICY_ALLOW]},
        {"defer", self->n.decisions[POLICY_DEFER]},
        {"escalate", self->n.decisions[POLICY_ESCALATE]},
        {"deny", self->n.decisions[POLICY_DENY]},
        {"cache_hits", self->n.cache_hits},
        {"cache_misses", self->n.cache_misses},
        {"cache_size", cache_size (self->cache)},
        {"cache_evictions", cache_evictions (self->cache)},
        {"reloads", self->n.reloads},
        {"reload_failures", self->n.reload_failures},
        {"rules", policy_rule_count (self->policy)},
        {"escalated", self->n.escalated},
        {"verdicts_used", self->n.verdicts_used},
        {"fallbacks", self->n.fallbacks},
    };
    size_t count = sizeof (counters) / sizeof (counters[0]);
    msgpack_pack_map (pk, count + self->extras);
    for (size_t i = 0; i < count; i++) {
        codec_pack_str (pk, counters[i].name);
        msgpack_pack_uint64 (pk, counters[i].value);
    }
    for (size_t i = 0; i < self->extras; i++) {
        codec_pack_str (pk, self->extra[i].name);
        msgpack_pack_uint64 (pk, *self->extra[i].value);
    }
}

//  Operations ({op: NAME}) besides validating, for nodes and admins
typedef void operation_fn (validator_t *self, const msgpack_object *id, const char *agent,
                           const char *role, codec_buf_t *reply);

static void
s_op_stats (validator_t *self, const msgpack_object *id, const char *agent, const char *role,
            codec_buf_t *reply)
{
    (void) agent, (void) role;
    s_pack_stats (self, &reply->pk, id);
}

static void
s_op_reload (validator_t *self, const msgpack_object *id, const char *agent, const char *role,
             codec_buf_t *reply)
{
    char err[512];
    if (s_reload (self, agent, role, err, sizeof (err)) == 0) {
        lh_info ("policy reloaded", "version=%s", policy_version (self->policy));
        codec_pack_ok_head (&reply->pk, id, 1);
        codec_pack_kv_str (&reply->pk, "policy", policy_version (self->policy));
    } else
        codec_pack_error (&reply->pk, id, LH_E_BAD_REQUEST, err);
}

typedef LH_DISPATCH_ENTRY (operation_fn *, void *) operation_t;

static const operation_t s_operations[] = {
    {"stats", s_op_stats, LH_ROLE_NODE | LH_ROLE_ADMIN, NULL, "counters (lh status)"},
    {"reload", s_op_reload, LH_ROLE_NODE | LH_ROLE_ADMIN, NULL, "load the policy file again"},
    {NULL, NULL, 0, NULL, NULL},
};

//  Answers an operation; returns false when body is not one.
static bool
s_operation (validator_t *self, const msgpack_object *body, const char *agent, const char *role,
             codec_buf_t *reply)
{
    const msgpack_object *op = codec_map_get (body, "op");
    if (!op)
        return false;
    const msgpack_object *id = codec_map_get (body, "id");
    const operation_t *entry =
        op->type == MSGPACK_OBJECT_STR
            ? (const operation_t *) lh_dispatch_find (s_operations, sizeof (*s_operations),
                                                      op->via.str.ptr, op->via.str.size)
            : NULL;
    if (!entry)
        codec_pack_error (&reply->pk, id, LH_E_UNSUPPORTED, "op is 'stats' or 'reload'");
    else if (!lh_dispatch_allows (entry->roles, role))
        codec_pack_error (&reply->pk, id, LH_E_FORBIDDEN, "operations are for admins");
    else
        entry->handler (self, id, agent, role, reply);
    return true;
}

//  The request key: everything the decision depends on. The L1 cache uses
//  its first CACHE_KEY_SIZE bytes, the shared verdict cache all of them.
static void
s_cache_key (validator_t *self, const char *tool, const msgpack_object *input, const char *cwd,
             const char *home, const char *project, const char *role, uint8_t *key)
{
    crypto_generichash_state state;
    crypto_generichash_init (&state, NULL, 0, VALIDATOR_KEY_SIZE);
    const char *parts[] = {policy_version (self->policy), tool, cwd, home, project, role};
    for (size_t i = 0; i < sizeof (parts) / sizeof (parts[0]); i++)
        //  With the terminating NUL, so ("ab","c") and ("a","bc") differ
        crypto_generichash_update (&state, (const uint8_t *) parts[i], strlen (parts[i]) + 1);
    codec_buf_t packed;
    codec_buf_init (&packed);
    msgpack_pack_object (&packed.pk, *input);
    crypto_generichash_update (&state, (const uint8_t *) packed.sbuf.data, packed.sbuf.size);
    codec_buf_destroy (&packed);
    crypto_generichash_final (&state, key, VALIDATOR_KEY_SIZE);
}

//  The str field of the input a notice quotes: the command, or the path.
static const msgpack_object *
s_subject (const msgpack_object *input)
{
    static const char *keys[] = {"command", "file_path", "notebook_path", "path", "url"};
    for (size_t i = 0; i < sizeof (keys) / sizeof (keys[0]); i++) {
        const msgpack_object *v = codec_map_get (input, keys[i]);
        if (v && v->type == MSGPACK_OBJECT_STR)
            return v;
    }
    return NULL;
}

//  Length of text[0..len) cut to at most max bytes on a UTF-8 character boundary.
static size_t
s_cut (const char *text, size_t len, size_t max)
{
    if (len <= max)
        return len;
    len = max;
    while (len > 0 && ((uint8_t) text[len] & 0xC0) == 0x80)
        len--;
    return len;
}

//  The subject, secrets redacted first (so a cut never leaves half a
//  secret), then cut to NOTICE_INPUT bytes: into out (NUL-terminated) for
//  an escalation, packed for notices and events.
static void
s_subject_text (validator_t *self, const msgpack_object *input, char out[NOTICE_INPUT + 1])
{
    const msgpack_object *v = s_subject (input);
    out[0] = 0;
    if (!v)
        return;
    msgpack_sbuffer buf;
    msgpack_sbuffer_init (&buf);
    redact_text (self->redact, v->via.str.ptr, v->via.str.size, &buf);
    size_t len = buf.data ? s_cut (buf.data, buf.size, NOTICE_INPUT) : 0;
    //  A NUL inside ends the text: experts see what comes before it
    memcpy (out, buf.data, len);
    out[len] = 0;
    msgpack_sbuffer_destroy (&buf);
}

static void
s_pack_subject (validator_t *self, msgpack_packer *pk, const msgpack_object *input)
{
    const msgpack_object *v = s_subject (input);
    if (!v) {
        codec_pack_str (pk, "");
        return;
    }
    msgpack_sbuffer buf;
    msgpack_sbuffer_init (&buf);
    redact_text (self->redact, v->via.str.ptr, v->via.str.size, &buf);
    codec_pack_strn (pk, buf.data ? buf.data : "", s_cut (buf.data, buf.size, NOTICE_INPUT));
    msgpack_sbuffer_destroy (&buf);
}

//  The redacted input, whole when it packs within EVENT_INPUT bytes; else
//  each top-level entry cut to its share, and the event says so.
static void
s_pack_input (validator_t *self, msgpack_packer *pk, const msgpack_object *input, size_t *fields)
{
    codec_buf_t red;
    codec_buf_init (&red);
    redact_pack (self->redact, input, &red.pk);
    codec_pack_kv_u64 (pk, "input_bytes", red.sbuf.size);
    (*fields)++;
    codec_pack_str (pk, "input");
    (*fields)++;
    if (red.sbuf.size <= EVENT_INPUT) {
        msgpack_sbuffer_write (pk->data, red.sbuf.data, red.sbuf.size);
        codec_buf_destroy (&red);
        return;
    }
    msgpack_unpacked u;
    msgpack_unpacked_init (&u);
    size_t off = 0;
    bool ok =
        msgpack_unpack_next (&u, red.sbuf.data, red.sbuf.size, &off) == MSGPACK_UNPACK_SUCCESS &&
        u.data.type == MSGPACK_OBJECT_MAP;
    uint32_t n = ok ? u.data.via.map.size : 0;
    //  Entries go in while they fit, so that many small entries (their keys
    //  count too) can never push the event over EVENT_MAX_DATA; the rest
    //  are counted in input_omitted.
    const size_t budget = EVENT_INPUT - 8;
    size_t share = n ? budget / n : 0;
    codec_buf_t entries;
    codec_buf_init (&entries);
    uint32_t kept = 0;
    for (; kept < n; kept++) {
        const msgpack_object *k = &u.data.via.map.ptr[kept].key;
        const msgpack_object *v = &u.data.via.map.ptr[kept].val;
        size_t before = entries.sbuf.size;
        msgpack_pack_object (&entries.pk, *k);
        if (v->type == MSGPACK_OBJECT_STR)
            codec_pack_strn (&entries.pk, v->via.str.ptr,
                             s_cut (v->via.str.ptr, v->via.str.size, share));
        else {
            codec_buf_t one;
            codec_buf_init (&one);
            msgpack_pack_object (&one.pk, *v);
            if (one.sbuf.size <= share)
                msgpack_sbuffer_write (&entries.sbuf, one.sbuf.data, one.sbuf.size);
            else {
                char note[64];
                snprintf (note, sizeof (note), "(omitted: %zu bytes)", one.sbuf.size);
                codec_pack_str (&entries.pk, note);
            }
            codec_buf_destroy (&one);
        }
        if (entries.sbuf.size > budget) {
            entries.sbuf.size = before;
            break;
        }
    }
    msgpack_pack_map (pk, kept);
    msgpack_sbuffer_write (pk->data, entries.sbuf.data, entries.sbuf.size);
    codec_buf_destroy (&entries);
    msgpack_unpacked_destroy (&u);
    if (kept < n) {
        codec_pack_kv_u64 (pk, "input_omitted", n - kept);
        (*fields)++;
    }
    uint8_t hash[crypto_hash_sha256_BYTES];
    char hex[sizeof (hash) * 2 + 1];
    crypto_hash_sha256 (hash, (const uint8_t *) red.sbuf.data, red.sbuf.size);
    sodium_bin2hex (hex, sizeof (hex), hash, sizeof (hash));
    codec_pack_str (pk, "input_truncated");
    msgpack_pack_true (pk);
    codec_pack_kv_str (pk, "input_sha256", hex);
    *fields += 2;
    codec_buf_destroy (&red);
}

//  Request context: pairs packed only when given
typedef struct {
    char session[MAX_CONTEXT + 1], tool_use_id[MAX_CONTEXT + 1], permission_mode[MAX_CONTEXT + 1];
} context_t;

static size_t
s_pack_context (msgpack_packer *pk, const context_t *ctx)
{
    const char *keys[] = {"session", "tool_use_id", "permission_mode"};
    const char *values[] = {ctx->session, ctx->tool_use_id, ctx->permission_mode};
    size_t packed = 0;
    for (size_t i = 0; i < 3; i++)
        if (values[i][0]) {
            codec_pack_kv_str (pk, keys[i], values[i]);
            packed++;
        }
    return packed;
}

static size_t
s_context_count (const context_t *ctx)
{
    return (ctx->session[0] != 0) + (ctx->tool_use_id[0] != 0) + (ctx->permission_mode[0] != 0);
}

//  Packs a map whose size is known only at the end: a map32 header, patched.
static size_t
s_map_open (msgpack_sbuffer *sbuf)
{
    static const char head[5] = {(char) 0xdf, 0, 0, 0, 0};
    msgpack_sbuffer_write (sbuf, head, 5);
    return sbuf->size - 5;
}

static void
s_map_close (msgpack_sbuffer *sbuf, size_t at, size_t fields)
{
    uint8_t *p = (uint8_t *) sbuf->data + at + 1;
    p[0] = (uint8_t) (fields >> 24);
    p[1] = (uint8_t) (fields >> 16);
    p[2] = (uint8_t) (fields >> 8);
    p[3] = (uint8_t) fields;
}

bool
validator_handle (validator_t *self, const msgpack_object *body, const char *agent,
                  const char *role, codec_buf_t *reply, codec_buf_t *notice, codec_buf_t *event)
{
    return validator_decide (self, body, agent, role, NULL, NULL, reply, notice, event) ==
           VALIDATOR_DECIDED;
}

//  What an escalation needs to travel: the caller fills key and wait_ms
static void
s_escalation_fill (validator_t *self, validator_escalation_t *esc, const char *agent,
                   const char *tool, const msgpack_object *input, const char *cwd, const char *home,
                   const char *project, const char *session, const policy_decision_t *decision)
{
    snprintf (esc->agent, sizeof (esc->agent), "%s", agent);
    snprintf (esc->session, sizeof (esc->session), "%s", session);
    snprintf (esc->tool, sizeof (esc->tool), "%s", tool);
    snprintf (esc->capability, sizeof (esc->capability), "%s", decision->capability);
    snprintf (esc->rule, sizeof (esc->rule), "%s", decision->rule);
    snprintf (esc->reason, sizeof (esc->reason), "%s", decision->reason);
    snprintf (esc->risk, sizeof (esc->risk), "%s", policy_risk_name (decision->risk));
    snprintf (esc->policy, sizeof (esc->policy), "%s", policy_version (self->policy));
    esc->quorum = decision->quorum ? decision->quorum : 1;
    s_subject_text (self, input, esc->subject);
    //  Experts see what the log sees: the input with its secrets redacted
    msgpack_sbuffer_clear (&esc->request.sbuf);
    msgpack_packer *pk = &esc->request.pk;
    msgpack_pack_map (pk, 5);
    codec_pack_kv_str (pk, "tool", tool);
    codec_pack_str (pk, "input");
    redact_pack (self->redact, input, pk);
    codec_pack_kv_str (pk, "cwd", cwd);
    codec_pack_kv_str (pk, "home", home);
    codec_pack_kv_str (pk, "project", project);
}

//  The end of an escalation, as the answer gives it
typedef struct {
    const char *by, *verdict_id, *escalation, *code;
    char reason[768];
} outcome_t;

//  Applies verdict (NULL: none) to an escalating decision: the verdict's
//  decision, or the fallback (deny when the caller waited, else escalate),
//  whose reason carries the approval code.
static void
s_outcome (validator_t *self, const validator_verdict_t *verdict, const uint8_t *key,
           policy_decision_t *decision, outcome_t *out)
{
    bool same = verdict && memcmp (verdict->key, key, VALIDATOR_KEY_SIZE) == 0;
    out->escalation = verdict ? verdict->escalation : "";
    out->code = verdict ? verdict->code : "";
    if (same && verdict->decision &&
        (streq (verdict->decision, "allow") || streq (verdict->decision, "deny"))) {
        self->n.verdicts_used++;
        decision->action = streq (verdict->decision, "allow") ? POLICY_ALLOW : POLICY_DENY;
        out->by = verdict->by;
        out->verdict_id = verdict->verdict_id;
        snprintf (out->reason, sizeof (out->reason), "%s: %s", verdict->by,
                  verdict->reason && *verdict->reason ? verdict->reason : "(no reason given)");
        return;
    }
    self->n.fallbacks++;
    bool waited = verdict && verdict->waited;
    const char *why = !verdict ? "no expert was asked"
                      : !same  ? "the policy changed while waiting for an expert"
                      : verdict->reason && *verdict->reason ? verdict->reason
                                                            : "no verdict";
    out->by = "policy";
    out->verdict_id = "";
    if (out->code[0])
        snprintf (out->reason, sizeof (out->reason),
                  "%s; approval code %s (lh approve %s), then retry. %s", why, out->code, out->code,
                  decision->reason);
    else
        snprintf (out->reason, sizeof (out->reason), "%s. %s", why, decision->reason);
    //  Fail closed: a caller that waited for an expert and got none is refused
    if (waited)
        decision->action = POLICY_DENY;
}

static void
s_pack_outcome (msgpack_packer *pk, const outcome_t *out, size_t *fields)
{
    const char *keys[] = {"escalation", "code", "verdict_id"};
    const char *values[] = {out->escalation, out->code, out->verdict_id};
    for (size_t i = 0; i < 3; i++)
        if (values[i] && values[i][0]) {
            codec_pack_kv_str (pk, keys[i], values[i]);
            (*fields)++;
        }
}

validator_result_t
validator_decide (validator_t *self, const msgpack_object *body, const char *agent,
                  const char *role, const validator_verdict_t *verdict,
                  validator_escalation_t *escalation, codec_buf_t *reply, codec_buf_t *notice,
                  codec_buf_t *event)
{
    int64_t started = zclock_usecs ();
    //  A request coming back with its verdict was counted when it came in
    if (!verdict)
        self->n.requests++;
    const msgpack_object *id = codec_map_get (body, "id");
    if (s_operation (self, body, agent, role, reply))
        return VALIDATOR_ANSWERED;

    char why[256];
    char tool[65], cwd[MAX_PATH], home[MAX_PATH], project[MAX_PATH];
    context_t ctx;
    const msgpack_object *input = NULL;
    lh_err_t rc = s_get_text (body, "tool", true, tool, sizeof (tool), why, sizeof (why));
    if (rc == LH_OK)
        rc = codec_get_map (body, "input", true, &input, why, sizeof (why));
    if (rc == LH_OK)
        rc = s_get_text (body, "cwd", true, cwd, sizeof (cwd), why, sizeof (why));
    if (rc == LH_OK && cwd[0] != '/') {
        rc = LH_E_BAD_REQUEST;
        snprintf (why, sizeof (why), "field 'cwd' must be an absolute path");
    }
    if (rc == LH_OK)
        rc = s_get_text (body, "home", false, home, sizeof (home), why, sizeof (why));
    if (rc == LH_OK)
        rc = s_get_text (body, "project", false, project, sizeof (project), why, sizeof (why));
    //  Both anchor path classes (~, the project): a relative one would move them
    if (rc == LH_OK && ((home[0] && home[0] != '/') || (project[0] && project[0] != '/'))) {
        rc = LH_E_BAD_REQUEST;
        snprintf (why, sizeof (why), "fields 'home' and 'project' must be absolute paths");
    }
    if (rc == LH_OK)
        rc = s_get_text (body, "session", false, ctx.session, sizeof (ctx.session), why,
                         sizeof (why));
    if (rc == LH_OK)
        rc = s_get_text (body, "tool_use_id", false, ctx.tool_use_id, sizeof (ctx.tool_use_id), why,
                         sizeof (why));
    if (rc == LH_OK)
        rc = s_get_text (body, "permission_mode", false, ctx.permission_mode,
                         sizeof (ctx.permission_mode), why, sizeof (why));
    //  How long the caller will wait for an expert's verdict (docs/EXPERT.md);
    //  checked now so that a client learns its mistake before experts exist
    int64_t wait_ms = 0;
    if (rc == LH_OK)
        rc = codec_get_int (body, "wait_ms", false, 0, VALIDATE_WAIT_MAX_MS, &wait_ms, why,
                            sizeof (why));
    if (rc != LH_OK) {
        self->n.errors++;
        codec_pack_error (&reply->pk, id, rc, why);
        return VALIDATOR_ANSWERED;
    }
    if (!home[0])
        snprintf (home, sizeof (home), "%s", self->home);
    if (!project[0])
        snprintf (project, sizeof (project), "%s", cwd);

    uint8_t key[VALIDATOR_KEY_SIZE];
    s_cache_key (self, tool, input, cwd, home, project, role, key);
    policy_decision_t decision;
    bool cached = cache_get (self->cache, key, &decision);
    //  Counted once per request, not again when its verdict comes back
    if (!verdict && cached)
        self->n.cache_hits++;
    else if (!verdict)
        self->n.cache_misses++;
    if (!cached) {
        policy_request_t request = {.tool = tool,
                                    .input = input,
                                    .cwd = cwd,
                                    .home = home,
                                    .project = project,
                                    .role = role};
        policy_eval (self->policy, &request, &decision);
        cache_put (self->cache, key, &decision);
    }
    bool escalate = decision.action == POLICY_ESCALATE;
    if (escalate && escalation && !verdict) {
        self->n.escalated++;
        memcpy (escalation->key, key, VALIDATOR_KEY_SIZE);
        escalation->wait_ms = wait_ms;
        s_escalation_fill (self, escalation, agent, tool, input, cwd, home, project, ctx.session,
                           &decision);
        return VALIDATOR_ESCALATED;
    }
    outcome_t out = {.by = "policy", .verdict_id = "", .escalation = "", .code = ""};
    snprintf (out.reason, sizeof (out.reason), "%s", decision.reason);
    if (escalate && verdict)
        s_outcome (self, verdict, key, &decision, &out);
    escalate = decision.action == POLICY_ESCALATE;
    self->n.decisions[decision.action]++;

    msgpack_packer *pk = &reply->pk;
    size_t at = s_map_open (&reply->sbuf);
    size_t fields = 9;
    codec_pack_id (pk, id);
    codec_pack_kv_bool (pk, "ok", true);
    codec_pack_kv_str (pk, "decision", policy_action_name (decision.action));
    //  Who decided: the policy, the shared verdict cache or an expert
    codec_pack_kv_str (pk, "by", out.by);
    codec_pack_kv_str (pk, "rule", decision.rule);
    codec_pack_kv_str (pk, "reason", out.reason);
    codec_pack_kv_str (pk, "risk", policy_risk_name (decision.risk));
    if (escalate) {
        codec_pack_kv_str (pk, "capability", decision.capability);
        codec_pack_kv_u64 (pk, "quorum", decision.quorum);
        fields += 2;
    }
    s_pack_outcome (pk, &out, &fields);
    codec_pack_kv_bool (pk, "cached", cached);
    codec_pack_kv_str (pk, "policy", policy_version (self->policy));
    s_map_close (&reply->sbuf, at, fields);

    int64_t now = zclock_time ();
    pk = &notice->pk;
    msgpack_pack_map (pk, 12 + s_context_count (&ctx));
    s_pack_who (pk, now, agent, role, tool, &decision);
    //  What deciding took here (the console's latency; not the network's)
    codec_pack_kv_u64 (pk, "latency_us", (uint64_t) (zclock_usecs () - started));
    codec_pack_kv_str (pk, "by", out.by);
    codec_pack_kv_str (pk, "risk", policy_risk_name (decision.risk));
    codec_pack_kv_str (pk, "cwd", cwd);
    codec_pack_str (pk, "subject");
    s_pack_subject (self, pk, input);
    codec_pack_kv_str (pk, "policy", policy_version (self->policy));
    s_pack_context (pk, &ctx);
    if (!event)
        return VALIDATOR_DECIDED;

    pk = &event->pk;
    at = s_map_open (&event->sbuf);
    fields = 16;
    s_pack_who (pk, now, agent, role, tool, &decision);
    codec_pack_kv_str (pk, "by", out.by);
    s_pack_outcome (pk, &out, &fields);
    codec_pack_kv_str (pk, "reason", out.reason);
    codec_pack_kv_str (pk, "risk", policy_risk_name (decision.risk));
    codec_pack_kv_str (pk, "policy", policy_version (self->policy));
    codec_pack_kv_str (pk, "policy_sha256", self->sha256);
    codec_pack_kv_bool (pk, "cached", cached);
    codec_pack_kv_str (pk, "cwd", cwd);
    codec_pack_kv_str (pk, "home", home);
    codec_pack_kv_str (pk, "project", project);
    codec_pack_str (pk, "subject");
    s_pack_subject (self, pk, input);
    if (escalate) {
        codec_pack_kv_str (pk, "capability", decision.capability);
        codec_pack_kv_u64 (pk, "quorum", decision.quorum);
        fields += 2;
    }
    fields += s_pack_context (pk, &ctx);
    s_pack_input (self, pk, input, &fields);
    s_map_close (&event->sbuf, at, fields);
    return VALIDATOR_DECIDED;
}
