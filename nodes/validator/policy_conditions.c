/*  policy_conditions.c -- whether one rule matches one command or tool call.

    Each rule key (command, subcommand, flag, arg, when, path, ...) is a
    condition tested against a view: a simple command, a redirection or a
    file tool's path. Rules are found through the indexes built at load
    and tried in file order; the first that matches decides the view.
*/
#include <arpa/inet.h>

#include "policy_internal.h"

static bool
s_flag_match (const pattern_t *f, word_t w)
{
    const char *s = w.s;
    size_t n = w.n;
    switch (f->fkind) {
    case FLAG_SHORT:
        //  -x, or a cluster -abx (single dash)
        if (n < 2 || s[0] != '-' || s[1] == '-')
            return false;
        for (size_t i = 1; i < n; i++)
            if (policy_ch_eq (s[i], f->fch, f->nocase))
                return true;
        return false;
    case FLAG_LONG: {
        if (n < 3 || s[0] != '-' || s[1] != '-')
            return false;
        const char *eq = (const char *) memchr (s, '=', n);
        size_t name_len = eq ? (size_t) (eq - s) : n;
        if (policy_pattern_match (f, s, name_len))
            return true;
        //  GNU-style abbreviation: --recur for --recursive (3+ letters)
        //  (not when the word stops at a '-' of the flag: --export is its
        //  own option, not --export-secret-keys cut short)
        if (f->literal && name_len >= 5 && name_len < f->body_len && f->body[name_len] != '-' &&
            policy_mem_eq (f->body, s, name_len, f->nocase))
            return true;
        return false;
    }
    default:
        return policy_pattern_match (f, s, n);
    }
}

static bool
s_cond_flag (const plist_t *flags, const view_t *v)
{
    if (v->pseudo || !v->sargs)
        return false;
    for (size_t i = 0; i < v->argc; i++) {
        word_t w = policy_view_arg (v, i);
        if (w.n == 2 && w.s[0] == '-' && w.s[1] == '-')
            return false;
        if (!policy_is_option (w))
            continue;
        for (size_t j = 0; j < flags->count; j++)
            if (s_flag_match (&flags->items[j], w))
                return true;
    }
    return false;
}

static bool
s_cond_arg (const plist_t *args, const view_t *v)
{
    for (size_t i = 0; i < v->argc; i++) {
        word_t w = policy_view_arg (v, i);
        if (policy_plist_match (args, w.s, w.n))
            return true;
    }
    return false;
}

//  Options that take a value (the next word) before the subcommand, for
//  the programs whose subcommands matter. For these the subcommand is
//  exact: any other option takes no value. Others are read both ways.
static const struct {
    const char *prog;
    const char *opts; //  space-separated, with a space at each end
} s_value_opts[] = {
    {"git", " -C -c --git-dir --work-tree --namespace --config-env --super-prefix --exec-path "
            "--list-cmds --attr-source "},
    {"kubectl", " -n --namespace --context --cluster --user --kubeconfig -s --server --token --as "
                "--as-group --as-uid --certificate-authority --client-certificate --client-key "
                "--cache-dir --request-timeout --tls-server-name --username --password -v --v "
                "--vmodule --log-file --log-dir --profile --profile-output -l --selector "
                "--log-file-max-size --log-flush-frequency "},
    {"oc", " -n --namespace --context --cluster --user --kubeconfig -s --server --token --as "
           "--as-group --certificate-authority --client-certificate --client-key --cache-dir "
           "--request-timeout --loglevel -v --v "},
    {"helm", " -n --namespace --kube-context --kubeconfig --kube-apiserver --kube-as-user "
             "--kube-as-group --kube-ca-file --kube-token --kube-tls-server-name "
             "--registry-config --repository-cache --repository-config --burst-limit --qps "},
    {"docker", " -H --host -c --context --config -l --log-level --tlscacert --tlscert --tlskey "},
    {"podman", " --connection -c --url --identity --root --runroot --storage-driver --log-level "
               "--cgroup-manager --events-backend --network-cmd-path --tmpdir --module "
               "--hooks-dir --conmon --runtime --storage-opt --imagestore --volumepath "},
    {"aws", " --profile --region --output --endpoint-url --query --cli-read-timeout "
            "--cli-connect-timeout --ca-bundle --color --cli-binary-format "},
    {"gcloud", " --project --account --configuration --format --verbosity --billing-project "
               "--impersonate-service-account --flags-file --flatten --trace-token "
               "--access-token-file "},
    {"az", " -o --output --query --subscription "},
    {"gh", " -R --repo "},
    {"npm", " --prefix -w --workspace --registry --userconfig --cache --loglevel "},
    {"cargo", " --manifest-path -p --package -Z --config --color -C --target-dir "},
    {"go", " -C "},
    {"systemctl", " -H --host -M --machine -t --type -p --property -s --signal -n --lines -o "
                  "--output --root --state --kill-whom --kill-value --job-mode --what --image "
                  "--timestamp --when --drop-in --reboot-argument --boot-loader-menu "
                  "--boot-loader-entry --check-inhibitors --image-policy --preset-mode "},
    {"journalctl", " -u --unit -n --lines -o --output -p --priority -S --since -U --until "},
};

