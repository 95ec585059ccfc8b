/*  lh-hook-bench -- the hook as an agent runs it: one process per tool call,
    timed from spawn to exit against a warm CURVE cluster (a broker and the
    real lh-validator with the default policy), in one run:

      floor     a static program that only exits (lh-hook --help; the least
                any hook process costs on this machine)
      true      /bin/true (dynamic libc only)
      lh        lh --env FILE hook: its libraries, a CURVE handshake, one call
      lh-hook   lh-hook through a warm lh-hookd
      handoff   lh-hook with no lh-hookd: it hands the call to lh hook

    Rounds interleave the kinds, so that noise falls on all of them alike.
    CPU is the child's own (wait4), and for lh-hook lh-hookd's share per
    call (its /proc stat before and after). Every answer is checked: the
    allowed command must exit 0 with "allow", the denied one exit 2.
*/
#include "bench.h"
#include "launcher.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <spawn.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define TOOL "lh-hook-bench"

extern char **environ;

typedef enum { K_FLOOR, K_TRUE, K_LH, K_HOOK, K_HANDOFF, K_COUNT } kind_t;
static const char *s_kind_name[K_COUNT] = {"floor", "true", "lh", "lh-hook", "handoff"};

typedef struct {
    hist_t wall; //  microseconds
    double cpu_us, hookd_cpu_us;
    int runs, wrong;
} result_t;

static const char s_allow[] = "{\"session_id\":\"bench\",\"hook_event_name\":\"PreToolUse\","
                              "\"tool_name\":\"Bash\",\"tool_input\":{\"command\":\"ls -la\"},"
                              "\"cwd\":\"/tmp\"}";
static const char s_deny[] = "{\"session_id\":\"bench\",\"hook_event_name\":\"PreToolUse\","
                             "\"tool_name\":\"Bash\",\"tool_input\":{\"command\":\"rm -rf ~\"},"
                             "\"cwd\":\"/tmp\"}";

//  A memory file holding text, for a child's stdin
static int
s_input (const char *text)
{
    int fd = memfd_create ("hook-input", 0);
    if (fd < 0 || write (fd, text, strlen (text)) != (ssize_t) strlen (text))
        return -1;
    return fd;
}

static long
s_cpu_ticks (pid_t pid)
{
    char path[64], line[1024];
    snprintf (path, sizeof (path), "/proc/%d/stat", (int) pid);
    FILE *file = fopen (path, "r");
    if (!file)
        return 0;
    long ticks = 0;
    if (fgets (line, sizeof (line), file)) {
        char *at = strrchr (line, ')');
        unsigned long utime = 0, stime = 0;
        if (at && sscanf (at + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &utime,
                          &stime) == 2)
            ticks = (long) (utime + stime);
    }
    fclose (file);
    return ticks;
}

//  One spawn to exit: its wall time and CPU into r; the exit status back
static int
s_once (char *const argv[], char *const envp[], int input, result_t *r)
{
    lseek (input, 0, SEEK_SET);
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init (&actions);
    posix_spawn_file_actions_adddup2 (&actions, input, 0);
    posix_spawn_file_actions_addopen (&actions, 1, "/dev/null", O_WRONLY, 0);
    posix_spawn_file_actions_addopen (&actions, 2, "/dev/null", O_WRONLY, 0);
    uint64_t t0 = bench_now_ns ();
    pid_t pid;
    int rc = posix_spawn (&pid, argv[0], &actions, NULL, argv, envp);
    posix_spawn_file_actions_destroy (&actions);
    if (rc != 0)
        return -1;
    int status;
    struct rusage usage;
    while (wait4 (pid, &status, 0, &usage) < 0 && errno == EINTR)
        ;
    uint64_t t1 = bench_now_ns ();
    hist_record (&r->wall, (t1 - t0) / 1000);
    r->cpu_us += (double) (usage.ru_utime.tv_sec + usage.ru_stime.tv_sec) * 1e6 +
                 (double) (usage.ru_utime.tv_usec + usage.ru_stime.tv_usec);
    r->runs++;
    return WIFEXITED (status) ? WEXITSTATUS (status) : 128 + WTERMSIG (status);
}

static void
s_usage (FILE *out)
{
    fprintf (out, "Usage: " TOOL " [--calls N] [--rounds N] [--json FILE] [--source TEXT]\n"
                  "The hook from spawn to exit, beside its floors (bench/README.md).\n"
                  "  --calls N    spawns of each kind per round (default 100)\n"
                  "  --rounds N   rounds, kinds interleaved (default 5)\n"
                  "  --json FILE  also write the figures as JSON\n");
}

