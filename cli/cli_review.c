/*  lh review, lh approve -- a person answering escalations with an expert
    key, through the expert service (docs/EXPERT.md). Who decides is the
    key lh connects with; the broker tells lh-expert, the body cannot. */
#include "cli.h"

#include "codec.h"
#include "jsonpack.h"

#include <sodium.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

const char cli_review_usage[] =
    "Usage: lh review list [--capability C] [--limit N] [--json]\n"
    "       lh review show ID|CODE\n"
    "       lh review approve ID|CODE [--reason R] [--scope S] [--ttl SECONDS]\n"
    "       lh review deny ID|CODE [--reason R] [--scope S] [--ttl SECONDS]\n"
    "       lh review watch [--interval MS] [--capability C]\n"
    "       lh review revoke VERDICT_ID\n"
    "\n"
    "Escalations wait in lh-expert for an expert's verdict. list shows the pending ones\n"
    "(id, agent, tool, subject, capability, rule, deadline, how long they have waited);\n"
    "show prints one with its request; approve and deny give your verdict, as the key\n"
    "you connect with (LH_CERT: an expert key). A quorum rule needs that many distinct\n"
    "experts to approve; one deny decides. A verdict is remembered by the shared cache\n"
    "for the same request: --scope once (only the waiting request), session (the\n"
    "agent's session; the default when the request named one), agent (the default\n"
    "otherwise) or global (every agent), for --ttl seconds (lh-expert's --verdict-ttl,\n"
    "3600, unless given). approve and deny print the verdict id; revoke forgets that\n"
    "verdict, so the next such request is escalated again. watch prints a line each\n"
    "time an escalation arrives or leaves the queue, until interrupted.\n"
    "token issues NAME a login token for the console (lh-web --tokens FILE): it prints\n"
    "the token once and keeps only its SHA-256 in FILE (made 0600), beside the path\n"
    "of NAME's expert key, with which the console gives NAME's verdicts. A new token\n"
    "for NAME replaces the old one and ends its sessions; --view-only logs in to look.\n"
    "Exit 0 on success, 1 on an error reply.\n";

const char cli_approve_usage[] =
    "Usage: lh approve CODE [--reason R] [--scope S] [--ttl SECONDS]\n"
    "\n"
    "Approves the escalation an agent was given CODE for (8 characters; case and the\n"
    "look-alikes O/0 and I/L/1 do not matter), as the expert key you connect with.\n"
    "The verdict is remembered (lh review --help: --scope, --ttl), so the agent's\n"
    "retry of the same request is allowed.\n";

//  Sends {op, ...} to expert; prints an error reply and returns NULL
static lh_reply_t *
s_call (cli_t *cli, lh_client_t **client_p, const codec_buf_t *body)
{
    *client_p = cli_client (cli);
    if (!*client_p)
        return NULL;
    return cli_call (*client_p, "expert", body->sbuf.data, body->sbuf.size);
}

//  The key an escalation is named by: a 32-character id, else a code
static const char *
s_name_key (const char *name)
{
    return strlen (name) == 32 ? "escalation" : "code";
}