static const char *
s_value_opts_of (const char *name, size_t n)
{
    for (size_t i = 0; i < sizeof (s_value_opts) / sizeof (s_value_opts[0]); i++)
        if (policy_streq_n (name, n, s_value_opts[i].prog))
            return s_value_opts[i].opts;
    return NULL;
}

//  True if the option word takes the next word as its value
static bool
s_takes_value (const char *opts, word_t w)
{
    if (memchr (w.s, '=', w.n))
        return false;
    //  " -n " in the table: -n takes a value, -nfoo holds it
    char key[72];
    if (w.n + 3 > sizeof (key))
        return false;
    key[0] = ' ';
    memcpy (key + 1, w.s, w.n);
    key[w.n + 1] = ' ';
    key[w.n + 2] = 0;
    return strstr (opts, key) != NULL;
}

//  The subcommand candidates: one word for the programs with a table
//  (options and their values skipped), else the first operand and, when
//  options came before it, the second too. Returns how many.
static size_t
s_subcommands (const view_t *v, word_t out[2])
{
    if (v->pseudo || !v->sargs)
        return 0;
    const char *opts = s_value_opts_of (v->name, v->name_len);
    bool seen_option = false;
    size_t count = 0;
    for (size_t i = 0; i < v->argc && count < 2; i++) {
        word_t w = policy_view_arg (v, i);
        if (w.n == 2 && w.s[0] == '-' && w.s[1] == '-')
            break;
        if (policy_is_option (w)) {
            seen_option = true;
            if (opts && s_takes_value (opts, w))
                i++;
            continue;
        }
        out[count++] = w;
        if (opts || !seen_option)
            break;
    }
    return count;
}

//  Some option before the subcommand matches (kubectl --context prod get,
//  docker -c prod ps): the options that choose what the program talks to
static bool
s_cond_pre_flag (const plist_t *flags, const view_t *v)
{
    if (v->pseudo || !v->sargs)
        return false;
    const char *opts = s_value_opts_of (v->name, v->name_len);
    for (size_t i = 0; i < v->argc; i++) {
        word_t w = policy_view_arg (v, i);
        if (!policy_is_option (w) || (w.n == 2 && w.s[1] == '-'))
            return false;
        for (size_t j = 0; j < flags->count; j++)
            if (s_flag_match (&flags->items[j], w))
                return true;
        if (opts && s_takes_value (opts, w))
            i++;
    }
    return false;
}

//  Some subcommand candidate matches; for an allow, every one must
static bool
s_cond_subcommand (const rule_t *r, const view_t *v)
{
    word_t subs[2];
    size_t count = s_subcommands (v, subs);
    bool certain = r->act.action == POLICY_ALLOW;
    for (size_t i = 0; i < count; i++) {
        bool hit = policy_plist_match (&r->subcommand, subs[i].s, subs[i].n);
        if (hit && !certain)
            return true;
        if (!hit && certain)
            return false;
    }
    return certain && count > 0;
}

