/*  hook -- asking Lighthouse before a tool runs, as an agent's hook does.

    Two programs run this flow: `lh hook`, which asks the brokers itself
    (one CURVE handshake per call), and `lh-hook`, which asks a warm
    lh-hookd over a Unix socket. The flow is the same in both: read the
    agent's hook JSON (hook_agents.c), pack the validate request, wait within
    a deadline, and answer the way the agent understands. Every failure,
    down to a signal or the watchdog, is answered too: deny, or ask for a
    read-only tool, never silence (an agent takes most exit statuses as
    "go ahead").

    The request packing is shared with `lh validate`.
*/
#ifndef LH_HOOK_H_INCLUDED
#define LH_HOOK_H_INCLUDED

#include "codec.h"

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

//  The hook's stdin and lh validate --input @FILE: at most this much
#define HOOK_INPUT_READ_MAX (16 * 1024 * 1024)
//  The hook's validate deadline (LH_HOOK_TIMEOUT_MS) and what it may be
#define HOOK_TIMEOUT_DEFAULT 2000
#define HOOK_TIMEOUT_MAX     30000
//  LH_HOOK_WAIT_MS: how long an escalated call waits for an expert's verdict
#define HOOK_WAIT_MAX 50000
//  The hook answers within its deadline plus this, whatever happens
#define HOOK_SLACK_MS 3000

//  What the hook_* flow steps return when the hook goes on; anything
//  else is the exit status of an answer already given.
#define HOOK_GO_ON (-1)

extern const char hook_usage[];

typedef enum {
    HOOK_DECISION_ALLOW,
    HOOK_DECISION_DENY,
    HOOK_DECISION_ESCALATE,
    HOOK_DECISION_DEFER,
    HOOK_DECISION_NONE //  missing, mistyped or unknown
} hook_decision_t;

//  The decision in a validate reply map.
hook_decision_t hook_decision (const msgpack_object *root);
//  A string field of a reply map into buf, "-" when absent; returns buf.
const char *hook_field (const msgpack_object *root, const char *key, char *buf, size_t size);

//  Reads fd to its end, at most max bytes (NUL-terminated, freed by the
//  caller). NULL with *error set: EFBIG when there is more, ENOMEM, or errno.
char *hook_read_all (int fd, size_t max, size_t *size, int *error);

typedef struct {
    const char *tool;
    const char *cwd;
    const char *session;         //  optional, from the hook's session_id
    const char *tool_use_id;     //  optional
    const char *permission_mode; //  optional
    const char *project_env;     //  the env variable naming the project, or NULL
    const char *project;         //  else this project, when absolute, else LH_PROJECT
    int wait_ms;                 //  how long to wait for an expert's verdict (0: not at all)
} hook_request_t;

//  Packs the validate request body (without id) for request and input (a
//  JSON object, reduced in place when too large: its longest strings that
//  the policy does not judge become their size and SHA-256; *replaced says
//  how many). Returns 0, or -1 with why.
int hook_pack_request (codec_buf_t *body, const hook_request_t *request, json_t *input,
                       int *replaced, char *why, size_t why_size);

//  The flow, in order. argv[command] is the word before the hook's own
//  arguments ("hook" for lh, argv[0] for lh-hook). Installs the signal
//  handlers and the watchdog, takes --agent NAME out of argv (*argc_p
//  shrinks), answers -h/--help, reads and parses the hook JSON on stdin.
int hook_begin (int *argc_p, char **argv, int command);
//  Puts the hook's signal handlers back after a library replaced them
//  (czmq's zsys_init does).
void hook_signals_again (void);
//  Reads LH_HOOK_TIMEOUT_MS (override_ms instead when > 0) and
//  LH_HOOK_WAIT_MS, and arms the watchdog for their sum plus the slack.
int hook_deadline (int override_ms, int *timeout_ms, int *wait_ms);
//  Packs the validate request for the call read, waiting wait_ms.
int hook_request (codec_buf_t *body, int wait_ms);
//  Answers from a reply: code "ok" with its map, or an error code and message.
int hook_verdict (const char *code, const char *message, const msgpack_object *root);
//  No decision could be had: deny, or ask for a read-only tool. Returns the status.
int hook_fail (const char *what);
//  The monotonic clock the hook's deadlines count in, ms.
int64_t hook_now_ms (void);
//  Frees what hook_begin read.
void hook_end (void);

//  Gives the call to program (argv as given to it): the watchdog off, the
//  signals as they were, stdin the hook JSON already read. Returns only
//  when it could not, with errno.
void hook_handoff (const char *program, char *const argv[]);

//  --------------------------------------------------------------------------
//  The socket between lh-hook and lh-hookd: one call per connection.
//  Request: a 4-byte big-endian length N, then N bytes: a 4-byte big-endian
//  deadline in ms, then the validate body (a msgpack map).
//  Reply: a 4-byte big-endian length N, then N bytes: a msgpack map
//  {code: "ok" or an error code, message: str, reply: the broker's reply map}
//  (reply only with "ok").
#define HOOK_WIRE_MAX (LH_MAX_BODY + 4)

//  The frames' 4-byte big-endian numbers.
void hook_wire_put32 (uint8_t *at, uint32_t value);
uint32_t hook_wire_get32 (const uint8_t *at);

//  Where lh-hookd listens: LH_HOOKD_SOCKET, else
//  $XDG_RUNTIME_DIR/lighthouse/hookd.sock, else /tmp/lighthouse-UID/hookd.sock.
//  Returns 0, or -1 when it would not fit.
int hook_socket_path (char *out, size_t size);

#endif
