/*  proc -- the bench's signals and /proc readers. See bench.h. Child
    processes are the launcher's (ops/launcher). */
#include "bench.h"

#include "launcher.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

volatile sig_atomic_t bench_stop;

static void
s_on_signal (int signum)
{
    (void) signum;
    if (bench_stop) {
        //  Second signal: do not wait for anything
        launcher_kill_all ();
        _exit (130);
    }
    bench_stop = 1;
    zsys_interrupted = 1;
}

void
proc_init (void)
{
    struct sigaction action = {.sa_handler = s_on_signal};
    sigemptyset (&action.sa_mask);
    sigaction (SIGINT, &action, NULL);
    sigaction (SIGTERM, &action, NULL);
    sigaction (SIGHUP, &action, NULL);
    signal (SIGPIPE, SIG_IGN);
}

long
proc_raise_nofile (long want)
{
    struct rlimit rl;
    if (getrlimit (RLIMIT_NOFILE, &rl) != 0)
        return -1;
    struct rlimit raised = {(rlim_t) want, (rlim_t) want};
    if (rl.rlim_max != RLIM_INFINITY && rl.rlim_max >= (rlim_t) want)
        raised.rlim_max = rl.rlim_max;
    if (setrlimit (RLIMIT_NOFILE, &raised) != 0) {
        //  Not allowed past the hard limit (no CAP_SYS_RESOURCE): take what there is
        raised.rlim_cur = rl.rlim_max;
        raised.rlim_max = rl.rlim_max;
        setrlimit (RLIMIT_NOFILE, &raised);
    }
    getrlimit (RLIMIT_NOFILE, &rl);
    return rl.rlim_cur == RLIM_INFINITY ? want : (long) rl.rlim_cur;
}

static long
s_status_kib (pid_t pid, const char *field)
{
    char path[64];
    snprintf (path, sizeof (path), "/proc/%d/status", (int) pid);
    FILE *file = fopen (path, "r");
    if (!file)
        return -1;
    char line[256];
    long value = -1;
    size_t len = strlen (field);
    while (fgets (line, sizeof (line), file))
        if (strncmp (line, field, len) == 0 && line[len] == ':') {
            value = strtol (line + len + 1, NULL, 10);
            break;
        }
    fclose (file);
    return value;
}

long
proc_rss_kib (pid_t pid)
{
    return s_status_kib (pid, "VmRSS");
}

long
proc_hwm_kib (pid_t pid)
{
    return s_status_kib (pid, "VmHWM");
}

long
proc_fd_count (pid_t pid)
{
    char path[64];
    snprintf (path, sizeof (path), "/proc/%d/fd", (int) pid);
    DIR *dir = opendir (path);
    if (!dir)
        return -1;
    long count = 0;
    struct dirent *entry;
    while ((entry = readdir (dir)))
        if (entry->d_name[0] != '.')
            count++;
    closedir (dir);
    return count;
}

void
cpu_snap (cpu_snap_t *snap, pid_t pid)
{
    snap->pid = pid;
    snap->threads = 0;
    snap->at_ns = bench_now_ns ();
    char path[64];
    snprintf (path, sizeof (path), "/proc/%d/task", (int) pid);
    DIR *dir = opendir (path);
    if (!dir)
        return;
    struct dirent *entry;
    while ((entry = readdir (dir)) && snap->threads < CPU_MAX_THREADS) {
        if (entry->d_name[0] == '.')
            continue;
        char stat_path[320];
        snprintf (stat_path, sizeof (stat_path), "/proc/%d/task/%s/stat", (int) pid, entry->d_name);
        FILE *file = fopen (stat_path, "r");
        if (!file)
            continue;
        char buf[1024];
        size_t n = fread (buf, 1, sizeof (buf) - 1, file);
        fclose (file);
        buf[n] = 0;
        char *open = strchr (buf, '(');
        char *close_paren = strrchr (buf, ')');
        if (!open || !close_paren)
            continue;
        cpu_thread_t *t = &snap->thread[snap->threads];
        t->tid = atoi (entry->d_name);
        snprintf (t->comm, sizeof (t->comm), "%.*s", (int) (close_paren - open - 1), open + 1);
        //  After ") ": state(3) ppid pgrp session tty tpgid flags minflt cminflt majflt
        //  cmajflt utime(14) stime(15)
        unsigned long long utime = 0, stime = 0;
        if (sscanf (close_paren + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu",
                    &utime, &stime) == 2) {
            t->ticks = utime + stime;
            t->sys_ticks = stime;
            snap->threads++;
        }
    }
    closedir (dir);
}

