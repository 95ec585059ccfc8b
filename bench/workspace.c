/*  workspace -- lh-workspace-bench: what a guarded workspace (lh-fuse
    workspace) costs beside the same work on the directory underneath, in
    one run (bench/run-workspace, bench/README.md).

    Starts on 127.0.0.1 a CURVE lh-broker and one lh-validator with the
    default policy, and lh-fuse workspace mounting a fresh source directory
    as agent-1. Then, each on the source directory (the baseline) and
    through the mount, alternately so that both see the same machine:

    1. stat of FILES files, OPS times (after one pass that fills the
       caches): p50 and p99;
    2. open + read 4 KiB + close of the same files, OPS times;
    3. create + write 4 KiB + close of FILES files, a second pass over the
       same names (the decisions cached by the first): p50 and p99;
    4. make -j2 of a generated C project of SOURCES files, from clean,
       RUNS times each (the first run through the mount is cold: its
       decisions are asked; the others find them cached): wall time.

    Ratios are mount / baseline. Targets (issue 12): stat and
    open+read+close within 2x, create+write+close within 3x, make within
    1.3x.
*/
#include "bench.h"

#include "launcher.h"
#include "lh_mountinfo.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#ifndef LH_BENCH_BROKER
#define LH_BENCH_BROKER ""
#endif
#ifndef LH_BENCH_VALIDATOR
#define LH_BENCH_VALIDATOR ""
#endif
#ifndef LH_BENCH_FUSE
#define LH_BENCH_FUSE ""
#endif
#ifndef LH_BENCH_POLICY
#define LH_BENCH_POLICY ""
#endif

#define TOOL "lh-workspace-bench"

typedef struct {
    int files, ops, sources, runs, port_base;
    const char *json, *dir, *policy, *source;
} wopts_t;

typedef struct {
    const char *name;
    hist_t base, mount;
} measure_t;

static void
s_usage (FILE *out)
{
    fprintf (out,
             "Usage: " TOOL " [--files N] [--ops N] [--sources N] [--runs N] [--json FILE]\n"
             "                          [--dir DIR] [--port-base P] [--policy FILE]\n"
             "What a guarded workspace costs beside the directory underneath (bench/README.md).\n"
             "  --files N      files of the stat, read and create passes (default 200)\n"
             "  --ops N        stats and reads per pass (default 20000)\n"
             "  --sources N    C files of the make project (default 40)\n"
             "  --runs N       make runs on each side (default 3)\n"
             "  --json FILE    also write the figures as JSON\n"
             "  --dir DIR      where the cluster, source and mount go (default $TMPDIR or /tmp)\n"
             "  --port-base P  the broker's ports (default 17800)\n");
}

static uint64_t
s_us_since (uint64_t start_ns)
{
    return (bench_now_ns () - start_ns) / 1000;
}

static int
s_write_file (const char *path, size_t size)
{
    static char block[4096];
    memset (block, 'x', sizeof (block));
    int fd = open (path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0)
        return -1;
    size_t left = size;
    while (left > 0) {
        ssize_t n = write (fd, block, left < sizeof (block) ? left : sizeof (block));
        if (n <= 0) {
            close (fd);
            return -1;
        }
        left -= (size_t) n;
    }
    return close (fd);
}

//  One pass of kind over files under root, recording each op's µs
static int
s_pass (const char *root, const char *kind, int files, int ops, hist_t *hist)
{
    char path[PATH_MAX], buf[4096];
    int count = streq (kind, "create") ? files : ops;
    for (int i = 0; i < count && !bench_stop; i++) {
        snprintf (path, sizeof (path), "%.900s/data/f%04d", root, i % files);
        uint64_t t = bench_now_ns ();
        if (streq (kind, "stat")) {
            struct stat st;
            if (stat (path, &st) != 0)
                return -1;
        } else if (streq (kind, "read")) {
            int fd = open (path, O_RDONLY);
            if (fd < 0 || read (fd, buf, sizeof (buf)) != (ssize_t) sizeof (buf)) {
                if (fd >= 0)
                    close (fd);
                return -1;
            }
            close (fd);
        } else {
            snprintf (path, sizeof (path), "%.900s/out/o%04d", root, i);
            if (s_write_file (path, 4096) != 0)
                return -1;
        }
        hist_record (hist, s_us_since (t));
    }
    return 0;
}