int
main (int argc, char **argv)
{
    int calls = 100, rounds = 5;
    const char *json_path = NULL, *source = "unknown";
    static const struct option longs[] = {
        {"calls", required_argument, NULL, 'n'}, {"rounds", required_argument, NULL, 'r'},
        {"json", required_argument, NULL, 'j'},  {"source", required_argument, NULL, 's'},
        {"help", no_argument, NULL, 'h'},        {NULL, 0, NULL, 0}};
    int c;
    while ((c = getopt_long (argc, argv, "h", longs, NULL)) != -1) {
        if (c == 'n')
            calls = atoi (optarg);
        else if (c == 'r')
            rounds = atoi (optarg);
        else if (c == 'j')
            json_path = optarg;
        else if (c == 's')
            source = optarg;
        else {
            s_usage (c == 'h' ? stdout : stderr);
            return c == 'h' ? 0 : 2;
        }
    }
    if (calls < 1 || rounds < 1) {
        s_usage (stderr);
        return 2;
    }
    proc_init ();
    launcher_t *launcher = launcher_new (NULL);
    if (!launcher)
        return 1;
    launcher_set_bin (launcher, LAUNCHER_BROKER, LH_BENCH_BROKER);
    launcher_set_bin (launcher, LAUNCHER_VALIDATOR, LH_BENCH_VALIDATOR);
    launcher_keygen (launcher, "agent-1", "agent");
    int failed = 0;
    if (launcher_start_broker (launcher, NULL) != 0 ||
        launcher_start_validator (launcher, LH_BENCH_POLICY, "--log-level warn", true) <= 0) {
        fprintf (stderr, TOOL ": the cluster did not start; see %s\n", launcher_dir (launcher));
        launcher_set_keep (launcher, true);
        launcher_destroy (&launcher);
        return 1;
    }
    const char *dir = launcher_dir (launcher);
    char cert[PATH_MAX], socket_dir[PATH_MAX], socket_path[PATH_MAX + 16], env_path[PATH_MAX];
    launcher_cert_path (launcher, "agent-1", cert, sizeof (cert));
    snprintf (socket_dir, sizeof (socket_dir), "%s/hookd", dir);
    mkdir (socket_dir, 0700);
    snprintf (socket_path, sizeof (socket_path), "%s/hookd.sock", socket_dir);
    snprintf (env_path, sizeof (env_path), "%s/agent.env", dir);
    FILE *env = fopen (env_path, "w");
    if (!env)
        return 1;
    fprintf (env, "LH_BROKER='%s'\nLH_BROKER_KEY='%s'\nLH_CERT='%s'\n",
             launcher_frontend (launcher), launcher_broker_key (launcher), cert);
    fclose (env);

    char hookd_log[PATH_MAX + 16];
    snprintf (hookd_log, sizeof (hookd_log), "%s/hookd.log", dir);
    char *hookd_argv[] = {(char *) LH_BENCH_HOOKD,
                          (char *) "--socket",
                          socket_path,
                          (char *) "--broker",
                          (char *) launcher_frontend (launcher),
                          (char *) "--broker-key",
                          (char *) launcher_broker_key (launcher),
                          (char *) "--cert",
                          cert,
                          (char *) "--log-level",
                          (char *) "warn",
                          NULL};
    pid_t hookd = launcher_spawn (launcher, "lh-hookd", hookd_argv, hookd_log, -1, -1);
    struct stat st;
    for (int i = 0; i < 100 && stat (socket_path, &st) != 0; i++)
        usleep (20000);

    //  Environments: lh-hook finds lh-hookd by LH_HOOKD_SOCKET; handoff
    //  points it where nothing listens, and lh hook reads the broker's env
    char socket_env[PATH_MAX + 32], none_env[PATH_MAX + 32], broker_env[512], key_env[128],
        cert_env[PATH_MAX + 16];
    snprintf (socket_env, sizeof (socket_env), "LH_HOOKD_SOCKET=%s", socket_path);
    snprintf (none_env, sizeof (none_env), "LH_HOOKD_SOCKET=%s/none.sock", socket_dir);
    snprintf (broker_env, sizeof (broker_env), "LH_BROKER=%s", launcher_frontend (launcher));
    snprintf (key_env, sizeof (key_env), "LH_BROKER_KEY=%s", launcher_broker_key (launcher));
    snprintf (cert_env, sizeof (cert_env), "LH_CERT=%s", cert);
    char *env_hook[] = {socket_env, (char *) "PATH=/usr/bin:/bin", NULL};
    char *env_handoff[] = {none_env, broker_env, key_env, cert_env, (char *) "PATH=/usr/bin:/bin",
                           NULL};
    char *env_plain[] = {(char *) "PATH=/usr/bin:/bin", NULL};
    char *argv_floor[] = {(char *) LH_BENCH_HOOK, (char *) "--help", NULL};
    char *argv_true[] = {(char *) "/bin/true", NULL};
    char *argv_lh[] = {(char *) LH_BENCH_LH, (char *) "--env", env_path, (char *) "hook", NULL};
    char *argv_hook[] = {(char *) LH_BENCH_HOOK, NULL};
    char *const *argvs[K_COUNT] = {argv_floor, argv_true, argv_lh, argv_hook, argv_hook};
    char *const *envps[K_COUNT] = {env_plain, env_plain, env_plain, env_hook, env_handoff};
    int expect_allow[K_COUNT] = {2, 0, 0, 0, 0};

    int allow_fd = s_input (s_allow), deny_fd = s_input (s_deny);
    result_t results[K_COUNT];
    memset (results, 0, sizeof (results));
    for (int k = 0; k < K_COUNT; k++)
        hist_reset (&results[k].wall);
    //  Warm up: page cache, the validator's first calls
    for (int k = 0; k < K_COUNT; k++)
        for (int i = 0; i < 5; i++) {
            result_t scratch;
            memset (&scratch, 0, sizeof (scratch));
            hist_reset (&scratch.wall);
            s_once (argvs[k], envps[k], allow_fd, &scratch);
        }
    for (int round = 0; round < rounds; round++) {
        for (int k = 0; k < K_COUNT; k++) {
            result_t *r = &results[k];
            long hookd0 = s_cpu_ticks (hookd);
            for (int i = 0; i < calls; i++) {
                //  One call in ten is the denied command
                bool deny = k >= K_LH && i % 10 == 9;
                int status = s_once (argvs[k], envps[k], deny ? deny_fd : allow_fd, r);
                if (status != (deny ? 2 : expect_allow[k]))
                    r->wrong++;
            }
            if (k == K_HOOK)
                r->hookd_cpu_us +=
                    (double) (s_cpu_ticks (hookd) - hookd0) * 1e6 / (double) sysconf (_SC_CLK_TCK);
        }
        bench_progress (TOOL, "round %d of %d", round + 1, rounds);
    }

    char load[64];
    proc_loadavg (load, sizeof (load));
    printf ("# lh-hook-bench (source %s), %d calls of each kind, %d rounds interleaved, load %s\n",
            source, calls * rounds, rounds, load);
    printf ("| kind | p50 ms | p90 ms | p99 ms | CPU ms per call | lh-hookd CPU ms per call | "
            "wrong |\n|---|---|---|---|---|---|---|\n");
    FILE *json = json_path ? fopen (json_path, "w") : NULL;
    if (json)
        fprintf (json, "{\"source\": \"%s\", \"calls\": %d, \"rounds\": %d, \"kinds\": {", source,
                 calls * rounds, rounds);
    for (int k = 0; k < K_COUNT; k++) {
        result_t *r = &results[k];
        double p50 = (double) hist_percentile (&r->wall, 50) / 1000.0;
        double p90 = (double) hist_percentile (&r->wall, 90) / 1000.0;
        double p99 = (double) hist_percentile (&r->wall, 99) / 1000.0;
        double cpu = r->runs ? r->cpu_us / r->runs / 1000.0 : 0;
        double hookd_cpu = k == K_HOOK && r->runs ? r->hookd_cpu_us / r->runs / 1000.0 : 0;
        char hookd_text[32] = "-";
        if (k == K_HOOK)
            snprintf (hookd_text, sizeof (hookd_text), "%.3f", hookd_cpu);
        printf ("| %s | %.2f | %.2f | %.2f | %.2f | %s | %d |\n", s_kind_name[k], p50, p90, p99,
                cpu, hookd_text, r->wrong);
        if (json)
            fprintf (json,
                     "%s\"%s\": {\"p50_ms\": %.3f, \"p90_ms\": %.3f, \"p99_ms\": %.3f, "
                     "\"cpu_ms\": %.3f, \"hookd_cpu_ms\": %.3f, \"wrong\": %d}",
                     k ? ", " : "", s_kind_name[k], p50, p90, p99, cpu, hookd_cpu, r->wrong);
        failed |= r->wrong > 0;
    }
    double lh50 = (double) hist_percentile (&results[K_LH].wall, 50);
    double hook50 = (double) hist_percentile (&results[K_HOOK].wall, 50);
    double floor50 = (double) hist_percentile (&results[K_FLOOR].wall, 50);
    printf ("\nlh-hook / lh hook, p50: %.3fx; lh-hook over the static floor, p50: +%.2f ms\n",
            hook50 / lh50, (hook50 - floor50) / 1000.0);
    if (json) {
        fprintf (json, "}, \"hook_over_lh_p50\": %.4f, \"hook_over_floor_p50_ms\": %.3f}\n",
                 hook50 / lh50, (hook50 - floor50) / 1000.0);
        fclose (json);
    }
    close (allow_fd);
    close (deny_fd);
    launcher_destroy (&launcher);
    return failed;
}
