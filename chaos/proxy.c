/*  proxy -- one link of lh-chaos. See proxy.h. */
#include "proxy.h"

#include "codec.h"

#include <arpa/inet.h>
#include <czmq.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <sodium.h>
#include <unistd.h>

#define READ_MAX   (64 * 1024)
#define CHUNKS_MAX 256

enum { UP = 0, DOWN = 1 }; //  UP reads the client and writes upstream

//  Bytes to write at `at`
typedef struct {
    int64_t at;
    size_t size, done;
    uint8_t data[];
} piece_t;

typedef struct {
    int fd[2]; //  0: the client, 1: upstream
    bool connecting;
    bool eof[2];         //  direction d's reader ended
    bool shut[2];        //  direction d's writer was shut down
    bool close_after[2]; //  direction d closes the connection once written (limit)
    bool dead;
    zlistx_t *queue[2]; //  piece_t of direction d, oldest first
    size_t queued[2];
    toxic_state_t state[2];
} conn_t;

struct _proxy_t {
    char name[TOXIC_NAME_MAX + 1];
    char listen_text[64], upstream_text[64];
    struct sockaddr_in upstream;
    int listener;
    int port;
    toxic_t toxics[TOXIC_MAX];
    size_t toxic_count;
    zlistx_t *conns; //  conn_t
    //  What the last proxy_poll_fill put in the items, in order
    conn_t **polled;
    size_t polled_count;
    uint64_t accepted, bytes[2], dropped, resets, refused;
};

static int64_t
s_now (void)
{
    return zclock_mono ();
}

static int
s_address (const char *text, struct sockaddr_in *addr, char *err, size_t err_size)
{
    char host[64];
    const char *colon = strrchr (text, ':');
    long port = colon ? strtol (colon + 1, NULL, 10) : -1;
    if (!colon || (size_t) (colon - text) >= sizeof (host) || port < 0 || port > 65535) {
        snprintf (err, err_size, "'%.64s' is not IPV4:PORT", text);
        return -1;
    }
    memcpy (host, text, (size_t) (colon - text));
    host[colon - text] = 0;
    memset (addr, 0, sizeof (*addr));
    addr->sin_family = AF_INET;
    addr->sin_port = htons ((uint16_t) port);
    if (inet_pton (AF_INET, host, &addr->sin_addr) != 1) {
        snprintf (err, err_size, "'%.64s' is not an IPv4 address", host);
        return -1;
    }
    return 0;
}

static void
s_piece_destroy (void **item)
{
    free (*item);
    *item = NULL;
}

static void
s_conn_close (proxy_t *self, conn_t *c, bool reset)
{
    for (int i = 0; i < 2; i++)
        if (c->fd[i] >= 0) {
            if (reset) {
                //  SO_LINGER 0: close sends RST, as a dropped connection does
                struct linger linger = {1, 0};
                setsockopt (c->fd[i], SOL_SOCKET, SO_LINGER, &linger, sizeof (linger));
            }
            close (c->fd[i]);
            c->fd[i] = -1;
        }
    if (reset)
        self->resets++;
    c->dead = true;
}

static void
s_conn_destroy (void **item)
{
    conn_t *c = (conn_t *) *item;
    if (c) {
        for (int i = 0; i < 2; i++) {
            if (c->fd[i] >= 0)
                close (c->fd[i]);
            zlistx_destroy (&c->queue[i]);
        }
        free (c);
        *item = NULL;
    }
}