static const cpu_thread_t *
s_find_thread (const cpu_snap_t *snap, int tid)
{
    for (int i = 0; i < snap->threads; i++)
        if (snap->thread[i].tid == tid)
            return &snap->thread[i];
    return NULL;
}

static double
s_ticks_to_pct (uint64_t ticks, uint64_t ns)
{
    static long hz;
    if (!hz)
        hz = sysconf (_SC_CLK_TCK);
    if (!ns || hz <= 0)
        return 0;
    return 100.0 * ((double) ticks / (double) hz) / ((double) ns / 1e9);
}

double
cpu_percent (const cpu_snap_t *a, const cpu_snap_t *b, double *top_pct, char *top_comm,
             size_t top_size)
{
    uint64_t total = 0, top = 0;
    const char *top_name = "";
    for (int i = 0; i < b->threads; i++) {
        const cpu_thread_t *before = s_find_thread (a, b->thread[i].tid);
        uint64_t used = b->thread[i].ticks - (before ? before->ticks : 0);
        total += used;
        if (used > top) {
            top = used;
            top_name = b->thread[i].comm;
        }
    }
    uint64_t ns = b->at_ns - a->at_ns;
    if (top_pct)
        *top_pct = s_ticks_to_pct (top, ns);
    if (top_comm)
        snprintf (top_comm, top_size, "%s", top_name);
    return s_ticks_to_pct (total, ns);
}

double
cpu_percent_prefix (const cpu_snap_t *a, const cpu_snap_t *b, const char *prefix)
{
    uint64_t total = 0;
    for (int i = 0; i < b->threads; i++) {
        if (strncmp (b->thread[i].comm, prefix, strlen (prefix)) != 0)
            continue;
        const cpu_thread_t *before = s_find_thread (a, b->thread[i].tid);
        total += b->thread[i].ticks - (before ? before->ticks : 0);
    }
    return s_ticks_to_pct (total, b->at_ns - a->at_ns);
}

double
cpu_percent_tid (const cpu_snap_t *a, const cpu_snap_t *b, int tid)
{
    const cpu_thread_t *after = s_find_thread (b, tid);
    if (!after)
        return 0;
    const cpu_thread_t *before = s_find_thread (a, tid);
    return s_ticks_to_pct (after->ticks - (before ? before->ticks : 0), b->at_ns - a->at_ns);
}

double
cpu_percent_sys (const cpu_snap_t *a, const cpu_snap_t *b)
{
    uint64_t total = 0;
    for (int i = 0; i < b->threads; i++) {
        const cpu_thread_t *before = s_find_thread (a, b->thread[i].tid);
        total += b->thread[i].sys_ticks - (before ? before->sys_ticks : 0);
    }
    return s_ticks_to_pct (total, b->at_ns - a->at_ns);
}

void
host_snap (host_snap_t *snap)
{
    snap->busy = snap->total = snap->iowait = 0;
    FILE *file = fopen ("/proc/stat", "r");
    if (!file)
        return;
    unsigned long long v[10] = {0};
    //  cpu user nice system idle iowait irq softirq steal guest guest_nice
    int n = fscanf (file, "cpu %llu %llu %llu %llu %llu %llu %llu %llu %llu %llu", &v[0], &v[1],
                    &v[2], &v[3], &v[4], &v[5], &v[6], &v[7], &v[8], &v[9]);
    fclose (file);
    if (n < 8)
        return;
    //  guest time is already counted in user
    snap->total = v[0] + v[1] + v[2] + v[3] + v[4] + v[5] + v[6] + v[7];
    snap->busy = snap->total - v[3] - v[4];
    snap->iowait = v[4];
}

double
host_busy_percent (const host_snap_t *a, const host_snap_t *b)
{
    if (b->total <= a->total)
        return 0;
    long cpus = sysconf (_SC_NPROCESSORS_ONLN);
    return 100.0 * (double) cpus * (double) (b->busy - a->busy) / (double) (b->total - a->total);
}

double
host_iowait_percent (const host_snap_t *a, const host_snap_t *b)
{
    if (b->total <= a->total)
        return 0;
    long cpus = sysconf (_SC_NPROCESSORS_ONLN);
    return 100.0 * (double) cpus * (double) (b->iowait - a->iowait) /
           (double) (b->total - a->total);
}

int
proc_self_dir (char *out, size_t size)
{
    ssize_t n = readlink ("/proc/self/exe", out, size - 1);
    if (n <= 0)
        return -1;
    out[n] = 0;
    char *slash = strrchr (out, '/');
    if (slash)
        *slash = 0;
    return 0;
}

