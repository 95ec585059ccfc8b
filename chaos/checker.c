/*  checker -- a Jepsen-style check of a drill's history. See checker.h. */
#include "checker.h"

#include <assert.h>
#include <czmq.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "codec.h"
#include "event.h"
#include "jsonpack.h"
#include "merkle.h"

#define S_MAX_LINE 65536 //  bytes in one history line

static const char *s_decisions[] = {"allow", "defer", "escalate", "deny", NULL};

typedef enum { S_APPEND, S_DECISION } s_kind_t;

//  One operation of the history, either kind
typedef struct {
    s_kind_t kind;
    char id[CHECKER_MAX_ID + 1];  //  client id or request id
    char agent[LH_MAX_AGENT + 1]; //  appender (by) or the agent that asked
    int64_t invoke_ms, complete_ms;
    checker_outcome_t outcome; //  appends
    uint64_t seq;              //  CHECKER_OK
    bool answered;             //  decisions
    char decision[16];
    char error[CHECKER_MAX_ERROR + 1];
} s_op_t;

//  What the checker keeps of a leaf
typedef struct {
    merkle_hash_t hash; //  stands for the bytes when replicas are compared
    event_type_t type;
    char by[LH_MAX_AGENT + 1];
    char agent[LH_MAX_AGENT + 1];
    char client_id[EVENT_MAX_REF + 1];
} s_leaf_t;

typedef struct {
    char name[CHECKER_MAX_REPLICA + 1];
    s_leaf_t *leaves;
    size_t count, alloc;
} s_log_t;

struct _checker_t {
    s_op_t *ops;
    size_t op_count, op_alloc;
    s_log_t *logs;
    size_t log_count;
};

checker_t *
checker_new (void)
{
    return (checker_t *) calloc (1, sizeof (checker_t));
}

void
checker_destroy (checker_t **self_p)
{
    if (self_p && *self_p) {
        checker_t *self = *self_p;
        for (size_t i = 0; i < self->log_count; i++)
            free (self->logs[i].leaves);
        free (self->logs);
        free (self->ops);
        free (self);
        *self_p = NULL;
    }
}

//  --------------------------------------------------------------------------
//  Recording

//  True when text is one of the NULL-terminated list
static bool
s_one_of (const char *text, const char **list)
{
    for (; text && *list; list++)
        if (streq (text, *list))
            return true;
    return false;
}

//  Copies text for a report: bytes outside printable ASCII become '?', so
//  that any JSON or terminal takes it as it is
static void
s_copy_text (char *out, size_t size, const char *text)
{
    size_t i = 0;
    for (; text && text[i] && i + 1 < size; i++)
        out[i] = text[i] >= 0x20 && text[i] <= 0x7e ? text[i] : '?';
    out[i] = 0;
}

static int
s_times (int64_t invoke_ms, int64_t complete_ms, char *why, size_t why_size)
{
    if (invoke_ms < 0 || complete_ms < invoke_ms) {
        snprintf (why, why_size, "times must satisfy 0 <= invoke_ms <= complete_ms");
        return -1;
    }
    return 0;
}

static s_op_t *
s_op_new (checker_t *self)
{
    if (self->op_count == self->op_alloc) {
        size_t alloc = self->op_alloc ? self->op_alloc * 2 : 256;
        s_op_t *ops = (s_op_t *) realloc (self->ops, alloc * sizeof (s_op_t));
        if (!ops)
            return NULL;
        self->ops = ops;
        self->op_alloc = alloc;
    }
    s_op_t *op = &self->ops[self->op_count];
    memset (op, 0, sizeof (*op));
    return op;
}

//  Checks an append and fills rec with it; -1 with why set when a field is invalid
static int
s_append_fill (s_op_t *rec, const checker_append_t *op, char *why, size_t why_size)
{
    //  A client id the log would refuse can never be in it
    if (!op->client_id || !event_ref_valid (op->client_id, strlen (op->client_id))) {
        snprintf (why, why_size, "client_id must be 1..%d bytes of printable ASCII without spaces",
                  EVENT_MAX_REF);
        return -1;
    }
    if (!op->by || !codec_name_valid (op->by, strlen (op->by), LH_MAX_AGENT)) {
        snprintf (why, why_size, "by must be an agent id ([A-Za-z0-9._-], 1..%d)", LH_MAX_AGENT);
        return -1;
    }
    if (op->outcome != CHECKER_OK && op->outcome != CHECKER_FAIL && op->outcome != CHECKER_INFO) {
        snprintf (why, why_size, "unknown outcome");
        return -1;
    }
    if (op->outcome == CHECKER_OK && op->seq > (uint64_t) INT64_MAX) {
        snprintf (why, why_size, "seq out of range");
        return -1;
    }
    if (s_times (op->invoke_ms, op->complete_ms, why, why_size) != 0)
        return -1;
    memset (rec, 0, sizeof (*rec));
    rec->kind = S_APPEND;
    snprintf (rec->id, sizeof (rec->id), "%s", op->client_id);
    snprintf (rec->agent, sizeof (rec->agent), "%s", op->by);
    rec->invoke_ms = op->invoke_ms;
    rec->complete_ms = op->complete_ms;
    rec->outcome = op->outcome;
    rec->seq = op->outcome == CHECKER_OK ? op->seq : 0;
    s_copy_text (rec->error, sizeof (rec->error), op->error);
    return 0;
}

