/*  lh validate, lh hook, lh policy -- asking Lighthouse before a tool runs. */
#include "lh_cli.h"

#include "codec.h"
#include "jsonpack.h"
#include "policy.h"

#include <jansson.h>
#include <unistd.h>

#define HOOK_MAX_INPUT (4 * 1024 * 1024)

int
cli_load_env (const char *path)
{
    FILE *file = fopen (path, "r");
    if (!file) {
        fprintf (stderr, "lh: cannot read %s\n", path);
        return -1;
    }
    char line[8192];
    while (fgets (line, sizeof (line), file)) {
        char *text = line;
        text[strcspn (text, "\r\n")] = 0;
        if (strncmp (text, "export ", 7) == 0)
            text += 7;
        char *eq = strchr (text, '=');
        if (*text == '#' || !eq || eq == text)
            continue;
        *eq = 0;
        char *value = eq + 1;
        size_t len = strlen (value);
        if (len >= 2 && (value[0] == '\'' || value[0] == '"') && value[len - 1] == value[0]) {
            value[len - 1] = 0;
            value++;
        }
        //  PATH lines reference $PATH: lh needs no PATH of its own
        if (!streq (text, "PATH"))
            setenv (text, value, 1);
    }
    fclose (file);
    return 0;
}

//  Builds the validate request body (without id) for tool + input.
static void
s_pack_request (codec_buf_t *buf, const char *tool, const msgpack_object *input, const char *cwd)
{
    const char *home = getenv ("HOME");
    const char *project = getenv ("CLAUDE_PROJECT_DIR");
    if (!project || !*project)
        project = getenv ("LH_PROJECT");
    size_t pairs = 3 + (home && *home) + (project && *project);
    msgpack_pack_map (&buf->pk, pairs);
    codec_pack_str (&buf->pk, "tool");
    codec_pack_str (&buf->pk, tool);
    codec_pack_str (&buf->pk, "input");
    msgpack_pack_object (&buf->pk, *input);
    codec_pack_str (&buf->pk, "cwd");
    codec_pack_str (&buf->pk, cwd);
    if (home && *home) {
        codec_pack_str (&buf->pk, "home");
        codec_pack_str (&buf->pk, home);
    }
    if (project && *project) {
        codec_pack_str (&buf->pk, "project");
        codec_pack_str (&buf->pk, project);
    }
}

static const char *
s_field (const lh_reply_t *reply, const char *key, char *buf, size_t size)
{
    if (!codec_str_copy (codec_map_get (lh_reply_root (reply), key), buf, size))
        snprintf (buf, size, "-");
    return buf;
}

//  --------------------------------------------------------------------------
//  lh validate

