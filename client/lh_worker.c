/*  lh_worker -- the service side of liblighthouse. See lh_worker.h. */
#include "lh_worker.h"

#include "codec.h"

#include <errno.h>
#include <sys/epoll.h>
#include <unistd.h>

//  One broker: each gets the worker's READY, heartbeats and full capacity.
typedef struct {
    char *endpoint;
    zsock_t *sock;        //  NULL while waiting to reconnect
    int64_t heartbeat_at; //  when we next send a heartbeat
    int64_t expect_by;    //  broker declared dead when silent past this
    int64_t reconnect_at; //  when to open a new socket (sock NULL)
    int64_t last_rx;
    int backoff_ms;
} link_t;

struct _lh_worker_t {
    lh_connect_t conn;
    char *server_key;
    char service[LH_MAX_SERVICE + 1];
    int capacity;
    link_t links[LH_MAX_BROKERS];
    int nlinks;
    int next_link; //  where the next read starts, so no broker starves another
    int epoll;     //  every link's ZMQ_FD
    int heartbeat_ms;
    int liveness;
    uint64_t reconnects;
    uint64_t disconnects;
};

struct _lh_request_t {
    zframe_t *token; //  the broker's handle for the request: echoed back
    int link;        //  the broker it came through, which the reply goes back to
    codec_doc_t *doc;
    char agent[LH_MAX_AGENT + 1];
    char role[16];
    char key[48];
};

static int
s_send_command (link_t *link, int command, const char *service, zframe_t *extra)
{
    zmsg_t *msg = zmsg_new ();
    zmsg_addmem (msg, "", 0);
    zmsg_addstr (msg, MDPW_WORKER);
    zmsg_addmem (msg, &(char){(char) command}, 1);
    if (service)
        zmsg_addstr (msg, service);
    if (extra)
        zmsg_append (msg, &extra);
    return zmsg_send (&msg, link->sock);
}

static void
s_close (lh_worker_t *self, link_t *link)
{
    if (link->sock) {
        epoll_ctl (self->epoll, EPOLL_CTL_DEL, zsock_fd (link->sock), NULL);
        zsock_destroy (&link->sock);
    }
}

//  Closes a link and schedules a new socket, backing off up to 5 s.
static void
s_backoff (lh_worker_t *self, link_t *link, int64_t now)
{
    s_close (self, link);
    link->reconnect_at = now + link->backoff_ms;
    link->backoff_ms = link->backoff_ms * 2 > 5000 ? 5000 : link->backoff_ms * 2;
}

static void
s_connect (lh_worker_t *self, link_t *link)
{
    s_close (self, link);
    lh_connect_t conn = self->conn;
    conn.endpoint = link->endpoint;
    link->sock = lh_connect_dealer (&conn);
    if (!link->sock)
        return;
    struct epoll_event event = {.events = EPOLLIN, .data.ptr = link};
    epoll_ctl (self->epoll, EPOLL_CTL_ADD, zsock_fd (link->sock), &event);
    //  READY carries our capacity in an extra frame that plain MDP brokers ignore
    codec_buf_t buf;
    codec_buf_init (&buf);
    msgpack_pack_map (&buf.pk, 1);
    codec_pack_str (&buf.pk, "capacity");
    msgpack_pack_int (&buf.pk, self->capacity);
    s_send_command (link, MDPW_READY, self->service, zframe_new (buf.sbuf.data, buf.sbuf.size));
    codec_buf_destroy (&buf);
    int64_t now = zclock_mono ();
    link->heartbeat_at = now + self->heartbeat_ms;
    link->expect_by = now + (int64_t) self->heartbeat_ms * self->liveness;
}

