/*  api -- the console's paths under /api/ (docs/CONSOLE.md 3). Each handler
    answers at once from the feed or sessions, or sends its broker requests
    with web_call and answers in its finish function once they came. */
#include "web_internal.h"

#include "codec.h"
#include "jsonpack.h"
#include "lh_log.h"
#include "shell.h"

#include <dirent.h>
#include <sodium.h>
#include <sys/stat.h>

#define RECENT_DECISIONS 20     //  an agent's decisions shown beside its escalation
#define RECENT_WINDOW_MS 600000 //  ... from the log, in the ten minutes before it asked
#define MAX_TTL_S        (30 * 24 * 3600)
#define MAX_REASON       1024

static const char *
s_arg (req_t *req, const char *name)
{
    const char *value = MHD_lookup_connection_value (req->conn, MHD_GET_ARGUMENT_KIND, name);
    return value && *value ? value : NULL;
}

//  The request body as a JSON object; NULL after answering 400
static json_t *
s_body (req_t *req)
{
    json_error_t error;
    json_t *body =
        req->body ? json_loadb (req->body, req->body_size, JSON_REJECT_DUPLICATES, &error) : NULL;
    if (!json_is_object (body)) {
        json_decref (body);
        req->web->n.bad_requests++;
        web_respond_error (req, 400, "the body must be one JSON object");
        return NULL;
    }
    return body;
}

//  An escalation id (32 hex) or approval code (8 characters)
static bool
s_name_ok (const char *name)
{
    size_t len = strlen (name);
    if (len != 32 && len != 8)
        return false;
    for (size_t i = 0; i < len; i++)
        if (!isalnum ((unsigned char) name[i]))
            return false;
    return true;
}

//  Sends {op, [key: value], [ukey: uvalue]} to service
static bool
s_send_ops (req_t *req, lh_client_t *client, const char *service, const char *op, const char *key,
            const char *value, const char *ukey, uint64_t uvalue)
{
    codec_buf_t buf;
    codec_buf_init (&buf);
    msgpack_pack_map (&buf.pk, 1 + (key != NULL) + (ukey != NULL));
    codec_pack_kv_str (&buf.pk, "op", op);
    if (key)
        codec_pack_kv_str (&buf.pk, key, value);
    if (ukey)
        codec_pack_kv_u64 (&buf.pk, ukey, uvalue);
    bool sent = web_call (req, client, service, buf.sbuf.data, buf.sbuf.size);
    codec_buf_destroy (&buf);
    return sent;
}

//  Sessions

static void
s_login (req_t *req)
{
    json_t *body = s_body (req);
    if (!body)
        return;
    web_t *web = req->web;
    const char *token = json_string_value (json_object_get (body, "token"));
    session_t *session = NULL;
    char err[256] = "";
    int status = sessions_login (web->sessions, token, &session, err, sizeof (err));
    json_decref (body);
    if (status != 200) {
        web_respond_error (req, (unsigned) status, err);
        return;
    }
    json_t *reply = json_object ();
    json_object_set_new (reply, "name", json_string (session->name));
    json_object_set_new (reply, "expert", json_boolean (session->cert != NULL));
    json_object_set_new (reply, "csrf", json_string (session->csrf));
    web_respond_json (req, 200, reply);
    char cookie[200];
    snprintf (cookie, sizeof (cookie), "lh_session=%s; Path=/; HttpOnly; SameSite=Strict%s",
              session->id, web->config.secure_cookie ? "; Secure" : "");
    MHD_add_response_header (req->response, MHD_HTTP_HEADER_SET_COOKIE, cookie);
}

static void
s_logout (req_t *req)
{
    sessions_logout (req->web->sessions, req->session);
    req->session = NULL;
    web_respond_json (req, 200, json_object ());
    MHD_add_response_header (req->response, MHD_HTTP_HEADER_SET_COOKIE,
                             "lh_session=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0");
}