static bool
s_wrapper_match (const plist_t *list, const char *wrapper)
{
    size_t n = strlen (wrapper);
    if (policy_plist_match (list, wrapper, n))
        return true;
    const char *space = (const char *) memchr (wrapper, ' ', n);
    return space && policy_plist_match (list, wrapper, (size_t) (space - wrapper));
}

static bool
s_cond_wrapper (const eval_t *e, const rule_t *r, const view_t *v)
{
    for (size_t i = 0; i < e->extra_count; i++)
        if (s_wrapper_match (&r->wrapper, e->extra_wrapper[i]))
            return true;
    if (!v->cmd)
        return false;
    for (size_t i = 0; i < v->cmd->wrappers_count; i++)
        if (v->cmd->wrappers[i] && s_wrapper_match (&r->wrapper, v->cmd->wrappers[i]))
            return true;
    return false;
}

static bool
s_cond_upstream (const rule_t *r, const view_t *v)
{
    if (!v->cmd || !v->shell || v->pseudo)
        return false;
    const shell_cmd_t *up = shell_upstream (v->shell, v->cmd);
    size_t guard = 0;
    while (up && guard++ < 4096) {
        if (up->argc > 0) {
            const char *b;
            size_t bn;
            policy_basename (up->argv[0].text, strlen (up->argv[0].text), &b, &bn);
            if (policy_plist_match (&r->upstream, b, bn))
                return true;
        }
        up = shell_upstream (v->shell, up);
    }
    return false;
}

static bool
s_cond_assign (const plist_t *assigns, const view_t *v)
{
    if (!v->cmd || v->pseudo)
        return false;
    for (size_t i = 0; i < v->cmd->assigns_count; i++) {
        const char *t = v->cmd->assigns[i].text;
        if (policy_plist_match (assigns, t, strlen (t)))
            return true;
    }
    return false;
}

static bool
s_redirs_input (const rule_t *r, const shell_cmd_t *cmd)
{
    for (size_t i = 0; i < cmd->redirs_count; i++) {
        const shell_redir_t *rd = &cmd->redirs[i];
        if (rd->kind == SHELL_REDIR_HEREDOC || rd->kind == SHELL_REDIR_HERESTRING) {
            const char *t = rd->target.text;
            if (t && policy_plist_match (&r->input, t, strlen (t)))
                return true;
        }
    }
    return false;
}

bool
policy_cmd_name_is (const shell_cmd_t *cmd, const char *const *names, size_t count)
{
    if (cmd->argc == 0)
        return false;
    const char *b;
    size_t bn;
    policy_basename (cmd->argv[0].text, strlen (cmd->argv[0].text), &b, &bn);
    for (size_t i = 0; i < count; i++)
        if (policy_streq_n (b, bn, names[i]))
            return true;
    return false;
}

const char *const policy_echoes[3] = {"echo", "printf", "cat"};

//  The command's stdin data: heredocs and here-strings, and what an
//  echo / printf / cat right before it in the pipeline feeds it
static bool
s_cond_input (const rule_t *r, const view_t *v)
{
    if (!v->cmd || v->pseudo)
        return false;
    if (s_redirs_input (r, v->cmd))
        return true;
    const shell_cmd_t *up = v->shell ? shell_upstream (v->shell, v->cmd) : NULL;
    if (!up || !policy_cmd_name_is (up, policy_echoes, 3))
        return false;
    for (size_t i = 1; i < up->argc; i++) {
        const char *t = up->argv[i].text;
        if (policy_plist_match (&r->input, t, strlen (t)))
            return true;
    }
    return s_redirs_input (r, up);
}

static bool
s_stdin_name (word_t w)
{
    static const char *names[] = {"-", "/dev/stdin", "/dev/fd/0", "/proc/self/fd/0",
                                  "/proc/thread-self/fd/0"};
    for (size_t i = 0; i < sizeof (names) / sizeof (names[0]); i++)
        if (policy_streq_n (w.s, w.n, names[i]))
            return true;
    return false;
}