lh_worker_t *
lh_worker_new (const lh_connect_t *conn, const char *service, int capacity)
{
    if (!conn || !service || strlen (service) == 0 || strlen (service) > LH_MAX_SERVICE)
        return NULL;
    zlistx_t *endpoints = lh_connect_endpoints (conn->endpoint);
    if (!endpoints)
        return NULL;
    lh_worker_t *self = (lh_worker_t *) zmalloc (sizeof (lh_worker_t));
    self->server_key = conn->server_key ? strdup (conn->server_key) : NULL;
    self->conn = (lh_connect_t){.server_key = self->server_key,
                                .cert = conn->cert,
                                .heartbeat_ms = conn->heartbeat_ms ? conn->heartbeat_ms
                                                                   : LH_WORKER_HEARTBEAT_MS};
    snprintf (self->service, sizeof (self->service), "%s", service);
    self->capacity = capacity < 1 ? 1 : capacity > LH_MAX_CAPACITY ? LH_MAX_CAPACITY : capacity;
    self->heartbeat_ms = 2500;
    self->liveness = 3;
    self->epoll = epoll_create1 (EPOLL_CLOEXEC);
    for (char *endpoint = (char *) zlistx_first (endpoints); endpoint;
         endpoint = (char *) zlistx_next (endpoints)) {
        link_t *link = &self->links[self->nlinks++];
        link->endpoint = strdup (endpoint);
        link->backoff_ms = 100;
        if (self->epoll != -1)
            s_connect (self, link);
        if (!link->sock) {
            zlistx_destroy (&endpoints);
            lh_worker_destroy (&self);
            return NULL;
        }
    }
    zlistx_destroy (&endpoints);
    return self;
}

void
lh_worker_destroy (lh_worker_t **self_p)
{
    if (self_p && *self_p) {
        lh_worker_t *self = *self_p;
        for (int i = 0; i < self->nlinks; i++) {
            link_t *link = &self->links[i];
            if (link->sock)
                s_send_command (link, MDPW_DISCONNECT, NULL, NULL);
            zsock_destroy (&link->sock);
            free (link->endpoint);
        }
        if (self->epoll != -1)
            close (self->epoll);
        free (self->server_key);
        free (self);
        *self_p = NULL;
    }
}

void
lh_worker_set_heartbeat (lh_worker_t *self, int interval_ms, int liveness)
{
    self->heartbeat_ms = interval_ms > 0 ? interval_ms : 2500;
    self->liveness = liveness > 0 ? liveness : 3;
    int64_t now = zclock_mono ();
    for (int i = 0; i < self->nlinks; i++) {
        self->links[i].heartbeat_at = now + self->heartbeat_ms;
        self->links[i].expect_by = now + (int64_t) self->heartbeat_ms * self->liveness;
    }
}

int
lh_worker_fd (lh_worker_t *self)
{
    return self->epoll;
}

size_t
lh_worker_brokers (lh_worker_t *self)
{
    return (size_t) self->nlinks;
}

size_t
lh_worker_brokers_connected (lh_worker_t *self)
{
    size_t connected = 0;
    int64_t now = zclock_mono ();
    //  Connected and heard from within liveness: a READY alone proves nothing
    for (int i = 0; i < self->nlinks; i++)
        connected += self->links[i].sock && self->links[i].last_rx &&
                     now - self->links[i].last_rx < (int64_t) self->heartbeat_ms * self->liveness;
    return connected;
}

uint64_t
lh_worker_reconnects (lh_worker_t *self)
{
    return self->reconnects;
}

uint64_t
lh_worker_disconnects (lh_worker_t *self)
{
    return self->disconnects;
}

static void
s_caller_field (const msgpack_object *caller, const char *key, char *buf, size_t size)
{
    if (!codec_str_copy (codec_map_get (caller, key), buf, size))
        buf[0] = 0;
}

