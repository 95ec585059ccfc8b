/*  agent.c -- an agent asking Lighthouse before it runs a shell command.

    Built against the installed SDK only:

        cc agent.c $(pkg-config --cflags --libs lighthouse) -o agent

    Connection settings come from the environment, as for lh: LH_BROKER
    (the broker's frontend), LH_BROKER_KEY (its public key) and LH_CERT
    (this agent's secret certificate, from lh keygen). Then

        ./agent 'git status' [CWD]

    prints the decision and exits 0 for allow, 2 for deny, 3 for escalate,
    4 for defer and 1 when there is no decision: as lh validate does, a
    program that gets no decision must not run the command.
*/
#include <lighthouse/lighthouse.h>

#include <stdio.h>
#include <string.h>
#include <unistd.h>

//  A msgpack str value as a bounded C string
static const char *
s_str (const msgpack_object *map, const char *key, char *buf, size_t size)
{
    snprintf (buf, size, "-");
    if (!map || map->type != MSGPACK_OBJECT_MAP)
        return buf;
    for (uint32_t i = 0; i < map->via.map.size; i++) {
        const msgpack_object *k = &map->via.map.ptr[i].key;
        const msgpack_object *v = &map->via.map.ptr[i].val;
        if (k->type == MSGPACK_OBJECT_STR && k->via.str.size == strlen (key) &&
            memcmp (k->via.str.ptr, key, k->via.str.size) == 0 && v->type == MSGPACK_OBJECT_STR) {
            snprintf (buf, size, "%.*s", (int) v->via.str.size, v->via.str.ptr);
            break;
        }
    }
    return buf;
}

static void
s_pack_str (msgpack_packer *pk, const char *text)
{
    msgpack_pack_str (pk, strlen (text));
    msgpack_pack_str_body (pk, text, strlen (text));
}

int
main (int argc, char **argv)
{
    if (argc < 2 || argc > 3 || strcmp (argv[1], "--help") == 0) {
        fprintf (stderr, "usage: agent COMMAND [CWD]   (LH_BROKER, LH_BROKER_KEY, LH_CERT)\n");
        return 64;
    }
    char cwd[4096];
    if (argc == 3)
        snprintf (cwd, sizeof (cwd), "%s", argv[2]);
    else if (!getcwd (cwd, sizeof (cwd)))
        return 1;

    lh_connect_t conn = {.heartbeat_ms = 0};
    zcert_t *cert = NULL;
    if (lh_connect_from_env (&conn, &cert, "tcp://127.0.0.1:5555") != 0)
        return 1;
    lh_client_t *client = lh_client_new (&conn);
    if (!client) {
        fprintf (stderr, "agent: cannot connect to %s\n", conn.endpoint);
        zcert_destroy (&cert);
        return 1;
    }
    lh_client_set_timeout (client, 2000);

    //  {tool: "Bash", input: {command: ...}, cwd: ...} (docs/PROTOCOL.md 4.4);
    //  the SDK adds the request id
    msgpack_sbuffer body;
    msgpack_sbuffer_init (&body);
    msgpack_packer pk;
    msgpack_packer_init (&pk, &body, msgpack_sbuffer_write);
    msgpack_pack_map (&pk, 3);
    s_pack_str (&pk, "tool");
    s_pack_str (&pk, "Bash");
    s_pack_str (&pk, "input");
    msgpack_pack_map (&pk, 1);
    s_pack_str (&pk, "command");
    s_pack_str (&pk, argv[1]);
    s_pack_str (&pk, "cwd");
    s_pack_str (&pk, cwd);

    int rc = 1;
    lh_reply_t *reply = lh_client_call (client, "validate", body.data, body.size);
    if (reply && lh_reply_ok (reply)) {
        char decision[32], rule[128], reason[512];
        const msgpack_object *root = lh_reply_root (reply);
        s_str (root, "decision", decision, sizeof (decision));
        printf ("%s rule=%s reason=\"%s\" (liblighthouse %s)\n", decision,
                s_str (root, "rule", rule, sizeof (rule)),
                s_str (root, "reason", reason, sizeof (reason)), lh_version ());
        rc = strcmp (decision, "allow") == 0      ? 0
             : strcmp (decision, "deny") == 0     ? 2
             : strcmp (decision, "escalate") == 0 ? 3
             : strcmp (decision, "defer") == 0    ? 4
                                                  : 1;
    } else if (reply)
        fprintf (stderr, "agent: no decision: %s: %s\n", lh_reply_code_name (reply),
                 lh_reply_message (reply));
    else
        fprintf (stderr, "agent: no decision\n");
    lh_reply_destroy (&reply);
    msgpack_sbuffer_destroy (&body);
    lh_client_destroy (&client);
    zcert_destroy (&cert);
    return rc;
}