static void
s_session (req_t *req)
{
    json_t *reply = json_object ();
    json_object_set_new (reply, "name", json_string (req->session->name));
    json_object_set_new (reply, "expert", json_boolean (req->session->cert != NULL));
    json_object_set_new (reply, "csrf", json_string (req->session->csrf));
    web_respond_json (req, 200, reply);
}

//  Escalations

static void
s_escalations_done (req_t *req)
{
    const msgpack_object *root = web_call_result (req, 0);
    if (!root)
        return;
    json_t *reply = json_object ();
    json_t *list = jsonpack_to_value (codec_map_get (root, "escalations"));
    json_object_set_new (reply, "escalations", list ? list : json_array ());
    web_respond_json (req, 200, reply);
}

static void
s_escalations (req_t *req)
{
    req->finish = s_escalations_done;
    s_send_ops (req, req->web->client, "expert", "list", NULL, NULL, "limit", 1000);
}

//  The command as the validator's parser sees it: commands, wrappers,
//  words, redirections (what a reviewer needs to see through quoting)
static json_t *
s_parse (const char *command, const char *home)
{
    shell_opts_t opts = {.home = home};
    char err[256];
    shell_t *shell = shell_parse (command, strlen (command), &opts, err, sizeof (err));
    if (!shell) {
        json_t *failed = json_object ();
        json_object_set_new (failed, "parse_error", json_string (err));
        return failed;
    }
    static const char *redir_ops[] = {"<", ">", ">>", "<>", ">&", "<&", "&>", "<<", "<<<"};
    json_t *list = json_array ();
    for (size_t i = 0; i < shell_count (shell) && i < 256; i++) {
        const shell_cmd_t *cmd = shell_cmd (shell, i);
        json_t *item = json_object ();
        json_t *argv = json_array (), *wrappers = json_array (), *redirs = json_array ();
        bool dynamic = false;
        for (size_t a = 0; a < cmd->argc; a++) {
            json_array_append_new (argv, json_string (cmd->argv[a].text));
            dynamic = dynamic || cmd->argv[a].dynamic;
        }
        for (size_t w = 0; w < cmd->wrappers_count; w++)
            json_array_append_new (wrappers, json_string (cmd->wrappers[w]));
        for (size_t r = 0; r < cmd->redirs_count; r++) {
            json_t *redir = json_object ();
            json_object_set_new (redir, "op", json_string (redir_ops[cmd->redirs[r].kind]));
            json_object_set_new (redir, "fd", json_integer (cmd->redirs[r].fd));
            json_object_set_new (redir, "target", json_string (cmd->redirs[r].target.text));
            json_array_append_new (redirs, redir);
        }
        json_object_set_new (item, "argv", argv);
        json_object_set_new (item, "wrappers", wrappers);
        json_object_set_new (item, "redirects", redirs);
        json_object_set_new (item, "dynamic", json_boolean (dynamic));
        json_object_set_new (item, "background", json_boolean (cmd->background));
        json_array_append_new (list, item);
    }
    shell_destroy (&shell);
    json_t *parsed = json_object ();
    json_object_set_new (parsed, "parse", list);
    return parsed;
}

//  The escalation with the agent's last decisions from the log; without
//  them (the log did not answer) it is shown anyway
static void
s_recent_done (req_t *req)
{
    json_t *reply = req->partial;
    req->partial = NULL;
    call_t *call = &req->calls[req->ncalls - 1];
    const msgpack_object *root = req->ncalls > 1 && call->reply && lh_reply_ok (call->reply)
                                     ? lh_reply_root (call->reply)
                                     : NULL;
    const msgpack_object *events = codec_map_get (root, "events");
    json_t *recent = json_object_get (reply, "recent");
    uint32_t count = events && events->type == MSGPACK_OBJECT_ARRAY ? events->via.array.size : 0;
    for (uint32_t i = count > RECENT_DECISIONS ? count - RECENT_DECISIONS : 0; i < count; i++) {
        json_t *data = jsonpack_to_value (codec_map_get (&events->via.array.ptr[i], "data"));
        if (json_is_object (data))
            json_array_append (recent, data);
        json_decref (data);
    }
    if (!root)
        json_object_set_new (reply, "recent_error", json_string ("the log did not answer"));
    //  The log is a moment behind the decisions: what the feed heard since
    //  its last one follows (same time_ms in a notice and its event)
    json_int_t last = 0;
    size_t size = json_array_size (recent);
    if (size)
        last = json_integer_value (json_object_get (json_array_get (recent, size - 1), "time_ms"));
    const char *agent =
        json_string_value (json_object_get (json_object_get (reply, "escalation"), "agent"));
    json_t *heard =
        agent ? feed_decisions (req->web->feed, agent, NULL, NULL, RECENT_DECISIONS) : NULL;
    json_t *item;
    size_t i;
    json_array_foreach (json_object_get (heard, "decisions"), i, item)
    {
        if (json_integer_value (json_object_get (item, "time_ms")) > last)
            json_array_append (recent, item);
    }
    json_decref (heard);
    while (json_array_size (recent) > RECENT_DECISIONS)
        json_array_remove (recent, 0);
    web_respond_json (req, 200, reply);
}

