/*  hookd -- the agent machine's warm connection for lh-hook. See hookd.h. */
#include "hookd.h"

#include "hook.h"
#include "lh_idhash.h"
#include "lh_log.h"

#include <errno.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

//  The timer that drives the client's deadlines and ours
#define TICK_MS 20
//  A request frame must arrive within this after the connection
#define READ_MS 5000
//  Users allowed besides our own and root, at most
#define HOOKD_ALLOW_MAX 16

//  One lh-hook's call
typedef struct {
    hookd_t *owner;
    int fd;
    uint8_t *in; //  the request frame as it arrives
    size_t in_used, in_want;
    uint64_t id;      //  the validate request's id, 0 before it is sent
    int64_t deadline; //  when it is answered "timeout"
    void *handle;     //  in owner->calls
} call_t;

struct _hookd_t {
    char path[108];
    int listen_fd;
    lh_client_t *client;
    zloop_t *loop;
    zlistx_t *calls; //  call_t, oldest first
    zhashx_t *by_id; //  request id -> call_t
    int max_clients;
    uid_t allow_uids[HOOKD_ALLOW_MAX];
    size_t allow_count;
    uint64_t listening_dev, listening_ino;
    hookd_tick_fn *tick;
    void *tick_arg;
    int64_t tick_at;
    struct {
        uint64_t accepted, refused, busy, calls, answered, timeouts, errors, bad_frames, dropped;
    } n;
};

static int s_poll_listener (zloop_t *loop, zmq_pollitem_t *item, void *arg);
static int s_poll_call (zloop_t *loop, zmq_pollitem_t *item, void *arg);

static void
s_call_destroy (call_t **call_p)
{
    call_t *call = *call_p;
    if (!call)
        return;
    hookd_t *self = call->owner;
    zmq_pollitem_t item = {NULL, call->fd, ZMQ_POLLIN, 0};
    zloop_poller_end (self->loop, &item);
    if (call->id)
        zhashx_delete (self->by_id, LH_IDKEY (call->id));
    close (call->fd);
    free (call->in);
    free (call);
    *call_p = NULL;
}

static void
s_call_free (void **item)
{
    s_call_destroy ((call_t **) item);
}

