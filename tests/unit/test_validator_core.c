/*  test_validator_core -- unit tests for nodes/validator/validator.c
    (cmocka), driven through its public API with msgpack request bodies the
    way lh-validator's loop calls it (docs/PROTOCOL.md section 4.4).

    Every test works on a copy of nodes/validator/default.policy in a fresh
    directory under $TMPDIR (default /tmp), so reload tests can rewrite or
    break the file; the directory is removed afterwards. Counters are read
    with op "stats" as a real admin would: each such call is one request.
*/
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <sodium.h>

#include "codec.h"
#include "event.h"
#include "policy.h"
#include "redact.h"
#include "validator.h"

#ifndef LH_POLICY_FILE
#error "LH_POLICY_FILE must name nodes/validator/default.policy"
#endif

#define CACHE_SIZE 64
#define HOME       "/home/dev"
#define CWD        "/home/dev/proj"
#define SECRET     "ghp_abcdefghijklmnopqrstuvwxyz0123456789"

typedef struct {
    char dir[256];
    char policy[300];
    char version[64]; //  of the default policy
    redact_t *redact;
    validator_t *v;
    int loads;        //  on_load calls
    char load_by[64]; //  the last one's by and role
    char load_role[64];
} fixture_t;

//  One answer: the reply decoded strictly (as a client would), the notice
//  and event as validator_handle wrote them
typedef struct {
    bool decided;
    codec_doc_t *reply;
    const msgpack_object *root;
    codec_buf_t notice;
    codec_buf_t event;
} answer_t;

//  Counters of op "stats"
typedef struct {
    uint64_t requests, errors, allow, defer, escalate, deny, cache_hits, cache_misses, cache_size,
        reloads, reload_failures, rules;
} stats_t;

//  --------------------------------------------------------------------------
//  Files

static char *
s_read_file (const char *path, size_t *size)
{
    FILE *file = fopen (path, "rb");
    assert_non_null (file);
    assert_int_equal (fseek (file, 0, SEEK_END), 0);
    long len = ftell (file);
    assert_true (len > 0);
    rewind (file);
    char *text = (char *) malloc ((size_t) len + 1);
    assert_non_null (text);
    assert_int_equal (fread (text, 1, (size_t) len, file), (size_t) len);
    fclose (file);
    text[len] = 0;
    *size = (size_t) len;
    return text;
}

static void
s_write_file (const char *path, const void *data, size_t size)
{
    FILE *file = fopen (path, "wb");
    assert_non_null (file);
    assert_int_equal (fwrite (data, 1, size, file), size);
    assert_int_equal (fclose (file), 0);
}

//  Writes the default policy to the fixture's file with its version
//  replaced by version (NULL: unchanged)
static void
s_write_policy (fixture_t *fx, const char *version)
{
    size_t size;
    char *text = s_read_file (LH_POLICY_FILE, &size);
    if (version) {
        char *at = strstr (text, fx->version);
        assert_non_null (at);
        size_t old = strlen (fx->version), len = strlen (version);
        char *copy = (char *) malloc (size - old + len + 1);
        assert_non_null (copy);
        memcpy (copy, text, (size_t) (at - text));
        memcpy (copy + (at - text), version, len);
        memcpy (copy + (at - text) + len, at + old, size - (size_t) (at - text) - old + 1);
        free (text);
        text = copy;
        size = size - old + len;
    }
    s_write_file (fx->policy, text, size);
    free (text);
}

//  The version line of the default policy: version = "..."
static void
s_default_version (char *version, size_t size)
{
    size_t len;
    char *text = s_read_file (LH_POLICY_FILE, &len);
    const char *at = strstr (text, "version = \"");
    assert_non_null (at);
    at += strlen ("version = \"");
    const char *end = strchr (at, '"');
    assert_non_null (end);
    snprintf (version, size, "%.*s", (int) (end - at), at);
    free (text);
}

static void
s_on_load (void *arg, validator_t *validator, const char *by, const char *role)
{
    fixture_t *fx = (fixture_t *) arg;
    assert_ptr_equal (validator, fx->v);
    fx->loads++;
    snprintf (fx->load_by, sizeof (fx->load_by), "%s", by);
    snprintf (fx->load_role, sizeof (fx->load_role), "%s", role);
}