static void
s_escalation_done (req_t *req)
{
    const msgpack_object *root = web_call_result (req, 0);
    if (!root)
        return;
    const msgpack_object *escalation = codec_map_get (root, "escalation");
    json_t *reply = json_object ();
    json_t *json = jsonpack_to_value (escalation);
    json_object_set_new (reply, "escalation", json ? json : json_null ());
    const msgpack_object *request = codec_map_get (escalation, "request");
    const msgpack_object *command = codec_map_get (codec_map_get (request, "input"), "command");
    char home[1024] = "";
    codec_str_copy (codec_map_get (request, "home"), home, sizeof (home));
    if (command && command->type == MSGPACK_OBJECT_STR && command->via.str.size < 65536) {
        char *text = strndup (command->via.str.ptr, command->via.str.size);
        json_t *parsed = s_parse (text, home[0] ? home : NULL);
        json_object_update (reply, parsed);
        json_decref (parsed);
        free (text);
    }
    char agent[LH_MAX_AGENT + 1] = "";
    codec_str_copy (codec_map_get (escalation, "agent"), agent, sizeof (agent));
    const msgpack_object *waiting = codec_map_get (escalation, "waiting_ms");
    int64_t waited = waiting && waiting->type == MSGPACK_OBJECT_POSITIVE_INTEGER
                         ? (int64_t) waiting->via.u64
                         : 0;
    json_object_set_new (reply, "recent", json_array ());
    req->partial = reply;
    if (!agent[0]) {
        s_recent_done (req);
        return;
    }
    //  The agent's decisions from the log (the record, not what the
    //  console happened to hear) in the minutes before it asked
    int64_t since = (zclock_time () - waited - RECENT_WINDOW_MS) * 1000000;
    codec_buf_t buf;
    codec_buf_init (&buf);
    msgpack_pack_map (&buf.pk, 5);
    codec_pack_kv_str (&buf.pk, "op", "query");
    codec_pack_kv_str (&buf.pk, "agent", agent);
    codec_pack_kv_str (&buf.pk, "type", "validation.decision");
    codec_pack_kv_i64 (&buf.pk, "since", since > 0 ? since : 0);
    codec_pack_kv_u64 (&buf.pk, "limit", 1000);
    req->finish = s_recent_done;
    web_call (req, req->web->client, "events.read", buf.sbuf.data, buf.sbuf.size);
    codec_buf_destroy (&buf);
}

static void
s_escalation (req_t *req, const char *name)
{
    if (!s_name_ok (name)) {
        web_respond_error (req, 404, "no such escalation");
        return;
    }
    req->finish = s_escalation_done;
    s_send_ops (req, req->web->client, "expert", "show",
                strlen (name) == 32 ? "escalation" : "code", name, NULL, 0);
}

static void
s_decide_done (req_t *req)
{
    const msgpack_object *root = web_call_result (req, 0);
    if (!root)
        return;
    json_t *reply = jsonpack_to_value (root);
    if (reply) {
        json_object_del (reply, "id");
        json_object_del (reply, "ok");
    }
    lh_info ("verdict given", "reviewer=%s escalation=%s", req->session ? req->session->name : "-",
             req->arg);
    web_respond_json (req, 200, reply ? reply : json_object ());
}

