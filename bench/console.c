/*  console -- lh-console-bench: does the web console slow the guard?
    (issue 14; bench/run-console, bench/README.md).

    One CURVE cluster on 127.0.0.1: lh-broker, two lh-validators (default
    policy, no --frontend) and lh-web (its own admin key, a tokens file made
    by lh review token --view-only). The same validate load is measured in
    phases taken in turn, ROUNDS times (A B C A B C ...), through the same
    cluster, so drift falls on every phase:

      A  lh-web running, no page open (the baseline: nobody watching);
      B  lh-web running with READERS live pages: each a thread of this
         process holding GET /api/stream open (its own session), reading
         and counting the server-sent events, and (--poll 1) asking for
         /api/rates and /api/decisions?limit=100 every second;
      C  no lh-web process at all (stopped before, started again after).

    Each phase: a closed loop (CLIENTS x DEPTH validate in flight, the
    request mix of bench/validate-mix.tsv, warm cwd), then a paced stream
    (RATE validate/s from STREAM_CLIENTS of the same clients), each warmup +
    window + drain. Client-side latency (CLOCK_MONOTONIC around
    lh_client_send / the reply), throughput, lh-web's CPU (utime + stime of
    /proc/PID/stat) per decision, its counters (GET /api/stats) and what
    the readers received. Every reply is checked (ok; decision against the
    mix file's, counted); any failure: exit status 1.
*/
#include "bench.h"
#include "drive.h"

#include "codec.h"
#include "launcher.h"
#include "lh_client.h"
#include "lh_config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <sodium.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#ifndef LH_BENCH_BROKER
#define LH_BENCH_BROKER ""
#endif
#ifndef LH_BENCH_VALIDATOR
#define LH_BENCH_VALIDATOR ""
#endif
#ifndef LH_BENCH_WEB
#define LH_BENCH_WEB ""
#endif
#ifndef LH_BENCH_LH
#define LH_BENCH_LH ""
#endif
#ifndef LH_BENCH_POLICY
#define LH_BENCH_POLICY ""
#endif
#ifndef LH_BENCH_MIX
#define LH_BENCH_MIX ""
#endif

#define TOOL        "lh-console-bench"
#define MAX_CLIENTS 1000
#define MAX_ROUNDS  10
#define MAX_READERS 32
#define VALIDATORS  2
#define PHASES      3         //  A, B, C
#define LOADS       2         //  closed loop, paced
#define HTTP_MAX    (1 << 20) //  most bytes of a non-stream answer we read

typedef struct {
    double duration, warmup, drain, rate, poll_s;
    int rounds, clients, depth, stream_clients, readers, stream_rate, capacity, io_threads;
    int timeout_ms, port_base;
    bool phase_on[PHASES];
    const char *policy, *mix, *dir, *source, *json_out, *phases;
    const char *broker_bin, *validator_bin, *web_bin, *lh_bin;
    bool json, keep;
} copts_t;

#define s_progress(...) bench_progress (TOOL, __VA_ARGS__)

static const char *s_phase_name[PHASES] = {"A", "B", "C"};
static const char *s_phase_what[PHASES] = {"lh-web running, no page open",
                                           "lh-web with live pages streaming", "no lh-web process"};
static const char *s_load_name[LOADS] = {"closed", "paced"};

//  --------------------------------------------------------------------------
//  Options

static const char *s_summary =
    "The console (issue 14): validate latency and throughput through a CURVE\n"
    "lh-broker and two lh-validators with lh-web running and nobody watching (A),\n"
    "with READERS live pages streaming /api/stream (B), and without lh-web (C),\n"
    "the phases taken in turn ROUNDS times through the same cluster. Per phase: a\n"
    "closed loop (CLIENTS x DEPTH) and a paced stream (RATE/s), client-side p50/p99/max,\n"
    "lh-web's CPU per decision, its counters and what the readers received.\n"
    "Ports: P .. P+2 (broker), P+20 (lh-web).\n"
    "\n"
    "Exit status: 0 when every request was answered ok and lh-web stayed up, 1\n"
    "otherwise, 2 on usage errors, 130 when interrupted.";

static const lh_option_t s_options[] = {
    {"duration", "console/duration", "5", "measured seconds per window", false},
    {"warmup", "console/warmup", "1", "unmeasured seconds before each window", false},
    {"drain", "console/drain", "3", "most seconds to wait for replies after a window", false},
    {"rounds", "console/rounds", "3", "the phases in turn this many times", false},
    {"phases", "console/phases", "a,b,c", "comma list of a, b, c (a and b at least)", false},
    {"clients", "console/clients", "100", "closed loop: clients (each its own key)", false},
    {"depth", "console/depth", "16", "closed loop: requests in flight per client", false},
    {"stream-clients", "console/stream_clients", "10",
     "paced: clients (the first of the closed loop's)", false},
    {"rate", "console/rate", "1000", "paced: validate requests per second, all clients", false},
    {"readers", "console/readers", "4", "B: live pages (each its own session)", false},
    {"poll", "console/poll", "1",
     "B: seconds between each page's GET /api/rates and /api/decisions (0: never)", false},
    {"stream-rate", "console/stream_rate", "200", "lh-web --stream-rate (decisions/s per page)",
     false},
    {"capacity", "console/capacity", "128", "lh-validator --capacity (each of the two)", false},
    {"io-threads", "console/io_threads", "2", "lh-broker --io-threads (as lh-brokers-bench's (a))",
     false},
    {"timeout", "console/timeout", "10000", "client deadline per request, ms; no resends", false},
    {"policy", "console/policy", NULL, "the validators' policy [nodes/validator/default.policy]",
     false},
    {"mix", "console/mix", NULL, "the validate request mix [bench/validate-mix.tsv]", false},
    {"dir", "console/dir", NULL, "where the temporary directory goes [$TMPDIR or /tmp]", false},
    {"port-base", "console/port_base", "17500", "first port (see below)", false},
    {"broker-bin", "console/broker_bin", NULL, "lh-broker [next to " TOOL "]", false},
    {"validator-bin", "console/validator_bin", NULL, "lh-validator [likewise]", false},
    {"web-bin", "console/web_bin", NULL, "lh-web [likewise]", false},
    {"lh-bin", "console/lh_bin", NULL, "lh, for lh review token [likewise]", false},
    {"source", "console/source", NULL, "what was built (bench/run-console passes the commit)",
     false},
    {"json", "console/json", NULL, "JSON on stdout (the table goes to stderr)", true},
    {"json-out", "console/json_out", NULL, "also write the results as JSON to FILE", false},
    {"keep", "console/keep", NULL, "keep the temporary directory (keys, logs)", true},
    {NULL, NULL, NULL, NULL, false},
};

//  -1 to run, else the exit status
static int
s_parse (copts_t *o, int argc, char **argv, zconfig_t **config_p)
{
    int exit_code = 0;
    zconfig_t *config = lh_config_load (TOOL, s_summary, s_options, argc, argv, &exit_code);
    if (!config)
        return exit_code;
    *config_p = config;
#define S(name) lh_config_str (config, "console/" name, NULL)
#define I(name) (int) lh_config_int (config, "console/" name, -1)
#define D(name) atof (lh_config_str (config, "console/" name, "-1"))
    *o = (copts_t){.duration = D ("duration"),
                   .warmup = D ("warmup"),
                   .drain = D ("drain"),
                   .rate = D ("rate"),
                   .poll_s = D ("poll"),
                   .rounds = I ("rounds"),
                   .clients = I ("clients"),
                   .depth = I ("depth"),
                   .stream_clients = I ("stream_clients"),
                   .readers = I ("readers"),
                   .stream_rate = I ("stream_rate"),
                   .capacity = I ("capacity"),
                   .io_threads = I ("io_threads"),
                   .timeout_ms = I ("timeout"),
                   .port_base = I ("port_base"),
                   .phases = S ("phases"),
                   .policy = S ("policy"),
                   .mix = S ("mix"),
                   .dir = S ("dir"),
                   .source = S ("source"),
                   .json_out = S ("json_out"),
                   .broker_bin = S ("broker_bin"),
                   .validator_bin = S ("validator_bin"),
                   .web_bin = S ("web_bin"),
                   .lh_bin = S ("lh_bin"),
                   .json = lh_config_bool (config, "console/json", false),
                   .keep = lh_config_bool (config, "console/keep", false)};
#undef S
#undef I
#undef D
    if (!o->policy)
        o->policy = LH_BENCH_POLICY;
    if (!o->mix)
        o->mix = LH_BENCH_MIX;
    o->phase_on[0] = proc_listed (o->phases, "a");
    o->phase_on[1] = proc_listed (o->phases, "b");
    o->phase_on[2] = proc_listed (o->phases, "c");
    if (o->duration <= 0 || o->warmup < 0 || o->drain < 0 || o->rounds < 1 ||
        o->rounds > MAX_ROUNDS || o->clients < 1 || o->clients > MAX_CLIENTS || o->depth < 1 ||
        o->depth > DRIVE_RING / 2 || o->stream_clients < 1 || o->stream_clients > o->clients ||
        o->rate <= 0 || o->rate > 100000 || o->readers < 1 || o->readers > MAX_READERS ||
        o->poll_s < 0 || o->stream_rate < 1 || o->capacity < 1 || o->io_threads < 1 ||
        o->io_threads > 8 || o->capacity > LH_MAX_CAPACITY || o->timeout_ms < 1000 ||
        o->port_base < 1024 || o->port_base > 65000 || !o->phase_on[0] || !o->phase_on[1]) {
        fprintf (stderr, TOOL ": an option is out of range (try --help)\n");
        return 2;
    }
    return -1;
}