int
checker_add_append (checker_t *self, const checker_append_t *op, char *why, size_t why_size)
{
    s_op_t rec;
    if (s_append_fill (&rec, op, why, why_size) != 0)
        return -1;
    s_op_t *slot = s_op_new (self);
    if (!slot) {
        snprintf (why, why_size, "out of memory");
        return -1;
    }
    *slot = rec;
    self->op_count++;
    return 0;
}

//  Checks a decision and fills rec with it; -1 with why set when a field is invalid
static int
s_decision_fill (s_op_t *rec, const checker_decision_t *op, char *why, size_t why_size)
{
    if (!op->request_id || !event_ref_valid (op->request_id, strlen (op->request_id))) {
        snprintf (why, why_size, "request_id must be 1..%d bytes of printable ASCII without spaces",
                  CHECKER_MAX_ID);
        return -1;
    }
    if (!op->agent || !codec_name_valid (op->agent, strlen (op->agent), LH_MAX_AGENT)) {
        snprintf (why, why_size, "agent must be an agent id ([A-Za-z0-9._-], 1..%d)", LH_MAX_AGENT);
        return -1;
    }
    if (op->answered && !s_one_of (op->decision, s_decisions)) {
        snprintf (why, why_size, "an answered decision must be allow, defer, escalate or deny");
        return -1;
    }
    if (s_times (op->invoke_ms, op->complete_ms, why, why_size) != 0)
        return -1;
    memset (rec, 0, sizeof (*rec));
    rec->kind = S_DECISION;
    snprintf (rec->id, sizeof (rec->id), "%s", op->request_id);
    snprintf (rec->agent, sizeof (rec->agent), "%s", op->agent);
    rec->invoke_ms = op->invoke_ms;
    rec->complete_ms = op->complete_ms;
    rec->answered = op->answered;
    if (op->answered)
        snprintf (rec->decision, sizeof (rec->decision), "%s", op->decision);
    s_copy_text (rec->error, sizeof (rec->error), op->error);
    return 0;
}

int
checker_add_decision (checker_t *self, const checker_decision_t *op, char *why, size_t why_size)
{
    s_op_t rec;
    if (s_decision_fill (&rec, op, why, why_size) != 0)
        return -1;
    s_op_t *slot = s_op_new (self);
    if (!slot) {
        snprintf (why, why_size, "out of memory");
        return -1;
    }
    *slot = rec;
    self->op_count++;
    return 0;
}

int
checker_add_log (checker_t *self, const char *replica, char *why, size_t why_size)
{
    if (!replica || !*replica || strlen (replica) > CHECKER_MAX_REPLICA) {
        snprintf (why, why_size, "a replica name must be 1..%d bytes", CHECKER_MAX_REPLICA);
        return -1;
    }
    char name[CHECKER_MAX_REPLICA + 1];
    s_copy_text (name, sizeof (name), replica);
    for (size_t i = 0; i < self->log_count; i++)
        if (streq (self->logs[i].name, name)) {
            snprintf (why, why_size, "replica '%s' is already there", name);
            return -1;
        }
    s_log_t *logs = (s_log_t *) realloc (self->logs, (self->log_count + 1) * sizeof (s_log_t));
    if (!logs) {
        snprintf (why, why_size, "out of memory");
        return -1;
    }
    self->logs = logs;
    s_log_t *log = &self->logs[self->log_count];
    memset (log, 0, sizeof (*log));
    snprintf (log->name, sizeof (log->name), "%s", name);
    return (int) self->log_count++;
}

int
checker_add_leaf (checker_t *self, int replica, uint64_t seq, const void *leaf, size_t size,
                  char *why, size_t why_size)
{
    if (replica < 0 || (size_t) replica >= self->log_count) {
        snprintf (why, why_size, "no replica log %d", replica);
        return -1;
    }
    s_log_t *log = &self->logs[replica];
    if (seq != log->count) {
        snprintf (why, why_size, "replica '%s': expected event %zu, found %llu", log->name,
                  log->count, (unsigned long long) seq);
        return -1;
    }
    event_t ev;
    codec_doc_t *doc;
    char reason[128];
    if (event_decode (leaf, size, &ev, &doc, reason, sizeof (reason)) != LH_OK) {
        snprintf (why, why_size, "replica '%s': event %llu: %s", log->name,
                  (unsigned long long) seq, reason);
        return -1;
    }
    codec_doc_destroy (&doc);
    if (ev.seq != seq) {
        snprintf (why, why_size, "replica '%s': event %llu says it is %llu", log->name,
                  (unsigned long long) seq, (unsigned long long) ev.seq);
        return -1;
    }
    if (log->count == log->alloc) {
        size_t alloc = log->alloc ? log->alloc * 2 : 1024;
        s_leaf_t *leaves = (s_leaf_t *) realloc (log->leaves, alloc * sizeof (s_leaf_t));
        if (!leaves) {
            snprintf (why, why_size, "out of memory");
            return -1;
        }
        log->leaves = leaves;
        log->alloc = alloc;
    }
    s_leaf_t *rec = &log->leaves[log->count++];
    merkle_leaf_hash (leaf, size, rec->hash);
    rec->type = ev.type;
    memcpy (rec->by, ev.by, sizeof (rec->by));
    memcpy (rec->agent, ev.agent, sizeof (rec->agent));
    memcpy (rec->client_id, ev.client_id, sizeof (rec->client_id));
    return 0;
}