//  Sends the reply frame and forgets the call (one call per connection).
static void
s_answer (hookd_t *self, call_t *call, const char *code, const char *message,
          const msgpack_object *reply)
{
    codec_buf_t buf;
    codec_buf_init (&buf);
    //  Room for the length, filled in below
    msgpack_sbuffer_write (&buf.sbuf, "\0\0\0\0", 4);
    msgpack_pack_map (&buf.pk, reply ? 3 : 2);
    codec_pack_kv_str (&buf.pk, "code", code);
    codec_pack_kv_str (&buf.pk, "message", message);
    if (reply) {
        codec_pack_str (&buf.pk, "reply");
        msgpack_pack_object (&buf.pk, *reply);
    }
    uint32_t size = (uint32_t) (buf.sbuf.size - 4);
    uint8_t *data = (uint8_t *) buf.sbuf.data;
    hook_wire_put32 (data, size);
    //  A reply fits the socket's buffer; a peer that does not read it is gone
    size_t done = 0;
    while (done < buf.sbuf.size) {
        ssize_t n = send (call->fd, data + done, buf.sbuf.size - done, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        done += (size_t) n;
    }
    if (done < buf.sbuf.size)
        self->n.dropped++;
    else if (streq (code, "ok"))
        self->n.answered++;
    codec_buf_destroy (&buf);
    zlistx_delete (self->calls, call->handle);
}

//  A whole request frame: check it, send it on.
static void
s_request (hookd_t *self, call_t *call)
{
    const uint8_t *in = call->in + 4;
    size_t size = call->in_want - 4;
    uint32_t timeout_ms = hook_wire_get32 (in);
    if (size < 5 || timeout_ms < 1 || timeout_ms > HOOK_TIMEOUT_MAX + HOOK_WAIT_MAX) {
        self->n.bad_frames++;
        s_answer (self, call, "bad_request", "a request frame needs a deadline of 1 to 80000 ms",
                  NULL);
        return;
    }
    //  The broker checks the body as it checks anyone's; a send refused here
    //  (not a map, over a limit) is answered at once
    const char *why = NULL;
    if (lh_client_send (self->client, "validate", in + 4, size - 4, &call->id, &why) != 0) {
        self->n.bad_frames++;
        s_answer (self, call, "bad_request", why ? why : "the request cannot be sent", NULL);
        return;
    }
    self->n.calls++;
    call->deadline = zclock_mono () + timeout_ms;
    zhashx_insert (self->by_id, LH_IDKEY (call->id), call);
}

static int
s_poll_call (zloop_t *loop, zmq_pollitem_t *item, void *arg)
{
    (void) loop, (void) item;
    call_t *call = (call_t *) arg;
    hookd_t *self = call->owner;
    if (call->id) {
        //  Nothing more is expected while it waits; anything is a hang-up
        char byte;
        ssize_t n = recv (call->fd, &byte, 1, MSG_DONTWAIT);
        if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR) || n > 0) {
            if (n > 0)
                self->n.bad_frames++;
            zlistx_delete (self->calls, call->handle);
        }
        return 0;
    }
    size_t want = call->in_want ? call->in_want : 4;
    ssize_t n = recv (call->fd, call->in + call->in_used, want - call->in_used, MSG_DONTWAIT);
    if (n < 0 && (errno == EAGAIN || errno == EINTR))
        return 0;
    if (n <= 0) {
        zlistx_delete (self->calls, call->handle);
        return 0;
    }
    call->in_used += (size_t) n;
    if (call->in_used < want)
        return 0;
    if (!call->in_want) {
        uint32_t size = hook_wire_get32 (call->in);
        if (size < 5 || size > HOOK_WIRE_MAX) {
            self->n.bad_frames++;
            s_answer (self, call, "bad_request", "a request frame is 5 bytes to 1 MiB", NULL);
            return 0;
        }
        uint8_t *grown = (uint8_t *) realloc (call->in, 4 + (size_t) size);
        if (!grown) {
            self->n.errors++;
            s_answer (self, call, "internal", "out of memory", NULL);
            return 0;
        }
        call->in = grown;
        call->in_want = 4 + (size_t) size;
        return 0;
    }
    s_request (self, call);
    return 0;
}

static bool
s_allowed (hookd_t *self, uid_t uid)
{
    if (uid == geteuid () || uid == 0)
        return true;
    for (size_t i = 0; i < self->allow_count; i++)
        if (self->allow_uids[i] == uid)
            return true;
    return false;
}

