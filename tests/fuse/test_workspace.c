/*  test_workspace -- the guarded workspace's passthrough (fuse-node/
    workspace.c) on real mounts: a temporary source directory mounted in
    this process, driven through the mount with ordinary system calls, with
    hooks that record every check and change and refuse what a test says.

    Needs root and a usable /dev/fuse: exits 77 (skipped) without them.
    The tests run in a child process; the parent bounds them in time and,
    whatever happens, detaches every mount left under its directory and
    removes it. Each test is also bounded (alarm).
*/
#include "workspace.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <sys/xattr.h>
#include <time.h>
#include <unistd.h>

#include <setjmp.h>
#include <cmocka.h>

#define TEST_SECONDS  60  //  each test
#define SUITE_SECONDS 270 //  all of them (CTest's timeout is 300)
#define MAX_RECORDS   8192
#define MAX_CONTENT   (16u << 20)

static char s_run_dir[64]; //  everything of this run lives under it

//  ---------------------------------------------------------------------
//  The recording hooks

typedef struct {
    bool is_check;
    ws_op_t op;
    char *path;
    char *target;  //  NULL if none
    int fd;        //  changed(): the fd given, -1 if none
    bool readable; //  changed(): the fd could be read
    char *content; //  changed(): what it read
    size_t size;
    uid_t uid; //  check(): the caller
} record_t;

static pthread_mutex_t s_lock = PTHREAD_MUTEX_INITIALIZER;
static record_t s_records[MAX_RECORDS];
static size_t s_nrecords;
//  The refusal rule: op (or -1: none) and path ("" for any) -> error
static int s_deny_op = -1;
static char s_deny_path[PATH_MAX];
static int s_deny_error = -EACCES;

static void
s_deny (int op, const char *path, int error)
{
    pthread_mutex_lock (&s_lock);
    s_deny_op = op;
    snprintf (s_deny_path, sizeof s_deny_path, "%s", path ? path : "");
    s_deny_error = error;
    pthread_mutex_unlock (&s_lock);
}

static void
s_record (record_t *r)
{
    pthread_mutex_lock (&s_lock);
    if (s_nrecords < MAX_RECORDS)
        s_records[s_nrecords++] = *r;
    else {
        free (r->path);
        free (r->target);
        free (r->content);
    }
    pthread_mutex_unlock (&s_lock);
}

static int
s_hook_check (void *arg, ws_op_t op, const char *path, const char *target,
              const struct fuse_ctx *ctx)
{
    (void) arg;
    record_t r = {.is_check = true,
                  .op = op,
                  .path = strdup (path),
                  .target = target ? strdup (target) : NULL,
                  .fd = -1,
                  .uid = ctx->uid};
    s_record (&r);
    pthread_mutex_lock (&s_lock);
    int rc = 0;
    if ((int) op == s_deny_op && (!*s_deny_path || strcmp (path, s_deny_path) == 0))
        rc = s_deny_error;
    pthread_mutex_unlock (&s_lock);
    return rc;
}

static void
s_hook_changed (void *arg, ws_op_t op, const char *path, const char *target, int fd)
{
    (void) arg;
    record_t r = {
        .op = op, .path = strdup (path), .target = target ? strdup (target) : NULL, .fd = fd};
    struct stat st;
    if (fd >= 0 && fstat (fd, &st) == 0 && (size_t) st.st_size <= MAX_CONTENT) {
        r.content = malloc ((size_t) st.st_size + 1);
        size_t done = 0;
        while (r.content && done < (size_t) st.st_size) {
            ssize_t n = pread (fd, r.content + done, (size_t) st.st_size - done, (off_t) done);
            if (n <= 0)
                break;
            done += (size_t) n;
        }
        r.readable = r.content && done == (size_t) st.st_size;
        r.size = done;
    }
    s_record (&r);
}

static const ws_hooks_t s_hooks = {s_hook_check, s_hook_changed, NULL};

static void
s_log_reset (void)
{
    pthread_mutex_lock (&s_lock);
    for (size_t i = 0; i < s_nrecords; i++) {
        free (s_records[i].path);
        free (s_records[i].target);
        free (s_records[i].content);
    }
    s_nrecords = 0;
    pthread_mutex_unlock (&s_lock);
}

//  The log as text: "check write a; changed write a [3:abc]", targets as
//  " -> t", changed() with an fd as [size:content] (content when short),
//  an fd that could not be read as [unreadable]
static void
s_log_render (char *buf, size_t size)
{
    size_t used = 0;
    buf[0] = 0;
    pthread_mutex_lock (&s_lock);
    for (size_t i = 0; i < s_nrecords && used < size; i++) {
        record_t *r = &s_records[i];
        used += (size_t) snprintf (buf + used, size - used, "%s%s %s %s", i ? "; " : "",
                                   r->is_check ? "check" : "changed", ws_op_name (r->op), r->path);
        if (r->target && used < size)
            used += (size_t) snprintf (buf + used, size - used, " -> %s", r->target);
        if (!r->is_check && r->fd >= 0 && used < size) {
            if (!r->readable)
                used += (size_t) snprintf (buf + used, size - used, " [unreadable]");
            else if (r->size <= 32)
                used += (size_t) snprintf (buf + used, size - used, " [%zu:%.*s]", r->size,
                                           (int) r->size, r->content);
            else
                used += (size_t) snprintf (buf + used, size - used, " [%zu]", r->size);
        }
    }
    pthread_mutex_unlock (&s_lock);
}

static void
s_sleep_ms (long ms)
{
    struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000L};
    nanosleep (&ts, NULL);
}

//  The log becomes expected within 5 s and stays so for 100 ms
static void
s_expect_keep (const char *expected)
{
    static char log[1 << 16];
    for (int i = 0; i < 500; i++) {
        s_log_render (log, sizeof log);
        if (strcmp (log, expected) == 0)
            break;
        s_sleep_ms (10);
    }
    s_sleep_ms (100);
    s_log_render (log, sizeof log);
    assert_string_equal (log, expected);
}

//  s_expect_keep, then the log is emptied
static void
s_expect (const char *expected)
{
    s_expect_keep (expected);
    s_log_reset ();
}

//  The last changed() record of op and path (under no lock: call after s_expect's wait)
static record_t *
s_find_changed (ws_op_t op, const char *path)
{
    for (size_t i = s_nrecords; i-- > 0;)
        if (!s_records[i].is_check && s_records[i].op == op &&
            strcmp (s_records[i].path, path) == 0)
            return &s_records[i];
    return NULL;
}

