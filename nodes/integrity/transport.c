/*  transport -- raft_uv's TCP transport with TCP_NODELAY. See transport.h. */
#include "transport.h"

#include <string.h>

static transport_t *
s_self (struct raft_uv_transport *t)
{
    return (transport_t *) t->impl;
}

static void
s_nodelay (struct uv_stream_s *stream)
{
    if (stream && stream->type == UV_TCP)
        uv_tcp_nodelay ((uv_tcp_t *) stream, 1);
}

static int
s_init (struct raft_uv_transport *t, raft_id id, const char *address)
{
    transport_t *self = s_self (t);
    int rc = self->tcp.init (&self->tcp, id, address);
    if (rc != 0)
        memcpy (t->errmsg, self->tcp.errmsg, sizeof (t->errmsg));
    return rc;
}

static void
s_accept (struct raft_uv_transport *tcp, raft_id id, const char *address,
          struct uv_stream_s *stream)
{
    transport_t *self = (transport_t *) tcp->data;
    s_nodelay (stream);
    self->accept_cb (&self->outer, id, address, stream);
}

static int
s_listen (struct raft_uv_transport *t, raft_uv_accept_cb cb)
{
    transport_t *self = s_self (t);
    self->accept_cb = cb;
    int rc = self->tcp.listen (&self->tcp, s_accept);
    if (rc != 0)
        memcpy (t->errmsg, self->tcp.errmsg, sizeof (t->errmsg));
    return rc;
}

//  raft_uv passes the same callback with every connect request
static transport_t *s_connecting;

static void
s_connected (struct raft_uv_connect *req, struct uv_stream_s *stream, int status)
{
    transport_t *self = s_connecting;
    if (status == 0)
        s_nodelay (stream);
    req->cb = self->connect_cb;
    self->connect_cb (req, stream, status);
}

static int
s_connect (struct raft_uv_transport *t, struct raft_uv_connect *req, raft_id id,
           const char *address, raft_uv_connect_cb cb)
{
    transport_t *self = s_self (t);
    self->connect_cb = cb;
    s_connecting = self;
    int rc = self->tcp.connect (&self->tcp, req, id, address, s_connected);
    if (rc != 0)
        memcpy (t->errmsg, self->tcp.errmsg, sizeof (t->errmsg));
    return rc;
}

static void
s_closed (struct raft_uv_transport *tcp)
{
    transport_t *self = (transport_t *) tcp->data;
    if (self->close_cb)
        self->close_cb (&self->outer);
}

static void
s_close (struct raft_uv_transport *t, raft_uv_transport_close_cb cb)
{
    transport_t *self = s_self (t);
    self->close_cb = cb;
    self->tcp.close (&self->tcp, s_closed);
}

int
transport_init (transport_t *self, uv_loop_t *loop)
{
    memset (self, 0, sizeof (*self));
    int rc = raft_uv_tcp_init (&self->tcp, loop);
    if (rc != 0)
        return rc;
    self->tcp.data = self;
    self->outer.impl = self;
    self->outer.init = s_init;
    self->outer.listen = s_listen;
    self->outer.connect = s_connect;
    self->outer.close = s_close;
    return 0;
}

void
transport_close (transport_t *self)
{
    raft_uv_tcp_close (&self->tcp);
}