static double
s_make (const char *root)
{
    char command[1200];
    snprintf (command, sizeof (command), "make -s -C '%.900s/proj' clean >/dev/null 2>&1", root);
    if (system (command) != 0)
        return -1;
    snprintf (command, sizeof (command), "make -s -j2 -C '%.900s/proj' >/dev/null 2>&1", root);
    uint64_t t = bench_now_ns ();
    if (system (command) != 0)
        return -1;
    return (double) (bench_now_ns () - t) / 1e9;
}

static int
s_populate (const char *source, int files, int sources)
{
    char path[PATH_MAX];
    const char *dirs[] = {"data", "out", "proj"};
    for (int i = 0; i < 3; i++) {
        snprintf (path, sizeof (path), "%.900s/%s", source, dirs[i]);
        if (mkdir (path, 0755) != 0)
            return -1;
    }
    for (int i = 0; i < files; i++) {
        snprintf (path, sizeof (path), "%.900s/data/f%04d", source, i);
        if (s_write_file (path, 4096) != 0)
            return -1;
    }
    FILE *mk;
    snprintf (path, sizeof (path), "%.900s/proj/Makefile", source);
    if (!(mk = fopen (path, "w")))
        return -1;
    fprintf (mk, "SRCS := $(wildcard *.c)\nOBJS := $(SRCS:.c=.o)\nCFLAGS := -O1\n"
                 "prog: $(OBJS)\n\t$(CC) -o $@ $^\n%%.o: %%.c\n\t$(CC) $(CFLAGS) -c -o $@ $<\n"
                 "clean:\n\trm -f prog $(OBJS)\n");
    fclose (mk);
    for (int i = 0; i < sources; i++) {
        snprintf (path, sizeof (path), "%.900s/proj/s%03d.c", source, i);
        FILE *c = fopen (path, "w");
        if (!c)
            return -1;
        if (i == 0)
            fprintf (c, "#include <stdio.h>\n");
        for (int f = 0; f < 20; f++)
            fprintf (c,
                     "int f%d_%d (int x) { int s = 0; for (int k = 0; k < x; k++) s += k * %d; "
                     "return s; }\n",
                     i, f, f + 1);
        if (i == 0)
            fprintf (c, "int main (void) { printf (\"%%d\\n\", f0_0 (3)); return 0; }\n");
        fclose (c);
    }
    return 0;
}

static void
s_row (FILE *out, const measure_t *m, double target)
{
    double b50 = (double) hist_percentile (&m->base, 50),
           m50 = (double) hist_percentile (&m->mount, 50);
    double b99 = (double) hist_percentile (&m->base, 99),
           m99 = (double) hist_percentile (&m->mount, 99);
    double ratio = b50 > 0 ? m50 / b50 : 0;
    fprintf (out, "%-26s %8.0f %8.0f %10.0f %10.0f %7.2fx %7.2fx  %s (<= %.1fx)\n", m->name, b50,
             b99, m50, m99, ratio, b99 > 0 ? m99 / b99 : 0, ratio <= target ? "met" : "NOT met",
             target);
}

