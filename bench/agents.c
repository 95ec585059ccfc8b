/*  agents -- many synchronous agents driven from one thread. See bench.h.

    lh-bench --agents ENDPOINT SERVER_KEY KEYS_FILE FIRST COUNT MIX_FILE
                      ECHO_PAYLOAD TIMEOUT_MS CONNECT_TIMEOUT_MS RESULT_FILE

    Holds COUNT agents, each a DEALER made by lh_connect_dealer (the
    socket every lh_client uses: same CURVE, heartbeat and HWM settings)
    with its own key from lines FIRST.. of KEYS_FILE, so the broker sees
    COUNT separate agents. An agent keeps one request in flight (an agent
    asks before each tool call and waits for the answer): closed loop,
    depth 1.

    lh_client_t has no pollable handle, so a thread per agent is the only
    way to drive it without spinning; a thousand threads on two cores cost
    more in wake-ups than the servers being measured. Here one thread
    waits in epoll on every socket's ZMQ_FD (level-triggered, then
    ZMQ_EVENTS and non-blocking reads until empty, and again after every
    send, as the ZMQ_FD contract asks), and does per request what
    lh_client does: codec_with_id to add the id, the four MDP client
    frames, codec_doc_decode of the reply, the id matched, "ok" read.

    Protocol with the parent, one line each way:
      we say     "ready OK FAILED MS" once every agent had its first echo
                 answered (or CONNECT_TIMEOUT_MS passed)
      parent     "run MODE T0 T1 DRAIN_MS NONCE" (MODE echo | warm | cold,
                 T0/T1 CLOCK_MONOTONIC ns): agents start at once (warmup),
                 replies in [T0, T1) are measured, no request is sent after
                 T1, the drain waits for the rest
      we say     "done" once RESULT_FILE holds the agents_result_t
      parent     closes stdin: we close every socket and exit
*/
#include "bench.h"

#include "codec.h"
#include "lh_proto.h"

#include <errno.h>
#include <sys/epoll.h>
#include <unistd.h>

#define MAX_PARTS 6

typedef struct {
    zsock_t *sock;
    void *handle;
    int index; //  global agent number
    bool inflight;
    bool answered; //  had its first reply (connection up)
    uint64_t id;   //  of the request in flight
    uint64_t next_id;
    uint64_t sent_ns;
    int entry; //  mix entry in flight (validate)
    uint64_t rng;
    uint32_t seq;
} agent_t;

typedef struct {
    agent_t *agent;
    int count;
    int epfd;
    const mix_t *mix;
    msgpack_sbuffer echo_body;
    msgpack_sbuffer *warm_body; //  by mix entry
    agents_mode_t mode;
    uint32_t nonce;
    int timeout_ms;
    uint64_t t0, t1;
    bool sending;    //  closed loop running (false: drain, or idle)
    bool connecting; //  first echo per agent: resend until answered
    agents_result_t *r;
    msgpack_sbuffer scratch, with_id;
} driver_t;

//  Sends the next request of agent a; false when the socket refused it
static bool
s_send (driver_t *d, agent_t *a)
{
    const char *service = d->mode == AGENTS_ECHO ? "echo" : "validate";
    const msgpack_sbuffer *body = &d->echo_body;
    if (d->mode != AGENTS_ECHO) {
        a->entry = mix_pick (d->mix, &a->rng);
        if (d->mode == AGENTS_WARM)
            body = &d->warm_body[a->entry];
        else {
            //  A directory no request used before: the cache cannot know it
            char token[24], cwd[64];
            snprintf (token, sizeof (token), "%08x%04x%08x", d->nonce, (unsigned) a->index & 0xFFFF,
                      a->seq++);
            mix_cwd (cwd, sizeof (cwd), token);
            d->scratch.size = 0;
            mix_body (d->mix, a->entry, cwd, &d->scratch);
            body = &d->scratch;
        }
    }
    uint64_t id = a->next_id++;
    d->with_id.size = 0;
    const char *why;
    uint64_t now = bench_now_ns ();
    if (codec_with_id (body->data, body->size, id, &d->with_id, &why) != LH_OK) {
        d->r->send_failed++;
        d->r->errors++;
        return false;
    }
    if (zmq_send (a->handle, "", 0, ZMQ_SNDMORE | ZMQ_DONTWAIT) == -1) {
        d->r->send_failed++;
        d->r->errors++;
        return false;
    }
    zmq_send (a->handle, MDPC_CLIENT, strlen (MDPC_CLIENT), ZMQ_SNDMORE);
    zmq_send (a->handle, service, strlen (service), ZMQ_SNDMORE);
    zmq_send (a->handle, d->with_id.data, d->with_id.size, 0);
    a->inflight = true;
    a->id = id;
    a->sent_ns = now;
    if (now >= d->t0 && now < d->t1) {
        d->r->sent++;
        d->r->req_bytes += d->with_id.size;
    }
    return true;
}

