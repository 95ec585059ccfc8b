/*  hookrun -- the hook programs (lh hook, lh-hook, lh-hookd) as child
    processes of the integration tests (test_hook, test_hookd).

    A program runs with arguments, a clean environment (PATH=/usr/bin:/bin,
    HOME=/home/dev and the test's "K=V" strings) and stdin from a file or a
    descriptor; its stdout and stderr go to DIR/run.out and DIR/run.err, and
    hookrun_collect reads them back into a hookrun_t once it has exited.
    Every failure here fails the test (cmocka). */
#ifndef LH_HOOKRUN_H_INCLUDED
#define LH_HOOKRUN_H_INCLUDED

#include "harness.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

//  LH_SANITIZED: this build runs under AddressSanitizer or ThreadSanitizer,
//  as do the programs (slower, and owners of malloc)
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define LH_SANITIZED 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
#define LH_SANITIZED 1
#endif
#endif

//  A finished run
typedef struct {
    int status;         //  exit status, or 128 + signal
    char *out;          //  its stdout (owned: hookrun_free)
    char *err;          //  its stderr (owned: hookrun_free)
    int64_t elapsed_ms; //  from the start the caller took to its exit
} hookrun_t;

//  A program and how its child is set up
typedef struct {
    const char *bin; //  path of the program
    //  Also: default signal dispositions, no signal blocked, no descriptor
    //  above 2 inherited, and the sanitizers' settings (ASAN_OPTIONS,
    //  UBSAN_OPTIONS, LSAN_OPTIONS) kept in its environment
    bool isolated;
    uid_t uid; //  the user (and gid) it runs as; 0: ours
    gid_t gid;
} hookrun_prog_t;

//  Starts prog with args (NULL-terminated, at most 30) and env (NULL or
//  NULL-terminated "K=V"), stdin from stdin_fd when >= 0 (the child's copy;
//  the caller keeps its own), else from stdin_path (NULL: /dev/null),
//  stdout and stderr to DIR/run.out and DIR/run.err. No wait.
pid_t hookrun_spawn (const hookrun_prog_t *prog, const char *dir, const char *const *args,
                     const char *const *env, const char *stdin_path, int stdin_fd);
//  Waits for pid (from hookrun_spawn with the same dir) and fills r: its
//  status, the time since start (zclock_mono) and its output.
void hookrun_collect (const char *dir, pid_t pid, int64_t start, hookrun_t *r);
//  Runs prog to its end with len bytes of stdin_text (NULL: none) on stdin,
//  written to DIR/run.in. The caller hookrun_frees the result.
hookrun_t hookrun_run (const hookrun_prog_t *prog, const char *dir, const char *const *args,
                       const char *const *env, const char *stdin_text, size_t len);
//  Frees a run's output (r itself is the caller's).
void hookrun_free (hookrun_t *r);

//  Writes len bytes of text to DIR/run.in (hookrun_run's stdin file) and
//  its path into path (size bytes).
void hookrun_stdin (const char *dir, const char *text, size_t len, char *path, size_t size);

//  In a forked child before exec: what hookrun_prog_t.isolated sets up,
//  PATH=/usr/bin:/bin the only other variable left.
void hookrun_child_isolate (void);
//  In a forked child: becomes uid/gid with no supplementary groups; 0, or
//  -1 when it cannot.
int hookrun_become (uid_t uid, gid_t gid);

//  Hook JSON as Claude Code sends it for tool with input (a JSON object's
//  text): session sess-42, cwd /work/p, tool_use_id toolu_01ABC. The
//  caller frees it.
char *hookrun_hook_json (const char *tool, const char *input);
//  Writes DIR/hook.env for the cluster's frontend and broker key with the
//  certificate DIR/CERT_NAME.cert_secret; its path, in a static buffer that
//  the next call overwrites.
const char *hookrun_env_file (const cluster_t *c, const char *cert_name);

//  The whole file at path (the caller frees it); "" when there is none.
char *hookrun_slurp (const char *path);
//  Writes len bytes of text to path, replacing it.
void hookrun_write (const char *path, const char *text, size_t len);

#endif
