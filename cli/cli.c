/*  cli.c -- what every lh command shares: the common options, env files,
    keys and certificates, a client with the command line's settings and
    how errors and usage are printed. Commands live in cli_<name>.c and
    main in lh.c; nothing here knows which commands exist. */
#include "cli.h"

#include "codec.h"

#include <errno.h>
#include <sodium.h>
#include <sys/stat.h>

//  The usage text of lh, set by main
static const char *s_usage = "";

void
cli_usage_set (const char *usage)
{
    s_usage = usage;
}

bool
cli_wants_help (int argc, char **argv)
{
    //  Only where an option may stand: a value such as --command --help is not a request for help
    int at = argc > 1 && argv[1][0] != '-' ? 2 : 1;
    return at < argc && (streq (argv[at], "-h") || streq (argv[at], "--help"));
}

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
    zlistx_t *endpoints = lh_connect_endpoints (endpoint);
    const char *bad = endpoints ? NULL : endpoint;
    for (const char *e = endpoints ? (const char *) zlistx_first (endpoints) : NULL; e && !bad;
         e = (const char *) zlistx_next (endpoints))
        if (!s_endpoint_valid (e))
            bad = e;
    if (bad) {
        snprintf (err, err_size,
                  "%s '%.300s' is not tcp://HOST:PORT or ipc://PATH (several: comma-separated, "
                  "at most %d)",
                  endpoint_from, bad, LH_MAX_BROKERS);
        zlistx_destroy (&endpoints);
        return CLI_SETUP_CONFIG;
    }
    zlistx_destroy (&endpoints);
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

lh_reply_t *
cli_call (lh_client_t *client, const char *service, const void *body, size_t size)
{
    lh_reply_t *reply = lh_client_call (client, service, body, size);
    if (reply && !lh_reply_ok (reply)) {
        cli_print_error (reply);
        lh_reply_destroy (&reply);
    }
    return reply;
}

int
cli_print_error (const lh_reply_t *reply)
{
    fprintf (stderr, "lh: %s: %s: %s\n", lh_reply_service (reply), lh_reply_code_name (reply),
             lh_reply_message (reply));
    return 1;
}
