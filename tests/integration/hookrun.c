/*  hookrun -- the hook programs as child processes of the integration
    tests. See hookrun.h. */
#include "hookrun.h"

#include <fcntl.h>
#include <grp.h>
#include <signal.h>
#include <stdarg.h>
#include <setjmp.h>
#include <cmocka.h>
#include <sys/wait.h>
#include <unistd.h>

//  DIR/run.NAME into path
static void
s_run_path (const char *dir, const char *name, char *path, size_t size)
{
    snprintf (path, size, "%s/run.%s", dir, name);
}

void
hookrun_child_isolate (void)
{
    signal (SIGPIPE, SIG_DFL);
    signal (SIGINT, SIG_DFL);
    signal (SIGTERM, SIG_DFL);
    signal (SIGHUP, SIG_DFL);
    sigset_t none;
    sigemptyset (&none);
    sigprocmask (SIG_SETMASK, &none, NULL);
    long max = sysconf (_SC_OPEN_MAX);
    for (long fd = 3; fd < max && fd < 65536; fd++)
        close ((int) fd);
    //  The sanitizers' settings go to every child; nothing else of ours does
    static const char *keep[] = {"ASAN_OPTIONS", "UBSAN_OPTIONS", "LSAN_OPTIONS"};
    char *saved[3];
    for (int i = 0; i < 3; i++) {
        const char *value = getenv (keep[i]);
        saved[i] = value ? strdup (value) : NULL;
    }
    clearenv ();
    setenv ("PATH", "/usr/bin:/bin", 1);
    for (int i = 0; i < 3; i++)
        if (saved[i])
            setenv (keep[i], saved[i], 1);
}

int
hookrun_become (uid_t uid, gid_t gid)
{
    return setgroups (0, NULL) != 0 || setgid (gid) != 0 || setuid (uid) != 0 ? -1 : 0;
}

pid_t
hookrun_spawn (const hookrun_prog_t *prog, const char *dir, const char *const *args,
               const char *const *env, const char *stdin_path, int stdin_fd)
{
    char out_path[512], err_path[512];
    s_run_path (dir, "out", out_path, sizeof (out_path));
    s_run_path (dir, "err", err_path, sizeof (err_path));
    pid_t pid = fork ();
    assert_true (pid >= 0);
    if (pid == 0) {
        int in = stdin_fd >= 0 ? stdin_fd : open (stdin_path ? stdin_path : "/dev/null", O_RDONLY);
        int out = open (out_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        int err = open (err_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        if (in < 0 || out < 0 || err < 0)
            _exit (126);
        dup2 (in, 0);
        dup2 (out, 1);
        dup2 (err, 2);
        if (prog->isolated)
            hookrun_child_isolate ();
        else {
            clearenv ();
            setenv ("PATH", "/usr/bin:/bin", 1);
        }
        setenv ("HOME", "/home/dev", 1);
        for (int i = 0; env && env[i]; i++)
            putenv ((char *) env[i]);
        if (prog->uid != 0 && hookrun_become (prog->uid, prog->gid) != 0)
            _exit (125);
        char *argv[32] = {(char *) prog->bin};
        int argc = 1;
        for (int i = 0; args && args[i] && argc < 31; i++)
            argv[argc++] = (char *) args[i];
        argv[argc] = NULL;
        execv (argv[0], argv);
        _exit (127);
    }
    return pid;
}

void
hookrun_collect (const char *dir, pid_t pid, int64_t start, hookrun_t *r)
{
    int status;
    assert_int_equal (waitpid (pid, &status, 0), pid);
    r->elapsed_ms = zclock_mono () - start;
    r->status = WIFEXITED (status) ? WEXITSTATUS (status) : 128 + WTERMSIG (status);
    char path[512];
    s_run_path (dir, "out", path, sizeof (path));
    r->out = hookrun_slurp (path);
    s_run_path (dir, "err", path, sizeof (path));
    r->err = hookrun_slurp (path);
}

void
hookrun_stdin (const char *dir, const char *text, size_t len, char *path, size_t size)
{
    s_run_path (dir, "in", path, size);
    hookrun_write (path, text ? text : "", text ? len : 0);
}

hookrun_t
hookrun_run (const hookrun_prog_t *prog, const char *dir, const char *const *args,
             const char *const *env, const char *stdin_text, size_t len)
{
    char in_path[512];
    hookrun_stdin (dir, stdin_text, len, in_path, sizeof (in_path));
    hookrun_t r = {0};
    int64_t start = zclock_mono ();
    hookrun_collect (dir, hookrun_spawn (prog, dir, args, env, in_path, -1), start, &r);
    return r;
}

void
hookrun_free (hookrun_t *r)
{
    free (r->out);
    free (r->err);
    r->out = r->err = NULL;
}

char *
hookrun_hook_json (const char *tool, const char *input)
{
    char *text = NULL;
    assert_true (asprintf (&text,
                           "{\"session_id\":\"sess-42\",\"transcript_path\":\"/tmp/t.jsonl\","
                           "\"cwd\":\"/work/p\",\"permission_mode\":\"default\","
                           "\"hook_event_name\":\"PreToolUse\",\"tool_name\":\"%s\","
                           "\"tool_input\":%s,\"tool_use_id\":\"toolu_01ABC\"}",
                           tool, input) > 0);
    return text;
}

const char *
hookrun_env_file (const cluster_t *c, const char *cert_name)
{
    static char path[512];
    char text[1024];
    snprintf (path, sizeof (path), "%s/hook.env", c->dir);
    snprintf (text, sizeof (text),
              "# hook\nexport LH_BROKER='%s'\nexport LH_BROKER_KEY='%s'\n"
              "export LH_CERT='%s/%s.cert_secret'\n",
              c->frontend, c->broker_key, c->dir, cert_name);
    hookrun_write (path, text, strlen (text));
    return path;
}

char *
hookrun_slurp (const char *path)
{
    FILE *file = fopen (path, "r");
    if (!file)
        return strdup ("");
    fseek (file, 0, SEEK_END);
    long size = ftell (file);
    fseek (file, 0, SEEK_SET);
    char *text = (char *) malloc ((size_t) size + 1);
    assert_non_null (text);
    size_t n = fread (text, 1, (size_t) size, file);
    text[n] = 0;
    fclose (file);
    return text;
}

void
hookrun_write (const char *path, const char *text, size_t len)
{
    FILE *file = fopen (path, "w");
    assert_non_null (file);
    assert_int_equal (fwrite (text, 1, len, file), len);
    fclose (file);
}