//  ---------------------------------------------------------------------
//  Files

static const char *
s_at (const char *dir, const char *rel)
{
    static char bufs[16][PATH_MAX];
    static unsigned next;
    char *buf = bufs[next++ % 16];
    if (snprintf (buf, PATH_MAX, "%s/%s", dir, rel) >= PATH_MAX)
        abort ();
    return buf;
}

static void
s_put (const char *path, const char *content)
{
    int fd = open (path, O_CREAT | O_WRONLY | O_TRUNC, 0644);
    assert_true (fd >= 0);
    size_t len = strlen (content);
    assert_int_equal (write (fd, content, len), (ssize_t) len);
    assert_int_equal (close (fd), 0);
}

//  The file's content (malloc'd, NUL-terminated), NULL if it cannot be read
static char *
s_get (const char *path)
{
    int fd = open (path, O_RDONLY);
    if (fd < 0)
        return NULL;
    size_t size = 0, cap = 4096;
    char *buf = malloc (cap + 1);
    for (;;) {
        if (size == cap)
            buf = realloc (buf, (cap *= 2) + 1);
        ssize_t n = read (fd, buf + size, cap - size);
        if (n <= 0)
            break;
        size += (size_t) n;
    }
    close (fd);
    buf[size] = 0;
    return buf;
}

static void
s_assert_content (const char *path, const char *expected)
{
    char *got = s_get (path);
    assert_non_null (got);
    assert_string_equal (got, expected);
    free (got);
}

static bool
s_exists (const char *path)
{
    struct stat st;
    return lstat (path, &st) == 0;
}

static int
s_rm_one (const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void) st;
    (void) flag;
    (void) ftw;
    remove (path);
    return 0;
}

static void
s_rm_tree (const char *path)
{
    nftw (path, s_rm_one, 64, FTW_DEPTH | FTW_PHYS | FTW_MOUNT);
}

//  Whether a mount point is path (in /proc/self/mountinfo)
static bool
s_mounted (const char *path)
{
    FILE *f = fopen ("/proc/self/mountinfo", "r");
    if (!f)
        return false;
    char line[4096];
    bool found = false;
    while (!found && fgets (line, sizeof line, f)) {
        char mnt[PATH_MAX];
        if (sscanf (line, "%*s %*s %*s %*s %4095s", mnt) == 1 && strcmp (mnt, path) == 0)
            found = true;
    }
    fclose (f);
    return found;
}

//  Detaches every mount under dir (the suite's own clean-up)
static void
s_detach_under (const char *dir)
{
    for (int round = 0; round < 8; round++) {
        FILE *f = fopen ("/proc/self/mountinfo", "r");
        if (!f)
            return;
        char line[4096];
        bool any = false;
        size_t len = strlen (dir);
        while (fgets (line, sizeof line, f)) {
            char mnt[PATH_MAX];
            if (sscanf (line, "%*s %*s %*s %*s %4095s", mnt) == 1 && strncmp (mnt, dir, len) == 0) {
                umount2 (mnt, MNT_FORCE);
                umount2 (mnt, MNT_DETACH);
                any = true;
            }
        }
        fclose (f);
        if (!any)
            return;
    }
}

//  ---------------------------------------------------------------------
//  The fixture: src/ mounted at mnt/, beside outside/, in a fresh directory

typedef struct {
    char base[PATH_MAX];
    char src[PATH_MAX];
    char mnt[PATH_MAX];
    char out[PATH_MAX];
    workspace_t *ws;
    pthread_t thread;
    int run_rc;
} fixture_t;

static void
s_on_alarm (int sig)
{
    (void) sig;
    static const char msg[] = "test_workspace: a test ran past its time bound\n";
    (void) !write (2, msg, sizeof msg - 1);
    _exit (1);
}

static void *
s_runner (void *arg)
{
    fixture_t *fx = arg;
    fx->run_rc = workspace_run (fx->ws);
    return NULL;
}

static int
s_setup (void **state)
{
    alarm (TEST_SECONDS);
    fixture_t *fx = calloc (1, sizeof (fixture_t));
    snprintf (fx->base, sizeof fx->base, "%s/t-XXXXXX", s_run_dir);
    if (!mkdtemp (fx->base) || chmod (fx->base, 0755))
        return -1;
    if (snprintf (fx->src, sizeof fx->src, "%s/src", fx->base) >= (int) sizeof fx->src)
        return -1;
    if (snprintf (fx->mnt, sizeof fx->mnt, "%s/mnt", fx->base) >= (int) sizeof fx->mnt)
        return -1;
    if (snprintf (fx->out, sizeof fx->out, "%s/outside", fx->base) >= (int) sizeof fx->out)
        return -1;
    if (mkdir (fx->src, 0755) || mkdir (fx->mnt, 0755) || mkdir (fx->out, 0755))
        return -1;
    char err[256];
    fx->ws = workspace_new (fx->src, &s_hooks, err, sizeof err);
    if (!fx->ws || workspace_mount (fx->ws, fx->mnt, NULL, err, sizeof err) != 0) {
        fprintf (stderr, "setup: %s\n", err);
        return -1;
    }
    if (pthread_create (&fx->thread, NULL, s_runner, fx) != 0)
        return -1;
    s_deny (-1, NULL, -EACCES);
    s_log_reset ();
    *state = fx;
    return 0;
}

static int
s_teardown (void **state)
{
    fixture_t *fx = *state;
    int rc = 0;
    workspace_stop (fx->ws);
    pthread_join (fx->thread, NULL);
    if (fx->run_rc != 0 || s_mounted (fx->mnt)) {
        fprintf (stderr, "teardown: run %d, %s\n", fx->run_rc,
                 s_mounted (fx->mnt) ? "still mounted" : "unmounted");
        rc = -1;
    }
    workspace_destroy (&fx->ws);
    s_detach_under (fx->base);
    s_rm_tree (fx->base);
    s_log_reset ();
    free (fx);
    alarm (0);
    return rc;
}

#define M(rel) s_at (fx->mnt, rel)
#define S(rel) s_at (fx->src, rel)

//  ---------------------------------------------------------------------
//  Tests