//  --------------------------------------------------------------------------
//  Checking replies

//  --------------------------------------------------------------------------
//  HTTP to lh-web: plain sockets, HTTP/1.0 (the answer ends when the
//  connection closes; no chunking)

static int
s_tcp_connect (int port, int timeout_ms)
{
    int fd = socket (AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons ((uint16_t) port)};
    addr.sin_addr.s_addr = htonl (INADDR_LOOPBACK);
    struct timeval tv = {timeout_ms / 1000, (timeout_ms % 1000) * 1000};
    setsockopt (fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof (tv));
    setsockopt (fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof (tv));
    int one = 1;
    setsockopt (fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof (one));
    if (connect (fd, (struct sockaddr *) &addr, sizeof (addr)) != 0) {
        close (fd);
        return -1;
    }
    return fd;
}

static bool
s_send_all (int fd, const char *text, size_t size)
{
    while (size) {
        ssize_t n = send (fd, text, size, MSG_NOSIGNAL);
        if (n <= 0) {
            if (n < 0 && errno == EINTR)
                continue;
            return false;
        }
        text += n;
        size -= (size_t) n;
    }
    return true;
}

//  One request; the whole answer (headers and body) into *out (malloc'd,
//  NUL-terminated); the status, or -1
static int
s_http (int port, const char *method, const char *path, const char *cookie, const char *body,
        char **out, size_t *out_size)
{
    *out = NULL;
    if (out_size)
        *out_size = 0;
    int fd = s_tcp_connect (port, 5000);
    if (fd < 0)
        return -1;
    char head[1024];
    int len = snprintf (head, sizeof (head), "%s %s HTTP/1.0\r\nHost: 127.0.0.1:%d\r\n", method,
                        path, port);
    if (cookie)
        len += snprintf (head + len, sizeof (head) - (size_t) len, "Cookie: lh_session=%s\r\n",
                         cookie);
    if (body)
        len +=
            snprintf (head + len, sizeof (head) - (size_t) len,
                      "Content-Type: application/json\r\nContent-Length: %zu\r\n", strlen (body));
    len += snprintf (head + len, sizeof (head) - (size_t) len, "\r\n");
    bool sent =
        s_send_all (fd, head, (size_t) len) && (!body || s_send_all (fd, body, strlen (body)));
    size_t size = 0, cap = 4096;
    char *buf = (char *) malloc (cap + 1);
    while (sent && buf && size < HTTP_MAX) {
        if (size == cap) {
            char *more = (char *) realloc (buf, cap * 2 + 1);
            if (!more)
                break;
            buf = more;
            cap *= 2;
        }
        ssize_t n = recv (fd, buf + size, cap - size, 0);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        size += (size_t) n;
    }
    close (fd);
    if (!buf)
        return -1;
    buf[size] = 0;
    int status = -1;
    if (sent && strncmp (buf, "HTTP/1.", 7) == 0 && size > 12)
        status = atoi (buf + 9);
    *out = buf;
    if (out_size)
        *out_size = size;
    return status;
}

//  Logs in with token; the session id into cookie. The status (200), or -1
static int
s_login (int port, const char *token, char *cookie, size_t size)
{
    char body[200];
    snprintf (body, sizeof (body), "{\"token\": \"%s\"}", token);
    for (int attempt = 0; attempt < 20 && !bench_stop; attempt++) {
        char *answer = NULL;
        int status = s_http (port, "POST", "/api/login", NULL, body, &answer, NULL);
        if (status == 200) {
            const char *at = answer ? strcasestr (answer, "\nSet-Cookie: lh_session=") : NULL;
            if (at) {
                at += strlen ("\nSet-Cookie: lh_session=");
                size_t n = strcspn (at, ";\r\n");
                snprintf (cookie, size, "%.*s", (int) n, at);
            }
            free (answer);
            return at ? 200 : -1;
        }
        free (answer);
        if (status != 429)
            return status;
        usleep (300000); //  logins are limited to 5 a second
    }
    return -1;
}

//  lh-web's counters from GET /api/stats: counter values by name
#define WEB_COUNTERS 8
static const char *s_web_counter[WEB_COUNTERS] = {"decisions_seen", "events_sent", "events_dropped",
                                                  "notices",        "streams",     "sessions",
                                                  "requests",       "broker_calls"};

typedef struct {
    bool ok;
    uint64_t v[WEB_COUNTERS];
} wstats_t;

static uint64_t
s_json_u64 (const char *text, const char *name)
{
    char key[64];
    snprintf (key, sizeof (key), "\"%s\":", name);
    const char *at = strstr (text, key);
    return at ? strtoull (at + strlen (key), NULL, 10) : 0;
}

static wstats_t
s_web_stats (int port, const char *cookie)
{
    wstats_t s = {0};
    char *answer = NULL;
    if (s_http (port, "GET", "/api/stats", cookie, NULL, &answer, NULL) == 200 && answer &&
        strstr (answer, "\"counters\"")) {
        s.ok = true;
        for (int i = 0; i < WEB_COUNTERS; i++)
            s.v[i] = s_json_u64 (answer, s_web_counter[i]);
    }
    free (answer);
    return s;
}

//  --------------------------------------------------------------------------
//  Readers: a live page each, one thread each

typedef struct {
    int index, port;
    double poll_s;
    char cookie[128];
    pthread_t thread;
    bool running;
    _Atomic bool stop;
    //  What it received, counted as it arrives
    _Atomic uint64_t bytes, decisions, dropped, dropped_events, ticks, hellos, others;
    _Atomic uint64_t polls, poll_failed, poll_bytes;
    _Atomic uint64_t opened, open_failed, ended; //  stream connections
    char status_line[128];                       //  the last refused stream's answer
} reader_t;

typedef struct {
    char line[1024];
    size_t len;
    bool overflow;
    char event[32];
} sse_t;

static void
s_sse_line (reader_t *r, sse_t *p)
{
    const char *line = p->line;
    if (strncmp (line, "event: ", 7) == 0) {
        snprintf (p->event, sizeof (p->event), "%s", line + 7);
        if (streq (p->event, "decision"))
            atomic_fetch_add (&r->decisions, 1);
        else if (streq (p->event, "tick"))
            atomic_fetch_add (&r->ticks, 1);
        else if (streq (p->event, "hello"))
            atomic_fetch_add (&r->hellos, 1);
        else if (streq (p->event, "dropped"))
            atomic_fetch_add (&r->dropped_events, 1);
        else
            atomic_fetch_add (&r->others, 1);
    } else if (strncmp (line, "data: ", 6) == 0 && streq (p->event, "dropped")) {
        const char *count = strstr (line, "\"count\":");
        if (count)
            atomic_fetch_add (&r->dropped, strtoull (count + 8, NULL, 10));
    } else if (!*line)
        p->event[0] = 0;
}

static void
s_sse_feed (reader_t *r, sse_t *p, const char *data, size_t size)
{
    for (size_t i = 0; i < size; i++) {
        char c = data[i];
        if (c == '\n') {
            if (!p->overflow) {
                p->line[p->len] = 0;
                s_sse_line (r, p);
            }
            p->len = 0;
            p->overflow = false;
        } else if (c != '\r') {
            if (p->len + 1 < sizeof (p->line))
                p->line[p->len++] = c;
            else
                p->overflow = true; //  a long data line: only its start matters
        }
    }
}