//  --------------------------------------------------------------------------
//  Checking

//  A (by, client_id) key of the history
typedef struct {
    const s_op_t *first; //  its first operation
    bool acked, info, misplaced;
    uint64_t ack_seq;    //  from its first acknowledgement
    int64_t invoke_ms;   //  the earliest invocation of any of its operations
    int64_t complete_ms; //  the earliest acknowledgement
} s_key_t;

//  A (by, client_id) key of the log
typedef struct {
    uint64_t count;
    uint64_t seqs[2]; //  the first two places
} s_present_t;

//  Acknowledged keys, for the real-time order
typedef struct {
    int64_t invoke_ms, complete_ms;
    uint64_t seq;
    size_t rank; //  of seq among all acknowledged seqs, from 1
    const s_op_t *op;
} s_acked_t;

static void s_problem (checker_result_t *result, const char *format, ...)
    __attribute__ ((format (printf, 2, 3)));

static void
s_problem (checker_result_t *result, const char *format, ...)
{
    if (result->problem_count < CHECKER_PROBLEMS) {
        va_list args;
        va_start (args, format);
        vsnprintf (result->problems[result->problem_count], CHECKER_PROBLEM_SIZE, format, args);
        va_end (args);
    }
    result->problem_count++;
}

static void
s_key (char *out, size_t size, const char *by, const char *client_id)
{
    //  Agent ids have no spaces and client ids neither: the pair is unambiguous
    snprintf (out, size, "%s %s", by, client_id);
}

static void
s_free_item (void **item_p)
{
    free (*item_p);
    *item_p = NULL;
}

static int
s_by_complete (const void *a, const void *b)
{
    int64_t x = ((const s_acked_t *) a)->complete_ms, y = ((const s_acked_t *) b)->complete_ms;
    return (x > y) - (x < y);
}

static int
s_by_invoke (const void *a, const void *b)
{
    int64_t x = ((const s_acked_t *) a)->invoke_ms, y = ((const s_acked_t *) b)->invoke_ms;
    return (x > y) - (x < y);
}

static int
s_by_seq (const void *a, const void *b)
{
    uint64_t x = ((const s_acked_t *) a)->seq, y = ((const s_acked_t *) b)->seq;
    return (x > y) - (x < y);
}

static int
s_by_agent (const void *a, const void *b)
{
    return strcmp (((const checker_agent_t *) a)->agent, ((const checker_agent_t *) b)->agent);
}

//  Replicas against the reference, byte for byte (through the leaf hashes)
static void
s_check_replicas (checker_t *self, size_t ref, checker_result_t *result)
{
    const s_log_t *a = &self->logs[ref];
    result->replicas_identical = true;
    for (size_t i = 0; i < self->log_count; i++) {
        const s_log_t *b = &self->logs[i];
        if (i == ref)
            continue;
        size_t n = a->count < b->count ? a->count : b->count;
        size_t seq = 0;
        while (seq < n && memcmp (a->leaves[seq].hash, b->leaves[seq].hash, MERKLE_HASH_SIZE) == 0)
            seq++;
        if (seq == n && a->count == b->count)
            continue;
        if (result->replicas_identical || seq < result->first_difference) {
            result->first_difference = seq;
            snprintf (result->differ[0], sizeof (result->differ[0]), "%s", a->name);
            snprintf (result->differ[1], sizeof (result->differ[1]), "%s", b->name);
        }
        result->replicas_identical = false;
        if (seq == n)
            s_problem (result, "replica %s has %zu events, %s has %zu", b->name, b->count, a->name,
                       a->count);
        else
            s_problem (result, "replicas %s and %s differ at seq %zu", a->name, b->name, seq);
    }
}

//  Pairs A, B with A acknowledged before B was invoked but A's seq above
//  B's: a sweep over invocations with a Fenwick tree of the seqs of the
//  appends completed so far, O(n log n)
static void
s_check_order (s_acked_t *acked, size_t n, checker_result_t *result)
{
    if (n < 2)
        return;
    //  Equal seqs share a rank, the highest of theirs: two keys at one seq
    //  are misplaced, not reordered
    qsort (acked, n, sizeof (s_acked_t), s_by_seq);
    for (size_t i = n; i-- > 0;)
        acked[i].rank = i + 1 < n && acked[i].seq == acked[i + 1].seq ? acked[i + 1].rank : i + 1;
    s_acked_t *done = (s_acked_t *) malloc (n * sizeof (s_acked_t));
    uint64_t *tree = (uint64_t *) calloc (n + 1, sizeof (uint64_t));
    assert (done && tree);
    memcpy (done, acked, n * sizeof (s_acked_t));
    qsort (done, n, sizeof (s_acked_t), s_by_complete);
    qsort (acked, n, sizeof (s_acked_t), s_by_invoke);
    size_t next = 0;
    const s_acked_t *highest = NULL; //  the completed append with the highest seq
    for (size_t b = 0; b < n; b++) {
        for (; next < n && done[next].complete_ms < acked[b].invoke_ms; next++) {
            for (size_t i = done[next].rank; i <= n; i += i & (~i + 1))
                tree[i]++;
            if (!highest || done[next].seq > highest->seq)
                highest = &done[next];
        }
        uint64_t below = 0; //  completed appends with a seq at or below B's
        for (size_t i = acked[b].rank; i > 0; i -= i & (~i + 1))
            below += tree[i];
        uint64_t above = next - below;
        if (above == 0)
            continue;
        result->reordered += above;
        s_problem (result,
                   "reordered: %s by %s (seq %llu) was acknowledged at %lld ms, before %s by %s "
                   "(seq %llu) was invoked at %lld ms",
                   highest->op->id, highest->op->agent, (unsigned long long) highest->seq,
                   (long long) highest->complete_ms, acked[b].op->id, acked[b].op->agent,
                   (unsigned long long) acked[b].seq, (long long) acked[b].invoke_ms);
    }
    free (done);
    free (tree);
}

