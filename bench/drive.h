/*  drive -- many lh_clients in one thread, as agents: a closed loop (each
    client keeps DEPTH requests in flight) or a paced stream (RATE requests a
    second over all clients), of validate requests from the request mix, of
    appends, or of echo requests; every reply checked, the round trips of a
    window recorded. Shared by the benches that drive a whole cluster
    (brokers.c, console.c, nats.c).
*/
#ifndef LH_BENCH_DRIVE_H_INCLUDED
#define LH_BENCH_DRIVE_H_INCLUDED

#include "bench.h"
#include "codec.h"
#include "lh_client.h"

#include <poll.h>
#include <stdatomic.h>

#define DRIVE_RING    4096 //  requests in flight per client, at most
#define DRIVE_SAMPLES 3    //  failed replies kept to show

typedef struct {
    uint64_t sent, ok, failed;
    uint64_t error_replies; //  ok: false from a service or a broker
    uint64_t timeouts;      //  no reply by the client's deadline (no resends)
    uint64_t send_failed;   //  lh_client_send refused
    uint64_t lost;          //  unanswered when the phase ended
    uint64_t bad_replies;   //  ok but not the promised shape
    uint64_t duplicates;    //  appends acknowledged as duplicates (every client id is new)
    uint64_t wrong;         //  validate decisions other than the mix file's (not failures)
    uint64_t mismatched;    //  echo replies whose payload is not the one sent
    uint64_t late;          //  replies to no pending request
    uint64_t by_code[LOAD_ERR_KINDS];
    char sample[DRIVE_SAMPLES][256];
    int samples;
} drive_check_t;

//  DRIVE_ECHO: service "echo" (lh-echo), the body is data as is (a map with
//  a "payload" string, load_body), the reply's echo.payload must equal it
typedef enum { DRIVE_VALIDATE, DRIVE_APPEND, DRIVE_ECHO } drive_kind_t;

typedef struct {
    uint64_t id, sent_ns;
    int entry; //  the mix entry of a validate
    size_t span;
} drive_slot_t;

typedef struct {
    lh_client_t *client;
    int index;
    int inflight;
    uint64_t next_due; //  paced: when the next request goes
    uint64_t rng;
    uint32_t seq;       //  client ids of appends: nonce-index-seq
    drive_slot_t *ring; //  pending requests by id % DRIVE_RING
} drive_client_t;

//  One request of the paced stream: when it went and when its answer came
typedef struct {
    uint64_t sent_ns, done_ns; //  done 0: never answered
    bool ok;
} drive_span_t;

typedef struct {
    drive_client_t *clients;
    int count;
    drive_kind_t kind;
    int depth;   //  closed loop: requests in flight per client
    double rate; //  paced (depth 0): requests per second over all clients
    bool once;   //  one request per client, then stop (the connect round)
    const mix_t *mix;
    const msgpack_sbuffer *data; //  an appended event's data map; an echo's body
    uint32_t nonce;
    uint64_t t0;         //  the window: replies in [t0, t1) are measured
    _Atomic uint64_t t1; //  also when sending stops (UINT64_MAX: until told)
    uint64_t drain_ns;   //  after t1, at most
    bool spans_on;       //  record every request (the paced stream)
    hist_t hist;         //  round trips of ok replies in the window, ns
    uint64_t window_ok;
    drive_check_t check;
    drive_span_t *spans;
    size_t nspans, spans_cap;
    _Atomic int brokers_up_min;              //  over the clients, at the last sweep
    _Atomic uint64_t failovers_now;          //  lh_client_failovers over the clients
    uint64_t failovers, reconnects, dropped; //  at the end
    int inflight;
    codec_buf_t buf;
    struct pollfd *fds;
    char *echo_payload; //  DRIVE_ECHO: the payload of data, found on the first reply
    size_t echo_len;
} drive_t;

//  A failure worth showing (reply NULL: what alone).
void drive_sample (drive_check_t *c, const char *what, const lh_reply_t *reply);
void drive_check_merge (drive_check_t *into, const drive_check_t *c);
//  clients: count of them, each with its client and a ring of DRIVE_RING
//  slots. Then set depth or rate (and once, mix or data, t0, t1, drain_ns,
//  spans_on) and run drive_run, on a thread of its own or not.
void drive_init (drive_t *d, drive_client_t *clients, int count, drive_kind_t kind);
void drive_destroy (drive_t *d);
//  Sends and reads until t1 and the drain after it (or every request of a
//  once round is answered); arg is the drive_t. Returns NULL.
void *drive_run (void *arg);

#endif
