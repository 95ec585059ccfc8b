/*  lh_worker -- the service side of liblighthouse. See lh_worker.h. */
#include "lh_worker.h"

#include "codec.h"

#include <errno.h>

struct _lh_worker_t {
    lh_connect_t conn;
    char *endpoint;
    char *server_key;
    char service[LH_MAX_SERVICE + 1];
    int capacity;
    zsock_t *sock;
    int heartbeat_ms;
    int liveness;
    int64_t heartbeat_at; //  when we next send a heartbeat
    int64_t expect_by;    //  broker declared dead when silent past this
    int64_t reconnect_at; //  0, or when to open a new socket
    int backoff_ms;
    uint64_t reconnects;
    uint64_t disconnects;
};

struct _lh_request_t {
    zframe_t *token; //  the broker's handle for the request: echoed back
    codec_doc_t *doc;
    char agent[LH_MAX_AGENT + 1];
    char role[16];
    char key[48];
};

static int
s_send_command (lh_worker_t *self, int command, const char *service, zframe_t *extra)
{
    zmsg_t *msg = zmsg_new ();
    zmsg_addmem (msg, "", 0);
    zmsg_addstr (msg, MDPW_WORKER);
    zmsg_addmem (msg, &(char){(char) command}, 1);
    if (service)
        zmsg_addstr (msg, service);
    if (extra)
        zmsg_append (msg, &extra);
    return zmsg_send (&msg, self->sock);
}

static void
s_connect (lh_worker_t *self)
{
    zsock_destroy (&self->sock);
    self->sock = lh_connect_dealer (&self->conn);
    if (!self->sock)
        return;
    //  READY carries our capacity in an extra frame that plain MDP brokers ignore
    codec_buf_t buf;
    codec_buf_init (&buf);
    msgpack_pack_map (&buf.pk, 1);
    codec_pack_str (&buf.pk, "capacity");
    msgpack_pack_int (&buf.pk, self->capacity);
    s_send_command (self, MDPW_READY, self->service, zframe_new (buf.sbuf.data, buf.sbuf.size));
    codec_buf_destroy (&buf);
    int64_t now = zclock_mono ();
    self->heartbeat_at = now + self->heartbeat_ms;
    self->expect_by = now + (int64_t) self->heartbeat_ms * self->liveness;
}

lh_worker_t *
lh_worker_new (const lh_connect_t *conn, const char *service, int capacity)
{
    if (!conn || !conn->endpoint || !service || strlen (service) == 0 ||
        strlen (service) > LH_MAX_SERVICE)
        return NULL;
    lh_worker_t *self = (lh_worker_t *) zmalloc (sizeof (lh_worker_t));
    self->endpoint = strdup (conn->endpoint);
    self->server_key = conn->server_key ? strdup (conn->server_key) : NULL;
    self->conn = (lh_connect_t){.endpoint = self->endpoint,
                                .server_key = self->server_key,
                                .cert = conn->cert,
                                .heartbeat_ms = conn->heartbeat_ms ? conn->heartbeat_ms
                                                                   : LH_WORKER_HEARTBEAT_MS};
    snprintf (self->service, sizeof (self->service), "%s", service);
    self->capacity = capacity < 1 ? 1 : capacity > LH_MAX_CAPACITY ? LH_MAX_CAPACITY : capacity;
    self->heartbeat_ms = 2500;
    self->liveness = 3;
    self->backoff_ms = 100;
    s_connect (self);
    if (!self->sock)
        lh_worker_destroy (&self);
    return self;
}