static void
s_decide (req_t *req, const char *name)
{
    web_t *web = req->web;
    if (!s_name_ok (name)) {
        web_respond_error (req, 404, "no such escalation");
        return;
    }
    lh_client_t *client = web_session_client (web, req->session);
    if (!client) {
        web_respond_error (req, 403, "your token has no expert key: you can look, not decide");
        return;
    }
    json_t *body = s_body (req);
    if (!body)
        return;
    const char *decision = json_string_value (json_object_get (body, "decision"));
    json_t *reason = json_object_get (body, "reason");
    json_t *scope = json_object_get (body, "scope");
    json_t *ttl = json_object_get (body, "ttl");
    const char *why = NULL;
    if (!decision || (!streq (decision, "allow") && !streq (decision, "deny")))
        why = "decision is allow or deny";
    else if (reason && !json_is_null (reason) &&
             (!json_is_string (reason) || json_string_length (reason) > MAX_REASON))
        why = "reason is a string of at most 1024 bytes";
    else if (scope && !json_is_null (scope) &&
             (!json_is_string (scope) || (!streq (json_string_value (scope), "once") &&
                                          !streq (json_string_value (scope), "session") &&
                                          !streq (json_string_value (scope), "agent") &&
                                          !streq (json_string_value (scope), "global"))))
        why = "scope is once, session, agent or global";
    else if (ttl && !json_is_null (ttl) &&
             (!json_is_integer (ttl) || json_integer_value (ttl) < 1 ||
              json_integer_value (ttl) > MAX_TTL_S))
        why = "ttl is a whole number of seconds, 1 to 30 days";
    if (why) {
        json_decref (body);
        web->n.bad_requests++;
        web_respond_error (req, 400, why);
        return;
    }
    bool has_reason = json_is_string (reason) && json_string_length (reason) > 0;
    bool has_scope = json_is_string (scope);
    bool has_ttl = json_is_integer (ttl);
    codec_buf_t buf;
    codec_buf_init (&buf);
    msgpack_pack_map (&buf.pk, 3 + has_reason + has_scope + has_ttl);
    codec_pack_kv_str (&buf.pk, "op", "decide");
    codec_pack_kv_str (&buf.pk, strlen (name) == 32 ? "escalation" : "code", name);
    codec_pack_kv_str (&buf.pk, "decision", decision);
    if (has_reason)
        codec_pack_kv_str (&buf.pk, "reason", json_string_value (reason));
    if (has_scope)
        codec_pack_kv_str (&buf.pk, "scope", json_string_value (scope));
    if (has_ttl)
        codec_pack_kv_i64 (&buf.pk, "ttl", (int64_t) json_integer_value (ttl));
    json_decref (body);
    snprintf (req->arg, sizeof (req->arg), "%s", name);
    req->finish = s_decide_done;
    //  As the reviewer's own key: lh-expert records the reviewer, not lh-web
    if (web_call (req, client, "expert", buf.sbuf.data, buf.sbuf.size))
        web->n.decides++;
    codec_buf_destroy (&buf);
}

//  The log

static void
s_log_done (req_t *req)
{
    const msgpack_object *status = web_call_result (req, 0);
    if (!status)
        return;
    json_t *reply = jsonpack_to_value (codec_map_get (status, "status"));
    if (!reply)
        reply = json_object ();
    //  An empty log has no checkpoint yet: that is not an error here
    call_t *checkpoint = &req->calls[1];
    const msgpack_object *root = checkpoint->reply && lh_reply_ok (checkpoint->reply)
                                     ? lh_reply_root (checkpoint->reply)
                                     : NULL;
    json_t *note = jsonpack_to_value (codec_map_get (root, "checkpoint"));
    json_object_set_new (reply, "checkpoint", note ? note : json_null ());
    json_object_del (reply, "root"); //  the page reads the root from the signed note
    json_object_set_new (reply, "replicas", feed_replicas (req->web->feed));
    json_object_set_new (reply, "alerts", feed_alerts (req->web->feed));
    web_respond_json (req, 200, reply);
}

