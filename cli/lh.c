/*  lh -- the Lighthouse command line.

    Connection settings come from the environment (. run/env sets them) or
    from --broker, --broker-key and --cert before the command.
*/
#include "cli.h"

#include "lh_dispatch.h"
#include "lighthouse.h"

#include "codec.h"
#include "jsonpack.h"

#include <ctype.h>
#include <errno.h>
#include <jansson.h>
#include <sodium.h>
#include <sys/stat.h>

static const char s_usage[] =
    "Usage: lh [--broker EP] [--broker-key Z85] [--cert FILE] [--timeout MS] COMMAND ...\n"
    "\n"
    "Commands:\n"
    "  keygen NAME [--dir DIR] [--role ROLE --roster FILE]\n"
    "                      make a CURVE keypair (DIR/NAME.cert, DIR/NAME.cert_secret);\n"
    "                      with --roster, add it to a roster file under ROLE; one key\n"
    "                      per agent or machine (lh keygen --help)\n"
    "  status [--json]     broker, services, workers, queues and counters (and the\n"
    "                      validators' and one integrity replica's)\n"
    "  call SERVICE JSON   send a request (a JSON object) and print the reply as JSON\n"
    "  ping [-c COUNT]     round trips to the broker\n"
    "  validate --tool TOOL (--command CMD | --input JSON|@FILE) [--cwd DIR] [--json]\n"
    "                      ask for a decision; exit 0 allow, 2 deny, 3 escalate, 4 defer,\n"
    "                      1 no decision, 64 usage (lh validate --help)\n"
    "  hook                Claude Code PreToolUse hook: hook JSON on stdin, decision out;\n"
    "                      every failure blocks (exit 2) (lh hook --help)\n"
    "  policy check FILE   lint a policy file\n"
    "  policy reload       tell every validator to load its policy file again\n"
    "  event append --type T [--data JSON|@FILE] [--id CLIENT_ID] [--agent A]\n"
    "                      append an event; returns once a majority has it on disk\n"
    "  event get SEQ | event range A B | event tail [-n N] [-f]\n"
    "  event query [--agent A] [--type T] [--since TIME] [--until TIME] [--limit N]\n"
    "  event proof SEQ [--keys FILE]   RFC 6962 inclusion proof, checked here\n"
    "  event export [--dir REPLICA_DIR] FILE  the log under the latest checkpoint, for lh verify\n"
    "  consistency OLD NEW [--keys FILE]   RFC 6962 consistency proof, checked here\n"
    "  checkpoint [--keys FILE]   latest signed checkpoint (C2SP tlog-checkpoint)\n"
    "  verify (--dir REPLICA_DIR | --export FILE) --keys FILE [--quorum N] [--origin O]\n"
    "                      verify a log offline; exit 1 naming the first bad seq\n"
    "  review list|show|approve|deny   answer escalations with an expert key\n"
    "  review token NAME --tokens FILE --cert CERT   a console login for a reviewer\n"
    "  approve CODE        approve the escalation an agent was given CODE for\n"
    "  expert serve --capability C --exec PROGRAM --backend EP\n"
    "                      a program as an automated expert (lh expert --help)\n"
    "  workspace mount --source DIR --mount MNT | workspace unmount MNT\n"
    "                      a guarded workspace (lh-fuse): changes asked and logged\n"
    "  version             print lh's version (also lh --version)\n"
    "\n"
    "lh COMMAND --help describes each command.\n"
    "\n"
    "--env FILE reads NAME=VALUE lines (as ops/run writes run/env and run/admin.env)\n"
    "before the rest; a line it cannot read is an error.\n"
    "Environment: LH_BROKER (frontend endpoint), LH_BROKER_KEY (broker public key),\n"
    "LH_CERT (this client's secret certificate). Without LH_BROKER_KEY, plaintext.\n"
    "Exit status: 0 success, 1 error reply or failure, 2 usage; lh validate and lh hook\n"
    "have their own (lh validate --help, lh hook --help).\n";

//  --------------------------------------------------------------------------
//  keygen

static const char s_keygen_usage[] =
    "Usage: lh keygen NAME [--dir DIR] [--role ROLE --roster FILE]\n"
    "\n"
    "Makes a CURVE keypair: DIR/NAME.cert (public) and DIR/NAME.cert_secret (keep it\n"
    "private: whoever reads it is NAME). With --roster, appends NAME with its public key\n"
    "and ROLE (agent, expert, node or admin) to the broker's roster; send the broker\n"
    "SIGHUP to load it. NAME (1 to 64 of [A-Za-z0-9._-]) becomes the agent id that every\n"
    "request and every logged decision carries.\n"
    "\n"
    "One key per agent or machine, role agent, never admin: a hook or an agent holding\n"
    "an admin key could reload policy and read every notification. For example:\n"
    "\n"
    "  lh keygen hook-$(hostname -s) --dir run/keys --role agent --roster run/keys/roster.zpl\n"
    "  kill -HUP $(cat run/pids/broker-*.pid)\n"
    "  # an env file for that machine's hook (lh --env FILE hook):\n"
    "  #   LH_BROKER=tcp://HOST:5555\n"
    "  #   LH_BROKER_KEY=<the broker's public key>\n"
    "  #   LH_CERT=/path/to/hook-NAME.cert_secret\n"
    "\n"
    "To retire a key, remove its entry from the roster and send SIGHUP.\n";