//  Opens the stream; the socket after the response's headers (the rest of
//  what came with them fed to the parser), or -1
static int
s_stream_open (reader_t *r, sse_t *p)
{
    int fd = s_tcp_connect (r->port, 2000);
    if (fd < 0)
        return -1;
    char head[512];
    int len = snprintf (head, sizeof (head),
                        "GET /api/stream HTTP/1.0\r\nHost: 127.0.0.1:%d\r\nCookie: "
                        "lh_session=%s\r\nAccept: text/event-stream\r\n\r\n",
                        r->port, r->cookie);
    if (!s_send_all (fd, head, (size_t) len)) {
        close (fd);
        return -1;
    }
    char buf[8192];
    size_t size = 0;
    char *end = NULL;
    while (!end && size < sizeof (buf) - 1) {
        ssize_t n = recv (fd, buf + size, sizeof (buf) - 1 - size, 0);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        size += (size_t) n;
        buf[size] = 0;
        end = strstr (buf, "\r\n\r\n");
    }
    if (!end || strncmp (buf, "HTTP/1.", 7) != 0 || atoi (buf + 9) != 200) {
        snprintf (r->status_line, sizeof (r->status_line), "%.*s", (int) strcspn (buf, "\r\n"),
                  buf);
        close (fd);
        return -1;
    }
    atomic_fetch_add (&r->bytes, size);
    end += 4;
    s_sse_feed (r, p, end, size - (size_t) (end - buf));
    return fd;
}

static void
s_reader_poll (reader_t *r)
{
    static const char *paths[] = {"/api/rates", "/api/decisions?limit=100"};
    for (int i = 0; i < 2; i++) {
        char *answer = NULL;
        size_t size = 0;
        int status = s_http (r->port, "GET", paths[i], r->cookie, NULL, &answer, &size);
        atomic_fetch_add (&r->polls, 1);
        if (status != 200)
            atomic_fetch_add (&r->poll_failed, 1);
        atomic_fetch_add (&r->poll_bytes, size);
        free (answer);
    }
}

static void *
s_reader_run (void *arg)
{
    reader_t *r = (reader_t *) arg;
    pthread_setname_np (pthread_self (), "reader");
    sse_t parser;
    memset (&parser, 0, sizeof (parser));
    int fd = s_stream_open (r, &parser);
    if (fd < 0)
        atomic_fetch_add (&r->open_failed, 1);
    else
        atomic_fetch_add (&r->opened, 1);
    //  The page loads its recent decisions and rates when it opens
    if (r->poll_s > 0)
        s_reader_poll (r);
    uint64_t next_poll = bench_now_ns () + (uint64_t) (r->poll_s * 1e9);
    char buf[65536];
    while (!atomic_load (&r->stop) && !bench_stop) {
        uint64_t now = bench_now_ns ();
        if (r->poll_s > 0 && now >= next_poll) {
            s_reader_poll (r);
            next_poll += (uint64_t) (r->poll_s * 1e9);
            if (next_poll < now)
                next_poll = now + (uint64_t) (r->poll_s * 1e9);
        }
        if (fd < 0) {
            //  As EventSource does: try again a little later
            usleep (100000);
            memset (&parser, 0, sizeof (parser));
            fd = s_stream_open (r, &parser);
            atomic_fetch_add (fd < 0 ? &r->open_failed : &r->opened, 1);
            continue;
        }
        struct pollfd pfd = {fd, POLLIN, 0};
        int rc = poll (&pfd, 1, 100);
        if (rc <= 0)
            continue;
        ssize_t n = recv (fd, buf, sizeof (buf), 0);
        if (n < 0 && (errno == EINTR || errno == EAGAIN))
            continue;
        if (n <= 0) {
            atomic_fetch_add (&r->ended, 1);
            close (fd);
            fd = -1;
            continue;
        }
        atomic_fetch_add (&r->bytes, (uint64_t) n);
        s_sse_feed (r, &parser, buf, (size_t) n);
    }
    if (fd >= 0)
        close (fd);
    return NULL;
}

typedef struct {
    uint64_t bytes, decisions, dropped, dropped_events, ticks, hellos, others, polls, poll_failed,
        poll_bytes, opened, open_failed, ended;
} rsum_t;

static rsum_t
s_readers_sum (reader_t *readers, int count)
{
    rsum_t s = {0};
    for (int i = 0; i < count; i++) {
        reader_t *r = &readers[i];
        s.bytes += atomic_load (&r->bytes);
        s.decisions += atomic_load (&r->decisions);
        s.dropped += atomic_load (&r->dropped);
        s.dropped_events += atomic_load (&r->dropped_events);
        s.ticks += atomic_load (&r->ticks);
        s.hellos += atomic_load (&r->hellos);
        s.others += atomic_load (&r->others);
        s.polls += atomic_load (&r->polls);
        s.poll_failed += atomic_load (&r->poll_failed);
        s.poll_bytes += atomic_load (&r->poll_bytes);
        s.opened += atomic_load (&r->opened);
        s.open_failed += atomic_load (&r->open_failed);
        s.ended += atomic_load (&r->ended);
    }
    return s;
}

static rsum_t
s_rsum_diff (rsum_t b, rsum_t a)
{
    rsum_t d;
    uint64_t *pb = (uint64_t *) &b, *pa = (uint64_t *) &a, *pd = (uint64_t *) &d;
    for (size_t i = 0; i < sizeof (rsum_t) / sizeof (uint64_t); i++)
        pd[i] = pb[i] - pa[i];
    return d;
}

static void
s_rsum_add (rsum_t *into, rsum_t x)
{
    uint64_t *pi = (uint64_t *) into, *px = (uint64_t *) &x;
    for (size_t i = 0; i < sizeof (rsum_t) / sizeof (uint64_t); i++)
        pi[i] += px[i];
}

//  --------------------------------------------------------------------------
//  The cluster

typedef struct {
    char broker_bin[PATH_MAX], validator_bin[PATH_MAX], web_bin[PATH_MAX], lh_bin[PATH_MAX];
    char base[PATH_MAX];
    zcert_t **certs; //  one per client
    int ncerts;
    mix_t mix;
} cenv_t;

typedef struct {
    launcher_t *launcher;
    char tmp[256];
    pid_t broker, validator[VALIDATORS], web;
    int web_port;
    int web_starts;
    char web_log[PATH_MAX], tokens[PATH_MAX], web_cert[PATH_MAX];
    char token[128];
    char stats_cookie[128]; //  this process's own session (for /api/stats)
    char broker_args[256], validator_args[VALIDATORS][512], web_args[1024];
    bool failed;
} ccluster_t;

static int
s_env_init (cenv_t *env, const copts_t *o)
{
    char self[PATH_MAX];
    if (proc_self_dir (self, sizeof (self)) != 0 ||
        !proc_find_bin_named (env->broker_bin, PATH_MAX, o->broker_bin, self, "../broker/lh-broker",
                              LH_BENCH_BROKER, TOOL, "lh-broker", "--broker-bin") ||
        !proc_find_bin_named (env->validator_bin, PATH_MAX, o->validator_bin, self,
                              "../nodes/validator/lh-validator", LH_BENCH_VALIDATOR, TOOL,
                              "lh-validator", "--validator-bin") ||
        !proc_find_bin_named (env->web_bin, PATH_MAX, o->web_bin, self, "../web/lh-web",
                              LH_BENCH_WEB, TOOL, "lh-web", "--web-bin") ||
        !proc_find_bin_named (env->lh_bin, PATH_MAX, o->lh_bin, self, "../cli/lh", LH_BENCH_LH,
                              TOOL, "lh", "--lh-bin"))
        return -1;
    if (access (o->policy, R_OK) != 0) {
        fprintf (stderr, TOOL ": cannot read the policy %s; use --policy\n", o->policy);
        return -1;
    }
    char err[256];
    if (mix_load (&env->mix, o->mix, err, sizeof (err)) != 0) {
        fprintf (stderr, TOOL ": %s\n", err);
        return -1;
    }
    const char *base = o->dir ? o->dir : getenv ("TMPDIR");
    snprintf (env->base, sizeof (env->base), "%s", base && *base ? base : "/tmp");
    if (strlen (env->base) > 200) {
        fprintf (stderr, TOOL ": %s: path too long for the temporary directory\n", env->base);
        return -1;
    }
    env->ncerts = o->clients;
    env->certs = (zcert_t **) calloc ((size_t) env->ncerts, sizeof (zcert_t *));
    for (int i = 0; env->certs && i < env->ncerts; i++)
        if (!(env->certs[i] = zcert_new ()))
            return -1;
    return env->certs ? 0 : -1;
}

