/*  lh-drill-load -- the load of a chaos drill, recorded as its history.

    lh-drill-load --broker EP --broker-key Z85 --certs DIR --agents LIST
                  --duration S --history FILE [options]

    One thread per agent, each with its own CURVE key (DIR/<agent>.cert_
    secret) and its own lh_client, runs operations on a fixed schedule
    (--rate a second; a slot missed during a stall is skipped, never made
    up): an append of one `custom` event with a client id of its own, or
    a validate request drawn from the bench's request mix. Every operation
    becomes one line of the history (docs/DRILLS.md 1.1), written whole as
    it completes, so that lh-drill-check can judge the run against the
    replicas' logs, even when the run itself was killed.

    An append that may still land (a timeout, `unavailable`, a lost
    worker) is `info` and is sent again with the same client id, up to
    --tries in all; a definite refusal is `fail`; only an answer with a
    seq is `ok`. docs/DRILLS.md section 1.4 describes the tool.
*/
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "bench.h"
#include "checker.h"
#include "codec.h"
#include "event.h"
#include "lh_client.h"
#include "lh_log.h"
#include "lh_version.h"

#ifndef LH_DRILL_MIX
#define LH_DRILL_MIX ""
#endif

#define S_MAX_AGENTS  64
#define S_MAX_TAG     48  //  bytes in --tag
#define S_PAUSE_MIN   100 //  ms before a resend, at least...
#define S_PAUSE_SPAN  100 //  ... and up to this much more
#define S_NAP_MS      50  //  longest sleep between looks at the stop flag
#define S_PROGRESS_MS 5000

//  Set by SIGINT/SIGTERM: every thread finishes its operation and stops
static atomic_int s_stop;

typedef struct {
    const char *broker, *broker_key, *certs, *history, *mix_path;
    char tag[S_MAX_TAG + 1];
    char *agent_list; //  the --agents value, cut in place into agents[]
    const char *agents[S_MAX_AGENTS];
    int agent_count;
    int duration_s, rate, append_pct, timeout_ms, tries;
    uint64_t seed;
} s_config_t;

//  The history file: one write(2) of a whole line per operation, under a
//  lock, so lines never interleave and a killed run leaves whole lines
typedef struct {
    int fd;
    pthread_mutex_t lock;
    atomic_int failed; //  lines that could not be written
} s_history_t;

typedef struct _s_agent_t s_agent_t;

//  One of an agent's two lanes, each a thread with a connection of its own:
//  its validate requests and its appends. A real agent's hook does not wait
//  for its event appends (nor they for it), so a log outage stalls only the
//  append lane and a stalled broker path to the validators only the other.
typedef struct {
    s_agent_t *agent;
    bool appends;
    int rate; //  operations a second in this lane; 0: the lane does not run
    uint64_t rng;
    pthread_t thread;
    bool started;
} s_lane_t;

//  One agent: its key, its lanes and what it did
struct _s_agent_t {
    const s_config_t *config;
    const mix_t *mix;
    s_history_t *history;
    const char *name;
    zcert_t *cert;  //  owned
    int64_t end_us; //  monotonic: when the run ends
    s_lane_t lanes[2];
    //  Counts (read by the main thread for progress)
    atomic_uint_fast64_t decisions, answered, appends, acked, failed, indeterminate, duplicates,
        resends, reconnects;
};