//  The program comes from stdin: no operand, `-` or /dev/stdin first, or
//  a shell's -s (read commands from stdin, operands are its arguments)
bool
policy_cond_no_operand (const view_t *v)
{
    if (!v->sargs || v->pseudo)
        return false;
    bool shell = policy_name_in (v->name, v->name_len, policy_shells,
                                 sizeof (policy_shells) / sizeof (policy_shells[0]));
    for (size_t i = 0; i < v->argc; i++) {
        word_t w = policy_view_arg (v, i);
        if (w.n == 2 && w.s[0] == '-' && w.s[1] == '-')
            return i + 1 >= v->argc || s_stdin_name (policy_view_arg (v, i + 1));
        if (s_stdin_name (w))
            return true;
        if (!policy_is_option (w))
            return false;
        if (shell && w.s[1] != '-' && memchr (w.s + 1, 's', w.n - 1))
            return true;
    }
    return true;
}

//  True if text, resolved against the working directory, is in set (a
//  file downloaded or written earlier in the call)
static bool
s_noted_has (const eval_t *e, const noted_t *set, const char *text, size_t n)
{
    if (set->lost)
        return true;
    char out[PATH_BUF];
    for (size_t c = 0; c < e->ncwd; c++) {
        int len = policy_paths_resolve (e->cwds[c], e->cwd_lens[c], text, n, out);
        for (size_t i = 0; len > 0 && i < set->count; i++)
            if (set->len[i] == (size_t) len && memcmp (set->path[i], out, (size_t) len) == 0)
                return true;
    }
    return false;
}

//  argv[0] is a file written earlier in the call, or some operand is
//  (bash x.sh, make -f x.mk, python3 /tmp/x.py)
static bool
s_uses_written (const eval_t *e, const view_t *v, bool run)
{
    if (!(e->written.count || e->written.lost) || !v->cmd || v->pseudo || !v->cmd->argc)
        return false;
    if (run)
        return !v->cmd->argv[0].dynamic && memchr (v->word0, '/', v->word0_len) &&
               s_noted_has (e, &e->written, v->word0, v->word0_len);
    for (size_t i = 0; v->sargs && i < v->argc; i++) {
        word_t w = policy_view_arg (v, i);
        const char *eq = policy_is_option (w) ? (const char *) memchr (w.s, '=', w.n) : NULL;
        if (eq && s_noted_has (e, &e->written, eq + 1, (size_t) (w.s + w.n - eq - 1)))
            return true;
        //  -fFILE, -SFILE: a value glued to a short option
        if (!eq && policy_is_option (w) && w.s[1] != '-' && w.n > 2 &&
            s_noted_has (e, &e->written, w.s + 2, w.n - 2))
            return true;
        if (!policy_is_option (w) && !w.dynamic && s_noted_has (e, &e->written, w.s, w.n))
            return true;
    }
    //  make reads a makefile of the directory without being told
    static const char *makes[] = {"make", "gmake"};
    if (!policy_name_in (v->name, v->name_len, makes, 2))
        return false;
    static const char *makefiles[] = {"GNUmakefile", "makefile", "Makefile"};
    for (size_t i = 0; i < 3; i++)
        if (s_noted_has (e, &e->written, makefiles[i], strlen (makefiles[i])))
            return true;
    for (size_t i = 0; v->sargs && i < v->argc; i++) {
        word_t w = policy_view_arg (v, i);
        if (policy_is_option (w) && ((w.s[1] != '-' && memchr (w.s, 'C', w.n)) ||
                                     (w.n >= 5 && memcmp (w.s, "--dir", 5) == 0)))
            return true; //  -C DIR: the makefile of a directory we do not follow
    }
    return false;
}

//  argv[0] (a path, not a name looked up in PATH) is a downloaded file
static bool
s_runs_download (const eval_t *e, const view_t *v)
{
    if (!(e->downloads.count || e->downloads.lost) || !v->cmd || v->pseudo || !v->cmd->argc ||
        v->cmd->argv[0].dynamic)
        return false;
    return memchr (v->word0, '/', v->word0_len) &&
           s_noted_has (e, &e->downloads, v->word0, v->word0_len);
}