//  One reply for agent a (frames in parts); accounts it. Returns the time
//  it was taken in, after decoding (where lh_client_recv would return).
static uint64_t
s_reply (driver_t *d, agent_t *a, zmq_msg_t *parts, int count)
{
    agents_result_t *r = d->r;
    if (count != 4 || zmq_msg_size (&parts[0]) != 0) {
        r->dropped++;
        return bench_now_ns ();
    }
    size_t size = zmq_msg_size (&parts[3]);
    codec_doc_t *doc = codec_doc_decode (zmq_msg_data (&parts[3]), size, NULL, NULL);
    uint64_t now = bench_now_ns ();
    const msgpack_object *root = doc ? codec_doc_root (doc) : NULL;
    const msgpack_object *id = codec_map_get (root, "id");
    if (!a->inflight || !id || id->type != MSGPACK_OBJECT_POSITIVE_INTEGER ||
        id->via.u64 != a->id) {
        r->dropped++;
        codec_doc_destroy (&doc);
        return now;
    }
    a->inflight = false;
    a->answered = true;
    bool in_window = now >= d->t0 && now < d->t1;
    const msgpack_object *ok = codec_map_get (root, "ok");
    if (ok && ok->type == MSGPACK_OBJECT_BOOLEAN && ok->via.boolean) {
        r->total_ok++;
        if (in_window) {
            int cls = d->mode == AGENTS_ECHO ? 0 : (int) d->mix->entry[a->entry].cls;
            r->ok[cls]++;
            hist_record (&r->hist[cls], now - a->sent_ns);
            r->rep_bytes += size;
            if (d->mode != AGENTS_ECHO) {
                if (!codec_str_eq (codec_map_get (root, "decision"),
                                   d->mix->entry[a->entry].expected))
                    r->wrong[cls]++;
                const msgpack_object *cached = codec_map_get (root, "cached");
                if (cached && cached->type == MSGPACK_OBJECT_BOOLEAN && cached->via.boolean)
                    r->cached++;
            }
        }
    } else {
        r->errors++;
        int k = (int) codec_reply_code (root);
        r->by_code[k > 0 ? k : (int) LH_E_INTERNAL]++;
    }
    codec_doc_destroy (&doc);
    return now;
}

//  Reads everything agent a has, sending the next request after each reply
//  while the loop runs. ZMQ_FD is only a hint: ask ZMQ_EVENTS after every
//  operation and read until it says no more.
static void
s_service (driver_t *d, agent_t *a, zmq_msg_t *parts)
{
    while (true) {
        int events = 0;
        size_t len = sizeof (events);
        if (zmq_getsockopt (a->handle, ZMQ_EVENTS, &events, &len) != 0 || !(events & ZMQ_POLLIN))
            return;
        int count = 0;
        bool more = true, failed = false;
        while (more) {
            zmq_msg_t *part = &parts[count < MAX_PARTS ? count : MAX_PARTS - 1];
            if (zmq_msg_recv (part, a->handle, ZMQ_DONTWAIT) == -1) {
                failed = true;
                break;
            }
            more = zmq_msg_more (part);
            count++;
        }
        if (failed)
            return;
        uint64_t now = s_reply (d, a, parts, count);
        if (!a->inflight && d->sending && now < d->t1)
            s_send (d, a);
    }
}

//  Requests past their deadline count as timeouts (no resends, as the
//  load threads run lh_client with retries 0); the agent goes on
static void
s_expire (driver_t *d, uint64_t now)
{
    uint64_t limit = (uint64_t) d->timeout_ms * 1000000ULL;
    for (int i = 0; i < d->count; i++) {
        agent_t *a = &d->agent[i];
        if (a->inflight && now - a->sent_ns > limit) {
            a->inflight = false;
            d->r->timeouts++;
            d->r->errors++;
            d->r->by_code[LH_E_TIMEOUT]++;
            if ((d->sending && now < d->t1) || (d->connecting && !a->answered))
                s_send (d, a);
        }
    }
}

static int
s_inflight (const driver_t *d)
{
    int n = 0;
    for (int i = 0; i < d->count; i++)
        n += d->agent[i].inflight;
    return n;
}