static void
s_env_destroy (cenv_t *env)
{
    for (int i = 0; env->certs && i < env->ncerts; i++)
        zcert_destroy (&env->certs[i]);
    free (env->certs);
    env->certs = NULL;
    mix_destroy (&env->mix);
}

//  lh review token bench --tokens FILE --view-only: the token it prints
static int
s_make_token (ccluster_t *c, const cenv_t *env)
{
    snprintf (c->tokens, sizeof (c->tokens), "%s/web-tokens", c->tmp);
    char command[PATH_MAX * 3];
    snprintf (command, sizeof (command), "'%s' review token bench --tokens '%s' --view-only",
              env->lh_bin, c->tokens);
    FILE *out = popen (command, "r");
    if (!out)
        return -1;
    char line[256];
    c->token[0] = 0;
    while (fgets (line, sizeof (line), out))
        if (strncmp (line, "lhr_", 4) == 0 && !c->token[0])
            snprintf (c->token, sizeof (c->token), "%.*s", (int) strcspn (line, " \r\n"), line);
    int status = pclose (out);
    if (status != 0 || !c->token[0]) {
        fprintf (stderr, TOOL ": %s did not print a token (status %d)\n", command, status);
        return -1;
    }
    return 0;
}

//  Starts lh-web and waits until it answers; 0 or -1
static int
s_web_start (ccluster_t *c, const cenv_t *env, const copts_t *o)
{
    launcher_t *l = c->launcher;
    char listen[64], rate[16];
    snprintf (listen, sizeof (listen), "127.0.0.1:%d", c->web_port);
    snprintf (rate, sizeof (rate), "%d", o->stream_rate);
    char *const argv[] = {(char *) env->web_bin, "--listen", listen, "--broker",
                          (char *) launcher_frontend (l), "--pub", (char *) launcher_pub (l),
                          "--broker-key", (char *) launcher_broker_key (l), "--cert", c->web_cert,
                          "--tokens", c->tokens, "--stream-rate", rate,
                          //  A: nobody watching, from the first second after B's pages close
                          "--watch", "1", "--log-level", "info", NULL};
    c->web_args[0] = 0;
    for (int i = 1; argv[i]; i++)
        snprintf (c->web_args + strlen (c->web_args), sizeof (c->web_args) - strlen (c->web_args),
                  "%s%s", i > 1 ? " " : "", streq (argv[i - 1], "--broker-key") ? "KEY" : argv[i]);
    //  One log over the run: each start appends (the launcher truncates)
    char log[PATH_MAX];
    snprintf (log, sizeof (log), "%s/lh-web.%d.log", c->tmp, ++c->web_starts);
    snprintf (c->web_log, sizeof (c->web_log), "%s", log);
    c->web = launcher_spawn (l, "lh-web", argv, log, -1, -1);
    if (c->web <= 0)
        return -1;
    int64_t until = zclock_mono () + 15000;
    while (!bench_stop && zclock_mono () < until) {
        if (!launcher_alive (l, c->web)) {
            fprintf (stderr, TOOL ": lh-web exited at start; its log:\n");
            launcher_log_tail (log, 20);
            return -1;
        }
        char *answer = NULL;
        int status = s_http (c->web_port, "GET", "/api/session", NULL, NULL, &answer, NULL);
        free (answer);
        if (status == 401)
            break;
        zclock_sleep (100);
    }
    if (s_login (c->web_port, c->token, c->stats_cookie, sizeof (c->stats_cookie)) != 200) {
        fprintf (stderr, TOOL ": cannot log in to lh-web (log %s)\n", log);
        return -1;
    }
    return 0;
}

static int
s_web_stop (ccluster_t *c)
{
    int status = launcher_stop (c->launcher, c->web, 3000);
    c->web = 0;
    return status;
}

static int
s_cluster_start (ccluster_t *c, cenv_t *env, const copts_t *o)
{
    memset (c, 0, sizeof (*c));
    char template[PATH_MAX];
    snprintf (template, sizeof (template), "%s/lh-bench-console.XXXXXX", env->base);
    c->launcher = launcher_new (template);
    if (!c->launcher)
        return -1;
    launcher_t *l = c->launcher;
    if (strlen (launcher_dir (l)) >= sizeof (c->tmp)) {
        fprintf (stderr, TOOL ": %s: path too long\n", launcher_dir (l));
        return -1;
    }
    snprintf (c->tmp, sizeof (c->tmp), "%s", launcher_dir (l));
    launcher_set_bin (l, LAUNCHER_BROKER, env->broker_bin);
    launcher_set_bin (l, LAUNCHER_VALIDATOR, env->validator_bin);
    launcher_set_port_base (l, o->port_base);
    launcher_set_timeout (l, 15000);
    c->web_port = o->port_base + 20;
    int rc = 0;
    for (int i = 0; rc == 0 && i < env->ncerts; i++) {
        char name[16];
        snprintf (name, sizeof (name), "a%d", i);
        rc = launcher_add_principal (l, name, zcert_public_txt (env->certs[i]), "agent");
    }
    //  lh-web's own key, role admin (it reads everything)
    if (rc != 0 || !launcher_keygen (l, "web", "admin")) {
        fprintf (stderr, TOOL ": cannot write the roster in %s\n", c->tmp);
        c->failed = true;
        return -1;
    }
    launcher_cert_path (l, "web", c->web_cert, sizeof (c->web_cert));
    snprintf (c->broker_args, sizeof (c->broker_args),
              "--io-threads %d --queue-max %d --log-level warn --set role/agent/rate=0",
              o->io_threads, o->clients * o->depth + 1000);
    launcher_set_args (l, LAUNCHER_BROKER, c->broker_args);
    launcher_set_args (l, LAUNCHER_VALIDATOR, "--log-level warn");
    if (launcher_start_broker (l, "service\n    validate\n") != 0)
        goto failed;
    c->broker = launcher_broker_pid (l);
    for (int v = 0; v < VALIDATORS; v++) {
        //  Each its own run directory (spool, redaction key)
        snprintf (c->validator_args[v], sizeof (c->validator_args[v]),
                  "--capacity %d --home %s --run-dir %s/validator-%d", o->capacity, MIX_HOME,
                  c->tmp, v + 1);
        c->validator[v] = launcher_start_validator (l, o->policy, c->validator_args[v], false);
        if (c->validator[v] <= 0)
            goto failed;
    }
    if (!launcher_wait_workers (l, "validate", VALIDATORS, 15000)) {
        fprintf (stderr, TOOL ": the broker does not list %d validators\n", VALIDATORS);
        goto failed;
    }
    if (s_make_token (c, env) != 0)
        goto failed;
    return 0;
failed:
    c->failed = !bench_stop;
    return -1;
}

static bool
s_cluster_alive (ccluster_t *c)
{
    bool alive = launcher_alive (c->launcher, c->broker);
    for (int v = 0; v < VALIDATORS; v++)
        alive &= launcher_alive (c->launcher, c->validator[v]);
    return alive;
}

static void
s_cluster_destroy (ccluster_t *c, bool keep)
{
    if (!c->launcher)
        return;
    launcher_stop_kind (c->launcher, LAUNCHER_OTHER, 3000);
    launcher_stop_kind (c->launcher, LAUNCHER_VALIDATOR, 2000);
    launcher_stop_all (c->launcher, 2000);
    if (keep || c->failed) {
        s_progress ("kept %s (keys, logs)", c->tmp);
        launcher_set_keep (c->launcher, true);
    }
    launcher_destroy (&c->launcher);
}

