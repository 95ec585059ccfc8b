/*  hook -- asking Lighthouse before a tool runs. See hook.h.

    The default contract is Claude Code's PreToolUse: exit 0 with a JSON
    permissionDecision (allow, ask) on stdout, exit 0 with nothing on
    stdout for "no opinion" (the agent's own permission flow applies), and
    exit 2 to block, with the reason on stderr (Claude Code ignores stdout
    then; the deny JSON is printed anyway for other readers). Any other
    exit status lets the tool run, so every failure of the hook, down to a
    signal, ends in exit 2 (or "ask" for read-only tools).
*/
#include "hook.h"
#include "hook_agents.h"

#include "jsonpack.h"

#include <errno.h>
#include <signal.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/auxv.h>
#include <sys/mman.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#ifndef streq
#define streq(a, b) (strcmp ((a), (b)) == 0)
#endif

//  A tool input whose msgpack form would exceed this (half of LH_MAX_BODY,
//  so every string also stays under LH_MAX_STR and the request under
//  LH_MAX_BODY) is reduced: its largest strings that are not judged
//  (below) become a marker with their size and SHA-256.
#define INPUT_SEND_MAX (LH_MAX_BODY / 2)

//  Input fields the policy judges: never replaced, however long
static const char *s_judged_keys[] = {"command", "file_path", "notebook_path", "path",
                                      "url",     "query",     "pattern"};

//  --------------------------------------------------------------------------
//  The reply

hook_decision_t
hook_decision (const msgpack_object *root)
{
    const msgpack_object *value = codec_map_get (root, "decision");
    if (codec_str_eq (value, "allow"))
        return HOOK_DECISION_ALLOW;
    if (codec_str_eq (value, "deny"))
        return HOOK_DECISION_DENY;
    if (codec_str_eq (value, "escalate"))
        return HOOK_DECISION_ESCALATE;
    if (codec_str_eq (value, "defer"))
        return HOOK_DECISION_DEFER;
    return HOOK_DECISION_NONE;
}

const char *
hook_field (const msgpack_object *root, const char *key, char *buf, size_t size)
{
    if (!codec_str_copy (codec_map_get (root, key), buf, size))
        snprintf (buf, size, "-");
    return buf;
}

char *
hook_read_all (int fd, size_t max, size_t *size, int *error)
{
    size_t capacity = 65536, used = 0;
    char *data = (char *) malloc (capacity + 1);
    if (!data) {
        *error = ENOMEM;
        return NULL;
    }
    while (true) {
        if (used == capacity) {
            if (capacity > max) {
                free (data);
                *error = EFBIG;
                return NULL;
            }
            //  One byte past max tells "exactly max" from "more"
            size_t bigger = capacity * 2 > max + 1 ? max + 1 : capacity * 2;
            char *grown = (char *) realloc (data, bigger + 1);
            if (!grown) {
                free (data);
                *error = ENOMEM;
                return NULL;
            }
            data = grown;
            capacity = bigger;
        }
        ssize_t n = read (fd, data + used, capacity - used);
        if (n == 0)
            break;
        if (n < 0) {
            if (errno == EINTR)
                continue;
            *error = errno;
            free (data);
            return NULL;
        }
        used += (size_t) n;
    }
    if (used > max) {
        free (data);
        *error = EFBIG;
        return NULL;
    }
    data[used] = 0;
    *size = used;
    return data;
}

//  --------------------------------------------------------------------------
//  The request

typedef struct {
    json_t **items;
    size_t count, capacity;
    bool no_memory;
} strings_t;

static bool
s_judged (const char *key)
{
    for (size_t i = 0; key && i < sizeof (s_judged_keys) / sizeof (s_judged_keys[0]); i++)
        if (streq (key, s_judged_keys[i]))
            return true;
    return false;
}