//  One run's tables
typedef struct {
    const s_log_t *log;  //  the reference replica's
    zhashx_t *keys;      //  history keys -> s_key_t
    zhashx_t *appenders; //  agent ids that appended in the history
    zhashx_t *present;   //  log keys -> s_present_t
    zhashx_t *agents;    //  agent -> checker_agent_t
    char key[LH_MAX_AGENT + EVENT_MAX_REF + 2];
} s_run_t;

static checker_agent_t *
s_agent (s_run_t *run, const char *name)
{
    checker_agent_t *agent = (checker_agent_t *) zhashx_lookup (run->agents, name);
    if (!agent) {
        agent = (checker_agent_t *) calloc (1, sizeof (checker_agent_t));
        assert (agent);
        snprintf (agent->agent, sizeof (agent->agent), "%s", name);
        zhashx_insert (run->agents, name, agent);
    }
    return agent;
}

//  The history, key by key
static void
s_read_history (checker_t *self, s_run_t *run, checker_result_t *result)
{
    for (size_t i = 0; i < self->op_count; i++) {
        const s_op_t *op = &self->ops[i];
        if (op->kind == S_DECISION) {
            result->decisions++;
            checker_agent_t *agent = s_agent (run, op->agent);
            if (op->answered) {
                result->decisions_answered++;
                agent->answered++;
            }
            continue;
        }
        result->appends++;
        zhashx_insert (run->appenders, op->agent, (void *) op);
        s_key (run->key, sizeof (run->key), op->agent, op->id);
        s_key_t *k = (s_key_t *) zhashx_lookup (run->keys, run->key);
        if (!k) {
            k = (s_key_t *) calloc (1, sizeof (s_key_t));
            assert (k);
            k->first = op;
            k->invoke_ms = op->invoke_ms;
            zhashx_insert (run->keys, run->key, k);
        }
        if (op->invoke_ms < k->invoke_ms)
            k->invoke_ms = op->invoke_ms;
        if (op->outcome == CHECKER_INFO)
            k->info = true;
        if (op->outcome == CHECKER_OK && (!k->acked || op->complete_ms < k->complete_ms)) {
            if (!k->acked)
                k->ack_seq = op->seq;
            k->acked = true;
            k->complete_ms = op->complete_ms;
        }
    }
}

//  The log, key by key; events by the history's appenders must be its own
static void
s_read_log (s_run_t *run, checker_result_t *result)
{
    for (size_t seq = 0; seq < run->log->count; seq++) {
        const s_leaf_t *leaf = &run->log->leaves[seq];
        bool ours = false;
        if (leaf->client_id[0]) {
            s_key (run->key, sizeof (run->key), leaf->by, leaf->client_id);
            ours = zhashx_lookup (run->keys, run->key) != NULL;
            s_present_t *p = (s_present_t *) zhashx_lookup (run->present, run->key);
            if (!p) {
                p = (s_present_t *) calloc (1, sizeof (s_present_t));
                assert (p);
                zhashx_insert (run->present, run->key, p);
            }
            if (p->count < 2)
                p->seqs[p->count] = seq;
            if (++p->count == 2) {
                result->duplicated++;
                s_problem (result, "duplicated: %s by %s at seqs %llu and %llu", leaf->client_id,
                           leaf->by, (unsigned long long) p->seqs[0],
                           (unsigned long long) p->seqs[1]);
            }
        }
        if (!ours && zhashx_lookup (run->appenders, leaf->by)) {
            result->unexpected++;
            s_problem (result, "unexpected: seq %zu (%s by %s, client id %s) is in no operation",
                       seq, event_type_name (leaf->type), leaf->by,
                       leaf->client_id[0] ? leaf->client_id : "none");
        }
        //  The drill's own appends are not the validator's decisions
        if (leaf->type == EVENT_DECISION && !ours) {
            result->decisions_logged++;
            s_agent (run, leaf->agent)->logged++;
        }
    }
}