static drive_client_t *
s_clients_new (cenv_t *env, ccluster_t *c, const copts_t *o, drive_check_t *connect)
{
    int count = o->clients;
    drive_client_t *clients = (drive_client_t *) calloc ((size_t) count, sizeof (drive_client_t));
    if (!clients)
        return NULL;
    bool ok = true;
    for (int i = 0; i < count && ok; i++) {
        drive_client_t *b = &clients[i];
        lh_connect_t conn = {.endpoint = launcher_frontend (c->launcher),
                             .server_key = launcher_broker_key (c->launcher),
                             .cert = env->certs[i]};
        b->client = lh_client_new (&conn);
        b->ring = (drive_slot_t *) calloc (DRIVE_RING, sizeof (drive_slot_t));
        b->index = i;
        b->rng = 0x9E3779B97F4A7C15ULL ^ ((uint64_t) (i + 1) * 0xBF58476D1CE4E5B9ULL);
        ok = b->client && b->ring;
        if (ok) {
            lh_client_set_timeout (b->client, o->timeout_ms);
            lh_client_set_retries (b->client, 0);
        }
    }
    if (ok) {
        drive_t d;
        drive_init (&d, clients, count, DRIVE_VALIDATE);
        d.mix = &env->mix;
        d.once = true;
        d.t0 = UINT64_MAX;
        d.drain_ns = (uint64_t) o->timeout_ms * 2000000ULL;
        drive_run (&d);
        ok = d.check.ok == (uint64_t) count;
        drive_check_merge (connect, &d.check);
        drive_destroy (&d);
    }
    if (!ok) {
        for (int i = 0; i < count; i++) {
            lh_client_destroy (&clients[i].client);
            free (clients[i].ring);
        }
        free (clients);
        return NULL;
    }
    return clients;
}

static void
s_clients_destroy (drive_client_t **clients_p, int count)
{
    drive_client_t *clients = *clients_p;
    for (int i = 0; clients && i < count; i++) {
        lh_client_destroy (&clients[i].client);
        free (clients[i].ring);
    }
    free (clients);
    *clients_p = NULL;
}

//  --------------------------------------------------------------------------
//  Measuring

//  utime + stime of a process, seconds; -1 when unreadable
static double
s_proc_cpu_s (pid_t pid)
{
    if (pid <= 0)
        return -1;
    char path[64], text[1024];
    snprintf (path, sizeof (path), "/proc/%d/stat", (int) pid);
    FILE *file = fopen (path, "r");
    if (!file)
        return -1;
    size_t n = fread (text, 1, sizeof (text) - 1, file);
    fclose (file);
    text[n] = 0;
    //  After the command's closing parenthesis: state is field 3, utime 14
    const char *at = strrchr (text, ')');
    if (!at)
        return -1;
    unsigned long long utime = 0, stime = 0;
    if (sscanf (at + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &utime, &stime) !=
        2)
        return -1;
    return (double) (utime + stime) / (double) sysconf (_SC_CLK_TCK);
}

typedef struct {
    int windows;
    double seconds;
    uint64_t ok;
    double rps[MAX_ROUNDS];
    double p99_by_round[MAX_ROUNDS];
    hist_t hist;
    drive_check_t check;
    //  CPU seconds over the windows
    double web_cpu_s, broker_cpu_s, validators_cpu_s, self_cpu_s;
    double host_pct, other_pct; //  means over the windows, 100 = one core
    //  lh-web's counters over the windows (B and A), and the readers'
    uint64_t web_seen, web_sent, web_dropped, web_notices;
    bool web_stats;
    rsum_t readers;
    long web_rss_kib; //  at the end of the last window
} pload_t;

typedef struct {
    bool ran;
    pload_t load[LOADS];
    //  B: after the pages closed, how long until lh-web counted no open
    //  stream (the most over rounds, s), and streams still counted then
    double streams_gone_s;
    uint64_t streams_left;
} phase_t;

typedef struct {
    phase_t phase[PHASES];
    drive_check_t connect;
    bool cluster_failed, web_failed;
    char web_failure[PATH_MAX + 256];
    uint64_t failures;
    char broker_args[256], validator_args[VALIDATORS][512], web_args[1024];
    long web_rss_first, web_rss_last;
    int web_starts;
} results_t;

static void
s_window (cenv_t *env, ccluster_t *c, const copts_t *o, drive_client_t *clients, int load,
          reader_t *readers, int nreaders, pload_t *p)
{
    drive_t *d = (drive_t *) calloc (1, sizeof (drive_t));
    int count = load == 0 ? o->clients : o->stream_clients;
    drive_init (d, clients, count, DRIVE_VALIDATE);
    if (load == 0)
        d->depth = o->depth;
    else
        d->rate = o->rate;
    d->mix = &env->mix;
    uint64_t start = bench_now_ns ();
    d->t0 = start + (uint64_t) (o->warmup * 1e9);
    atomic_store (&d->t1, d->t0 + (uint64_t) (o->duration * 1e9));
    d->drain_ns = (uint64_t) (o->drain * 1e9);
    pthread_t thread;
    if (pthread_create (&thread, NULL, drive_run, d) != 0) {
        drive_destroy (d);
        free (d);
        return;
    }
    proc_sleep_until (d->t0);
    host_snap_t h0, h1;
    host_snap (&h0);
    double w0 = s_proc_cpu_s (c->web), b0 = s_proc_cpu_s (c->broker), s0 = s_proc_cpu_s (getpid ());
    double v0 = 0;
    for (int v = 0; v < VALIDATORS; v++)
        v0 += s_proc_cpu_s (c->validator[v]);
    rsum_t r0 = s_readers_sum (readers, nreaders);
    wstats_t ws0 = c->web ? s_web_stats (c->web_port, c->stats_cookie) : (wstats_t){0};
    proc_sleep_until (atomic_load (&d->t1));
    wstats_t ws1 = c->web ? s_web_stats (c->web_port, c->stats_cookie) : (wstats_t){0};
    rsum_t r1 = s_readers_sum (readers, nreaders);
    host_snap (&h1);
    double w1 = s_proc_cpu_s (c->web), b1 = s_proc_cpu_s (c->broker), s1 = s_proc_cpu_s (getpid ());
    double v1 = 0;
    for (int v = 0; v < VALIDATORS; v++)
        v1 += s_proc_cpu_s (c->validator[v]);
    pthread_join (thread, NULL);

    double seconds = (double) (atomic_load (&d->t1) - d->t0) / 1e9;
    int w = p->windows++;
    p->rps[w] = seconds > 0 ? (double) d->window_ok / seconds : 0;
    p->p99_by_round[w] = (double) hist_percentile (&d->hist, 99) / 1e6;
    p->seconds += seconds;
    p->ok += d->window_ok;
    hist_merge (&p->hist, &d->hist);
    drive_check_merge (&p->check, &d->check);
    if (c->web)
        p->web_cpu_s += w1 - w0;
    p->broker_cpu_s += b1 - b0;
    p->validators_cpu_s += v1 - v0;
    p->self_cpu_s += s1 - s0;
    double host = host_busy_percent (&h0, &h1);
    double ours = ((c->web ? w1 - w0 : 0) + (b1 - b0) + (v1 - v0) + (s1 - s0)) / seconds * 100;
    p->host_pct += (host - p->host_pct) / p->windows;
    p->other_pct += ((host > ours ? host - ours : 0) - p->other_pct) / p->windows;
    if (ws0.ok && ws1.ok) {
        p->web_stats = true;
        p->web_seen += ws1.v[0] - ws0.v[0];
        p->web_sent += ws1.v[1] - ws0.v[1];
        p->web_dropped += ws1.v[2] - ws0.v[2];
        p->web_notices += ws1.v[3] - ws0.v[3];
    }
    s_rsum_add (&p->readers, s_rsum_diff (r1, r0));
    if (c->web)
        p->web_rss_kib = proc_rss_kib (c->web);
    drive_destroy (d);
    free (d);
}

static void
s_readers_start (reader_t *readers, const copts_t *o, ccluster_t *c)
{
    for (int i = 0; i < o->readers; i++) {
        reader_t *r = &readers[i];
        memset (r, 0, sizeof (*r));
        r->index = i;
        r->port = c->web_port;
        r->poll_s = o->poll_s;
        //  Each page its own session, as separate browsers would be
        if (s_login (c->web_port, c->token, r->cookie, sizeof (r->cookie)) != 200) {
            fprintf (stderr, TOOL ": reader %d: cannot log in\n", i);
            continue;
        }
        r->running = pthread_create (&r->thread, NULL, s_reader_run, r) == 0;
    }
}

static void
s_readers_stop (reader_t *readers, int count)
{
    for (int i = 0; i < count; i++)
        atomic_store (&readers[i].stop, true);
    for (int i = 0; i < count; i++)
        if (readers[i].running) {
            pthread_join (readers[i].thread, NULL);
            readers[i].running = false;
        }
}

//  --------------------------------------------------------------------------
//  Report

typedef struct {
    char when[64];
    char load_before[64];
    double host_before;
    char *command;
} meta_t;

typedef struct {
    double p50, p99, p999, max, mean; //  ms
    uint64_t n;
} lat_t;

