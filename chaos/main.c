/*  lh-chaos -- the fault proxy: TCP links between Lighthouse's parts that
    misbehave on command (docs/DRILLS.md, chaos/README.md).

    Each link listens on one address and relays to another through its
    toxics (toxic.h): a daemon pointed at the listen address instead of the
    real one talks through lh-chaos. Toxics are added and removed at run
    time on the control socket (a ZeroMQ REP, loopback or ipc only: it
    takes orders from anyone who can reach it), one text request each,
    one JSON reply:

      add LINK NAME KIND DIRECTION [key=value ...]
      remove LINK NAME
      clear LINK | clear all
      list

    `lh chaos` sends them. On SIGTERM every connection is closed and the
    process exits; nothing outlives it.
*/
#include "codec.h"
#include "jsonpack.h"
#include "lh_log.h"
#include "lh_node.h"
#include "proxy.h"

#include <czmq.h>

#define LINKS_MAX     16
#define COMMAND_WORDS 24

static const lh_option_t s_options[] = {
    {"links", "chaos/links", NULL,
     "links, comma-separated: NAME=LISTEN>UPSTREAM (IPv4:PORT each; port 0 picks one)", false},
    {"control", "chaos/control", "tcp://127.0.0.1:7700",
     "control endpoint (tcp on a loopback address, or ipc)", false},
    {"log-level", "chaos/log_level", "info", "debug, info, warn or error", false},
    {NULL, NULL, NULL, NULL, false},
};

typedef struct {
    proxy_t *links[LINKS_MAX];
    size_t count;
} chaos_t;

static proxy_t *
s_link (chaos_t *self, const char *name)
{
    for (size_t i = 0; i < self->count; i++)
        if (streq (proxy_name (self->links[i]), name))
            return self->links[i];
    return NULL;
}

//  Parses "NAME=LISTEN>UPSTREAM,..." into links; false with err
static bool
s_links (chaos_t *self, const char *spec, char *err, size_t err_size)
{
    char *copy = strdup (spec), *save = NULL;
    bool ok = true;
    for (char *item = strtok_r (copy, ",", &save); item && ok; item = strtok_r (NULL, ",", &save)) {
        char *eq = strchr (item, '='), *gt = eq ? strchr (eq, '>') : NULL;
        if (!eq || !gt || self->count == LINKS_MAX) {
            snprintf (err, err_size, "'%.64s': a link is NAME=LISTEN>UPSTREAM (at most %d)", item,
                      LINKS_MAX);
            ok = false;
            break;
        }
        *eq = *gt = 0;
        if (s_link (self, item)) {
            snprintf (err, err_size, "link %.32s is named twice", item);
            ok = false;
            break;
        }
        proxy_t *link = proxy_new (item, eq + 1, gt + 1, err, err_size);
        if (!link)
            ok = false;
        else
            self->links[self->count++] = link;
    }
    free (copy);
    return ok;
}

//  The control endpoint must not be reachable from elsewhere
static bool
s_control_local (const char *endpoint)
{
    return strncmp (endpoint, "ipc://", 6) == 0 || strncmp (endpoint, "tcp://127.", 10) == 0;
}

//  Sends the packed reply as JSON, and frees it
static void
s_reply (zsock_t *control, codec_buf_t *buf)
{
    msgpack_unpacked u;
    msgpack_unpacked_init (&u);
    msgpack_unpack_next (&u, buf->sbuf.data, buf->sbuf.size, NULL);
    char *text = jsonpack_to_json (&u.data, false);
    zstr_send (control, text ? text : "{\"ok\":false}");
    free (text);
    msgpack_unpacked_destroy (&u);
    codec_buf_destroy (buf);
}

static void
s_reply_error (zsock_t *control, const char *message)
{
    codec_buf_t buf;
    codec_buf_init (&buf);
    msgpack_pack_map (&buf.pk, 2);
    codec_pack_kv_bool (&buf.pk, "ok", false);
    codec_pack_kv_str (&buf.pk, "error", message);
    s_reply (control, &buf);
}

//  {ok: true, links: [...]} as JSON
static void
s_reply_list (chaos_t *self, zsock_t *control)
{
    codec_buf_t buf;
    codec_buf_init (&buf);
    msgpack_pack_map (&buf.pk, 2);
    codec_pack_kv_bool (&buf.pk, "ok", true);
    codec_pack_str (&buf.pk, "links");
    msgpack_pack_array (&buf.pk, self->count);
    for (size_t i = 0; i < self->count; i++)
        proxy_pack (self->links[i], &buf.pk);
    s_reply (control, &buf);
}