static int
s_decide (cli_t *cli, const char *name, bool allow, int argc, char **argv, int first)
{
    const char *reason = NULL, *scope = NULL;
    long ttl = 0;
    for (int i = first; i < argc; i++) {
        if (streq (argv[i], "--reason") && i + 1 < argc)
            reason = argv[++i];
        else if (streq (argv[i], "--scope") && i + 1 < argc)
            scope = argv[++i];
        else if (streq (argv[i], "--ttl") && i + 1 < argc) {
            char *end = NULL;
            ttl = strtol (argv[++i], &end, 10);
            if (!end || *end || ttl < 1)
                return cli_usage_error ("review: --ttl is a number of seconds, at least 1");
        } else
            return cli_usage_error ("review: unexpected argument");
    }
    if (scope && !streq (scope, "once") && !streq (scope, "session") && !streq (scope, "agent") &&
        !streq (scope, "global"))
        return cli_usage_error ("review: --scope is once, session, agent or global");
    codec_buf_t body;
    codec_buf_init (&body);
    msgpack_pack_map (&body.pk, 3 + (reason != NULL) + (scope != NULL) + (ttl > 0));
    codec_pack_kv_str (&body.pk, "op", "decide");
    codec_pack_kv_str (&body.pk, s_name_key (name), name);
    codec_pack_kv_str (&body.pk, "decision", allow ? "allow" : "deny");
    if (reason)
        codec_pack_kv_str (&body.pk, "reason", reason);
    if (scope)
        codec_pack_kv_str (&body.pk, "scope", scope);
    if (ttl > 0)
        codec_pack_kv_i64 (&body.pk, "ttl", ttl);
    lh_client_t *client = NULL;
    lh_reply_t *reply = s_call (cli, &client, &body);
    codec_buf_destroy (&body);
    int rc = 1;
    if (reply) {
        const msgpack_object *root = lh_reply_root (reply);
        char id[40] = "-", state[16] = "-", verdict_id[40] = "", kept[16] = "";
        codec_str_copy (codec_map_get (root, "escalation"), id, sizeof (id));
        codec_str_copy (codec_map_get (root, "state"), state, sizeof (state));
        const msgpack_object *verdict = codec_map_get (root, "verdict");
        codec_str_copy (codec_map_get (verdict, "verdict_id"), verdict_id, sizeof (verdict_id));
        codec_str_copy (codec_map_get (verdict, "scope"), kept, sizeof (kept));
        printf ("%s %s: %s", allow ? "approved" : "denied", id,
                streq (state, "decided") ? "decided" : "recorded; more experts must agree");
        if (verdict_id[0])
            printf ("; verdict %s remembered (scope %s)", verdict_id, kept);
        else if (streq (state, "decided"))
            printf ("; not remembered (no verdict cache): a retry is escalated again");
        printf ("\n");
        rc = 0;
    }
    lh_reply_destroy (&reply);
    lh_client_destroy (&client);
    return rc;
}

//  A field for the terminal: agents write these texts, so control bytes
//  (escape sequences that could rewrite what a reviewer sees) become '?'
static const char *
s_str (const msgpack_object *map, const char *key, char *buf, size_t size)
{
    if (!codec_str_copy (codec_map_get (map, key), buf, size))
        snprintf (buf, size, "-");
    for (char *p = buf; *p; p++)
        if ((unsigned char) *p < 0x20 || (unsigned char) *p == 0x7F)
            *p = '?';
    return buf;
}

static int64_t
s_int (const msgpack_object *map, const char *key)
{
    const msgpack_object *v = codec_map_get (map, key);
    return v && v->type == MSGPACK_OBJECT_POSITIVE_INTEGER   ? (int64_t) v->via.u64
           : v && v->type == MSGPACK_OBJECT_NEGATIVE_INTEGER ? v->via.i64
                                                             : 0;
}

