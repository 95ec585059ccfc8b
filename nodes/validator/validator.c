/*  validator -- the "validate" service. See validator.h. */
#include "validator.h"

#include "cache.h"
#include "lh_log.h"
#include "policy.h"

#include <czmq.h>
#include <sodium.h>

#define MAX_PATH     4096
#define NOTICE_INPUT 256 //  bytes of the command or path quoted in a notice

typedef struct {
    uint64_t requests;
    uint64_t errors;
    uint64_t decisions[POLICY_ACTIONS]; //  by policy_action_t
    uint64_t cache_hits;
    uint64_t cache_misses;
    uint64_t reloads;
    uint64_t reload_failures;
} counters_t;

struct _validator_t {
    char *policy_path;
    char *home;
    policy_t *policy;
    cache_t *cache;
    counters_t n;
    struct {
        const char *name;
        const uint64_t *value;
    } extra[VALIDATOR_EXTRA];
    size_t extras;
};

validator_t *
validator_new (const char *policy_path, size_t cache_size, const char *home, char *err,
               size_t err_size)
{
    if (sodium_init () < 0) {
        snprintf (err, err_size, "libsodium failed to initialise");
        return NULL;
    }
    policy_t *policy = policy_load (policy_path, err, err_size);
    if (!policy)
        return NULL;
    validator_t *self = (validator_t *) zmalloc (sizeof (validator_t));
    self->policy_path = strdup (policy_path);
    self->home = strdup (home ? home : "/root");
    self->policy = policy;
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
        free (self);
        *self_p = NULL;
    }
}

const char *
validator_policy_version (validator_t *self)
{
    return policy_version (self->policy);
}