static int
s_keygen (cli_t *cli, int argc, char **argv)
{
    (void) cli;
    const char *dir = ".";
    const char *role = NULL;
    const char *roster = NULL;
    const char *name = NULL;
    for (int i = 1; i < argc; i++) {
        if (streq (argv[i], "-h") || streq (argv[i], "--help")) {
            fputs (s_keygen_usage, stdout);
            return 0;
        }
        if (streq (argv[i], "--dir") && i + 1 < argc)
            dir = argv[++i];
        else if (streq (argv[i], "--role") && i + 1 < argc)
            role = argv[++i];
        else if (streq (argv[i], "--roster") && i + 1 < argc)
            roster = argv[++i];
        else if (argv[i][0] != '-' && !name)
            name = argv[i];
        else
            return cli_usage_error ("keygen: unexpected argument");
    }
    if (!name)
        return cli_usage_error ("keygen: NAME is required");
    if (!codec_name_valid (name, strlen (name), LH_MAX_AGENT))
        return cli_usage_error ("keygen: NAME is 1 to 64 of [A-Za-z0-9._-]");
    if (roster && !role)
        return cli_usage_error ("keygen: --roster needs --role");
    if (role && !streq (role, "agent") && !streq (role, "expert") && !streq (role, "node") &&
        !streq (role, "admin"))
        return cli_usage_error ("keygen: ROLE is agent, expert, node or admin");

    zcert_t *cert = zcert_new ();
    zcert_set_meta (cert, "name", "%s", name);
    if (role)
        zcert_set_meta (cert, "role", "%s", role);
    char path[4096];
    snprintf (path, sizeof (path), "%s/%s.cert", dir, name);
    zsys_dir_create (dir);
    if (zsys_file_exists (path)) {
        fprintf (stderr, "lh keygen: %s exists; not overwriting\n", path);
        zcert_destroy (&cert);
        return 1;
    }
    if (zcert_save (cert, path) != 0) {
        fprintf (stderr, "lh keygen: cannot write %s\n", path);
        zcert_destroy (&cert);
        return 1;
    }
    if (roster) {
        FILE *file = fopen (roster, "a");
        if (!file) {
            fprintf (stderr, "lh keygen: cannot open roster %s\n", roster);
            zcert_destroy (&cert);
            return 1;
        }
        //  ZPL: "principal" must head the file; add it when the file is new
        if (ftell (file) == 0)
            fprintf (file, "#   Lighthouse roster: public key -> agent id and role\n"
                           "principal\n");
        fprintf (file, "    %s\n        key = \"%s\"\n        role = %s\n", name,
                 zcert_public_txt (cert), role);
        fclose (file);
    }
    printf ("%s\n", zcert_public_txt (cert));
    zcert_destroy (&cert);
    return 0;
}

static int
s_call (cli_t *cli, int argc, char **argv)
{
    if (argc != 3)
        return cli_usage_error ("call: SERVICE and JSON are required");
    msgpack_sbuffer body;
    msgpack_sbuffer_init (&body);
    char why[256];
    if (jsonpack_from_json (argv[2], strlen (argv[2]), &body, why, sizeof (why)) != 0) {
        msgpack_sbuffer_destroy (&body);
        fprintf (stderr, "lh call: %s\n", why);
        return 2;
    }
    lh_client_t *client = cli_client (cli);
    if (!client) {
        msgpack_sbuffer_destroy (&body);
        return 1;
    }
    lh_reply_t *reply = lh_client_call (client, argv[1], body.data, body.size);
    msgpack_sbuffer_destroy (&body);
    int rc = 1;
    if (reply) {
        const msgpack_object *root = lh_reply_root (reply);
        if (root) {
            char *json = jsonpack_to_json (root, true);
            printf ("%s\n", json ? json : "null");
            free (json);
        } else
            cli_print_error (reply);
        rc = lh_reply_ok (reply) ? 0 : 1;
        lh_reply_destroy (&reply);
    }
    lh_client_destroy (&client);
    return rc;
}

static int
s_ping (cli_t *cli, int argc, char **argv)
{
    int count = 3;
    for (int i = 1; i < argc; i++) {
        if (streq (argv[i], "-c") && i + 1 < argc)
            count = atoi (argv[++i]);
        else
            return cli_usage_error ("ping: unexpected argument");
    }
    if (count < 1)
        return cli_usage_error ("ping: COUNT must be at least 1");
    lh_client_t *client = cli_client (cli);
    if (!client)
        return 1;
    int failures = 0;
    for (int i = 0; i < count && !zsys_interrupted; i++) {
        lh_reply_t *reply = cli_call_empty (client, "broker.ping");
        if (!reply)
            break;
        if (lh_reply_ok (reply))
            printf ("reply from %s: seq=%d time=%.3f ms\n", cli->conn.endpoint, i + 1,
                    (double) lh_reply_rtt_us (reply) / 1000.0);
        else {
            cli_print_error (reply);
            failures++;
        }
        lh_reply_destroy (&reply);
    }
    lh_client_destroy (&client);
    return failures ? 1 : 0;
}

