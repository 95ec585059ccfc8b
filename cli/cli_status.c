/*  lh status -- every broker's services, workers and counters (each asked
    on its own), then each node's own counters (asked once, through any). */
#include "cli.h"

#include "codec.h"
#include "jsonpack.h"
#include "lh_metrics.h"

#include <arpa/inet.h>
#include <jansson.h>
#include <sys/socket.h>
#include <unistd.h>

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
    char name[LH_MAX_AGENT + 1];
    printf ("broker   %s: %s, protocol %llu, pid %llu, up %llu s, %s\n",
            s_str (broker, "name", name, sizeof (name)), s_str (broker, "version", a, sizeof (a)),
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
    "counters.\n"
    "\n"
    "Daemons that serve no broker service (lh-web, lh-fuse log) are read from their\n"
    "Prometheus endpoints: LH_STATUS_METRICS=\"web=127.0.0.1:5586 logview=127.0.0.1:5583\"\n"
    "(ops/run sets it in run/admin.env). One that does not answer makes the exit 1.\n";

//  One daemon's /metrics, fetched over loopback HTTP/1.0; its samples as
//  {name: value} (HELP and TYPE lines skipped), or NULL with why
static json_t *
s_scrape (const char *address, char *why, size_t why_size)
{
    struct sockaddr_in addr;
    if (lh_metrics_address (address, &addr) != 0) {
        snprintf (why, why_size, "not IPV4:PORT");
        return NULL;
    }
    int fd = socket (AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct timeval tv = {.tv_sec = 1};
    setsockopt (fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof (tv));
    setsockopt (fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof (tv));
    char request[128];
    int len =
        snprintf (request, sizeof (request), "GET /metrics HTTP/1.0\r\nHost: %s\r\n\r\n", address);
    if (fd < 0 || connect (fd, (struct sockaddr *) &addr, sizeof (addr)) != 0 ||
        send (fd, request, (size_t) len, MSG_NOSIGNAL) != len) {
        snprintf (why, why_size, "%s", strerror (errno));
        if (fd >= 0)
            close (fd);
        return NULL;
    }
    size_t size = 0, cap = 65536;
    char *text = (char *) malloc (cap + 1);
    ssize_t n;
    while (text && size < cap && (n = recv (fd, text + size, cap - size, 0)) > 0)
        size += (size_t) n;
    close (fd);
    if (!text) {
        snprintf (why, why_size, "out of memory");
        return NULL;
    }
    text[size] = 0;
    char *body = strstr (text, "\r\n\r\n");
    if (strncmp (text, "HTTP/1.", 7) != 0 || !strstr (text, " 200 ") || !body) {
        snprintf (why, why_size, "no metrics answer");
        free (text);
        return NULL;
    }
    json_t *samples = json_object ();
    char *save = NULL;
    for (char *line = strtok_r (body + 4, "\n", &save); line; line = strtok_r (NULL, "\n", &save)) {
        char name[128];
        double value;
        if (line[0] != '#' && sscanf (line, "%127s %lf", name, &value) == 2)
            json_object_set_new (samples, name, json_real (value));
    }
    free (text);
    return samples;
}

//  Every NAME=IPV4:PORT of LH_STATUS_METRICS: {name: samples | {error}}
static json_t *
s_daemons (size_t *down)
{
    json_t *all = json_object ();
    const char *list = getenv ("LH_STATUS_METRICS");
    char *copy = list ? strdup (list) : NULL, *save = NULL;
    for (char *item = copy ? strtok_r (copy, " ,", &save) : NULL; item;
         item = strtok_r (NULL, " ,", &save)) {
        char *eq = strchr (item, '=');
        if (!eq)
            continue;
        *eq = 0;
        char why[128];
        json_t *samples = s_scrape (eq + 1, why, sizeof (why));
        if (!samples) {
            samples = json_object ();
            json_object_set_new (samples, "error", json_string (why));
            (*down)++;
        }
        json_object_set_new (samples, "address", json_string (eq + 1));
        json_object_set_new (all, item, samples);
    }
    free (copy);
    return all;
}

static void
s_print_daemons (json_t *daemons)
{
    const char *name;
    json_t *samples;
    json_object_foreach (daemons, name, samples)
    {
        const char *address = json_string_value (json_object_get (samples, "address"));
        json_t *error = json_object_get (samples, "error");
        printf ("\n%s (metrics at %s)%s%s\n", name, address ? address : "-",
                error ? "   DOWN: " : "", error ? json_string_value (error) : "");
        const char *key;
        json_t *value;
        json_object_foreach (samples, key, value)
        {
            if (json_is_number (value))
                printf ("  %-48s %.0f\n", key, json_number_value (value));
        }
    }
}

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

//  broker.stats from one broker of the list, asked directly
static lh_reply_t *
s_broker_stats (cli_t *cli, const char *endpoint)
{
    lh_connect_t conn = cli->conn;
    conn.endpoint = endpoint;
    lh_client_t *client = lh_client_new (&conn);
    if (!client)
        return NULL;
    lh_client_set_timeout (client, cli->timeout_ms);
    lh_client_set_retries (client, 0);
    lh_reply_t *reply = cli_call_empty (client, "broker.stats");
    lh_client_destroy (&client);
    return reply;
}

int
cli_status (cli_t *cli, int argc, char **argv)
{
    bool json = argc == 2 && streq (argv[1], "--json");
    if (argc > 2 || (argc == 2 && !json))
        return cli_usage_error ("status: unexpected argument");
    zlistx_t *endpoints = lh_connect_endpoints (cli->conn.endpoint);
    lh_client_t *client = endpoints ? cli_client (cli) : NULL;
    if (!client) {
        zlistx_destroy (&endpoints);
        return 1;
    }
    size_t count = zlistx_size (endpoints), answered = 0;
    lh_reply_t *brokers[LH_MAX_BROKERS] = {NULL};
    const msgpack_object *first = NULL; //  the first broker that answered
    size_t b = 0;
    for (const char *e = (const char *) zlistx_first (endpoints); e;
         e = (const char *) zlistx_next (endpoints), b++) {
        brokers[b] = s_broker_stats (cli, e);
        if (brokers[b] && lh_reply_ok (brokers[b])) {
            answered++;
            if (!first)
                first = lh_reply_root (brokers[b]);
        }
    }
    lh_reply_t *nodes[NODES] = {NULL};
    for (size_t i = 0; first && i < NODES; i++)
        nodes[i] = s_node_stats (client, codec_map_get (first, "services"), s_nodes[i].service);
    size_t daemons_down = 0;
    json_t *daemons = s_daemons (&daemons_down);
    if (json) {
        //  {first broker's stats..., "brokers": [{endpoint, ok, error | stats}], "nodes": {...}}
        json_t *all = first ? jsonpack_to_value (first) : json_object ();
        json_t *list = json_array ();
        b = 0;
        for (const char *e = (const char *) zlistx_first (endpoints); e;
             e = (const char *) zlistx_next (endpoints), b++) {
            bool ok = brokers[b] && lh_reply_ok (brokers[b]);
            json_t *item = ok ? jsonpack_to_value (lh_reply_root (brokers[b])) : json_object ();
            json_object_set_new (item, "endpoint", json_string (e));
            json_object_set_new (item, "ok", json_boolean (ok));
            if (!ok)
                json_object_set_new (
                    item, "error",
                    json_string (brokers[b] ? lh_reply_message (brokers[b]) : "cannot connect"));
            json_array_append_new (list, item);
        }
        json_object_set_new (all, "brokers", list);
        json_t *map = json_object ();
        for (size_t i = 0; i < NODES; i++)
            if (nodes[i])
                json_object_set_new (map, s_nodes[i].service,
                                     jsonpack_to_value (lh_reply_root (nodes[i])));
        json_object_set_new (all, "nodes", map);
        json_object_set (all, "daemons", daemons);
        char *text = json_dumps (all, JSON_INDENT (2) | JSON_PRESERVE_ORDER);
        printf ("%s\n", text ? text : "null");
        free (text);
        json_decref (all);
    } else {
        b = 0;
        for (const char *e = (const char *) zlistx_first (endpoints); e;
             e = (const char *) zlistx_next (endpoints), b++) {
            if (count > 1)
                printf ("%s== broker %zu of %zu at %s\n", b ? "\n" : "", b + 1, count, e);
            if (brokers[b] && lh_reply_ok (brokers[b]))
                s_print_status (lh_reply_root (brokers[b]));
            else {
                printf ("broker   DOWN: %s\n",
                        brokers[b] ? lh_reply_message (brokers[b]) : "cannot connect");
                if (brokers[b])
                    cli_print_error (brokers[b]);
            }
        }
        for (size_t i = 0; i < NODES; i++)
            if (nodes[i] && s_nodes[i].title)
                s_print_node (s_nodes[i].title, lh_reply_root (nodes[i]));
            else if (nodes[i])
                s_print_integrity (lh_reply_root (nodes[i]));
        s_print_daemons (daemons);
    }
    json_decref (daemons);
    for (size_t i = 0; i < NODES; i++)
        lh_reply_destroy (&nodes[i]);
    for (b = 0; b < count; b++)
        lh_reply_destroy (&brokers[b]);
    zlistx_destroy (&endpoints);
    lh_client_destroy (&client);
    //  A degraded cluster is not a healthy one: some broker or daemon did not answer
    return answered == count && daemons_down == 0 ? 0 : 1;
}
