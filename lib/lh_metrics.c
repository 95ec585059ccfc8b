/*  lh_metrics -- a daemon's counters for Prometheus. See lh_metrics.h. */
#include "lh_metrics.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <czmq.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <sys/socket.h>
#include <unistd.h>

#define REQUEST_MAX 4096
#define REQUEST_MS  1000

struct _lh_metrics_t {
    int listener;
    int port;
    int stop[2]; //  a pipe: a byte on it ends the thread
    pthread_t thread;
    pthread_mutex_t lock;
    char *text; //  under lock
    size_t size;
};

struct _lh_metrics_text_t {
    msgpack_sbuffer buf;
    zhashx_t *seen; //  names whose HELP and TYPE are written
};

//  Reads a request head within REQUEST_MS; true when it asks GET /metrics
static bool
s_wants_metrics (int fd)
{
    char buf[REQUEST_MAX + 1];
    size_t used = 0;
    int64_t until = zclock_mono () + REQUEST_MS;
    while (used < REQUEST_MAX) {
        int64_t left = until - zclock_mono ();
        struct pollfd p = {fd, POLLIN, 0};
        if (left <= 0 || poll (&p, 1, (int) left) <= 0)
            return false;
        ssize_t n = recv (fd, buf + used, REQUEST_MAX - used, 0);
        if (n <= 0)
            return false;
        used += (size_t) n;
        buf[used] = 0;
        if (strstr (buf, "\r\n\r\n") || strstr (buf, "\n\n"))
            break;
    }
    buf[used] = 0;
    return strncmp (buf, "GET /metrics ", 13) == 0 || strncmp (buf, "GET /metrics?", 13) == 0;
}

static void
s_send_all (int fd, const char *data, size_t size)
{
    while (size > 0) {
        ssize_t n = send (fd, data, size, MSG_NOSIGNAL);
        if (n <= 0)
            return;
        data += n;
        size -= (size_t) n;
    }
}

static void
s_answer (lh_metrics_t *self, int fd)
{
    //  A slow client cannot hold the answer back for long either
    struct timeval tv = {1, 0};
    setsockopt (fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof (tv));
    if (!s_wants_metrics (fd)) {
        static const char missing[] = "HTTP/1.1 404 Not Found\r\nContent-Type: text/plain\r\n"
                                      "Content-Length: 20\r\nConnection: close\r\n\r\n"
                                      "only GET /metrics\r\n\r\n";
        s_send_all (fd, missing, sizeof (missing) - 1);
        return;
    }
    pthread_mutex_lock (&self->lock);
    size_t size = self->size;
    char *text = (char *) malloc (size + 1);
    if (text)
        memcpy (text, self->text ? self->text : "", size);
    pthread_mutex_unlock (&self->lock);
    if (!text)
        return;
    char head[200];
    int n = snprintf (head, sizeof (head),
                      "HTTP/1.1 200 OK\r\nContent-Type: text/plain; version=0.0.4\r\n"
                      "Content-Length: %zu\r\nConnection: close\r\n\r\n",
                      size);
    s_send_all (fd, head, (size_t) n);
    s_send_all (fd, text, size);
    free (text);
}

static void *
s_serve (void *arg)
{
    lh_metrics_t *self = (lh_metrics_t *) arg;
    while (true) {
        struct pollfd p[2] = {{self->listener, POLLIN, 0}, {self->stop[0], POLLIN, 0}};
        if (poll (p, 2, -1) < 0 && errno != EINTR)
            return NULL;
        if (p[1].revents)
            return NULL;
        if (p[0].revents & POLLIN) {
            int fd = accept4 (self->listener, NULL, NULL, SOCK_CLOEXEC);
            if (fd >= 0) {
                s_answer (self, fd);
                close (fd);
            }
        }
    }
}

int
lh_metrics_address (const char *text, struct sockaddr_in *addr)
{
    char host[64];
    const char *colon = text ? strrchr (text, ':') : NULL;
    if (!colon || (size_t) (colon - text) >= sizeof (host))
        return -1;
    char *end = NULL;
    long port = strtol (colon + 1, &end, 10);
    if (end == colon + 1 || *end || port < 0 || port > 65535)
        return -1;
    memcpy (host, text, (size_t) (colon - text));
    host[colon - text] = 0;
    memset (addr, 0, sizeof (*addr));
    addr->sin_family = AF_INET;
    addr->sin_port = htons ((uint16_t) port);
    return inet_pton (AF_INET, host, &addr->sin_addr) == 1 ? 0 : -1;
}

