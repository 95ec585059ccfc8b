/*  uvzmq -- ZeroMQ sockets watched by a libuv loop. See uvzmq.h. */
#include "uvzmq.h"

#include <assert.h>

struct _uvzmq_t {
    uv_loop_t *loop;
    uvzmq_fn *readable;
    void *arg;
    zsock_t *sock;   //  NULL when watching a bare descriptor
    int fd;          //  -1: watching nothing
    uv_poll_t *poll; //  heap: a handle on a new descriptor is a new handle, closed asynchronously
    uv_prepare_t prepare;
    uv_idle_t idle;   //  active while sock has messages: keeps the loop from sleeping
    int handles_open; //  prepare and idle, until uvzmq_destroy closes them
};

//  True when a callback is due: the socket has messages, or may have
static bool
s_due (uvzmq_t *self)
{
    if (self->fd < 0)
        return false;
    return !self->sock || (zsock_events (self->sock) & ZMQ_POLLIN);
}

static void
s_idle_noop (uv_idle_t *idle)
{
    (void) idle;
}

static void
s_notify (uvzmq_t *self)
{
    if (s_due (self))
        self->readable (self, self->arg);
    //  Reading ZMQ_EVENTS also re-arms the edge; what the callback left
    //  would otherwise wait for the next message or timer
    if (self->sock && s_due (self))
        uv_idle_start (&self->idle, s_idle_noop);
    else
        uv_idle_stop (&self->idle);
}

static void
s_on_poll (uv_poll_t *poll, int status, int events)
{
    (void) status;
    (void) events;
    s_notify ((uvzmq_t *) poll->data);
}

static void
s_on_prepare (uv_prepare_t *prepare)
{
    s_notify ((uvzmq_t *) prepare->data);
}

static void
s_free_handle (uv_handle_t *handle)
{
    free (handle);
}

static void
s_handle_closed (uv_handle_t *handle)
{
    uvzmq_t *self = (uvzmq_t *) handle->data;
    if (--self->handles_open == 0)
        free (self);
}

uvzmq_t *
uvzmq_new (uv_loop_t *loop, uvzmq_fn *readable, void *arg)
{
    assert (loop && readable);
    uvzmq_t *self = (uvzmq_t *) calloc (1, sizeof (uvzmq_t));
    if (!self)
        return NULL;
    self->loop = loop;
    self->readable = readable;
    self->arg = arg;
    self->fd = -1;
    uv_prepare_init (loop, &self->prepare);
    uv_idle_init (loop, &self->idle);
    self->prepare.data = self->idle.data = self;
    self->handles_open = 2;
    return self;
}

void
uvzmq_destroy (uvzmq_t **self_p)
{
    if (self_p && *self_p) {
        uvzmq_t *self = *self_p;
        uvzmq_stop (self);
        uv_close ((uv_handle_t *) &self->prepare, s_handle_closed);
        uv_close ((uv_handle_t *) &self->idle, s_handle_closed);
        *self_p = NULL;
    }
}

static int
s_watch (uvzmq_t *self, zsock_t *sock, int fd)
{
    if (self->fd == fd && self->sock == sock)
        return 0;
    if (self->poll) {
        uv_poll_stop (self->poll);
        uv_close ((uv_handle_t *) self->poll, s_free_handle);
        self->poll = NULL;
    }
    self->sock = NULL;
    self->fd = -1;
    uv_prepare_stop (&self->prepare);
    uv_idle_stop (&self->idle);
    if (fd < 0)
        return 0;
    uv_poll_t *poll = (uv_poll_t *) calloc (1, sizeof (uv_poll_t));
    if (!poll)
        return UV_ENOMEM;
    //  On failure the handle was never registered with the loop
    int rc = uv_poll_init (self->loop, poll, fd);
    if (rc != 0) {
        free (poll);
        return rc;
    }
    poll->data = self;
    rc = uv_poll_start (poll, UV_READABLE, s_on_poll);
    if (rc != 0) {
        uv_close ((uv_handle_t *) poll, s_free_handle);
        return rc;
    }
    self->poll = poll;
    self->sock = sock;
    self->fd = fd;
    uv_prepare_start (&self->prepare, s_on_prepare);
    return 0;
}

int
uvzmq_watch (uvzmq_t *self, zsock_t *sock)
{
    assert (self);
    return s_watch (self, sock, sock ? zsock_fd (sock) : -1);
}

int
uvzmq_watch_fd (uvzmq_t *self, int fd)
{
    assert (self);
    return s_watch (self, NULL, fd);
}

void
uvzmq_stop (uvzmq_t *self)
{
    assert (self);
    s_watch (self, NULL, -1);
}
