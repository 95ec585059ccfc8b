/*  bench.h -- the pieces of lh-bench, the Lighthouse load generator.

    hist    log-linear latency histogram (HDR-style, < 0.8% relative error)
    proc    signals, /proc readers (child processes and clusters are the
            launcher's: ops/launcher)
    load    closed-loop load: client threads each with a pipelining depth
    serve   the direct ROUTER echo server used as the baseline (a child)
    conns   the connection holders of the 10k-client test (children)
    mix     the validate request mix (bench/validate-mix.tsv)
    agents  many synchronous agents in one thread (children of --suite validate)
    validate  the validate suite: echo vs validate through one broker

    lh-events-bench (events.c, bench/run-events) and lh-escalation-bench
    (escalation.c, bench/run-escalation) share hist and proc; lh-brokers-bench
    (brokers.c, bench/run-brokers) hist, proc and mix.
*/
#ifndef LH_BENCH_H_INCLUDED
#define LH_BENCH_H_INCLUDED

#include <czmq.h>
#include <msgpack.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "lh_connect.h"

//  --------------------------------------------------------------------------
//  hist

#define HIST_SUB_BITS 7
#define HIST_SUB      (1 << HIST_SUB_BITS)
#define HIST_BUCKETS  ((64 - HIST_SUB_BITS + 1) * HIST_SUB)

typedef struct {
    uint64_t counts[HIST_BUCKETS];
    uint64_t count;
    uint64_t min;
    uint64_t max;
    double sum;
} hist_t;

void hist_reset (hist_t *self);
void hist_record (hist_t *self, uint64_t value);
void hist_merge (hist_t *self, const hist_t *other);
//  Value at percentile p (0..100]; 0 when empty. Exact min and max at the ends.
uint64_t hist_percentile (const hist_t *self, double p);
double hist_mean (const hist_t *self);

//  Monotonic clock, nanoseconds.
uint64_t bench_now_ns (void);
//  Writes text as a JSON string, quotes included.
void bench_json_string (FILE *out, const char *text);
//  One progress line on stderr: "[tool] message".
void bench_progress (const char *tool, const char *format, ...)
    __attribute__ ((format (printf, 2, 3)));

//  --------------------------------------------------------------------------
//  proc

//  Set by SIGINT/SIGTERM; every loop in the bench checks it.
extern volatile sig_atomic_t bench_stop;

//  Installs SIGINT/SIGTERM/SIGHUP handlers that stop the run (a second
//  signal kills the children at once and exits) and ignores SIGPIPE. The
//  launcher stops every child still running at exit.
void proc_init (void);

//  Raises RLIMIT_NOFILE (soft and, if allowed, hard) to want; returns the
//  soft limit now in force. Children inherit it.
long proc_raise_nofile (long want);

//  Reads one line (without its newline) from a child's pipe into buf,
//  waiting until the monotonic ms `until`. 0, or -1 on timeout, EOF, error
//  or bench_stop.
int proc_read_line (int fd, char *buf, size_t size, int64_t until);
//  Reads count "PUBLIC SECRET" Z85 key lines, skipping the first `first`
//  lines of path (the holder and agent processes share one keys file).
//  Returns the number read, or -1 when the file cannot be opened.
int proc_load_keys (const char *path, int first, int count, char (*pub)[41], char (*sec)[41]);

//  The directory of this program's binary (the binaries it runs are found
//  from there). 0, or -1 when /proc/self/exe cannot be read.
int proc_self_dir (char *out, size_t size);
//  The binary to run: given when set, else self_dir/relative, else built_in
//  (a path fixed at build time). out gets the last one tried; false when it
//  is not executable.
bool proc_find_bin (char *out, size_t size, const char *given, const char *self_dir,
                    const char *relative, const char *built_in);
//  proc_find_bin, telling on stderr what was not found and which option
//  names it ("TOOL: NAME not found (tried PATH); use OPTION").
bool proc_find_bin_named (char *out, size_t size, const char *given, const char *self_dir,
                          const char *relative, const char *built_in, const char *tool,
                          const char *name, const char *option);
//  An executable called name in $PATH into out ("" and false when none).
bool proc_which (char *out, size_t size, const char *name);
//  True when word is one of the comma-separated list (--phases a,b,c).
bool proc_listed (const char *list, const char *word);
//  What every bench that runs a cluster does first: zsys_init, czmq's own
//  logging off, proc_init, RLIMIT_NOFILE raised to 65536, no czmq socket
//  limit, linger 0.
void proc_start (void);