static int64_t
s_mono_us (void)
{
    struct timespec ts;
    clock_gettime (CLOCK_MONOTONIC, &ts);
    return (int64_t) ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

//  Wall clock, ms since the Unix epoch: the drill lines faults up with it
static int64_t
s_wall_ms (void)
{
    struct timespec ts;
    clock_gettime (CLOCK_REALTIME, &ts);
    return (int64_t) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

//  Sleeps until the monotonic time until_us, or the stop flag; false when stopped
static bool
s_sleep_until (int64_t until_us)
{
    for (int64_t now = s_mono_us (); now < until_us && !atomic_load (&s_stop); now = s_mono_us ()) {
        int64_t nap = until_us - now;
        if (nap > S_NAP_MS * 1000)
            nap = S_NAP_MS * 1000;
        struct timespec ts = {nap / 1000000, (nap % 1000000) * 1000};
        nanosleep (&ts, NULL);
    }
    return !atomic_load (&s_stop);
}

static void
s_on_signal (int signum)
{
    (void) signum;
    atomic_store (&s_stop, 1);
}

//  --------------------------------------------------------------------------
//  History

static void
s_history_put (s_history_t *self, char *line, const char *why)
{
    if (!line) {
        //  Our own fields are valid by construction: this is a bug, say so
        lh_error ("operation not recorded", "why=\"%s\"", why);
        atomic_fetch_add (&self->failed, 1);
        return;
    }
    size_t len = strlen (line);
    line[len] = '\n'; //  the NUL's place; written by length
    pthread_mutex_lock (&self->lock);
    ssize_t done = write (self->fd, line, len + 1);
    pthread_mutex_unlock (&self->lock);
    if (done != (ssize_t) (len + 1))
        atomic_fetch_add (&self->failed, 1);
    free (line);
}

static void
s_record_append (s_agent_t *self, const char *client_id, int64_t invoke_ms, int64_t complete_ms,
                 checker_outcome_t outcome, uint64_t seq, const char *error)
{
    checker_append_t op = {client_id, self->name, invoke_ms, complete_ms, outcome, seq, error};
    char why[256];
    s_history_put (self->history, checker_append_line (&op, why, sizeof (why)), why);
    atomic_fetch_add (&self->appends, 1);
}

static void
s_record_decision (s_agent_t *self, const char *request_id, int64_t invoke_ms, int64_t complete_ms,
                   const char *decision, const char *error)
{
    checker_decision_t op = {request_id,       self->name, invoke_ms, complete_ms,
                             decision != NULL, decision,   error};
    char why[256];
    s_history_put (self->history, checker_decision_line (&op, why, sizeof (why)), why);
    atomic_fetch_add (&self->decisions, 1);
    if (decision)
        atomic_fetch_add (&self->answered, 1);
}

//  --------------------------------------------------------------------------
//  Operations

static lh_client_t *
s_client_new (s_agent_t *self)
{
    lh_connect_t conn = {self->config->broker, self->config->broker_key, self->cert, 0};
    lh_client_t *client = lh_client_new (&conn);
    if (client) {
        lh_client_set_timeout (client, self->config->timeout_ms);
        //  One try per operation: resends are ours, each a line of the history
        lh_client_set_retries (client, 0);
    }
    return client;
}

//  What the client saw, for the history's error field
static void
s_error_text (const lh_reply_t *reply, char *out, size_t size)
{
    if (!reply)
        snprintf (out, size, "interrupted");
    else if (!lh_reply_root (reply) && lh_reply_code (reply) == LH_E_TIMEOUT)
        snprintf (out, size, "timeout"); //  no answer at all
    else
        snprintf (out, size, "%s: %s", lh_reply_code_name (reply), lh_reply_message (reply));
}

//  A reply that proves nothing was appended. Everything else that is not
//  an acknowledgement may still land (timeout, unavailable, worker_lost,
//  internal, a code we do not know) and is indeterminate.
static bool
s_definite (const lh_reply_t *reply)
{
    if (!reply)
        return false;
    switch (lh_reply_code (reply)) {
    case LH_E_BAD_REQUEST:     //  refused before anything was proposed
    case LH_E_TOO_LARGE:       //  the same
    case LH_E_FORBIDDEN:       //  by the broker or the leader, before Raft
    case LH_E_UNKNOWN_SERVICE: //  never dispatched
    case LH_E_RATE_LIMITED:    //  never dispatched
    case LH_E_OVERLOADED:      //  a full queue (broker) or pending buffer (leader): not taken
        return true;
    default:
        return false;
    }
}

//  A local timeout: the connection may be half open (a black hole), so the
//  next operation goes out on a fresh one. Replies to the old socket are
//  then lost with it, so a late reply can never answer a later request
//  (lh_client_call also matches ids and drops the late ones).
static void
s_after (s_agent_t *self, lh_client_t **client_p, const lh_reply_t *reply)
{
    if (reply && !lh_reply_root (reply) && lh_reply_code (reply) == LH_E_TIMEOUT) {
        lh_client_t *fresh = s_client_new (self);
        if (fresh) {
            lh_client_destroy (client_p);
            *client_p = fresh;
            atomic_fetch_add (&self->reconnects, 1);
        }
    }
}

static void
s_validate (s_agent_t *self, uint64_t *rng, lh_client_t **client_p, uint64_t n)
{
    char request_id[CHECKER_MAX_ID + 1], cwd[64];
    snprintf (request_id, sizeof (request_id), "%s-%s-v%llu", self->config->tag, self->name,
              (unsigned long long) n);
    mix_cwd (cwd, sizeof (cwd), NULL);
    msgpack_sbuffer body;
    msgpack_sbuffer_init (&body);
    mix_body (self->mix, mix_pick (self->mix, rng), cwd, &body);
    int64_t invoke_ms = s_wall_ms ();
    lh_reply_t *reply = lh_client_call (*client_p, "validate", body.data, body.size);
    int64_t complete_ms = s_wall_ms ();
    msgpack_sbuffer_destroy (&body);
    static const char *known[] = {"allow", "defer", "escalate", "deny"};
    const char *decision = NULL;
    const msgpack_object *value =
        reply && lh_reply_ok (reply) ? codec_map_get (lh_reply_root (reply), "decision") : NULL;
    for (size_t i = 0; value && i < sizeof (known) / sizeof (known[0]); i++)
        if (codec_str_eq (value, known[i]))
            decision = known[i];
    char error[CHECKER_MAX_ERROR + 1] = "";
    if (!decision) {
        if (reply && lh_reply_ok (reply))
            snprintf (error, sizeof (error), "a reply without a known decision");
        else
            s_error_text (reply, error, sizeof (error));
    }
    s_record_decision (self, request_id, invoke_ms, complete_ms, decision, decision ? NULL : error);
    s_after (self, client_p, reply);
    lh_reply_destroy (&reply);
}

//  One event appended, sent again with the same client id while the
//  answer leaves it open
static void
s_append (s_agent_t *self, uint64_t *rng, lh_client_t **client_p, uint64_t n)
{
    char client_id[EVENT_MAX_REF + 1];
    snprintf (client_id, sizeof (client_id), "%s-%s-%llu", self->config->tag, self->name,
              (unsigned long long) n);
    codec_buf_t body;
    codec_buf_init (&body);
    event_pack_append (&body.pk, 1);
    msgpack_pack_map (&body.pk, 3);
    codec_pack_kv_str (&body.pk, "type", "custom");
    codec_pack_kv_str (&body.pk, "client_id", client_id);
    codec_pack_str (&body.pk, "data");
    msgpack_pack_map (&body.pk, 2);
    codec_pack_kv_u64 (&body.pk, "n", n);
    codec_pack_kv_str (&body.pk, "agent", self->name);
    bool open = false, any_info = false; //  the key's state so far
    checker_outcome_t outcome = CHECKER_INFO;
    for (int attempt = 1; attempt <= self->config->tries; attempt++) {
        if (attempt > 1) {
            //  Resend only while there is time for it
            int64_t pause_us = (S_PAUSE_MIN + (int64_t) (mix_rand (rng) % S_PAUSE_SPAN)) * 1000;
            if (s_mono_us () + pause_us >= self->end_us || !s_sleep_until (s_mono_us () + pause_us))
                break;
            atomic_fetch_add (&self->resends, 1);
        }
        int64_t invoke_ms = s_wall_ms ();
        lh_reply_t *reply = lh_client_call (*client_p, "events", body.sbuf.data, body.sbuf.size);
        int64_t complete_ms = s_wall_ms ();
        const msgpack_object *results =
            reply && lh_reply_ok (reply) ? codec_map_get (lh_reply_root (reply), "results") : NULL;
        const msgpack_object *first =
            results && results->type == MSGPACK_OBJECT_ARRAY && results->via.array.size == 1
                ? &results->via.array.ptr[0]
                : NULL;
        const msgpack_object *seq = codec_map_get (first, "seq");
        char error[CHECKER_MAX_ERROR + 1] = "";
        uint64_t acked_seq = 0;
        if (seq && seq->type == MSGPACK_OBJECT_POSITIVE_INTEGER) {
            outcome = CHECKER_OK;
            acked_seq = seq->via.u64;
            //  A resend of what landed before: the original seq, still an acknowledgement
            const msgpack_object *duplicate = codec_map_get (first, "duplicate");
            if (duplicate && duplicate->type == MSGPACK_OBJECT_BOOLEAN && duplicate->via.boolean)
                atomic_fetch_add (&self->duplicates, 1);
        } else if (reply && lh_reply_ok (reply)) {
            //  ok without a seq: whatever happened, it may have been appended
            outcome = CHECKER_INFO;
            snprintf (error, sizeof (error), "an ok reply without results[0].seq");
        } else {
            outcome = s_definite (reply) ? CHECKER_FAIL : CHECKER_INFO;
            s_error_text (reply, error, sizeof (error));
        }
        s_record_append (self, client_id, invoke_ms, complete_ms, outcome, acked_seq,
                         error[0] ? error : NULL);
        s_after (self, client_p, reply);
        lh_reply_destroy (&reply);
        open = true;
        any_info |= outcome == CHECKER_INFO;
        if (outcome != CHECKER_INFO)
            break;
    }
    codec_buf_destroy (&body);
    //  Counted per key, as the checker counts them
    if (!open)
        return;
    if (outcome == CHECKER_OK)
        atomic_fetch_add (&self->acked, 1);
    else if (any_info)
        atomic_fetch_add (&self->indeterminate, 1);
    else
        atomic_fetch_add (&self->failed, 1);
}

static void *
s_lane_run (void *arg)
{
    s_lane_t *lane = (s_lane_t *) arg;
    s_agent_t *self = lane->agent;
    lh_client_t *client = s_client_new (self);
    if (!client) {
        lh_error ("cannot connect", "agent=%s broker=%s", self->name, self->config->broker);
        return NULL;
    }
    //  A fixed schedule: slot k is due at start + k * period. After a stall
    //  the slots already missed are skipped, never sent in a burst.
    int64_t period_us = 1000000 / lane->rate;
    int64_t start_us = s_mono_us ();
    uint64_t slot = 0, n = 0;
    while (!atomic_load (&s_stop)) {
        int64_t due_us = start_us + (int64_t) slot * period_us;
        if (due_us >= self->end_us || !s_sleep_until (due_us))
            break;
        if (lane->appends)
            s_append (self, &lane->rng, &client, ++n);
        else
            s_validate (self, &lane->rng, &client, ++n);
        int64_t late_us = s_mono_us () - start_us;
        uint64_t next = (uint64_t) (late_us / period_us) + 1;
        slot = next > slot + 1 ? next : slot + 1;
    }
    lh_client_destroy (&client);
    return NULL;
}

//  --------------------------------------------------------------------------
//  Command line

static void
s_usage (FILE *out)
{
    fprintf (out,
             "Usage: lh-drill-load --broker EP --broker-key Z85 --certs DIR --agents LIST "
             "--duration S --history FILE [options]\n"
             "Runs a chaos drill's load: validate requests and appends, two threads per agent,\n"
             "and records every operation as the drill's history (docs/DRILLS.md 1.1).\n"
             "\n"
             "  --broker EP        the broker's frontend, e.g. tcp://127.0.0.1:5555\n"
             "  --broker-key Z85   the broker's public key\n"
             "  --certs DIR        holds <agent>.cert_secret for every agent (lh keygen)\n"
             "  --agents LIST      agent ids, comma-separated, 1..%d; each agent's key must\n"
             "                     be on the roster under that id\n"
             "  --duration S       seconds to run, 1..3600 (SIGINT/SIGTERM stop it sooner)\n"
             "  --history FILE     the history to write (JSON Lines, replaced)\n"
             "  --rate N           operations a second per agent, 1..1000 (default 20); a\n"
             "                     slot missed while an operation stalled is skipped\n"
             "  --append-pct P     percent of operations that are appends (a lane of their\n"
             "                     own, so neither kind waits for the other), 0..100 (default\n"
             "                     50); the others are validate requests from the mix\n"
             "  --tag T            prefix of client and request ids, [A-Za-z0-9._-]{1,%d}\n"
             "                     (default d<unix seconds>): unique per run; ids are\n"
             "                     <tag>-<agent>-<n> (appends), <tag>-<agent>-v<n>, at most 64\n"
             "  --mix FILE         the validate request mix (default %s)\n"
             "  --timeout MS       deadline of one request, 100..60000 (default 2000)\n"
             "  --tries N          sends of one append, same client id, 1..100 (default 10)\n"
             "  --seed N           seed of the operation and mix draws (default 1)\n"
             "  --help             this text\n"
             "  --version          the version\n"
             "\n"
             "An append is `ok` with its seq (a duplicate: true reply names the original\n"
             "seq), `fail` when refused for sure (bad_request, too_large, forbidden,\n"
             "unknown_service, rate_limited, overloaded) or `info` when it may still land\n"
             "(no answer, unavailable, timeout, worker_lost, anything else); an `info` is sent\n"
             "again 100-200 ms later with the same client id, up to --tries in all, within\n"
             "the duration. Times are wall-clock ms since the Unix epoch.\n"
             "At the end one JSON object goes to stdout: agents, decisions, answered,\n"
             "appends (operations), acked, failed, indeterminate (keys), duplicates, resends,\n"
             "reconnects, duration_s.\n"
             "\n"
             "Exit status: 0 the run completed (faults during it are expected), 1 it could\n"
             "not start (a key, the mix or the history file), 2 bad usage.\n",
             S_MAX_AGENTS, S_MAX_TAG, LH_DRILL_MIX[0] ? LH_DRILL_MIX : "(none built in)");
}

//  An integer option in [min, max]; -1 when it is not one
static int
s_number (const char *text, long long min, long long max, long long *out)
{
    char *end;
    errno = 0;
    long long value = strtoll (text, &end, 10);
    if (errno || end == text || *end || value < min || value > max)
        return -1;
    *out = value;
    return 0;
}

//  One line on stderr; returns 2, the exit status of bad usage
static int s_usage_error (const char *format, ...) __attribute__ ((format (printf, 1, 2)));

static int
s_usage_error (const char *format, ...)
{
    char text[512];
    va_list args;
    va_start (args, format);
    vsnprintf (text, sizeof (text), format, args);
    va_end (args);
    fprintf (stderr, "lh-drill-load: %s (see --help)\n", text);
    return 2;
}

//  Fills config from argv; returns -1 to exit 0 (help, version), 2 on bad usage, 0 to run
static int
s_parse (s_config_t *config, int argc, char **argv)
{
    config->mix_path = LH_DRILL_MIX;
    config->rate = 20;
    config->append_pct = 50;
    config->timeout_ms = 2000;
    config->tries = 10;
    config->seed = 1;
    snprintf (config->tag, sizeof (config->tag), "d%lld", (long long) time (NULL));
    const char *agents = NULL, *tag = NULL;
    bool have_duration = false;
    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i];
        if (streq (arg, "--help") || streq (arg, "-h")) {
            s_usage (stdout);
            return -1;
        }
        if (streq (arg, "--version")) {
            printf ("lh-drill-load %s\n", LH_VERSION_STRING);
            return -1;
        }
        if (i + 1 >= argc)
            return s_usage_error ("missing value or unknown option '%s'", arg);
        const char *value = argv[++i];
        long long number = 0;
        struct {
            const char *name;
            long long min, max;
            int *slot;
        } ints[] = {{"--duration", 1, 3600, &config->duration_s},
                    {"--rate", 1, 1000, &config->rate},
                    {"--append-pct", 0, 100, &config->append_pct},
                    {"--timeout", 100, 60000, &config->timeout_ms},
                    {"--tries", 1, 100, &config->tries}};
        bool done = false;
        for (size_t k = 0; k < sizeof (ints) / sizeof (ints[0]) && !done; k++)
            if (streq (arg, ints[k].name)) {
                if (s_number (value, ints[k].min, ints[k].max, &number) != 0) {
                    return s_usage_error ("%s must be an integer in %lld..%lld, not '%s'", arg,
                                          ints[k].min, ints[k].max, value);
                }
                *ints[k].slot = (int) number;
                have_duration |= streq (arg, "--duration");
                done = true;
            }
        if (done)
            continue;
        if (streq (arg, "--seed")) {
            if (s_number (value, 0, LLONG_MAX, &number) != 0)
                return s_usage_error ("--seed must be a non-negative integer, not '%s'", value);
            config->seed = (uint64_t) number;
        } else if (streq (arg, "--broker"))
            config->broker = value;
        else if (streq (arg, "--broker-key"))
            config->broker_key = value;
        else if (streq (arg, "--certs"))
            config->certs = value;
        else if (streq (arg, "--agents"))
            agents = value;
        else if (streq (arg, "--history"))
            config->history = value;
        else if (streq (arg, "--mix"))
            config->mix_path = value;
        else if (streq (arg, "--tag"))
            tag = value;
        else
            return s_usage_error ("unknown option '%s'", arg);
    }
    if (!config->broker || !config->broker_key || !config->certs || !agents || !have_duration ||
        !config->history)
        return s_usage_error ("%s", "--broker, --broker-key, --certs, --agents, --duration and "
                                    "--history are required");
    if (strlen (config->broker_key) != 40)
        return s_usage_error ("--broker-key must be 40 characters of Z85, not '%s'",
                              config->broker_key);
    if (!*config->mix_path)
        return s_usage_error ("%s", "--mix FILE is required (no mix was built in)");
    if (tag) {
        if (!codec_name_valid (tag, strlen (tag), S_MAX_TAG))
            return s_usage_error ("--tag must be 1..%d of [A-Za-z0-9._-], not '%s'", S_MAX_TAG,
                                  tag);
        snprintf (config->tag, sizeof (config->tag), "%s", tag);
    }
    //  Agent ids; each id, with the tag and the largest counter the run can
    //  reach (one operation a slot), must make a valid client id
    int digits = 1;
    for (long long most = (long long) config->rate * config->duration_s; most >= 10; most /= 10)
        digits++;
    config->agent_list = strdup (agents);
    char *rest = config->agent_list;
    for (char *name = strsep (&rest, ","); name; name = strsep (&rest, ",")) {
        if (config->agent_count == S_MAX_AGENTS)
            return s_usage_error ("--agents: more than %d agents", S_MAX_AGENTS);
        if (!codec_name_valid (name, strlen (name), LH_MAX_AGENT))
            return s_usage_error ("--agents: '%s' is not an agent id ([A-Za-z0-9._-]{1,64})", name);
        if (strlen (config->tag) + strlen (name) + 3 + (size_t) digits > EVENT_MAX_REF)
            return s_usage_error ("--agents: '%s' with tag '%s' makes ids over %d bytes", name,
                                  config->tag, EVENT_MAX_REF);
        for (int k = 0; k < config->agent_count; k++)
            if (streq (config->agents[k], name))
                return s_usage_error ("--agents: '%s' is named twice", name);
        config->agents[config->agent_count++] = name;
    }
    return 0;
}