int
main (int argc, char **argv)
{
    wopts_t o = {200, 20000, 40, 3, 17800, NULL, NULL, LH_BENCH_POLICY, NULL};
    static struct option longs[] = {
        {"files", 1, 0, 'f'},     {"ops", 1, 0, 'o'},    {"sources", 1, 0, 's'},
        {"runs", 1, 0, 'r'},      {"json", 1, 0, 'j'},   {"dir", 1, 0, 'd'},
        {"port-base", 1, 0, 'p'}, {"policy", 1, 0, 'P'}, {"source", 1, 0, 'S'},
        {"help", 0, 0, 'h'},      {0, 0, 0, 0}};
    int c;
    while ((c = getopt_long (argc, argv, "h", longs, NULL)) != -1) {
        switch (c) {
        case 'f':
            o.files = atoi (optarg);
            break;
        case 'o':
            o.ops = atoi (optarg);
            break;
        case 's':
            o.sources = atoi (optarg);
            break;
        case 'r':
            o.runs = atoi (optarg);
            break;
        case 'j':
            o.json = optarg;
            break;
        case 'd':
            o.dir = optarg;
            break;
        case 'p':
            o.port_base = atoi (optarg);
            break;
        case 'P':
            o.policy = optarg;
            break;
        case 'S':
            o.source = optarg;
            break;
        case 'h':
            s_usage (stdout);
            return 0;
        default:
            s_usage (stderr);
            return 2;
        }
    }
    if (o.files < 1 || o.files > 9999 || o.ops < 1 || o.sources < 1 || o.sources > 999 ||
        o.runs < 1 || o.runs > 20) {
        s_usage (stderr);
        return 2;
    }
    if (geteuid () != 0 || access ("/dev/fuse", R_OK | W_OK) != 0) {
        fprintf (stderr, TOOL ": a FUSE mount needs root and /dev/fuse\n");
        return 1;
    }
    proc_init ();
    char self[PATH_MAX], broker[PATH_MAX], validator[PATH_MAX], fuse[PATH_MAX];
    if (proc_self_dir (self, sizeof (self)) != 0 ||
        !proc_find_bin (broker, sizeof (broker), NULL, self, "../broker/lh-broker",
                        LH_BENCH_BROKER) ||
        !proc_find_bin (validator, sizeof (validator), NULL, self,
                        "../nodes/validator/lh-validator", LH_BENCH_VALIDATOR) ||
        !proc_find_bin (fuse, sizeof (fuse), NULL, self, "../fuse-node/lh-fuse", LH_BENCH_FUSE)) {
        fprintf (stderr, TOOL ": lh-broker, lh-validator or lh-fuse not found\n");
        return 1;
    }
    const char *base = o.dir ? o.dir : getenv ("TMPDIR");
    char template[PATH_MAX];
    snprintf (template, sizeof (template), "%s/lh-bench-workspace.XXXXXX",
              base && *base ? base : "/tmp");
    launcher_t *launcher = launcher_new (template);
    if (!launcher)
        return 1;
    const char *tmp = launcher_dir (launcher);
    launcher_set_bin (launcher, LAUNCHER_BROKER, broker);
    launcher_set_bin (launcher, LAUNCHER_VALIDATOR, validator);
    launcher_set_port_base (launcher, o.port_base);
    launcher_set_args (launcher, LAUNCHER_BROKER, "--log-level warn");
    int rc = 1;
    //  Roots short enough that every path below them fits PATH_MAX
    char source[512], mount[512], spool[512], log[512], cert[PATH_MAX];
    //  The workspace outside the cluster's directory: that is the validator's
    //  own (policy class lighthouse), where nothing may change
    char ws[300];
    if (base && strlen (base) > 200) {
        fprintf (stderr, TOOL ": %s: path too long for the temporary directory\n", base);
        launcher_destroy (&launcher);
        return 1;
    }
    snprintf (ws, sizeof (ws), "%s/lh-bench-ws.XXXXXX", base && *base ? base : "/tmp");
    if (!mkdtemp (ws)) {
        launcher_destroy (&launcher);
        return 1;
    }
    snprintf (source, sizeof (source), "%s/src", ws);
    snprintf (mount, sizeof (mount), "%s/mnt", ws);
    snprintf (spool, sizeof (spool), "%.400s/ws-spool", tmp);
    snprintf (log, sizeof (log), "%.400s/lh-fuse.log", tmp);
    pid_t fuse_pid = -1;
    zcert_t *agent = launcher_keygen (launcher, "agent-1", "agent");
    if (!agent || mkdir (source, 0755) != 0 || mkdir (mount, 0755) != 0 ||
        s_populate (source, o.files, o.sources) != 0) {
        fprintf (stderr, TOOL ": cannot prepare %s\n", tmp);
        goto done;
    }
    if (launcher_start_broker (launcher, "role\n    agent\n        rate = 0\n") != 0 ||
        launcher_start_validator (launcher, o.policy, "--home /root", true) <= 0)
        goto done;
    launcher_cert_path (launcher, "agent-1", cert, sizeof (cert));
    char *fargv[] = {fuse,
                     "workspace",
                     "--source",
                     source,
                     "--mount",
                     mount,
                     "--broker",
                     (char *) launcher_frontend (launcher),
                     "--broker-key",
                     (char *) launcher_broker_key (launcher),
                     "--cert",
                     cert,
                     "--spool-dir",
                     spool,
                     "--wait",
                     "0",
                     "--log-level",
                     "warn",
                     NULL};
    fuse_pid = launcher_spawn (launcher, "lh-fuse", fargv, log, -1, -1);
    for (int i = 0; i < 200 && !lh_mounted (mount, "lh-workspace"); i++)
        zclock_sleep (50);
    if (fuse_pid <= 0 || !lh_mounted (mount, "lh-workspace")) {
        fprintf (stderr, TOOL ": lh-fuse did not mount %s\n", mount);
        launcher_log_tail (log, 20);
        goto done;
    }
    static measure_t m[3];
    m[0].name = "stat (cached)";
    m[1].name = "open+read 4K+close";
    m[2].name = "create+write 4K+close";
    const char *kinds[3] = {"stat", "read", "create"};
    double targets[3] = {2.0, 2.0, 3.0};
    for (int k = 0; k < 3; k++) {
        hist_t warm;
        hist_reset (&warm);
        //  A first pass on each side fills the caches (and asks the decisions)
        if (s_pass (source, kinds[k], o.files, o.files, &warm) != 0 ||
            s_pass (mount, kinds[k], o.files, o.files, &warm) != 0) {
            fprintf (stderr, TOOL ": the %s pass failed (%s)\n", kinds[k], strerror (errno));
            goto done;
        }
        hist_reset (&m[k].base);
        hist_reset (&m[k].mount);
        for (int round = 0; round < 4; round++)
            if (s_pass (source, kinds[k], o.files, o.ops / 4, &m[k].base) != 0 ||
                s_pass (mount, kinds[k], o.files, o.ops / 4, &m[k].mount) != 0) {
                fprintf (stderr, TOOL ": the %s pass failed (%s)\n", kinds[k], strerror (errno));
                goto done;
            }
    }
    double make_base[20], make_mount[20];
    for (int r = 0; r < o.runs; r++) {
        make_base[r] = s_make (source);
        make_mount[r] = s_make (mount);
        if (make_base[r] < 0 || make_mount[r] < 0) {
            fprintf (stderr, TOOL ": make failed\n");
            goto done;
        }
    }
    double best_base = make_base[0], best_mount_warm = o.runs > 1 ? make_mount[1] : make_mount[0];
    for (int r = 0; r < o.runs; r++)
        best_base = make_base[r] < best_base ? make_base[r] : best_base;
    for (int r = 1; r < o.runs; r++)
        best_mount_warm = make_mount[r] < best_mount_warm ? make_mount[r] : best_mount_warm;
    printf ("lh-workspace-bench: %d files, %d ops a pass, make -j2 of %d C files x %d runs\n",
            o.files, o.ops, o.sources, o.runs);
    printf ("%-26s %8s %8s %10s %10s %8s %8s\n", "operation (us)", "base p50", "base p99",
            "mount p50", "mount p99", "p50 x", "p99 x");
    for (int k = 0; k < 3; k++)
        s_row (stdout, &m[k], targets[k]);
    double warm_ratio = best_mount_warm / best_base, cold_ratio = make_mount[0] / best_base;
    printf ("%-26s %8.2fs  mount cold %.2fs (%.2fx), warm best %.2fs (%.2fx)  %s (<= 1.3x)\n",
            "make -j2 (best of runs)", best_base, make_mount[0], cold_ratio, best_mount_warm,
            warm_ratio, warm_ratio <= 1.3 ? "met" : "NOT met");
    if (o.json) {
        FILE *j = fopen (o.json, "w");
        if (j) {
            fprintf (j, "{\"files\": %d, \"ops\": %d, \"sources\": %d, \"runs\": %d", o.files,
                     o.ops, o.sources, o.runs);
            for (int k = 0; k < 3; k++)
                fprintf (j,
                         ", \"%s\": {\"base_p50_us\": %llu, \"base_p99_us\": %llu, "
                         "\"mount_p50_us\": %llu, \"mount_p99_us\": %llu}",
                         kinds[k], (unsigned long long) hist_percentile (&m[k].base, 50),
                         (unsigned long long) hist_percentile (&m[k].base, 99),
                         (unsigned long long) hist_percentile (&m[k].mount, 50),
                         (unsigned long long) hist_percentile (&m[k].mount, 99));
            fprintf (j,
                     ", \"make\": {\"base_best_s\": %.3f, \"mount_cold_s\": %.3f, "
                     "\"mount_warm_best_s\": %.3f}}\n",
                     best_base, make_mount[0], best_mount_warm);
            fclose (j);
        }
    }
    rc = 0;
done:
    if (fuse_pid > 0) {
        launcher_signal (launcher, fuse_pid, SIGTERM);
        for (int i = 0; i < 100 && lh_mounted (mount, "lh-workspace"); i++)
            zclock_sleep (50);
        if (lh_mounted (mount, "lh-workspace"))
            umount2 (mount, MNT_DETACH);
    }
    launcher_destroy (&launcher);
    char command[400];
    snprintf (command, sizeof (command), "rm -rf '%s'", ws);
    if (!lh_mounted (mount, "lh-workspace") && system (command) != 0)
        fprintf (stderr, TOOL ": could not remove %s\n", ws);
    return rc;
}
