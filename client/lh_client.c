/*  lh_client -- the agent side of liblighthouse. See lh_client.h. */
#include "lh_client.h"

#include "codec.h"
#include "lh_idhash.h"

#include <errno.h>
#include <sys/epoll.h>
#include <unistd.h>

//  One broker of the list, watched in the manner of the guide's Freelance
//  pattern: a link with requests out and nothing heard for a while is asked
//  "broker.ping"; one that does not answer in time is declared down, its
//  requests go to the others, and it is probed again with backoff.
typedef struct {
    char *endpoint;
    zsock_t *sock;
    bool up;
    int64_t last_rx;       //  ms, last message from this broker
    uint64_t ping_id;      //  outstanding probe, 0 when none
    uint64_t stale_ping;   //  the last probe given up on: its late answer is no stray
    int64_t ping_deadline; //  probe unanswered by then: down
    int64_t probe_at;      //  a down link is probed again then
    int probe_backoff;     //  ms
    uint64_t boot;         //  the broker's boot id from its last ping reply
    size_t inflight;       //  requests last sent through this link
    int64_t busy_since;    //  when inflight last rose from 0
} link_t;

typedef struct {
    uint64_t id;
    char service[LH_MAX_SERVICE + 1];
    zframe_t *body; //  with id, kept for resends
    int64_t deadline;
    int64_t sent_us;
    int tries_left;
    int link;     //  where it was last sent; -1 while held for a first pong
    void *handle; //  in self->order
} pending_t;

struct _lh_client_t {
    lh_connect_t conn;
    char *server_key;
    link_t links[LH_MAX_BROKERS];
    int nlinks;
    int next_link;      //  round robin over the links that are up
    int64_t hold_until; //  until then, with no broker known up, requests wait (link -1)
    int epoll;          //  every link's ZMQ_FD, so callers poll one descriptor
    zhashx_t *pending;  //  id -> pending_t
    zlistx_t *order;    //  pending_t, oldest deadline first
    zlistx_t *ready;    //  lh_reply_t received while lh_client_call waited
    uint64_t next_id;
    int timeout_ms;
    int retries;
    int failover_ms;
    uint64_t dropped;
    uint64_t reconnects;
    uint64_t failovers;
};

struct _lh_reply_t {
    uint64_t id;
    char service[LH_MAX_SERVICE + 1];
    bool ok;
    lh_err_t code;
    char code_name[32];
    char message[LH_MAX_MESSAGE + 1];
    codec_doc_t *doc;
    int64_t rtt_us;
};

static void
s_pending_destroy (void **item)
{
    pending_t *p = (pending_t *) *item;
    if (p) {
        zframe_destroy (&p->body);
        free (p);
        *item = NULL;
    }
}

static void
s_reply_destructor (void **item)
{
    lh_reply_destroy ((lh_reply_t **) item);
}

static void s_ping (lh_client_t *self, link_t *link, int64_t now);

//  Opens (or opens again) a link's socket and keeps the epoll set current.
static int
s_link_open (lh_client_t *self, link_t *link)
{
    lh_connect_t conn = self->conn;
    conn.endpoint = link->endpoint;
    zsock_t *sock = lh_connect_dealer (&conn);
    if (!sock)
        return -1;
    if (link->sock) {
        epoll_ctl (self->epoll, EPOLL_CTL_DEL, zsock_fd (link->sock), NULL);
        zsock_destroy (&link->sock);
        self->reconnects++;
    }
    link->sock = sock;
    struct epoll_event event = {.events = EPOLLIN, .data.ptr = link};
    epoll_ctl (self->epoll, EPOLL_CTL_ADD, zsock_fd (sock), &event);
    link->last_rx = zclock_mono ();
    link->ping_id = 0;
    return 0;
}