//  The command line as a shell would take it back, quoted where needed
//  (for reports); the caller frees it. NULL when out of memory.
char *proc_command_line (int argc, char **argv);

//  Sleeps until the monotonic time t (bench_now_ns), in steps of at most
//  50 ms so that bench_stop is seen.
void proc_sleep_until (uint64_t t);

//  /proc/loadavg without its newline ("?" when unreadable).
void proc_loadavg (char *out, size_t size);

//  VmRSS or VmHWM of a process in KiB; -1 if unreadable.
long proc_rss_kib (pid_t pid);
long proc_hwm_kib (pid_t pid);
//  Open file descriptors of a process; -1 if unreadable.
long proc_fd_count (pid_t pid);

//  CPU used by a process, per thread, between two snapshots.
#define CPU_MAX_THREADS 256
typedef struct {
    int tid;
    char comm[24];
    uint64_t ticks;     //  utime + stime
    uint64_t sys_ticks; //  stime alone (system calls, the kernel's share)
} cpu_thread_t;

typedef struct {
    pid_t pid;
    uint64_t at_ns;
    int threads;
    cpu_thread_t thread[CPU_MAX_THREADS];
} cpu_snap_t;

void cpu_snap (cpu_snap_t *snap, pid_t pid);
//  CPU percent (100 = one core) of the whole process, and of the busiest
//  thread (its name in top_comm) between a and b.
double cpu_percent (const cpu_snap_t *a, const cpu_snap_t *b, double *top_pct, char *top_comm,
                    size_t top_size);
//  CPU percent of the threads whose name starts with prefix.
double cpu_percent_prefix (const cpu_snap_t *a, const cpu_snap_t *b, const char *prefix);
//  CPU percent of one thread (the main thread's tid is the pid: worker
//  threads of libuv's pool carry the same name, so names cannot tell them).
double cpu_percent_tid (const cpu_snap_t *a, const cpu_snap_t *b, int tid);
//  System (kernel) CPU percent of the whole process.
double cpu_percent_sys (const cpu_snap_t *a, const cpu_snap_t *b);

//  Whole host, from /proc/stat: busy and total jiffies over all CPUs.
typedef struct {
    uint64_t busy;
    uint64_t total;
    uint64_t iowait; //  idle with I/O outstanding (not in busy)
} host_snap_t;
void host_snap (host_snap_t *snap);
//  Busy percent between a and b, 100 = one core.
double host_busy_percent (const host_snap_t *a, const host_snap_t *b);
//  The host's busy percent over the next ms milliseconds (sleeps that long):
//  what else the machine does, before a bench adds anything.
double host_busy_over (int ms);
//  I/O wait percent between a and b, 100 = one core.
double host_iowait_percent (const host_snap_t *a, const host_snap_t *b);

//  --------------------------------------------------------------------------
//  load

typedef struct {
    const char *endpoint;
    const char *server_key; //  NULL: plaintext
    zcert_t **certs;        //  one per client (CURVE), borrowed
    int clients;
    int depth;
    double warmup_s;
    double duration_s;
    double drain_s;
    int timeout_ms;
    const void *body; //  msgpack map without id
    size_t body_size;
    const char *service;
} load_config_t;

#define LOAD_ERR_KINDS 16

typedef struct {
    hist_t hist;                      //  latency of replies in the window, ns
    uint64_t ok;                      //  ok replies in the window
    uint64_t window_ns;               //  measured window length
    uint64_t total_ok;                //  ok replies, whole run
    uint64_t errors;                  //  error replies + failed sends + lost, whole run
    uint64_t send_failed;             //  lh_client_send refused
    uint64_t lost;                    //  still pending after the drain
    uint64_t by_code[LOAD_ERR_KINDS]; //  error replies by lh_err_t
    uint64_t dropped;                 //  lh_client_dropped: unmatched replies
    int clients_failed;               //  lh_client_new failed
} load_result_t;

//  Runs one closed-loop scenario: clients threads with depth requests in
//  flight each, warmup, measured window, drain. Blocks for about
//  warmup + duration (+ drain when replies are late). on_window (if set) is
//  called with arg at the start (phase 1) and end (phase 2) of the window.
void load_run (const load_config_t *config, load_result_t *result,
               void (*on_window) (int phase, void *arg), void *arg);