int
cli_validate (cli_t *cli, int argc, char **argv)
{
    const char *tool = NULL, *command = NULL, *input_json = NULL, *cwd = NULL;
    bool json = false;
    for (int i = 1; i < argc; i++) {
        if (streq (argv[i], "--json"))
            json = true;
        else if (i + 1 < argc && streq (argv[i], "--tool"))
            tool = argv[++i];
        else if (i + 1 < argc && streq (argv[i], "--command"))
            command = argv[++i];
        else if (i + 1 < argc && streq (argv[i], "--input"))
            input_json = argv[++i];
        else if (i + 1 < argc && streq (argv[i], "--cwd"))
            cwd = argv[++i];
        else
            return cli_usage_error ("validate: unexpected argument");
    }
    if (!tool || (!command && !input_json) || (command && input_json))
        return cli_usage_error ("validate: --tool and one of --command or --input are required");

    //  The input map: {"command": CMD} or the JSON given
    codec_buf_t input;
    codec_buf_init (&input);
    char why[256];
    if (command) {
        msgpack_pack_map (&input.pk, 1);
        codec_pack_str (&input.pk, "command");
        codec_pack_str (&input.pk, command);
    } else if (jsonpack_from_json (input_json, strlen (input_json), &input.sbuf, why,
                                   sizeof (why)) != 0) {
        codec_buf_destroy (&input);
        fprintf (stderr, "lh validate: --input: %s\n", why);
        return 1;
    }
    msgpack_zone zone;
    msgpack_zone_init (&zone, 1024);
    msgpack_object object;
    size_t offset = 0;
    msgpack_unpack (input.sbuf.data, input.sbuf.size, &offset, &zone, &object);
    if (object.type != MSGPACK_OBJECT_MAP) {
        msgpack_zone_destroy (&zone);
        codec_buf_destroy (&input);
        fprintf (stderr, "lh validate: --input must be a JSON object\n");
        return 1;
    }
    char here[4096];
    if (!cwd)
        cwd = getcwd (here, sizeof (here)) ? here : "/";
    codec_buf_t body;
    codec_buf_init (&body);
    s_pack_request (&body, tool, &object, cwd);
    msgpack_zone_destroy (&zone);
    codec_buf_destroy (&input);

    int rc = 1;
    lh_client_t *client = cli_client (cli);
    lh_reply_t *reply =
        client ? lh_client_call (client, "validate", body.sbuf.data, body.sbuf.size) : NULL;
    codec_buf_destroy (&body);
    if (reply && lh_reply_ok (reply)) {
        char decision[16], rule[64], reason[256], risk[16], capability[32];
        s_field (reply, "decision", decision, sizeof (decision));
        if (json) {
            char *text = jsonpack_to_json (lh_reply_root (reply), true);
            printf ("%s\n", text ? text : "null");
            free (text);
        } else {
            const msgpack_object *cached = codec_map_get (lh_reply_root (reply), "cached");
            printf ("%s", decision);
            if (streq (decision, "escalate"))
                printf (" to %s", s_field (reply, "capability", capability, sizeof (capability)));
            printf ("\n  rule    %s\n  reason  %s\n  risk    %s\n  cached  %s\n",
                    s_field (reply, "rule", rule, sizeof (rule)),
                    s_field (reply, "reason", reason, sizeof (reason)),
                    s_field (reply, "risk", risk, sizeof (risk)),
                    cached && cached->type == MSGPACK_OBJECT_BOOLEAN && cached->via.boolean ? "yes"
                                                                                            : "no");
        }
        rc = streq (decision, "allow") ? 0 : streq (decision, "deny") ? 2 : 3;
    } else if (reply)
        cli_print_error (reply);
    lh_reply_destroy (&reply);
    lh_client_destroy (&client);
    return rc;
}

//  --------------------------------------------------------------------------
//  lh hook: the Claude Code PreToolUse contract

//  Tools that can change nothing; when Lighthouse is silent they fall back
//  to asking the user, every other tool is denied.
static bool
s_read_only_tool (const char *tool)
{
    static const char *read_only[] = {"Read",      "Glob",      "Grep",         "LS",
                                      "WebSearch", "TodoWrite", "ExitPlanMode", "NotebookRead"};
    for (size_t i = 0; i < sizeof (read_only) / sizeof (read_only[0]); i++)
        if (streq (tool, read_only[i]))
            return true;
    return false;
}

//  Prints the hook's answer; returns the exit status (2 blocks).
static int
s_hook_answer (const char *decision, const char *reason)
{
    json_t *out =
        json_pack ("{s:{s:s,s:s,s:s}}", "hookSpecificOutput", "hookEventName", "PreToolUse",
                   "permissionDecision", decision, "permissionDecisionReason", reason);
    char *text = json_dumps (out, JSON_COMPACT);
    printf ("%s\n", text ? text : "{}");
    free (text);
    json_decref (out);
    if (streq (decision, "deny")) {
        fprintf (stderr, "%s\n", reason);
        return 2;
    }
    return 0;
}

static char *
s_read_stdin (size_t *size)
{
    size_t capacity = 65536, used = 0;
    char *data = malloc (capacity);
    size_t n;
    while (data && (n = fread (data + used, 1, capacity - used, stdin)) > 0) {
        used += n;
        if (used == capacity) {
            if (capacity >= HOOK_MAX_INPUT) {
                free (data);
                return NULL;
            }
            char *bigger = realloc (data, capacity * 2);
            if (!bigger)
                free (data);
            data = bigger;
            capacity *= 2;
        }
    }
    *size = used;
    return data;
}

