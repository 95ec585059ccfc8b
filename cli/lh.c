/*  lh -- the Lighthouse command line.

    Connection settings come from the environment (. run/env sets them) or
    from --broker, --broker-key and --cert before the command.
*/
#include "cli.h"

#include "codec.h"
#include "jsonpack.h"

#include <ctype.h>
#include <errno.h>
#include <jansson.h>
#include <sodium.h>
#include <sys/stat.h>

static const char *s_usage =
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
    "  event export FILE   the log under the latest checkpoint, for lh verify\n"
    "  consistency OLD NEW [--keys FILE]   RFC 6962 consistency proof, checked here\n"
    "  checkpoint [--keys FILE]   latest signed checkpoint (C2SP tlog-checkpoint)\n"
    "  verify (--dir REPLICA_DIR | --export FILE) --keys FILE [--quorum N] [--origin O]\n"
    "                      verify a log offline; exit 1 naming the first bad seq\n"
    "\n"
    "--env FILE reads NAME=VALUE lines (as ops/run writes run/env and run/admin.env)\n"
    "before the rest; a line it cannot read is an error.\n"
    "Environment: LH_BROKER (frontend endpoint), LH_BROKER_KEY (broker public key),\n"
    "LH_CERT (this client's secret certificate). Without LH_BROKER_KEY, plaintext.\n"
    "Exit status: 0 success, 1 error reply or failure, 2 usage; lh validate and lh hook\n"
    "have their own (lh validate --help, lh hook --help).\n";

int cli_usage_status = 2;

int
cli_usage_error (const char *message)
{
    fprintf (stderr, "lh: %s\n\n%s", message, s_usage);
    return cli_usage_status;
}

//  --------------------------------------------------------------------------
//  Configuration: env files, keys, certificates

//  A shell-like NAME=VALUE line; false with a message in err.
static bool
s_env_line (char *text, const char *path, int number, char *err, size_t err_size)
{
    while (*text == ' ' || *text == '\t')
        text++;
    if (*text == 0 || *text == '#')
        return true;
    if (strncmp (text, "export", 6) == 0 && (text[6] == ' ' || text[6] == '\t')) {
        text += 6;
        while (*text == ' ' || *text == '\t')
            text++;
    }
    char *name = text;
    if (!(isalpha ((unsigned char) *text) || *text == '_'))
        goto bad;
    while (isalnum ((unsigned char) *text) || *text == '_')
        text++;
    if (*text != '=')
        goto bad;
    *text++ = 0;
    //  PATH lines reference $PATH: lh needs no PATH of its own
    if (streq (name, "PATH"))
        return true;
    char *value = text, *end;
    if (*text == '\'' || *text == '"') {
        //  Quoted: the whole value, nothing the shell would expand inside
        char quote = *text;
        value = text + 1;
        end = strchr (value, quote);
        if (!end || (quote == '"' && strcspn (value, "$`\\") < (size_t) (end - value)))
            goto bad;
        *end++ = 0;
    } else {
        end = value + strcspn (value, " \t'\"$`\\;&|<>()");
        if (*end && *end != ' ' && *end != '\t')
            goto bad;
        if (*end)
            *end++ = 0;
    }
    while (*end == ' ' || *end == '\t')
        end++;
    if (*end && *end != '#')
        goto bad;
    if (setenv (name, value, 1) != 0) {
        snprintf (err, err_size, "%s line %d: cannot set %s", path, number, name);
        return false;
    }
    return true;
bad:
    snprintf (err, err_size,
              "%s line %d: not NAME=VALUE (a bare word, or one quoted value without $, ` or \\)",
              path, number);
    return false;
}