lh_client_t *
lh_client_new (const lh_connect_t *conn)
{
    zlistx_t *endpoints = conn ? lh_connect_endpoints (conn->endpoint) : NULL;
    if (!endpoints)
        return NULL;
    lh_client_t *self = (lh_client_t *) zmalloc (sizeof (lh_client_t));
    self->server_key = conn->server_key ? strdup (conn->server_key) : NULL;
    self->conn = (lh_connect_t){
        .server_key = self->server_key, .cert = conn->cert, .heartbeat_ms = conn->heartbeat_ms};
    self->epoll = epoll_create1 (EPOLL_CLOEXEC);
    for (char *endpoint = (char *) zlistx_first (endpoints); endpoint;
         endpoint = (char *) zlistx_next (endpoints)) {
        link_t *link = &self->links[self->nlinks++];
        link->endpoint = strdup (endpoint);
        link->probe_backoff = 0;
        if (self->epoll == -1 || s_link_open (self, link) != 0) {
            zlistx_destroy (&endpoints);
            lh_client_destroy (&self);
            return NULL;
        }
    }
    zlistx_destroy (&endpoints);
    //  Keys are the ids themselves, stored in the pointer
    self->pending = lh_idhash_new ();
    self->order = zlistx_new ();
    zlistx_set_destructor (self->order, s_pending_destroy);
    self->ready = zlistx_new ();
    zlistx_set_destructor (self->ready, s_reply_destructor);
    self->next_id = 1;
    self->timeout_ms = 3000;
    self->retries = 2;
    self->failover_ms = LH_CLIENT_FAILOVER_MS;
    //  Short-lived clients (one hook call each) spread over the brokers too
    self->next_link = self->nlinks > 1 ? (int) randof (self->nlinks) : 0;
    if (self->nlinks == 1)
        self->links[0].up = true;
    else {
        //  Which brokers live is not known yet: ask them all, and hold the
        //  first requests until one answers (one round trip, which the
        //  CURVE handshake costs anyway) rather than risk a dead one
        int64_t now = zclock_mono ();
        for (int i = 0; i < self->nlinks; i++)
            s_ping (self, &self->links[i], now);
        self->hold_until = now + self->failover_ms / 2;
    }
    return self;
}

void
lh_client_destroy (lh_client_t **self_p)
{
    if (self_p && *self_p) {
        lh_client_t *self = *self_p;
        zhashx_destroy (&self->pending);
        zlistx_destroy (&self->order);
        zlistx_destroy (&self->ready);
        for (int i = 0; i < self->nlinks; i++) {
            zsock_destroy (&self->links[i].sock);
            free (self->links[i].endpoint);
        }
        if (self->epoll != -1)
            close (self->epoll);
        free (self->server_key);
        free (self);
        *self_p = NULL;
    }
}

void
lh_client_set_timeout (lh_client_t *self, int timeout_ms)
{
    self->timeout_ms = timeout_ms > 0 ? timeout_ms : 1;
}

void
lh_client_set_retries (lh_client_t *self, int retries)
{
    self->retries = retries >= 0 ? retries : 0;
}

void
lh_client_set_failover (lh_client_t *self, int failover_ms)
{
    self->failover_ms = failover_ms >= 2 ? failover_ms : 2;
}

size_t
lh_client_pending (lh_client_t *self)
{
    return zhashx_size (self->pending);
}

int
lh_client_fd (lh_client_t *self)
{
    return self->epoll;
}

size_t
lh_client_brokers (lh_client_t *self)
{
    return (size_t) self->nlinks;
}

size_t
lh_client_brokers_up (lh_client_t *self)
{
    size_t up = 0;
    for (int i = 0; i < self->nlinks; i++)
        up += self->links[i].up;
    return up;
}

uint64_t
lh_client_dropped (lh_client_t *self)
{
    return self->dropped;
}

uint64_t
lh_client_reconnects (lh_client_t *self)
{
    return self->reconnects;
}

uint64_t
lh_client_failovers (lh_client_t *self)
{
    return self->failovers;
}

static int
s_send_frames (link_t *link, const char *service, const void *body, size_t size)
{
    void *handle = zsock_resolve (link->sock);
    if (zmq_send (handle, "", 0, ZMQ_SNDMORE | ZMQ_DONTWAIT) == -1)
        return -1;
    zmq_send (handle, MDPC_CLIENT, strlen (MDPC_CLIENT), ZMQ_SNDMORE);
    zmq_send (handle, service, strlen (service), ZMQ_SNDMORE);
    zmq_send (handle, body, size, 0);
    return 0;
}

