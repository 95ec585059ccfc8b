/*  launcher -- a Lighthouse cluster of real processes. See launcher.h. */
#include "launcher.h"

#include "codec.h"
#include "lh_client.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#ifndef LH_LAUNCHER_BROKER
#define LH_LAUNCHER_BROKER ""
#endif
#ifndef LH_LAUNCHER_ECHO
#define LH_LAUNCHER_ECHO ""
#endif
#ifndef LH_LAUNCHER_VALIDATOR
#define LH_LAUNCHER_VALIDATOR ""
#endif
#ifndef LH_LAUNCHER_INTEGRITY
#define LH_LAUNCHER_INTEGRITY ""
#endif

#define MAX_ARGS 96

typedef struct {
    launcher_kind_t kind;
    int id; //  replica id
    pid_t pid;
    char name[64];
    char log[PATH_MAX];
    char *argv[MAX_ARGS];
} proc_t;

struct _launcher_t {
    //  Sized so that any file name under them fits a PATH_MAX buffer
    char dir[1024];
    char keys[2048];
    char logs[2048];
    char roster[2200];
    bool temporary;
    bool keep;
    char bin[LAUNCHER_KINDS][PATH_MAX];
    zlist_t *args[LAUNCHER_KINDS]; //  of char *
    char cert_name[LAUNCHER_KINDS][64];
    int port_base;
    char plaintext_role[32];
    int timeout_ms;
    zhashx_t *certs; //  name -> zcert_t
    FILE *roster_file;
    zlistx_t *procs; //  proc_t
    //  The brokers: [0] is "the broker" of a one-broker cluster
    int broker_starts;
    int broker_count;
    proc_t *brokers[LAUNCHER_MAX_BROKERS];
    char endpoints[LAUNCHER_MAX_BROKERS][3][128]; //  frontend, backend, pub of each
    char lists[3][LAUNCHER_MAX_BROKERS * 130];    //  the same, comma-separated
    char *broker_config;                          //  what launcher_start_broker was given
    char broker_key[41];
    int worker_count;
    //  Replicas
    int replica_count;
    proc_t *replicas[LAUNCHER_MAX_REPLICAS + 1];
    int raft_ports[LAUNCHER_MAX_REPLICAS + 1];
    char replica_args[512];
};

//  Every child of every launcher, for launcher_kill_all (signal handlers)
#define MAX_CHILDREN 1024
static volatile pid_t s_children[MAX_CHILDREN];
//  Live launchers, stopped at exit
#define MAX_LAUNCHERS 16
static launcher_t *s_launchers[MAX_LAUNCHERS];
static bool s_atexit_set;

static void
s_child_add (pid_t pid)
{
    for (int i = 0; i < MAX_CHILDREN; i++)
        if (s_children[i] == 0) {
            s_children[i] = pid;
            return;
        }
}

static void
s_child_remove (pid_t pid)
{
    for (int i = 0; i < MAX_CHILDREN; i++)
        if (s_children[i] == pid)
            s_children[i] = 0;
}

void
launcher_kill_all (void)
{
    for (int i = 0; i < MAX_CHILDREN; i++)
        if (s_children[i] > 0)
            kill (s_children[i], SIGKILL);
}

static void
s_at_exit (void)
{
    for (int i = 0; i < MAX_LAUNCHERS; i++)
        if (s_launchers[i])
            launcher_stop_all (s_launchers[i], 1000);
}

static void
s_proc_free (void **item_p)
{
    proc_t *proc = (proc_t *) *item_p;
    for (int i = 0; proc->argv[i]; i++)
        free (proc->argv[i]);
    free (proc);
    *item_p = NULL;
}

static void
s_cert_free (void **item_p)
{
    zcert_destroy ((zcert_t **) item_p);
}

//  --------------------------------------------------------------------------
//  Construction

launcher_t *
launcher_new (const char *dir)
{
    zsys_init ();
    zsys_set_logsystem (false);
    launcher_t *self = (launcher_t *) zmalloc (sizeof (launcher_t));
    const char *path = dir ? dir : "/tmp/lh-XXXXXX";
    size_t len = strlen (path);
    snprintf (self->dir, sizeof (self->dir), "%s", path);
    if (len >= 6 && streq (path + len - 6, "XXXXXX")) {
        self->temporary = true;
        if (!mkdtemp (self->dir)) {
            fprintf (stderr, "launcher: cannot create %s: %s\n", path, strerror (errno));
            free (self);
            return NULL;
        }
    } else if (zsys_dir_create ("%s", self->dir) != 0) {
        fprintf (stderr, "launcher: cannot create %s\n", path);
        free (self);
        return NULL;
    }
    snprintf (self->keys, sizeof (self->keys), "%s", self->dir);
    snprintf (self->logs, sizeof (self->logs), "%s", self->dir);
    snprintf (self->roster, sizeof (self->roster), "%s/roster.zpl", self->keys);
    const char *bins[] = {LH_LAUNCHER_BROKER, LH_LAUNCHER_ECHO, LH_LAUNCHER_VALIDATOR,
                          LH_LAUNCHER_INTEGRITY, ""};
    for (int kind = 0; kind < LAUNCHER_KINDS; kind++) {
        snprintf (self->bin[kind], sizeof (self->bin[kind]), "%s", bins[kind]);
        self->args[kind] = zlist_new ();
        zlist_autofree (self->args[kind]);
        snprintf (self->cert_name[kind], sizeof (self->cert_name[kind]), "node");
    }
    self->timeout_ms = 10000;
    self->certs = zhashx_new ();
    zhashx_set_destructor (self->certs, s_cert_free);
    self->procs = zlistx_new ();
    zlistx_set_destructor (self->procs, s_proc_free);
    for (int i = 0; i < MAX_LAUNCHERS; i++)
        if (!s_launchers[i]) {
            s_launchers[i] = self;
            break;
        }
    if (!s_atexit_set) {
        s_atexit_set = true;
        atexit (s_at_exit);
    }
    return self;
}

