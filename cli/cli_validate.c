/*  lh validate, lh hook, lh policy -- asking Lighthouse before a tool runs.

    The hook's flow, and the request both commands pack, are in hook/.
*/
#include "cli.h"
#include "hook.h"

#include "codec.h"
#include "jsonpack.h"
#include "policy.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <signal.h>
#include <sodium.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

//  --------------------------------------------------------------------------
//  lh validate

const char cli_validate_usage[] =
    "Usage: lh validate --tool TOOL (--command CMD | --input JSON | --input @FILE)\n"
    "                   [--cwd DIR] [--wait MS] [--json]\n"
    "\n"
    "Asks the validate service for a decision on one tool call, as an agent would.\n"
    "With --wait (1 to 600000 ms), a call the policy escalates waits that long for an\n"
    "expert's verdict; without one by then it is denied, and the reason carries an\n"
    "approval code (lh approve CODE; the retry is then allowed). The reply's \"by\" says\n"
    "who decided: policy, cache (a remembered verdict) or expert:NAME.\n"
    "--command CMD is the input {\"command\": CMD}; --input is the tool's input, a JSON\n"
    "object (inline, or read from FILE, at most 16 MiB). An input whose encoding is over\n"
    "512 KiB (LH_MAX_BODY / 2) is sent with its longest strings that the policy does not\n"
    "judge (all but command, file_path, notebook_path, path, url, query, pattern)\n"
    "replaced by \"[lighthouse: N bytes not sent, sha256 HEX]\", so a large Write is\n"
    "judged by its path. HOME, and CLAUDE_PROJECT_DIR or LH_PROJECT, when absolute, are\n"
    "sent as home and project; --cwd defaults to the current directory.\n"
    "\n"
    "Exit status:\n"
    "  0   allow\n"
    "  2   deny\n"
    "  3   escalate\n"
    "  4   defer (no opinion: the agent's own permission flow applies)\n"
    "  1   no decision: cannot connect, timeout, an error reply, a malformed reply or an\n"
    "      unknown decision, an input too large to send, a bad env file, key or certificate\n"
    "  64  usage: bad arguments, or an --input that is not a readable JSON object\n";

static int
cli_validate_usage_error (const char *message)
{
    fprintf (stderr, "lh validate: %s\n\n%s", message, cli_validate_usage);
    return CLI_EXIT_USAGE;
}

int
cli_validate (cli_t *cli, int argc, char **argv)
{
    const char *tool = NULL, *command = NULL, *input_text = NULL, *cwd = NULL;
    bool json = false;
    long wait_ms = 0;
    for (int i = 1; i < argc; i++) {
        if (streq (argv[i], "-h") || streq (argv[i], "--help")) {
            fputs (cli_validate_usage, stdout);
            return 0;
        } else if (streq (argv[i], "--json"))
            json = true;
        else if (i + 1 < argc && streq (argv[i], "--tool"))
            tool = argv[++i];
        else if (i + 1 < argc && streq (argv[i], "--command"))
            command = argv[++i];
        else if (i + 1 < argc && streq (argv[i], "--input"))
            input_text = argv[++i];
        else if (i + 1 < argc && streq (argv[i], "--cwd"))
            cwd = argv[++i];
        else if (i + 1 < argc && streq (argv[i], "--wait")) {
            char *end = NULL;
            wait_ms = strtol (argv[++i], &end, 10);
            if (!end || *end || wait_ms < 1 || wait_ms > 600000)
                return cli_validate_usage_error ("--wait is 1 to 600000 ms");
        } else
            return cli_validate_usage_error ("unexpected argument");
    }
    if (!tool || (!command && !input_text) || (command && input_text))
        return cli_validate_usage_error ("--tool and one of --command or --input are required");

    //  The input: {"command": CMD}, the JSON given, or the JSON in a file
    json_t *input = NULL;
    char why[512];
    if (command) {
        input = json_pack ("{s:s}", "command", command);
        if (!input)
            return cli_validate_usage_error ("--command must be valid UTF-8");
    } else {
        size_t size = strlen (input_text);
        char *file_text = NULL;
        if (input_text[0] == '@') {
            int fd = open (input_text + 1, O_RDONLY | O_CLOEXEC);
            int error = errno;
            file_text = fd >= 0 ? hook_read_all (fd, HOOK_INPUT_READ_MAX, &size, &error) : NULL;
            if (fd >= 0)
                close (fd);
            if (!file_text) {
                snprintf (why, sizeof (why), "--input %s: %s", input_text,
                          error == EFBIG ? "larger than 16 MiB" : strerror (error));
                return cli_validate_usage_error (why);
            }
            input_text = file_text;
        }
        json_error_t error;
        input = json_loadb (input_text, size, JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL, &error);
        free (file_text);
        if (!input) {
            snprintf (why, sizeof (why), "--input: line %d column %d: %s", error.line, error.column,
                      error.text);
            return cli_validate_usage_error (why);
        }
    }
    if (!json_is_object (input)) {
        json_decref (input);
        return cli_validate_usage_error ("--input must be a JSON object");
    }
    char here[4096];
    if (!cwd)
        cwd = getcwd (here, sizeof (here)) ? here : "/";
    codec_buf_t body;
    codec_buf_init (&body);
    hook_request_t request = {
        .tool = tool, .cwd = cwd, .project_env = "CLAUDE_PROJECT_DIR", .wait_ms = (int) wait_ms};
    int replaced = 0;
    if (hook_pack_request (&body, &request, input, &replaced, why, sizeof (why)) != 0) {
        json_decref (input);
        codec_buf_destroy (&body);
        fprintf (stderr, "lh validate: no decision: %s\n", why);
        return 1;
    }
    json_decref (input);

    int rc = 1;
    lh_client_t *client = cli_client (cli);
    if (client && wait_ms > 0) {
        //  The wait is the server's; a resend would escalate the call twice
        lh_client_set_timeout (client, cli->timeout_ms + (int) wait_ms);
        lh_client_set_retries (client, 0);
    }
    lh_reply_t *reply =
        client ? lh_client_call (client, "validate", body.sbuf.data, body.sbuf.size) : NULL;
    codec_buf_destroy (&body);
    hook_decision_t decision =
        reply && lh_reply_ok (reply) ? hook_decision (lh_reply_root (reply)) : HOOK_DECISION_NONE;
    if (reply && lh_reply_ok (reply) && decision == HOOK_DECISION_NONE) {
        char value[64];
        fprintf (stderr, "lh validate: no decision: a reply without a known decision ('%s')\n",
                 hook_field (lh_reply_root (reply), "decision", value, sizeof (value)));
    } else if (reply && lh_reply_ok (reply)) {
        char name[16], rule[64], reason[1024], risk[16], capability[32];
        hook_field (lh_reply_root (reply), "decision", name, sizeof (name));
        if (json) {
            char *text = jsonpack_to_json (lh_reply_root (reply), true);
            printf ("%s\n", text ? text : "null");
            free (text);
        } else {
            const msgpack_object *cached = codec_map_get (lh_reply_root (reply), "cached");
            printf ("%s", name);
            if (decision == HOOK_DECISION_ESCALATE)
                printf (" to %s", hook_field (lh_reply_root (reply), "capability", capability,
                                              sizeof (capability)));
            char by[96], code[16];
            printf ("\n  by      %s", hook_field (lh_reply_root (reply), "by", by, sizeof (by)));
            if (codec_map_get (lh_reply_root (reply), "code"))
                printf ("\n  code    %s",
                        hook_field (lh_reply_root (reply), "code", code, sizeof (code)));
            printf ("\n  rule    %s\n  reason  %s\n  risk    %s\n  cached  %s\n",
                    hook_field (lh_reply_root (reply), "rule", rule, sizeof (rule)),
                    hook_field (lh_reply_root (reply), "reason", reason, sizeof (reason)),
                    hook_field (lh_reply_root (reply), "risk", risk, sizeof (risk)),
                    cached && cached->type == MSGPACK_OBJECT_BOOLEAN && cached->via.boolean ? "yes"
                                                                                            : "no");
            if (replaced > 0)
                printf ("  input   %d oversized field%s sent as size and SHA-256\n", replaced,
                        replaced == 1 ? "" : "s");
        }
        rc = decision == HOOK_DECISION_ALLOW      ? 0
             : decision == HOOK_DECISION_DENY     ? 2
             : decision == HOOK_DECISION_ESCALATE ? 3
                                                  : 4;
    } else if (reply)
        cli_print_error (reply);
    lh_reply_destroy (&reply);
    lh_client_destroy (&client);
    return rc;
}