static lat_t
s_lat (const hist_t *h)
{
    lat_t l = {0};
    l.n = h->count;
    if (!h->count)
        return l;
    l.p50 = (double) hist_percentile (h, 50) / 1e6;
    l.p99 = (double) hist_percentile (h, 99) / 1e6;
    l.p999 = (double) hist_percentile (h, 99.9) / 1e6;
    l.max = (double) h->max / 1e6;
    l.mean = hist_mean (h) / 1e6;
    return l;
}

static double
s_ratio (double a, double b)
{
    return b > 0 ? a / b : 0;
}

static double
s_rps (const pload_t *p)
{
    return s_ratio ((double) p->ok, p->seconds);
}

//  lh-web's CPU us per decision answered in the windows
static double
s_web_us (const pload_t *p)
{
    return p->ok ? p->web_cpu_s * 1e6 / (double) p->ok : 0;
}

static void
s_check_line (FILE *out, const char *name, const drive_check_t *c)
{
    fprintf (out,
             "  %-22s sent %llu, ok %llu, failed %llu (error replies %llu, timeouts %llu, send "
             "refused %llu, lost %llu); late replies %llu; decisions other than the mix file's "
             "%llu\n",
             name, (unsigned long long) c->sent, (unsigned long long) c->ok,
             (unsigned long long) c->failed, (unsigned long long) c->error_replies,
             (unsigned long long) c->timeouts, (unsigned long long) c->send_failed,
             (unsigned long long) c->lost, (unsigned long long) c->late,
             (unsigned long long) c->wrong);
    for (int i = 0; i < c->samples; i++)
        fprintf (out, "    %s\n", c->sample[i]);
}

static void
s_table (FILE *out, const copts_t *o, const meta_t *m, const results_t *r)
{
    fprintf (out, "\n" TOOL "  %s  %ld cores\n", m->when, sysconf (_SC_NPROCESSORS_ONLN));
    fprintf (out, "command: %s\n", m->command ? m->command : "?");
    if (o->source)
        fprintf (out, "source: %s\n", o->source);
    fprintf (out,
             "host before the run: loadavg %s; %.0f%% CPU busy (100 = one core) over 1 s with "
             "nothing of ours running\n",
             m->load_before, m->host_before);
    fprintf (out,
             "one cluster on 127.0.0.1, CURVE, for the whole run: lh-broker %s; two lh-validator "
             "(--policy %s, no --frontend) %s; lh-web %s (started %d time%s). No CPU pinning.\n",
             r->broker_args, o->policy, r->validator_args[0], r->web_args, r->web_starts,
             r->web_starts == 1 ? "" : "s");
    fprintf (out,
             "phases in turn, %d round%s (A B%s ...): A = %s; B = %s: %d pages, each its own "
             "session, GET /api/stream read continuously%s; C = %s. Each phase: closed loop %d "
             "clients x %d in flight, then paced %.0f validate/s from %d clients; warmup %.1f s + "
             "window %.1f s each. Request mix bench/validate-mix.tsv, warm cwd (cache hits).\n",
             o->rounds, o->rounds == 1 ? "" : "s", o->phase_on[2] ? " C" : "", s_phase_what[0],
             s_phase_what[1], o->readers,
             o->poll_s > 0 ? ", plus GET /api/rates and /api/decisions?limit=100 every poll" : "",
             s_phase_what[2], o->clients, o->depth, o->rate, o->stream_clients, o->warmup,
             o->duration);
    if (o->poll_s > 0)
        fprintf (out, "(poll = %.1f s; --stream-rate %d decisions/s per page)\n", o->poll_s,
                 o->stream_rate);
    else
        fprintf (out, "(--stream-rate %d decisions/s per page)\n", o->stream_rate);
    fprintf (out, "\n%-7s %-5s %9s %8s %8s %8s %8s %6s | %6s %7s %7s %7s %6s %6s | %7s\n", "load",
             "phase", "req/s", "p50 ms", "p99 ms", "p99.9", "max ms", "failed", "web%", "web us",
             "brk us", "val us", "host%", "other", "web MiB");
    for (int load = 0; load < LOADS; load++)
        for (int k = 0; k < PHASES; k++) {
            const phase_t *ph = &r->phase[k];
            if (!ph->ran)
                continue;
            const pload_t *p = &ph->load[load];
            lat_t l = s_lat (&p->hist);
            fprintf (out,
                     "%-7s %-5s %9.0f %8.3f %8.3f %8.3f %8.3f %6llu | %6.1f %7.2f %7.2f %7.2f "
                     "%6.0f %6.0f | %7.1f\n",
                     s_load_name[load], s_phase_name[k], s_rps (p), l.p50, l.p99, l.p999, l.max,
                     (unsigned long long) p->check.failed,
                     p->seconds > 0 ? p->web_cpu_s / p->seconds * 100 : 0, s_web_us (p),
                     p->ok ? p->broker_cpu_s * 1e6 / (double) p->ok : 0,
                     p->ok ? p->validators_cpu_s * 1e6 / (double) p->ok : 0, p->host_pct,
                     p->other_pct, (double) p->web_rss_kib / 1024.0);
        }
    fprintf (out, "(web%% = lh-web's CPU over the windows, 100 = one core; web us / brk us / val "
                  "us = lh-web's / lh-broker's / the two validators' CPU (utime + stime) per "
                  "validate answered; host%% "
                  "= the whole machine; other = host minus lh-web, broker, validators and this "
                  "process; web MiB = lh-web's RSS at the end of the phase's last window)\n");
    const phase_t *A = &r->phase[0], *B = &r->phase[1], *C = &r->phase[2];
    for (int load = 0; load < LOADS; load++) {
        lat_t a = s_lat (&A->load[load].hist), b = s_lat (&B->load[load].hist);
        fprintf (out, "B / A, %-6s throughput %.3fx, p50 %.3fx, p99 %.3fx, max %.3fx",
                 s_load_name[load], s_ratio (s_rps (&B->load[load]), s_rps (&A->load[load])),
                 s_ratio (b.p50, a.p50), s_ratio (b.p99, a.p99), s_ratio (b.max, a.max));
        if (C->ran) {
            lat_t cl = s_lat (&C->load[load].hist);
            fprintf (out, "; C / A: throughput %.3fx, p50 %.3fx, p99 %.3fx",
                     s_ratio (s_rps (&C->load[load]), s_rps (&A->load[load])),
                     s_ratio (cl.p50, a.p50), s_ratio (cl.p99, a.p99));
        }
        fprintf (out, "\n");
    }
    fprintf (out, "by round (req/s, p99 ms):\n");
    for (int load = 0; load < LOADS; load++)
        for (int k = 0; k < PHASES; k++) {
            const pload_t *p = &r->phase[k].load[load];
            if (!r->phase[k].ran)
                continue;
            fprintf (out, "  %-6s %s:", s_load_name[load], s_phase_name[k]);
            for (int i = 0; i < p->windows; i++)
                fprintf (out, "  %.0f / %.3f", p->rps[i], p->p99_by_round[i]);
            fprintf (out, "\n");
        }

    fprintf (out, "\nwhat lh-web heard and sent, over the windows (summed over rounds; "
                  "decisions = validate answered ok in the windows):\n");
    fprintf (out, "%-7s %-5s %10s %10s %9s | %10s %11s %10s | %10s %10s %8s %6s %6s %6s\n", "load",
             "phase", "decisions", "web seen", "notices", "web sent", "web dropped", "/s/page",
             "pages got", "dropped", "MiB", "polls", "p.fail", "reopen");
    for (int load = 0; load < LOADS; load++)
        for (int k = 0; k < PHASES - 1; k++) {
            const pload_t *p = &r->phase[k].load[load];
            if (!r->phase[k].ran)
                continue;
            const rsum_t *x = &p->readers;
            fprintf (out,
                     "%-7s %-5s %10llu %10llu %9llu | %10llu %11llu %10.1f | %10llu %10llu %8.1f "
                     "%6llu %6llu %6llu\n",
                     s_load_name[load], s_phase_name[k], (unsigned long long) p->ok,
                     (unsigned long long) p->web_seen, (unsigned long long) p->web_notices,
                     (unsigned long long) p->web_sent, (unsigned long long) p->web_dropped,
                     k == 1 && p->seconds > 0 ? (double) x->decisions / p->seconds / o->readers : 0,
                     (unsigned long long) x->decisions, (unsigned long long) x->dropped,
                     (double) x->bytes / 1048576.0, (unsigned long long) x->polls,
                     (unsigned long long) x->poll_failed,
                     (unsigned long long) (x->ended + x->open_failed));
        }
    fprintf (out,
             "(web seen / sent / dropped / notices: lh-web's decisions_seen, events_sent, "
             "events_dropped and notices counters (GET /api/stats) from the window's start to its "
             "end; pages got: decision events the %d pages received, dropped: the counts of the "
             "dropped events they received, /s/page: decision events per second per page (the "
             "cap is --stream-rate %d); reopen: streams that ended or could not be opened)\n",
             o->readers, o->stream_rate);
    fprintf (out,
             "lh-web RSS: %.1f MiB after the first window, %.1f MiB at the end; after the pages "
             "closed, lh-web counted no open stream within %.2f s (most over rounds), %llu "
             "still counted 3 s later\n",
             (double) r->web_rss_first / 1024.0, (double) r->web_rss_last / 1024.0,
             B->streams_gone_s, (unsigned long long) B->streams_left);
    if (r->web_failed)
        fprintf (out, "lh-web FAILED: %s\n", r->web_failure);

    fprintf (out, "\nchecks (every reply ok; decisions compared with the mix file):\n");
    s_check_line (out, "connect", &r->connect);
    for (int load = 0; load < LOADS; load++)
        for (int k = 0; k < PHASES; k++) {
            if (!r->phase[k].ran)
                continue;
            char name[48];
            snprintf (name, sizeof (name), "%s %s", s_load_name[load], s_phase_name[k]);
            s_check_line (out, name, &r->phase[k].load[load].check);
        }
    fprintf (out, "\nresult: %llu failed request%s%s%s\n", (unsigned long long) r->failures,
             r->failures == 1 ? "" : "s",
             r->cluster_failed ? "; the cluster or lh-web did not run as asked" : "",
             r->failures || r->cluster_failed ? ": exit status 1" : "");
}