int
cli_load_env (const char *path, char *err, size_t err_size)
{
    FILE *file = fopen (path, "r");
    if (!file) {
        snprintf (err, err_size, "cannot read env file %s: %s", path, strerror (errno));
        return -1;
    }
    char line[8192];
    int number = 0, rc = 0;
    while (rc == 0 && fgets (line, sizeof (line), file)) {
        number++;
        size_t len = strlen (line);
        if (len + 1 == sizeof (line) && line[len - 1] != '\n') {
            snprintf (err, err_size, "%s line %d: longer than %zu bytes", path, number,
                      sizeof (line) - 2);
            rc = -1;
            break;
        }
        line[strcspn (line, "\r\n")] = 0;
        if (!s_env_line (line, path, number, err, err_size))
            rc = -1;
    }
    if (rc == 0 && ferror (file)) {
        snprintf (err, err_size, "cannot read env file %s: %s", path, strerror (errno));
        rc = -1;
    }
    fclose (file);
    return rc;
}

bool
cli_key_valid (const char *key)
{
    uint8_t bytes[32];
    return key && strlen (key) == 40 && zmq_z85_decode (bytes, key) != NULL;
}

zcert_t *
cli_cert_load (const char *path, char *err, size_t err_size)
{
    //  As zcert_load: PATH_secret first, then PATH
    char secret_path[4096];
    struct stat st;
    snprintf (secret_path, sizeof (secret_path), "%s_secret", path);
    const char *chosen = stat (secret_path, &st) == 0 ? secret_path : path;
    FILE *file = fopen (chosen, "r");
    if (!file || fstat (fileno (file), &st) != 0) {
        snprintf (err, err_size, "cannot read certificate %s: %s", chosen, strerror (errno));
        if (file)
            fclose (file);
        return NULL;
    }
    if (!S_ISREG (st.st_mode) || st.st_size > 65536) {
        snprintf (err, err_size, "certificate %s is not a regular file of at most 64 KiB", chosen);
        fclose (file);
        return NULL;
    }
    char text[65537];
    size_t size = fread (text, 1, sizeof (text) - 1, file);
    bool failed = ferror (file);
    fclose (file);
    if (failed) {
        snprintf (err, err_size, "cannot read certificate %s", chosen);
        return NULL;
    }
    text[size] = 0;
    zconfig_t *root = memchr (text, 0, size) ? NULL : zconfig_str_load (text);
    const char *public_txt = root ? zconfig_get (root, "curve/public-key", NULL) : NULL;
    const char *secret_txt = root ? zconfig_get (root, "curve/secret-key", NULL) : NULL;
    uint8_t public_key[32], secret_key[32], derived[32];
    zcert_t *cert = NULL;
    if (!root)
        snprintf (err, err_size, "certificate %s is not a ZPL file", chosen);
    else if (!cli_key_valid (public_txt))
        snprintf (err, err_size, "certificate %s has no valid curve/public-key", chosen);
    else if (!cli_key_valid (secret_txt))
        snprintf (err, err_size,
                  "certificate %s has no valid curve/secret-key (a public .cert, not the "
                  ".cert_secret?)",
                  chosen);
    else {
        zmq_z85_decode (public_key, public_txt);
        zmq_z85_decode (secret_key, secret_txt);
        if (crypto_scalarmult_base (derived, secret_key) != 0 ||
            sodium_memcmp (derived, public_key, 32) != 0)
            snprintf (err, err_size, "certificate %s: the secret key does not match the public key",
                      chosen);
        else
            cert = zcert_new_from (public_key, secret_key);
        sodium_memzero (secret_key, sizeof (secret_key));
        if (!cert && !err[0])
            snprintf (err, err_size, "certificate %s: out of memory", chosen);
    }
    sodium_memzero (text, sizeof (text));
    zconfig_destroy (&root);
    return cert;
}

//  Options before the command that take a value.
static bool
s_takes_value (const char *option)
{
    return streq (option, "--broker") || streq (option, "--broker-key") ||
           streq (option, "--cert") || streq (option, "--timeout") || streq (option, "--env");
}

int
cli_command_index (int argc, char **argv)
{
    int i = 1;
    while (i < argc && argv[i][0] == '-')
        i += s_takes_value (argv[i]) ? 2 : 1;
    return i < argc ? i : argc;
}