//  An upper bound of json's msgpack size (as jsonpack packs it); collects
//  into found the strings that may be replaced (not under a judged key,
//  longer than a marker). Array elements count under the array's key.
static size_t
s_estimate (json_t *json, const char *key, strings_t *found)
{
    size_t size = 9;
    if (json_is_object (json)) {
        const char *name;
        json_t *value;
        size = 5;
        json_object_foreach (json, name, value) size +=
            strlen (name) + 5 + s_estimate (value, name, found);
    } else if (json_is_array (json)) {
        size_t index;
        json_t *value;
        size = 5;
        json_array_foreach (json, index, value) size += s_estimate (value, key, found);
    } else if (json_is_string (json)) {
        size = json_string_length (json) + 5;
        if (size > 256 && !s_judged (key)) {
            if (found->count == found->capacity) {
                size_t capacity = found->capacity ? found->capacity * 2 : 16;
                json_t **items = (json_t **) realloc (found->items, capacity * sizeof (json_t *));
                if (!items) {
                    found->no_memory = true;
                    return size;
                }
                found->items = items;
                found->capacity = capacity;
            }
            found->items[found->count++] = json;
        }
    }
    return size;
}

static int
s_longer_first (const void *a, const void *b)
{
    size_t la = json_string_length (*(json_t *const *) a);
    size_t lb = json_string_length (*(json_t *const *) b);
    return la < lb ? 1 : la > lb ? -1 : 0;
}

//  Makes input small enough to send: while its size is over INPUT_SEND_MAX,
//  its longest replaceable string becomes "[lighthouse: N bytes not sent,
//  sha256 HEX]". Returns how many were replaced, or -1 with why.
static int
s_reduce (json_t *input, char *why, size_t why_size)
{
    strings_t found = {0};
    size_t total = s_estimate (input, NULL, &found);
    int replaced = 0;
    if (found.no_memory) {
        snprintf (why, why_size, "out of memory measuring the tool input");
        free (found.items);
        return -1;
    }
    if (total > INPUT_SEND_MAX && found.count > 0)
        qsort (found.items, found.count, sizeof (json_t *), s_longer_first);
    for (size_t i = 0; i < found.count && total > INPUT_SEND_MAX; i++) {
        json_t *text = found.items[i];
        size_t len = json_string_length (text);
        uint8_t hash[crypto_hash_sha256_BYTES];
        char hex[2 * crypto_hash_sha256_BYTES + 1], marker[160];
        crypto_hash_sha256 (hash, (const uint8_t *) json_string_value (text), len);
        sodium_bin2hex (hex, sizeof (hex), hash, sizeof (hash));
        int n = snprintf (marker, sizeof (marker), "[lighthouse: %zu bytes not sent, sha256 %s]",
                          len, hex);
        if (json_string_setn (text, marker, (size_t) n) != 0) {
            snprintf (why, why_size, "out of memory reducing the tool input");
            free (found.items);
            return -1;
        }
        total = total - len + (size_t) n;
        replaced++;
    }
    free (found.items);
    if (total > INPUT_SEND_MAX) {
        snprintf (why, why_size,
                  "the tool input is still about %zu bytes without its content fields, over the "
                  "%d bytes a request may carry",
                  total, INPUT_SEND_MAX);
        return -1;
    }
    return replaced;
}

static const char *
s_absolute_env (const char *name)
{
    const char *value = getenv (name);
    return value && value[0] == '/' ? value : NULL;
}