static int
s_setup (void **state)
{
    fixture_t *fx = (fixture_t *) calloc (1, sizeof (fixture_t));
    if (!fx)
        return -1;
    const char *tmp = getenv ("TMPDIR");
    snprintf (fx->dir, sizeof (fx->dir), "%s/lh-test-validator-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (!mkdtemp (fx->dir))
        return -1;
    snprintf (fx->policy, sizeof (fx->policy), "%s/test.policy", fx->dir);
    s_default_version (fx->version, sizeof (fx->version));
    s_write_policy (fx, NULL);
    uint8_t key[REDACT_KEY_SIZE];
    for (int i = 0; i < REDACT_KEY_SIZE; i++)
        key[i] = (uint8_t) (i * 7);
    fx->redact = redact_new (key);
    char err[512] = "";
    fx->v = validator_new (fx->policy, CACHE_SIZE, HOME, NULL, fx->redact, err, sizeof (err));
    if (!fx->v) {
        fprintf (stderr, "validator_new: %s\n", err);
        return -1;
    }
    validator_set_on_load (fx->v, s_on_load, fx);
    *state = fx;
    return 0;
}

static int
s_teardown (void **state)
{
    fixture_t *fx = (fixture_t *) *state;
    validator_destroy (&fx->v);
    redact_destroy (&fx->redact);
    unlink (fx->policy);
    rmdir (fx->dir);
    free (fx);
    return 0;
}

//  --------------------------------------------------------------------------
//  Requests

//  A validate request; NULL fields are left out
typedef struct {
    const char *tool;
    const char *command; //  input {command}
    const char *cwd;
    const char *home;
    const char *project;
    const char *session;
    const char *tool_use_id;
    const char *permission_mode;
} request_t;

static void
s_kv (msgpack_packer *pk, const char *key, const char *value)
{
    codec_pack_str (pk, key);
    codec_pack_str (pk, value);
}

static void
s_pack_request (codec_buf_t *b, uint64_t id, const request_t *r)
{
    const char *keys[] = {"tool",    "cwd",         "home",           "project",
                          "session", "tool_use_id", "permission_mode"};
    const char *values[] = {r->tool,    r->cwd,         r->home,           r->project,
                            r->session, r->tool_use_id, r->permission_mode};
    size_t n = 1 + (r->command != NULL);
    for (size_t i = 0; i < 7; i++)
        n += values[i] != NULL;
    msgpack_pack_map (&b->pk, n);
    codec_pack_str (&b->pk, "id");
    msgpack_pack_uint64 (&b->pk, id);
    if (r->command) {
        codec_pack_str (&b->pk, "input");
        msgpack_pack_map (&b->pk, 1);
        s_kv (&b->pk, "command", r->command);
    }
    for (size_t i = 0; i < 7; i++)
        if (values[i])
            s_kv (&b->pk, keys[i], values[i]);
}

//  Hands body (packed) to the validator as role; the reply must decode
static answer_t
s_handle_raw (fixture_t *fx, const void *body, size_t size, const char *agent, const char *role)
{
    lh_err_t err;
    const char *why = NULL;
    //  Strictly when it can be (as the worker SDK hands bodies over), else
    //  as plain msgpack: validator_handle must cope with any object
    codec_doc_t *doc = codec_doc_decode (body, size, &err, &why);
    msgpack_unpacked loose;
    msgpack_unpacked_init (&loose);
    size_t off = 0;
    if (!doc)
        assert_int_equal (msgpack_unpack_next (&loose, (const char *) body, size, &off),
                          MSGPACK_UNPACK_SUCCESS);
    const msgpack_object *root = doc ? codec_doc_root (doc) : &loose.data;
    answer_t a;
    memset (&a, 0, sizeof (a));
    codec_buf_t reply;
    codec_buf_init (&reply);
    codec_buf_init (&a.notice);
    codec_buf_init (&a.event);
    a.decided = validator_handle (fx->v, root, agent, role, &reply, &a.notice, &a.event);
    codec_doc_destroy (&doc);
    msgpack_unpacked_destroy (&loose);
    a.reply = codec_doc_decode (reply.sbuf.data, reply.sbuf.size, &err, &why);
    if (!a.reply)
        fail_msg ("the reply does not decode: %s", why);
    a.root = codec_doc_root (a.reply);
    codec_buf_destroy (&reply);
    return a;
}

static answer_t
s_handle (fixture_t *fx, const codec_buf_t *body, const char *role)
{
    return s_handle_raw (fx, body->sbuf.data, body->sbuf.size, "agent-1", role);
}

static answer_t
s_validate (fixture_t *fx, const request_t *r, const char *role)
{
    codec_buf_t body;
    codec_buf_init (&body);
    s_pack_request (&body, 42, r);
    answer_t a = s_handle (fx, &body, role);
    codec_buf_destroy (&body);
    return a;
}

static void
s_answer_destroy (answer_t *a)
{
    codec_doc_destroy (&a->reply);
    codec_buf_destroy (&a->notice);
    codec_buf_destroy (&a->event);
}

//  The str under key in map, NUL-terminated in a static buffer ("" when
//  absent: a test then fails on its value)
static const char *
s_str (const msgpack_object *map, const char *key)
{
    static char buf[8][1024];
    static int next;
    char *out = buf[next++ % 8];
    const msgpack_object *v = codec_map_get (map, key);
    if (!v || !codec_str_copy (v, out, sizeof (buf[0])))
        out[0] = 0;
    return out;
}

static bool
s_bool (const msgpack_object *map, const char *key)
{
    const msgpack_object *v = codec_map_get (map, key);
    assert_non_null (v);
    assert_int_equal (v->type, MSGPACK_OBJECT_BOOLEAN);
    return v->via.boolean;
}

//  The reply is ok with a decision (and all the keys section 4.4 lists)
static void
s_assert_decision (const answer_t *a)
{
    assert_true (a->decided);
    assert_true (s_bool (a->root, "ok"));
    const msgpack_object *id = codec_map_get (a->root, "id");
    assert_non_null (id);
    assert_int_equal (id->via.u64, 42);
    const char *decision = s_str (a->root, "decision");
    assert_true (strcmp (decision, "allow") == 0 || strcmp (decision, "defer") == 0 ||
                 strcmp (decision, "escalate") == 0 || strcmp (decision, "deny") == 0);
    assert_true (s_str (a->root, "rule")[0] != 0);
    assert_true (s_str (a->root, "reason")[0] != 0);
    assert_true (s_str (a->root, "risk")[0] != 0);
    assert_non_null (codec_map_get (a->root, "cached"));
    assert_true (s_str (a->root, "policy")[0] != 0);
    assert_int_equal (codec_map_get (a->root, "capability") != NULL,
                      strcmp (decision, "escalate") == 0);
    //  Who decided; an escalation says how many experts must allow
    assert_string_equal (s_str (a->root, "by"), "policy");
    const msgpack_object *quorum = codec_map_get (a->root, "quorum");
    assert_int_equal (quorum != NULL, strcmp (decision, "escalate") == 0);
    if (quorum)
        assert_true (quorum->type == MSGPACK_OBJECT_POSITIVE_INTEGER && quorum->via.u64 >= 1 &&
                     quorum->via.u64 <= POLICY_QUORUM_MAX);
}

//  An error reply with code, no decision, nothing in notice or event
static void
s_assert_error (const answer_t *a, const char *code)
{
    assert_false (a->decided);
    assert_false (s_bool (a->root, "ok"));
    const msgpack_object *error = codec_map_get (a->root, "error");
    assert_non_null (error);
    assert_string_equal (s_str (error, "code"), code);
    assert_true (strlen (s_str (error, "message")) > 5);
    assert_null (codec_map_get (a->root, "decision"));
    assert_int_equal (a->notice.sbuf.size, 0);
    assert_int_equal (a->event.sbuf.size, 0);
}

static uint64_t
s_u64 (const msgpack_object *map, const char *key)
{
    const msgpack_object *v = codec_map_get (map, key);
    if (!v)
        fail_msg ("stats have no counter %s", key);
    assert_int_equal (v->type, MSGPACK_OBJECT_POSITIVE_INTEGER);
    return v->via.u64;
}

//  Counters through op "stats" as an admin (one request itself)
static stats_t
s_stats (fixture_t *fx)
{
    codec_buf_t body;
    codec_buf_init (&body);
    msgpack_pack_map (&body.pk, 2);
    codec_pack_str (&body.pk, "id");
    msgpack_pack_uint64 (&body.pk, 7);
    s_kv (&body.pk, "op", "stats");
    answer_t a = s_handle (fx, &body, "admin");
    codec_buf_destroy (&body);
    assert_false (a.decided);
    assert_true (s_bool (a.root, "ok"));
    assert_string_equal (s_str (a.root, "policy"), validator_policy_version (fx->v));
    const msgpack_object *c = codec_map_get (a.root, "counters");
    assert_non_null (c);
    assert_int_equal (c->type, MSGPACK_OBJECT_MAP);
    stats_t s = {
        .requests = s_u64 (c, "requests"),
        .errors = s_u64 (c, "errors"),
        .allow = s_u64 (c, "allow"),
        .defer = s_u64 (c, "defer"),
        .escalate = s_u64 (c, "escalate"),
        .deny = s_u64 (c, "deny"),
        .cache_hits = s_u64 (c, "cache_hits"),
        .cache_misses = s_u64 (c, "cache_misses"),
        .cache_size = s_u64 (c, "cache_size"),
        .reloads = s_u64 (c, "reloads"),
        .reload_failures = s_u64 (c, "reload_failures"),
        .rules = s_u64 (c, "rules"),
    };
    s_answer_destroy (&a);
    return s;
}

static uint64_t
s_decisions (const stats_t *s)
{
    return s->allow + s->defer + s->escalate + s->deny;
}

//  An {id, op} request (op a str, or an int when NULL) as role
static answer_t
s_op (fixture_t *fx, const char *op, const char *role)
{
    codec_buf_t body;
    codec_buf_init (&body);
    msgpack_pack_map (&body.pk, 2);
    codec_pack_str (&body.pk, "id");
    msgpack_pack_uint64 (&body.pk, 9);
    codec_pack_str (&body.pk, "op");
    if (op)
        codec_pack_str (&body.pk, op);
    else
        msgpack_pack_int (&body.pk, 1);
    answer_t a = s_handle (fx, &body, role);
    codec_buf_destroy (&body);
    return a;
}

static const request_t s_ls = {.tool = "Bash", .command = "ls -la", .cwd = CWD};

//  --------------------------------------------------------------------------
//  Tests

static void
test_new_errors (void **state)
{
    fixture_t *fx = (fixture_t *) *state;
    char err[512] = "";
    char path[400];
    snprintf (path, sizeof (path), "%s/missing.policy", fx->dir);
    assert_null (validator_new (path, 8, NULL, NULL, fx->redact, err, sizeof (err)));
    assert_non_null (strstr (err, "missing.policy"));

    snprintf (path, sizeof (path), "%s/nul.policy", fx->dir);
    s_write_file (path, "policy\n\0version = \"x\"\n", 22);
    err[0] = 0;
    assert_null (validator_new (path, 8, NULL, NULL, fx->redact, err, sizeof (err)));
    assert_non_null (strstr (err, "NUL"));
    unlink (path);

    snprintf (path, sizeof (path), "%s/broken.policy", fx->dir);
    s_write_file (path, "rule\n    oops\n        match = \"(\"\n", 35);
    err[0] = 0;
    assert_null (validator_new (path, 8, NULL, NULL, fx->redact, err, sizeof (err)));
    assert_true (strlen (err) > 0);
    unlink (path);
}

//  The SHA-256 reported is that of the file's bytes; on_load ran at once
static void
test_policy_identity (void **state)
{
    fixture_t *fx = (fixture_t *) *state;
    assert_string_equal (validator_policy_version (fx->v), fx->version);
    size_t size;
    char *text = s_read_file (fx->policy, &size);
    uint8_t hash[crypto_hash_sha256_BYTES];
    crypto_hash_sha256 (hash, (const uint8_t *) text, size);
    char hex[sizeof (hash) * 2 + 1];
    sodium_bin2hex (hex, sizeof (hex), hash, sizeof (hash));
    free (text);
    assert_string_equal (validator_policy_sha256 (fx->v), hex);
    assert_int_equal (fx->loads, 1);
    assert_string_equal (fx->load_by, "start");
    assert_string_equal (fx->load_role, "");

    codec_buf_t loaded;
    codec_buf_init (&loaded);
    validator_pack_loaded (fx->v, "alice", "admin", &loaded.pk);
    lh_err_t err;
    const char *why;
    codec_doc_t *doc = codec_doc_decode (loaded.sbuf.data, loaded.sbuf.size, &err, &why);
    assert_non_null (doc);
    const msgpack_object *m = codec_doc_root (doc);
    assert_string_equal (s_str (m, "kind"), "policy.loaded");
    assert_string_equal (s_str (m, "path"), fx->policy);
    assert_string_equal (s_str (m, "sha256"), hex);
    assert_string_equal (s_str (m, "version"), fx->version);
    assert_string_equal (s_str (m, "by"), "alice");
    assert_string_equal (s_str (m, "role"), "admin");
    assert_true (s_u64 (m, "rules") > 10);
    codec_doc_destroy (&doc);
    codec_buf_destroy (&loaded);
}

//  Malformed bodies: a clear error, no decision, and nothing changes but
//  the requests and errors counters
static void
test_malformed_bodies (void **state)
{
    fixture_t *fx = (fixture_t *) *state;
    char long_tool[66], long_cwd[5001], long_ctx[258], ctx_256[257];
    memset (long_tool, 'T', 65);
    long_tool[65] = 0;
    long_cwd[0] = '/';
    memset (long_cwd + 1, 'd', 4999);
    long_cwd[5000] = 0;
    memset (long_ctx, 's', 257);
    long_ctx[257] = 0;
    memset (ctx_256, 's', 256);
    ctx_256[256] = 0;

    struct {
        const char *name;
        request_t r;
        const char *code;
    } cases[] = {
        {"no tool", {.command = "ls", .cwd = CWD}, "bad_request"},
        {"no input", {.tool = "Bash", .cwd = CWD}, "bad_request"},
        {"no cwd", {.tool = "Bash", .command = "ls"}, "bad_request"},
        {"relative cwd", {.tool = "Bash", .command = "ls", .cwd = "home/dev"}, "bad_request"},
        {"empty cwd", {.tool = "Bash", .command = "ls", .cwd = ""}, "bad_request"},
        {"relative home",
         {.tool = "Bash", .command = "cat ~/.ssh/id_rsa", .cwd = CWD, .home = "tmp"},
         "bad_request"},
        {"relative project",
         {.tool = "Bash", .command = "ls", .cwd = CWD, .project = "../x"},
         "bad_request"},
        {"tool over 64 bytes", {.tool = long_tool, .command = "ls", .cwd = CWD}, "too_large"},
        {"cwd over 4095 bytes", {.tool = "Bash", .command = "ls", .cwd = long_cwd}, "too_large"},
        {"home over 4095 bytes",
         {.tool = "Bash", .command = "ls", .cwd = CWD, .home = long_cwd},
         "too_large"},
        {"project over 4095 bytes",
         {.tool = "Bash", .command = "ls", .cwd = CWD, .project = long_cwd},
         "too_large"},
        {"session over 256 bytes",
         {.tool = "Bash", .command = "ls", .cwd = CWD, .session = long_ctx},
         "too_large"},
        {"tool_use_id over 256 bytes",
         {.tool = "Bash", .command = "ls", .cwd = CWD, .tool_use_id = long_ctx},
         "too_large"},
        {"permission_mode over 256 bytes",
         {.tool = "Bash", .command = "ls", .cwd = CWD, .permission_mode = long_ctx},
         "too_large"},
    };
    size_t ncases = sizeof (cases) / sizeof (cases[0]);

    //  Hand-built ones: wrong types, NUL bytes, not a map
    codec_buf_t typed[8];
    const char *typed_names[8];
    const char *typed_codes[8];
    size_t ntyped = 0;
    for (int k = 0; k < 8; k++)
        codec_buf_init (&typed[k]);
    //  tool an int
    msgpack_packer *pk = &typed[ntyped].pk;
    msgpack_pack_map (pk, 4);
    codec_pack_str (pk, "id");
    msgpack_pack_uint64 (pk, 42);
    codec_pack_str (pk, "tool");
    msgpack_pack_int (pk, 5);
    codec_pack_str (pk, "input");
    msgpack_pack_map (pk, 0);
    s_kv (pk, "cwd", CWD);
    typed_names[ntyped] = "tool an int";
    typed_codes[ntyped++] = "bad_request";
    //  input a str
    pk = &typed[ntyped].pk;
    msgpack_pack_map (pk, 4);
    codec_pack_str (pk, "id");
    msgpack_pack_uint64 (pk, 42);
    s_kv (pk, "tool", "Bash");
    s_kv (pk, "input", "ls -la");
    s_kv (pk, "cwd", CWD);
    typed_names[ntyped] = "input a str";
    typed_codes[ntyped++] = "bad_request";
    //  input an array
    pk = &typed[ntyped].pk;
    msgpack_pack_map (pk, 4);
    codec_pack_str (pk, "id");
    msgpack_pack_uint64 (pk, 42);
    s_kv (pk, "tool", "Bash");
    codec_pack_str (pk, "input");
    msgpack_pack_array (pk, 1);
    codec_pack_str (pk, "ls");
    s_kv (pk, "cwd", CWD);
    typed_names[ntyped] = "input an array";
    typed_codes[ntyped++] = "bad_request";
    //  cwd an array
    pk = &typed[ntyped].pk;
    msgpack_pack_map (pk, 4);
    codec_pack_str (pk, "id");
    msgpack_pack_uint64 (pk, 42);
    s_kv (pk, "tool", "Bash");
    codec_pack_str (pk, "input");
    msgpack_pack_map (pk, 0);
    codec_pack_str (pk, "cwd");
    msgpack_pack_array (pk, 0);
    typed_names[ntyped] = "cwd an array";
    typed_codes[ntyped++] = "bad_request";
    //  home nil
    pk = &typed[ntyped].pk;
    msgpack_pack_map (pk, 5);
    codec_pack_str (pk, "id");
    msgpack_pack_uint64 (pk, 42);
    s_kv (pk, "tool", "Bash");
    codec_pack_str (pk, "input");
    msgpack_pack_map (pk, 0);
    s_kv (pk, "cwd", CWD);
    codec_pack_str (pk, "home");
    msgpack_pack_nil (pk);
    typed_names[ntyped] = "home nil";
    typed_codes[ntyped++] = "bad_request";
    //  session an int
    pk = &typed[ntyped].pk;
    msgpack_pack_map (pk, 5);
    codec_pack_str (pk, "id");
    msgpack_pack_uint64 (pk, 42);
    s_kv (pk, "tool", "Bash");
    codec_pack_str (pk, "input");
    msgpack_pack_map (pk, 0);
    s_kv (pk, "cwd", CWD);
    codec_pack_str (pk, "session");
    msgpack_pack_int (pk, 3);
    typed_names[ntyped] = "session an int";
    typed_codes[ntyped++] = "bad_request";
    //  a NUL byte inside cwd: "/tmp\0/etc" must not become "/tmp"
    pk = &typed[ntyped].pk;
    msgpack_pack_map (pk, 4);
    codec_pack_str (pk, "id");
    msgpack_pack_uint64 (pk, 42);
    s_kv (pk, "tool", "Bash");
    codec_pack_str (pk, "input");
    msgpack_pack_map (pk, 0);
    codec_pack_str (pk, "cwd");
    codec_pack_strn (pk, "/tmp\0/etc", 9);
    typed_names[ntyped] = "NUL in cwd";
    typed_codes[ntyped++] = "bad_request";
    //  not a map at all
    pk = &typed[ntyped].pk;
    msgpack_pack_array (pk, 2);
    codec_pack_str (pk, "Bash");
    codec_pack_str (pk, CWD);
    typed_names[ntyped] = "an array body";
    typed_codes[ntyped++] = "bad_request";

    stats_t before = s_stats (fx);
    for (size_t i = 0; i < ncases + ntyped; i++) {
        answer_t a;
        const char *name, *code;
        if (i < ncases) {
            a = s_validate (fx, &cases[i].r, "agent");
            name = cases[i].name;
            code = cases[i].code;
        } else {
            a = s_handle (fx, &typed[i - ncases], "agent");
            name = typed_names[i - ncases];
            code = typed_codes[i - ncases];
        }
        print_message ("case: %s -> %s\n", name,
                       s_str (codec_map_get (a.root, "error"), "message"));
        s_assert_error (&a, code);
        //  The id comes back when there is one
        const msgpack_object *id = codec_map_get (a.root, "id");
        assert_non_null (id);
        if (strcmp (name, "an array body") != 0)
            assert_int_equal (id->via.u64, 42);
        s_answer_destroy (&a);
    }
    stats_t after = s_stats (fx);
    size_t total = ncases + ntyped;
    assert_int_equal (after.requests, before.requests + total + 1);
    assert_int_equal (after.errors, before.errors + total);
    assert_int_equal (s_decisions (&after), s_decisions (&before));
    assert_int_equal (after.cache_misses, before.cache_misses);
    assert_int_equal (after.cache_hits, before.cache_hits);
    assert_int_equal (after.cache_size, before.cache_size);
    for (int k = 0; k < 8; k++)
        codec_buf_destroy (&typed[k]);

    //  The bounds are inclusive: 256 bytes of session, 64 of tool are fine
    request_t edge = {.tool = "Bash", .command = "ls", .cwd = CWD, .session = ctx_256};
    answer_t a = s_validate (fx, &edge, "agent");
    s_assert_decision (&a);
    s_answer_destroy (&a);
}

//  A valid request: a decision with rule, reason and the policy's version;
//  the notice and the event say the same and decode strictly
static void
test_decision (void **state)
{
    fixture_t *fx = (fixture_t *) *state;
    stats_t before = s_stats (fx);
    request_t r = {.tool = "Bash",
                   .command = "ls -la",
                   .cwd = CWD,
                   .session = "sess-1",
                   .tool_use_id = "toolu_1",
                   .permission_mode = "default"};
    answer_t a = s_validate (fx, &r, "agent");
    s_assert_decision (&a);
    assert_string_equal (s_str (a.root, "decision"), "allow");
    assert_false (s_bool (a.root, "cached"));
    assert_string_equal (s_str (a.root, "policy"), fx->version);
    char rule[64];
    snprintf (rule, sizeof (rule), "%s", s_str (a.root, "rule"));

    lh_err_t err;
    const char *why;
    codec_doc_t *notice = codec_doc_decode (a.notice.sbuf.data, a.notice.sbuf.size, &err, &why);
    if (!notice)
        fail_msg ("notice: %s", why);
    const msgpack_object *n = codec_doc_root (notice);
    assert_string_equal (s_str (n, "agent"), "agent-1");
    assert_string_equal (s_str (n, "role"), "agent");
    assert_string_equal (s_str (n, "tool"), "Bash");
    assert_string_equal (s_str (n, "decision"), "allow");
    assert_string_equal (s_str (n, "rule"), rule);
    assert_string_equal (s_str (n, "cwd"), CWD);
    assert_string_equal (s_str (n, "subject"), "ls -la");
    assert_string_equal (s_str (n, "policy"), fx->version);
    assert_string_equal (s_str (n, "session"), "sess-1");
    assert_string_equal (s_str (n, "tool_use_id"), "toolu_1");
    assert_string_equal (s_str (n, "permission_mode"), "default");
    assert_true (codec_map_get (n, "time_ms") != NULL);
    codec_doc_destroy (&notice);

    assert_true (a.event.sbuf.size <= EVENT_MAX_DATA);
    codec_doc_t *event = codec_doc_decode (a.event.sbuf.data, a.event.sbuf.size, &err, &why);
    if (!event)
        fail_msg ("event: %s", why);
    const msgpack_object *e = codec_doc_root (event);
    assert_string_equal (s_str (e, "decision"), "allow");
    assert_string_equal (s_str (e, "rule"), rule);
    assert_string_equal (s_str (e, "policy_sha256"), validator_policy_sha256 (fx->v));
    assert_string_equal (s_str (e, "home"), HOME);   //  the validator's default
    assert_string_equal (s_str (e, "project"), CWD); //  default: cwd
    assert_string_equal (s_str (e, "session"), "sess-1");
    assert_false (s_bool (e, "cached"));
    const msgpack_object *input = codec_map_get (e, "input");
    assert_non_null (input);
    assert_string_equal (s_str (input, "command"), "ls -la");
    assert_null (codec_map_get (e, "input_truncated"));
    codec_doc_destroy (&event);
    s_answer_destroy (&a);

    //  Without an event buffer the notice alone is written
    codec_buf_t body, reply, notice_only;
    codec_buf_init (&body);
    codec_buf_init (&reply);
    codec_buf_init (&notice_only);
    s_pack_request (&body, 43, &(request_t){.tool = "Bash", .command = "pwd", .cwd = CWD});
    codec_doc_t *doc = codec_doc_decode (body.sbuf.data, body.sbuf.size, &err, &why);
    assert_true (validator_handle (fx->v, codec_doc_root (doc), "agent-1", "agent", &reply,
                                   &notice_only, NULL));
    assert_true (notice_only.sbuf.size > 0);
    codec_doc_destroy (&doc);
    codec_buf_destroy (&body);
    codec_buf_destroy (&reply);
    codec_buf_destroy (&notice_only);

    stats_t after = s_stats (fx);
    assert_int_equal (after.requests, before.requests + 3);
    assert_int_equal (after.allow, before.allow + 2);
    assert_int_equal (after.errors, before.errors);
    assert_int_equal (after.cache_misses, before.cache_misses + 2);
    assert_int_equal (after.cache_size, before.cache_size + 2);
}

//  Each of the four decisions, escalate with its capability
static void
test_decision_kinds (void **state)
{
    fixture_t *fx = (fixture_t *) *state;
    struct {
        request_t r;
        const char *decision;
    } cases[] = {
        {{.tool = "Bash", .command = "ls", .cwd = CWD}, "allow"},
        {{.tool = "Bash", .command = "rm -rf /", .cwd = CWD}, "deny"},
        {{.tool = "Bash", .command = "sudo systemctl restart nginx", .cwd = CWD}, "escalate"},
        {{.tool = "SomeUnknownTool", .command = "x", .cwd = CWD}, "defer"},
    };
    stats_t before = s_stats (fx);
    for (size_t i = 0; i < sizeof (cases) / sizeof (cases[0]); i++) {
        answer_t a = s_validate (fx, &cases[i].r, "agent");
        s_assert_decision (&a);
        if (strcmp (s_str (a.root, "decision"), cases[i].decision) != 0)
            fail_msg ("%s: %s by %s, want %s", cases[i].r.command, s_str (a.root, "decision"),
                      s_str (a.root, "rule"), cases[i].decision);
        if (strcmp (cases[i].decision, "escalate") == 0)
            assert_true (s_str (a.root, "capability")[0] != 0);
        s_answer_destroy (&a);
    }
    stats_t after = s_stats (fx);
    assert_int_equal (after.allow, before.allow + 1);
    assert_int_equal (after.deny, before.deny + 1);
    assert_int_equal (after.escalate, before.escalate + 1);
    assert_int_equal (after.defer, before.defer + 1);
}

//  The same request again comes from the cache, with the same decision;
//  a request differing in anything the decision depends on does not
static void
test_cache_hit_and_key (void **state)
{
    fixture_t *fx = (fixture_t *) *state;
    answer_t first = s_validate (fx, &s_ls, "agent");
    s_assert_decision (&first);
    assert_false (s_bool (first.root, "cached"));
    stats_t before = s_stats (fx);

    answer_t again = s_validate (fx, &s_ls, "agent");
    s_assert_decision (&again);
    assert_true (s_bool (again.root, "cached"));
    assert_string_equal (s_str (again.root, "decision"), s_str (first.root, "decision"));
    assert_string_equal (s_str (again.root, "rule"), s_str (first.root, "rule"));
    assert_string_equal (s_str (again.root, "reason"), s_str (first.root, "reason"));
    //  The event says it was cached too
    lh_err_t err;
    const char *why;
    codec_doc_t *event =
        codec_doc_decode (again.event.sbuf.data, again.event.sbuf.size, &err, &why);
    assert_non_null (event);
    assert_true (s_bool (codec_doc_root (event), "cached"));
    codec_doc_destroy (&event);
    s_answer_destroy (&again);
    s_answer_destroy (&first);

    stats_t mid = s_stats (fx);
    assert_int_equal (mid.cache_hits, before.cache_hits + 1);
    assert_int_equal (mid.cache_misses, before.cache_misses);
    assert_int_equal (mid.allow, before.allow + 1); //  a cached decision still counts

    //  Not in the key: who asks among the same role, the request's id, context
    request_t ctx = s_ls;
    ctx.session = "another-session";
    ctx.permission_mode = "plan";
    answer_t a = s_validate (fx, &ctx, "agent");
    assert_true (s_bool (a.root, "cached"));
    s_answer_destroy (&a);
    codec_buf_t body;
    codec_buf_init (&body);
    s_pack_request (&body, 1000, &s_ls);
    a = s_handle_raw (fx, body.sbuf.data, body.sbuf.size, "agent-2", "agent");
    assert_true (s_bool (a.root, "cached"));
    assert_int_equal (codec_map_get (a.root, "id")->via.u64, 1000);
    s_answer_destroy (&a);
    codec_buf_destroy (&body);

    //  In the key: each of these must be decided afresh
    struct {
        const char *what;
        request_t r;
        const char *role;
    } misses[] = {
        {"another command", {.tool = "Bash", .command = "ls -l", .cwd = CWD}, "agent"},
        {"another tool", {.tool = "Bash2", .command = "ls -la", .cwd = CWD}, "agent"},
        {"another cwd", {.tool = "Bash", .command = "ls -la", .cwd = "/srv/other"}, "agent"},
        {"another home",
         {.tool = "Bash", .command = "ls -la", .cwd = CWD, .home = "/home/other"},
         "agent"},
        {"home given as the default",
         {.tool = "Bash", .command = "ls -la", .cwd = CWD, .home = HOME},
         NULL},
        {"another project",
         {.tool = "Bash", .command = "ls -la", .cwd = CWD, .project = "/home/dev"},
         "agent"},
        {"project given as cwd",
         {.tool = "Bash", .command = "ls -la", .cwd = CWD, .project = CWD},
         NULL},
        {"another role", {.tool = "Bash", .command = "ls -la", .cwd = CWD}, "expert"},
        {"role node", {.tool = "Bash", .command = "ls -la", .cwd = CWD}, "node"},
    };
    for (size_t i = 0; i < sizeof (misses) / sizeof (misses[0]); i++) {
        //  NULL role: equal to the first request once defaults are applied,
        //  so it must hit
        a = s_validate (fx, &misses[i].r, misses[i].role ? misses[i].role : "agent");
        s_assert_decision (&a);
        if (s_bool (a.root, "cached") != (misses[i].role == NULL))
            fail_msg ("%s: cached is %s", misses[i].what,
                      s_bool (a.root, "cached") ? "true" : "false");
        s_answer_destroy (&a);
    }
}

//  A reload clears the cache, and a different policy version never shares
//  entries with the old one
static void
test_cache_policy_version (void **state)
{
    fixture_t *fx = (fixture_t *) *state;
    answer_t a = s_validate (fx, &s_ls, "agent");
    s_answer_destroy (&a);
    a = s_validate (fx, &s_ls, "agent");
    assert_true (s_bool (a.root, "cached"));
    s_answer_destroy (&a);
    assert_true (s_stats (fx).cache_size > 0);

    s_write_policy (fx, "test-version-2");
    a = s_op (fx, "reload", "admin");
    assert_true (s_bool (a.root, "ok"));
    assert_string_equal (s_str (a.root, "policy"), "test-version-2");
    s_answer_destroy (&a);
    assert_string_equal (validator_policy_version (fx->v), "test-version-2");
    stats_t s = s_stats (fx);
    assert_int_equal (s.cache_size, 0);
    assert_int_equal (s.reloads, 1);

    a = s_validate (fx, &s_ls, "agent");
    s_assert_decision (&a);
    assert_false (s_bool (a.root, "cached"));
    assert_string_equal (s_str (a.root, "policy"), "test-version-2");
    s_answer_destroy (&a);
    a = s_validate (fx, &s_ls, "agent");
    assert_true (s_bool (a.root, "cached"));
    assert_string_equal (s_str (a.root, "policy"), "test-version-2");
    s_answer_destroy (&a);

    //  The same bytes reloaded: the cache is still cleared
    char err[256];
    assert_int_equal (validator_reload (fx->v, "signal", err, sizeof (err)), 0);
    assert_int_equal (s_stats (fx).cache_size, 0);
    a = s_validate (fx, &s_ls, "agent");
    assert_false (s_bool (a.root, "cached"));
    s_answer_destroy (&a);
}

//  stats and reload for node and admin; refused for agent and expert
static void
test_operations_roles (void **state)
{
    fixture_t *fx = (fixture_t *) *state;
    const char *allowed[] = {"node", "admin"};
    for (size_t i = 0; i < 2; i++) {
        answer_t a = s_op (fx, "stats", allowed[i]);
        assert_false (a.decided);
        assert_true (s_bool (a.root, "ok"));
        assert_int_equal (codec_map_get (a.root, "id")->via.u64, 9);
        assert_non_null (codec_map_get (a.root, "counters"));
        assert_string_equal (s_str (a.root, "policy"), fx->version);
        s_answer_destroy (&a);

        int loads = fx->loads;
        a = s_op (fx, "reload", allowed[i]);
        assert_false (a.decided);
        assert_true (s_bool (a.root, "ok"));
        assert_string_equal (s_str (a.root, "policy"), fx->version);
        s_answer_destroy (&a);
        assert_int_equal (fx->loads, loads + 1);
        assert_string_equal (fx->load_by, "agent-1"); //  who asked
        assert_string_equal (fx->load_role, allowed[i]);
    }
    assert_int_equal (s_stats (fx).reloads, 2);

    const char *refused[] = {"agent", "expert", "", "nobody"};
    for (size_t i = 0; i < sizeof (refused) / sizeof (refused[0]); i++) {
        int loads = fx->loads;
        answer_t a = s_op (fx, "stats", refused[i]);
        s_assert_error (&a, "forbidden");
        assert_null (codec_map_get (a.root, "counters"));
        s_answer_destroy (&a);
        a = s_op (fx, "reload", refused[i]);
        s_assert_error (&a, "forbidden");
        s_answer_destroy (&a);
        assert_int_equal (fx->loads, loads);
    }
    stats_t s = s_stats (fx);
    assert_int_equal (s.reloads, 2); //  no refused reload happened
    assert_int_equal (s.reload_failures, 0);
}

static void
test_operations_unknown (void **state)
{
    fixture_t *fx = (fixture_t *) *state;
    const char *ops[] = {"frobnicate", "", "STATS", "stats ", "reloa"};
    for (size_t i = 0; i < sizeof (ops) / sizeof (ops[0]); i++) {
        answer_t a = s_op (fx, ops[i], "admin");
        s_assert_error (&a, "unsupported");
        s_answer_destroy (&a);
    }
    answer_t a = s_op (fx, NULL, "admin"); //  op an int
    s_assert_error (&a, "unsupported");
    s_answer_destroy (&a);
    //  Unknown before forbidden: an agent asking for nonsense learns it is nonsense
    a = s_op (fx, "frobnicate", "agent");
    s_assert_error (&a, "unsupported");
    s_answer_destroy (&a);
    assert_int_equal (s_stats (fx).reloads, 0);
}

//  A broken or missing policy file: the old policy stays in force (version,
//  hash, cached decisions), the reload answers an error, on_load is not
//  called; fixing the file makes the next reload work
static void
test_reload_broken_keeps_policy (void **state)
{
    fixture_t *fx = (fixture_t *) *state;
    answer_t a = s_validate (fx, &s_ls, "agent");
    s_answer_destroy (&a);
    char sha[crypto_hash_sha256_BYTES * 2 + 1];
    snprintf (sha, sizeof (sha), "%s", validator_policy_sha256 (fx->v));
    int loads = fx->loads;

    static const char broken[] = "policy\n    version = \"broken-1\"\nrule\n    bad\n"
                                 "        tool = Bash\n        match = \"(unclosed\"\n"
                                 "        action = explode\n";
    s_write_file (fx->policy, broken, sizeof (broken) - 1);
    a = s_op (fx, "reload", "admin");
    s_assert_error (&a, "bad_request");
    print_message ("broken policy: %s\n", s_str (codec_map_get (a.root, "error"), "message"));
    s_answer_destroy (&a);
    assert_string_equal (validator_policy_version (fx->v), fx->version);
    assert_string_equal (validator_policy_sha256 (fx->v), sha);
    assert_int_equal (fx->loads, loads);

    char err[512] = "";
    assert_int_equal (validator_reload (fx->v, "signal", err, sizeof (err)), -1);
    assert_true (strlen (err) > 0);
    unlink (fx->policy);
    err[0] = 0;
    assert_int_equal (validator_reload (fx->v, "signal", err, sizeof (err)), -1);
    assert_non_null (strstr (err, "cannot open"));
    assert_int_equal (fx->loads, loads);

    stats_t s = s_stats (fx);
    assert_int_equal (s.reload_failures, 3);
    assert_int_equal (s.reloads, 0);
    assert_int_equal (s.cache_size, 1); //  not cleared by a failed reload
    a = s_validate (fx, &s_ls, "agent");
    s_assert_decision (&a);
    assert_true (s_bool (a.root, "cached"));
    assert_string_equal (s_str (a.root, "policy"), fx->version);
    s_answer_destroy (&a);

    s_write_policy (fx, "fixed-2");
    assert_int_equal (validator_reload (fx->v, "announcement", err, sizeof (err)), 0);
    assert_string_equal (validator_policy_version (fx->v), "fixed-2");
    assert_string_not_equal (validator_policy_sha256 (fx->v), sha);
    assert_int_equal (fx->loads, loads + 1);
    assert_string_equal (fx->load_by, "announcement");
    assert_string_equal (fx->load_role, "");
}

//  Counters kept elsewhere appear in stats with their live value, up to
//  VALIDATOR_EXTRA of them
static void
test_extra_counters (void **state)
{
    fixture_t *fx = (fixture_t *) *state;
    static uint64_t values[VALIDATOR_EXTRA + 1];
    static char names[VALIDATOR_EXTRA + 1][16];
    for (int i = 0; i <= VALIDATOR_EXTRA; i++) {
        snprintf (names[i], sizeof (names[i]), "extra_%d", i);
        values[i] = (uint64_t) i * 10;
        assert_int_equal (validator_add_counter (fx->v, names[i], &values[i]),
                          i < VALIDATOR_EXTRA ? 0 : -1);
    }
    values[3] = 12345;
    answer_t a = s_op (fx, "stats", "node");
    const msgpack_object *c = codec_map_get (a.root, "counters");
    assert_int_equal (s_u64 (c, "extra_3"), 12345);
    char last[16], beyond[16];
    snprintf (last, sizeof (last), "extra_%d", VALIDATOR_EXTRA - 1);
    snprintf (beyond, sizeof (beyond), "extra_%d", VALIDATOR_EXTRA);
    assert_int_equal (s_u64 (c, last), (VALIDATOR_EXTRA - 1) * 10);
    assert_null (codec_map_get (c, beyond));
    s_answer_destroy (&a);
}

//  Secrets never reach the notice or the event; the subject is cut to 256
//  bytes on a character boundary
static void
test_redacted_and_cut (void **state)
{
    fixture_t *fx = (fixture_t *) *state;
    request_t r = {
        .tool = "Bash", .command = "git push https://x:" SECRET "@github.com/a/b", .cwd = CWD};
    answer_t a = s_validate (fx, &r, "agent");
    s_assert_decision (&a);
    assert_null (memmem (a.notice.sbuf.data, a.notice.sbuf.size, SECRET, strlen (SECRET)));
    assert_null (memmem (a.event.sbuf.data, a.event.sbuf.size, SECRET, strlen (SECRET)));
    assert_non_null (
        memmem (a.notice.sbuf.data, a.notice.sbuf.size, REDACT_MARKER, strlen (REDACT_MARKER)));
    s_answer_destroy (&a);

    //  300 two-byte characters: 600 bytes, cut to at most 256 bytes of whole ones
    char command[700] = "echo ";
    for (int i = 0; i < 300; i++)
        strcat (command, "\xc3\xa9");
    r.command = command;
    a = s_validate (fx, &r, "agent");
    s_assert_decision (&a);
    lh_err_t err;
    const char *why;
    codec_doc_t *notice = codec_doc_decode (a.notice.sbuf.data, a.notice.sbuf.size, &err, &why);
    if (!notice)
        fail_msg ("notice with a cut subject: %s", why); //  e.g. invalid UTF-8
    const msgpack_object *subject = codec_map_get (codec_doc_root (notice), "subject");
    assert_true (subject->via.str.size <= 256);
    assert_true (subject->via.str.size >= 250);
    assert_memory_equal (subject->via.str.ptr, command, subject->via.str.size);
    codec_doc_destroy (&notice);
    s_answer_destroy (&a);
}

//  A large input: the event still fits the log's EVENT_MAX_DATA, says it
//  was truncated and keeps the size and hash of the whole
static void
test_event_large_input (void **state)
{
    fixture_t *fx = (fixture_t *) *state;
    size_t big = 400 * 1024;
    char *content = (char *) malloc (big + 1);
    assert_non_null (content);
    memset (content, 'x', big);
    content[big] = 0;
    codec_buf_t body;
    codec_buf_init (&body);
    msgpack_pack_map (&body.pk, 4);
    codec_pack_str (&body.pk, "id");
    msgpack_pack_uint64 (&body.pk, 42);
    s_kv (&body.pk, "tool", "Write");
    s_kv (&body.pk, "cwd", CWD);
    codec_pack_str (&body.pk, "input");
    msgpack_pack_map (&body.pk, 2);
    s_kv (&body.pk, "file_path", CWD "/big.txt");
    s_kv (&body.pk, "content", content);
    free (content);
    answer_t a = s_handle (fx, &body, "agent");
    codec_buf_destroy (&body);
    s_assert_decision (&a);
    assert_true (a.event.sbuf.size <= EVENT_MAX_DATA);
    lh_err_t err;
    const char *why;
    codec_doc_t *event = codec_doc_decode (a.event.sbuf.data, a.event.sbuf.size, &err, &why);
    if (!event)
        fail_msg ("event: %s", why);
    const msgpack_object *e = codec_doc_root (event);
    assert_true (s_bool (e, "input_truncated"));
    assert_int_equal (strlen (s_str (e, "input_sha256")), 64);
    assert_true (s_u64 (e, "input_bytes") > big);
    const msgpack_object *input = codec_map_get (e, "input");
    assert_string_equal (s_str (input, "file_path"), CWD "/big.txt");
    codec_doc_destroy (&event);
    s_answer_destroy (&a);
}

//  An input of many small entries (each within the request limits) must
//  also give an event the log accepts
static void
s_wide_input (fixture_t *fx, uint32_t entries, size_t key_size, size_t value_size)
{
    char value[512];
    assert_true (value_size < sizeof (value) && key_size >= 8 && key_size <= LH_MAX_KEY);
    memset (value, 'v', value_size);
    value[value_size] = 0;
    codec_buf_t body;
    codec_buf_init (&body);
    msgpack_pack_map (&body.pk, 4);
    codec_pack_str (&body.pk, "id");
    msgpack_pack_uint64 (&body.pk, 42);
    s_kv (&body.pk, "tool", "Write");
    s_kv (&body.pk, "cwd", CWD);
    codec_pack_str (&body.pk, "input");
    msgpack_pack_map (&body.pk, entries);
    s_kv (&body.pk, "file_path", CWD "/wide.txt");
    for (uint32_t i = 1; i < entries; i++) {
        char key[LH_MAX_KEY + 1];
        snprintf (key, sizeof (key), "k%05u%0*d", i, (int) key_size - 6, 0);
        s_kv (&body.pk, key, value);
    }
    answer_t a = s_handle (fx, &body, "agent");
    codec_buf_destroy (&body);
    s_assert_decision (&a);
    size_t size = a.event.sbuf.size;
    lh_err_t err;
    const char *why;
    codec_doc_t *event = codec_doc_decode (a.event.sbuf.data, size, &err, &why);
    if (!event)
        fail_msg ("event: %s", why);
    if (size > EVENT_MAX_DATA)
        fail_msg ("event data of %zu bytes for %u entries, over EVENT_MAX_DATA (%d)", size, entries,
                  EVENT_MAX_DATA);
    //  What was left out is said, and the path the policy judged is kept
    const msgpack_object *root = codec_doc_root (event);
    assert_true (codec_map_get (root, "input_truncated") != NULL);
    const msgpack_object *input = codec_map_get (root, "input");
    assert_non_null (input);
    assert_true (codec_str_eq (codec_map_get (input, "file_path"), CWD "/wide.txt"));
    const msgpack_object *omitted = codec_map_get (root, "input_omitted");
    if (omitted) {
        assert_int_equal (omitted->type, MSGPACK_OBJECT_POSITIVE_INTEGER);
        assert_int_equal (omitted->via.u64 + input->via.map.size, entries);
    } else
        assert_int_equal (input->via.map.size, entries);
    codec_doc_destroy (&event);
    s_answer_destroy (&a);
}

//  wait_ms: 0 to 600000, checked before anything is decided
static void
test_wait_ms (void **state)
{
    fixture_t *fx = (fixture_t *) *state;
    struct {
        int kind; //  0 uint, 1 negative int, 2 str
        int64_t value;
        bool ok;
    } cases[] = {{0, 0, true},   {0, 1000, true}, {0, 600000, true},    {0, 600001, false},
                 {1, -1, false}, {2, 0, false},   {0, INT64_MAX, false}};
    for (size_t i = 0; i < sizeof (cases) / sizeof (cases[0]); i++) {
        codec_buf_t body;
        codec_buf_init (&body);
        msgpack_pack_map (&body.pk, 5);
        codec_pack_str (&body.pk, "id");
        msgpack_pack_uint64 (&body.pk, 42);
        s_kv (&body.pk, "tool", "Bash");
        codec_pack_str (&body.pk, "input");
        msgpack_pack_map (&body.pk, 1);
        s_kv (&body.pk, "command", "ls");
        s_kv (&body.pk, "cwd", CWD);
        codec_pack_str (&body.pk, "wait_ms");
        if (cases[i].kind == 0)
            msgpack_pack_uint64 (&body.pk, (uint64_t) cases[i].value);
        else if (cases[i].kind == 1)
            msgpack_pack_int64 (&body.pk, cases[i].value);
        else
            codec_pack_str (&body.pk, "soon");
        answer_t a = s_handle (fx, &body, "agent");
        codec_buf_destroy (&body);
        if (cases[i].ok)
            s_assert_decision (&a);
        else
            s_assert_error (&a, "bad_request");
        s_answer_destroy (&a);
    }
}

static void
test_event_wide_input (void **state)
{
    fixture_t *fx = (fixture_t *) *state;
    //  Past the point where a share per key underflowed (n > 3968)
    s_wide_input (fx, 4000, 8, 64);
    //  Fewer entries, but long keys and values that do not fit their share
    s_wide_input (fx, 3000, LH_MAX_KEY, 200);
    s_wide_input (fx, 1500, 32, 400);
}

int
main (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown (test_new_errors, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_policy_identity, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_malformed_bodies, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_decision, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_decision_kinds, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_cache_hit_and_key, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_cache_policy_version, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_operations_roles, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_operations_unknown, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_reload_broken_keeps_policy, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_extra_counters, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_redacted_and_cut, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_event_large_input, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_wait_ms, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_event_wide_input, s_setup, s_teardown),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