void
launcher_destroy (launcher_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    launcher_t *self = *self_p;
    for (int i = 0; i < MAX_LAUNCHERS; i++)
        if (s_launchers[i] == self)
            s_launchers[i] = NULL;
    launcher_stop_all (self, 5000);
    if (self->roster_file)
        fclose (self->roster_file);
    zlistx_destroy (&self->procs);
    zhashx_destroy (&self->certs);
    for (int kind = 0; kind < LAUNCHER_KINDS; kind++)
        zlist_destroy (&self->args[kind]);
    free (self->broker_config);
    if (self->temporary && !self->keep && !getenv ("LH_KEEP_TMP")) {
        zdir_t *dir = zdir_new (self->dir, NULL);
        if (dir) {
            zdir_remove (dir, true);
            zdir_destroy (&dir);
        }
    }
    free (self);
    *self_p = NULL;
}

const char *
launcher_dir (launcher_t *self)
{
    return self->dir;
}

void
launcher_set_keep (launcher_t *self, bool keep)
{
    self->keep = keep;
}

void
launcher_set_keys_dir (launcher_t *self, const char *subdir)
{
    snprintf (self->keys, sizeof (self->keys), "%s/%s", self->dir, subdir);
    zsys_dir_create ("%s", self->keys);
    snprintf (self->roster, sizeof (self->roster), "%s/roster.zpl", self->keys);
}

void
launcher_set_logs_dir (launcher_t *self, const char *subdir)
{
    snprintf (self->logs, sizeof (self->logs), "%s/%s", self->dir, subdir);
    zsys_dir_create ("%s", self->logs);
}

void
launcher_set_bin (launcher_t *self, launcher_kind_t kind, const char *path)
{
    snprintf (self->bin[kind], sizeof (self->bin[kind]), "%s", path ? path : "");
}

const char *
launcher_bin (launcher_t *self, launcher_kind_t kind)
{
    return self->bin[kind];
}

void
launcher_set_args (launcher_t *self, launcher_kind_t kind, const char *args)
{
    zlist_purge (self->args[kind]);
    char *copy = strdup (args ? args : ""), *save = NULL;
    for (char *arg = strtok_r (copy, " ", &save); arg; arg = strtok_r (NULL, " ", &save))
        zlist_append (self->args[kind], arg);
    free (copy);
}

void
launcher_add_arg (launcher_t *self, launcher_kind_t kind, const char *arg)
{
    zlist_append (self->args[kind], (void *) arg);
}

void
launcher_set_cert (launcher_t *self, launcher_kind_t kind, const char *name)
{
    snprintf (self->cert_name[kind], sizeof (self->cert_name[kind]), "%s", name);
}

void
launcher_set_port_base (launcher_t *self, int port_base)
{
    self->port_base = port_base;
}

void
launcher_set_plaintext (launcher_t *self, const char *role)
{
    snprintf (self->plaintext_role, sizeof (self->plaintext_role), "%s", role ? role : "");
}

void
launcher_set_timeout (launcher_t *self, int timeout_ms)
{
    self->timeout_ms = timeout_ms;
}

//  --------------------------------------------------------------------------
//  Keys

static void s_base_keys (launcher_t *self);

static FILE *
s_roster (launcher_t *self)
{
    if (!self->roster_file) {
        self->roster_file = fopen (self->roster, "w");
        if (self->roster_file)
            fprintf (self->roster_file, "#   Lighthouse roster: public key -> agent id and role\n"
                                        "principal\n");
    }
    return self->roster_file;
}

int
launcher_add_principal (launcher_t *self, const char *name, const char *public_key,
                        const char *role)
{
    s_base_keys (self);
    FILE *roster = s_roster (self);
    if (!roster)
        return -1;
    fprintf (roster, "    %s\n        key = \"%s\"\n        role = %s\n", name, public_key, role);
    return 0;
}

static zcert_t *
s_keygen (launcher_t *self, const char *name, const char *role)
{
    zcert_t *cert = (zcert_t *) zhashx_lookup (self->certs, name);
    if (cert)
        return cert;
    //  As lh keygen makes them
    cert = zcert_new ();
    zcert_set_meta (cert, "name", "%s", name);
    if (role)
        zcert_set_meta (cert, "role", "%s", role);
    char path[PATH_MAX];
    snprintf (path, sizeof (path), "%s/%s.cert", self->keys, name);
    if (zcert_save (cert, path) != 0)
        fprintf (stderr, "launcher: cannot write %s\n", path);
    if (role)
        launcher_add_principal (self, name, zcert_public_txt (cert), role);
    zhashx_insert (self->certs, name, cert);
    return cert;
}

//  broker and admin, made on first use so that launcher_set_keys_dir
//  can still move them
static void
s_base_keys (launcher_t *self)
{
    if (!self->broker_key[0]) {
        zcert_t *broker = s_keygen (self, "broker", NULL);
        snprintf (self->broker_key, sizeof (self->broker_key), "%s", zcert_public_txt (broker));
        s_keygen (self, "admin", "admin");
    }
}