static int
s_poll_listener (zloop_t *loop, zmq_pollitem_t *item, void *arg)
{
    (void) item;
    hookd_t *self = (hookd_t *) arg;
    int fd = accept4 (self->listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0)
        return 0;
    struct ucred cred;
    socklen_t len = sizeof (cred);
    if (getsockopt (fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0 || !s_allowed (self, cred.uid)) {
        self->n.refused++;
        lh_warn ("peer refused", "uid=%u pid=%d why=%s", (unsigned) cred.uid, (int) cred.pid,
                 "not our uid, root or an allowed uid");
        close (fd);
        return 0;
    }
    if ((int) zlistx_size (self->calls) >= self->max_clients) {
        self->n.busy++;
        close (fd);
        return 0;
    }
    call_t *call = (call_t *) zmalloc (sizeof (call_t));
    call->owner = self;
    call->fd = fd;
    call->in = (uint8_t *) malloc (4);
    if (!call->in) {
        close (fd);
        free (call);
        return 0;
    }
    call->deadline = zclock_mono () + READ_MS;
    call->handle = zlistx_add_end (self->calls, call);
    self->n.accepted++;
    zmq_pollitem_t poll = {NULL, fd, ZMQ_POLLIN, 0};
    zloop_poller (loop, &poll, s_poll_call, call);
    //  A peer that hung up polls as an error (POLLHUP); zloop would drop the
    //  poller on the second one, stranding a call whose frame is still unread
    zloop_poller_set_tolerant (loop, &poll);
    return 0;
}

//  Every reply the client has: to its call, or dropped when the call is gone.
static void
s_replies (hookd_t *self)
{
    lh_reply_t *reply;
    while ((reply = lh_client_recv (self->client, 0))) {
        uint64_t id = lh_reply_id (reply);
        call_t *call = (call_t *) zhashx_lookup (self->by_id, LH_IDKEY (id));
        if (call) {
            if (!lh_reply_ok (reply))
                self->n.errors++;
            s_answer (self, call, lh_reply_code_name (reply), lh_reply_message (reply),
                      lh_reply_ok (reply) ? lh_reply_root (reply) : NULL);
        }
        lh_reply_destroy (&reply);
    }
}

static int
s_poll_client (zloop_t *loop, zmq_pollitem_t *item, void *arg)
{
    (void) loop, (void) item;
    s_replies ((hookd_t *) arg);
    return 0;
}

static int
s_timer (zloop_t *loop, int timer_id, void *arg)
{
    (void) loop, (void) timer_id;
    hookd_t *self = (hookd_t *) arg;
    s_replies (self);
    int64_t now = zclock_mono ();
    call_t *call = (call_t *) zlistx_first (self->calls);
    while (call) {
        call_t *next = (call_t *) zlistx_next (self->calls);
        if (call->id && now >= call->deadline) {
            self->n.timeouts++;
            s_answer (self, call, "timeout", "no reply from validate within the hook's deadline",
                      NULL);
        } else if (!call->id && now >= call->deadline) {
            //  A peer that never finishes its frame does not keep the slot
            self->n.bad_frames++;
            zlistx_delete (self->calls, call->handle);
        }
        call = next;
    }
    if (self->tick && now >= self->tick_at) {
        self->tick_at = now + 1000;
        self->tick (self, self->tick_arg);
    }
    return zsys_interrupted ? -1 : 0;
}

//  The socket's directory: ours, and no one else may write in it (made
//  0700 when missing, 0711 when other users are to connect)
static int
s_private_dir (const char *path, bool shared)
{
    char dir[sizeof (((struct sockaddr_un *) 0)->sun_path)];
    snprintf (dir, sizeof (dir), "%s", path);
    char *slash = strrchr (dir, '/');
    if (!slash || slash == dir)
        return 0;
    *slash = 0;
    if (mkdir (dir, shared ? 0711 : 0700) != 0 && errno != EEXIST)
        return -1;
    struct stat st;
    if (lstat (dir, &st) != 0 || !S_ISDIR (st.st_mode) || st.st_uid != geteuid () ||
        (st.st_mode & 022)) {
        errno = EPERM;
        return -1;
    }
    return 0;
}

hookd_t *
hookd_new (const hookd_config_t *config, lh_client_t *client)
{
    struct sockaddr_un addr = {.sun_family = AF_UNIX};
    if (!config->socket_path || strlen (config->socket_path) >= sizeof (addr.sun_path)) {
        lh_error ("bad socket path", "why=%s", "empty or over 107 bytes");
        return NULL;
    }
    snprintf (addr.sun_path, sizeof (addr.sun_path), "%s", config->socket_path);
    if (config->allow_count > HOOKD_ALLOW_MAX) {
        lh_error ("too many allowed users", "most=%d", HOOKD_ALLOW_MAX);
        return NULL;
    }
    bool shared = config->allow_count > 0;
    if (s_private_dir (addr.sun_path, shared) != 0) {
        lh_error ("socket directory refused", "path=%s error=%s why=%s", addr.sun_path,
                  strerror (errno), "it must be a directory of ours that no one else may write");
        return NULL;
    }
    int fd = socket (AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    //  A socket left by a dead lh-hookd is replaced; a live one is not ours to take
    if (fd >= 0 && connect (fd, (struct sockaddr *) &addr, sizeof (addr)) == 0) {
        close (fd);
        lh_error ("socket in use", "path=%s why=%s", addr.sun_path,
                  "another lh-hookd answers there");
        return NULL;
    }
    struct stat st;
    if (lstat (addr.sun_path, &st) == 0 && S_ISSOCK (st.st_mode))
        unlink (addr.sun_path);
    //  Shared: anyone may connect, the peer's uid decides (s_allowed)
    mode_t mask = umask (shared ? 0111 : 0177);
    int rc = fd < 0 ? -1 : bind (fd, (struct sockaddr *) &addr, sizeof (addr));
    umask (mask);
    if (rc != 0 || listen (fd, 128) != 0) {
        lh_error ("cannot listen", "path=%s error=%s", addr.sun_path, strerror (errno));
        if (fd >= 0)
            close (fd);
        return NULL;
    }
    hookd_t *self = (hookd_t *) zmalloc (sizeof (hookd_t));
    snprintf (self->path, sizeof (self->path), "%s", addr.sun_path);
    if (lstat (self->path, &st) == 0)
        self->listening_dev = st.st_dev, self->listening_ino = st.st_ino;
    self->listen_fd = fd;
    self->client = client;
    self->max_clients = config->max_clients > 0 ? config->max_clients : 256;
    for (size_t i = 0; i < config->allow_count; i++)
        self->allow_uids[self->allow_count++] = config->allow_uids[i];
    self->calls = zlistx_new ();
    zlistx_set_destructor (self->calls, s_call_free);
    self->by_id = lh_idhash_new ();
    self->loop = zloop_new ();
    zmq_pollitem_t listener = {NULL, fd, ZMQ_POLLIN, 0};
    zloop_poller (self->loop, &listener, s_poll_listener, self);
    zmq_pollitem_t replies = {NULL, lh_client_fd (client), ZMQ_POLLIN, 0};
    zloop_poller (self->loop, &replies, s_poll_client, self);
    zloop_timer (self->loop, TICK_MS, 0, s_timer, self);
    return self;
}

void
hookd_destroy (hookd_t **self_p)
{
    hookd_t *self = *self_p;
    if (!self)
        return;
    //  Calls still open are told, so that each lh-hook fails closed at once
    call_t *call;
    while ((call = (call_t *) zlistx_first (self->calls)))
        s_answer (self, call, "unavailable", "lh-hookd is stopping", NULL);
    zlistx_destroy (&self->calls);
    zhashx_destroy (&self->by_id);
    zloop_destroy (&self->loop);
    close (self->listen_fd);
    //  Only the socket we made: a newer lh-hookd may have replaced it
    struct stat st;
    if (lstat (self->path, &st) == 0 && st.st_dev == self->listening_dev &&
        st.st_ino == self->listening_ino)
        unlink (self->path);
    free (self);
    *self_p = NULL;
}

int
hookd_run (hookd_t *self)
{
    zloop_start (self->loop);
    return 0;
}

void
hookd_set_tick (hookd_t *self, hookd_tick_fn *tick, void *arg)
{
    self->tick = tick;
    self->tick_arg = arg;
}

void
hookd_counters (hookd_t *self, codec_buf_t *buf)
{
    msgpack_pack_map (&buf->pk, 13);
    codec_pack_kv_u64 (&buf->pk, "accepted", self->n.accepted);
    codec_pack_kv_u64 (&buf->pk, "refused", self->n.refused);
    codec_pack_kv_u64 (&buf->pk, "busy", self->n.busy);
    codec_pack_kv_u64 (&buf->pk, "calls", self->n.calls);
    codec_pack_kv_u64 (&buf->pk, "answered", self->n.answered);
    codec_pack_kv_u64 (&buf->pk, "timeouts", self->n.timeouts);
    codec_pack_kv_u64 (&buf->pk, "errors", self->n.errors);
    codec_pack_kv_u64 (&buf->pk, "bad_frames", self->n.bad_frames);
    codec_pack_kv_u64 (&buf->pk, "dropped", self->n.dropped);
    codec_pack_kv_u64 (&buf->pk, "open", zlistx_size (self->calls));
    codec_pack_kv_u64 (&buf->pk, "client_reconnects", lh_client_reconnects (self->client));
    codec_pack_kv_u64 (&buf->pk, "client_dropped", lh_client_dropped (self->client));
    codec_pack_kv_u64 (&buf->pk, "brokers_up", lh_client_brokers_up (self->client));
}
