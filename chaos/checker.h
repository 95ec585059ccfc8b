/*  checker -- a Jepsen-style check of a drill's history against the log.

    A drill records every operation it ran (the history): appends, each
    with its client id, appender, invocation and completion times and
    outcome, and validate requests with theirs. After the drill it reads
    the final log from every integrity replica. The checker then says
    whether the log kept the promises of docs/EVENTS.md: every acknowledged
    append present exactly once, at the seq it was acknowledged with and in
    real-time order; nothing from the drill's appenders that the history
    does not hold; nothing present that failed; every answered decision
    logged; every replica holding the same bytes. docs/DRILLS.md describes
    the history file and the report.

    An append is identified by (by, client_id), the log's exactly-once key.
    Several operations may share a key (a resend after a timeout): the key
    is acknowledged when any of them was, indeterminate when none was and
    one timed out, failed when all failed.
*/
#ifndef LH_CHECKER_H_INCLUDED
#define LH_CHECKER_H_INCLUDED

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "lh_proto.h"

#define CHECKER_MAX_ID       64  //  bytes in a client id or request id
#define CHECKER_MAX_ERROR    200 //  bytes kept of an operation's error text
#define CHECKER_MAX_REPLICA  255 //  bytes in a replica's name
#define CHECKER_PROBLEMS     8   //  problems described in a result
#define CHECKER_PROBLEM_SIZE 384

typedef enum {
    CHECKER_OK,   //  acknowledged: appended at seq
    CHECKER_FAIL, //  a definite error: nothing was appended
    CHECKER_INFO  //  indeterminate (timeout, connection lost): may have been appended
} checker_outcome_t;

//  One append operation. Strings are copied.
typedef struct {
    const char *client_id; //  1..64 bytes of printable ASCII without spaces (EVENTS.md 2.2)
    const char *by;        //  the appender's agent id (the log's `by`)
    int64_t invoke_ms;     //  when the request was sent
    int64_t complete_ms;   //  when its answer came, or when the client gave up
    checker_outcome_t outcome;
    uint64_t seq;      //  CHECKER_OK: the acknowledged seq
    const char *error; //  optional: what the client saw (NULL for none)
} checker_append_t;

//  One validate request. Strings are copied.
typedef struct {
    const char *request_id; //  the client's request id, 1..64 printable ASCII
    const char *agent;      //  the agent that asked (the decision event's `agent`)
    int64_t invoke_ms;
    int64_t complete_ms;
    bool answered;        //  a decision came back (else an error or a timeout)
    const char *decision; //  answered: allow, defer, escalate or deny
    const char *error;    //  optional
} checker_decision_t;

//  Decisions per agent
typedef struct {
    char agent[LH_MAX_AGENT + 1];
    uint64_t answered; //  in the history
    uint64_t logged;   //  validation.decision events about this agent in the log
} checker_agent_t;

typedef struct {
    bool ok; //  no check failed
    //  Appends, counted per (by, client_id) key except `appends`
    uint64_t appends;       //  append operations in the history
    uint64_t acked;         //  keys acknowledged
    uint64_t lost;          //  acknowledged, absent from the log
    uint64_t duplicated;    //  keys present more than once (any appender)
    uint64_t reordered;     //  pairs A, B acknowledged with A done before B began, A's seq > B's
    uint64_t misplaced;     //  acknowledged, present, but not at the acknowledged seq
    uint64_t unexpected;    //  events by a history appender under no history key
    uint64_t indeterminate; //  keys neither acknowledged nor definitely failed
    uint64_t indeterminate_landed; //  ... of which present in the log
    uint64_t failed;               //  keys whose every operation failed
    uint64_t failed_but_present;   //  ... of which present in the log
    //  Replicas
    size_t replicas;
    bool replicas_identical;
    uint64_t first_difference;               //  the first seq where two replicas differ
    char differ[2][CHECKER_MAX_REPLICA + 1]; //  and which two
    char reference[CHECKER_MAX_REPLICA + 1]; //  the replica checked against the history
    uint64_t log_size;                       //  its length
    //  Decisions
    uint64_t decisions;          //  validate requests in the history
    uint64_t decisions_answered; //  ... answered
    uint64_t decisions_logged;   //  validation.decision events in the log (not the drill's own)
    uint64_t decisions_missing;  //  answered beyond what the log holds, summed per agent
    checker_agent_t *agents;     //  per agent, sorted by name; checker_result_clear frees
    size_t agent_count;
    //  The first few problems, for people
    size_t problem_count; //  all problems found (more than are described)
    char problems[CHECKER_PROBLEMS][CHECKER_PROBLEM_SIZE];
} checker_result_t;

typedef struct _checker_t checker_t;

checker_t *checker_new (void);
void checker_destroy (checker_t **self_p);

//  Records an operation. -1 with why set when a field is invalid (the
//  operation is then not recorded).
int checker_add_append (checker_t *self, const checker_append_t *op, char *why, size_t why_size);
int checker_add_decision (checker_t *self, const checker_decision_t *op, char *why,
                          size_t why_size);

//  Starts the log of a replica; returns its index for checker_add_leaf, or
//  -1 (why set) for an empty, over-long or repeated name.
int checker_add_log (checker_t *self, const char *replica, char *why, size_t why_size);
//  Adds the next leaf of a replica's log (seq from 0, in order). -1 with
//  why set for a gap, a leaf that does not parse as an event, or one that
//  says it is at another seq.
int checker_add_leaf (checker_t *self, int replica, uint64_t seq, const void *leaf, size_t size,
                      char *why, size_t why_size);

//  Runs every check. The history is checked against the longest replica
//  log (the first of the longest); the others are compared with it byte
//  for byte. -1 with why set when no replica log was added. Clears
//  *result first.
int checker_run (checker_t *self, checker_result_t *result, char *why, size_t why_size);
//  Frees what a result owns and zeroes it.
void checker_result_clear (checker_result_t *result);

//  The result as a JSON object (docs/DRILLS.md); a heap string, NULL on
//  failure.
char *checker_result_json (const checker_result_t *result);
//  A one-screen summary for people.
void checker_result_print (const checker_result_t *result, FILE *out);

//  Writes the history as JSON Lines, one operation a line in the order
//  recorded (docs/DRILLS.md). -1 with why set when the file cannot be
//  written.
int checker_history_write (checker_t *self, const char *path, char *why, size_t why_size);
//  One operation as its history line, exactly as checker_history_write
//  writes it (no newline), for a writer that appends as it goes: a heap
//  string, or NULL with why set when a field is invalid.
char *checker_append_line (const checker_append_t *op, char *why, size_t why_size);
char *checker_decision_line (const checker_decision_t *op, char *why, size_t why_size);
//  Reads a history file and records its operations after those recorded.
//  -1 with why set ("FILE:LINE: ...") on the first bad line; the lines
//  before it stay recorded.
int checker_history_read (checker_t *self, const char *path, char *why, size_t why_size);

#endif