int
hook_pack_request (codec_buf_t *body, const hook_request_t *request, json_t *input, int *replaced,
                   char *why, size_t why_size)
{
    *replaced = s_reduce (input, why, why_size);
    if (*replaced < 0)
        return -1;
    char *text = json_dumps (input, JSON_COMPACT);
    if (!text) {
        snprintf (why, why_size, "out of memory encoding the tool input");
        return -1;
    }
    msgpack_sbuffer packed;
    msgpack_sbuffer_init (&packed);
    int rc = jsonpack_from_json (text, strlen (text), &packed, why, why_size);
    free (text);
    const char *problem = NULL;
    if (rc == 0 &&
        codec_check (packed.data, packed.size, codec_limits_default (), &problem) != LH_OK) {
        snprintf (why, why_size, "the tool input breaks a protocol limit: %s", problem);
        rc = -1;
    }
    if (rc == 0) {
        const char *home = s_absolute_env ("HOME");
        const char *project = request->project_env ? s_absolute_env (request->project_env) : NULL;
        if (!project && request->project && request->project[0] == '/')
            project = request->project;
        if (!project)
            project = s_absolute_env ("LH_PROJECT");
        const char *optional[][2] = {{"home", home},
                                     {"project", project},
                                     {"session", request->session},
                                     {"tool_use_id", request->tool_use_id},
                                     {"permission_mode", request->permission_mode}};
        size_t count = sizeof (optional) / sizeof (optional[0]), pairs = 3;
        for (size_t i = 0; i < count; i++)
            pairs += optional[i][1] != NULL;
        pairs += request->wait_ms > 0;
        msgpack_pack_map (&body->pk, pairs);
        codec_pack_kv_str (&body->pk, "tool", request->tool);
        codec_pack_str (&body->pk, "input");
        msgpack_sbuffer_write (&body->sbuf, packed.data, packed.size);
        codec_pack_kv_str (&body->pk, "cwd", request->cwd);
        for (size_t i = 0; i < count; i++)
            if (optional[i][1]) {
                codec_pack_str (&body->pk, optional[i][0]);
                codec_pack_str (&body->pk, optional[i][1]);
            }
        if (request->wait_ms > 0)
            codec_pack_kv_u64 (&body->pk, "wait_ms", (uint64_t) request->wait_ms);
        //  A write that failed for want of memory leaves a body that is cut short
        if (codec_check (body->sbuf.data, body->sbuf.size, codec_limits_default (), &problem) !=
            LH_OK) {
            snprintf (why, why_size, "the request cannot be encoded: %s", problem);
            rc = -1;
        }
    }
    msgpack_sbuffer_destroy (&packed);
    return rc;
}

//  --------------------------------------------------------------------------
//  Deadlines, signals and answers