//  Every acknowledgement names the seq its event is at
static void
s_check_places (checker_t *self, s_run_t *run, checker_result_t *result)
{
    const s_log_t *log = run->log;
    for (size_t i = 0; i < self->op_count; i++) {
        const s_op_t *op = &self->ops[i];
        if (op->kind != S_APPEND || op->outcome != CHECKER_OK)
            continue;
        s_key (run->key, sizeof (run->key), op->agent, op->id);
        s_key_t *k = (s_key_t *) zhashx_lookup (run->keys, run->key);
        s_present_t *p = (s_present_t *) zhashx_lookup (run->present, run->key);
        if (!p || k->misplaced)
            continue; //  lost, or already found misplaced
        const s_leaf_t *there = op->seq < log->count ? &log->leaves[op->seq] : NULL;
        if (there && streq (there->by, op->agent) && streq (there->client_id, op->id))
            continue;
        k->misplaced = true;
        result->misplaced++;
        if (there)
            s_problem (result,
                       "misplaced: %s by %s acknowledged at seq %llu, which holds %s by %s; it is "
                       "at seq %llu",
                       op->id, op->agent, (unsigned long long) op->seq,
                       there->client_id[0] ? there->client_id : "(no client id)", there->by,
                       (unsigned long long) p->seqs[0]);
        else
            s_problem (result,
                       "misplaced: %s by %s acknowledged at seq %llu, past the log's end; it is "
                       "at seq %llu",
                       op->id, op->agent, (unsigned long long) op->seq,
                       (unsigned long long) p->seqs[0]);
    }
}

//  Keys: acknowledged ones present and in order, failed ones absent
static void
s_check_keys (checker_t *self, s_run_t *run, checker_result_t *result)
{
    s_acked_t *acked = (s_acked_t *) calloc (zhashx_size (run->keys) + 1, sizeof (s_acked_t));
    assert (acked);
    size_t nacked = 0;
    for (size_t i = 0; i < self->op_count; i++) {
        const s_op_t *op = &self->ops[i];
        if (op->kind != S_APPEND)
            continue;
        s_key (run->key, sizeof (run->key), op->agent, op->id);
        s_key_t *k = (s_key_t *) zhashx_lookup (run->keys, run->key);
        if (k->first != op)
            continue; //  each key once, at its first operation
        s_present_t *p = (s_present_t *) zhashx_lookup (run->present, run->key);
        if (k->acked) {
            result->acked++;
            acked[nacked++] = (s_acked_t){k->invoke_ms, k->complete_ms, k->ack_seq, 0, op};
            if (!p) {
                result->lost++;
                s_problem (result, "lost: %s by %s acknowledged at seq %llu; %s", op->id, op->agent,
                           (unsigned long long) k->ack_seq,
                           k->ack_seq < run->log->count ? "that seq holds another event"
                                                        : "past the log's end");
            }
        } else if (k->info) {
            result->indeterminate++;
            result->indeterminate_landed += p != NULL;
        } else {
            result->failed++;
            if (p) {
                result->failed_but_present++;
                s_problem (result, "failed but present: %s by %s failed (%s) yet is at seq %llu",
                           op->id, op->agent, op->error[0] ? op->error : "no error text",
                           (unsigned long long) p->seqs[0]);
            }
        }
    }
    s_check_order (acked, nacked, result);
    free (acked);
}

//  Decisions per agent: the validator logs every one it answered
static void
s_check_decisions (s_run_t *run, checker_result_t *result)
{
    result->agent_count = zhashx_size (run->agents);
    result->agents = (checker_agent_t *) calloc (result->agent_count + 1, sizeof (checker_agent_t));
    assert (result->agents);
    size_t n = 0;
    for (checker_agent_t *agent = (checker_agent_t *) zhashx_first (run->agents); agent;
         agent = (checker_agent_t *) zhashx_next (run->agents))
        result->agents[n++] = *agent;
    qsort (result->agents, n, sizeof (checker_agent_t), s_by_agent);
    for (size_t i = 0; i < result->agent_count; i++) {
        const checker_agent_t *agent = &result->agents[i];
        if (agent->answered > agent->logged) {
            result->decisions_missing += agent->answered - agent->logged;
            s_problem (result, "decisions missing: %s was answered %llu, the log holds %llu",
                       agent->agent, (unsigned long long) agent->answered,
                       (unsigned long long) agent->logged);
        }
    }
}

int
checker_run (checker_t *self, checker_result_t *result, char *why, size_t why_size)
{
    checker_result_clear (result);
    if (self->log_count == 0) {
        snprintf (why, why_size, "no replica log to check the history against");
        return -1;
    }
    result->replicas = self->log_count;
    size_t ref = 0;
    for (size_t i = 1; i < self->log_count; i++)
        if (self->logs[i].count > self->logs[ref].count)
            ref = i;
    s_run_t run = {.log = &self->logs[ref],
                   .keys = zhashx_new (),
                   .appenders = zhashx_new (),
                   .present = zhashx_new (),
                   .agents = zhashx_new ()};
    zhashx_set_destructor (run.keys, s_free_item);
    zhashx_set_destructor (run.present, s_free_item);
    zhashx_set_destructor (run.agents, s_free_item);
    snprintf (result->reference, sizeof (result->reference), "%s", run.log->name);
    result->log_size = run.log->count;

    s_check_replicas (self, ref, result);
    s_read_history (self, &run, result);
    s_read_log (&run, result);
    s_check_places (self, &run, result);
    s_check_keys (self, &run, result);
    s_check_decisions (&run, result);

    zhashx_destroy (&run.keys);
    zhashx_destroy (&run.appenders);
    zhashx_destroy (&run.present);
    zhashx_destroy (&run.agents);
    result->ok = result->replicas_identical && !result->lost && !result->duplicated &&
                 !result->reordered && !result->misplaced && !result->unexpected &&
                 !result->failed_but_present && !result->decisions_missing;
    return 0;
}