int
cli_hook (cli_t *cli, int argc, char **argv)
{
    (void) argv;
    if (argc > 1)
        return cli_usage_error ("hook: takes no arguments (it reads the hook JSON on stdin)");
    const char *timeout = getenv ("LH_HOOK_TIMEOUT_MS");
    int timeout_ms = timeout && atoi (timeout) > 0 ? atoi (timeout) : 2000;

    size_t size = 0;
    char *text = s_read_stdin (&size);
    json_error_t error;
    json_t *hook = text ? json_loadb (text, size, JSON_REJECT_DUPLICATES, &error) : NULL;
    free (text);
    const char *tool = json_string_value (json_object_get (hook, "tool_name"));
    json_t *input = json_object_get (hook, "tool_input");
    const char *cwd = json_string_value (json_object_get (hook, "cwd"));
    if (!tool || !json_is_object (input)) {
        json_decref (hook);
        return s_hook_answer ("deny", "Lighthouse: the hook input is not PreToolUse JSON with "
                                      "tool_name and tool_input; failing closed");
    }
    char reason[512];
    codec_buf_t in;
    codec_buf_init (&in);
    char *input_text = json_dumps (input, JSON_COMPACT | JSON_ENCODE_ANY);
    char why[256];
    int rc = input_text
                 ? jsonpack_from_json (input_text, strlen (input_text), &in.sbuf, why, sizeof (why))
                 : -1;
    free (input_text);
    msgpack_zone zone;
    msgpack_zone_init (&zone, 1024);
    msgpack_object object;
    size_t offset = 0;
    if (rc == 0)
        msgpack_unpack (in.sbuf.data, in.sbuf.size, &offset, &zone, &object);
    codec_buf_t body;
    codec_buf_init (&body);
    if (rc == 0)
        s_pack_request (&body, tool, &object, cwd && cwd[0] == '/' ? cwd : "/");
    msgpack_zone_destroy (&zone);
    codec_buf_destroy (&in);

    lh_client_t *client = NULL;
    lh_reply_t *reply = NULL;
    if (rc == 0) {
        cli->timeout_ms = timeout_ms;
        client = cli_client (cli);
        if (client) {
            lh_client_set_retries (client, 0);
            reply = lh_client_call (client, "validate", body.sbuf.data, body.sbuf.size);
        }
    }
    codec_buf_destroy (&body);
    int status;
    if (reply && lh_reply_ok (reply)) {
        char decision[16], rule[64], text_reason[256];
        s_field (reply, "decision", decision, sizeof (decision));
        snprintf (reason, sizeof (reason), "Lighthouse %s (rule %s): %s", decision,
                  s_field (reply, "rule", rule, sizeof (rule)),
                  s_field (reply, "reason", text_reason, sizeof (text_reason)));
        status = s_hook_answer (streq (decision, "allow")      ? "allow"
                                : streq (decision, "escalate") ? "ask"
                                                               : "deny",
                                reason);
    } else {
        //  No answer: fail closed for anything that can change the machine
        const char *what = reply ? lh_reply_message (reply) : "could not build the request";
        bool read_only = s_read_only_tool (tool);
        snprintf (reason, sizeof (reason), "Lighthouse did not decide within %d ms (%s); %s for %s",
                  timeout_ms, what, read_only ? "asking you" : "failing closed", tool);
        status = s_hook_answer (read_only ? "ask" : "deny", reason);
    }
    lh_reply_destroy (&reply);
    lh_client_destroy (&client);
    json_decref (hook);
    return status;
}

//  --------------------------------------------------------------------------
//  lh policy

int
cli_policy (cli_t *cli, int argc, char **argv)
{
    if (argc == 3 && streq (argv[1], "check")) {
        char err[1024];
        policy_t *policy = policy_load (argv[2], err, sizeof (err));
        if (!policy) {
            fprintf (stderr, "%s\n", err);
            return 1;
        }
        printf ("%s: ok, version %s, %zu rules\n", argv[2], policy_version (policy),
                policy_rule_count (policy));
        policy_destroy (&policy);
        return 0;
    }
    if (argc == 2 && streq (argv[1], "reload")) {
        static const char body[] = "{\"topic\":\"control.validate\",\"data\":{\"op\":\"reload\"}}";
        codec_buf_t buf;
        codec_buf_init (&buf);
        char why[256];
        jsonpack_from_json (body, strlen (body), &buf.sbuf, why, sizeof (why));
        lh_client_t *client = cli_client (cli);
        lh_reply_t *reply =
            client ? lh_client_call (client, "broker.announce", buf.sbuf.data, buf.sbuf.size)
                   : NULL;
        codec_buf_destroy (&buf);
        int rc = 1;
        if (reply && lh_reply_ok (reply)) {
            printf ("reload announced to every validator (each logs the version it loads)\n");
            rc = 0;
        } else if (reply)
            cli_print_error (reply);
        lh_reply_destroy (&reply);
        lh_client_destroy (&client);
        return rc;
    }
    return cli_usage_error ("policy: 'check FILE' or 'reload'");
}