//  The link that is up, other than `avoid`, holding fewest of our requests
//  (ties in round-robin order: a broker that falls behind gets less until
//  it catches up), else `avoid` if it is up, else simply the next one: with
//  every broker down, requests still go out and the first back answers.
static int
s_pick (lh_client_t *self, int avoid)
{
    int best = -1, fallback = -1;
    for (int step = 0; step < self->nlinks; step++) {
        int i = (self->next_link + step) % self->nlinks;
        if (!self->links[i].up)
            continue;
        if (i == avoid && self->nlinks > 1)
            fallback = i;
        else if (best < 0 || self->links[i].inflight < self->links[best].inflight)
            best = i;
    }
    if (best >= 0) {
        self->next_link = (best + 1) % self->nlinks;
        return best;
    }
    if (fallback >= 0)
        return fallback;
    int i = self->next_link;
    if (i == avoid && self->nlinks > 1)
        i = (i + 1) % self->nlinks;
    self->next_link = (i + 1) % self->nlinks;
    return i;
}

//  True while a new client waits for its first pong
static bool
s_holding (lh_client_t *self)
{
    if (!self->hold_until)
        return false;
    for (int i = 0; i < self->nlinks; i++)
        if (self->links[i].up)
            self->hold_until = 0;
    if (self->hold_until && zclock_mono () >= self->hold_until)
        self->hold_until = 0;
    return self->hold_until != 0;
}

//  Sends (or sends again, same id) through link i; the deadline is the
//  caller's business.
static int
s_send_pending (lh_client_t *self, pending_t *p, int i)
{
    if (s_send_frames (&self->links[i], p->service, zframe_data (p->body), zframe_size (p->body)) !=
        0)
        return -1;
    if (p->link >= 0)
        self->links[p->link].inflight--;
    p->link = i;
    if (self->links[i].inflight++ == 0)
        self->links[i].busy_since = zclock_mono ();
    p->sent_us = zclock_usecs ();
    return 0;
}

int
lh_client_send (lh_client_t *self, const char *service, const void *body, size_t size,
                uint64_t *id_p, const char **why)
{
    const char *dummy;
    if (!why)
        why = &dummy;
    size_t service_len = strlen (service);
    if (service_len == 0 || service_len > LH_MAX_SERVICE) {
        *why = "service name must be 1 to 64 bytes";
        return LH_E_BAD_REQUEST;
    }
    uint64_t id = self->next_id++;
    msgpack_sbuffer buf;
    msgpack_sbuffer_init (&buf);
    lh_err_t rc = codec_with_id (body, size, id, &buf, why);
    if (rc == LH_OK && buf.size > LH_MAX_BODY) {
        rc = LH_E_TOO_LARGE;
        *why = "body too large";
    }
    if (rc != LH_OK) {
        msgpack_sbuffer_destroy (&buf);
        return rc;
    }
    pending_t *p = (pending_t *) zmalloc (sizeof (pending_t));
    p->id = id;
    memcpy (p->service, service, service_len + 1);
    p->body = zframe_new (buf.data, buf.size);
    msgpack_sbuffer_destroy (&buf);
    p->tries_left = self->retries;
    p->link = -1;
    //  A link whose queue is full is as good as down for this request
    int first = s_pick (self, -1), i = first;
    while (!s_holding (self) && s_send_pending (self, p, i) != 0) {
        i = (i + 1) % self->nlinks;
        if (i == first) {
            *why = "client send queue is full";
            s_pending_destroy ((void **) &p);
            return LH_E_OVERLOADED;
        }
    }
    p->deadline = zclock_mono () + self->timeout_ms;
    p->handle = zlistx_add_end (self->order, p);
    zhashx_insert (self->pending, LH_IDKEY (id), p);
    if (id_p)
        *id_p = id;
    return LH_OK;
}

static lh_reply_t *
s_reply_local (pending_t *p, lh_err_t code, const char *message)
{
    lh_reply_t *reply = (lh_reply_t *) zmalloc (sizeof (lh_reply_t));
    reply->id = p->id;
    snprintf (reply->service, sizeof (reply->service), "%s", p->service);
    reply->code = code;
    snprintf (reply->code_name, sizeof (reply->code_name), "%s", codec_err_name (code));
    snprintf (reply->message, sizeof (reply->message), "%s", message);
    reply->rtt_us = zclock_usecs () - p->sent_us;
    return reply;
}