//  Waits for socket events until `until` (or, when stop_when_idle, until no
//  request is in flight). Watches stdin too: EOF there stops everything.
static bool
s_pump (driver_t *d, uint64_t until, bool stop_when_idle, zmq_msg_t *parts)
{
    struct epoll_event events[256];
    uint64_t next_expire = bench_now_ns () + 10000000ULL;
    while (!zsys_interrupted) {
        uint64_t now = bench_now_ns ();
        if (now >= until)
            return true;
        if (stop_when_idle && s_inflight (d) == 0)
            return true;
        if (now >= next_expire) {
            s_expire (d, now);
            next_expire = now + 10000000ULL;
        }
        //  Stop sending at T1 exactly, even when no reply wakes us
        if (d->sending && now >= d->t1)
            d->sending = false;
        uint64_t wake = until < next_expire ? until : next_expire;
        if (d->sending && d->t1 < wake)
            wake = d->t1;
        int wait_ms = wake > now ? (int) ((wake - now) / 1000000) + 1 : 0;
        int n = epoll_wait (d->epfd, events, 256, wait_ms);
        if (n < 0 && errno != EINTR)
            return false;
        for (int k = 0; k < n; k++) {
            if (events[k].data.u32 == UINT32_MAX) {
                //  stdin: the parent never writes while a run is going on,
                //  so anything readable here is EOF
                char byte;
                if (read (0, &byte, 1) <= 0)
                    return false;
                continue;
            }
            s_service (d, &d->agent[events[k].data.u32], parts);
        }
    }
    return false;
}

static int
s_report (const char *path, const agents_result_t *r)
{
    char tmp[4096];
    snprintf (tmp, sizeof (tmp), "%s.part", path);
    FILE *file = fopen (tmp, "wb");
    if (!file)
        return -1;
    size_t wrote = fwrite (r, sizeof (*r), 1, file);
    if (fclose (file) != 0 || wrote != 1)
        return -1;
    return rename (tmp, path);
}