const char hook_usage[] =
    "Usage: lh [--env FILE] [--broker EP] [--broker-key Z85] [--cert FILE] hook\n"
    "          [--agent claude|codex|gemini|cursor|copilot]\n"
    "\n"
    "Claude Code PreToolUse hook: reads the hook JSON on stdin, asks validate and\n"
    "answers as Claude Code expects:\n"
    "  allow     exit 0, {\"hookSpecificOutput\": {... \"permissionDecision\": \"allow\"}}\n"
    "  escalate  exit 0, permissionDecision \"ask\" (Claude Code asks you)\n"
    "  defer     exit 0, nothing on stdout (Claude Code's own permission flow applies)\n"
    "  deny      exit 2, the reason on stderr (and the deny JSON on stdout)\n"
    "Every failure (env file, keys, certificate, connection, timeout, an error or\n"
    "malformed reply, bad hook input, no memory, a signal) is a deny, exit 2; for\n"
    "read-only tools (Read, Glob, Grep, LS, WebSearch, NotebookRead, TodoWrite,\n"
    "ExitPlanMode) it is \"ask\" instead. This text itself exits 2.\n"
    "\n"
    "--agent names the agent whose hook contract to speak (default claude):\n"
    "  codex    Codex CLI PreToolUse. Only a deny is honoured: deny and escalate exit 2\n"
    "           with the reason on stderr and the deny JSON; allow and defer print nothing.\n"
    "  gemini   Gemini CLI BeforeTool. allow {\"decision\":\"allow\"}, defer {}, deny and\n"
    "           escalate exit 2 with {\"decision\":\"deny\",\"reason\":...} and the reason on\n"
    "           stderr.\n"
    "  cursor   Cursor beforeShellExecution, beforeMCPExecution, beforeReadFile. Exit 0\n"
    "           with {\"permission\": allow | ask | deny, user_message, agent_message};\n"
    "           defer prints nothing; beforeReadFile cannot ask, so it is denied.\n"
    "  copilot  GitHub Copilot CLI preToolUse. Only a deny is processed: deny and\n"
    "           escalate exit 0 with {\"permissionDecision\":\"deny\",...}; allow and defer\n"
    "           print nothing.\n"
    "An agent that cannot ask gets a deny for an escalation, saying how to get the call\n"
    "approved, and a deny for every failure, read-only tools included. Each agent's\n"
    "tools are mapped to Lighthouse's: a shell command is Bash with input.command, a\n"
    "file read Read with file_path, an MCP call mcp__SERVER__TOOL; an unknown event or\n"
    "a payload without the documented fields is a failure. An unknown --agent is a\n"
    "failure answered as Claude Code's.\n"
    "\n"
    "The request carries tool, input, cwd, home ($HOME), project ($CLAUDE_PROJECT_DIR;\n"
    "gemini $GEMINI_PROJECT_DIR; cursor the first workspace root; else $LH_PROJECT),\n"
    "and from the hook JSON session (session_id; cursor conversation_id; copilot\n"
    "sessionId), tool_use_id and permission_mode (each sent only when a string of at\n"
    "most 256 bytes). Large inputs are reduced as lh validate --help describes.\n"
    "\n"
    "LH_HOOK_TIMEOUT_MS (1 to 30000, default 2000) bounds the wait for validate.\n"
    "LH_HOOK_WAIT_MS (0 to 50000, default 0) is how long a call the policy escalates\n"
    "waits for an expert's verdict (lh review, lh expert serve); with none by then it\n"
    "is denied, the reason carrying an approval code (lh approve CODE, then retry).\n"
    "The hook always answers within the two plus 3 s: keep the hook's \"timeout\" in\n"
    "the agent's settings above that (Claude Code's default, 60 s, is). The env file\n"
    "should hold an agent key (role agent), never an admin key: see lh keygen --help.\n"
    "\n"
    "lh-hook [--agent NAME] is the same hook, fast: it asks a warm lh-hookd at the Unix\n"
    "socket $LH_HOOKD_SOCKET (else $XDG_RUNTIME_DIR/lighthouse/hookd.sock, else\n"
    "/tmp/lighthouse-UID/hookd.sock) served by its own user or root (or, when\n"
    "LH_HOOKD_UID is set, by that uid alone), and hands the call to lh hook (the lh\n"
    "beside it, with the same input) when none answers there, when lh-hookd goes\n"
    "before it answers, or when given any option but --agent. lh-hook --version prints\n"
    "its version and, as this text, exits 2.\n";

//  What the hook has learned, and the answer a signal gives (prepared in
//  advance: a signal handler may only write and exit).
static struct {
    int64_t start_ms;
    const hook_agent_t *agent;
    json_t *json; //  the hook JSON
    char *text;   //  as read, for hook_handoff
    size_t text_size;
    hook_call_t call; //  call.tool "" until the hook JSON is read
    bool read_only;   //  a read-only tool, and the agent can ask
    volatile sig_atomic_t answered;
    volatile sig_atomic_t status;
    char signal_out[8192]; //  stdout for an answer made in a signal handler
    size_t signal_out_len;
    int signal_status;
    char signal_tail[192]; //  "; failing closed: TOOL is blocked"
} s_hook;