static void
test_create_write_read (void **state)
{
    fixture_t *fx = *state;
    int fd = open (M ("a.txt"), O_CREAT | O_WRONLY | O_EXCL, 0640);
    assert_true (fd >= 0);
    assert_int_equal (write (fd, "hello", 5), 5);
    assert_int_equal (close (fd), 0);
    s_expect ("check create a.txt; changed create a.txt [5:hello]");
    s_assert_content (S ("a.txt"), "hello");
    struct stat st;
    assert_int_equal (stat (S ("a.txt"), &st), 0);
    assert_int_equal (st.st_mode & 07777, 0640);
    s_assert_content (M ("a.txt"), "hello");
    s_expect ("check read a.txt");
    //  A creation that writes nothing is still reported, once
    fd = open (M ("empty"), O_CREAT | O_WRONLY, 0644);
    assert_true (fd >= 0);
    assert_int_equal (close (fd), 0);
    s_expect ("check create empty; changed create empty [0:]");
    //  Two writing opens: two reports
    for (int i = 0; i < 2; i++) {
        fd = open (M ("a.txt"), O_WRONLY);
        assert_true (fd >= 0);
        assert_int_equal (pwrite (fd, i ? "J" : "j", 1, 0), 1);
        assert_int_equal (close (fd), 0);
    }
    //  (reported at close(2), in order; the kernel's release comes later)
    s_expect ("check write a.txt; changed write a.txt [5:jello]; check write a.txt; changed write "
              "a.txt [5:Jello]");
    //  A descriptor shared by two processes: reported at the close that
    //  follows writes, not at the other
    fd = open (M ("a.txt"), O_WRONLY);
    assert_true (fd >= 0);
    pid_t pid = fork ();
    assert_true (pid >= 0);
    if (pid == 0)
        _exit (close (fd) == 0 ? 0 : 1);
    int status;
    assert_int_equal (waitpid (pid, &status, 0), pid);
    assert_int_equal (status, 0);
    assert_int_equal (pwrite (fd, "H", 1, 0), 1);
    assert_int_equal (close (fd), 0);
    s_expect ("check write a.txt; changed write a.txt [5:Hello]");
    //  A writing open that writes nothing changes nothing
    fd = open (M ("a.txt"), O_RDWR);
    assert_true (fd >= 0);
    assert_int_equal (close (fd), 0);
    s_expect ("check write a.txt");
}

static void
test_truncate (void **state)
{
    fixture_t *fx = *state;
    s_put (S ("t.txt"), "old content");
    int fd = open (M ("t.txt"), O_WRONLY | O_TRUNC);
    assert_true (fd >= 0);
    assert_int_equal (write (fd, "new", 3), 3);
    assert_int_equal (close (fd), 0);
    s_expect ("check write t.txt; check truncate t.txt; changed write t.txt [3:new]");
    s_assert_content (S ("t.txt"), "new");
    //  O_TRUNC alone is a change
    fd = open (M ("t.txt"), O_WRONLY | O_TRUNC);
    assert_true (fd >= 0);
    assert_int_equal (close (fd), 0);
    s_expect ("check write t.txt; check truncate t.txt; changed write t.txt [0:]");
    s_put (S ("t.txt"), "abcdef");
    assert_int_equal (truncate (M ("t.txt"), 2), 0);
    s_expect ("check truncate t.txt; changed truncate t.txt [2:ab]");
    s_assert_content (S ("t.txt"), "ab");
    //  ftruncate on a writing handle: asked and reported, and the handle's
    //  release reports the content
    fd = open (M ("t.txt"), O_RDWR);
    assert_true (fd >= 0);
    assert_int_equal (ftruncate (fd, 1), 0);
    assert_int_equal (close (fd), 0);
    s_expect ("check write t.txt; check truncate t.txt; changed truncate t.txt [1:a]; changed "
              "write t.txt [1:a]");
}

static void
test_append (void **state)
{
    fixture_t *fx = *state;
    s_put (S ("ap.txt"), "abc");
    int fd = open (M ("ap.txt"), O_WRONLY | O_APPEND);
    assert_true (fd >= 0);
    assert_int_equal (write (fd, "def", 3), 3);
    assert_int_equal (write (fd, "g", 1), 1);
    assert_int_equal (close (fd), 0);
    //  A write-only handle: the hook gets a descriptor it can read
    s_expect ("check write ap.txt; changed write ap.txt [7:abcdefg]");
    s_assert_content (S ("ap.txt"), "abcdefg");
}

static void
test_rename (void **state)
{
    fixture_t *fx = *state;
    s_put (S ("a"), "A");
    s_put (S ("b"), "B");
    s_put (S ("c"), "C");
    assert_int_equal (rename (M ("a"), M ("x")), 0);
    s_expect ("check rename a -> x; changed rename a -> x");
    assert_false (s_exists (S ("a")));
    s_assert_content (S ("x"), "A");
    //  Over an existing file
    assert_int_equal (rename (M ("x"), M ("c")), 0);
    s_expect ("check rename x -> c; changed rename x -> c");
    s_assert_content (S ("c"), "A");
    //  RENAME_NOREPLACE onto an existing name: refused, nothing reported
    //  (the kernel may refuse it before asking)
    assert_int_equal (renameat2 (AT_FDCWD, M ("c"), AT_FDCWD, M ("b"), RENAME_NOREPLACE), -1);
    assert_int_equal (errno, EEXIST);
    s_sleep_ms (100);
    char log[4096];
    s_log_render (log, sizeof log);
    assert_null (strstr (log, "changed"));
    s_log_reset ();
    s_assert_content (S ("b"), "B");
    s_assert_content (S ("c"), "A");
    //  ... and onto a free one
    assert_int_equal (renameat2 (AT_FDCWD, M ("c"), AT_FDCWD, M ("d"), RENAME_NOREPLACE), 0);
    s_expect ("check rename c -> d; changed rename c -> d");
    //  RENAME_EXCHANGE
    assert_int_equal (renameat2 (AT_FDCWD, M ("b"), AT_FDCWD, M ("d"), RENAME_EXCHANGE), 0);
    s_expect ("check rename b -> d; changed rename b -> d");
    s_assert_content (S ("b"), "A");
    s_assert_content (S ("d"), "B");
    //  Into a subdirectory
    assert_int_equal (mkdir (S ("sub"), 0755), 0);
    assert_int_equal (rename (M ("d"), M ("sub/d2")), 0);
    s_expect ("check rename d -> sub/d2; changed rename d -> sub/d2");
    s_assert_content (S ("sub/d2"), "B");
}