static int
s_list (cli_t *cli, int argc, char **argv)
{
    const char *capability = NULL;
    long limit = 100;
    bool json = false;
    for (int i = 2; i < argc; i++) {
        if (streq (argv[i], "--json"))
            json = true;
        else if (streq (argv[i], "--capability") && i + 1 < argc)
            capability = argv[++i];
        else if (streq (argv[i], "--limit") && i + 1 < argc)
            limit = strtol (argv[++i], NULL, 10);
        else
            return cli_usage_error ("review list: unexpected argument");
    }
    if (limit < 1 || limit > 1000)
        return cli_usage_error ("review list: --limit is 1 to 1000");
    codec_buf_t body;
    codec_buf_init (&body);
    msgpack_pack_map (&body.pk, 2 + (capability != NULL));
    codec_pack_kv_str (&body.pk, "op", "list");
    codec_pack_kv_u64 (&body.pk, "limit", (uint64_t) limit);
    if (capability)
        codec_pack_kv_str (&body.pk, "capability", capability);
    lh_client_t *client = NULL;
    lh_reply_t *reply = s_call (cli, &client, &body);
    codec_buf_destroy (&body);
    int rc = 1;
    if (reply) {
        const msgpack_object *list = codec_map_get (lh_reply_root (reply), "escalations");
        if (json) {
            char *text = jsonpack_to_json (list, true);
            printf ("%s\n", text ? text : "[]");
            free (text);
        } else if (list && list->type == MSGPACK_OBJECT_ARRAY) {
            printf ("%-32s  %-16s %-8s %-12s %-20s %8s  %s\n", "ID", "AGENT", "TOOL", "CAPABILITY",
                    "RULE", "WAITING", "SUBJECT");
            for (uint32_t i = 0; i < list->via.array.size; i++) {
                const msgpack_object *e = &list->via.array.ptr[i];
                char id[40], agent[72], tool[72], cap[40], rule[72], subject[260];
                //  The subject is the agent's text: shown, never interpreted
                printf ("%-32s  %-16s %-8s %-12s %-20s %7llds  %s\n",
                        s_str (e, "id", id, sizeof (id)), s_str (e, "agent", agent, sizeof (agent)),
                        s_str (e, "tool", tool, sizeof (tool)),
                        s_str (e, "capability", cap, sizeof (cap)),
                        s_str (e, "rule", rule, sizeof (rule)),
                        (long long) (s_int (e, "waiting_ms") / 1000),
                        s_str (e, "subject", subject, sizeof (subject)));
            }
        }
        rc = 0;
    }
    lh_reply_destroy (&reply);
    lh_client_destroy (&client);
    return rc;
}

static int
s_show (cli_t *cli, const char *name)
{
    codec_buf_t body;
    codec_buf_init (&body);
    msgpack_pack_map (&body.pk, 2);
    codec_pack_kv_str (&body.pk, "op", "show");
    codec_pack_kv_str (&body.pk, s_name_key (name), name);
    lh_client_t *client = NULL;
    lh_reply_t *reply = s_call (cli, &client, &body);
    codec_buf_destroy (&body);
    int rc = 1;
    if (reply) {
        char *text = jsonpack_to_json (codec_map_get (lh_reply_root (reply), "escalation"), true);
        printf ("%s\n", text ? text : "null");
        free (text);
        rc = 0;
    }
    lh_reply_destroy (&reply);
    lh_client_destroy (&client);
    return rc;
}

static int
s_revoke (cli_t *cli, const char *verdict_id)
{
    codec_buf_t body;
    codec_buf_init (&body);
    msgpack_pack_map (&body.pk, 2);
    codec_pack_kv_str (&body.pk, "op", "revoke");
    codec_pack_kv_str (&body.pk, "verdict_id", verdict_id);
    lh_client_t *client = NULL;
    lh_reply_t *reply = s_call (cli, &client, &body);
    codec_buf_destroy (&body);
    int rc = 1;
    if (reply) {
        const msgpack_object *revoked = codec_map_get (lh_reply_root (reply), "revoked");
        bool done = revoked && revoked->type == MSGPACK_OBJECT_BOOLEAN && revoked->via.boolean;
        printf ("%s %s\n", done ? "revoked" : "nothing live to revoke:", verdict_id);
        rc = 0;
    }
    lh_reply_destroy (&reply);
    lh_client_destroy (&client);
    return rc;
}