void
checker_result_clear (checker_result_t *result)
{
    free (result->agents);
    memset (result, 0, sizeof (*result));
}

//  --------------------------------------------------------------------------
//  Reports

char *
checker_result_json (const checker_result_t *r)
{
    codec_buf_t buf;
    codec_buf_init (&buf);
    msgpack_packer *pk = &buf.pk;
    size_t shown = r->problem_count < CHECKER_PROBLEMS ? r->problem_count : CHECKER_PROBLEMS;
    msgpack_pack_map (pk, 24);
    codec_pack_kv_bool (pk, "ok", r->ok);
    codec_pack_kv_u64 (pk, "appends", r->appends);
    codec_pack_kv_u64 (pk, "acked", r->acked);
    codec_pack_kv_u64 (pk, "lost", r->lost);
    codec_pack_kv_u64 (pk, "duplicated", r->duplicated);
    codec_pack_kv_u64 (pk, "reordered", r->reordered);
    codec_pack_kv_u64 (pk, "misplaced", r->misplaced);
    codec_pack_kv_u64 (pk, "unexpected", r->unexpected);
    codec_pack_kv_u64 (pk, "indeterminate", r->indeterminate);
    codec_pack_kv_u64 (pk, "indeterminate_landed", r->indeterminate_landed);
    codec_pack_kv_u64 (pk, "failed", r->failed);
    codec_pack_kv_u64 (pk, "failed_but_present", r->failed_but_present);
    codec_pack_kv_u64 (pk, "replicas", r->replicas);
    codec_pack_kv_bool (pk, "replicas_identical", r->replicas_identical);
    codec_pack_str (pk, "first_difference");
    if (r->replicas_identical)
        msgpack_pack_nil (pk);
    else {
        msgpack_pack_map (pk, 2);
        codec_pack_kv_u64 (pk, "seq", r->first_difference);
        codec_pack_str (pk, "replicas");
        msgpack_pack_array (pk, 2);
        codec_pack_str (pk, r->differ[0]);
        codec_pack_str (pk, r->differ[1]);
    }
    codec_pack_kv_str (pk, "reference", r->reference);
    codec_pack_kv_u64 (pk, "log_size", r->log_size);
    codec_pack_kv_u64 (pk, "decisions", r->decisions);
    codec_pack_kv_u64 (pk, "decisions_answered", r->decisions_answered);
    codec_pack_kv_u64 (pk, "decisions_logged", r->decisions_logged);
    codec_pack_kv_u64 (pk, "decisions_missing", r->decisions_missing);
    codec_pack_str (pk, "decisions_by_agent");
    msgpack_pack_map (pk, r->agent_count);
    for (size_t i = 0; i < r->agent_count; i++) {
        codec_pack_str (pk, r->agents[i].agent);
        msgpack_pack_map (pk, 2);
        codec_pack_kv_u64 (pk, "answered", r->agents[i].answered);
        codec_pack_kv_u64 (pk, "logged", r->agents[i].logged);
    }
    codec_pack_kv_u64 (pk, "problem_count", r->problem_count);
    codec_pack_str (pk, "problems");
    msgpack_pack_array (pk, shown);
    for (size_t i = 0; i < shown; i++)
        codec_pack_str (pk, r->problems[i]);
    char *text = NULL;
    msgpack_unpacked item;
    msgpack_unpacked_init (&item);
    if (msgpack_unpack_next (&item, buf.sbuf.data, buf.sbuf.size, NULL) == MSGPACK_UNPACK_SUCCESS)
        text = jsonpack_to_json (&item.data, true);
    msgpack_unpacked_destroy (&item);
    codec_buf_destroy (&buf);
    return text;
}

void
checker_result_print (const checker_result_t *r, FILE *out)
{
    fprintf (out, "check: %s\n", r->ok ? "ok" : "FAILED");
    fprintf (out,
             "appends: %llu operations, %llu acknowledged, %llu indeterminate (%llu landed), "
             "%llu failed\n",
             (unsigned long long) r->appends, (unsigned long long) r->acked,
             (unsigned long long) r->indeterminate, (unsigned long long) r->indeterminate_landed,
             (unsigned long long) r->failed);
    fprintf (out,
             "  lost %llu  duplicated %llu  reordered %llu  misplaced %llu  unexpected %llu  "
             "failed_but_present %llu\n",
             (unsigned long long) r->lost, (unsigned long long) r->duplicated,
             (unsigned long long) r->reordered, (unsigned long long) r->misplaced,
             (unsigned long long) r->unexpected, (unsigned long long) r->failed_but_present);
    fprintf (out, "decisions: %llu requests, %llu answered, %llu logged, %llu missing\n",
             (unsigned long long) r->decisions, (unsigned long long) r->decisions_answered,
             (unsigned long long) r->decisions_logged, (unsigned long long) r->decisions_missing);
    if (r->replicas == 1)
        fprintf (out, "replicas: 1, nothing to compare; %llu events in %s\n",
                 (unsigned long long) r->log_size, r->reference);
    else if (r->replicas_identical)
        fprintf (out, "replicas: %zu identical, %llu events (checked against %s)\n", r->replicas,
                 (unsigned long long) r->log_size, r->reference);
    else
        fprintf (out, "replicas: %zu, DIFFER first at seq %llu (%s, %s); checked against %s\n",
                 r->replicas, (unsigned long long) r->first_difference, r->differ[0], r->differ[1],
                 r->reference);
    size_t shown = r->problem_count < CHECKER_PROBLEMS ? r->problem_count : CHECKER_PROBLEMS;
    for (size_t i = 0; i < shown; i++)
        fprintf (out, "  - %s\n", r->problems[i]);
    if (r->problem_count > shown)
        fprintf (out, "  ... and %zu more problems\n", r->problem_count - shown);
}