static void
test_dirs_unlink (void **state)
{
    fixture_t *fx = *state;
    assert_int_equal (mkdir (M ("d"), 0750), 0);
    s_expect ("check mkdir d; changed mkdir d");
    struct stat st;
    assert_int_equal (stat (S ("d"), &st), 0);
    assert_true (S_ISDIR (st.st_mode));
    assert_int_equal (st.st_mode & 07777, 0750);
    assert_int_equal (mkdir (M ("d/e"), 0755), 0);
    s_expect ("check mkdir d/e; changed mkdir d/e");
    s_put (S ("d/f"), "F");
    assert_int_equal (rmdir (M ("d")), -1);
    assert_int_equal (errno, ENOTEMPTY);
    s_expect ("check rmdir d");
    assert_int_equal (rmdir (M ("d/e")), 0);
    s_expect ("check rmdir d/e; changed rmdir d/e");
    assert_false (s_exists (S ("d/e")));
    assert_int_equal (unlink (M ("d/f")), 0);
    s_expect ("check unlink d/f; changed unlink d/f");
    assert_false (s_exists (S ("d/f")));
    assert_int_equal (rmdir (M ("d")), 0);
    s_expect ("check rmdir d; changed rmdir d");
    assert_false (s_exists (S ("d")));
}

static void
test_links (void **state)
{
    fixture_t *fx = *state;
    assert_int_equal (symlink ("some/target", M ("l")), 0);
    s_expect ("check symlink l -> some/target; changed symlink l -> some/target");
    char buf[PATH_MAX];
    ssize_t n = readlink (M ("l"), buf, sizeof buf);
    assert_int_equal (n, 11);
    assert_memory_equal (buf, "some/target", 11);
    n = readlink (S ("l"), buf, sizeof buf);
    assert_int_equal (n, 11);
    assert_memory_equal (buf, "some/target", 11);
    s_put (S ("f"), "x");
    assert_int_equal (link (M ("f"), M ("g")), 0);
    s_expect ("check link f -> g; changed link f -> g");
    struct stat a, b;
    assert_int_equal (stat (M ("f"), &a), 0);
    assert_int_equal (stat (M ("g"), &b), 0);
    assert_int_equal (a.st_ino, b.st_ino);
    assert_int_equal (b.st_nlink, 2);
    assert_int_equal (stat (S ("g"), &b), 0);
    assert_int_equal (b.st_nlink, 2);
    //  Writing through one name shows through the other. One node, one
    //  path: the hooks see the name the mount resolved first (README:
    //  hard links), here f
    int fd = open (M ("g"), O_WRONLY | O_APPEND);
    assert_true (fd >= 0);
    assert_int_equal (write (fd, "y", 1), 1);
    assert_int_equal (close (fd), 0);
    s_expect ("check write f; changed write f [2:xy]");
    s_assert_content (M ("f"), "xy");
    s_expect ("check read f");
}

static void
test_attributes (void **state)
{
    fixture_t *fx = *state;
    s_put (S ("f"), "x");
    assert_int_equal (chmod (M ("f"), 0600), 0);
    s_expect ("check chmod f; changed chmod f");
    struct stat st;
    assert_int_equal (stat (S ("f"), &st), 0);
    assert_int_equal (st.st_mode & 07777, 0600);
    assert_int_equal (chown (M ("f"), 1234, 5678), 0);
    s_expect ("check chown f; changed chown f");
    assert_int_equal (stat (S ("f"), &st), 0);
    assert_int_equal (st.st_uid, 1234);
    assert_int_equal (st.st_gid, 5678);
    //  Timestamps: neither asked nor reported
    struct timespec tv[2] = {{.tv_sec = 1000000000}, {.tv_sec = 1000000001}};
    assert_int_equal (utimensat (AT_FDCWD, M ("f"), tv, 0), 0);
    s_expect ("");
    assert_int_equal (stat (S ("f"), &st), 0);
    assert_int_equal (st.st_mtim.tv_sec, 1000000001);
    assert_int_equal (st.st_atim.tv_sec, 1000000000);
    //  chmod of a directory
    assert_int_equal (mkdir (S ("d"), 0755), 0);
    assert_int_equal (chmod (M ("d"), 0711), 0);
    s_expect ("check chmod d; changed chmod d");
    assert_int_equal (stat (S ("d"), &st), 0);
    assert_int_equal (st.st_mode & 07777, 0711);
}

static void
test_xattr (void **state)
{
    fixture_t *fx = *state;
    s_put (S ("f"), "x");
    if (setxattr (S ("f"), "user.probe", "1", 1, 0) != 0) {
        fprintf (stderr,
                 "test_xattr: the source's file system has no user xattrs (%s): "
                 "only the refusals are tested\n",
                 strerror (errno));
        assert_int_equal (setxattr (M ("f"), "trusted.k", "v", 1, 0), -1);
        assert_int_equal (errno, EOPNOTSUPP);
        s_expect ("");
        return;
    }
    assert_int_equal (removexattr (S ("f"), "user.probe"), 0);
    assert_int_equal (setxattr (M ("f"), "user.k", "value", 5, 0), 0);
    s_expect ("check setxattr f -> user.k; changed setxattr f -> user.k");
    char buf[256];
    assert_int_equal (getxattr (M ("f"), "user.k", buf, sizeof buf), 5);
    assert_memory_equal (buf, "value", 5);
    assert_int_equal (getxattr (S ("f"), "user.k", buf, sizeof buf), 5);
    assert_int_equal (getxattr (M ("f"), "user.k", NULL, 0), 5);
    ssize_t n = listxattr (M ("f"), buf, sizeof buf);
    assert_true (n > 0);
    bool found = false;
    for (ssize_t i = 0; i < n; i += (ssize_t) strlen (buf + i) + 1)
        found |= strcmp (buf + i, "user.k") == 0;
    assert_true (found);
    assert_int_equal (removexattr (M ("f"), "user.k"), 0);
    s_expect ("check removexattr f -> user.k; changed removexattr f -> user.k");
    assert_int_equal (getxattr (S ("f"), "user.k", buf, sizeof buf), -1);
    assert_int_equal (errno, ENODATA);
    //  Other namespaces carry permissions or labels: never set
    assert_int_equal (setxattr (M ("f"), "trusted.k", "v", 1, 0), -1);
    assert_int_equal (errno, EOPNOTSUPP);
    assert_int_equal (getxattr (S ("f"), "trusted.k", buf, sizeof buf), -1);
    s_expect ("");
}