static const char s_call_usage[] =
    "Usage: lh call SERVICE JSON\n"
    "\n"
    "Sends JSON (an object) as the body of a request to SERVICE and prints the reply\n"
    "as JSON. Exit 0 on an ok reply, 1 on an error reply, 2 when JSON is malformed.\n";

static const char s_ping_usage[] =
    "Usage: lh ping [-c COUNT]\n"
    "\n"
    "COUNT round trips to the broker (broker.ping, default 3), with their times.\n";

static const char s_version_usage[] = "Usage: lh version\n\nPrints lh's version.\n";

static int
s_version (cli_t *cli, int argc, char **argv)
{
    (void) cli, (void) argc, (void) argv;
    printf ("lh %s\n", lh_version ());
    return 0;
}

//  A broker key needs our own certificate (CURVE client keys)
static int
s_check_remote (const cli_t *cli)
{
    if (cli->conn.server_key && !cli->conn.cert) {
        fprintf (stderr, "lh: a broker key without a certificate: set LH_CERT or --cert\n");
        return -1;
    }
    return 0;
}

typedef LH_DISPATCH_ENTRY (cli_command_fn *, cli_check_fn *) command_t;

//  hook is not here: it runs before this table, with its own set-up
static const command_t s_commands[] = {
    {"keygen", s_keygen, LH_ROLE_LOCAL, NULL, s_keygen_usage},
    {"status", cli_status, LH_ROLE_LOCAL, s_check_remote, cli_status_usage},
    {"call", s_call, LH_ROLE_LOCAL, s_check_remote, s_call_usage},
    {"ping", s_ping, LH_ROLE_LOCAL, s_check_remote, s_ping_usage},
    {"validate", cli_validate, LH_ROLE_LOCAL, s_check_remote, cli_validate_usage},
    {"policy", cli_policy, LH_ROLE_LOCAL, NULL, cli_policy_usage},
    {"event", cli_event, LH_ROLE_LOCAL, s_check_remote, cli_event_usage},
    {"checkpoint", cli_checkpoint, LH_ROLE_LOCAL, s_check_remote, cli_checkpoint_usage},
    {"consistency", cli_consistency, LH_ROLE_LOCAL, s_check_remote, cli_consistency_usage},
    {"verify", cli_verify, LH_ROLE_LOCAL, NULL, cli_verify_usage},
    {"review", cli_review, LH_ROLE_LOCAL, s_check_remote, cli_review_usage},
    {"approve", cli_approve, LH_ROLE_LOCAL, s_check_remote, cli_approve_usage},
    {"expert", cli_expert, LH_ROLE_LOCAL, s_check_remote, cli_expert_usage},
    {"chaos", cli_chaos, LH_ROLE_LOCAL, NULL, cli_chaos_usage},
    {"workspace", cli_workspace, LH_ROLE_LOCAL, NULL, cli_workspace_usage},
    {"version", s_version, LH_ROLE_LOCAL, NULL, s_version_usage},
    {NULL, NULL, 0, NULL, NULL},
};

int
main (int argc, char **argv)
{
    //  The hook runs its own setup: every failure must be a fail-closed answer
    int command_at = cli_command_index (argc, argv);
    if (command_at < argc && streq (argv[command_at], "hook"))
        return cli_hook_main (argc, argv);
    //  lh validate's exit status 2 means deny; its usage errors are distinct
    if (command_at < argc && streq (argv[command_at], "validate"))
        cli_usage_status = CLI_EXIT_USAGE;
    cli_usage_set (s_usage);
    if (command_at == 2 && argc == 2 && streq (argv[1], "--version"))
        return s_version (NULL, 0, NULL);
    zsys_init ();
    zsys_set_logsystem (false);
    cli_t cli;
    char err[1024];
    int i;
    switch (cli_setup (&cli, argc, argv, false, &i, err, sizeof (err))) {
    case CLI_SETUP_OK:
        break;
    case CLI_SETUP_HELP:
        fputs (s_usage, stdout);
        return 0;
    case CLI_SETUP_USAGE:
        return cli_usage_error (err);
    case CLI_SETUP_CONFIG:
        fprintf (stderr, "lh: %s\n", err);
        return 1;
    }
    if (i >= argc)
        return cli_usage_error ("COMMAND is required");
    const command_t *command =
        (const command_t *) lh_dispatch_find (s_commands, sizeof (*s_commands), argv[i], SIZE_MAX);
    int rc;
    if (!command)
        rc = cli_usage_error ("unknown command");
    else if (cli_wants_help (argc - i, argv + i)) {
        fputs (command->help, stdout);
        rc = 0;
    } else if (command->check && command->check (&cli) != 0)
        rc = cli_usage_status;
    else
        rc = command->handler (&cli, argc - i, argv + i);
    zcert_destroy (&cli.cert);
    return rc;
}
