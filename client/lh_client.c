/*  lh_client -- the agent side of liblighthouse. See lh_client.h. */
#include "lh_client.h"

#include "codec.h"
#include "lh_idhash.h"

#include <errno.h>

typedef struct {
    uint64_t id;
    char service[LH_MAX_SERVICE + 1];
    zframe_t *body; //  with id, kept for resends
    int64_t deadline;
    int64_t sent_us;
    int tries_left;
    void *handle; //  in self->order
} pending_t;

struct _lh_client_t {
    lh_connect_t conn;
    char *endpoint;
    char *server_key;
    zsock_t *sock;
    zhashx_t *pending; //  id -> pending_t
    zlistx_t *order;   //  pending_t, oldest deadline first
    zlistx_t *ready;   //  lh_reply_t received while lh_client_call waited
    uint64_t next_id;
    int timeout_ms;
    int retries;
    int64_t last_rx; //  ms, last message from the broker
    uint64_t dropped;
    uint64_t reconnects;
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

lh_client_t *
lh_client_new (const lh_connect_t *conn)
{
    if (!conn || !conn->endpoint)
        return NULL;
    lh_client_t *self = (lh_client_t *) zmalloc (sizeof (lh_client_t));
    self->endpoint = strdup (conn->endpoint);
    self->server_key = conn->server_key ? strdup (conn->server_key) : NULL;
    self->conn = (lh_connect_t){.endpoint = self->endpoint,
                                .server_key = self->server_key,
                                .cert = conn->cert,
                                .heartbeat_ms = conn->heartbeat_ms};
    self->sock = lh_connect_dealer (&self->conn);
    if (!self->sock) {
        lh_client_destroy (&self);
        return NULL;
    }
    //  Keys are the ids themselves, stored in the pointer
    self->pending = lh_idhash_new ();
    self->order = zlistx_new ();
    zlistx_set_destructor (self->order, s_pending_destroy);
    self->ready = zlistx_new ();
    zlistx_set_destructor (self->ready, s_reply_destructor);
    self->next_id = 1;
    self->timeout_ms = 3000;
    self->retries = 2;
    self->last_rx = zclock_mono ();
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
        zsock_destroy (&self->sock);
        free (self->endpoint);
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

size_t
lh_client_pending (lh_client_t *self)
{
    return zhashx_size (self->pending);
}

int
lh_client_fd (lh_client_t *self)
{
    return self->sock ? zsock_fd (self->sock) : -1;
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

static int
s_send_pending (lh_client_t *self, pending_t *p)
{
    void *handle = zsock_resolve (self->sock);
    size_t service_len = strlen (p->service);
    if (zmq_send (handle, "", 0, ZMQ_SNDMORE | ZMQ_DONTWAIT) == -1)
        return -1;
    zmq_send (handle, MDPC_CLIENT, strlen (MDPC_CLIENT), ZMQ_SNDMORE);
    zmq_send (handle, p->service, service_len, ZMQ_SNDMORE);
    zmq_send (handle, zframe_data (p->body), zframe_size (p->body), 0);
    p->sent_us = zclock_usecs ();
    p->deadline = zclock_mono () + self->timeout_ms;
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
    if (s_send_pending (self, p) != 0) {
        *why = "client send queue is full";
        s_pending_destroy ((void **) &p);
        return LH_E_OVERLOADED;
    }
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
    zhashx_delete (self->pending, LH_IDKEY (p->id));
    zlistx_delete (self->order, p->handle);
}

//  Lazy Pirate: a socket whose peer went silent is closed and opened again.
static void
s_reconnect (lh_client_t *self)
{
    zsock_t *sock = lh_connect_dealer (&self->conn);
    if (!sock)
        return;
    zsock_destroy (&self->sock);
    self->sock = sock;
    self->reconnects++;
    self->last_rx = zclock_mono ();
}

//  Handles the oldest pending request if its deadline passed: resend it or
//  give up on it. Returns a local timeout reply when given up.
static lh_reply_t *
s_expire (lh_client_t *self, int64_t now)
{
    pending_t *p = (pending_t *) zlistx_first (self->order);
    if (!p || p->deadline > now)
        return NULL;
    if (p->tries_left > 0) {
        p->tries_left--;
        if (self->last_rx < p->deadline - self->timeout_ms)
            s_reconnect (self);
        if (s_send_pending (self, p) == 0) {
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

//  Reads one message from the socket; returns a reply for a pending request or NULL.
static lh_reply_t *
s_read (lh_client_t *self)
{
    zmsg_t *msg = zmsg_recv (self->sock);
    if (!msg)
        return NULL;
    self->last_rx = zclock_mono ();
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
    lh_err_t err;
    const char *why;
    codec_doc_t *doc = codec_doc_decode (zframe_data (body), zframe_size (body), &err, &why);
    const msgpack_object *root = doc ? codec_doc_root (doc) : NULL;
    const msgpack_object *id = codec_map_get (root, "id");
    pending_t *p = NULL;
    if (id && id->type == MSGPACK_OBJECT_POSITIVE_INTEGER)
        p = (pending_t *) zhashx_lookup (self->pending, LH_IDKEY (id->via.u64));
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
        pending_t *first = (pending_t *) zlistx_first (self->order);
        int64_t wake = first && first->deadline < until ? first->deadline : until;
        if (wake == INT64_MAX)
            return NULL; //  nothing pending and told to wait for it
        long wait = wake > now ? (long) (wake - now) : 0;
        zmq_pollitem_t item = {zsock_resolve (self->sock), 0, ZMQ_POLLIN, 0};
        int rc = zmq_poll (&item, 1, wait);
        if (rc == -1 && errno != EINTR)
            return NULL;
        if (rc > 0 && (item.revents & ZMQ_POLLIN)) {
            reply = s_read (self);
            if (reply)
                return reply;
        } else if (zclock_mono () >= until)
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