//  Turns a REQUEST [token, empty, caller, body] into a request, or answers
//  it with an error and returns NULL.
static lh_request_t *
s_request_new (lh_worker_t *self, int link, zmsg_t *msg)
{
    lh_request_t *request = (lh_request_t *) zmalloc (sizeof (lh_request_t));
    request->link = link;
    request->token = zmsg_pop (msg);
    zframe_t *empty = zmsg_pop (msg);
    zframe_t *caller = zmsg_pop (msg);
    zframe_t *body = zmsg_pop (msg);
    lh_err_t err = LH_E_BAD_REQUEST;
    const char *why = "malformed REQUEST frames";
    if (body && zframe_size (empty) == 0 && zmsg_size (msg) == 0) {
        codec_doc_t *who =
            codec_doc_decode (zframe_data (caller), zframe_size (caller), &err, &why);
        if (who) {
            const msgpack_object *root = codec_doc_root (who);
            s_caller_field (root, "agent", request->agent, sizeof (request->agent));
            s_caller_field (root, "role", request->role, sizeof (request->role));
            s_caller_field (root, "key", request->key, sizeof (request->key));
            codec_doc_destroy (&who);
            request->doc = codec_doc_decode (zframe_data (body), zframe_size (body), &err, &why);
        }
    }
    zframe_destroy (&empty);
    zframe_destroy (&caller);
    zframe_destroy (&body);
    if (!request->doc) {
        if (request->token)
            lh_worker_reply_error (self, &request, err, why);
        lh_request_destroy (&request);
    }
    return request;
}

//  Heartbeats, silence and reconnection for one link; returns when it next
//  needs attention.
static int64_t
s_link_tick (lh_worker_t *self, link_t *link, int64_t now)
{
    if (!link->sock && now >= link->reconnect_at) {
        s_connect (self, link);
        self->reconnects++;
        if (!link->sock)
            s_backoff (self, link, now);
    }
    if (link->sock && now >= link->expect_by) {
        //  Broker silent too long: start over
        s_backoff (self, link, now);
        return link->reconnect_at;
    }
    if (!link->sock)
        return link->reconnect_at;
    if (now >= link->heartbeat_at) {
        s_send_command (link, MDPW_HEARTBEAT, NULL, NULL);
        link->heartbeat_at = now + self->heartbeat_ms;
    }
    return link->heartbeat_at < link->expect_by ? link->heartbeat_at : link->expect_by;
}

//  Reads one message from link i; returns a request or NULL.
static lh_request_t *
s_read (lh_worker_t *self, int i)
{
    link_t *link = &self->links[i];
    zmsg_t *msg = zmsg_recv (link->sock);
    if (!msg)
        return NULL;
    link->last_rx = zclock_mono ();
    link->expect_by = link->last_rx + (int64_t) self->heartbeat_ms * self->liveness;
    zframe_t *empty = zmsg_pop (msg);
    zframe_t *header = zmsg_pop (msg);
    zframe_t *command = zmsg_pop (msg);
    lh_request_t *request = NULL;
    if (zframe_size (empty) == 0 && zframe_streq (header, MDPW_WORKER) && command &&
        zframe_size (command) == 1) {
        int cmd = zframe_data (command)[0];
        if (cmd == MDPW_REQUEST) {
            link->backoff_ms = 100;
            request = s_request_new (self, i, msg);
        } else if (cmd == MDPW_DISCONNECT) {
            self->disconnects++;
            s_backoff (self, link, link->last_rx);
        }
    }
    zframe_destroy (&empty);
    zframe_destroy (&header);
    zframe_destroy (&command);
    zmsg_destroy (&msg);
    return request;
}