static void
s_log (req_t *req)
{
    req->finish = s_log_done;
    if (s_send_ops (req, req->web->client, "events.read", "status", NULL, NULL, NULL, 0))
        s_send_ops (req, req->web->client, "events.read", "checkpoint", NULL, NULL, NULL, 0);
}

static json_t *
s_base64 (const msgpack_object *bin)
{
    if (!bin || bin->type != MSGPACK_OBJECT_BIN)
        return json_null ();
    size_t size = sodium_base64_encoded_len (bin->via.bin.size, sodium_base64_VARIANT_ORIGINAL);
    char *text = (char *) malloc (size);
    assert (text);
    sodium_bin2base64 (text, size, (const unsigned char *) bin->via.bin.ptr, bin->via.bin.size,
                       sodium_base64_VARIANT_ORIGINAL);
    json_t *json = json_string (text);
    free (text);
    return json;
}

static void
s_event_done (req_t *req)
{
    const msgpack_object *got = web_call_result (req, 0);
    if (!got)
        return;
    const msgpack_object *proof = web_call_result (req, 1);
    if (!proof)
        return;
    const msgpack_object *raw = codec_map_get (got, "event");
    if (!raw || raw->type != MSGPACK_OBJECT_BIN) {
        web_respond_error (req, 502, "the replica sent no raw event");
        return;
    }
    json_t *reply = json_object ();
    msgpack_unpacked leaf;
    msgpack_unpacked_init (&leaf);
    json_t *event = NULL;
    if (msgpack_unpack_next (&leaf, raw->via.bin.ptr, raw->via.bin.size, NULL) ==
        MSGPACK_UNPACK_SUCCESS)
        event = jsonpack_to_value (&leaf.data);
    msgpack_unpacked_destroy (&leaf);
    json_object_set_new (reply, "event", event ? event : json_null ());
    json_object_set_new (reply, "raw", s_base64 (raw));
    json_t *p = json_object ();
    const msgpack_object *seq = codec_map_get (proof, "seq");
    const msgpack_object *size = codec_map_get (proof, "size");
    json_object_set_new (p, "seq", json_integer (seq ? (json_int_t) seq->via.u64 : -1));
    json_object_set_new (p, "size", json_integer (size ? (json_int_t) size->via.u64 : -1));
    json_object_set_new (p, "leaf_hash", s_base64 (codec_map_get (proof, "leaf_hash")));
    json_t *path = json_array ();
    const msgpack_object *list = codec_map_get (proof, "proof");
    for (uint32_t i = 0; list && list->type == MSGPACK_OBJECT_ARRAY && i < list->via.array.size;
         i++)
        json_array_append_new (path, s_base64 (&list->via.array.ptr[i]));
    json_object_set_new (p, "proof", path);
    json_t *note = jsonpack_to_value (codec_map_get (proof, "checkpoint"));
    json_object_set_new (p, "checkpoint", note ? note : json_null ());
    json_object_set_new (reply, "proof", p);
    web_respond_json (req, 200, reply);
}

static void
s_event (req_t *req, const char *text)
{
    char *end = NULL;
    errno = 0;
    unsigned long long seq = strtoull (text, &end, 10);
    if (!*text || !isdigit ((unsigned char) text[0]) || !end || *end || errno) {
        web_respond_error (req, 400, "seq is a whole number");
        return;
    }
    req->finish = s_event_done;
    codec_buf_t buf;
    codec_buf_init (&buf);
    msgpack_pack_map (&buf.pk, 3);
    codec_pack_kv_str (&buf.pk, "op", "get");
    codec_pack_kv_u64 (&buf.pk, "seq", seq);
    codec_pack_kv_bool (&buf.pk, "raw", true);
    bool sent = web_call (req, req->web->client, "events.read", buf.sbuf.data, buf.sbuf.size);
    codec_buf_destroy (&buf);
    if (sent)
        s_send_ops (req, req->web->client, "events.read", "proof", NULL, NULL, "seq", seq);
}