proxy_t *
proxy_new (const char *name, const char *listen_at, const char *upstream, char *err,
           size_t err_size)
{
    struct sockaddr_in here, there;
    if (strlen (name) == 0 || strlen (name) > TOXIC_NAME_MAX) {
        snprintf (err, err_size, "a link's name is 1 to %d characters", TOXIC_NAME_MAX);
        return NULL;
    }
    if (s_address (listen_at, &here, err, err_size) != 0 ||
        s_address (upstream, &there, err, err_size) != 0)
        return NULL;
    int fd = socket (AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    int on = 1;
    if (fd < 0 || setsockopt (fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof (on)) != 0 ||
        bind (fd, (struct sockaddr *) &here, sizeof (here)) != 0 || listen (fd, 128) != 0) {
        snprintf (err, err_size, "cannot listen on %s: %s", listen_at, strerror (errno));
        if (fd >= 0)
            close (fd);
        return NULL;
    }
    proxy_t *self = (proxy_t *) zmalloc (sizeof (proxy_t));
    snprintf (self->name, sizeof (self->name), "%s", name);
    snprintf (self->upstream_text, sizeof (self->upstream_text), "%s", upstream);
    self->upstream = there;
    self->listener = fd;
    socklen_t len = sizeof (here);
    getsockname (fd, (struct sockaddr *) &here, &len);
    self->port = ntohs (here.sin_port);
    char host[INET_ADDRSTRLEN];
    inet_ntop (AF_INET, &here.sin_addr, host, sizeof (host));
    snprintf (self->listen_text, sizeof (self->listen_text), "%s:%d", host, self->port);
    self->conns = zlistx_new ();
    zlistx_set_destructor (self->conns, s_conn_destroy);
    self->polled = (conn_t **) zmalloc (sizeof (conn_t *) * (PROXY_CONNECTIONS_MAX + 1));
    return self;
}

void
proxy_destroy (proxy_t **self_p)
{
    if (self_p && *self_p) {
        proxy_t *self = *self_p;
        zlistx_destroy (&self->conns);
        if (self->listener >= 0)
            close (self->listener);
        free (self->polled);
        free (self);
        *self_p = NULL;
    }
}

const char *
proxy_name (proxy_t *self)
{
    return self->name;
}

int
proxy_port (proxy_t *self)
{
    return self->port;
}

//  Resets every connection (a reset toxic was added)
static void
s_reset_all (proxy_t *self)
{
    for (conn_t *c = (conn_t *) zlistx_first (self->conns); c;
         c = (conn_t *) zlistx_next (self->conns))
        if (!c->dead)
            s_conn_close (self, c, true);
}

int
proxy_toxic_add (proxy_t *self, const toxic_t *toxic, char *err, size_t err_size)
{
    size_t i = 0;
    while (i < self->toxic_count && strcmp (self->toxics[i].name, toxic->name) != 0)
        i++;
    if (i == TOXIC_MAX) {
        snprintf (err, err_size, "link %s has %d toxics already", self->name, TOXIC_MAX);
        return -1;
    }
    self->toxics[i] = *toxic;
    if (i == self->toxic_count)
        self->toxic_count++;
    if (toxic->kind == TOXIC_RESET)
        s_reset_all (self);
    return 0;
}

bool
proxy_toxic_remove (proxy_t *self, const char *name)
{
    for (size_t i = 0; i < self->toxic_count; i++)
        if (strcmp (self->toxics[i].name, name) == 0) {
            memmove (&self->toxics[i], &self->toxics[i + 1],
                     (self->toxic_count - i - 1) * sizeof (toxic_t));
            self->toxic_count--;
            return true;
        }
    return false;
}

void
proxy_toxic_clear (proxy_t *self)
{
    self->toxic_count = 0;
}

static void
s_accept (proxy_t *self)
{
    while (true) {
        int fd = accept4 (self->listener, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0)
            return;
        if (zlistx_size (self->conns) >= PROXY_CONNECTIONS_MAX) {
            self->refused++;
            close (fd);
            continue;
        }
        conn_t *c = (conn_t *) zmalloc (sizeof (conn_t));
        c->fd[0] = fd;
        c->fd[1] = -1;
        for (int d = 0; d < 2; d++) {
            c->queue[d] = zlistx_new ();
            zlistx_set_destructor (c->queue[d], s_piece_destroy);
            c->state[d].rng = (uint32_t) randombytes_random () | 1u;
        }
        zlistx_add_end (self->conns, c);
        self->accepted++;
        if (toxic_resets (self->toxics, self->toxic_count)) {
            s_conn_close (self, c, true);
            continue;
        }
        int up = socket (AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        int on = 1;
        if (up >= 0)
            setsockopt (up, IPPROTO_TCP, TCP_NODELAY, &on, sizeof (on));
        setsockopt (fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof (on));
        c->fd[1] = up;
        if (up < 0 ||
            (connect (up, (struct sockaddr *) &self->upstream, sizeof (self->upstream)) != 0 &&
             errno != EINPROGRESS)) {
            s_conn_close (self, c, false);
            continue;
        }
        c->connecting = true;
    }
}

//  The writer's fd of direction d
static int
s_to (const conn_t *c, int d)
{
    return c->fd[d == UP ? 1 : 0];
}

static bool
s_due (const conn_t *c, int d, int64_t now)
{
    piece_t *head = (piece_t *) zlistx_first (c->queue[d]);
    return head && head->at <= now;
}

static bool
s_reading (const conn_t *c, int d)
{
    return !c->connecting && !c->eof[d] && c->queued[d] < PROXY_QUEUE_MAX && !c->close_after[d];
}

size_t
proxy_poll_fill (proxy_t *self, zmq_pollitem_t *items, size_t max)
{
    self->polled_count = 0;
    if (max == 0)
        return 0;
    //  Connections that ended are gone before their items are made
    conn_t *c = (conn_t *) zlistx_first (self->conns);
    while (c) {
        if (c->dead) {
            zlistx_delete (self->conns, zlistx_cursor (self->conns));
            c = (conn_t *) zlistx_first (self->conns); //  restart: the cursor went with it
            continue;
        }
        c = (conn_t *) zlistx_next (self->conns);
    }
    size_t n = 0;
    items[n++] = (zmq_pollitem_t){NULL, self->listener, ZMQ_POLLIN, 0};
    int64_t now = s_now ();
    for (c = (conn_t *) zlistx_first (self->conns); c && n + 2 <= max;
         c = (conn_t *) zlistx_next (self->conns)) {
        short client = (short) ((s_reading (c, UP) ? ZMQ_POLLIN : 0) |
                                (s_due (c, DOWN, now) ? ZMQ_POLLOUT : 0));
        short upstream = (short) ((s_reading (c, DOWN) ? ZMQ_POLLIN : 0) |
                                  (c->connecting || s_due (c, UP, now) ? ZMQ_POLLOUT : 0));
        items[n++] = (zmq_pollitem_t){NULL, c->fd[0], client, 0};
        items[n++] = (zmq_pollitem_t){NULL, c->fd[1], upstream, 0};
        self->polled[self->polled_count++] = c;
    }
    return n;
}

//  Reads what direction d has and queues it through the toxics
static void
s_read (proxy_t *self, conn_t *c, int d)
{
    toxic_dir_t dir = d == UP ? TOXIC_UP : TOXIC_DOWN;
    size_t most = toxic_read_max (self->toxics, self->toxic_count, dir, READ_MAX, CHUNKS_MAX);
    uint8_t buf[READ_MAX];
    ssize_t n = recv (c->fd[d == UP ? 0 : 1], buf, most, 0);
    if (n == 0) {
        c->eof[d] = true;
        return;
    }
    if (n < 0) {
        if (errno != EAGAIN && errno != EINTR)
            s_conn_close (self, c, false);
        return;
    }
    toxic_chunk_t chunks[CHUNKS_MAX];
    bool close_after = false;
    uint64_t dropped = c->state[d].dropped;
    size_t count = toxic_plan (self->toxics, self->toxic_count, dir, &c->state[d], s_now (),
                               (size_t) n, chunks, CHUNKS_MAX, &close_after);
    self->dropped += c->state[d].dropped - dropped;
    for (size_t i = 0; i < count; i++) {
        piece_t *piece = (piece_t *) malloc (sizeof (piece_t) + chunks[i].size);
        if (!piece) {
            s_conn_close (self, c, false);
            return;
        }
        piece->at = chunks[i].at;
        piece->size = chunks[i].size;
        piece->done = 0;
        memcpy (piece->data, buf + chunks[i].offset, chunks[i].size);
        zlistx_add_end (c->queue[d], piece);
        c->queued[d] += chunks[i].size;
    }
    if (close_after)
        c->close_after[d] = true;
}

//  Writes direction d's pieces that are due
static void
s_write (proxy_t *self, conn_t *c, int d, int64_t now)
{
    piece_t *head;
    while ((head = (piece_t *) zlistx_first (c->queue[d])) && head->at <= now) {
        ssize_t n =
            send (s_to (c, d), head->data + head->done, head->size - head->done, MSG_NOSIGNAL);
        if (n < 0) {
            if (errno != EAGAIN && errno != EINTR)
                s_conn_close (self, c, false);
            return;
        }
        head->done += (size_t) n;
        c->queued[d] -= (size_t) n;
        self->bytes[d] += (uint64_t) n;
        if (head->done < head->size)
            return;
        zlistx_delete (c->queue[d], NULL);
    }
}

//  A direction whose reader ended and whose queue is empty ends its writer
static void
s_settle (proxy_t *self, conn_t *c)
{
    for (int d = 0; d < 2 && !c->dead; d++) {
        if (zlistx_size (c->queue[d]))
            continue;
        if (c->close_after[d])
            s_conn_close (self, c, false);
        else if (c->eof[d] && !c->shut[d]) {
            shutdown (s_to (c, d), SHUT_WR);
            c->shut[d] = true;
        }
    }
    if (!c->dead && c->shut[UP] && c->shut[DOWN])
        s_conn_close (self, c, false);
}

void
proxy_poll_handle (proxy_t *self, const zmq_pollitem_t *items, size_t count)
{
    if (count > 0 && (items[0].revents & ZMQ_POLLIN))
        s_accept (self);
    int64_t now = s_now ();
    for (size_t i = 0; i < self->polled_count && 1 + 2 * i + 1 < count; i++) {
        conn_t *c = self->polled[i];
        short client = items[1 + 2 * i].revents, upstream = items[2 + 2 * i].revents;
        if (c->dead)
            continue;
        if (c->connecting && (upstream & (ZMQ_POLLOUT | ZMQ_POLLERR))) {
            int error = 0;
            socklen_t len = sizeof (error);
            getsockopt (c->fd[1], SOL_SOCKET, SO_ERROR, &error, &len);
            if (error) {
                //  Upstream refused: the client sees its connection reset
                s_conn_close (self, c, true);
                continue;
            }
            c->connecting = false;
        }
        if ((client & ZMQ_POLLERR) || (upstream & ZMQ_POLLERR)) {
            s_conn_close (self, c, false);
            continue;
        }
        if (client & ZMQ_POLLIN)
            s_read (self, c, UP);
        if (!c->dead && (upstream & ZMQ_POLLIN))
            s_read (self, c, DOWN);
    }
    //  Deliveries come due with time, not only with readiness
    for (conn_t *c = (conn_t *) zlistx_first (self->conns); c;
         c = (conn_t *) zlistx_next (self->conns)) {
        for (int d = 0; d < 2 && !c->dead && !c->connecting; d++)
            s_write (self, c, d, now);
        if (!c->dead && !c->connecting)
            s_settle (self, c);
    }
}

int
proxy_next_ms (proxy_t *self)
{
    int64_t now = s_now (), next = -1;
    for (conn_t *c = (conn_t *) zlistx_first (self->conns); c;
         c = (conn_t *) zlistx_next (self->conns))
        for (int d = 0; d < 2 && !c->dead; d++) {
            piece_t *head = (piece_t *) zlistx_first (c->queue[d]);
            if (head && (next < 0 || head->at < next))
                next = head->at;
        }
    return next < 0 ? -1 : next <= now ? 0 : (int) (next - now);
}

void
proxy_pack (proxy_t *self, msgpack_packer *pk)
{
    size_t live = 0;
    for (conn_t *c = (conn_t *) zlistx_first (self->conns); c;
         c = (conn_t *) zlistx_next (self->conns))
        live += !c->dead;
    msgpack_pack_map (pk, 11);
    codec_pack_kv_str (pk, "name", self->name);
    codec_pack_kv_str (pk, "listen", self->listen_text);
    codec_pack_kv_str (pk, "upstream", self->upstream_text);
    codec_pack_kv_u64 (pk, "connections", live);
    codec_pack_kv_u64 (pk, "accepted", self->accepted);
    codec_pack_kv_u64 (pk, "refused", self->refused);
    codec_pack_kv_u64 (pk, "bytes_up", self->bytes[UP]);
    codec_pack_kv_u64 (pk, "bytes_down", self->bytes[DOWN]);
    codec_pack_kv_u64 (pk, "dropped", self->dropped);
    codec_pack_kv_u64 (pk, "resets", self->resets);
    codec_pack_str (pk, "toxics");
    msgpack_pack_array (pk, self->toxic_count);
    for (size_t i = 0; i < self->toxic_count; i++) {
        const toxic_t *t = &self->toxics[i];
        msgpack_pack_map (pk, 8);
        codec_pack_kv_str (pk, "name", t->name);
        codec_pack_kv_str (pk, "kind", toxic_kind_name (t->kind));
        codec_pack_kv_str (pk, "direction", toxic_dir_name (t->dir));
        codec_pack_kv_i64 (pk, "ms", t->ms);
        codec_pack_kv_i64 (pk, "jitter", t->jitter);
        codec_pack_kv_i64 (pk, "rate", t->rate);
        codec_pack_kv_i64 (pk, "bytes", t->bytes);
        codec_pack_kv_i64 (pk, "delay", t->delay);
    }
}