int
agents_main (int argc, char **argv)
{
    if (argc < 12) {
        fprintf (stderr, "usage: lh-bench --agents ENDPOINT SERVER_KEY KEYS_FILE FIRST COUNT "
                         "MIX_FILE ECHO_PAYLOAD TIMEOUT_MS CONNECT_TIMEOUT_MS RESULT_FILE\n");
        return 2;
    }
    const char *endpoint = argv[2];
    const char *server_key = streq (argv[3], "-") ? NULL : argv[3];
    const char *keys_path = argv[4];
    int first = atoi (argv[5]);
    int count = atoi (argv[6]);
    const char *mix_path = argv[7];
    int payload = atoi (argv[8]);
    int timeout_ms = atoi (argv[9]);
    int connect_ms = atoi (argv[10]);
    const char *result_path = argv[11];
    if (count <= 0 || payload < 0 || timeout_ms <= 0 || connect_ms <= 0)
        return 2;
    zsys_init ();
    zsys_set_logsystem (false);
    zsys_set_max_sockets (0);
    zsys_set_linger (0);

    mix_t mix;
    char err[512];
    if (mix_load (&mix, mix_path, err, sizeof (err)) != 0) {
        fprintf (stderr, "agents: %s\n", err);
        return 1;
    }
    driver_t d;
    memset (&d, 0, sizeof (d));
    d.count = count;
    d.mix = &mix;
    d.timeout_ms = timeout_ms;
    d.agent = (agent_t *) calloc ((size_t) count, sizeof (agent_t));
    d.r = (agents_result_t *) calloc (1, sizeof (agents_result_t));
    msgpack_sbuffer_init (&d.echo_body);
    msgpack_sbuffer_init (&d.scratch);
    msgpack_sbuffer_init (&d.with_id);
    load_body (&d.echo_body, (size_t) payload);
    d.warm_body = (msgpack_sbuffer *) calloc ((size_t) mix.count, sizeof (msgpack_sbuffer));
    char warm_cwd[64];
    mix_cwd (warm_cwd, sizeof (warm_cwd), NULL);
    for (int i = 0; i < mix.count; i++) {
        msgpack_sbuffer_init (&d.warm_body[i]);
        mix_body (&mix, i, warm_cwd, &d.warm_body[i]);
    }
    char (*pub)[41] = calloc ((size_t) count, 41);
    char (*sec)[41] = calloc ((size_t) count, 41);
    if (server_key && proc_load_keys (keys_path, first, count, pub, sec) != count) {
        fprintf (stderr, "agents: %s has fewer than %d keys from %d\n", keys_path, count, first);
        return 1;
    }
    d.epfd = epoll_create1 (EPOLL_CLOEXEC);
    struct epoll_event ev = {.events = EPOLLIN, .data.u32 = UINT32_MAX};
    epoll_ctl (d.epfd, EPOLL_CTL_ADD, 0, &ev);
    zmq_msg_t parts[MAX_PARTS];
    for (int i = 0; i < MAX_PARTS; i++)
        zmq_msg_init (&parts[i]);

    //  Connect every agent and have each answered once (an echo), so the
    //  CURVE handshakes are over before anything is measured
    uint64_t start = bench_now_ns ();
    d.mode = AGENTS_ECHO;
    d.t0 = d.t1 = 0;
    d.r->agents = count;
    int failed = 0;
    for (int i = 0; i < count; i++) {
        agent_t *a = &d.agent[i];
        a->index = first + i;
        a->next_id = 1;
        a->rng = 0x5DEECE66DULL * (uint64_t) (first + i + 1) + 0xB;
        zcert_t *cert = NULL;
        if (server_key) {
            uint8_t pub_bin[32], sec_bin[32];
            if (zmq_z85_decode (pub_bin, pub[i]) && zmq_z85_decode (sec_bin, sec[i]))
                cert = zcert_new_from (pub_bin, sec_bin);
        }
        lh_connect_t conn = {.endpoint = endpoint, .server_key = server_key, .cert = cert};
        a->sock = (!server_key || cert) ? lh_connect_dealer (&conn) : NULL;
        zcert_destroy (&cert);
        int fd = -1;
        size_t len = sizeof (fd);
        if (!a->sock ||
            zmq_getsockopt (a->handle = zsock_resolve (a->sock), ZMQ_FD, &fd, &len) != 0) {
            fprintf (stderr, "agents: cannot open agent %d: %s\n", first + i, zmq_strerror (errno));
            zsock_destroy (&a->sock);
            failed++;
            continue;
        }
        ev = (struct epoll_event){.events = EPOLLIN, .data.u32 = (uint32_t) i};
        epoll_ctl (d.epfd, EPOLL_CTL_ADD, fd, &ev);
        s_send (&d, a);
    }
    uint64_t until = start + (uint64_t) connect_ms * 1000000ULL;
    d.connecting = true;
    bool alive = s_pump (&d, until, true, parts);
    d.connecting = false;
    int ok = 0;
    for (int i = 0; i < count; i++)
        ok += d.agent[i].answered;
    failed = count - ok;
    d.r->agents_failed = failed;
    printf ("ready %d %d %llu\n", ok, failed,
            (unsigned long long) ((bench_now_ns () - start) / 1000000));
    fflush (stdout);

    //  Runs, one per line on stdin
    char line[256];
    while (alive && !zsys_interrupted && fgets (line, sizeof (line), stdin)) {
        char mode[16];
        unsigned long long t0, t1, drain_ms;
        unsigned nonce;
        if (sscanf (line, "run %15s %llu %llu %llu %u", mode, &t0, &t1, &drain_ms, &nonce) != 5)
            break;
        memset (d.r, 0, sizeof (*d.r));
        for (int c = 0; c < MIX_CLASSES; c++)
            hist_reset (&d.r->hist[c]);
        d.r->agents = count;
        d.r->agents_failed = failed;
        d.mode = streq (mode, "echo")   ? AGENTS_ECHO
                 : streq (mode, "warm") ? AGENTS_WARM
                                        : AGENTS_COLD;
        d.nonce = nonce;
        d.t0 = t0;
        d.t1 = t1;
        d.sending = true;
        //  Whatever was still in flight from before is not ours to count
        for (int i = 0; i < count; i++)
            d.agent[i].inflight = false;
        for (int i = 0; i < count; i++)
            if (d.agent[i].sock)
                s_send (&d, &d.agent[i]);
        alive = s_pump (&d, t1, false, parts);
        d.sending = false;
        if (alive)
            alive = s_pump (&d, bench_now_ns () + drain_ms * 1000000ULL, true, parts);
        d.r->lost = (uint64_t) s_inflight (&d);
        d.r->errors += d.r->lost;
        d.r->window_ns = t1 > t0 ? t1 - t0 : 0;
        if (s_report (result_path, d.r) != 0) {
            fprintf (stderr, "agents: cannot write %s\n", result_path);
            break;
        }
        printf ("done\n");
        fflush (stdout);
    }
    for (int i = 0; i < MAX_PARTS; i++)
        zmq_msg_close (&parts[i]);
    for (int i = 0; i < count; i++)
        zsock_destroy (&d.agent[i].sock);
    for (int i = 0; i < mix.count; i++)
        msgpack_sbuffer_destroy (&d.warm_body[i]);
    free (d.warm_body);
    msgpack_sbuffer_destroy (&d.echo_body);
    msgpack_sbuffer_destroy (&d.scratch);
    msgpack_sbuffer_destroy (&d.with_id);
    close (d.epfd);
    free (d.agent);
    free (d.r);
    free (pub);
    free (sec);
    mix_destroy (&mix);
    return 0;
}