static void
test_statfs_readdir (void **state)
{
    fixture_t *fx = *state;
    struct statvfs a, b;
    assert_int_equal (statvfs (M (""), &a), 0);
    assert_int_equal (statvfs (S (""), &b), 0);
    assert_int_equal (a.f_blocks, b.f_blocks);
    assert_int_equal (a.f_files, b.f_files);
    assert_int_equal (a.f_bsize, b.f_bsize);
    enum { N = 3000 };
    assert_int_equal (mkdir (S ("many"), 0755), 0);
    for (int i = 0; i < N; i++) {
        char name[32];
        snprintf (name, sizeof name, "many/f%04d", i);
        int fd = open (S (name), O_CREAT | O_WRONLY, 0644);
        assert_true (fd >= 0);
        close (fd);
    }
    static bool seen[N];
    memset (seen, 0, sizeof seen);
    DIR *dir = opendir (M ("many"));
    assert_non_null (dir);
    int count = 0, dots = 0;
    struct dirent *de;
    while ((de = readdir (dir))) {
        if (strcmp (de->d_name, ".") == 0 || strcmp (de->d_name, "..") == 0) {
            dots++;
            continue;
        }
        int i;
        assert_int_equal (sscanf (de->d_name, "f%04d", &i), 1);
        assert_true (i >= 0 && i < N);
        assert_false (seen[i]);
        seen[i] = true;
        assert_int_equal (de->d_type, DT_REG);
        count++;
    }
    closedir (dir);
    assert_int_equal (count, N);
    assert_int_equal (dots, 2);
    s_expect ("");
}