//  --------------------------------------------------------------------------
//  lh hook: the flow is hook.c's; here it asks the brokers itself

int
cli_hook_main (int argc, char **argv)
{
    int status = hook_begin (&argc, argv, cli_command_index (argc, argv));
    if (status != HOOK_GO_ON) {
        hook_end ();
        return status;
    }
    //  Configuration: czmq first, then our signal handlers back
    zsys_init ();
    zsys_set_logsystem (false);
    zsys_handler_set (NULL);
    hook_signals_again ();
    cli_t cli;
    char err[1024];
    int command, timeout_ms, wait_ms;
    cli_setup_t setup = cli_setup (&cli, argc, argv, true, &command, err, sizeof (err));
    if (setup == CLI_SETUP_HELP)
        snprintf (err, sizeof (err), "--help before hook");
    status = setup != CLI_SETUP_OK
                 ? hook_fail (err)
                 : hook_deadline (cli.timeout_set ? cli.timeout_ms : 0, &timeout_ms, &wait_ms);
    if (status == HOOK_GO_ON && command + 1 < argc)
        status = hook_fail ("lh hook takes no arguments (it reads the hook JSON on stdin)");
    if (status == HOOK_GO_ON && cli.conn.server_key && !cli.conn.cert)
        status = hook_fail ("LH_BROKER_KEY is set but LH_CERT is not");
    codec_buf_t body;
    codec_buf_init (&body);
    if (status == HOOK_GO_ON)
        status = hook_request (&body, wait_ms);
    if (status == HOOK_GO_ON) {
        lh_client_t *client = lh_client_new (&cli.conn);
        lh_reply_t *reply = NULL;
        if (client) {
            lh_client_set_timeout (client, timeout_ms);
            lh_client_set_retries (client, 0);
            reply = lh_client_call (client, "validate", body.sbuf.data, body.sbuf.size);
        }
        if (!client)
            snprintf (err, sizeof (err), "cannot connect to %s", cli.conn.endpoint);
        status = !client  ? hook_fail (err)
                 : !reply ? hook_fail ("interrupted while waiting for validate")
                          : hook_verdict (lh_reply_code_name (reply), lh_reply_message (reply),
                                          lh_reply_root (reply));
        lh_reply_destroy (&reply);
        lh_client_destroy (&client);
    }
    codec_buf_destroy (&body);
    zcert_destroy (&cli.cert);
    hook_end ();
    return status;
}

//  --------------------------------------------------------------------------
//  lh policy

const char cli_policy_usage[] =
    "Usage: lh policy check FILE\n"
    "       lh policy reload\n"
    "\n"
    "check lints a policy file here (exit 1 naming the first error); reload tells\n"
    "every validator to load its policy file again (each logs the version it loads;\n"
    "an admin key is needed). The policy language: docs/POLICY.md.\n";

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