static void
s_command (chaos_t *self, zsock_t *control)
{
    char *text = zstr_recv (control);
    if (!text)
        return;
    char *argv[COMMAND_WORDS], *save = NULL;
    int argc = 0;
    for (char *w = strtok_r (text, " \t\n", &save); w && argc < COMMAND_WORDS;
         w = strtok_r (NULL, " \t\n", &save))
        argv[argc++] = w;
    char err[256] = "";
    proxy_t *link = argc >= 2 ? s_link (self, argv[1]) : NULL;
    if (argc == 1 && streq (argv[0], "list"))
        s_reply_list (self, control);
    else if (argc == 2 && streq (argv[0], "clear") && streq (argv[1], "all")) {
        for (size_t i = 0; i < self->count; i++)
            proxy_toxic_clear (self->links[i]);
        lh_info ("toxics cleared", "link=all");
        s_reply_list (self, control);
    } else if (argc >= 2 &&
               (streq (argv[0], "add") || streq (argv[0], "remove") || streq (argv[0], "clear")) &&
               !link) {
        snprintf (err, sizeof (err), "no link named '%.32s'", argv[1]);
        s_reply_error (control, err);
    } else if (argc == 2 && streq (argv[0], "clear")) {
        proxy_toxic_clear (link);
        lh_info ("toxics cleared", "link=%s", argv[1]);
        s_reply_list (self, control);
    } else if (argc == 3 && streq (argv[0], "remove")) {
        if (proxy_toxic_remove (link, argv[2])) {
            lh_info ("toxic removed", "link=%s name=%s", argv[1], argv[2]);
            s_reply_list (self, control);
        } else {
            snprintf (err, sizeof (err), "link %.32s has no toxic '%.32s'", argv[1], argv[2]);
            s_reply_error (control, err);
        }
    } else if (argc >= 5 && streq (argv[0], "add")) {
        toxic_t toxic;
        if (toxic_parse (&toxic, argv[2], argc - 3, argv + 3, err, sizeof (err)) != 0 ||
            proxy_toxic_add (link, &toxic, err, sizeof (err)) != 0)
            s_reply_error (control, err);
        else {
            lh_info ("toxic added",
                     "link=%s name=%s kind=%s direction=%s ms=%lld jitter=%lld rate=%lld "
                     "bytes=%lld delay=%lld",
                     argv[1], toxic.name, toxic_kind_name (toxic.kind), toxic_dir_name (toxic.dir),
                     (long long) toxic.ms, (long long) toxic.jitter, (long long) toxic.rate,
                     (long long) toxic.bytes, (long long) toxic.delay);
            s_reply_list (self, control);
        }
    } else
        s_reply_error (control, "commands: add LINK NAME KIND DIRECTION [key=value ...], remove "
                                "LINK NAME, clear LINK|all, list");
    zstr_free (&text);
}

int
main (int argc, char **argv)
{
    static const lh_node_t node = {
        "lh-chaos",
        "Lighthouse fault proxy: TCP links that add latency, cut bandwidth, slice, black-hole,\n"
        "close or reset on command (lh chaos), for drills.",
        s_options, "chaos"};
    int exit_code;
    zconfig_t *config = lh_node_start (&node, argc, argv, &exit_code);
    if (!config)
        return exit_code;
    chaos_t self = {.count = 0};
    int rc = 1;
    zsock_t *control = NULL;
    char err[256] = "";
    const char *links = lh_config_str (config, "chaos/links", NULL);
    const char *endpoint = lh_config_str (config, "chaos/control", "tcp://127.0.0.1:7700");
    if (!links) {
        lh_error ("no links: --links NAME=LISTEN>UPSTREAM[,...]", "%s", "");
        goto done;
    }
    if (!s_links (&self, links, err, sizeof (err)) || self.count == 0) {
        lh_error ("bad links", "error=\"%s\"", err[0] ? err : "no link given");
        goto done;
    }
    if (!s_control_local (endpoint)) {
        lh_error ("the control endpoint must be tcp://127.x.x.x:PORT or ipc://", "control=%s",
                  endpoint);
        goto done;
    }
    control = zsock_new (ZMQ_REP);
    if (!control || zsock_bind (control, "%s", endpoint) < 0) {
        lh_error ("cannot bind the control endpoint", "control=%s", endpoint);
        goto done;
    }
    for (size_t i = 0; i < self.count; i++)
        lh_info ("link", "name=%s port=%d", proxy_name (self.links[i]), proxy_port (self.links[i]));
    lh_info ("serving", "links=%zu control=%s", self.count, endpoint);
    //  Every link's listener and connections (two sockets each), and control
    size_t capacity = 1 + self.count * (1 + 2 * PROXY_CONNECTIONS_MAX);
    zmq_pollitem_t *items = (zmq_pollitem_t *) zmalloc (capacity * sizeof (zmq_pollitem_t));
    size_t firsts[LINKS_MAX], counts[LINKS_MAX];
    while (!zsys_interrupted) {
        size_t n = 0;
        items[n++] = (zmq_pollitem_t){zsock_resolve (control), 0, ZMQ_POLLIN, 0};
        int wait = 1000;
        for (size_t i = 0; i < self.count; i++) {
            firsts[i] = n;
            counts[i] = proxy_poll_fill (self.links[i], items + n, capacity - n);
            n += counts[i];
            int next = proxy_next_ms (self.links[i]);
            if (next >= 0 && next < wait)
                wait = next;
        }
        if (zmq_poll (items, (int) n, wait) < 0 && errno != EINTR)
            break;
        if (items[0].revents & ZMQ_POLLIN)
            s_command (&self, control);
        for (size_t i = 0; i < self.count; i++)
            proxy_poll_handle (self.links[i], items + firsts[i], counts[i]);
    }
    free (items);
    lh_info ("stopping", "%s", "");
    rc = 0;
done:
    zsock_destroy (&control);
    for (size_t i = 0; i < self.count; i++)
        proxy_destroy (&self.links[i]);
    zconfig_destroy (&config);
    return rc;
}