//  One line per escalation that arrived in or left the queue since the last look
static void
s_watch_diff (zhashx_t *seen, const msgpack_object *list)
{
    zhashx_t *now = zhashx_new ();
    for (uint32_t i = 0; list && list->type == MSGPACK_OBJECT_ARRAY && i < list->via.array.size;
         i++) {
        const msgpack_object *e = &list->via.array.ptr[i];
        char id[40], agent[72], tool[72], cap[40], rule[72], subject[260];
        s_str (e, "id", id, sizeof (id));
        zhashx_insert (now, id, (void *) 1);
        if (zhashx_lookup (seen, id))
            continue;
        printf ("+ %s  %s %s %s %s  %s\n", id, s_str (e, "agent", agent, sizeof (agent)),
                s_str (e, "tool", tool, sizeof (tool)), s_str (e, "capability", cap, sizeof (cap)),
                s_str (e, "rule", rule, sizeof (rule)),
                s_str (e, "subject", subject, sizeof (subject)));
    }
    for (void *item = zhashx_first (seen); item; item = zhashx_next (seen)) {
        const char *id = (const char *) zhashx_cursor (seen);
        if (!zhashx_lookup (now, id))
            printf ("- %s  (decided or expired)\n", id);
    }
    zhashx_purge (seen);
    for (void *item = zhashx_first (now); item; item = zhashx_next (now))
        zhashx_insert (seen, (const char *) zhashx_cursor (now), (void *) 1);
    zhashx_destroy (&now);
    fflush (stdout);
}

static int
s_watch (cli_t *cli, int argc, char **argv)
{
    long interval = 1000;
    const char *capability = NULL;
    for (int i = 2; i < argc; i++) {
        if (streq (argv[i], "--interval") && i + 1 < argc)
            interval = strtol (argv[++i], NULL, 10);
        else if (streq (argv[i], "--capability") && i + 1 < argc)
            capability = argv[++i];
        else
            return cli_usage_error ("review watch: unexpected argument");
    }
    if (interval < 100 || interval > 60000)
        return cli_usage_error ("review watch: --interval is 100 to 60000 ms");
    lh_client_t *client = cli_client (cli);
    if (!client)
        return 1;
    zhashx_t *seen = zhashx_new ();
    int rc = 0;
    while (!zsys_interrupted) {
        codec_buf_t body;
        codec_buf_init (&body);
        msgpack_pack_map (&body.pk, 2 + (capability != NULL));
        codec_pack_kv_str (&body.pk, "op", "list");
        codec_pack_kv_u64 (&body.pk, "limit", 1000);
        if (capability)
            codec_pack_kv_str (&body.pk, "capability", capability);
        lh_reply_t *reply = cli_call (client, "expert", body.sbuf.data, body.sbuf.size);
        codec_buf_destroy (&body);
        if (!reply) {
            rc = zsys_interrupted ? 0 : 1;
            break;
        }
        s_watch_diff (seen, codec_map_get (lh_reply_root (reply), "escalations"));
        lh_reply_destroy (&reply);
        zclock_sleep ((int) interval);
    }
    zhashx_destroy (&seen);
    lh_client_destroy (&client);
    return rc;
}

//  Writes the tokens file through a 0600 temporary file and a rename, so
//  that lh-web never reads half of it
static int
s_tokens_save (zconfig_t *tokens, const char *path)
{
    char tmp[4096];
    snprintf (tmp, sizeof (tmp), "%s.tmp", path);
    mode_t old = umask (077);
    int rc = zconfig_save (tokens, tmp);
    umask (old);
    if (rc == 0 && chmod (tmp, 0600) == 0 && rename (tmp, path) == 0)
        return 0;
    unlink (tmp);
    return -1;
}