void
lh_worker_destroy (lh_worker_t **self_p)
{
    if (self_p && *self_p) {
        lh_worker_t *self = *self_p;
        if (self->sock)
            s_send_command (self, MDPW_DISCONNECT, NULL, NULL);
        zsock_destroy (&self->sock);
        free (self->endpoint);
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
    self->heartbeat_at = now + self->heartbeat_ms;
    self->expect_by = now + (int64_t) self->heartbeat_ms * self->liveness;
}

int
lh_worker_fd (lh_worker_t *self)
{
    return self->sock ? zsock_fd (self->sock) : -1;
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
s_request_new (lh_worker_t *self, zmsg_t *msg)
{
    lh_request_t *request = (lh_request_t *) zmalloc (sizeof (lh_request_t));
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

lh_request_t *
lh_worker_recv (lh_worker_t *self, int timeout_ms)
{
    int64_t until = timeout_ms < 0 ? INT64_MAX : zclock_mono () + timeout_ms;
    while (!zsys_interrupted) {
        int64_t now = zclock_mono ();
        if (!self->sock && now >= self->reconnect_at) {
            s_connect (self);
            self->reconnects++;
        }
        if (self->sock && now >= self->expect_by) {
            //  Broker silent too long: start over, backing off up to 5 s
            zsock_destroy (&self->sock);
            self->reconnect_at = now + self->backoff_ms;
            self->backoff_ms = self->backoff_ms * 2 > 5000 ? 5000 : self->backoff_ms * 2;
            continue;
        }
        if (self->sock && now >= self->heartbeat_at) {
            s_send_command (self, MDPW_HEARTBEAT, NULL, NULL);
            self->heartbeat_at = now + self->heartbeat_ms;
        }
        int64_t wake = self->sock ? (self->heartbeat_at < self->expect_by ? self->heartbeat_at
                                                                          : self->expect_by)
                                  : self->reconnect_at;
        if (until < wake)
            wake = until;
        if (now > until)
            return NULL;
        long wait = wake > now ? (long) (wake - now) : 0;
        if (!self->sock) {
            if (now >= until)
                return NULL;
            zclock_sleep ((int) wait);
            continue;
        }
        zmq_pollitem_t item = {zsock_resolve (self->sock), 0, ZMQ_POLLIN, 0};
        int rc = zmq_poll (&item, 1, wait);
        if (rc == -1 && errno != EINTR)
            return NULL;
        if (rc <= 0) {
            //  A zero wait polls once, so timeout 0 means "what is there now"
            if (now >= until)
                return NULL;
            continue;
        }
        zmsg_t *msg = zmsg_recv (self->sock);
        if (!msg)
            continue;
        self->expect_by = zclock_mono () + (int64_t) self->heartbeat_ms * self->liveness;
        zframe_t *empty = zmsg_pop (msg);
        zframe_t *header = zmsg_pop (msg);
        zframe_t *command = zmsg_pop (msg);
        lh_request_t *request = NULL;
        if (zframe_size (empty) == 0 && zframe_streq (header, MDPW_WORKER) && command &&
            zframe_size (command) == 1) {
            int cmd = zframe_data (command)[0];
            if (cmd == MDPW_REQUEST) {
                self->backoff_ms = 100;
                request = s_request_new (self, msg);
            } else if (cmd == MDPW_DISCONNECT) {
                self->disconnects++;
                zsock_destroy (&self->sock);
                self->reconnect_at = zclock_mono () + self->backoff_ms;
                self->backoff_ms = self->backoff_ms * 2 > 5000 ? 5000 : self->backoff_ms * 2;
            }
        }
        zframe_destroy (&empty);
        zframe_destroy (&header);
        zframe_destroy (&command);
        zmsg_destroy (&msg);
        if (request)
            return request;
    }
    return NULL;
}

int
lh_worker_reply (lh_worker_t *self, lh_request_t **request_p, const void *body, size_t size)
{
    lh_request_t *request = *request_p;
    int rc = -1;
    //  A reply for a request from a previous connection cannot be routed
    if (self->sock && request && request->token) {
        zmsg_t *msg = zmsg_new ();
        zmsg_addmem (msg, "", 0);
        zmsg_addstr (msg, MDPW_WORKER);
        zmsg_addmem (msg, &(char){MDPW_REPLY}, 1);
        zmsg_append (msg, &request->token);
        zmsg_addmem (msg, "", 0);
        zmsg_addmem (msg, body, size);
        rc = zmsg_send (&msg, self->sock);
        self->heartbeat_at = zclock_mono () + self->heartbeat_ms;
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
    if (!self->sock)
        return -1;
    zmsg_t *msg = zmsg_new ();
    zmsg_addmem (msg, "", 0);
    zmsg_addstr (msg, MDPW_WORKER);
    zmsg_addmem (msg, &(char){MDPW_PUBLISH}, 1);
    zmsg_addstr (msg, topic);
    zmsg_addmem (msg, body, size);
    return zmsg_send (&msg, self->sock);
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