//  Builds the bench request body, a msgpack map {"payload": <str size>}.
void load_body (msgpack_sbuffer *buf, size_t payload_size);

//  --------------------------------------------------------------------------
//  serve and conns: subcommands run in child processes (argv[1])

//  lh-bench --serve-direct ENDPOINT [SECRET_CERT_PATH]
int serve_direct_main (int argc, char **argv);
//  lh-bench --hold ENDPOINT SERVER_KEY KEYS_FILE FIRST COUNT WINDOW TIMEOUT_MS
int conns_hold_main (int argc, char **argv);

//  --------------------------------------------------------------------------
//  mix: the validate requests, by class

typedef enum { MIX_SAFE, MIX_RISKY, MIX_COMPLEX, MIX_CLASSES } mix_class_t;

typedef struct {
    mix_class_t cls;
    char *tool;
    char *expected;        //  allow | escalate | deny
    char *label;           //  the command or path, for messages
    msgpack_sbuffer input; //  the tool input, packed
} mix_entry_t;

typedef struct {
    mix_entry_t *entry;
    int count;
    int *of_class[MIX_CLASSES]; //  entry indexes by class
    int in_class[MIX_CLASSES];
} mix_t;

extern const char *mix_class_name[MIX_CLASSES];
//  Share of each class in the mix, percent (70 / 20 / 10)
extern const int mix_class_pct[MIX_CLASSES];

//  Loads the mix file; -1 with a message in err. Every class must have an entry.
int mix_load (mix_t *self, const char *path, char *err, size_t err_size);
void mix_destroy (mix_t *self);
//  The project every request names, its home, and the cwd of a warm request
//  (cold requests use a unique directory of the same length beside it)
#define MIX_HOME    "/home/dev"
#define MIX_PROJECT "/home/dev/proj"
//  Appends the validate body (a map without id) of entry index with cwd to buf
void mix_body (const mix_t *self, int index, const char *cwd, msgpack_sbuffer *buf);
//  cwd of a request: warm (token NULL) or the unique directory for token;
//  always MIX_CWD_LEN characters
#define MIX_CWD_LEN 37
void mix_cwd (char *buf, size_t size, const char *token);
//  Picks an entry: a class by its share, then an entry of it uniformly
int mix_pick (const mix_t *self, uint64_t *rng);
//  Mean size of a warm body, weighted as the mix draws
double mix_mean_body (const mix_t *self);
//  xorshift64*: the bench's deterministic random numbers
uint64_t mix_rand (uint64_t *state);

//  --------------------------------------------------------------------------
//  agents: a child holding COUNT agents, each a DEALER from
//  lh_connect_dealer with its own key, one request in flight each

typedef enum { AGENTS_ECHO, AGENTS_WARM, AGENTS_COLD } agents_mode_t;

typedef struct {
    hist_t hist[MIX_CLASSES];    //  latency of ok replies in the window by class (echo: [0])
    uint64_t ok[MIX_CLASSES];    //  ok replies in the window by class
    uint64_t wrong[MIX_CLASSES]; //  validate decisions other than expected, window
    uint64_t cached;             //  validate replies that said cached: true, window
    uint64_t window_ns;          //  the window as this child saw it
    uint64_t total_ok;           //  ok replies, warmup + window + drain
    uint64_t errors;             //  error replies + timeouts + failed sends + lost
    uint64_t send_failed;
    uint64_t timeouts; //  no reply within the timeout (no resends)
    uint64_t lost;     //  still pending at the end of the drain
    uint64_t dropped;  //  replies to no pending request (late, or malformed)
    uint64_t by_code[LOAD_ERR_KINDS];
    uint64_t req_bytes; //  request bodies sent in the window (with id)
    uint64_t rep_bytes; //  reply bodies received in the window
    uint64_t sent;      //  requests sent in the window
    int agents;
    int agents_failed;
} agents_result_t;

//  lh-bench --agents ENDPOINT SERVER_KEY KEYS_FILE FIRST COUNT MIX_FILE
//                    ECHO_PAYLOAD TIMEOUT_MS CONNECT_TIMEOUT_MS RESULT_FILE
int agents_main (int argc, char **argv);

//  --------------------------------------------------------------------------
//  validate suite: lh-bench --suite validate [OPTIONS]
int validate_main (int argc, char **argv);

#endif