static uint64_t
s_xorshift (uint64_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

static void
test_large_sparse (void **state)
{
    fixture_t *fx = *state;
    size_t size = 8u << 20;
    unsigned char *data = malloc (size);
    uint64_t seed = 0x1234567;
    for (size_t i = 0; i < size; i += 8) {
        uint64_t v = s_xorshift (&seed);
        memcpy (data + i, &v, 8);
    }
    int fd = open (M ("big.bin"), O_CREAT | O_WRONLY, 0644);
    assert_true (fd >= 0);
    for (size_t off = 0; off < size; off += 1u << 20)
        assert_int_equal (write (fd, data + off, 1u << 20), 1 << 20);
    assert_int_equal (close (fd), 0);
    s_expect ("check create big.bin; changed create big.bin [8388608]");
    //  (s_expect emptied the log; the content was checked through it)
    char *got = s_get (M ("big.bin"));
    assert_non_null (got);
    assert_memory_equal (got, data, size);
    free (got);
    got = s_get (S ("big.bin"));
    assert_memory_equal (got, data, size);
    free (got);
    s_expect ("check read big.bin");
    //  The hook's copy: rewrite the second MiB and check what it read
    fd = open (M ("big.bin"), O_RDWR);
    assert_true (fd >= 0);
    memset (data + (1u << 20), 0x5a, 1u << 20);
    assert_int_equal (pwrite (fd, data + (1u << 20), 1u << 20, 1 << 20), 1 << 20);
    assert_int_equal (close (fd), 0);
    for (int i = 0; i < 500; i++) {
        pthread_mutex_lock (&s_lock);
        bool done = s_find_changed (WS_WRITE, "big.bin") != NULL;
        pthread_mutex_unlock (&s_lock);
        if (done)
            break;
        s_sleep_ms (10);
    }
    pthread_mutex_lock (&s_lock);
    record_t *r = s_find_changed (WS_WRITE, "big.bin");
    assert_non_null (r);
    assert_true (r->readable);
    assert_int_equal (r->size, size);
    assert_memory_equal (r->content, data, size);
    pthread_mutex_unlock (&s_lock);
    s_log_reset ();
    free (data);
    //  A sparse write far from the start
    fd = open (M ("sparse"), O_CREAT | O_WRONLY, 0644);
    assert_true (fd >= 0);
    off_t at = (off_t) (4u << 20) + 3;
    assert_int_equal (pwrite (fd, "X", 1, at), 1);
    assert_int_equal (close (fd), 0);
    struct stat st;
    assert_int_equal (stat (M ("sparse"), &st), 0);
    assert_int_equal (st.st_size, at + 1);
    assert_int_equal (stat (S ("sparse"), &st), 0);
    assert_true ((off_t) st.st_blocks * 512 < at);
    got = s_get (M ("sparse"));
    for (off_t i = 0; i < at; i++)
        if (got[i] != 0)
            fail_msg ("byte %ld of the sparse file is %d", (long) i, got[i]);
    assert_int_equal (got[at], 'X');
    free (got);
    s_log_reset ();
}

static void
test_rename_dir_while_open (void **state)
{
    fixture_t *fx = *state;
    assert_int_equal (mkdir (S ("d"), 0755), 0);
    int fd = open (M ("d/f"), O_CREAT | O_WRONLY, 0644);
    assert_true (fd >= 0);
    assert_int_equal (write (fd, "one", 3), 3);
    assert_int_equal (rename (M ("d"), M ("e")), 0);
    assert_int_equal (write (fd, "two", 3), 3);
    assert_int_equal (fsync (fd), 0);
    assert_int_equal (fdatasync (fd), 0);
    assert_int_equal (close (fd), 0);
    s_expect ("check create d/f; check rename d -> e; changed rename d -> e; changed create e/f "
              "[6:onetwo]");
    s_assert_content (S ("e/f"), "onetwo");
    assert_false (s_exists (S ("d")));
}

//  Every kind of change refused: the caller gets the hook's errno and the
//  source stays as it was
static void
test_denied (void **state)
{
    fixture_t *fx = *state;
    s_put (S ("f"), "keep");
    s_put (S ("secret"), "s3cr3t");
    assert_int_equal (mkdir (S ("d"), 0755), 0);
    bool xattrs = setxattr (S ("f"), "user.k", "v", 1, 0) == 0;
    struct stat before, after;
    assert_int_equal (stat (S ("f"), &before), 0);

    s_deny (WS_CREATE, "n1", -EACCES);
    assert_int_equal (open (M ("n1"), O_CREAT | O_WRONLY, 0644), -1);
    assert_int_equal (errno, EACCES);
    assert_false (s_exists (S ("n1")));
    s_expect ("check create n1");
    assert_int_equal (mknod (M ("n1"), S_IFIFO | 0644, 0), -1);
    assert_int_equal (errno, EACCES);
    assert_false (s_exists (S ("n1")));
    s_expect ("check create n1");

    s_deny (WS_WRITE, "f", -EACCES);
    assert_int_equal (open (M ("f"), O_WRONLY), -1);
    assert_int_equal (errno, EACCES);
    assert_int_equal (open (M ("f"), O_RDWR | O_APPEND), -1);
    assert_int_equal (errno, EACCES);
    s_expect ("check write f; check write f");

    s_deny (WS_TRUNCATE, "f", -EACCES);
    assert_int_equal (open (M ("f"), O_WRONLY | O_TRUNC), -1);
    assert_int_equal (errno, EACCES);
    assert_int_equal (truncate (M ("f"), 0), -1);
    assert_int_equal (errno, EACCES);
    s_expect ("check write f; check truncate f; check truncate f");
    s_assert_content (S ("f"), "keep");

    s_deny (WS_READ, "secret", -EACCES);
    assert_int_equal (open (M ("secret"), O_RDONLY), -1);
    assert_int_equal (errno, EACCES);
    struct stat st;
    assert_int_equal (stat (M ("secret"), &st), 0); //  not a read of the content
    s_expect ("check read secret");

    s_deny (WS_UNLINK, "f", -EPERM);
    assert_int_equal (unlink (M ("f")), -1);
    assert_int_equal (errno, EPERM);
    assert_true (s_exists (S ("f")));
    s_expect ("check unlink f");

    s_deny (WS_RENAME, "f", -EACCES);
    assert_int_equal (rename (M ("f"), M ("g")), -1);
    assert_int_equal (errno, EACCES);
    assert_true (s_exists (S ("f")));
    assert_false (s_exists (S ("g")));
    s_expect ("check rename f -> g");

    s_deny (WS_MKDIR, "e", -EACCES);
    assert_int_equal (mkdir (M ("e"), 0755), -1);
    assert_int_equal (errno, EACCES);
    assert_false (s_exists (S ("e")));
    s_expect ("check mkdir e");

    s_deny (WS_RMDIR, "d", -EACCES);
    assert_int_equal (rmdir (M ("d")), -1);
    assert_int_equal (errno, EACCES);
    assert_true (s_exists (S ("d")));
    s_expect ("check rmdir d");

    s_deny (WS_CHMOD, "f", -EACCES);
    assert_int_equal (chmod (M ("f"), 0777), -1);
    assert_int_equal (errno, EACCES);
    s_expect ("check chmod f");

    s_deny (WS_CHOWN, "f", -EACCES);
    assert_int_equal (chown (M ("f"), 42, 42), -1);
    assert_int_equal (errno, EACCES);
    s_expect ("check chown f");

    s_deny (WS_SYMLINK, "l", -EACCES);
    assert_int_equal (symlink ("/etc/passwd", M ("l")), -1);
    assert_int_equal (errno, EACCES);
    assert_false (s_exists (S ("l")));
    s_expect ("check symlink l -> /etc/passwd");

    s_deny (WS_LINK, "f", -EACCES);
    assert_int_equal (link (M ("f"), M ("h")), -1);
    assert_int_equal (errno, EACCES);
    assert_false (s_exists (S ("h")));
    s_expect ("check link f -> h");

    if (xattrs) {
        s_deny (WS_SETXATTR, "f", -EACCES);
        assert_int_equal (setxattr (M ("f"), "user.k", "changed", 7, 0), -1);
        assert_int_equal (errno, EACCES);
        s_expect ("check setxattr f -> user.k");
        s_deny (WS_REMOVEXATTR, "f", -EACCES);
        assert_int_equal (removexattr (M ("f"), "user.k"), -1);
        assert_int_equal (errno, EACCES);
        s_expect ("check removexattr f -> user.k");
        char v[16];
        assert_int_equal (getxattr (S ("f"), "user.k", v, sizeof v), 1);
        assert_int_equal (v[0], 'v');
    }

    assert_int_equal (stat (S ("f"), &after), 0);
    assert_int_equal (after.st_mode, before.st_mode);
    assert_int_equal (after.st_uid, before.st_uid);
    assert_int_equal (after.st_gid, before.st_gid);
    assert_int_equal (after.st_nlink, 1);
    assert_int_equal (after.st_mtim.tv_sec, before.st_mtim.tv_sec);
    assert_int_equal (after.st_mtim.tv_nsec, before.st_mtim.tv_nsec);
    s_assert_content (S ("f"), "keep");
    s_assert_content (S ("secret"), "s3cr3t");
}

static void
test_mknod (void **state)
{
    fixture_t *fx = *state;
    assert_int_equal (mknod (M ("null"), S_IFCHR | 0666, makedev (1, 3)), -1);
    assert_int_equal (errno, EPERM);
    assert_int_equal (mknod (M ("blk"), S_IFBLK | 0666, makedev (7, 0)), -1);
    assert_int_equal (errno, EPERM);
    s_expect ("");
    assert_false (s_exists (S ("null")));
    assert_false (s_exists (S ("blk")));
    assert_int_equal (mkfifo (M ("fifo"), 0600), 0);
    s_expect ("check create fifo; changed create fifo");
    struct stat st;
    assert_int_equal (lstat (S ("fifo"), &st), 0);
    assert_true (S_ISFIFO (st.st_mode));
    assert_int_equal (mknod (M ("reg"), S_IFREG | 0644, 0), 0);
    s_expect ("check create reg; changed create reg [0:]");
    assert_int_equal (lstat (S ("reg"), &st), 0);
    assert_true (S_ISREG (st.st_mode));
}

//  Names with "." and ".." resolve in the kernel, inside the mount; a node
//  moved out of the source from outside is refused; nothing lands outside
static void
test_escape (void **state)
{
    fixture_t *fx = *state;
    assert_int_equal (mkdir (S ("d"), 0755), 0);
    s_put (M ("d/../y"), "y");
    s_expect ("check create y; changed create y [1:y]");
    s_put (M ("./d/./../d/../z"), "z");
    s_expect ("check create z; changed create z [1:z]");
    s_assert_content (S ("y"), "y");
    s_assert_content (S ("z"), "z");
    //  A directory moved out of the source from outside the mount, used
    //  through a descriptor opened before
    assert_int_equal (mkdir (S ("m"), 0755), 0);
    int dfd = open (M ("m"), O_RDONLY | O_DIRECTORY);
    assert_true (dfd >= 0);
    assert_int_equal (rename (S ("m"), s_at (fx->out, "m")), 0);
    assert_int_equal (mkdirat (dfd, "x", 0755), -1);
    assert_int_equal (errno, EACCES);
    int fd = openat (dfd, "new", O_CREAT | O_WRONLY, 0644);
    assert_int_equal (fd, -1);
    assert_int_equal (errno, EACCES);
    assert_int_equal (symlinkat ("t", dfd, "sl"), -1);
    assert_int_equal (errno, EACCES);
    close (dfd);
    s_expect ("");
    assert_false (s_exists (s_at (fx->out, "m/x")));
    assert_false (s_exists (s_at (fx->out, "m/new")));
    assert_false (s_exists (s_at (fx->out, "m/sl")));
    //  A link leading out is created as asked: the guard judges its text
    assert_int_equal (symlink ("../outside", M ("esc")), 0);
    s_expect ("check symlink esc -> ../outside; changed symlink esc -> ../outside");
    //  The base holds what the test made, and no more
    DIR *dir = opendir (fx->base);
    assert_non_null (dir);
    struct dirent *de;
    int n = 0;
    while ((de = readdir (dir)))
        if (strcmp (de->d_name, ".") && strcmp (de->d_name, "..")) {
            n++;
            if (strcmp (de->d_name, "src") && strcmp (de->d_name, "mnt") &&
                strcmp (de->d_name, "outside"))
                fail_msg ("unexpected %s beside the source", de->d_name);
        }
    closedir (dir);
    assert_int_equal (n, 3);
    dir = opendir (fx->out);
    n = 0;
    while ((de = readdir (dir)))
        n += strcmp (de->d_name, ".") && strcmp (de->d_name, "..");
    closedir (dir);
    assert_int_equal (n, 1); //  m, moved by the test
}

//  Another user's changes: made with their ownership; the kernel checks
//  modes (default_permissions) before anything is asked
static void
test_other_user (void **state)
{
    fixture_t *fx = *state;
    assert_int_equal (mkdir (S ("shared"), 0777), 0);
    assert_int_equal (chmod (S ("shared"), 0777), 0);
    s_put (S ("shared/root-only"), "r");
    pid_t pid = fork ();
    assert_true (pid >= 0);
    if (pid == 0) {
        if (setgid (4321) || setuid (1234))
            _exit (10);
        umask (022);
        int fd = open (s_at (fx->mnt, "shared/mine"), O_CREAT | O_WRONLY, 0664);
        if (fd < 0 || write (fd, "m", 1) != 1 || close (fd))
            _exit (11);
        if (mkdir (s_at (fx->mnt, "shared/mydir"), 0777))
            _exit (12);
        if (symlink ("mine", s_at (fx->mnt, "shared/mylink")))
            _exit (13);
        if (open (s_at (fx->mnt, "shared/root-only"), O_WRONLY) != -1 || errno != EACCES)
            _exit (14);
        _exit (0);
    }
    int status;
    assert_int_equal (waitpid (pid, &status, 0), pid);
    assert_true (WIFEXITED (status));
    assert_int_equal (WEXITSTATUS (status), 0);
    s_expect_keep ("check create shared/mine; changed create shared/mine [1:m]; check mkdir "
                   "shared/mydir; changed mkdir shared/mydir; check symlink shared/mylink -> mine; "
                   "changed symlink shared/mylink -> mine");
    pthread_mutex_lock (&s_lock);
    uid_t uid = s_nrecords ? s_records[0].uid : 0;
    pthread_mutex_unlock (&s_lock);
    assert_int_equal (uid, 1234);
    s_log_reset ();
    struct stat st;
    assert_int_equal (lstat (S ("shared/mine"), &st), 0);
    assert_int_equal (st.st_uid, 1234);
    assert_int_equal (st.st_gid, 4321);
    assert_int_equal (st.st_mode & 07777, 0644);
    assert_int_equal (lstat (S ("shared/mydir"), &st), 0);
    assert_int_equal (st.st_uid, 1234);
    assert_int_equal (st.st_gid, 4321);
    assert_int_equal (st.st_mode & 07777, 0755);
    assert_int_equal (lstat (S ("shared/mylink"), &st), 0);
    assert_int_equal (st.st_uid, 1234);
    s_assert_content (S ("shared/root-only"), "r");
}

static int
s_run (const char *command)
{
    int rc = system (command);
    return WIFEXITED (rc) ? WEXITSTATUS (rc) : -1;
}

//  A small C project built with make inside the mount
static void
test_build (void **state)
{
    fixture_t *fx = *state;
    assert_int_equal (mkdir (S ("proj"), 0755), 0);
    s_put (S ("proj/util.h"), "int answer (void);\n");
    s_put (S ("proj/util.c"), "#include \"util.h\"\nint answer (void) { return 42; }\n");
    s_put (S ("proj/main.c"),
           "#include <stdio.h>\n#include \"util.h\"\n"
           "int main (void) { printf (\"hello %d\\n\", answer ()); return 0; }\n");
    s_put (S ("proj/Makefile"), "hello: main.o util.o\n\t$(CC) -o $@ main.o util.o\n"
                                "%.o: %.c util.h\n\t$(CC) -c -o $@ $<\n");
    char cmd[PATH_MAX * 2];
    snprintf (cmd, sizeof cmd, "make -s -C %s >%s/make.log 2>&1", M ("proj"), fx->base);
    int rc = s_run (cmd);
    if (rc != 0) {
        char *log = s_get (s_at (fx->base, "make.log"));
        fail_msg ("make: %d: %s", rc, log ? log : "");
    }
    snprintf (cmd, sizeof cmd, "%s > %s/out.txt", M ("proj/hello"), fx->base);
    assert_int_equal (s_run (cmd), 0);
    s_assert_content (s_at (fx->base, "out.txt"), "hello 42\n");
    struct stat st;
    assert_int_equal (stat (S ("proj/hello"), &st), 0);
    assert_true (st.st_mode & S_IXUSR);
    //  Every file the build wrote was reported with its content
    const char *outputs[] = {"proj/main.o", "proj/util.o", "proj/hello"};
    for (int i = 0; i < 3; i++) {
        struct stat os;
        assert_int_equal (stat (S (outputs[i] + 0), &os), 0);
        bool found = false;
        for (int t = 0; t < 300 && !found; t++) {
            pthread_mutex_lock (&s_lock);
            for (size_t j = 0; j < s_nrecords; j++) {
                record_t *r = &s_records[j];
                if (!r->is_check && (r->op == WS_CREATE || r->op == WS_WRITE) &&
                    strcmp (r->path, outputs[i]) == 0 && r->readable &&
                    r->size == (size_t) os.st_size)
                    found = true;
            }
            pthread_mutex_unlock (&s_lock);
            if (!found)
                s_sleep_ms (10);
        }
        if (!found)
            fail_msg ("no change reported for %s with its %ld bytes", outputs[i],
                      (long) os.st_size);
    }
    s_log_reset ();
}

//  lh-fuse's shape: a process serving a mount that SIGTERM ends cleanly,
//  idle or with a file open inside
static workspace_t *s_child_ws;

static void
s_on_term (int sig)
{
    (void) sig;
    workspace_stop (s_child_ws);
}

static void
s_sigterm_case (bool busy)
{
    char base[PATH_MAX], src[PATH_MAX], mnt[PATH_MAX];
    snprintf (base, sizeof base, "%s/sig-XXXXXX", s_run_dir);
    assert_non_null (mkdtemp (base));
    assert_true (snprintf (src, sizeof src, "%s/src", base) < (int) sizeof src);
    assert_true (snprintf (mnt, sizeof mnt, "%s/mnt", base) < (int) sizeof mnt);
    assert_int_equal (mkdir (src, 0755), 0);
    assert_int_equal (mkdir (mnt, 0755), 0);
    s_put (s_at (src, "f"), "data");
    pid_t pid = fork ();
    assert_true (pid >= 0);
    if (pid == 0) {
        alarm (30);
        char err[256];
        s_child_ws = workspace_new (src, NULL, err, sizeof err);
        ws_options_t options;
        workspace_options_default (&options);
        options.stop_grace_ms = 300;
        if (!s_child_ws || workspace_mount (s_child_ws, mnt, &options, err, sizeof err))
            _exit (20);
        struct sigaction sa = {.sa_handler = s_on_term};
        sigemptyset (&sa.sa_mask);
        sigaction (SIGTERM, &sa, NULL);
        int rc = workspace_run (s_child_ws);
        workspace_destroy (&s_child_ws);
        _exit (rc == 0 ? 0 : 21);
    }
    bool up = false;
    for (int i = 0; i < 500 && !up; i++) {
        up = s_mounted (mnt);
        if (!up)
            s_sleep_ms (10);
    }
    assert_true (up);
    s_assert_content (s_at (mnt, "f"), "data");
    int fd = -1;
    if (busy) {
        fd = open (mnt, O_RDONLY | O_DIRECTORY);
        assert_true (fd >= 0);
    }
    assert_int_equal (kill (pid, SIGTERM), 0);
    int status = 0;
    pid_t done = 0;
    for (int i = 0; i < 1000 && done == 0; i++) {
        done = waitpid (pid, &status, WNOHANG);
        if (done == 0)
            s_sleep_ms (10);
    }
    if (done == 0) {
        kill (pid, SIGKILL);
        waitpid (pid, &status, 0);
        fail_msg ("the mount's process did not end within 10 s of SIGTERM");
    }
    assert_true (WIFEXITED (status));
    assert_int_equal (WEXITSTATUS (status), 0);
    assert_false (s_mounted (mnt));
    if (fd >= 0) {
        //  The connection is gone: the directory still open answers with
        //  an error, and nothing reaches the source
        assert_int_equal (openat (fd, "late", O_CREAT | O_WRONLY, 0644), -1);
        assert_false (s_exists (s_at (src, "late")));
        close (fd);
    }
    s_assert_content (s_at (src, "f"), "data");
    s_rm_tree (base);
}

static void
test_sigterm_idle (void **state)
{
    (void) state;
    alarm (TEST_SECONDS);
    s_sigterm_case (false);
    alarm (0);
}

static void
test_sigterm_busy (void **state)
{
    (void) state;
    alarm (TEST_SECONDS);
    s_sigterm_case (true);
    alarm (0);
}

//  ---------------------------------------------------------------------

static int
s_skip (const char *why)
{
    printf ("SKIP test_workspace: %s\n", why);
    return 77;
}

int
main (void)
{
    if (geteuid () != 0)
        return s_skip ("needs root (FUSE mounts with allow_other, other users' files)");
    int fd = open ("/dev/fuse", O_RDWR | O_CLOEXEC);
    if (fd < 0)
        return s_skip ("/dev/fuse is not usable");
    close (fd);
    snprintf (s_run_dir, sizeof s_run_dir, "/tmp/lh-ws-XXXXXX");
    if (!mkdtemp (s_run_dir) || chmod (s_run_dir, 0755))
        return 1;
    //  A first mount, to know whether mounting works at all here
    char probe[PATH_MAX], err[256];
    snprintf (probe, sizeof probe, "%s/probe", s_run_dir);
    mkdir (probe, 0755);
    workspace_t *ws = workspace_new (probe, NULL, err, sizeof err);
    int mounted = ws ? workspace_mount (ws, probe, NULL, err, sizeof err) : -1;
    workspace_destroy (&ws);
    if (mounted != 0) {
        s_detach_under (s_run_dir);
        s_rm_tree (s_run_dir);
        return s_skip (err);
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown (test_create_write_read, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_truncate, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_append, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_rename, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_dirs_unlink, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_links, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_attributes, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_xattr, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_statfs_readdir, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_large_sparse, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_rename_dir_while_open, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_denied, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_mknod, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_escape, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_other_user, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_build, s_setup, s_teardown),
        cmocka_unit_test (test_sigterm_idle),
        cmocka_unit_test (test_sigterm_busy),
    };
    pid_t pid = fork ();
    if (pid < 0)
        return 1;
    if (pid == 0) {
        signal (SIGALRM, s_on_alarm);
        exit (cmocka_run_group_tests (tests, NULL, NULL) ? 1 : 0); //  exit: LSan checks
    }
    int status = 0;
    pid_t done = 0;
    for (int i = 0; i < SUITE_SECONDS * 10 && done == 0; i++) {
        done = waitpid (pid, &status, WNOHANG);
        if (done == 0)
            s_sleep_ms (100);
    }
    if (done == 0) {
        fprintf (stderr, "test_workspace: the suite ran past %d s: killed\n", SUITE_SECONDS);
        kill (pid, SIGKILL);
        waitpid (pid, &status, 0);
        status = 1 << 8;
    }
    s_detach_under (s_run_dir);
    s_rm_tree (s_run_dir);
    return WIFEXITED (status) ? WEXITSTATUS (status) : 1;
}