int64_t
hook_now_ms (void)
{
    struct timespec ts;
    clock_gettime (CLOCK_MONOTONIC, &ts);
    return (int64_t) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

//  Tools that can change nothing; when Lighthouse cannot decide they fall
//  back to asking the user, every other tool is denied.
static bool
s_read_only_tool (const char *tool)
{
    static const char *read_only[] = {"Read",      "Glob",      "Grep",         "LS",
                                      "WebSearch", "TodoWrite", "ExitPlanMode", "NotebookRead"};
    for (size_t i = 0; tool && i < sizeof (read_only) / sizeof (read_only[0]); i++)
        if (streq (tool, read_only[i]))
            return true;
    return false;
}

//  Prepares what a signal answers, for the agent and tool known so far.
static void
s_hook_prepare_signal (void)
{
    const char *tool = s_hook.call.tool[0] ? s_hook.call.tool : "the tool call";
    if (s_hook.read_only)
        snprintf (s_hook.signal_tail, sizeof (s_hook.signal_tail), "; asking you before %.64s\n",
                  tool);
    else
        snprintf (s_hook.signal_tail, sizeof (s_hook.signal_tail),
                  "; failing closed: %.64s is blocked\n", tool);
    char out[sizeof (s_hook.signal_out) - 1];
    int status = 2;
    bool to_stderr;
    s_hook.agent->format (&s_hook.call, s_hook.read_only ? HOOK_ASK : HOOK_DENY,
                          "Lighthouse could not decide: the hook was stopped or ran out of time",
                          out, sizeof (out), &status, &to_stderr);
    s_hook.signal_out_len = 0;
    if (*out) {
        s_hook.signal_out_len =
            (size_t) snprintf (s_hook.signal_out, sizeof (s_hook.signal_out), "%s\n", out);
        if (s_hook.signal_out_len >= sizeof (s_hook.signal_out))
            s_hook.signal_out_len = 0;
    }
    s_hook.signal_status = status;
}

static size_t
s_append (char *buf, size_t used, size_t size, const char *text)
{
    while (*text && used + 1 < size)
        buf[used++] = *text++;
    return used;
}

//  A fatal signal, a termination request or the watchdog: answer and exit
//  (async-signal-safe: write and _exit only).
static void
s_hook_signal (int signum)
{
    if (s_hook.answered)
        _exit (s_hook.status);
    char text[512], number[16];
    size_t used = s_append (text, 0, sizeof (text), "Lighthouse could not decide: ");
    if (signum == SIGALRM)
        used = s_append (text, used, sizeof (text), "the hook ran out of time");
    else {
        int n = 0;
        char digits[16];
        for (int v = signum; v > 0 && n < 15; v /= 10)
            digits[n++] = (char) ('0' + v % 10);
        for (int k = 0; k < n; k++)
            number[k] = digits[n - 1 - k];
        number[n] = 0;
        used = s_append (text, used, sizeof (text), "the hook was stopped by signal ");
        used = s_append (text, used, sizeof (text), number);
    }
    used = s_append (text, used, sizeof (text), s_hook.signal_tail);
    if (write (2, text, used) < 0 || write (1, s_hook.signal_out, s_hook.signal_out_len) < 0)
        _exit (s_hook.signal_status);
    _exit (s_hook.signal_status);
}

static void
s_hook_install_handlers (void)
{
    static char alt_stack[65536];
    stack_t stack = {.ss_sp = alt_stack, .ss_size = sizeof (alt_stack)};
    sigaltstack (&stack, NULL);
    struct sigaction action;
    memset (&action, 0, sizeof (action));
    action.sa_handler = s_hook_signal;
    action.sa_flags = SA_ONSTACK;
    sigfillset (&action.sa_mask);
    static const int signals[] = {SIGALRM, SIGTERM, SIGINT,  SIGHUP,  SIGQUIT,   SIGUSR1,
                                  SIGUSR2, SIGABRT, SIGSEGV, SIGBUS,  SIGFPE,    SIGILL,
                                  SIGTRAP, SIGSYS,  SIGXCPU, SIGXFSZ, SIGVTALRM, SIGPROF};
    for (size_t i = 0; i < sizeof (signals) / sizeof (signals[0]); i++)
        sigaction (signals[i], &action, NULL);
    //  A closed stdout or stderr must not kill the hook before it exits 2
    signal (SIGPIPE, SIG_IGN);
}

//  The watchdog: SIGALRM at start + timeout_ms + HOOK_SLACK_MS.
static void
s_hook_arm (int timeout_ms)
{
    int64_t left = s_hook.start_ms + timeout_ms + HOOK_SLACK_MS - hook_now_ms ();
    if (left < 1)
        left = 1;
    struct itimerval timer = {.it_value = {.tv_sec = left / 1000, .tv_usec = (left % 1000) * 1000}};
    setitimer (ITIMER_REAL, &timer, NULL);
}

//  Prints the agent's answer for verdict; returns its exit status.
static int
s_hook_answer (hook_verdict_t verdict, const char *reason)
{
    sigset_t all;
    sigfillset (&all);
    sigprocmask (SIG_BLOCK, &all, NULL);
    struct itimerval off = {{0, 0}, {0, 0}};
    setitimer (ITIMER_REAL, &off, NULL);
    static char out[8192];
    int status = 2;
    bool to_stderr = true;
    s_hook.agent->format (&s_hook.call, verdict, reason, out, sizeof (out), &status, &to_stderr);
    if (to_stderr)
        fprintf (stderr, "%s\n", reason);
    if (*out)
        printf ("%s\n", out);
    fflush (stdout);
    fflush (stderr);
    s_hook.status = status;
    s_hook.answered = 1;
    return s_hook.status;
}

int
hook_fail (const char *what)
{
    char reason[1100];
    const char *tool = s_hook.call.tool[0] ? s_hook.call.tool : "the tool call";
    if (s_hook.read_only)
        snprintf (reason, sizeof (reason),
                  "Lighthouse could not decide (%.900s); asking you before %.64s", what, tool);
    else
        snprintf (reason, sizeof (reason),
                  "Lighthouse could not decide (%.900s); failing closed: %.64s is blocked", what,
                  tool);
    return s_hook_answer (s_hook.read_only ? HOOK_ASK : HOOK_DENY, reason);
}

//  LH_HOOK_TIMEOUT_MS: 1 to HOOK_TIMEOUT_MAX; -1 when malformed.
static int
s_hook_timeout (const char *text)
{
    if (!text || !*text)
        return HOOK_TIMEOUT_DEFAULT;
    char *end;
    errno = 0;
    long ms = strtol (text, &end, 10);
    return *end || errno || ms < 1 || ms > HOOK_TIMEOUT_MAX ? -1 : (int) ms;
}

//  LH_HOOK_WAIT_MS: 0 to HOOK_WAIT_MAX; -1 when malformed.
static int
s_hook_wait (const char *text)
{
    if (!text || !*text)
        return 0;
    char *end;
    errno = 0;
    long ms = strtol (text, &end, 10);
    return *end || errno || ms < 0 || ms > HOOK_WAIT_MAX ? -1 : (int) ms;
}

//  --------------------------------------------------------------------------
//  The flow

int
hook_begin (int *argc_p, char **argv, int command)
{
    int argc = *argc_p;
    s_hook.start_ms = hook_now_ms ();
    s_hook.agent = hook_agent_default ();
    s_hook_prepare_signal ();
    s_hook_install_handlers ();
    for (int i = command + 1; i < argc; i++)
        if (streq (argv[i], "-h") || streq (argv[i], "--help")) {
            //  Never an answer an agent would take as "go ahead"
            fputs (hook_usage, stdout);
            return 2;
        }
    //  --agent NAME (or --agent=NAME) after the command; the rest stays
    const char *agent_name = NULL;
    bool agent_missing = false;
    int kept = command + 1;
    for (int i = command + 1; i < argc; i++) {
        if (streq (argv[i], "--agent")) {
            if (i + 1 < argc)
                agent_name = argv[++i];
            else
                agent_missing = true;
        } else if (strncmp (argv[i], "--agent=", 8) == 0)
            agent_name = argv[i] + 8;
        else
            argv[kept++] = argv[i];
    }
    if (command < argc) {
        *argc_p = kept;
        argv[kept] = NULL;
    }
    //  Until an env file is read, the deadline comes from the environment
    int timeout_ms = s_hook_timeout (getenv ("LH_HOOK_TIMEOUT_MS"));
    s_hook_arm (timeout_ms > 0 ? timeout_ms : HOOK_TIMEOUT_DEFAULT);
    if (agent_missing)
        return hook_fail ("--agent needs a name: claude, codex, gemini, cursor or copilot");
    if (agent_name) {
        const hook_agent_t *agent = hook_agent_find (agent_name);
        if (!agent) {
            char what[160];
            snprintf (what, sizeof (what), "unknown --agent '%.64s' (%s)", agent_name,
                      hook_agent_names ());
            return hook_fail (what);
        }
        s_hook.agent = agent;
        s_hook_prepare_signal ();
    }

    size_t size = 0;
    int error = 0;
    char *text = hook_read_all (STDIN_FILENO, HOOK_INPUT_READ_MAX, &size, &error);
    if (!text) {
        char what[128];
        snprintf (what, sizeof (what), "cannot read the hook input: %s",
                  error == EFBIG ? "more than 16 MiB" : strerror (error));
        return hook_fail (what);
    }
    s_hook.text = text;
    s_hook.text_size = size;
    //  jansson would read /dev/urandom for its hash seed; the kernel gave
    //  every process 16 random bytes already
    const uint8_t *random = (const uint8_t *) getauxval (AT_RANDOM);
    if (random) {
        size_t seed;
        memcpy (&seed, random, sizeof (seed));
        json_object_seed (seed ? seed : 1);
    }
    json_error_t parse_error;
    s_hook.json = json_loadb (text, size, JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL, &parse_error);
    if (!s_hook.json) {
        char what[300];
        snprintf (what, sizeof (what), "the hook input is not JSON: line %d column %d: %s",
                  parse_error.line, parse_error.column, parse_error.text);
        return hook_fail (what);
    }
    char why[300];
    //  Not an object: the adapter finds none of its fields
    int rc = s_hook.agent->parse (s_hook.json, &s_hook.call, why, sizeof (why));
    if (s_hook.call.tool[0]) {
        s_hook.read_only = s_read_only_tool (s_hook.call.tool) && s_hook.call.can_ask;
        s_hook_prepare_signal ();
    }
    if (rc != 0)
        return hook_fail (why);
    if (!s_hook.call.cwd)
        return hook_fail ("the hook input has no absolute cwd");
    return HOOK_GO_ON;
}

void
hook_signals_again (void)
{
    s_hook_install_handlers ();
}

int
hook_deadline (int override_ms, int *timeout_ms, int *wait_ms)
{
    *wait_ms = s_hook_wait (getenv ("LH_HOOK_WAIT_MS"));
    *timeout_ms = s_hook_timeout (getenv ("LH_HOOK_TIMEOUT_MS"));
    if (override_ms > 0)
        *timeout_ms = override_ms <= HOOK_TIMEOUT_MAX ? override_ms : -1;
    if (*timeout_ms < 0)
        return hook_fail ("LH_HOOK_TIMEOUT_MS (or --timeout) is not 1 to 30000 ms");
    if (*wait_ms < 0)
        return hook_fail ("LH_HOOK_WAIT_MS is not 0 to 50000 ms");
    //  The validator holds an escalated call up to wait_ms, then answers
    *timeout_ms += *wait_ms;
    s_hook_arm (*timeout_ms);
    return HOOK_GO_ON;
}

int
hook_request (codec_buf_t *body, int wait_ms)
{
    hook_call_t *call = &s_hook.call;
    hook_request_t request = {.tool = call->tool,
                              .cwd = call->cwd,
                              .session = call->session,
                              .tool_use_id = call->tool_use_id,
                              .permission_mode = call->permission_mode,
                              .project_env = call->project_env,
                              .project = call->project,
                              .wait_ms = wait_ms};
    int replaced = 0;
    char why[1024];
    if (hook_pack_request (body, &request, call->input, &replaced, why, sizeof (why)) != 0)
        return hook_fail (why);
    return HOOK_GO_ON;
}

int
hook_verdict (const char *code, const char *message, const msgpack_object *root)
{
    bool ok = code && streq (code, "ok");
    hook_decision_t decision = ok ? hook_decision (root) : HOOK_DECISION_NONE;
    char err[1024], reason[1280], name[128], rule[64], text[512], capability[64];
    if (!ok) {
        snprintf (err, sizeof (err), "validate answered %s: %s", code ? code : "nothing",
                  message ? message : "");
        return hook_fail (err);
    }
    if (decision == HOOK_DECISION_NONE) {
        snprintf (err, sizeof (err), "validate sent no known decision ('%s')",
                  hook_field (root, "decision", name, sizeof (name)));
        return hook_fail (err);
    }
    hook_field (root, "decision", name, sizeof (name));
    if (decision == HOOK_DECISION_ESCALATE)
        snprintf (name + strlen (name), sizeof (name) - strlen (name), " to %s",
                  hook_field (root, "capability", capability, sizeof (capability)));
    int n = snprintf (reason, sizeof (reason), "Lighthouse %s (rule %s): %s", name,
                      hook_field (root, "rule", rule, sizeof (rule)),
                      hook_field (root, "reason", text, sizeof (text)));
    //  An agent that cannot ask blocks the call; the user can still approve it
    if (decision == HOOK_DECISION_ESCALATE && !s_hook.call.can_ask && n > 0 &&
        (size_t) n < sizeof (reason))
        snprintf (reason + n, sizeof (reason) - (size_t) n,
                  "; %s hooks cannot ask you, so it is blocked: to approve it, run it "
                  "yourself, or have the Lighthouse policy allow it",
                  s_hook.agent->label);
    return s_hook_answer (decision == HOOK_DECISION_ALLOW      ? HOOK_ALLOW
                          : decision == HOOK_DECISION_ESCALATE ? HOOK_ASK
                          : decision == HOOK_DECISION_DENY     ? HOOK_DENY
                                                               : HOOK_NONE,
                          reason);
}

void
hook_end (void)
{
    json_decref (s_hook.call.input);
    s_hook.call.input = NULL;
    json_decref (s_hook.json);
    s_hook.json = NULL;
    free (s_hook.text);
    s_hook.text = NULL;
}

void
hook_handoff (const char *program, char *const argv[])
{
    //  The input, where the program will read it: a pipe holds 64 KiB
    //  without a reader, a memory file any size
    int fd = memfd_create ("lh-hook-input", MFD_CLOEXEC);
    if (fd < 0)
        return;
    size_t done = 0;
    while (done < s_hook.text_size) {
        ssize_t n = write (fd, s_hook.text + done, s_hook.text_size - done);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            close (fd);
            return;
        }
        done += (size_t) n;
    }
    if (lseek (fd, 0, SEEK_SET) != 0 || dup2 (fd, STDIN_FILENO) < 0) {
        close (fd);
        return;
    }
    close (fd);
    //  An interval timer outlives exec: the program's own watchdog takes over
    struct itimerval off = {{0, 0}, {0, 0}};
    setitimer (ITIMER_REAL, &off, NULL);
    execv (program, argv);
    //  Not run: the watchdog again, for the failure the caller answers
    s_hook_arm (HOOK_TIMEOUT_DEFAULT);
}

void
hook_wire_put32 (uint8_t *at, uint32_t value)
{
    at[0] = (uint8_t) (value >> 24), at[1] = (uint8_t) (value >> 16);
    at[2] = (uint8_t) (value >> 8), at[3] = (uint8_t) value;
}

uint32_t
hook_wire_get32 (const uint8_t *at)
{
    return (uint32_t) at[0] << 24 | (uint32_t) at[1] << 16 | (uint32_t) at[2] << 8 | at[3];
}

int
hook_socket_path (char *out, size_t size)
{
    const char *path = getenv ("LH_HOOKD_SOCKET");
    const char *runtime = getenv ("XDG_RUNTIME_DIR");
    int n;
    if (path && *path)
        n = snprintf (out, size, "%s", path);
    else if (runtime && runtime[0] == '/')
        n = snprintf (out, size, "%s/lighthouse/hookd.sock", runtime);
    else
        n = snprintf (out, size, "/tmp/lighthouse-%u/hookd.sock", (unsigned) geteuid ());
    return n > 0 && (size_t) n < size ? 0 : -1;
}