//  --------------------------------------------------------------------------
//  History files

static const char *s_outcomes[] = {
    [CHECKER_OK] = "ok", [CHECKER_FAIL] = "fail", [CHECKER_INFO] = "info"};

//  One operation as its history line (no newline); a heap string, NULL
//  when out of memory
static char *
s_op_json (const s_op_t *op)
{
    bool append = op->kind == S_APPEND;
    bool extra = append ? op->outcome == CHECKER_OK : op->answered;
    codec_buf_t buf;
    codec_buf_init (&buf);
    msgpack_pack_map (&buf.pk, 6 + extra + (op->error[0] != 0));
    codec_pack_kv_str (&buf.pk, "op", append ? "append" : "decision");
    codec_pack_kv_str (&buf.pk, append ? "client_id" : "request_id", op->id);
    codec_pack_kv_str (&buf.pk, append ? "by" : "agent", op->agent);
    codec_pack_kv_i64 (&buf.pk, "invoke_ms", op->invoke_ms);
    codec_pack_kv_i64 (&buf.pk, "complete_ms", op->complete_ms);
    codec_pack_kv_str (&buf.pk, "outcome",
                       append         ? s_outcomes[op->outcome]
                       : op->answered ? "answered"
                                      : "error");
    if (extra && append)
        codec_pack_kv_u64 (&buf.pk, "seq", op->seq);
    else if (extra)
        codec_pack_kv_str (&buf.pk, "decision", op->decision);
    if (op->error[0])
        codec_pack_kv_str (&buf.pk, "error", op->error);
    msgpack_unpacked item;
    msgpack_unpacked_init (&item);
    char *line = NULL;
    if (msgpack_unpack_next (&item, buf.sbuf.data, buf.sbuf.size, NULL) == MSGPACK_UNPACK_SUCCESS)
        line = jsonpack_to_json (&item.data, false);
    msgpack_unpacked_destroy (&item);
    codec_buf_destroy (&buf);
    return line;
}

char *
checker_append_line (const checker_append_t *op, char *why, size_t why_size)
{
    s_op_t rec;
    if (s_append_fill (&rec, op, why, why_size) != 0)
        return NULL;
    char *line = s_op_json (&rec);
    if (!line)
        snprintf (why, why_size, "out of memory");
    return line;
}

char *
checker_decision_line (const checker_decision_t *op, char *why, size_t why_size)
{
    s_op_t rec;
    if (s_decision_fill (&rec, op, why, why_size) != 0)
        return NULL;
    char *line = s_op_json (&rec);
    if (!line)
        snprintf (why, why_size, "out of memory");
    return line;
}

int
checker_history_write (checker_t *self, const char *path, char *why, size_t why_size)
{
    FILE *file = fopen (path, "w");
    if (!file) {
        snprintf (why, why_size, "cannot write %s: %s", path, strerror (errno));
        return -1;
    }
    int rc = 0;
    for (size_t i = 0; rc == 0 && i < self->op_count; i++) {
        char *line = s_op_json (&self->ops[i]);
        if (!line || fprintf (file, "%s\n", line) < 0) {
            snprintf (why, why_size, "cannot write %s: %s", path,
                      line ? strerror (errno) : "cannot convert an operation");
            rc = -1;
        }
        free (line);
    }
    if (fclose (file) != 0 && rc == 0) {
        snprintf (why, why_size, "cannot write %s: %s", path, strerror (errno));
        rc = -1;
    }
    return rc;
}

static const char *s_append_keys[] = {"op",      "client_id", "by",    "invoke_ms", "complete_ms",
                                      "outcome", "seq",       "error", NULL};
static const char *s_decision_keys[] = {
    "op", "request_id", "agent", "invoke_ms", "complete_ms", "outcome", "decision", "error", NULL};

//  Every key of the map must be on the list
static int
s_only_keys (const msgpack_object *map, const char **names, char *why, size_t why_size)
{
    for (uint32_t i = 0; i < map->via.map.size; i++) {
        char name[LH_MAX_KEY + 1] = "?";
        codec_str_copy (&map->via.map.ptr[i].key, name, sizeof (name));
        if (!s_one_of (name, names)) {
            snprintf (why, why_size, "unknown field '%s'", name);
            return -1;
        }
    }
    return 0;
}