static void
s_json_check (FILE *out, const drive_check_t *c)
{
    fprintf (out,
             "{\"sent\": %llu, \"ok\": %llu, \"failed\": %llu, \"error_replies\": %llu, "
             "\"timeouts\": %llu, \"send_failed\": %llu, \"lost\": %llu, \"late\": %llu, "
             "\"wrong_decisions\": %llu, \"samples\": [",
             (unsigned long long) c->sent, (unsigned long long) c->ok,
             (unsigned long long) c->failed, (unsigned long long) c->error_replies,
             (unsigned long long) c->timeouts, (unsigned long long) c->send_failed,
             (unsigned long long) c->lost, (unsigned long long) c->late,
             (unsigned long long) c->wrong);
    for (int i = 0; i < c->samples; i++) {
        fputs (i ? ", " : "", out);
        bench_json_string (out, c->sample[i]);
    }
    fputs ("]}", out);
}

static void
s_json_pload (FILE *out, const pload_t *p)
{
    lat_t l = s_lat (&p->hist);
    fprintf (out,
             "{\"rps\": %.2f, \"window_s\": %.3f, \"n\": %llu, \"p50_ms\": %.4f, \"p99_ms\": %.4f, "
             "\"p999_ms\": %.4f, \"max_ms\": %.4f, \"mean_ms\": %.4f, \"by_round\": [",
             s_rps (p), p->seconds, (unsigned long long) l.n, l.p50, l.p99, l.p999, l.max, l.mean);
    for (int i = 0; i < p->windows; i++)
        fprintf (out, "%s{\"rps\": %.2f, \"p99_ms\": %.4f}", i ? ", " : "", p->rps[i],
                 p->p99_by_round[i]);
    const rsum_t *x = &p->readers;
    fprintf (out,
             "], \"cpu_s\": {\"web\": %.3f, \"broker\": %.3f, \"validators\": %.3f, \"bench\": "
             "%.3f}, \"web_cpu_us_per_decision\": %.3f, \"host_pct\": %.1f, \"other_pct\": %.1f, "
             "\"web_rss_kib\": %ld, \"web_counters\": ",
             p->web_cpu_s, p->broker_cpu_s, p->validators_cpu_s, p->self_cpu_s, s_web_us (p),
             p->host_pct, p->other_pct, p->web_rss_kib);
    if (p->web_stats)
        fprintf (out,
                 "{\"decisions_seen\": %llu, \"events_sent\": %llu, \"events_dropped\": %llu, "
                 "\"notices\": %llu}",
                 (unsigned long long) p->web_seen, (unsigned long long) p->web_sent,
                 (unsigned long long) p->web_dropped, (unsigned long long) p->web_notices);
    else
        fputs ("null", out);
    fprintf (out,
             ", \"readers\": {\"decision_events\": %llu, \"dropped_counted\": %llu, "
             "\"dropped_events\": %llu, \"ticks\": %llu, \"hellos\": %llu, \"other_events\": "
             "%llu, \"bytes\": %llu, \"polls\": %llu, \"poll_failed\": %llu, \"poll_bytes\": "
             "%llu, \"streams_ended\": %llu, \"open_failed\": %llu}, \"checks\": ",
             (unsigned long long) x->decisions, (unsigned long long) x->dropped,
             (unsigned long long) x->dropped_events, (unsigned long long) x->ticks,
             (unsigned long long) x->hellos, (unsigned long long) x->others,
             (unsigned long long) x->bytes, (unsigned long long) x->polls,
             (unsigned long long) x->poll_failed, (unsigned long long) x->poll_bytes,
             (unsigned long long) x->ended, (unsigned long long) x->open_failed);
    s_json_check (out, &p->check);
    fputs ("}", out);
}

static void
s_json (FILE *out, const copts_t *o, const meta_t *m, const results_t *r)
{
    fprintf (out, "{\n  \"tool\": \"" TOOL "\",\n  \"when\": ");
    bench_json_string (out, m->when);
    fprintf (out, ",\n  \"command\": ");
    bench_json_string (out, m->command ? m->command : "");
    fprintf (out, ",\n  \"source\": ");
    bench_json_string (out, o->source ? o->source : "");
    fprintf (out, ",\n  \"cores\": %ld,\n  \"loadavg_before\": ", sysconf (_SC_NPROCESSORS_ONLN));
    bench_json_string (out, m->load_before);
    fprintf (out, ",\n  \"host_busy_before_pct\": %.1f,\n  \"broker_args\": ", m->host_before);
    bench_json_string (out, r->broker_args);
    fprintf (out, ",\n  \"validator_args\": ");
    bench_json_string (out, r->validator_args[0]);
    fprintf (out, ",\n  \"web_args\": ");
    bench_json_string (out, r->web_args);
    fprintf (out,
             ",\n  \"settings\": {\"duration_s\": %.3f, \"warmup_s\": %.3f, \"rounds\": %d, "
             "\"clients\": %d, \"depth\": %d, \"stream_clients\": %d, \"rate\": %.1f, "
             "\"readers\": %d, \"poll_s\": %.2f, \"stream_rate\": %d, \"capacity\": %d, "
             "\"validators\": %d},\n  \"phases\": {",
             o->duration, o->warmup, o->rounds, o->clients, o->depth, o->stream_clients, o->rate,
             o->readers, o->poll_s, o->stream_rate, o->capacity, VALIDATORS);
    bool first = true;
    for (int k = 0; k < PHASES; k++) {
        if (!r->phase[k].ran)
            continue;
        fprintf (out, "%s\n    \"%s\": {\"what\": ", first ? "" : ",", s_phase_name[k]);
        bench_json_string (out, s_phase_what[k]);
        for (int load = 0; load < LOADS; load++) {
            fprintf (out, ",\n      \"%s\": ", s_load_name[load]);
            s_json_pload (out, &r->phase[k].load[load]);
        }
        fputs ("}", out);
        first = false;
    }
    fprintf (out, "},\n  \"ratios\": {");
    for (int load = 0; load < LOADS; load++) {
        const pload_t *a = &r->phase[0].load[load], *b = &r->phase[1].load[load],
                      *c = &r->phase[2].load[load];
        lat_t la = s_lat (&a->hist), lb = s_lat (&b->hist), lc = s_lat (&c->hist);
        fprintf (out,
                 "%s\"%s\": {\"b_over_a\": {\"throughput\": %.4f, \"p50\": %.4f, \"p99\": %.4f, "
                 "\"max\": %.4f}",
                 load ? ", " : "", s_load_name[load], s_ratio (s_rps (b), s_rps (a)),
                 s_ratio (lb.p50, la.p50), s_ratio (lb.p99, la.p99), s_ratio (lb.max, la.max));
        if (r->phase[2].ran)
            fprintf (out, ", \"c_over_a\": {\"throughput\": %.4f, \"p50\": %.4f, \"p99\": %.4f}",
                     s_ratio (s_rps (c), s_rps (a)), s_ratio (lc.p50, la.p50),
                     s_ratio (lc.p99, la.p99));
        fputs ("}", out);
    }
    fprintf (out,
             "},\n  \"web_rss_kib\": {\"first\": %ld, \"last\": %ld},\n  "
             "\"streams_gone_after_close_s\": %.3f,\n  \"streams_left_after_3s\": %llu,\n  "
             "\"web_failed\": %s,\n  \"web_failure\": ",
             r->web_rss_first, r->web_rss_last, r->phase[1].streams_gone_s,
             (unsigned long long) r->phase[1].streams_left, r->web_failed ? "true" : "false");
    bench_json_string (out, r->web_failure);
    fprintf (out, ",\n  \"connect\": ");
    s_json_check (out, &r->connect);
    fprintf (out, ",\n  \"failures\": %llu,\n  \"ok\": %s\n}\n", (unsigned long long) r->failures,
             !r->failures && !r->cluster_failed ? "true" : "false");
}

