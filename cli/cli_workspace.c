/*  lh workspace -- mount and unmount a guarded workspace (lh-fuse
    workspace, fuse-node/README.md) with the broker and key lh uses. */
#include "cli.h"
#include "lh_mountinfo.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sys/mount.h>
#include <sys/wait.h>
#include <unistd.h>

const char cli_workspace_usage[] =
    "Usage: lh workspace mount --source DIR --mount MNT [--spool-dir DIR] [--policy FILE]\n"
    "                          [--wait MS] [--log FILE] [--events-cert FILE --agent NAME]\n"
    "       lh workspace unmount MNT\n"
    "\n"
    "mount starts lh-fuse workspace in the background: DIR shown at MNT, every change\n"
    "under MNT asked of the policy through the broker first and logged, as the agent\n"
    "whose key lh uses (LH_BROKER, LH_BROKER_KEY, LH_CERT, or --env). It returns once MNT\n"
    "is mounted (exit 0), or exits 1 with the end of lh-fuse's log. --spool-dir holds the\n"
    "events not yet in the log (default: MNT's parent/.lh-spool-<name>); --policy, the\n"
    "validators' policy, keeps reads going while the broker is away; --wait is how long an\n"
    "escalated change waits for an expert (default 30000 ms); --log is lh-fuse's log\n"
    "(default: next to the spool); --events-cert, a node key, and --agent, the agent's name:\n"
    "the file.* events go with the node key (the log view shows shadows only from nodes).\n"
    "unmount unmounts MNT: lh-fuse flushes its events and\n"
    "exits. Both need root (a FUSE mount with allow_other).\n";

//  lh-fuse beside lh (an install or the build tree), else on PATH
static void
s_fuse_bin (char *out, size_t size)
{
    char self[PATH_MAX];
    ssize_t n = readlink ("/proc/self/exe", self, sizeof (self) - 1);
    if (n > 0) {
        self[n] = 0;
        char *slash = strrchr (self, '/');
        if (slash) {
            *slash = 0;
            const char *candidates[] = {"lh-fuse", "../fuse-node/lh-fuse"};
            for (size_t i = 0; i < 2; i++) {
                int len = snprintf (out, size, "%.3000s/%s", self, candidates[i]);
                if (len > 0 && (size_t) len < size && access (out, X_OK) == 0)
                    return;
            }
        }
    }
    snprintf (out, size, "lh-fuse");
}

//  The last 2 KiB of a log on stderr
static void
s_tail (const char *path)
{
    FILE *f = fopen (path, "r");
    if (!f) {
        fprintf (stderr, "  (no log)\n");
        return;
    }
    char buf[2048];
    if (fseek (f, 0, SEEK_END) == 0 && ftell (f) > (long) sizeof (buf))
        fseek (f, -(long) sizeof (buf), SEEK_END);
    else
        rewind (f);
    size_t n = fread (buf, 1, sizeof (buf), f);
    fclose (f);
    fwrite (buf, 1, n, stderr);
}