static void
s_forget (lh_client_t *self, pending_t *p)
{
    if (p->link >= 0)
        self->links[p->link].inflight--;
    zhashx_delete (self->pending, LH_IDKEY (p->id));
    zlistx_delete (self->order, p->handle);
}

static void
s_ping (lh_client_t *self, link_t *link, int64_t now)
{
    uint64_t id = self->next_id++;
    codec_buf_t buf;
    codec_buf_init (&buf);
    msgpack_pack_map (&buf.pk, 1);
    codec_pack_kv_u64 (&buf.pk, "id", id);
    if (s_send_frames (link, "broker.ping", buf.sbuf.data, buf.sbuf.size) == 0) {
        link->ping_id = id;
        link->ping_deadline = now + self->failover_ms / 2;
    }
    codec_buf_destroy (&buf);
}

//  Sends every request last sent through link i again, elsewhere if any
//  other broker is up. Deadlines stay: a failover never lengthens the
//  time a caller waits for an answer.
static void
s_resend_from (lh_client_t *self, int i)
{
    for (pending_t *p = (pending_t *) zlistx_first (self->order); p;
         p = (pending_t *) zlistx_next (self->order))
        if (p->link == i) {
            int to = s_pick (self, i);
            if (s_send_pending (self, p, to) != 0 && to != i && i >= 0)
                s_send_pending (self, p, i);
        }
}

//  Link i did not answer a probe: the Lazy Pirate way, a new socket (a
//  stuck connection's queue goes with the old one), then failover. A link
//  never heard from keeps its socket: libzmq retries the connection, and a
//  slow handshake is not cut short.
static void
s_link_down (lh_client_t *self, int i, int64_t now)
{
    link_t *link = &self->links[i];
    bool reopen = link->up || link->inflight > 0;
    if (link->up)
        self->failovers++;
    link->up = false;
    link->stale_ping = link->ping_id;
    link->ping_id = 0;
    link->probe_backoff = link->probe_backoff
                              ? (link->probe_backoff * 2 > 5000 ? 5000 : link->probe_backoff * 2)
                              : self->failover_ms;
    link->probe_at = now + link->probe_backoff;
    if (reopen)
        s_link_open (self, link);
    s_resend_from (self, i);
}

//  Probes due, links declared down, held requests sent once a broker
//  answered (or the wait for one is over); returns when it next needs a call.
static int64_t
s_tick (lh_client_t *self, int64_t now)
{
    int64_t wake = INT64_MAX;
    bool held = self->hold_until != 0;
    if (held && !s_holding (self))
        s_resend_from (self, -1);
    if (self->hold_until)
        wake = self->hold_until;
    bool waiting = zhashx_size (self->pending) > 0;
    for (int i = 0; i < self->nlinks; i++) {
        link_t *link = &self->links[i];
        if (link->ping_id && now >= link->ping_deadline)
            s_link_down (self, i, now);
        //  One broker has nowhere to fail over to: its silence is left to
        //  the deadlines (s_expire), so a slow broker is never cut off
        if (!link->ping_id && waiting && self->nlinks > 1) {
            int64_t heard = link->last_rx > link->busy_since ? link->last_rx : link->busy_since;
            int64_t due = link->up ? (link->inflight ? heard + self->failover_ms / 2 : INT64_MAX)
                                   : link->probe_at;
            if (now >= due)
                s_ping (self, link, now);
            else if (due < wake)
                wake = due;
        }
        if (link->ping_id && link->ping_deadline < wake)
            wake = link->ping_deadline;
    }
    return wake;
}