lh_request_t *
lh_worker_recv (lh_worker_t *self, int timeout_ms)
{
    int64_t until = timeout_ms < 0 ? INT64_MAX : zclock_mono () + timeout_ms;
    while (!zsys_interrupted) {
        int64_t now = zclock_mono ();
        int64_t wake = until;
        zmq_pollitem_t items[LH_MAX_BROKERS];
        int polled[LH_MAX_BROKERS], count = 0;
        for (int step = 0; step < self->nlinks; step++) {
            int i = (self->next_link + step) % self->nlinks;
            link_t *link = &self->links[i];
            int64_t at = s_link_tick (self, link, now);
            if (at < wake)
                wake = at;
            if (link->sock) {
                items[count] = (zmq_pollitem_t){zsock_resolve (link->sock), 0, ZMQ_POLLIN, 0};
                polled[count++] = i;
            }
        }
        if (now > until)
            return NULL;
        long wait = wake > now ? (long) (wake - now) : 0;
        if (count == 0) {
            if (now >= until)
                return NULL;
            zclock_sleep ((int) wait);
            continue;
        }
        int rc = zmq_poll (items, count, wait);
        if (rc == -1 && errno != EINTR)
            return NULL;
        if (rc <= 0) {
            //  A zero wait polls once, so timeout 0 means "what is there now"
            if (now >= until)
                return NULL;
            continue;
        }
        for (int k = 0; k < count; k++)
            if (items[k].revents & ZMQ_POLLIN) {
                lh_request_t *request = s_read (self, polled[k]);
                if (request) {
                    self->next_link = (polled[k] + 1) % self->nlinks;
                    return request;
                }
            }
    }
    return NULL;
}

int
lh_worker_reply (lh_worker_t *self, lh_request_t **request_p, const void *body, size_t size)
{
    lh_request_t *request = *request_p;
    int rc = -1;
    link_t *link = request ? &self->links[request->link] : NULL;
    //  A reply for a request from a broker we lost cannot be routed
    if (link && link->sock && request->token) {
        zmsg_t *msg = zmsg_new ();
        zmsg_addmem (msg, "", 0);
        zmsg_addstr (msg, MDPW_WORKER);
        zmsg_addmem (msg, &(char){MDPW_REPLY}, 1);
        zmsg_append (msg, &request->token);
        zmsg_addmem (msg, "", 0);
        zmsg_addmem (msg, body, size);
        rc = zmsg_send (&msg, link->sock);
        link->heartbeat_at = zclock_mono () + self->heartbeat_ms;
    }
    lh_request_destroy (request_p);
    return rc;
}

int
lh_worker_reply_error (lh_worker_t *self, lh_request_t **request_p, lh_err_t code,
                       const char *message)
{
    codec_buf_t buf;
    codec_buf_init (&buf);
    codec_pack_error (&buf.pk, lh_request_id (*request_p), code, message);
    int rc = lh_worker_reply (self, request_p, buf.sbuf.data, buf.sbuf.size);
    codec_buf_destroy (&buf);
    return rc;
}

int
lh_worker_publish (lh_worker_t *self, const char *topic, const void *body, size_t size)
{
    //  Through one broker, the one heard from last: subscribers connect to
    //  every broker's PUB socket, so each of them gets the notice once
    link_t *best = NULL;
    for (int i = 0; i < self->nlinks; i++)
        if (self->links[i].sock && (!best || self->links[i].last_rx > best->last_rx))
            best = &self->links[i];
    if (!best)
        return -1;
    zmsg_t *msg = zmsg_new ();
    zmsg_addmem (msg, "", 0);
    zmsg_addstr (msg, MDPW_WORKER);
    zmsg_addmem (msg, &(char){MDPW_PUBLISH}, 1);
    zmsg_addstr (msg, topic);
    zmsg_addmem (msg, body, size);
    return zmsg_send (&msg, best->sock);
}

const msgpack_object *
lh_request_body (const lh_request_t *self)
{
    return self->doc ? codec_doc_root (self->doc) : NULL;
}

const msgpack_object *
lh_request_id (const lh_request_t *self)
{
    return codec_map_get (lh_request_body (self), "id");
}

const char *
lh_request_agent (const lh_request_t *self)
{
    return self->agent;
}

const char *
lh_request_role (const lh_request_t *self)
{
    return self->role;
}

const char *
lh_request_key (const lh_request_t *self)
{
    return self->key;
}

void
lh_request_destroy (lh_request_t **self_p)
{
    if (self_p && *self_p) {
        zframe_destroy (&(*self_p)->token);
        codec_doc_destroy (&(*self_p)->doc);
        free (*self_p);
        *self_p = NULL;
    }
}