//  The first operand (the script of an interpreter) is a downloaded file
static bool
s_reads_download (const eval_t *e, const view_t *v)
{
    if (!(e->downloads.count || e->downloads.lost) || !v->sargs || v->pseudo)
        return false;
    for (size_t i = 0; i < v->argc; i++) {
        word_t w = policy_view_arg (v, i);
        if (w.n == 2 && w.s[0] == '-' && w.s[1] == '-')
            continue;
        if (policy_is_option (w))
            continue;
        return !w.dynamic && s_noted_has (e, &e->downloads, w.s, w.n);
    }
    return false;
}

//  True if host (n bytes) names a cloud metadata service however it is
//  spelled: any IPv4 form inet_aton reads (decimal, octal, hex, 2 or 3
//  parts) in 169.254.0.0/16 or 100.100.100.200, the AWS IPv6 address in
//  any notation, or the metadata host names (a trailing dot too)
static bool
s_metadata_host (const char *host, size_t n)
{
    char h[256];
    if (n == 0 || n >= sizeof (h))
        return false;
    memcpy (h, host, n);
    h[n] = 0;
    if (h[0] == '[' && h[n - 1] == ']') {
        h[n - 1] = 0;
        struct in6_addr a6, aws;
        inet_pton (AF_INET6, "fd00:ec2::254", &aws);
        if (inet_pton (AF_INET6, h + 1, &a6) == 1) {
            if (memcmp (&a6, &aws, sizeof (a6)) == 0)
                return true;
            //  ::ffff:169.254.x.x
            static const uint8_t mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
            if (memcmp (a6.s6_addr, mapped, 12) == 0 && a6.s6_addr[12] == 169 &&
                a6.s6_addr[13] == 254)
                return true;
        }
        return false;
    }
    while (n > 0 && h[n - 1] == '.')
        h[--n] = 0; //  metadata. is metadata
    for (size_t i = 0; i < n; i++)
        h[i] = (char) policy_lower ((unsigned char) h[i]);
    if (strcmp (h, "metadata") == 0 || strcmp (h, "metadata.google.internal") == 0 ||
        strcmp (h, "metadata.goog") == 0 || strcmp (h, "instance-data") == 0 ||
        strcmp (h, "metadata.azure.com") == 0)
        return true;
    //  wildcard DNS names that resolve to the address they spell
    if (strstr (h, "169-254-") || strstr (h, "169.254.") || strstr (h, "a9fe") ||
        strstr (h, "100-100-100-200") || strstr (h, "fd00-ec2"))
        return true;
    struct in_addr a4;
    if (inet_aton (h, &a4)) {
        uint32_t ip = ntohl (a4.s_addr);
        return (ip >> 16) == ((169u << 8) | 254u) ||
               ip == ((100u << 24) | (100u << 16) | (100u << 8) | 200u);
    }
    return false;
}

//  Some argument is a URL (or host:port) whose host is a metadata service
static bool
s_metadata_arg (const view_t *v)
{
    for (size_t i = 0; i < v->argc; i++) {
        word_t w = policy_view_arg (v, i);
        const char *s = w.s, *end = w.s + w.n;
        const char *scheme = (const char *) memmem (s, w.n, "://", 3);
        const char *host = scheme ? scheme + 3 : s;
        //  user:pass@host
        const char *at = (const char *) memchr (host, '@', (size_t) (end - host));
        const char *slash = (const char *) memchr (host, '/', (size_t) (end - host));
        if (at && (!slash || at < slash))
            host = at + 1;
        const char *stop = host;
        if (stop < end && *stop == '[') {
            while (stop < end && *stop != ']')
                stop++;
            if (stop < end)
                stop++;
        } else
            while (stop < end && *stop != '/' && *stop != ':' && *stop != '?' && *stop != '#')
                stop++;
        if (s_metadata_host (host, (size_t) (stop - host)))
            return true;
    }
    return false;
}