//  --------------------------------------------------------------------------

static void
s_web_failed (results_t *r, ccluster_t *c, const char *what)
{
    r->web_failed = true;
    r->cluster_failed = true;
    c->failed = true;
    snprintf (r->web_failure, sizeof (r->web_failure), "%s (log %s)", what, c->web_log);
    fprintf (stderr, TOOL ": lh-web %s; the last lines of %s:\n", what, c->web_log);
    launcher_log_tail (c->web_log, 20);
}

static void
s_run (cenv_t *env, const copts_t *o, results_t *r, ccluster_t *c)
{
    s_progress ("starting the cluster: lh-broker, %d lh-validators, lh-web", VALIDATORS);
    if (s_cluster_start (c, env, o) != 0 || s_web_start (c, env, o) != 0) {
        r->cluster_failed = !bench_stop;
        c->failed = r->cluster_failed;
        return;
    }
    snprintf (r->broker_args, sizeof (r->broker_args), "%s", c->broker_args);
    for (int v = 0; v < VALIDATORS; v++)
        snprintf (r->validator_args[v], sizeof (r->validator_args[v]), "%s", c->validator_args[v]);
    snprintf (r->web_args, sizeof (r->web_args), "%s", c->web_args);
    drive_client_t *clients = s_clients_new (env, c, o, &r->connect);
    if (!clients) {
        fprintf (stderr, TOOL ": the clients did not connect (logs in %s)\n", c->tmp);
        r->cluster_failed = c->failed = true;
        return;
    }
    reader_t *readers = (reader_t *) calloc (MAX_READERS, sizeof (reader_t));
    for (int round = 0; round < o->rounds && !bench_stop && !r->cluster_failed; round++)
        for (int k = 0; k < PHASES && !bench_stop && !r->cluster_failed; k++) {
            if (!o->phase_on[k])
                continue;
            phase_t *ph = &r->phase[k];
            //  lh-web runs in A and B, not in C
            if (k == 2 && c->web) {
                int status = s_web_stop (c);
                if (!(WIFEXITED (status) && WEXITSTATUS (status) == 0)) {
                    char what[128];
                    snprintf (what, sizeof (what),
                              "did not exit cleanly on SIGTERM (wait status %d)", status);
                    s_web_failed (r, c, what);
                    break;
                }
            } else if (k != 2 && !c->web && s_web_start (c, env, o) != 0) {
                s_web_failed (r, c, "did not start again");
                break;
            }
            if (k == 1)
                s_readers_start (readers, o, c);
            int nreaders = k == 1 ? o->readers : 0;
            ph->ran = true;
            for (int load = 0; load < LOADS && !bench_stop; load++) {
                pload_t *p = &ph->load[load];
                if (!p->windows)
                    hist_reset (&p->hist);
                s_window (env, c, o, clients, load, readers, nreaders, p);
                lat_t l = s_lat (&p->hist);
                s_progress ("round %d, %s (%s), %s: %.0f req/s, p99 %.3f ms (so far), lh-web %.1f "
                            "us/decision, RSS %.1f MiB",
                            round + 1, s_phase_name[k], s_phase_what[k], s_load_name[load],
                            p->rps[p->windows - 1], l.p99, s_web_us (p),
                            c->web ? (double) proc_rss_kib (c->web) / 1024.0 : 0.0);
                if (c->web && !r->web_rss_first)
                    r->web_rss_first = proc_rss_kib (c->web);
            }
            if (k == 1) {
                s_readers_stop (readers, o->readers);
                //  lh-web sees a page gone when it next writes to it: up to
                //  a second (the next tick) when no decision comes
                uint64_t closed = bench_now_ns (), left = 0;
                double gone = -1;
                while (!bench_stop && bench_now_ns () - closed < 3000000000ULL) {
                    wstats_t ws = s_web_stats (c->web_port, c->stats_cookie);
                    left = ws.ok ? ws.v[4] : UINT64_MAX;
                    if (left == 0) {
                        gone = (double) (bench_now_ns () - closed) / 1e9;
                        break;
                    }
                    usleep (50000);
                }
                if (gone > ph->streams_gone_s)
                    ph->streams_gone_s = gone;
                if (left > ph->streams_left)
                    ph->streams_left = left;
                if (left)
                    fprintf (stderr,
                             TOOL ": lh-web still counts %llu open stream(s) 3 s after the "
                                  "pages closed\n",
                             (unsigned long long) left);
            }
            if (c->web) {
                r->web_rss_last = proc_rss_kib (c->web);
                if (!launcher_alive (c->launcher, c->web)) {
                    s_web_failed (r, c, "died");
                    c->web = 0;
                    break;
                }
            }
            if (!s_cluster_alive (c)) {
                fprintf (stderr, TOOL ": a process of the cluster died (logs in %s)\n", c->tmp);
                r->cluster_failed = c->failed = true;
            }
        }
    r->web_starts = c->web_starts;
    s_readers_stop (readers, o->readers);
    free (readers);
    s_clients_destroy (&clients, o->clients);
}

static int s_main (const copts_t *o, int argc, char **argv);

int
main (int argc, char **argv)
{
    copts_t o;
    zconfig_t *config = NULL;
    int rc = s_parse (&o, argc, argv, &config);
    if (rc < 0)
        rc = s_main (&o, argc, argv);
    zconfig_destroy (&config);
    return rc;
}

static int
s_main (const copts_t *o, int argc, char **argv)
{
    FILE *out = o->json ? stderr : stdout;
    proc_start ();
    if (sodium_init () < 0 || !zmq_has ("curve")) {
        fprintf (stderr, TOOL ": libsodium or libzmq's CURVE is not usable\n");
        return 1;
    }
    meta_t meta;
    memset (&meta, 0, sizeof (meta));
    meta.command = proc_command_line (argc, argv);
    time_t now = time (NULL);
    strftime (meta.when, sizeof (meta.when), "%Y-%m-%d %H:%M:%S", localtime (&now));
    proc_loadavg (meta.load_before, sizeof (meta.load_before));
    meta.host_before = host_busy_over (1000);

    cenv_t *env = (cenv_t *) calloc (1, sizeof (cenv_t));
    results_t *r = (results_t *) calloc (1, sizeof (results_t));
    if (s_env_init (env, o) != 0) {
        s_env_destroy (env);
        free (env);
        free (r);
        free (meta.command);
        return 1;
    }
    ccluster_t c;
    memset (&c, 0, sizeof (c));
    s_run (env, o, r, &c);
    s_cluster_destroy (&c, o->keep);

    drive_check_t all;
    memset (&all, 0, sizeof (all));
    drive_check_merge (&all, &r->connect);
    for (int k = 0; k < PHASES; k++)
        for (int load = 0; load < LOADS; load++)
            drive_check_merge (&all, &r->phase[k].load[load].check);
    r->failures = all.failed;
    s_table (out, o, &meta, r);
    if (o->json)
        s_json (stdout, o, &meta, r);
    if (o->json_out) {
        FILE *file = fopen (o->json_out, "w");
        if (file) {
            s_json (file, o, &meta, r);
            fclose (file);
        } else
            fprintf (stderr, TOOL ": cannot write %s\n", o->json_out);
    }
    bool bad = r->failures > 0 || r->cluster_failed;
    s_env_destroy (env);
    free (env);
    free (r);
    free (meta.command);
    if (bench_stop)
        return 130;
    return bad ? 1 : 0;
}