zcert_t *
launcher_keygen (launcher_t *self, const char *name, const char *role)
{
    s_base_keys (self);
    return s_keygen (self, name, role);
}

zcert_t *
launcher_cert (launcher_t *self, const char *name)
{
    s_base_keys (self);
    return (zcert_t *) zhashx_lookup (self->certs, name);
}

void
launcher_cert_path (launcher_t *self, const char *name, char *out, size_t size)
{
    snprintf (out, size, "%s/%s.cert_secret", self->keys, name);
}

const char *
launcher_roster_path (launcher_t *self)
{
    return self->roster;
}

//  --------------------------------------------------------------------------
//  Processes

static pid_t
s_fork_exec (char *const argv[], const char *log_path, int stdin_fd, int stdout_fd)
{
    int log_fd =
        open (log_path ? log_path : "/dev/null", O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    int null_fd = open ("/dev/null", O_RDONLY | O_CLOEXEC);
    if (log_fd < 0 || null_fd < 0) {
        if (log_fd >= 0)
            close (log_fd);
        if (null_fd >= 0)
            close (null_fd);
        return -1;
    }
    pid_t parent = getpid ();
    pid_t pid = fork ();
    if (pid == 0) {
        //  Only async-signal-safe calls from here to exec
        prctl (PR_SET_PDEATHSIG, SIGKILL);
        if (getppid () != parent)
            _exit (127);
        signal (SIGPIPE, SIG_DFL);
        signal (SIGINT, SIG_DFL);
        signal (SIGTERM, SIG_DFL);
        signal (SIGHUP, SIG_DFL);
        sigset_t none;
        sigemptyset (&none);
        sigprocmask (SIG_SETMASK, &none, NULL);
        dup2 (stdin_fd >= 0 ? stdin_fd : null_fd, 0);
        dup2 (stdout_fd >= 0 ? stdout_fd : log_fd, 1);
        dup2 (log_fd, 2);
        //  The parent's sockets and pipes are not the child's business
#ifdef SYS_close_range
        if (syscall (SYS_close_range, 3U, ~0U, 0U) != 0)
#endif
        {
            long max = sysconf (_SC_OPEN_MAX);
            for (long fd = 3; fd < max; fd++)
                close ((int) fd);
        }
        execv (argv[0], argv);
        _exit (127);
    }
    close (log_fd);
    close (null_fd);
    if (pid > 0)
        s_child_add (pid);
    return pid < 0 ? -1 : pid;
}

static proc_t *
s_proc_add (launcher_t *self, launcher_kind_t kind, const char *name, char *const argv[],
            const char *log_path)
{
    proc_t *proc = (proc_t *) zmalloc (sizeof (proc_t));
    proc->kind = kind;
    snprintf (proc->name, sizeof (proc->name), "%s", name);
    snprintf (proc->log, sizeof (proc->log), "%s", log_path ? log_path : "");
    for (int i = 0; argv[i] && i < MAX_ARGS - 1; i++)
        proc->argv[i] = strdup (argv[i]);
    zlistx_add_end (self->procs, proc);
    return proc;
}

static pid_t
s_proc_start (proc_t *proc)
{
    proc->pid = s_fork_exec (proc->argv, proc->log[0] ? proc->log : NULL, -1, -1);
    return proc->pid;
}

static proc_t *
s_proc_of (launcher_t *self, pid_t pid)
{
    if (pid <= 0)
        return NULL;
    for (proc_t *proc = (proc_t *) zlistx_first (self->procs); proc;
         proc = (proc_t *) zlistx_next (self->procs))
        if (proc->pid == pid)
            return proc;
    return NULL;
}

static void
s_forget (launcher_t *self, pid_t pid)
{
    s_child_remove (pid);
    proc_t *proc = s_proc_of (self, pid);
    if (proc)
        proc->pid = 0;
}

pid_t
launcher_spawn (launcher_t *self, const char *name, char *const argv[], const char *log_path,
                int stdin_fd, int stdout_fd)
{
    proc_t *proc = s_proc_add (self, LAUNCHER_OTHER, name, argv, log_path);
    proc->pid = s_fork_exec (argv, log_path, stdin_fd, stdout_fd);
    return proc->pid;
}

bool
launcher_alive (launcher_t *self, pid_t pid)
{
    if (!s_proc_of (self, pid))
        return false;
    int status;
    pid_t rc = waitpid (pid, &status, WNOHANG);
    if (rc == pid || (rc < 0 && errno == ECHILD)) {
        s_forget (self, pid);
        return false;
    }
    return true;
}

//  Waits up to grace_ms for pid, then SIGKILLs it; its status, or -1
//  when someone else reaped it.
static int
s_reap (pid_t pid, int grace_ms)
{
    int status = -1;
    for (int waited = 0; waited < grace_ms; waited += 10) {
        pid_t rc = waitpid (pid, &status, WNOHANG);
        if (rc == pid)
            return status;
        if (rc < 0)
            return -1;
        usleep (10000);
    }
    kill (pid, SIGKILL);
    if (waitpid (pid, &status, 0) != pid)
        return -1;
    return status;
}

int
launcher_signal (launcher_t *self, pid_t pid, int signum)
{
    if (!s_proc_of (self, pid))
        return -1;
    if (signum != SIGKILL && signum != SIGTERM) {
        kill (pid, signum);
        return -1;
    }
    //  Not ours to signal any more once someone else reaped it
    if (!launcher_alive (self, pid))
        return -1;
    //  SIGCONT first, so that a paused process can act on the signal; never
    //  after it: a SIGCONT that lands while the exiting process is being
    //  ptrace-stopped (LeakSanitizer's exit check does that) cancels the
    //  stop and leaves the leak check waiting for ever
    kill (pid, SIGCONT);
    kill (pid, signum);
    //  A clean exit is what is asserted, not a fast one: under the
    //  sanitizers on a loaded machine, exit-time checks take seconds
    int status = s_reap (pid, signum == SIGTERM ? 15000 : 5000);
    s_forget (self, pid);
    return status;
}

int
launcher_stop (launcher_t *self, pid_t pid, int grace_ms)
{
    if (!launcher_alive (self, pid))
        return -1;
    kill (pid, SIGCONT); //  first: see launcher_signal
    kill (pid, SIGTERM);
    int status = s_reap (pid, grace_ms);
    s_forget (self, pid);
    return status;
}

pid_t
launcher_restart (launcher_t *self, pid_t pid)
{
    proc_t *proc = s_proc_of (self, pid);
    if (!proc)
        return -1;
    launcher_signal (self, pid, SIGKILL);
    return s_proc_start (proc);
}

void
launcher_stop_kind (launcher_t *self, launcher_kind_t kind, int grace_ms)
{
    //  All of them at once, then the waits
    for (proc_t *proc = (proc_t *) zlistx_first (self->procs); proc;
         proc = (proc_t *) zlistx_next (self->procs))
        if (proc->kind == kind && proc->pid > 0 && launcher_alive (self, proc->pid)) {
            kill (proc->pid, SIGCONT); //  first: see launcher_signal
            kill (proc->pid, SIGTERM);
        }
    for (proc_t *proc = (proc_t *) zlistx_first (self->procs); proc;
         proc = (proc_t *) zlistx_next (self->procs))
        if (proc->kind == kind && proc->pid > 0) {
            s_reap (proc->pid, grace_ms);
            s_forget (self, proc->pid);
        }
}

void
launcher_stop_all (launcher_t *self, int grace_ms)
{
    //  Workers first (the broker would log them lost), then the replicas,
    //  the broker, the rest
    launcher_stop_kind (self, LAUNCHER_ECHO, grace_ms);
    launcher_stop_kind (self, LAUNCHER_VALIDATOR, grace_ms);
    launcher_stop_kind (self, LAUNCHER_INTEGRITY, grace_ms);
    launcher_stop_kind (self, LAUNCHER_BROKER, grace_ms);
    launcher_stop_kind (self, LAUNCHER_OTHER, grace_ms);
}

const char *
launcher_log_path (launcher_t *self, pid_t pid)
{
    proc_t *proc = s_proc_of (self, pid);
    return proc && proc->log[0] ? proc->log : NULL;
}

void
launcher_log_tail (const char *path, int lines)
{
    FILE *file = path ? fopen (path, "r") : NULL;
    if (!file)
        return;
    if (lines > 64)
        lines = 64;
    char ring[64][512];
    int n = 0;
    while (fgets (ring[n % lines], sizeof (ring[0]), file))
        n++;
    fclose (file);
    fprintf (stderr, "---- last lines of %s\n", path);
    for (int i = n > lines ? n - lines : 0; i < n; i++)
        fprintf (stderr, "  %s", ring[i % lines]);
}

//  argv of a kind's process: base (NULL-terminated), the kind's args,
//  then extra split on spaces into buf
static int
s_argv (launcher_t *self, launcher_kind_t kind, char **argv, const char *const *base,
        const char *extra, char *buf, size_t buf_size)
{
    int argc = 0;
    argv[argc++] = self->bin[kind];
    for (int i = 0; base[i] && argc < MAX_ARGS - 1; i++)
        argv[argc++] = (char *) base[i];
    for (char *arg = (char *) zlist_first (self->args[kind]); arg && argc < MAX_ARGS - 1;
         arg = (char *) zlist_next (self->args[kind]))
        argv[argc++] = arg;
    snprintf (buf, buf_size, "%s", extra ? extra : "");
    char *save = NULL;
    for (char *arg = strtok_r (buf, " ", &save); arg && argc < MAX_ARGS - 1;
         arg = strtok_r (NULL, " ", &save))
        argv[argc++] = arg;
    argv[argc] = NULL;
    return argc;
}

//  --------------------------------------------------------------------------
//  Probing the broker

static lh_client_t *
s_probe (launcher_t *self, int k, int timeout_ms)
{
    bool plain = self->plaintext_role[0] != 0;
    lh_connect_t conn = {.endpoint = self->endpoints[k][0],
                         .server_key = plain ? NULL : self->broker_key,
                         .cert = plain ? NULL : launcher_cert (self, "admin")};
    lh_client_t *client = lh_client_new (&conn);
    if (client) {
        lh_client_set_timeout (client, timeout_ms);
        lh_client_set_retries (client, 0);
    }
    return client;
}

//  Calls service with {key: value} as the admin; the reply or NULL
static lh_reply_t *
s_call (launcher_t *self, int k, const char *service, const char *key, const char *value)
{
    lh_client_t *client = s_probe (self, k, 2000);
    if (!client)
        return NULL;
    codec_buf_t buf;
    codec_buf_init (&buf);
    msgpack_pack_map (&buf.pk, 1);
    codec_pack_str (&buf.pk, key);
    codec_pack_str (&buf.pk, value);
    lh_reply_t *reply = lh_client_call (client, service, buf.sbuf.data, buf.sbuf.size);
    codec_buf_destroy (&buf);
    lh_client_destroy (&client);
    if (reply && !lh_reply_ok (reply))
        lh_reply_destroy (&reply);
    return reply;
}

int
launcher_workers (launcher_t *self, const char *service)
{
    return launcher_workers_at (self, 0, service);
}

int
launcher_workers_at (launcher_t *self, int k, const char *service)
{
    if (k < 0 || k >= self->broker_count)
        return -1;
    lh_reply_t *reply = s_call (self, k, "mmi.service", "name", service);
    if (!reply)
        return -1;
    const msgpack_object *workers = codec_map_get (lh_reply_root (reply), "workers");
    int count =
        workers && workers->type == MSGPACK_OBJECT_POSITIVE_INTEGER ? (int) workers->via.u64 : 0;
    lh_reply_destroy (&reply);
    return count;
}

static bool
s_broker_alive_at (launcher_t *self, int k)
{
    proc_t *broker = k < self->broker_count ? self->brokers[k] : NULL;
    return broker && broker->pid > 0 && launcher_alive (self, broker->pid);
}

static bool
s_broker_alive (launcher_t *self)
{
    return s_broker_alive_at (self, 0);
}

bool
launcher_wait_workers (launcher_t *self, const char *service, int count, int timeout_ms)
{
    return launcher_wait_workers_at (self, 0, service, count, timeout_ms);
}

bool
launcher_wait_workers_at (launcher_t *self, int k, const char *service, int count, int timeout_ms)
{
    int64_t until = zclock_mono () + timeout_ms;
    while (zclock_mono () < until && !zsys_interrupted && s_broker_alive_at (self, k)) {
        if (launcher_workers_at (self, k, service) == count)
            return true;
        zclock_sleep (50);
    }
    return false;
}

//  --------------------------------------------------------------------------
//  The broker

//  Scans the broker log for "socket=NAME endpoint=EP"
static bool
s_endpoint (const char *log_path, const char *name, char *out, size_t size)
{
    FILE *log = fopen (log_path, "r");
    if (!log)
        return false;
    char line[1024], needle[64];
    snprintf (needle, sizeof (needle), "socket=%s endpoint=", name);
    bool found = false;
    while (!found && fgets (line, sizeof (line), log)) {
        char *at = strstr (line, needle);
        if (at) {
            at += strlen (needle);
            at[strcspn (at, " \n")] = 0;
            snprintf (out, size, "%s", at);
            found = true;
        }
    }
    fclose (log);
    return found;
}

//  Ports for daemons that may be restarted where they were: below the
//  kernel's ephemeral range, so that while one is down no outgoing
//  connection (a peer reconnecting to it can even connect to itself) takes
//  its port and keeps it from binding again.
static void
s_port_range (int *first, int *last)
{
    int low = 32768, high = 60999;
    FILE *file = fopen ("/proc/sys/net/ipv4/ip_local_port_range", "r");
    if (file) {
        if (fscanf (file, "%d %d", &low, &high) != 2)
            low = 32768;
        fclose (file);
    }
    *last = low - 1;
    *first = *last - 16000 > 1024 ? *last - 16000 : 1024;
}

static int
s_free_port (void)
{
    //  Not randof: czmq seeds it with the second, the same in tests started together
    static unsigned next;
    if (!next)
        next = (unsigned) getpid () * 2654435761u ^ (unsigned) zclock_usecs ();
    int first, last;
    s_port_range (&first, &last);
    int port = first + (int) (next++ % (unsigned) (last - first + 1));
    for (int tries = 0; tries < 100; tries++, port = port == last ? first : port + 1) {
        int fd = socket (AF_INET, SOCK_STREAM, 0);
        struct sockaddr_in addr = {.sin_family = AF_INET,
                                   .sin_port = htons ((uint16_t) port),
                                   .sin_addr.s_addr = htonl (INADDR_LOOPBACK)};
        int rc = bind (fd, (struct sockaddr *) &addr, sizeof (addr));
        close (fd);
        if (rc == 0) {
            //  The next call starts past this one: the port stays free until
            //  its daemon binds it, so a taken one skipped here would
            //  otherwise hand the same port out twice
            next = (unsigned) (port - first + 1);
            return port;
        }
    }
    return -1;
}

static void
s_endpoint_of (launcher_t *self, int offset, char *out, size_t size)
{
    if (self->port_base)
        //  Broker k takes port_base + 3k .. + 2
        snprintf (out, size, "tcp://127.0.0.1:%d", self->port_base + offset);
    else {
        //  The broker picks a free one in the range itself (czmq's "!")
        int first, last;
        s_port_range (&first, &last);
        snprintf (out, size, "tcp://127.0.0.1:![%d-%d]", first, last);
    }
}

static int
s_fail (launcher_t *self, const char *what, const char *log_path)
{
    if (!zsys_interrupted) {
        fprintf (stderr, "launcher: %s; see %s\n", what, log_path ? log_path : self->dir);
        launcher_log_tail (log_path, 20);
    }
    return -1;
}

//  The comma-separated lists every worker and client is given
static void
s_lists (launcher_t *self)
{
    for (int e = 0; e < 3; e++) {
        self->lists[e][0] = 0;
        for (int k = 0; k < self->broker_count; k++) {
            if (k)
                strcat (self->lists[e], ",");
            strcat (self->lists[e], self->endpoints[k][e]);
        }
    }
}

//  Writes broker k's config and starts it; returns once its endpoints are
//  known and (fixed ports) it answers
static int
s_start_broker (launcher_t *self, int k)
{
    char path[PATH_MAX], log_path[PATH_MAX], name[32];
    snprintf (name, sizeof (name), k ? "broker-%d" : "broker", k + 1);
    snprintf (path, sizeof (path), "%s/%s.cfg", self->dir, name);
    FILE *file = fopen (path, "w");
    if (!file)
        return s_fail (self, "cannot write a broker config", NULL);
    char (*ep)[128] = self->endpoints[k];
    for (int e = 0; e < 3; e++)
        s_endpoint_of (self, 3 * k + e, ep[e], sizeof (ep[e]));
    fprintf (file,
             "#   Generated by the launcher\n"
             "broker\n"
             "    name = broker-%d\n"
             "    frontend = %s\n"
             "    backend = %s\n"
             "    pub = %s\n",
             k + 1, ep[0], ep[1], ep[2]);
    if (self->plaintext_role[0])
        fprintf (file, "    plaintext = 1\n    plaintext_role = %s\n", self->plaintext_role);
    else
        fprintf (file, "    cert = %s/broker.cert_secret\n    roster = %s\n", self->keys,
                 self->roster);
    fprintf (file, "%s", self->broker_config ? self->broker_config : "");
    fclose (file);

    self->broker_starts++;
    if (self->broker_starts == 1)
        snprintf (log_path, sizeof (log_path), "%s/broker.log", self->logs);
    else
        snprintf (log_path, sizeof (log_path), "%s/broker-%d.log", self->logs, self->broker_starts);
    const char *base[] = {"-c", path, NULL};
    char *argv[MAX_ARGS], buf[16];
    s_argv (self, LAUNCHER_BROKER, argv, base, NULL, buf, sizeof (buf));
    self->brokers[k] = s_proc_add (self, LAUNCHER_BROKER, name, argv, log_path);
    self->broker_count = k + 1;
    if (s_proc_start (self->brokers[k]) < 0)
        return s_fail (self, "cannot start lh-broker", log_path);

    int64_t until = zclock_mono () + self->timeout_ms;
    while (zclock_mono () < until && !zsys_interrupted && s_broker_alive_at (self, k)) {
        if (self->port_base) {
            //  Bound where we said: ready once it answers
            if (launcher_workers_at (self, k, "mmi.service") >= 0) {
                s_lists (self);
                return k;
            }
        } else if (s_endpoint (log_path, "frontend", ep[0], sizeof (ep[0])) &&
                   s_endpoint (log_path, "backend", ep[1], sizeof (ep[1])) &&
                   s_endpoint (log_path, "pub", ep[2], sizeof (ep[2]))) {
            s_lists (self);
            return k;
        }
        zclock_sleep (50);
    }
    return s_fail (self, "the broker did not come up", log_path);
}

int
launcher_start_broker (launcher_t *self, const char *config)
{
    s_base_keys (self);
    //  The nodes' keys must be on the roster the broker reads now
    for (int kind = LAUNCHER_ECHO; kind <= LAUNCHER_INTEGRITY; kind++)
        s_keygen (self, self->cert_name[kind], "node");
    FILE *roster = s_roster (self);
    if (roster)
        fflush (roster);
    free (self->broker_config);
    self->broker_config = config ? strdup (config) : NULL;
    return s_start_broker (self, 0) < 0 ? -1 : 0;
}

int
launcher_add_broker (launcher_t *self)
{
    if (self->broker_count == 0 || self->broker_count == LAUNCHER_MAX_BROKERS)
        return s_fail (self, "launcher_add_broker needs a first broker, and room", NULL);
    return s_start_broker (self, self->broker_count);
}

int
launcher_broker_count (launcher_t *self)
{
    return self->broker_count;
}

pid_t
launcher_broker_pid (launcher_t *self)
{
    return launcher_broker_pid_at (self, 0);
}

pid_t
launcher_broker_pid_at (launcher_t *self, int k)
{
    return k >= 0 && k < self->broker_count ? self->brokers[k]->pid : 0;
}

const char *
launcher_frontend (launcher_t *self)
{
    return self->endpoints[0][0];
}

const char *
launcher_backend (launcher_t *self)
{
    return self->endpoints[0][1];
}

const char *
launcher_pub (launcher_t *self)
{
    return self->endpoints[0][2];
}

const char *
launcher_frontend_at (launcher_t *self, int k)
{
    return k >= 0 && k < self->broker_count ? self->endpoints[k][0] : NULL;
}

const char *
launcher_frontends (launcher_t *self)
{
    return self->lists[0];
}

const char *
launcher_backends (launcher_t *self)
{
    return self->lists[1];
}

const char *
launcher_pubs (launcher_t *self)
{
    return self->lists[2];
}

const char *
launcher_broker_key (launcher_t *self)
{
    s_base_keys (self);
    return self->broker_key;
}

pid_t
launcher_restart_broker (launcher_t *self)
{
    return launcher_restart_broker_at (self, 0);
}

pid_t
launcher_restart_broker_at (launcher_t *self, int k)
{
    if (k < 0 || k >= self->broker_count)
        return -1;
    proc_t *broker = self->brokers[k];
    if (broker->pid > 0)
        launcher_signal (self, broker->pid, SIGKILL);
    //  Ephemeral ports: the ones it had, so that every peer finds it again
    char (*ep)[128] = self->endpoints[k];
    int argc = 0;
    while (broker->argv[argc])
        argc++;
    if (!self->port_base && argc + 6 < MAX_ARGS && !streq (broker->argv[argc - 1], ep[2])) {
        const char *more[] = {"--frontend", ep[0], "--backend", ep[1], "--pub", ep[2]};
        for (int i = 0; i < 6; i++)
            broker->argv[argc++] = strdup (more[i]);
        broker->argv[argc] = NULL;
    }
    if (s_proc_start (broker) < 0)
        return s_fail (self, "cannot start lh-broker", broker->log);
    //  Back where it was before anyone is told it restarted; a broker that
    //  could not bind its old ports says so here, not as a client's timeout
    int64_t until = zclock_mono () + self->timeout_ms;
    while (zclock_mono () < until && !zsys_interrupted && s_broker_alive_at (self, k)) {
        if (launcher_workers_at (self, k, "mmi.service") >= 0)
            return broker->pid;
        zclock_sleep (50);
    }
    return s_fail (self, "the restarted broker did not come up", broker->log);
}

//  --------------------------------------------------------------------------
//  Workers

//  Starts a worker and, when wait, waits until the broker lists one more
//  worker of service
static pid_t
s_start_worker (launcher_t *self, launcher_kind_t kind, const char *service, char **argv, bool wait)
{
    if (!s_broker_alive (self))
        return s_fail (self, "no broker to start a worker for", NULL);
    const char *name = kind == LAUNCHER_ECHO ? "echo" : "validator";
    char log_path[PATH_MAX];
    snprintf (log_path, sizeof (log_path), "%s/%s-%d.log", self->logs, name, self->worker_count);
    int before = wait ? launcher_workers (self, service) : 0;
    proc_t *proc = s_proc_add (self, kind, name, argv, log_path);
    self->worker_count++;
    if (s_proc_start (proc) < 0)
        return s_fail (self, "cannot start a worker", log_path);
    if (wait && !launcher_wait_workers (self, service, before + 1, self->timeout_ms))
        return s_fail (self, "a worker did not register", log_path);
    return proc->pid;
}

static bool
s_has_option (const char *args, const char *option)
{
    size_t len = strlen (option);
    for (const char *at = args ? strstr (args, option) : NULL; at; at = strstr (at + len, option))
        if ((at == args || at[-1] == ' ') && (at[len] == ' ' || at[len] == '=' || !at[len]))
            return true;
    return false;
}

static void
s_node_cert (launcher_t *self, launcher_kind_t kind, char *out, size_t size)
{
    launcher_keygen (self, self->cert_name[kind], "node");
    launcher_cert_path (self, self->cert_name[kind], out, size);
}

pid_t
launcher_start_echo (launcher_t *self, const char *service, const char *extra_args, bool wait)
{
    char cert[PATH_MAX], buf[1024];
    s_node_cert (self, LAUNCHER_ECHO, cert, sizeof (cert));
    bool plain = self->plaintext_role[0] != 0;
    const char *base[] = {
        "--broker",       self->lists[1], "--service", service, plain ? NULL : "--broker-key",
        self->broker_key, "--cert",       cert,        NULL};
    char *argv[MAX_ARGS];
    s_argv (self, LAUNCHER_ECHO, argv, base, extra_args, buf, sizeof (buf));
    return s_start_worker (self, LAUNCHER_ECHO, service, argv, wait);
}

pid_t
launcher_start_validator (launcher_t *self, const char *policy, const char *extra_args, bool wait)
{
    char cert[PATH_MAX], buf[1024];
    s_node_cert (self, LAUNCHER_VALIDATOR, cert, sizeof (cert));
    //  The validator's data (spool, redaction key) stays in our directory
    bool run_dir = !s_has_option (extra_args, "--run-dir");
    const char *base[] = {"--broker",
                          self->lists[1],
                          "--pub",
                          self->lists[2],
                          "--broker-key",
                          self->broker_key,
                          "--cert",
                          cert,
                          "--policy",
                          policy,
                          run_dir ? "--run-dir" : NULL,
                          self->dir,
                          NULL};
    char *argv[MAX_ARGS];
    s_argv (self, LAUNCHER_VALIDATOR, argv, base, extra_args, buf, sizeof (buf));
    return s_start_worker (self, LAUNCHER_VALIDATOR, "validate", argv, wait);
}

int
launcher_worker_count (launcher_t *self)
{
    return self->worker_count;
}

//  --------------------------------------------------------------------------
//  Integrity replicas

void
launcher_integrity_path (launcher_t *self, const char *name, char *out, size_t size)
{
    snprintf (out, size, "%s/integrity/%s", self->dir, name);
}

pid_t
launcher_start_replica (launcher_t *self, int id)
{
    if (id < 1 || id > self->replica_count)
        return -1;
    if (self->replicas[id] && self->replicas[id]->pid > 0 &&
        launcher_alive (self, self->replicas[id]->pid))
        return self->replicas[id]->pid;
    if (!self->replicas[id]) {
        char peers[256] = "", item[64], idtext[16], data[PATH_MAX], signer[PATH_MAX],
             keys[PATH_MAX], cert[PATH_MAX], log_path[PATH_MAX], buf[512];
        for (int i = 1; i <= self->replica_count; i++) {
            snprintf (item, sizeof (item), "%s%d@127.0.0.1:%d", i > 1 ? " " : "", i,
                      self->raft_ports[i]);
            strcat (peers, item);
        }
        snprintf (idtext, sizeof (idtext), "%d", id);
        snprintf (data, sizeof (data), "%s/integrity/%d", self->dir, id);
        snprintf (signer, sizeof (signer), "%s/integrity/replica-%d.key", self->dir, id);
        launcher_integrity_path (self, "keys", keys, sizeof (keys));
        s_node_cert (self, LAUNCHER_INTEGRITY, cert, sizeof (cert));
        snprintf (log_path, sizeof (log_path), "%s/integrity/replica-%d.log", self->logs, id);
        const char *base[] = {"--id",         idtext,         "--dir",
                              data,           "--peers",      peers,
                              "--signer",     signer,         "--keys",
                              keys,           "--broker",     self->lists[1],
                              "--frontend",   self->lists[0], "--pub",
                              self->lists[2], "--broker-key", self->broker_key,
                              "--cert",       cert,           NULL};
        char *argv[MAX_ARGS];
        s_argv (self, LAUNCHER_INTEGRITY, argv, base, self->replica_args, buf, sizeof (buf));
        char name[32];
        snprintf (name, sizeof (name), "replica-%d", id);
        self->replicas[id] = s_proc_add (self, LAUNCHER_INTEGRITY, name, argv, log_path);
        self->replicas[id]->id = id;
    }
    return s_proc_start (self->replicas[id]);
}

pid_t
launcher_replica_pid (launcher_t *self, int id)
{
    return id >= 1 && id <= self->replica_count && self->replicas[id] ? self->replicas[id]->pid : 0;
}

int
launcher_replica_count (launcher_t *self)
{
    return self->replica_count;
}

int
launcher_leader (launcher_t *self, int timeout_ms)
{
    int64_t until = zclock_mono () + timeout_ms;
    while (zclock_mono () < until && !zsys_interrupted) {
        if (launcher_workers (self, "events") > 0) {
            lh_reply_t *reply = s_call (self, 0, "events.read", "op", "status");
            const msgpack_object *status =
                reply ? codec_map_get (lh_reply_root (reply), "status") : NULL;
            const msgpack_object *leader = codec_map_get (status, "leader");
            int id = leader && leader->type == MSGPACK_OBJECT_POSITIVE_INTEGER
                         ? (int) leader->via.u64
                         : 0;
            lh_reply_destroy (&reply);
            if (id > 0)
                return id;
        }
        zclock_sleep (50);
    }
    return 0;
}

//  lh-integrity --keygen for replica id unless its signer key exists
static int
s_replica_keygen (launcher_t *self, int id)
{
    char signer[PATH_MAX], keys[PATH_MAX], name[32], log_path[PATH_MAX];
    snprintf (signer, sizeof (signer), "%s/integrity/replica-%d.key", self->dir, id);
    if (zsys_file_exists (signer))
        return 0;
    launcher_integrity_path (self, "keys", keys, sizeof (keys));
    snprintf (log_path, sizeof (log_path), "%s/integrity/keygen.log", self->logs);
    snprintf (name, sizeof (name), "replica-%d", id);
    int fd = open (keys, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (fd < 0)
        return -1;
    char *argv[] = {self->bin[LAUNCHER_INTEGRITY], "--keygen", name, "--signer", signer, NULL};
    pid_t pid = s_fork_exec (argv, log_path, -1, fd);
    close (fd);
    if (pid < 0)
        return -1;
    int status = s_reap (pid, 10000);
    s_child_remove (pid);
    return WIFEXITED (status) && WEXITSTATUS (status) == 0 ? 0 : -1;
}

int
launcher_start_integrity (launcher_t *self, int count, const char *extra_args)
{
    if (count < 1 || count > LAUNCHER_MAX_REPLICAS || self->replica_count)
        return s_fail (self, "replicas: 1 to 5, once", NULL);
    self->replica_count = count;
    snprintf (self->replica_args, sizeof (self->replica_args), "%s", extra_args ? extra_args : "");
    char path[PATH_MAX];
    launcher_integrity_path (self, "", path, sizeof (path));
    zsys_dir_create ("%s", path);
    snprintf (path, sizeof (path), "%s/integrity", self->logs);
    zsys_dir_create ("%s", path);
    for (int id = 1; id <= count; id++) {
        self->raft_ports[id] = self->port_base ? self->port_base + 9 + id : s_free_port ();
        if (s_replica_keygen (self, id) != 0)
            return s_fail (self, "lh-integrity --keygen failed", NULL);
    }
    for (int id = 1; id <= count; id++)
        if (launcher_start_replica (self, id) < 0)
            return s_fail (self, "cannot start lh-integrity", NULL);
    int64_t until = zclock_mono () + 2 * (int64_t) self->timeout_ms;
    bool ready = launcher_wait_workers (self, "events.read", count, self->timeout_ms);
    int left = (int) (until - zclock_mono ());
    if (!ready || launcher_leader (self, left > 0 ? left : 1) == 0) {
        snprintf (path, sizeof (path), "%s/integrity/replica-1.log", self->logs);
        return s_fail (self, "the replicas did not elect a leader serving events", path);
    }
    return 0;
}