static int
s_token (int argc, char **argv)
{
    const char *name = argv[2], *tokens_path = NULL, *cert_path = NULL;
    bool view_only = false;
    for (int i = 3; i < argc; i++) {
        if (streq (argv[i], "--tokens") && i + 1 < argc)
            tokens_path = argv[++i];
        else if (streq (argv[i], "--cert") && i + 1 < argc)
            cert_path = argv[++i];
        else if (streq (argv[i], "--view-only"))
            view_only = true;
        else
            return cli_usage_error ("review token: unexpected argument");
    }
    if (!codec_name_valid (name, strlen (name), LH_MAX_AGENT))
        return cli_usage_error ("review token: NAME is 1 to 64 of [A-Za-z0-9._-]");
    if (!tokens_path || view_only == (cert_path != NULL))
        return cli_usage_error ("review token: --tokens FILE and one of --cert or --view-only");
    char real[4096] = "";
    if (cert_path) {
        char err[256];
        zcert_t *cert = cli_cert_load (cert_path, err, sizeof (err));
        if (!cert) {
            fprintf (stderr, "lh: review token: %s\n", err);
            return 1;
        }
        zcert_destroy (&cert);
        //  lh-web loads it by this path: absolute, and the secret file itself
        char secret[4096];
        snprintf (secret, sizeof (secret), "%s_secret", cert_path);
        if (!realpath (access (secret, R_OK) == 0 ? secret : cert_path, real)) {
            fprintf (stderr, "lh: review token: %s: %s\n", cert_path, strerror (errno));
            return 1;
        }
    }
    zconfig_t *old =
        access (tokens_path, F_OK) == 0 ? zconfig_load (tokens_path) : zconfig_new ("root", NULL);
    if (!old) {
        fprintf (stderr, "lh: review token: %s is not a ZPL file\n", tokens_path);
        return 1;
    }
    //  The other reviewers as they were; NAME's entry made anew
    zconfig_t *tokens = zconfig_new ("root", NULL);
    char path[200];
    zconfig_t *reviewers = zconfig_locate (old, "reviewer");
    for (zconfig_t *r = reviewers ? zconfig_child (reviewers) : NULL; r; r = zconfig_next (r)) {
        if (streq (zconfig_name (r), name))
            continue;
        const char *keys[] = {"token_sha256", "cert"};
        for (size_t k = 0; k < 2; k++) {
            const char *value = zconfig_get (r, keys[k], NULL);
            snprintf (path, sizeof (path), "reviewer/%s/%s", zconfig_name (r), keys[k]);
            if (value)
                zconfig_put (tokens, path, value);
        }
    }
    zconfig_destroy (&old);
    uint8_t bytes[32];
    randombytes_buf (bytes, sizeof (bytes));
    char token[4 + 64 + 1] = "lhr_";
    sodium_bin2hex (token + 4, 65, bytes, sizeof (bytes));
    uint8_t hash[crypto_hash_sha256_BYTES];
    crypto_hash_sha256 (hash, (const uint8_t *) token, strlen (token));
    char digest[65];
    sodium_bin2hex (digest, sizeof (digest), hash, sizeof (hash));
    snprintf (path, sizeof (path), "reviewer/%s/token_sha256", name);
    zconfig_put (tokens, path, digest);
    if (real[0]) {
        snprintf (path, sizeof (path), "reviewer/%s/cert", name);
        zconfig_put (tokens, path, real);
    }
    zconfig_set_comment (tokens, " lh-web reviewer tokens (lh review token): SHA-256 only");
    int rc = s_tokens_save (tokens, tokens_path);
    zconfig_destroy (&tokens);
    sodium_memzero (bytes, sizeof (bytes));
    if (rc != 0) {
        fprintf (stderr, "lh: review token: cannot write %s: %s\n", tokens_path, strerror (errno));
        return 1;
    }
    printf ("%s\n", token);
    return 0;
}

int
cli_review (cli_t *cli, int argc, char **argv)
{
    if (argc < 2)
        return cli_usage_error ("review: list, show, approve, deny, watch, revoke or token");
    const char *sub = argv[1];
    if (streq (sub, "list"))
        return s_list (cli, argc, argv);
    if (streq (sub, "watch"))
        return s_watch (cli, argc, argv);
    if (argc < 3)
        return cli_usage_error ("review: ID, CODE or VERDICT_ID is required");
    if (streq (sub, "show") && argc == 3)
        return s_show (cli, argv[2]);
    if (streq (sub, "revoke") && argc == 3)
        return s_revoke (cli, argv[2]);
    if (streq (sub, "token"))
        return s_token (argc, argv);
    if (streq (sub, "approve") || streq (sub, "deny"))
        return s_decide (cli, argv[2], streq (sub, "approve"), argc, argv, 3);
    return cli_usage_error ("review: list, show, approve, deny, watch or revoke");
}

int
cli_approve (cli_t *cli, int argc, char **argv)
{
    if (argc < 2)
        return cli_usage_error ("approve: CODE is required");
    return s_decide (cli, argv[1], true, argc, argv, 2);
}