bool
proc_find_bin (char *out, size_t size, const char *given, const char *self_dir,
               const char *relative, const char *built_in)
{
    if (given)
        snprintf (out, size, "%s", given);
    else {
        snprintf (out, size, "%s/%s", self_dir, relative);
        if (access (out, X_OK) != 0)
            snprintf (out, size, "%s", built_in ? built_in : "");
    }
    return *out && access (out, X_OK) == 0;
}

bool
proc_find_bin_named (char *out, size_t size, const char *given, const char *self_dir,
                     const char *relative, const char *built_in, const char *tool, const char *name,
                     const char *option)
{
    if (proc_find_bin (out, size, given, self_dir, relative, built_in))
        return true;
    fprintf (stderr, "%s: %s not found (tried %s); use %s\n", tool, name, out, option);
    return false;
}

bool
proc_which (char *out, size_t size, const char *name)
{
    const char *path = getenv ("PATH");
    if (!path)
        path = "/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin";
    char *copy = strdup (path), *save = NULL;
    bool found = false;
    for (char *dir = copy ? strtok_r (copy, ":", &save) : NULL; dir && !found;
         dir = strtok_r (NULL, ":", &save)) {
        snprintf (out, size, "%s/%s", dir, name);
        found = access (out, X_OK) == 0;
    }
    free (copy);
    if (!found)
        *out = 0;
    return found;
}

bool
proc_listed (const char *list, const char *word)
{
    size_t len = strlen (word);
    for (const char *at = strstr (list, word); at; at = strstr (at + len, word))
        if ((at == list || at[-1] == ',') && (at[len] == ',' || !at[len]))
            return true;
    return false;
}

void
proc_loadavg (char *out, size_t size)
{
    snprintf (out, size, "?");
    FILE *file = fopen ("/proc/loadavg", "r");
    if (!file)
        return;
    if (fgets (out, (int) size, file))
        out[strcspn (out, "\n")] = 0;
    fclose (file);
}

int
proc_read_line (int fd, char *buf, size_t size, int64_t until)
{
    size_t len = 0;
    while (len + 1 < size && !bench_stop) {
        int64_t left = until - zclock_mono ();
        if (left <= 0)
            return -1;
        struct pollfd pfd = {fd, POLLIN, 0};
        int rc = poll (&pfd, 1, (int) (left > 200 ? 200 : left));
        if (rc < 0 && errno != EINTR)
            return -1;
        if (rc <= 0)
            continue;
        ssize_t n = read (fd, buf + len, 1);
        if (n <= 0)
            return -1;
        if (buf[len] == '\n')
            break;
        len++;
    }
    buf[len] = 0;
    return bench_stop ? -1 : 0;
}

int
proc_load_keys (const char *path, int first, int count, char (*pub)[41], char (*sec)[41])
{
    FILE *file = fopen (path, "r");
    if (!file)
        return -1;
    char line[128];
    int n = 0, loaded = 0;
    while (loaded < count && fgets (line, sizeof (line), file)) {
        if (n++ < first)
            continue;
        if (sscanf (line, "%40s %40s", pub[loaded], sec[loaded]) != 2)
            break;
        loaded++;
    }
    fclose (file);
    return loaded;
}

void
proc_start (void)
{
    zsys_init ();
    zsys_set_logsystem (false);
    proc_init (); //  after zsys_init, so our signal handlers win
    proc_raise_nofile (65536);
    zsys_set_max_sockets (0);
    zsys_set_linger (0);
}

char *
proc_command_line (int argc, char **argv)
{
    char *text = NULL;
    size_t size = 0;
    FILE *out = open_memstream (&text, &size);
    if (!out)
        return NULL;
    for (int i = 0; i < argc; i++) {
        const char *arg = argv[i];
        if (i)
            fputc (' ', out);
        size_t safe = strspn (arg, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                                   "0123456789-_./=:,+@%");
        if (*arg && safe == strlen (arg)) {
            fputs (arg, out);
            continue;
        }
        fputc ('\'', out);
        for (const char *c = arg; *c; c++)
            if (*c == '\'')
                fputs ("'\\''", out);
            else
                fputc (*c, out);
        fputc ('\'', out);
    }
    fclose (out);
    return text;
}

void
proc_sleep_until (uint64_t t)
{
    while (!bench_stop) {
        uint64_t now = bench_now_ns ();
        if (now >= t)
            return;
        uint64_t left = t - now;
        usleep ((useconds_t) (left > 50000000 ? 50000 : left / 1000 + 1));
    }
}

double
host_busy_over (int ms)
{
    host_snap_t a, b;
    host_snap (&a);
    zclock_sleep (ms);
    host_snap (&b);
    return host_busy_percent (&a, &b);
}
