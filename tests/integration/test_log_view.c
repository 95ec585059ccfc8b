/*  lh-fuse log end to end: a real cluster (broker, a validator logging its
    decisions, three integrity replicas, lh-expert) and the log view
    mounted with an expert's key. Events, the JSONL log, the checkpoint,
    proofs, decisions, agents, a pending escalation answered through its
    verdict file, shadows and history (with attacker-chosen paths), refused
    writes, catching up after being down, and SIGTERM. Skips (77) unless
    run as root with a usable /dev/fuse.
*/
#include "harness.h"

#include "lh_mountinfo.h"

#include "codec.h"
#include "jsonpack.h"

#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <cmocka.h>
#include <dirent.h>
#include <signal.h>
#include <stdarg.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <sys/xattr.h>
#include <unistd.h>

#define SUDO "sudo systemctl restart nginx"

static char s_mnt[512]; //  detached by the teardown if a failure left it mounted

static int
s_teardown (void **state)
{
    int rc = cluster_teardown (state);
    if (s_mnt[0] && umount2 (s_mnt, MNT_DETACH) == 0)
        printf ("teardown: detached %s\n", s_mnt);
    return rc;
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

//  A whole file read through the mount (heap, NUL-terminated), or NULL
static char *
s_read (const char *path, size_t *size)
{
    int fd = open (path, O_RDONLY);
    if (fd < 0)
        return NULL;
    size_t cap = 4096, len = 0;
    char *buf = malloc (cap + 1);
    for (;;) {
        if (len == cap)
            buf = realloc (buf, (cap *= 2) + 1);
        ssize_t n = read (fd, buf + len, cap - len);
        if (n <= 0)
            break;
        len += (size_t) n;
    }
    close (fd);
    buf[len] = 0;
    if (size)
        *size = len;
    return buf;
}

//  Waits until path exists (timeout_ms); true if it does
static bool
s_appears (const char *path, int timeout_ms)
{
    int64_t until = zclock_mono () + timeout_ms;
    struct stat st;
    while (stat (path, &st) != 0 && zclock_mono () < until)
        zclock_sleep (100);
    return stat (path, &st) == 0;
}

static bool
s_vanishes (const char *path, int timeout_ms)
{
    int64_t until = zclock_mono () + timeout_ms;
    struct stat st;
    while (stat (path, &st) == 0 && zclock_mono () < until)
        zclock_sleep (100);
    return stat (path, &st) != 0 && errno == ENOENT;
}

//  Names in a directory (without . and ..), and the first one in first
static int
s_count (const char *dir, char *first, size_t size)
{
    DIR *d = opendir (dir);
    if (!d)
        return -1;
    int n = 0;
    struct dirent *e;
    while ((e = readdir (d)))
        if (!streq (e->d_name, ".") && !streq (e->d_name, "..")) {
            if (n++ == 0 && first)
                snprintf (first, size, "%s", e->d_name);
        }
    closedir (d);
    return n;
}

static bool
s_listed (const char *dir, const char *name)
{
    DIR *d = opendir (dir);
    if (!d)
        return false;
    bool found = false;
    struct dirent *e;
    while (!found && (e = readdir (d)))
        found = streq (e->d_name, name);
    closedir (d);
    return found;
}

static int
s_errno_of (int rc)
{
    return rc >= 0 ? 0 : errno;
}

//  Appends one file.* event about agent-1 as cert: a node (as a guarded
//  workspace does) or agent-1 itself (content as bin when not NULL, the
//  file's size as given: over the content's length, cut short); its seq
static uint64_t
s_append_as (cluster_t *c, zcert_t *cert, const char *type, const char *path, const char *target,
             const char *content, uint64_t size)
{
    codec_buf_t b;
    codec_buf_init (&b);
    msgpack_pack_map (&b.pk, 2);
    codec_pack_kv_str (&b.pk, "op", "append");
    codec_pack_str (&b.pk, "events");
    msgpack_pack_array (&b.pk, 1);
    msgpack_pack_map (&b.pk, cert == c->node ? 3 : 2);
    codec_pack_kv_str (&b.pk, "type", type);
    if (cert == c->node)
        codec_pack_kv_str (&b.pk, "agent", "agent-1");
    codec_pack_str (&b.pk, "data");
    msgpack_pack_map (&b.pk, 1 + (target != NULL) + (content ? 4 : 0));
    codec_pack_kv_str (&b.pk, "path", path);
    if (target)
        codec_pack_kv_str (&b.pk, "target", target);
    if (content) {
        codec_pack_kv_u64 (&b.pk, "size", size);
        codec_pack_kv_str (&b.pk, "sha256", "");
        codec_pack_kv_bin (&b.pk, "content", content, strlen (content));
        codec_pack_kv_bool (&b.pk, "truncated", size > strlen (content));
    }
    lh_client_t *client = cluster_client (c, cert);
    lh_reply_t *reply = lh_client_call (client, "events", b.sbuf.data, b.sbuf.size);
    codec_buf_destroy (&b);
    cluster_expect_ok (reply);
    const msgpack_object *results = codec_map_get (lh_reply_root (reply), "results");
    assert_non_null (results);
    const msgpack_object *seq = codec_map_get (&results->via.array.ptr[0], "seq");
    assert_non_null (seq);
    uint64_t value = seq->via.u64;
    lh_reply_destroy (&reply);
    lh_client_destroy (&client);
    return value;
}

static uint64_t
s_append_sized (cluster_t *c, const char *type, const char *path, const char *target,
                const char *content, uint64_t size)
{
    return s_append_as (c, c->node, type, path, target, content, size);
}

static uint64_t
s_append (cluster_t *c, const char *type, const char *path, const char *target, const char *content)
{
    return s_append_sized (c, type, path, target, content, content ? strlen (content) : 0);
}

//  A validate of command by agent-1 (no wait)
static void
s_validate (cluster_t *c, const char *command)
{
    char json[512];
    snprintf (json, sizeof (json),
              "{\"tool\":\"Bash\",\"input\":{\"command\":\"%s\"},\"cwd\":\"/home/dev/project\"}",
              command);
    lh_reply_t *reply = cluster_call (c, c->agent, "validate", json);
    cluster_expect_ok (reply);
    lh_reply_destroy (&reply);
}

//  The log's size as a replica answers
static uint64_t
s_log_size (cluster_t *c)
{
    lh_reply_t *reply =
        cluster_call (c, c->admin, "events.read", "{\"op\":\"range\",\"from\":0,\"limit\":1}");
    cluster_expect_ok (reply);
    uint64_t size = codec_map_get (lh_reply_root (reply), "size")->via.u64;
    lh_reply_destroy (&reply);
    return size;
}

static pid_t
s_start_view (cluster_t *c, const char *mnt, const char *log)
{
    char cert[512], dir[600];
    launcher_cert_path (c->launcher, "alice", cert, sizeof (cert));
    s_path (dir, sizeof (dir), "%s/logview", c->dir);
    char *argv[] = {(char *) LH_FUSE_BIN, "log",       "--mount",
                    (char *) mnt,         "--dir",     dir,
                    "--broker",           c->frontend, "--broker-key",
                    c->broker_key,        "--cert",    cert,
                    "--poll-ms",          "200",       NULL};
    pid_t pid = launcher_spawn (c->launcher, "lh-fuse-log", argv, log, -1, -1);
    assert_true (pid > 0);
    int64_t until = zclock_mono () + 10000;
    while (!lh_mounted (mnt, "lh-log") && zclock_mono () < until)
        zclock_sleep (50);
    assert_true (lh_mounted (mnt, "lh-log"));
    return pid;
}

static void
s_stop_view (pid_t pid, const char *mnt)
{
    assert_int_equal (kill (pid, SIGTERM), 0);
    int status = -1;
    int64_t until = zclock_mono () + 15000;
    while (waitpid (pid, &status, WNOHANG) == 0 && zclock_mono () < until)
        zclock_sleep (50);
    assert_true (WIFEXITED (status));
    assert_int_equal (WEXITSTATUS (status), 0);
    assert_false (lh_mounted (mnt, "lh-log"));
}

//  events/<seq>.json must be the replica's event, pretty, with a newline
static void
s_check_event (cluster_t *c, const char *mnt, uint64_t seq)
{
    char path[1024], json[128];
    s_path (path, sizeof (path), "%s/events/%llu.json", mnt, (unsigned long long) seq);
    char *text = s_read (path, NULL);
    assert_non_null (text);
    snprintf (json, sizeof (json), "{\"op\":\"get\",\"seq\":%llu}", (unsigned long long) seq);
    lh_reply_t *reply = cluster_call (c, c->admin, "events.read", json);
    cluster_expect_ok (reply);
    char *want = jsonpack_to_json (codec_map_get (lh_reply_root (reply), "event"), true);
    assert_non_null (want);
    size_t n = strlen (want);
    assert_int_equal (strlen (text), n + 1);
    assert_memory_equal (text, want, n);
    assert_int_equal (text[n], '\n');
    free (want);
    free (text);
    lh_reply_destroy (&reply);
}

static void
test_log_view (void **state)
{
    (void) state;
    int64_t started = zclock_mono (), until;
    cluster_t *c = cluster_new ("    validate\n        timeout = 30000\n"
                                "    expert\n        timeout = 30000\n",
                                NULL);
    cluster_keygen (c, "alice", "expert");
    zcert_t *alice = NULL;
    (void) alice;
    cluster_start_integrity (c, 3, NULL);
    char args[512];
    snprintf (args, sizeof (args), "--frontend %s", c->frontend);
    cluster_start_expert (c, args);
    cluster_start_validator_logging (c, LH_DEFAULT_POLICY, NULL);
    char top[] = "/tmp/lh-lv-XXXXXX";
    assert_non_null (mkdtemp (top));
    char mnt[512], path[1024], other[1024], log[600];
    s_path (mnt, sizeof (mnt), "%s/mnt", top);
    snprintf (s_mnt, sizeof (s_mnt), "%s", mnt);
    assert_int_equal (mkdir (mnt, 0755), 0);

    //  Before the view: decisions, file events, attacker paths
    s_validate (c, "ls -la");
    s_validate (c, "git status");
    uint64_t w1 = s_append (c, "file.write", "/proj/src/a.c", NULL, "hello\n");
    s_append (c, "file.write", "../../x", NULL, "evil\n");
    s_append (c, "file.write", "/a/../../b", NULL, "evil\n");
    s_append (c, "file.write", "/proj/bad\nname", NULL, "evil\n");
    s_append (c, "file.write", "/proj/./dot", NULL, "evil\n");
    //  An agent's own claim about a file is an event, not the file's content
    s_append_as (c, c->agent, "file.write", "/proj/forged.c", NULL, "forged\n", 7);

    s_path (log, sizeof (log), "%s/lh-fuse-log.1.log", c->dir);
    pid_t view = s_start_view (c, mnt, log);

    //  Caught up: the last event there, each event the replica's
    uint64_t size = s_log_size (c);
    s_path (path, sizeof (path), "%s/events/%llu.json", mnt, (unsigned long long) (size - 1));
    assert_true (s_appears (path, 10000));
    s_check_event (c, mnt, 0);
    s_check_event (c, mnt, w1);
    s_check_event (c, mnt, size - 1);
    s_path (path, sizeof (path), "%s/events/%llu.json", mnt, (unsigned long long) (size + 100));
    assert_int_equal (access (path, F_OK), -1);
    assert_int_equal (errno, ENOENT);

    //  events.jsonl: one line per event, in order
    s_path (path, sizeof (path), "%s/events.jsonl", mnt);
    size_t len = 0;
    char *jsonl = s_read (path, &len);
    assert_non_null (jsonl);
    struct stat st;
    assert_int_equal (stat (path, &st), 0);
    assert_true ((size_t) st.st_size >= len);
    uint64_t lines = 0;
    for (char *line = jsonl; *line; lines++) {
        char head[40];
        snprintf (head, sizeof (head), "{\"seq\":%llu,", (unsigned long long) lines);
        assert_memory_equal (line, head, strlen (head));
        char *nl = strchr (line, '\n');
        assert_non_null (nl);
        line = nl + 1;
    }
    assert_true (lines >= size);
    free (jsonl);

    //  checkpoint: a replica's note for that size byte for byte (each
    //  replica has its own, with the signatures it gathered: ask in turn)
    bool same = false;
    for (int i = 0; i < 60 && !same; i++) {
        s_path (path, sizeof (path), "%s/checkpoint", mnt);
        char *text = s_read (path, &len);
        assert_non_null (text);
        const char *nl = strchr (text, '\n');
        assert_non_null (nl);
        snprintf (other, sizeof (other), "{\"op\":\"checkpoint\",\"size\":%llu}",
                  strtoull (nl + 1, NULL, 10));
        //  The replica asked may not have that size yet (a heartbeat behind):
        //  not_found then, and asked again
        lh_reply_t *reply = cluster_call (c, c->admin, "events.read", other);
        const msgpack_object *note =
            lh_reply_ok (reply) ? codec_map_get (lh_reply_root (reply), "checkpoint") : NULL;
        if (!lh_reply_ok (reply))
            assert_int_equal (lh_reply_code (reply), LH_E_NOT_FOUND);
        same = note && note->type == MSGPACK_OBJECT_STR && len == note->via.str.size &&
               memcmp (text, note->via.str.ptr, len) == 0;
        free (text);
        lh_reply_destroy (&reply);
        if (!same)
            zclock_sleep (100);
    }
    assert_true (same);

    //  proofs/<seq>: verified against the checkpoint, the replica's leaf hash
    s_path (path, sizeof (path), "%s/proofs/%llu", mnt, (unsigned long long) w1);
    char *proof = s_read (path, NULL);
    assert_non_null (proof);
    assert_non_null (strstr (proof, "\"verified\": true"));
    snprintf (other, sizeof (other), "{\"op\":\"proof\",\"seq\":%llu}", (unsigned long long) w1);
    lh_reply_t *reply = cluster_call (c, c->admin, "events.read", other);
    cluster_expect_ok (reply);
    const msgpack_object *leaf = codec_map_get (lh_reply_root (reply), "leaf_hash");
    char hex[65];
    for (int i = 0; i < 32; i++)
        snprintf (hex + 2 * i, 3, "%02x", (uint8_t) leaf->via.bin.ptr[i]);
    assert_non_null (strstr (proof, hex));
    lh_reply_destroy (&reply);
    free (proof);

    //  decisions/ and agents/agent-1/
    s_path (path, sizeof (path), "%s/decisions", mnt);
    char first[256];
    until = zclock_mono () + 10000; //  the validator logs through its spool
    while (s_count (path, first, sizeof (first)) < 2 && zclock_mono () < until)
        zclock_sleep (100);
    assert_true (s_count (path, first, sizeof (first)) >= 2);
    s_path (path, sizeof (path), "%s/decisions/%s", mnt, first);
    char *text = s_read (path, NULL);
    assert_non_null (text);
    assert_non_null (strstr (text, "\"type\": \"validation.decision\""));
    free (text);
    s_path (path, sizeof (path), "%s/agents/agent-1", mnt);
    snprintf (other, sizeof (other), "%llu.json", (unsigned long long) w1);
    assert_true (s_listed (path, other));
    s_path (path, sizeof (path), "%s/agents", mnt);
    assert_true (s_listed (path, "agent-1"));

    //  Shadows and history; attacker paths nowhere
    s_path (path, sizeof (path), "%s/shadows/proj/src/a.c", mnt);
    text = s_read (path, NULL);
    assert_non_null (text);
    assert_string_equal (text, "hello\n");
    free (text);
    s_path (path, sizeof (path), "%s/shadows/proj/forged.c", mnt);
    assert_int_equal (access (path, F_OK), -1);
    assert_int_equal (errno, ENOENT);
    uint64_t w2 = s_append (c, "file.write", "/proj/src/a.c", NULL, "world\n");
    s_path (path, sizeof (path), "%s/history/%llu/proj/src/a.c", mnt, (unsigned long long) w2);
    assert_true (s_appears (path, 10000));
    text = s_read (path, NULL);
    assert_string_equal (text, "world\n");
    free (text);
    s_path (path, sizeof (path), "%s/history/%llu/proj/src/a.c", mnt, (unsigned long long) w1);
    text = s_read (path, NULL);
    assert_non_null (text);
    assert_string_equal (text, "hello\n");
    free (text);
    s_path (path, sizeof (path), "%s/history/%llu/proj/src/a.c", mnt,
            (unsigned long long) (w1 - 1));
    assert_int_equal (access (path, F_OK), -1);
    zclock_sleep (1200); //  the shadow's attributes are cached 1 s
    s_path (path, sizeof (path), "%s/shadows/proj/src/a.c", mnt);
    text = s_read (path, NULL);
    assert_string_equal (text, "world\n");
    free (text);
    s_path (path, sizeof (path), "%s/shadows", mnt);
    assert_int_equal (s_count (path, first, sizeof (first)), 1);
    assert_string_equal (first, "proj");
    s_path (path, sizeof (path), "%s/shadows/proj", mnt);
    assert_int_equal (s_count (path, first, sizeof (first)), 1);
    assert_string_equal (first, "src");
    s_path (path, sizeof (path), "%s/shadows/proj/src", mnt);
    assert_int_equal (stat (path, &st), 0);
    assert_true (S_ISDIR (st.st_mode));
    s_path (path, sizeof (path), "%s", mnt);
    assert_int_equal (s_count (path, NULL, 0), 9);
    const char *nowhere[] = {"/x",
                             "/b",
                             "/shadows/x",
                             "/shadows/b",
                             "/shadows/a",
                             "/../x",
                             "/shadows/../x",
                             "/shadows/proj/bad",
                             "/shadows/proj/dot"};
    for (size_t i = 0; i < sizeof (nowhere) / sizeof (nowhere[0]); i++) {
        s_path (path, sizeof (path), "%s%s", mnt, nowhere[i]);
        assert_int_equal (access (path, F_OK), -1);
    }
    s_path (path, sizeof (path), "%s/x", top);
    assert_int_equal (access (path, F_OK), -1);
    //  A shadow cut short by the workspace's bound: what the event carried,
    //  marked in its extended attributes
    uint64_t w4 = s_append_sized (c, "file.write", "/proj/big.bin", NULL, "head", 100000);
    s_path (path, sizeof (path), "%s/shadows/proj/big.bin", mnt);
    assert_true (s_appears (path, 10000));
    text = s_read (path, &len);
    assert_string_equal (text, "head");
    free (text);
    char value[64];
    ssize_t vn = getxattr (path, "user.lighthouse.truncated", value, sizeof (value) - 1);
    assert_int_equal (vn, 1);
    assert_int_equal (value[0], '1');
    vn = getxattr (path, "user.lighthouse.size", value, sizeof (value) - 1);
    assert_true (vn > 0);
    value[vn] = 0;
    assert_string_equal (value, "100000");
    vn = getxattr (path, "user.lighthouse.seq", value, sizeof (value) - 1);
    assert_true (vn > 0);
    value[vn] = 0;
    assert_int_equal (strtoull (value, NULL, 10), w4);
    assert_int_equal (s_errno_of (setxattr (path, "user.x", "1", 1, 0)), EACCES);
    s_path (path, sizeof (path), "%s/shadows/proj/src/a.c", mnt);
    vn = getxattr (path, "user.lighthouse.truncated", value, sizeof (value) - 1);
    assert_int_equal (vn, 1);
    assert_int_equal (value[0], '0');
    s_append (c, "file.delete", "/proj/src/a.c", NULL, NULL);
    s_path (path, sizeof (path), "%s/shadows/proj/src/a.c", mnt);
    assert_true (s_vanishes (path, 10000));
    s_path (path, sizeof (path), "%s/history/%llu/proj/src/a.c", mnt, (unsigned long long) w2);
    assert_int_equal (access (path, R_OK), 0);

    //  Writes and traversal refused
    s_path (path, sizeof (path), "%s/events/0.json", mnt);
    assert_int_equal (s_errno_of (open (path, O_WRONLY)), EACCES);
    assert_int_equal (s_errno_of (open (path, O_RDWR)), EACCES);
    assert_int_equal (s_errno_of (truncate (path, 0)), EACCES);
    assert_int_equal (s_errno_of (unlink (path)), EACCES);
    s_path (other, sizeof (other), "%s/events/1.json", mnt);
    assert_int_equal (s_errno_of (rename (path, other)), EACCES);
    s_path (path, sizeof (path), "%s/new", mnt);
    assert_int_equal (s_errno_of (open (path, O_WRONLY | O_CREAT, 0644)), EACCES);
    assert_int_equal (s_errno_of (mkdir (path, 0755)), EACCES);
    assert_int_equal (s_errno_of (symlink ("/etc/passwd", path)), EACCES);
    s_path (path, sizeof (path), "%s/checkpoint", mnt);
    assert_int_equal (s_errno_of (open (path, O_WRONLY | O_TRUNC)), EACCES);
    const char *bad[] = {"/events/00.json",  "/events/-1.json",
                         "/events/1",        "/events/99999999999999999999999.json",
                         "/events/0.json/x", "/agents/..agent",
                         "/proofs/0.json",   "/history/00"};
    for (size_t i = 0; i < sizeof (bad) / sizeof (bad[0]); i++) {
        s_path (path, sizeof (path), "%s%s", mnt, bad[i]);
        assert_int_equal (access (path, F_OK), -1);
        assert_true (errno == ENOENT || errno == ENOTDIR);
    }

    //  An escalation: pending, with request and context; a verdict written
    //  there reaches the waiting agent, and the escalation leaves pending/
    lh_client_t *agent = cluster_client (c, c->agent);
    lh_client_set_timeout (agent, 30000);
    lh_client_set_retries (agent, 0);
    codec_buf_t b;
    codec_buf_init (&b);
    msgpack_pack_map (&b.pk, 4);
    codec_pack_kv_str (&b.pk, "tool", "Bash");
    codec_pack_str (&b.pk, "input");
    msgpack_pack_map (&b.pk, 1);
    codec_pack_kv_str (&b.pk, "command", SUDO);
    codec_pack_kv_str (&b.pk, "cwd", "/home/dev/project");
    codec_pack_kv_u64 (&b.pk, "wait_ms", 20000);
    uint64_t rid = 0;
    assert_int_equal (lh_client_send (agent, "validate", b.sbuf.data, b.sbuf.size, &rid, NULL), 0);
    codec_buf_destroy (&b);
    s_path (path, sizeof (path), "%s/escalations/pending", mnt);
    char id[256] = "";
    until = zclock_mono () + 10000;
    while (s_count (path, id, sizeof (id)) < 1 && zclock_mono () < until)
        zclock_sleep (100);
    assert_int_equal (strlen (id), 32);
    s_path (path, sizeof (path), "%s/escalations/pending/%s/request", mnt, id);
    text = s_read (path, NULL);
    assert_non_null (text);
    assert_non_null (strstr (text, "escalation.requested"));
    assert_non_null (strstr (text, SUDO));
    free (text);
    s_path (path, sizeof (path), "%s/escalations/pending/%s/context", mnt, id);
    text = s_read (path, NULL);
    assert_non_null (text);
    assert_non_null (strstr (text, "\"rule\":"));
    assert_non_null (strstr (text, "\"agent\": \"agent-1\""));
    assert_non_null (strstr (text, "\"recent_decisions\": ["));
    assert_non_null (strstr (text, "ls -la"));
    free (text);
    s_path (path, sizeof (path), "%s/escalations/pending/%s/verdict", mnt, id);
    //  Bad verdicts: EINVAL at write; oversize: EFBIG; nothing decided
    int fd = open (path, O_WRONLY);
    assert_true (fd >= 0);
    const char *maybe = "{\"decision\":\"maybe\"}\n";
    assert_int_equal (write (fd, maybe, strlen (maybe)), -1);
    assert_int_equal (errno, EINVAL);
    close (fd);
    fd = open (path, O_WRONLY);
    assert_true (fd >= 0);
    char *big = malloc (70 * 1024);
    memset (big, ' ', 70 * 1024);
    assert_int_equal (write (fd, big, 70 * 1024), -1);
    assert_int_equal (errno, EFBIG);
    free (big);
    close (fd);
    fd = open (path, O_WRONLY);
    assert_true (fd >= 0);
    const char *partial = "{\"decision\":";
    assert_int_equal (write (fd, partial, strlen (partial)), (ssize_t) strlen (partial));
    assert_int_equal (close (fd), -1); //  never completed: refused at close
    assert_int_equal (errno, EINVAL);
    assert_null (lh_client_recv (agent, 0));
    //  The verdict
    fd = open (path, O_WRONLY | O_TRUNC);
    assert_true (fd >= 0);
    const char *verdict =
        "{\"decision\":\"allow\",\"reason\":\"checked in the log view\",\"scope\":\"once\"}\n";
    assert_int_equal (write (fd, verdict, strlen (verdict)), (ssize_t) strlen (verdict));
    assert_int_equal (close (fd), 0);
    reply = lh_client_recv (agent, 10000);
    cluster_expect_ok (reply);
    assert_true (codec_str_eq (codec_map_get (lh_reply_root (reply), "decision"), "allow"));
    assert_true (codec_str_eq (codec_map_get (lh_reply_root (reply), "by"), "expert:alice"));
    lh_reply_destroy (&reply);
    lh_client_destroy (&agent);
    s_path (path, sizeof (path), "%s/escalations/pending/%s", mnt, id);
    assert_true (s_vanishes (path, 5000));
    s_path (other, sizeof (other), "%s/escalations/pending", mnt);
    assert_false (s_listed (other, id));

    //  Down, events appended, up again: caught up from where it stopped
    s_stop_view (view, mnt);
    text = s_read (log, NULL); //  the four attacker paths were counted (maybe over batches)
    assert_non_null (text);
    const char *mark = "msg=\"event paths refused\" count=";
    unsigned long refused = 0;
    for (const char *at = strstr (text, mark); at; at = strstr (at + 1, mark))
        refused += strtoul (at + strlen (mark), NULL, 10);
    assert_int_equal (refused, 4);
    free (text);
    uint64_t before = s_log_size (c);
    uint64_t w3 = s_append (c, "file.write", "/proj/late.c", NULL, "late\n");
    s_path (log, sizeof (log), "%s/lh-fuse-log.2.log", c->dir);
    view = s_start_view (c, mnt, log);
    s_path (path, sizeof (path), "%s/shadows/proj/late.c", mnt);
    assert_true (s_appears (path, 10000));
    s_path (path, sizeof (path), "%s/events/%llu.json", mnt, (unsigned long long) w3);
    assert_int_equal (access (path, R_OK), 0);
    text = s_read (log, NULL);
    assert_non_null (text);
    const char *from = strstr (text, "msg=\"following the log\" from=");
    assert_non_null (from);
    uint64_t resumed = strtoull (from + strlen ("msg=\"following the log\" from="), NULL, 10);
    assert_true (resumed > 0);
    assert_true (resumed <= before);
    assert_true (resumed + 20 >= before); //  where it stopped, not from 0
    free (text);

    s_stop_view (view, mnt);
    snprintf (other, sizeof (other), "rm -rf '%s'", top);
    assert_int_equal (system (other), 0);
    cluster_destroy (&c);
    printf ("log view: %lld ms\n", (long long) (zclock_mono () - started));
}

//  The bound in time: a test stuck in the mount leaves no mount behind
static void
s_on_alarm (int signum)
{
    (void) signum;
    if (s_mnt[0])
        umount2 (s_mnt, MNT_DETACH);
    _exit (1);
}

int
main (void)
{
    if (geteuid () != 0 || access ("/dev/fuse", R_OK | W_OK) != 0) {
        printf ("SKIP: a FUSE mount needs root and a usable /dev/fuse\n");
        return 77;
    }
    signal (SIGALRM, s_on_alarm);
    alarm (240);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown (test_log_view, s_teardown),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