//  The replicas' verifier keys, one per line, for the page's own check
static void
s_keys (req_t *req)
{
    json_t *keys = json_array ();
    FILE *file = req->web->config.keys_path ? fopen (req->web->config.keys_path, "r") : NULL;
    char line[512];
    while (file && fgets (line, sizeof (line), file) && json_array_size (keys) < 16) {
        line[strcspn (line, "\r\n")] = 0;
        json_t *key = line[0] && line[0] != '#' ? json_string (line) : NULL; //  NULL: not UTF-8
        if (key)
            json_array_append_new (keys, key);
    }
    if (file)
        fclose (file);
    json_t *reply = json_object ();
    json_object_set_new (reply, "keys", keys);
    web_respond_json (req, 200, reply);
}

//  The cluster: each broker's stats, then each node service's own

static const char *s_node_services[] = {"validate", "expert", "cache"};
#define NODE_SERVICES 3

static void
s_cluster_done (req_t *req)
{
    web_t *web = req->web;
    json_t *reply = json_object ();
    json_t *brokers = json_array ();
    zlistx_t *endpoints = web->endpoints;
    const char *ep = (const char *) zlistx_first (endpoints);
    size_t i = 0;
    for (; i < web->nbrokers && i < (size_t) req->ncalls;
         i++, ep = (const char *) zlistx_next (endpoints)) {
        call_t *call = &req->calls[i];
        json_t *item = call->reply && lh_reply_ok (call->reply)
                           ? jsonpack_to_value (lh_reply_root (call->reply))
                           : NULL;
        if (item) {
            json_object_del (item, "id");
            json_object_set_new (item, "ok", json_true ());
            //  Its name and age where a page looks first
            json_t *broker = json_object_get (item, "broker");
            json_object_set (item, "name", json_object_get (broker, "name"));
            json_object_set (item, "uptime_ms", json_object_get (broker, "uptime_ms"));
        } else {
            item = json_object ();
            json_object_set_new (item, "ok", json_false ());
            json_object_set_new (
                item, "error",
                json_string (call->reply ? lh_reply_message (call->reply) : "no answer"));
        }
        json_object_set_new (item, "endpoint", json_string (ep ? ep : ""));
        json_array_append_new (brokers, item);
    }
    json_object_set_new (reply, "brokers", brokers);
    json_t *nodes = json_object ();
    for (size_t k = 0; k < NODE_SERVICES && i + k < (size_t) req->ncalls; k++) {
        call_t *call = &req->calls[i + k];
        json_t *item = call->reply && lh_reply_ok (call->reply)
                           ? jsonpack_to_value (lh_reply_root (call->reply))
                           : NULL;
        if (item) {
            json_object_del (item, "id");
            json_object_del (item, "ok");
            json_object_set_new (nodes, s_node_services[k], item);
        }
    }
    json_object_set_new (reply, "nodes", nodes);
    web_respond_json (req, 200, reply);
}

static void
s_cluster (req_t *req)
{
    web_t *web = req->web;
    req->finish = s_cluster_done;
    static const uint8_t empty[] = {0x80}; //  {}
    for (size_t i = 0; i < web->nbrokers; i++)
        if (!web->brokers[i] || !web_call (req, web->brokers[i], "broker.stats", empty, 1))
            return;
    for (size_t k = 0; k < NODE_SERVICES; k++)
        if (!s_send_ops (req, web->client, s_node_services[k], "stats", NULL, NULL, NULL, 0))
            return;
}

//  Drill reports: the files of one directory