//  A broker endpoint lh can connect to: tcp://HOST:PORT or ipc://PATH.
static bool
s_endpoint_valid (const char *endpoint)
{
    size_t len = strlen (endpoint);
    if (len > 255 || strpbrk (endpoint, " \t\r\n"))
        return false;
    if (strncmp (endpoint, "ipc://", 6) == 0)
        return len > 6;
    if (strncmp (endpoint, "tcp://", 6) != 0)
        return false;
    const char *colon = strrchr (endpoint + 6, ':');
    if (!colon || colon == endpoint + 6)
        return false;
    char *end;
    errno = 0;
    long port = strtol (colon + 1, &end, 10);
    return colon[1] && !*end && !errno && port >= 1 && port <= 65535;
}

cli_setup_t
cli_setup (cli_t *cli, int argc, char **argv, bool strict, int *command, char *err, size_t err_size)
{
    err[0] = 0;
    cli->cert = NULL;
    cli->timeout_ms = 3000;
    cli->timeout_set = false;
    cli->conn = (lh_connect_t){0};
    *command = cli_command_index (argc, argv);
    //  --env FILE first: it feeds the environment the rest reads
    int i = 1;
    if (argc > 1 && streq (argv[1], "--env")) {
        if (argc < 3) {
            snprintf (err, err_size, "--env needs a FILE");
            return CLI_SETUP_USAGE;
        }
        if (cli_load_env (argv[2], err, err_size) != 0)
            return CLI_SETUP_CONFIG;
        i = 3;
    }
    const char *endpoint = getenv ("LH_BROKER");
    const char *key = getenv ("LH_BROKER_KEY");
    const char *cert_path = getenv ("LH_CERT");
    const char *endpoint_from = "LH_BROKER", *key_from = "LH_BROKER_KEY";
    for (; i < *command; i++) {
        if (streq (argv[i], "-h") || streq (argv[i], "--help"))
            return CLI_SETUP_HELP;
        if (!s_takes_value (argv[i]) || streq (argv[i], "--env")) {
            snprintf (err, err_size, "unknown option %s", argv[i]);
            return CLI_SETUP_USAGE;
        }
        if (i + 1 >= argc) {
            snprintf (err, err_size, "option %s needs a value", argv[i]);
            return CLI_SETUP_USAGE;
        }
        const char *option = argv[i++];
        if (streq (option, "--broker")) {
            endpoint = argv[i];
            endpoint_from = "--broker";
        } else if (streq (option, "--broker-key")) {
            key = argv[i];
            key_from = "--broker-key";
        } else if (streq (option, "--cert"))
            cert_path = argv[i];
        else {
            char *end;
            errno = 0;
            long ms = strtol (argv[i], &end, 10);
            if (!*argv[i] || *end || errno || ms < 1 || ms > 3600000) {
                snprintf (err, err_size, "--timeout is 1 to 3600000 ms");
                return CLI_SETUP_USAGE;
            }
            cli->timeout_ms = (int) ms;
            cli->timeout_set = true;
        }
    }
    if (!endpoint || !*endpoint) {
        if (strict) {
            snprintf (err, err_size, "LH_BROKER is not set (no --env FILE, or it lacks LH_BROKER)");
            return CLI_SETUP_CONFIG;
        }
        endpoint = "tcp://127.0.0.1:5555";
    }
    if (!s_endpoint_valid (endpoint)) {
        snprintf (err, err_size, "%s '%.300s' is not tcp://HOST:PORT or ipc://PATH", endpoint_from,
                  endpoint);
        return CLI_SETUP_CONFIG;
    }
    if (key && *key && !cli_key_valid (key)) {
        snprintf (err, err_size, "%s is not a CURVE public key (40 characters of Z85)", key_from);
        return CLI_SETUP_CONFIG;
    }
    if (cert_path && *cert_path) {
        cli->cert = cli_cert_load (cert_path, err, err_size);
        if (!cli->cert)
            return CLI_SETUP_CONFIG;
    }
    cli->conn.endpoint = endpoint;
    cli->conn.server_key = key && *key ? key : NULL;
    cli->conn.cert = cli->cert;
    return CLI_SETUP_OK;
}

