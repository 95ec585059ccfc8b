/*  lh status -- the broker's services, workers and counters, with each
    node's own counters. */
#include "cli.h"

#include "codec.h"
#include "jsonpack.h"

#include <jansson.h>

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
    printf ("\n%s (one worker's counters)", name);
    if (codec_str_copy (codec_map_get (root, "policy"), version, sizeof (version)))
        printf (", policy %s", version);
    printf ("\n");
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

const char cli_status_usage[] =
    "Usage: lh status [--json]\n"
    "\n"
    "The broker's services, workers, queues and counters, then the own counters of\n"
    "one worker of each node service (validate, expert, cache) and of one integrity\n"
    "replica. --json prints them all as one object. Needs an admin key for the node\n"
    "counters.\n";

//  The node services whose counters lh status shows, in this order
static const struct {
    const char *service, *title;
} s_nodes[] = {
    {"validate", "VALIDATE"},
    {"expert", "EXPERT (escalations)"},
    {"cache", "CACHE (verdicts)"},
    {"events.read", NULL}, //  printed as the integrity log
};
#define NODES (sizeof (s_nodes) / sizeof (s_nodes[0]))

int
cli_status (cli_t *cli, int argc, char **argv)
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
        lh_reply_t *nodes[NODES];
        for (size_t i = 0; i < NODES; i++)
            nodes[i] = s_node_stats (client, codec_map_get (root, "services"), s_nodes[i].service);
        if (json) {
            //  {broker.stats..., "nodes": {"validate": {...}, ...}}
            char *text = jsonpack_to_json (root, false);
            json_t *all = text ? json_loads (text, 0, NULL) : NULL;
            free (text);
            json_t *map = json_object ();
            for (size_t i = 0; i < NODES; i++)
                if (nodes[i]) {
                    text = jsonpack_to_json (lh_reply_root (nodes[i]), false);
                    json_object_set_new (map, s_nodes[i].service,
                                         text ? json_loads (text, 0, NULL) : NULL);
                    free (text);
                }
            json_object_set_new (all, "nodes", map);
            text = json_dumps (all, JSON_INDENT (2) | JSON_PRESERVE_ORDER);
            printf ("%s\n", text ? text : "null");
            free (text);
            json_decref (all);
        } else {
            s_print_status (root);
            for (size_t i = 0; i < NODES; i++)
                if (nodes[i] && s_nodes[i].title)
                    s_print_node (s_nodes[i].title, lh_reply_root (nodes[i]));
                else if (nodes[i])
                    s_print_integrity (lh_reply_root (nodes[i]));
        }
        for (size_t i = 0; i < NODES; i++)
            lh_reply_destroy (&nodes[i]);
        rc = 0;
    } else if (reply)
        cli_print_error (reply);
    lh_reply_destroy (&reply);
    lh_client_destroy (&client);
    return rc;
}