static int
s_mount (int argc, char **argv)
{
    const char *source = NULL, *mount = NULL, *spool = NULL, *policy = NULL, *wait = "30000",
               *log = NULL, *events_cert = NULL, *agent = NULL;
    for (int i = 1; i < argc; i++) {
        if (i + 1 >= argc)
            return cli_usage_error ("workspace mount: an option needs a value");
        const char *opt = argv[i], *value = argv[++i];
        if (streq (opt, "--source"))
            source = value;
        else if (streq (opt, "--mount"))
            mount = value;
        else if (streq (opt, "--spool-dir"))
            spool = value;
        else if (streq (opt, "--policy"))
            policy = value;
        else if (streq (opt, "--wait"))
            wait = value;
        else if (streq (opt, "--log"))
            log = value;
        else if (streq (opt, "--events-cert"))
            events_cert = value;
        else if (streq (opt, "--agent"))
            agent = value;
        else
            return cli_usage_error ("workspace mount: unknown option");
    }
    char mnt[PATH_MAX], src[PATH_MAX];
    if (!source || !mount || !realpath (mount, mnt) || !realpath (source, src)) {
        fprintf (stderr, "lh: workspace mount needs an existing --source and --mount (%s)\n",
                 source && mount ? strerror (errno) : "missing");
        return source && mount ? 1 : 2;
    }
    const char *broker = getenv ("LH_BROKER"), *key = getenv ("LH_BROKER_KEY"),
               *cert = getenv ("LH_CERT");
    if (!broker || !cert) {
        fprintf (stderr, "lh: workspace mount needs LH_BROKER and LH_CERT (or --env FILE)\n");
        return 2;
    }
    if (lh_mounted (mnt, "lh-workspace")) {
        fprintf (stderr, "lh: %s is a workspace already\n", mnt);
        return 1;
    }
    char spool_dir[PATH_MAX + 300], log_path[PATH_MAX + 300], fuse[PATH_MAX];
    char parent[PATH_MAX];
    snprintf (parent, sizeof (parent), "%s", mnt);
    char *slash = strrchr (parent, '/');
    const char *name = slash ? slash + 1 : parent;
    if (slash)
        *slash = 0;
    snprintf (spool_dir, sizeof (spool_dir), "%.4000s/.lh-spool-%.255s", parent, name);
    snprintf (log_path, sizeof (log_path), "%.4000s/.lh-workspace-%.255s.log", parent, name);
    s_fuse_bin (fuse, sizeof (fuse));
    char *args[32];
    int n = 0;
    args[n++] = fuse;
    args[n++] = "workspace";
    args[n++] = "--source", args[n++] = src;
    args[n++] = "--mount", args[n++] = mnt;
    args[n++] = "--broker", args[n++] = (char *) broker;
    if (key && *key)
        args[n++] = "--broker-key", args[n++] = (char *) key;
    args[n++] = "--cert", args[n++] = (char *) cert;
    args[n++] = "--spool-dir", args[n++] = spool ? (char *) spool : spool_dir;
    args[n++] = "--wait", args[n++] = (char *) wait;
    if (policy)
        args[n++] = "--policy", args[n++] = (char *) policy;
    if (events_cert)
        args[n++] = "--events-cert", args[n++] = (char *) events_cert;
    if (agent)
        args[n++] = "--agent", args[n++] = (char *) agent;
    args[n] = NULL;
    const char *logfile = log ? log : log_path;
    pid_t pid = fork ();
    if (pid < 0) {
        fprintf (stderr, "lh: cannot start lh-fuse: %s\n", strerror (errno));
        return 1;
    }
    if (pid == 0) {
        //  A daemon of its own: no terminal, its output in the log
        setsid ();
        int fd = open (logfile, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
        int null = open ("/dev/null", O_RDONLY | O_CLOEXEC);
        if (fd >= 0 && null >= 0) {
            dup2 (null, 0);
            dup2 (fd, 1);
            dup2 (fd, 2);
        }
        execvp (args[0], args);
        fprintf (stderr, "lh: cannot run %s: %s\n", args[0], strerror (errno));
        _exit (127);
    }
    for (int i = 0; i < 200; i++) {
        if (lh_mounted (mnt, "lh-workspace")) {
            printf ("lh: %s shows %s as a guarded workspace (lh-fuse pid %d, log %s)\n", mnt, src,
                    (int) pid, logfile);
            return 0;
        }
        int status;
        if (waitpid (pid, &status, WNOHANG) == pid)
            break;
        usleep (50 * 1000);
    }
    fprintf (stderr, "lh: the workspace did not mount; the end of %s:\n", logfile);
    s_tail (logfile);
    kill (pid, SIGTERM);
    return 1;
}

static int
s_unmount (int argc, char **argv)
{
    if (argc != 2)
        return cli_usage_error ("workspace unmount MNT");
    char mnt[PATH_MAX];
    if (!realpath (argv[1], mnt) || !lh_mounted (mnt, "lh-workspace")) {
        fprintf (stderr, "lh: %s is not a workspace mount\n", argv[1]);
        return 1;
    }
    if (umount2 (mnt, 0) != 0) {
        fprintf (stderr, "lh: cannot unmount %s: %s\n", mnt, strerror (errno));
        return 1;
    }
    printf ("lh: %s unmounted\n", mnt);
    return 0;
}

int
cli_workspace (cli_t *cli, int argc, char **argv)
{
    (void) cli;
    if (argc >= 2 && streq (argv[1], "mount"))
        return s_mount (argc - 1, argv + 1);
    if (argc >= 2 && streq (argv[1], "unmount"))
        return s_unmount (argc - 1, argv + 1);
    return cli_usage_error ("workspace: mount or unmount");
}