int
validator_reload (validator_t *self, char *err, size_t err_size)
{
    policy_t *policy = policy_load (self->policy_path, err, err_size);
    if (!policy) {
        self->n.reload_failures++;
        return -1;
    }
    policy_destroy (&self->policy);
    self->policy = policy;
    cache_clear (self->cache);
    self->n.reloads++;
    return 0;
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
s_pack_kv (msgpack_packer *pk, const char *key, const char *value)
{
    codec_pack_str (pk, key);
    codec_pack_str (pk, value);
}

static void
s_pack_stats (validator_t *self, msgpack_packer *pk, const msgpack_object *id)
{
    codec_pack_ok_head (pk, id, 2);
    s_pack_kv (pk, "policy", policy_version (self->policy));
    codec_pack_str (pk, "counters");
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

//  Admin operations; returns false when body is not one.
static bool
s_operation (validator_t *self, const msgpack_object *body, const char *role, codec_buf_t *reply)
{
    const msgpack_object *op = codec_map_get (body, "op");
    if (!op)
        return false;
    const msgpack_object *id = codec_map_get (body, "id");
    if (!streq (role, "admin") && !streq (role, "node"))
        codec_pack_error (&reply->pk, id, LH_E_FORBIDDEN, "operations are for admins");
    else if (codec_str_eq (op, "stats"))
        s_pack_stats (self, &reply->pk, id);
    else if (codec_str_eq (op, "reload")) {
        char err[512];
        if (validator_reload (self, err, sizeof (err)) == 0) {
            lh_info ("policy reloaded", "version=%s", policy_version (self->policy));
            codec_pack_ok_head (&reply->pk, id, 1);
            s_pack_kv (&reply->pk, "policy", policy_version (self->policy));
        } else
            codec_pack_error (&reply->pk, id, LH_E_BAD_REQUEST, err);
    } else
        codec_pack_error (&reply->pk, id, LH_E_UNSUPPORTED, "op is 'stats' or 'reload'");
    return true;
}

//  The cache key: everything the decision depends on.
static void
s_cache_key (validator_t *self, const char *tool, const msgpack_object *input, const char *cwd,
             const char *home, const char *project, const char *role, uint8_t *key)
{
    crypto_generichash_state state;
    crypto_generichash_init (&state, NULL, 0, CACHE_KEY_SIZE);
    const char *parts[] = {policy_version (self->policy), tool, cwd, home, project, role};
    for (size_t i = 0; i < sizeof (parts) / sizeof (parts[0]); i++)
        //  With the terminating NUL, so ("ab","c") and ("a","bc") differ
        crypto_generichash_update (&state, (const uint8_t *) parts[i], strlen (parts[i]) + 1);
    codec_buf_t packed;
    codec_buf_init (&packed);
    msgpack_pack_object (&packed.pk, *input);
    crypto_generichash_update (&state, (const uint8_t *) packed.sbuf.data, packed.sbuf.size);
    codec_buf_destroy (&packed);
    crypto_generichash_final (&state, key, CACHE_KEY_SIZE);
}

//  What a notice quotes of the input: the command, or the path.
static void
s_pack_subject (msgpack_packer *pk, const msgpack_object *input)
{
    static const char *keys[] = {"command", "file_path", "notebook_path", "path", "url"};
    for (size_t i = 0; i < sizeof (keys) / sizeof (keys[0]); i++) {
        const msgpack_object *v = codec_map_get (input, keys[i]);
        if (v && v->type == MSGPACK_OBJECT_STR) {
            size_t len = v->via.str.size;
            //  Cut on a UTF-8 character boundary
            if (len > NOTICE_INPUT) {
                len = NOTICE_INPUT;
                while (len > 0 && ((uint8_t) v->via.str.ptr[len] & 0xC0) == 0x80)
                    len--;
            }
            codec_pack_strn (pk, v->via.str.ptr, len);
            return;
        }
    }
    codec_pack_str (pk, "");
}

bool
validator_handle (validator_t *self, const msgpack_object *body, const char *agent,
                  const char *role, codec_buf_t *reply, codec_buf_t *notice)
{
    self->n.requests++;
    const msgpack_object *id = codec_map_get (body, "id");
    if (s_operation (self, body, role, reply))
        return false;

    char why[256];
    char tool[65], cwd[MAX_PATH], home[MAX_PATH], project[MAX_PATH];
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
    if (rc != LH_OK) {
        self->n.errors++;
        codec_pack_error (&reply->pk, id, rc, why);
        return false;
    }
    if (!home[0])
        snprintf (home, sizeof (home), "%s", self->home);
    if (!project[0])
        snprintf (project, sizeof (project), "%s", cwd);

    uint8_t key[CACHE_KEY_SIZE];
    s_cache_key (self, tool, input, cwd, home, project, role, key);
    policy_decision_t decision;
    bool cached = cache_get (self->cache, key, &decision);
    if (cached)
        self->n.cache_hits++;
    else {
        self->n.cache_misses++;
        policy_request_t request = {.tool = tool,
                                    .input = input,
                                    .cwd = cwd,
                                    .home = home,
                                    .project = project,
                                    .role = role};
        policy_eval (self->policy, &request, &decision);
        cache_put (self->cache, key, &decision);
    }
    self->n.decisions[decision.action]++;

    bool escalate = decision.action == POLICY_ESCALATE;
    msgpack_packer *pk = &reply->pk;
    codec_pack_ok_head (pk, id, 6 + escalate);
    s_pack_kv (pk, "decision", policy_action_name (decision.action));
    s_pack_kv (pk, "rule", decision.rule);
    s_pack_kv (pk, "reason", decision.reason);
    s_pack_kv (pk, "risk", policy_risk_name (decision.risk));
    if (escalate)
        s_pack_kv (pk, "capability", decision.capability);
    codec_pack_str (pk, "cached");
    if (cached)
        msgpack_pack_true (pk);
    else
        msgpack_pack_false (pk);
    s_pack_kv (pk, "policy", policy_version (self->policy));

    pk = &notice->pk;
    msgpack_pack_map (pk, 10);
    codec_pack_str (pk, "time_ms");
    msgpack_pack_int64 (pk, zclock_time ());
    s_pack_kv (pk, "agent", agent);
    s_pack_kv (pk, "role", role);
    s_pack_kv (pk, "tool", tool);
    s_pack_kv (pk, "decision", policy_action_name (decision.action));
    s_pack_kv (pk, "rule", decision.rule);
    s_pack_kv (pk, "risk", policy_risk_name (decision.risk));
    s_pack_kv (pk, "cwd", cwd);
    codec_pack_str (pk, "subject");
    s_pack_subject (pk, input);
    s_pack_kv (pk, "policy", policy_version (self->policy));
    return true;
}