static bool
s_cond_when (const eval_t *e, const rule_t *r, const view_t *v)
{
    uint32_t w = r->when;
    if ((w & WHEN_FORK_BOMB) && !e->fork_bomb)
        return false;
    if ((w & WHEN_BACKGROUND) && !(e->run_in_background || (v->cmd && v->cmd->background)))
        return false;
    if ((w & WHEN_DYNAMIC_COMMAND) &&
        !(v->cmd && !v->pseudo && v->cmd->argc > 0 && v->cmd->argv[0].dynamic))
        return false;
    if (w & WHEN_DYNAMIC_ARG) {
        bool any = false;
        for (size_t i = 0; i < v->argc && !any; i++)
            any = policy_view_arg (v, i).dynamic;
        if (!any)
            return false;
    }
    if ((w & WHEN_NO_OPERAND) && !policy_cond_no_operand (v))
        return false;
    if ((w & WHEN_IN_FUNCTION) && !(v->cmd && v->cmd->in_function))
        return false;
    if ((w & WHEN_NO_ARGS) && (v->argc > 0 || v->pseudo || !v->cmd))
        return false;
    if ((w & WHEN_RUNS_DOWNLOAD) && !s_runs_download (e, v))
        return false;
    if ((w & WHEN_READS_DOWNLOAD) && !s_reads_download (e, v))
        return false;
    if ((w & WHEN_NO_COMMAND) && (!v->cmd || v->pseudo || v->cmd->argc > 0))
        return false;
    if ((w & WHEN_IN_LOOP) && !(v->cmd && v->cmd->in_loop))
        return false;
    if ((w & WHEN_RUNS_WRITTEN) && !s_uses_written (e, v, true))
        return false;
    if ((w & WHEN_READS_WRITTEN) && !s_uses_written (e, v, false))
        return false;
    if ((w & WHEN_METADATA_HOST) && !s_metadata_arg (v))
        return false;
    return true;
}

//  True when argv[0] is a bare name, or a path in a system directory
static bool
s_trusted_path (const view_t *v)
{
    const char *slash = (const char *) memrchr (v->word0, '/', v->word0_len);
    if (!slash || v->pseudo)
        return true;
    static const char *dirs[] = {"/bin",      "/usr/bin",        "/usr/local/bin",    "/sbin",
                                 "/usr/sbin", "/usr/local/sbin", "/opt/homebrew/bin", "/snap/bin"};
    size_t dn = (size_t) (slash - v->word0);
    for (size_t i = 0; i < sizeof (dirs) / sizeof (dirs[0]); i++)
        if (policy_streq_n (v->word0, dn, dirs[i]))
            return true;
    return false;
}

//  Some command pattern of r with a '/' matches argv[0] as written (and
//  argv[0] climbs out with no `..`: ./../../x is not a program of ./)
static bool
s_command_by_path_matches (const rule_t *r, const view_t *v)
{
    const char *w = v->word0;
    size_t n = v->word0_len;
    for (size_t i = 0; i + 1 < n; i++)
        if (w[i] == '.' && w[i + 1] == '.' && (i == 0 || w[i - 1] == '/') &&
            (i + 2 == n || w[i + 2] == '/'))
            return false;
    for (size_t i = 0; i < r->command.count; i++) {
        const pattern_t *p = &r->command.items[i];
        if (p->slash && policy_pattern_match (p, v->word0, v->word0_len))
            return true;
    }
    return false;
}