int
main (int argc, char **argv)
{
    s_config_t config = {0};
    int parsed = s_parse (&config, argc, argv);
    if (parsed != 0) {
        free (config.agent_list);
        return parsed < 0 ? 0 : parsed;
    }
    //  czmq's handlers would interrupt lh_client_call: ours let the
    //  operation in flight finish and be recorded
    zsys_init ();
    zsys_set_logsystem (false);
    zsys_handler_set (NULL);
    struct sigaction action = {.sa_handler = s_on_signal};
    sigemptyset (&action.sa_mask);
    sigaction (SIGINT, &action, NULL);
    sigaction (SIGTERM, &action, NULL);
    signal (SIGPIPE, SIG_IGN);
    lh_log_init ("lh-drill-load", LH_LOG_INFO);

    int status = 0;
    s_agent_t *agents = (s_agent_t *) calloc ((size_t) config.agent_count, sizeof (s_agent_t));
    mix_t mix = {0};
    bool mix_loaded = false;
    s_history_t history = {.fd = -1};
    pthread_mutex_init (&history.lock, NULL);
    //  Everything that can be missing is checked before the first operation
    for (int i = 0; i < config.agent_count && status == 0; i++) {
        char path[4096];
        snprintf (path, sizeof (path), "%s/%s.cert_secret", config.certs, config.agents[i]);
        agents[i].cert = zcert_load (path);
        if (!agents[i].cert) {
            lh_error ("cannot load an agent's key", "agent=%s path=\"%s\"", config.agents[i], path);
            status = 1;
        }
    }
    char why[512];
    if (status == 0) {
        if (mix_load (&mix, config.mix_path, why, sizeof (why)) != 0) {
            lh_error ("cannot load the request mix", "why=\"%s\"", why);
            status = 1;
        } else
            mix_loaded = true;
    }
    if (status == 0) {
        history.fd =
            open (config.history, O_WRONLY | O_CREAT | O_TRUNC | O_APPEND | O_CLOEXEC, 0644);
        if (history.fd < 0) {
            lh_error ("cannot write the history", "path=\"%s\" why=\"%s\"", config.history,
                      strerror (errno));
            status = 1;
        }
    }
    if (status == 0) {
        lh_info ("load started",
                 "agents=%d rate=%d append_pct=%d duration_s=%d tag=%s timeout_ms=%d tries=%d "
                 "history=\"%s\"",
                 config.agent_count, config.rate, config.append_pct, config.duration_s, config.tag,
                 config.timeout_ms, config.tries, config.history);
        int64_t start_us = s_mono_us ();
        int64_t end_us = start_us + (int64_t) config.duration_s * 1000000;
        int started = 0;
        for (int i = 0; i < config.agent_count; i++) {
            s_agent_t *agent = &agents[i];
            agent->config = &config;
            agent->mix = &mix;
            agent->history = &history;
            agent->name = config.agents[i];
            agent->end_us = end_us;
            //  The rate split between the lanes, at least one a second in a lane
            //  that has a share
            int share[2] = {100 - config.append_pct, config.append_pct};
            bool failed = false;
            for (int k = 0; k < 2 && !failed; k++) {
                s_lane_t *lane = &agent->lanes[k];
                lane->agent = agent;
                lane->appends = k == 1;
                lane->rate = share[k] ? (config.rate * share[k] + 99) / 100 : 0;
                //  A stream per lane, different for each, the same for each seed
                lane->rng = config.seed * 0x9E3779B97F4A7C15ULL + (uint64_t) (2 * i + k) + 1;
                if (lane->rate == 0)
                    continue;
                if (pthread_create (&lane->thread, NULL, s_lane_run, lane) != 0) {
                    lh_error ("cannot start a thread", "agent=%s", agent->name);
                    failed = true;
                } else
                    lane->started = true;
            }
            if (failed)
                break;
            started++;
        }
        //  Progress while the agents run; they stop by themselves at the end
        int64_t next_us = start_us + S_PROGRESS_MS * 1000;
        while (s_sleep_until (next_us < end_us ? next_us : end_us) && s_mono_us () < end_us) {
            uint64_t ops = 0, acked = 0;
            for (int i = 0; i < started; i++)
                ops += atomic_load (&agents[i].decisions) + atomic_load (&agents[i].appends),
                    acked += atomic_load (&agents[i].acked);
            lh_info ("progress", "elapsed_s=%lld operations=%llu acked=%llu",
                     (long long) ((s_mono_us () - start_us) / 1000000), (unsigned long long) ops,
                     (unsigned long long) acked);
            next_us += S_PROGRESS_MS * 1000;
        }
        if (atomic_load (&s_stop))
            lh_info ("stopping on a signal", "%s", "in_flight=finishing");
        for (int i = 0; i < config.agent_count; i++)
            for (int k = 0; k < 2; k++)
                if (agents[i].lanes[k].started)
                    pthread_join (agents[i].lanes[k].thread, NULL);
        double elapsed = (double) (s_mono_us () - start_us) / 1e6;
        uint64_t sum[9] = {0};
        for (int i = 0; i < started; i++) {
            s_agent_t *a = &agents[i];
            uint64_t v[9] = {a->decisions,     a->answered,   a->appends, a->acked,     a->failed,
                             a->indeterminate, a->duplicates, a->resends, a->reconnects};
            for (int k = 0; k < 9; k++)
                sum[k] += v[k];
        }
        if (atomic_load (&history.failed))
            lh_error ("history lines lost", "count=%d path=\"%s\"", atomic_load (&history.failed),
                      config.history);
        printf ("{\"agents\":%d,\"decisions\":%llu,\"answered\":%llu,\"appends\":%llu,"
                "\"acked\":%llu,\"failed\":%llu,\"indeterminate\":%llu,\"duplicates\":%llu,"
                "\"resends\":%llu,\"reconnects\":%llu,\"duration_s\":%.3f}\n",
                started, (unsigned long long) sum[0], (unsigned long long) sum[1],
                (unsigned long long) sum[2], (unsigned long long) sum[3],
                (unsigned long long) sum[4], (unsigned long long) sum[5],
                (unsigned long long) sum[6], (unsigned long long) sum[7],
                (unsigned long long) sum[8], elapsed);
        fflush (stdout);
        lh_info ("load done", "operations=%llu acked=%llu elapsed_s=%.3f",
                 (unsigned long long) (sum[0] + sum[2]), (unsigned long long) sum[3], elapsed);
        //  A history that lost lines, or agents that never ran, is no run
        if (started < config.agent_count || atomic_load (&history.failed))
            status = 1;
    }
    if (history.fd >= 0 && close (history.fd) != 0 && status == 0) {
        lh_error ("cannot write the history", "path=\"%s\" why=\"%s\"", config.history,
                  strerror (errno));
        status = 1;
    }
    for (int i = 0; i < config.agent_count; i++)
        zcert_destroy (&agents[i].cert);
    free (agents);
    if (mix_loaded)
        mix_destroy (&mix);
    pthread_mutex_destroy (&history.lock);
    free (config.agent_list);
    return status;
}