//  --------------------------------------------------------------------------
//  keygen

static const char *s_keygen_usage =
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
    "  kill -HUP $(cat run/pids/broker.pid)\n"
    "  # an env file for that machine's hook (lh --env FILE hook):\n"
    "  #   LH_BROKER=tcp://HOST:5555\n"
    "  #   LH_BROKER_KEY=<the broker's public key>\n"
    "  #   LH_CERT=/path/to/hook-NAME.cert_secret\n"
    "\n"
    "To retire a key, remove its entry from the roster and send SIGHUP.\n";

static int
s_keygen (int argc, char **argv)
{
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

//  --------------------------------------------------------------------------
//  Requests

lh_client_t *
cli_client (cli_t *cli)
{
    lh_client_t *client = lh_client_new (&cli->conn);
    if (!client) {
        fprintf (stderr, "lh: cannot connect to %s\n", cli->conn.endpoint);
        return NULL;
    }
    lh_client_set_timeout (client, cli->timeout_ms);
    lh_client_set_retries (client, 1);
    return client;
}

lh_reply_t *
cli_call_empty (lh_client_t *client, const char *service)
{
    static const uint8_t empty_map = 0x80;
    return lh_client_call (client, service, &empty_map, 1);
}

int
cli_print_error (const lh_reply_t *reply)
{
    fprintf (stderr, "lh: %s: %s: %s\n", lh_reply_service (reply), lh_reply_code_name (reply),
             lh_reply_message (reply));
    return 1;
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

//  --------------------------------------------------------------------------
//  status

static uint64_t
s_u64 (const msgpack_object *map, const char *key)
{
    const msgpack_object *v = codec_map_get (map, key);
    return v && v->type == MSGPACK_OBJECT_POSITIVE_INTEGER ? v->via.u64 : 0;
}

static const char *
s_str (const msgpack_object *map, const char *key, char *buf, size_t size)
{
    if (!codec_str_copy (codec_map_get (map, key), buf, size))
        snprintf (buf, size, "-");
    return buf;
}

static void
s_print_status (const msgpack_object *root)
{
    char a[128], b[128], c[128];
    const msgpack_object *broker = codec_map_get (root, "broker");
    printf ("broker   %s, protocol %llu, pid %llu, up %llu s, %s\n",
            s_str (broker, "version", a, sizeof (a)),
            (unsigned long long) s_u64 (broker, "protocol"),
            (unsigned long long) s_u64 (broker, "pid"),
            (unsigned long long) s_u64 (broker, "uptime_ms") / 1000,
            s_str (broker, "security", b, sizeof (b)));
    printf ("         frontend %s  backend %s  pub %s\n\n",
            s_str (broker, "frontend", a, sizeof (a)), s_str (broker, "backend", b, sizeof (b)),
            s_str (broker, "pub", c, sizeof (c)));

    const msgpack_object *services = codec_map_get (root, "services");
    printf ("%-20s %7s %5s %7s %8s %10s %10s %9s\n", "SERVICE", "WORKERS", "IDLE", "QUEUED",
            "INFLIGHT", "REQUESTS", "REPLIES", "FAILURES");
    for (uint32_t i = 0;
         services && services->type == MSGPACK_OBJECT_ARRAY && i < services->via.array.size; i++) {
        const msgpack_object *s = &services->via.array.ptr[i];
        printf (
            "%-20s %7llu %5llu %7llu %8llu %10llu %10llu %9llu\n", s_str (s, "name", a, sizeof (a)),
            (unsigned long long) s_u64 (s, "workers"), (unsigned long long) s_u64 (s, "idle"),
            (unsigned long long) s_u64 (s, "queued"), (unsigned long long) s_u64 (s, "inflight"),
            (unsigned long long) s_u64 (s, "requests"), (unsigned long long) s_u64 (s, "replies"),
            (unsigned long long) s_u64 (s, "failures"));
    }
    const msgpack_object *workers = codec_map_get (root, "workers");
    printf ("\n%-12s %-16s %-16s %8s %8s %10s\n", "WORKER", "SERVICE", "AGENT", "CAPACITY",
            "INFLIGHT", "SERVED");
    for (uint32_t i = 0;
         workers && workers->type == MSGPACK_OBJECT_ARRAY && i < workers->via.array.size; i++) {
        const msgpack_object *w = &workers->via.array.ptr[i];
        printf ("%-12.12s %-16s %-16s %8llu %8llu %10llu\n", s_str (w, "id", a, sizeof (a)),
                s_str (w, "service", b, sizeof (b)), s_str (w, "agent", c, sizeof (c)),
                (unsigned long long) s_u64 (w, "capacity"),
                (unsigned long long) s_u64 (w, "inflight"),
                (unsigned long long) s_u64 (w, "served"));
    }
    const msgpack_object *counters = codec_map_get (root, "counters");
    printf ("\nCOUNTERS\n");
    for (uint32_t i = 0;
         counters && counters->type == MSGPACK_OBJECT_MAP && i < counters->via.map.size; i++) {
        const msgpack_object_kv *kv = &counters->via.map.ptr[i];
        codec_str_copy (&kv->key, a, sizeof (a));
        printf ("  %-22s %llu\n", a, (unsigned long long) kv->val.via.u64);
    }
}

//  Counters of a node service that answers {op: "stats"} (one of its
//  workers answers), or NULL when it has no worker or does not answer.
static lh_reply_t *
s_node_stats (lh_client_t *client, const msgpack_object *services, const char *name)
{
    bool present = false;
    for (uint32_t i = 0;
         services && services->type == MSGPACK_OBJECT_ARRAY && i < services->via.array.size; i++) {
        const msgpack_object *s = &services->via.array.ptr[i];
        present |= codec_str_eq (codec_map_get (s, "name"), name) && s_u64 (s, "workers") > 0;
    }
    if (!present)
        return NULL;
    static const uint8_t stats[] = {0x81, 0xA2, 'o', 'p', 0xA5, 's', 't', 'a', 't', 's'};
    lh_reply_t *reply = lh_client_call (client, name, stats, sizeof (stats));
    if (reply && !lh_reply_ok (reply))
        lh_reply_destroy (&reply);
    return reply;
}

static void
s_print_node (const char *name, const msgpack_object *root)
{
    char version[128];
    const msgpack_object *counters = codec_map_get (root, "counters");
    printf ("\n%s (one worker's counters), policy %s\n", name,
            codec_str_copy (codec_map_get (root, "policy"), version, sizeof (version)) ? version
                                                                                       : "-");
    for (uint32_t i = 0;
         counters && counters->type == MSGPACK_OBJECT_MAP && i < counters->via.map.size; i++) {
        char key[64];
        codec_str_copy (&counters->via.map.ptr[i].key, key, sizeof (key));
        printf ("  %-22s %llu\n", key, (unsigned long long) counters->via.map.ptr[i].val.via.u64);
    }
}

static void
s_print_integrity (const msgpack_object *root)
{
    char replica[64], state[32], origin[256];
    const msgpack_object *monitor = codec_map_get (root, "monitor");
    char verdict[64];
    printf ("\nINTEGRITY LOG %s (one replica's view: %s, %s, term %llu, leader %llu)\n",
            s_str (root, "origin", origin, sizeof (origin)),
            s_str (root, "replica", replica, sizeof (replica)),
            s_str (root, "state", state, sizeof (state)), (unsigned long long) s_u64 (root, "term"),
            (unsigned long long) s_u64 (root, "leader"));
    printf ("  %-22s %llu\n  %-22s %s (%llu events checked)\n", "size",
            (unsigned long long) s_u64 (root, "size"), "monitor",
            s_str (monitor, "status", verdict, sizeof (verdict)),
            (unsigned long long) s_u64 (monitor, "leaves"));
    const msgpack_object *counters = codec_map_get (root, "counters");
    for (uint32_t i = 0;
         counters && counters->type == MSGPACK_OBJECT_MAP && i < counters->via.map.size; i++) {
        char key[64];
        codec_str_copy (&counters->via.map.ptr[i].key, key, sizeof (key));
        printf ("  %-22s %llu\n", key, (unsigned long long) counters->via.map.ptr[i].val.via.u64);
    }
}

static int
s_status (cli_t *cli, int argc, char **argv)
{
    bool json = argc == 2 && streq (argv[1], "--json");
    if (argc > 2 || (argc == 2 && !json))
        return cli_usage_error ("status: unexpected argument");
    lh_client_t *client = cli_client (cli);
    if (!client)
        return 1;
    lh_reply_t *reply = cli_call_empty (client, "broker.stats");
    int rc = 1;
    if (reply && lh_reply_ok (reply)) {
        const msgpack_object *root = lh_reply_root (reply);
        lh_reply_t *validate = s_node_stats (client, codec_map_get (root, "services"), "validate");
        lh_reply_t *integrity =
            s_node_stats (client, codec_map_get (root, "services"), "events.read");
        if (json) {
            //  {broker.stats..., "nodes": {"validate": {...}}}
            char *text = jsonpack_to_json (root, false);
            json_t *all = text ? json_loads (text, 0, NULL) : NULL;
            free (text);
            json_t *nodes = json_object ();
            if (validate) {
                text = jsonpack_to_json (lh_reply_root (validate), false);
                json_object_set_new (nodes, "validate", text ? json_loads (text, 0, NULL) : NULL);
                free (text);
            }
            if (integrity) {
                text = jsonpack_to_json (lh_reply_root (integrity), false);
                json_object_set_new (nodes, "events.read",
                                     text ? json_loads (text, 0, NULL) : NULL);
                free (text);
            }
            json_object_set_new (all, "nodes", nodes);
            text = json_dumps (all, JSON_INDENT (2) | JSON_PRESERVE_ORDER);
            printf ("%s\n", text ? text : "null");
            free (text);
            json_decref (all);
        } else {
            s_print_status (root);
            if (validate)
                s_print_node ("VALIDATE", lh_reply_root (validate));
            if (integrity)
                s_print_integrity (lh_reply_root (integrity));
        }
        lh_reply_destroy (&validate);
        lh_reply_destroy (&integrity);
        rc = 0;
    } else if (reply)
        cli_print_error (reply);
    lh_reply_destroy (&reply);
    lh_client_destroy (&client);
    return rc;
}

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
    if (cli.conn.server_key && !cli.conn.cert && !streq (argv[i], "keygen") &&
        !streq (argv[i], "policy") && !streq (argv[i], "verify")) {
        fprintf (stderr, "lh: a broker key without a certificate: set LH_CERT or --cert\n");
        zcert_destroy (&cli.cert);
        return cli_usage_status;
    }
    const char *command = argv[i];
    int rc;
    if (streq (command, "keygen"))
        rc = s_keygen (argc - i, argv + i);
    else if (streq (command, "call"))
        rc = s_call (&cli, argc - i, argv + i);
    else if (streq (command, "status"))
        rc = s_status (&cli, argc - i, argv + i);
    else if (streq (command, "ping"))
        rc = s_ping (&cli, argc - i, argv + i);
    else if (streq (command, "validate"))
        rc = cli_validate (&cli, argc - i, argv + i);
    else if (streq (command, "policy"))
        rc = cli_policy (&cli, argc - i, argv + i);
    else if (streq (command, "event"))
        rc = cli_event (&cli, argc - i, argv + i);
    else if (streq (command, "checkpoint"))
        rc = cli_checkpoint (&cli, argc - i, argv + i);
    else if (streq (command, "consistency"))
        rc = cli_consistency (&cli, argc - i, argv + i);
    else if (streq (command, "verify"))
        rc = cli_verify (&cli, argc - i, argv + i);
    else
        rc = cli_usage_error ("unknown command");
    zcert_destroy (&cli.cert);
    return rc;
}