//  All conditions of rule r against view v. Cheap tests first.
static bool
s_rule_matches (eval_t *e, const rule_t *r, view_t *v, bool indexed)
{
    if (r->tool.count && !policy_plist_match (&r->tool, e->tool, e->tool_len))
        return false;
    if (r->bash_only && !v->cmd)
        return false;
    //  a rule found through the command index has a literal name that is
    //  the command's (the tool index only holds rules without command)
    if (r->command.count && !(indexed && v->cmd)) {
        bool hit = false;
        for (size_t i = 0; i < r->command.count && !hit; i++) {
            const pattern_t *p = &r->command.items[i];
            if (p->slash)
                hit = policy_pattern_match (p, v->word0, v->word0_len);
            else
                hit = policy_pattern_match (p, v->name, v->name_len);
        }
        if (!hit)
            return false;
    }
    //  An allow for `git` is no allow for /tmp/x/git: a command given by
    //  path matches a bare name only from the system's own directories
    if (r->act.action == POLICY_ALLOW && r->command.count && v->cmd && !s_trusted_path (v) &&
        !s_command_by_path_matches (r, v))
        return false;
    if (r->role.count && !(e->role && policy_plist_match (&r->role, e->role, strlen (e->role))))
        return false;
    if (r->when && !s_cond_when (e, r, v))
        return false;
    if (r->subcommand.count && !s_cond_subcommand (r, v))
        return false;
    if (r->flag.count && !s_cond_flag (&r->flag, v))
        return false;
    if (r->not_flag.count && s_cond_flag (&r->not_flag, v))
        return false;
    if (r->pre_flag.count && !s_cond_pre_flag (&r->pre_flag, v))
        return false;
    if (r->arg.count && !s_cond_arg (&r->arg, v))
        return false;
    if (r->not_arg.count && s_cond_arg (&r->not_arg, v))
        return false;
    if (r->wrapper.count && !s_cond_wrapper (e, r, v))
        return false;
    if (r->upstream.count && !s_cond_upstream (r, v))
        return false;
    if (r->assign.count && !s_cond_assign (&r->assign, v))
        return false;
    if (r->not_assign.count && s_cond_assign (&r->not_assign, v))
        return false;
    if (r->input.count && !s_cond_input (r, v))
        return false;
    //  An allow needs certainty: every path the command could touch must
    //  be in the rule's classes (or files); any other rule needs only one
    bool certain = r->act.action == POLICY_ALLOW;
    if (r->has_path || r->has_target) {
        policy_paths_classify (e, v);
        if (r->has_path &&
            (certain ? (v->classes & ~r->path_mask) != 0 : !(v->classes & r->path_mask)))
            return false;
        if (r->has_target && (certain ? (v->target_classes & ~r->target_mask) != 0
                                      : !(v->target_classes & r->target_mask)))
            return false;
    }
    if (r->has_tree) {
        policy_paths_classify_tree (e, v);
        if (certain ? (v->tree_classes & ~r->tree_mask) != 0 : !(v->tree_classes & r->tree_mask))
            return false;
    }
    if (r->file.count) {
        bool hit, miss;
        policy_paths_probe_files (e, v, &r->file, certain, &hit, &miss);
        if (certain ? miss || !hit : !hit)
            return false;
    }
    return true;
}

//  --------------------------------------------------------------------------
//  Index lookups

const bucket_t *
policy_index_find (const index_t *index, const char *key, size_t n)
{
    if (!index->cap)
        return NULL;
    size_t mask = index->cap - 1;
    for (size_t i = policy_hash (key, n) & mask;; i = (i + 1) & mask) {
        const bucket_t *b = &index->slots[i];
        if (!b->key)
            return NULL;
        if (policy_streq_n (key, n, b->key))
            return b;
    }
}

//  The first rule (in file order) among bucket + scan that matches v
const rule_t *
policy_index_first_match (eval_t *e, const bucket_t *bucket, const idlist_t *scan, view_t *v,
                          bool tool_given_only)
{
    const policy_t *p = e->policy;
    size_t i = 0, j = 0;
    size_t bn = bucket ? bucket->rules.count : 0;
    const uint32_t *bucket_ids = bucket ? bucket->rules.items : NULL;
    while (i < bn || j < scan->count) {
        uint32_t id;
        bool from_bucket = true;
        if (j >= scan->count || (i < bn && bucket_ids[i] < scan->items[j]))
            id = bucket_ids[i++];
        else if (i >= bn || scan->items[j] < bucket_ids[i]) {
            id = scan->items[j++];
            from_bucket = false;
        } else {
            id = bucket_ids[i++];
            j++;
        }
        const rule_t *r = &p->rules[id];
        if (tool_given_only && !r->tool.count)
            continue;
        if (s_rule_matches (e, r, v, from_bucket))
            return r;
    }
    return NULL;
}