//  Handles the oldest pending request if its deadline passed: resend it
//  (through another broker when there is one) or give up on it. Returns a
//  local timeout reply when given up.
static lh_reply_t *
s_expire (lh_client_t *self, int64_t now)
{
    pending_t *p = (pending_t *) zlistx_first (self->order);
    if (!p || p->deadline > now)
        return NULL;
    if (p->tries_left > 0) {
        p->tries_left--;
        int from = p->link;
        //  Nothing heard since the send: with one broker, the Lazy Pirate
        //  way (a new socket); with several, ask whether it lives (s_tick)
        bool silent = from >= 0 && self->links[from].last_rx < p->deadline - self->timeout_ms;
        if (silent && self->nlinks == 1)
            s_link_open (self, &self->links[from]);
        else if (silent && self->links[from].up && !self->links[from].ping_id)
            s_ping (self, &self->links[from], now);
        int to = s_pick (self, from);
        if (s_send_pending (self, p, to) == 0 ||
            (from >= 0 && s_send_pending (self, p, from) == 0)) {
            p->deadline = now + self->timeout_ms;
            zlistx_move_end (self->order, p->handle);
            return NULL;
        }
    }
    char message[128];
    snprintf (message, sizeof (message), "no reply within %d ms after %d tries", self->timeout_ms,
              self->retries + 1);
    lh_reply_t *reply = s_reply_local (p, LH_E_TIMEOUT, message);
    s_forget (self, p);
    return reply;
}

//  A broker.ping reply on link i: the link is up; a new boot id means the
//  broker restarted and lost whatever it held, so that goes out again.
static void
s_pong (lh_client_t *self, int i, const msgpack_object *root, uint64_t id)
{
    link_t *link = &self->links[i];
    if (id == link->ping_id)
        link->ping_id = 0;
    else
        link->stale_ping = 0;
    link->up = true;
    link->probe_backoff = 0;
    const msgpack_object *boot = codec_map_get (root, "boot");
    if (boot && boot->type == MSGPACK_OBJECT_POSITIVE_INTEGER) {
        if (link->boot && link->boot != boot->via.u64)
            s_resend_from (self, i);
        link->boot = boot->via.u64;
    }
}

//  Reads one message from link i; returns a reply for a pending request or NULL.
static lh_reply_t *
s_read (lh_client_t *self, int i)
{
    link_t *link = &self->links[i];
    zmsg_t *msg = zmsg_recv (link->sock);
    if (!msg)
        return NULL;
    link->last_rx = zclock_mono ();
    lh_reply_t *reply = NULL;
    zframe_t *empty = zmsg_pop (msg);
    zframe_t *header = zmsg_pop (msg);
    zframe_t *service = zmsg_pop (msg);
    zframe_t *body = zmsg_pop (msg);
    if (!body || zframe_size (empty) != 0 || !zframe_streq (header, MDPC_CLIENT) ||
        zframe_size (service) > LH_MAX_SERVICE) {
        self->dropped++;
        goto done;
    }
    //  Whatever it says, the broker is there
    if (!link->up) {
        link->up = true;
        link->probe_backoff = 0;
    }
    lh_err_t err;
    const char *why;
    codec_doc_t *doc = codec_doc_decode (zframe_data (body), zframe_size (body), &err, &why);
    const msgpack_object *root = doc ? codec_doc_root (doc) : NULL;
    const msgpack_object *id = codec_map_get (root, "id");
    pending_t *p = NULL;
    if (id && id->type == MSGPACK_OBJECT_POSITIVE_INTEGER) {
        if ((link->ping_id && id->via.u64 == link->ping_id) ||
            (link->stale_ping && id->via.u64 == link->stale_ping)) {
            s_pong (self, i, root, id->via.u64);
            codec_doc_destroy (&doc);
            goto done;
        }
        p = (pending_t *) zhashx_lookup (self->pending, LH_IDKEY (id->via.u64));
    }
    if (!p) {
        self->dropped++;
        codec_doc_destroy (&doc);
        goto done;
    }
    reply = (lh_reply_t *) zmalloc (sizeof (lh_reply_t));
    reply->id = p->id;
    memcpy (reply->service, zframe_data (service), zframe_size (service));
    reply->rtt_us = zclock_usecs () - p->sent_us;
    reply->doc = doc;
    const msgpack_object *ok = codec_map_get (root, "ok");
    reply->ok = ok && ok->type == MSGPACK_OBJECT_BOOLEAN && ok->via.boolean;
    if (!reply->ok) {
        const msgpack_object *error = codec_map_get (root, "error");
        const msgpack_object *code = codec_map_get (error, "code");
        const msgpack_object *message = codec_map_get (error, "message");
        reply->code = codec_reply_code (root);
        if (code && code->type == MSGPACK_OBJECT_STR)
            codec_str_copy (code, reply->code_name, sizeof (reply->code_name));
        else
            snprintf (reply->code_name, sizeof (reply->code_name), "internal");
        if (!codec_str_copy (message, reply->message, sizeof (reply->message)))
            snprintf (reply->message, sizeof (reply->message), "%s",
                      doc ? "error reply without a message" : why);
    }
    s_forget (self, p);
done:
    zframe_destroy (&empty);
    zframe_destroy (&header);
    zframe_destroy (&service);
    zframe_destroy (&body);
    zmsg_destroy (&msg);
    return reply;
}