lh_metrics_t *
lh_metrics_new (const char *listen_at, char *err, size_t err_size)
{
    struct sockaddr_in addr;
    if (lh_metrics_address (listen_at, &addr) != 0) {
        snprintf (err, err_size, "metrics: '%.64s' is not IPV4:PORT", listen_at);
        return NULL;
    }
    int fd = socket (AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int on = 1;
    if (fd < 0 || setsockopt (fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof (on)) != 0 ||
        bind (fd, (struct sockaddr *) &addr, sizeof (addr)) != 0 || listen (fd, 16) != 0) {
        snprintf (err, err_size, "metrics: cannot listen on %s: %s", listen_at, strerror (errno));
        if (fd >= 0)
            close (fd);
        return NULL;
    }
    lh_metrics_t *self = (lh_metrics_t *) zmalloc (sizeof (lh_metrics_t));
    self->listener = fd;
    socklen_t len = sizeof (addr);
    getsockname (fd, (struct sockaddr *) &addr, &len);
    self->port = ntohs (addr.sin_port);
    pthread_mutex_init (&self->lock, NULL);
    if (pipe2 (self->stop, O_CLOEXEC) != 0 ||
        pthread_create (&self->thread, NULL, s_serve, self) != 0) {
        snprintf (err, err_size, "metrics: cannot start its thread");
        close (fd);
        pthread_mutex_destroy (&self->lock);
        free (self);
        return NULL;
    }
    return self;
}

void
lh_metrics_destroy (lh_metrics_t **self_p)
{
    if (self_p && *self_p) {
        lh_metrics_t *self = *self_p;
        if (write (self->stop[1], "x", 1) == 1)
            pthread_join (self->thread, NULL);
        close (self->stop[0]);
        close (self->stop[1]);
        close (self->listener);
        pthread_mutex_destroy (&self->lock);
        free (self->text);
        free (self);
        *self_p = NULL;
    }
}

int
lh_metrics_port (lh_metrics_t *self)
{
    return self->port;
}

void
lh_metrics_publish (lh_metrics_t *self, const char *text, size_t size)
{
    char *copy = (char *) malloc (size + 1);
    if (!copy)
        return;
    memcpy (copy, text, size);
    copy[size] = 0;
    pthread_mutex_lock (&self->lock);
    free (self->text);
    self->text = copy;
    self->size = size;
    pthread_mutex_unlock (&self->lock);
}

lh_metrics_text_t *
lh_metrics_text_new (void)
{
    lh_metrics_text_t *self = (lh_metrics_text_t *) zmalloc (sizeof (lh_metrics_text_t));
    msgpack_sbuffer_init (&self->buf);
    self->seen = zhashx_new ();
    return self;
}

void
lh_metrics_text_destroy (lh_metrics_text_t **self_p)
{
    if (self_p && *self_p) {
        msgpack_sbuffer_destroy (&(*self_p)->buf);
        zhashx_destroy (&(*self_p)->seen);
        free (*self_p);
        *self_p = NULL;
    }
}

static void s_write (lh_metrics_text_t *self, const char *format, ...)
    __attribute__ ((format (printf, 2, 3)));

static void
s_write (lh_metrics_text_t *self, const char *format, ...)
{
    char line[1024];
    va_list args;
    va_start (args, format);
    int n = vsnprintf (line, sizeof (line), format, args);
    va_end (args);
    if (n > 0)
        msgpack_sbuffer_write (&self->buf, line,
                               (size_t) n < sizeof (line) ? (size_t) n : sizeof (line) - 1);
}

void
lh_metrics_text_add (lh_metrics_text_t *self, const char *name, const char *type, const char *help,
                     const char *labels, double value)
{
    if (!zhashx_lookup (self->seen, name)) {
        zhashx_insert (self->seen, name, (void *) 1);
        s_write (self, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
    }
    if (labels && *labels)
        s_write (self, "%s{%s} %.17g\n", name, labels, value);
    else
        s_write (self, "%s %.17g\n", name, value);
}

void
lh_metrics_text_map (lh_metrics_text_t *self, const char *prefix, const msgpack_object *counters,
                     const char *const *gauges, const char *labels)
{
    for (uint32_t i = 0;
         counters && counters->type == MSGPACK_OBJECT_MAP && i < counters->via.map.size; i++) {
        const msgpack_object *k = &counters->via.map.ptr[i].key;
        const msgpack_object *v = &counters->via.map.ptr[i].val;
        if (k->type != MSGPACK_OBJECT_STR || v->type != MSGPACK_OBJECT_POSITIVE_INTEGER ||
            k->via.str.size > 64)
            continue;
        char key[65];
        memcpy (key, k->via.str.ptr, k->via.str.size);
        key[k->via.str.size] = 0;
        bool gauge = false;
        for (size_t g = 0; gauges && gauges[g]; g++)
            gauge |= streq (gauges[g], key);
        char name[160];
        snprintf (name, sizeof (name), "%s_%s%s", prefix, key, gauge ? "" : "_total");
        //  Prometheus names: letters, digits and underscores
        for (char *c = name; *c; c++)
            if (!isalnum ((unsigned char) *c) && *c != '_')
                *c = '_';
        lh_metrics_text_add (self, name, gauge ? "gauge" : "counter", key, labels,
                             (double) v->via.u64);
    }
}

void
lh_metrics_label (const char *value, char *out, size_t size)
{
    size_t used = 0;
    for (const char *c = value; *c && used + 3 < size; c++) {
        if (*c == '\\' || *c == '"') {
            out[used++] = '\\';
            out[used++] = *c;
        } else if (*c == '\n') {
            out[used++] = '\\';
            out[used++] = 'n';
        } else
            out[used++] = *c;
    }
    out[used] = 0;
}

const char *
lh_metrics_text_data (lh_metrics_text_t *self, size_t *size)
{
    *size = self->buf.size;
    return self->buf.data ? self->buf.data : "";
}

void
lh_metrics_publish_map (lh_metrics_t *self, const char *prefix, const void *packed, size_t size,
                        const char *const *gauges)
{
    msgpack_unpacked u;
    msgpack_unpacked_init (&u);
    if (msgpack_unpack_next (&u, (const char *) packed, size, NULL) == MSGPACK_UNPACK_SUCCESS) {
        lh_metrics_text_t *text = lh_metrics_text_new ();
        lh_metrics_text_map (text, prefix, &u.data, gauges, NULL);
        size_t len;
        const char *data = lh_metrics_text_data (text, &len);
        lh_metrics_publish (self, data, len);
        lh_metrics_text_destroy (&text);
    }
    msgpack_unpacked_destroy (&u);
}