//  A str field as a NUL-terminated copy; "" when optional and absent
static int
s_text (const msgpack_object *map, const char *key, bool required, char *out, size_t size,
        char *why, size_t why_size)
{
    const char *str = NULL;
    size_t len = 0;
    if (codec_get_str (map, key, required, size - 1, &str, &len, why, why_size) != LH_OK)
        return -1;
    if (str && memchr (str, 0, len)) {
        snprintf (why, why_size, "field '%s' holds a NUL", key);
        return -1;
    }
    if (len)
        memcpy (out, str, len);
    out[len] = 0;
    return 0;
}

//  One line of a history file
static int
s_read_op (checker_t *self, const msgpack_object *root, char *why, size_t why_size)
{
    char kind[16], id[CHECKER_MAX_ID + 1], agent[LH_MAX_AGENT + 1], outcome[16];
    char decision[16] = "", error[CHECKER_MAX_ERROR + 1] = "";
    int64_t invoke_ms, complete_ms, seq = -1;
    if (s_text (root, "op", true, kind, sizeof (kind), why, why_size))
        return -1;
    bool append = streq (kind, "append");
    if (!append && !streq (kind, "decision")) {
        snprintf (why, why_size, "field 'op' must be \"append\" or \"decision\"");
        return -1;
    }
    if (s_only_keys (root, append ? s_append_keys : s_decision_keys, why, why_size) ||
        s_text (root, append ? "client_id" : "request_id", true, id, sizeof (id), why, why_size) ||
        s_text (root, append ? "by" : "agent", true, agent, sizeof (agent), why, why_size) ||
        codec_get_int (root, "invoke_ms", true, 0, INT64_MAX, &invoke_ms, why, why_size) ||
        codec_get_int (root, "complete_ms", true, 0, INT64_MAX, &complete_ms, why, why_size) ||
        s_text (root, "outcome", true, outcome, sizeof (outcome), why, why_size) ||
        s_text (root, "error", false, error, sizeof (error), why, why_size))
        return -1;
    if (append) {
        checker_append_t op = {id, agent, invoke_ms, complete_ms, CHECKER_OK, 0, error};
        if (streq (outcome, "fail"))
            op.outcome = CHECKER_FAIL;
        else if (streq (outcome, "info"))
            op.outcome = CHECKER_INFO;
        else if (!streq (outcome, "ok")) {
            snprintf (why, why_size, "field 'outcome' must be \"ok\", \"fail\" or \"info\"");
            return -1;
        }
        if (codec_get_int (root, "seq", op.outcome == CHECKER_OK, 0, INT64_MAX, &seq, why,
                           why_size))
            return -1;
        if (op.outcome != CHECKER_OK && seq >= 0) {
            snprintf (why, why_size, "field 'seq' is for outcome \"ok\" only");
            return -1;
        }
        op.seq = (uint64_t) seq;
        return checker_add_append (self, &op, why, why_size);
    }
    bool answered = streq (outcome, "answered");
    if (!answered && !streq (outcome, "error")) {
        snprintf (why, why_size, "field 'outcome' must be \"answered\" or \"error\"");
        return -1;
    }
    if (s_text (root, "decision", answered, decision, sizeof (decision), why, why_size))
        return -1;
    if (!answered && decision[0]) {
        snprintf (why, why_size, "field 'decision' is for outcome \"answered\" only");
        return -1;
    }
    checker_decision_t op = {id, agent, invoke_ms, complete_ms, answered, decision, error};
    return checker_add_decision (self, &op, why, why_size);
}

int
checker_history_read (checker_t *self, const char *path, char *why, size_t why_size)
{
    FILE *file = fopen (path, "r");
    if (!file) {
        snprintf (why, why_size, "cannot read %s: %s", path, strerror (errno));
        return -1;
    }
    size_t before = self->op_count;
    char *line = NULL;
    size_t alloc = 0;
    ssize_t len;
    int rc = 0;
    char reason[256];
    for (size_t number = 1; rc == 0 && (len = getline (&line, &alloc, file)) >= 0; number++) {
        if (len > 0 && line[len - 1] == '\n')
            line[--len] = 0;
        if (len == 0)
            continue; //  a blank line, the end of a file cut between lines
        rc = -1;
        msgpack_sbuffer sbuf;
        msgpack_sbuffer_init (&sbuf);
        codec_doc_t *doc = NULL;
        lh_err_t err;
        const char *cwhy;
        if (len > S_MAX_LINE)
            snprintf (reason, sizeof (reason), "line longer than %d bytes", S_MAX_LINE);
        else if (jsonpack_from_json (line, (size_t) len, &sbuf, reason, sizeof (reason)) == 0) {
            doc = codec_doc_decode (sbuf.data, sbuf.size, &err, &cwhy);
            if (doc)
                rc = s_read_op (self, codec_doc_root (doc), reason, sizeof (reason));
            else
                snprintf (reason, sizeof (reason), "not a JSON object: %s", cwhy);
        }
        if (rc != 0)
            snprintf (why, why_size, "%s:%zu: %s", path, number, reason);
        codec_doc_destroy (&doc);
        msgpack_sbuffer_destroy (&sbuf);
    }
    if (rc == 0 && ferror (file)) {
        snprintf (why, why_size, "cannot read %s: %s", path, strerror (errno));
        rc = -1;
    }
    free (line);
    fclose (file);
    //  All or nothing
    if (rc != 0)
        self->op_count = before;
    return rc;
}