lh_reply_t *
lh_client_recv (lh_client_t *self, int timeout_ms)
{
    lh_reply_t *ready = (lh_reply_t *) zlistx_detach (self->ready, NULL);
    if (ready)
        return ready;
    int64_t until = timeout_ms < 0 ? INT64_MAX : zclock_mono () + timeout_ms;
    while (!zsys_interrupted) {
        int64_t now = zclock_mono ();
        lh_reply_t *reply = s_expire (self, now);
        if (reply)
            return reply;
        int64_t wake = s_tick (self, now);
        pending_t *first = (pending_t *) zlistx_first (self->order);
        if (first && first->deadline < wake)
            wake = first->deadline;
        if (until < wake)
            wake = until;
        if (wake == INT64_MAX)
            return NULL; //  nothing pending and told to wait for it
        long wait = wake > now ? (long) (wake - now) : 0;
        zmq_pollitem_t items[LH_MAX_BROKERS];
        for (int i = 0; i < self->nlinks; i++)
            items[i] = (zmq_pollitem_t){zsock_resolve (self->links[i].sock), 0, ZMQ_POLLIN, 0};
        int rc = zmq_poll (items, self->nlinks, wait);
        if (rc == -1 && errno != EINTR)
            return NULL;
        //  Read every ready link once per round, so that none starves another
        for (int i = 0; rc > 0 && i < self->nlinks; i++)
            if (items[i].revents & ZMQ_POLLIN) {
                reply = s_read (self, i);
                if (reply) {
                    //  A later round reads the rest; ZMQ_FD stays signalled
                    return reply;
                }
            }
        if (rc <= 0 && zclock_mono () >= until)
            return NULL;
    }
    return NULL;
}

lh_reply_t *
lh_client_call (lh_client_t *self, const char *service, const void *body, size_t size)
{
    uint64_t id;
    const char *why;
    int rc = lh_client_send (self, service, body, size, &id, &why);
    if (rc != LH_OK) {
        pending_t local = {.id = 0, .sent_us = zclock_usecs ()};
        snprintf (local.service, sizeof (local.service), "%.64s", service);
        return s_reply_local (&local, (lh_err_t) rc, why);
    }
    while (!zsys_interrupted) {
        lh_reply_t *reply = lh_client_recv (self, -1);
        if (!reply)
            break;
        if (reply->id == id)
            return reply;
        zlistx_add_end (self->ready, reply);
    }
    return NULL;
}

uint64_t
lh_reply_id (const lh_reply_t *self)
{
    return self->id;
}

const char *
lh_reply_service (const lh_reply_t *self)
{
    return self->service;
}

bool
lh_reply_ok (const lh_reply_t *self)
{
    return self->ok;
}

lh_err_t
lh_reply_code (const lh_reply_t *self)
{
    return self->ok ? LH_OK : self->code;
}

const char *
lh_reply_code_name (const lh_reply_t *self)
{
    return self->ok ? "ok" : self->code_name;
}

const char *
lh_reply_message (const lh_reply_t *self)
{
    return self->message;
}

const msgpack_object *
lh_reply_root (const lh_reply_t *self)
{
    return self->doc ? codec_doc_root (self->doc) : NULL;
}

int64_t
lh_reply_rtt_us (const lh_reply_t *self)
{
    return self->rtt_us;
}

void
lh_reply_destroy (lh_reply_t **self_p)
{
    if (self_p && *self_p) {
        codec_doc_destroy (&(*self_p)->doc);
        free (*self_p);
        *self_p = NULL;
    }
}