static void
s_drills (req_t *req)
{
    json_t *list = json_array ();
    const char *dir = req->web->config.drills_dir;
    DIR *d = dir ? opendir (dir) : NULL;
    struct dirent *entry;
    while (d && (entry = readdir (d)) && json_array_size (list) < 500) {
        if (entry->d_name[0] == '.')
            continue;
        struct stat st;
        char path[4096];
        snprintf (path, sizeof (path), "%s/%s", dir, entry->d_name);
        if (lstat (path, &st) != 0 || !S_ISREG (st.st_mode))
            continue;
        json_t *item = json_object ();
        json_object_set_new (item, "name", json_string (entry->d_name));
        json_object_set_new (item, "size", json_integer ((json_int_t) st.st_size));
        json_object_set_new (item, "mtime", json_integer ((json_int_t) st.st_mtime));
        if (json_object_get (item, "name"))
            json_array_append_new (list, item);
        else
            json_decref (item); //  not UTF-8: not a report of ours
    }
    if (d)
        closedir (d);
    json_t *reply = json_object ();
    json_object_set_new (reply, "drills", list);
    web_respond_json (req, 200, reply);
}

//  lh-web's own counters (as /metrics has them)
static void
s_stats (req_t *req)
{
    codec_buf_t buf;
    codec_buf_init (&buf);
    web_counters_pack (req->web, &buf.pk);
    msgpack_unpacked counters;
    msgpack_unpacked_init (&counters);
    json_t *json = NULL;
    if (msgpack_unpack_next (&counters, buf.sbuf.data, buf.sbuf.size, NULL) ==
        MSGPACK_UNPACK_SUCCESS)
        json = jsonpack_to_value (&counters.data);
    msgpack_unpacked_destroy (&counters);
    codec_buf_destroy (&buf);
    json_t *reply = json_object ();
    json_object_set_new (reply, "counters", json ? json : json_object ());
    web_respond_json (req, 200, reply);
}

//  Routing: path is what follows /api

static bool
s_prefix (const char *path, const char *prefix, const char **rest)
{
    size_t len = strlen (prefix);
    if (strncmp (path, prefix, len) != 0)
        return false;
    *rest = path + len;
    return true;
}

bool
api_route (req_t *req, const char *path)
{
    web_t *web = req->web;
    bool get = !streq (req->method, "POST");
    const char *rest = NULL;
    if (streq (path, "/login") && !get)
        s_login (req);
    else if (streq (path, "/logout") && !get)
        s_logout (req);
    else if (streq (path, "/session") && get)
        s_session (req);
    else if (streq (path, "/stream") && get)
        web_open_stream (req, s_arg (req, "agent"), s_arg (req, "decision"), s_arg (req, "rule"));
    else if (streq (path, "/decisions") && get) {
        const char *limit = s_arg (req, "limit");
        long n = limit ? strtol (limit, NULL, 10) : 100;
        n = n < 1 ? 1 : n > 1000 ? 1000 : n;
        web_respond_json (req, 200,
                          feed_decisions (web->feed, s_arg (req, "agent"), s_arg (req, "decision"),
                                          s_arg (req, "rule"), (size_t) n));
    } else if (streq (path, "/stats") && get)
        s_stats (req);
    else if (streq (path, "/rates") && get)
        web_respond_json (req, 200, feed_rates (web->feed));
    else if (streq (path, "/escalations") && get)
        s_escalations (req);
    else if (s_prefix (path, "/escalations/", &rest)) {
        const char *slash = strchr (rest, '/');
        char name[WEB_ARG_SIZE];
        size_t len = slash ? (size_t) (slash - rest) : strlen (rest);
        if (len >= sizeof (name))
            len = 0;
        memcpy (name, rest, len);
        name[len] = 0;
        if (!slash && get)
            s_escalation (req, name);
        else if (slash && streq (slash, "/decide") && !get)
            s_decide (req, name);
        else
            return false;
    } else if (streq (path, "/log") && get)
        s_log (req);
    else if (streq (path, "/log/keys") && get)
        s_keys (req);
    else if (s_prefix (path, "/log/event/", &rest) && get)
        s_event (req, rest);
    else if (streq (path, "/cluster") && get)
        s_cluster (req);
    else if (streq (path, "/drills") && get)
        s_drills (req);
    else if (s_prefix (path, "/drills/", &rest) && get)
        web_serve_file (req, web->config.drills_dir, rest, true);
    else
        return false;
    return true;
}
