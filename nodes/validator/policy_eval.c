/*  policy_eval.c -- evaluating one tool call against the policy.

    For Bash: every simple command the parse holds (wrappers, substitutions,
    -c strings and input piped into a shell included), every redirection,
    and what the commands leave behind for the next ones (the working
    directory through cd, files downloaded or written). For the other
    tools: the path and main string of their input. Each part offers its
    outcome; the most severe wins.
*/
#include "policy_internal.h"

//  Tools the engine knows
static const char *s_file_tools[] = {"Write", "Edit", "MultiEdit", "NotebookEdit", "Read"};
static const char *s_other_tools[] = {"Glob",       "Grep",     "LS",        "WebFetch",
                                      "WebSearch",  "Task",     "TodoWrite", "ExitPlanMode",
                                      "BashOutput", "KillShell"};
//  What a guarded workspace (lh-fuse) asks before a file-system change or a
//  read: `path` is the file, `target` the second path of the three that
//  have one (rename: the new name; link: the existing file; symlink: where
//  the link points, resolved against the link's directory)
static const char *s_fs_tools[] = {"FsRead",    "FsWrite", "FsCreate",   "FsTruncate",   "FsUnlink",
                                   "FsRename",  "FsMkdir", "FsRmdir",    "FsChmod",      "FsChown",
                                   "FsSymlink", "FsLink",  "FsSetxattr", "FsRemovexattr"};
static const char *s_fs_two_paths[] = {"FsRename", "FsSymlink", "FsLink"};

//  --------------------------------------------------------------------------
//  Evaluation entry

static bool
s_in_list (const char *s, size_t n, const char *const *list, size_t count)
{
    for (size_t i = 0; i < count; i++)
        if (policy_streq_n (s, n, list[i]))
            return true;
    return false;
}

//  Normalises an absolute directory; false if it is not one
static bool
s_norm_dir (const char *in, char *out, size_t *len)
{
    if (!in || in[0] != '/')
        return false;
    size_t n = strnlen (in, PATH_BUF);
    if (n >= PATH_BUF)
        return false;
    int r = policy_paths_resolve ("/", 1, in, n, out);
    if (r < 0)
        return false;
    *len = (size_t) r;
    return true;
}

void
policy_eval (const policy_t *self, const policy_request_t *request, policy_decision_t *decision)
{
    if (!decision)
        return;
    memset (decision, 0, sizeof (*decision));
    static const action_t deny = {POLICY_DENY, RISK_CRITICAL, "", 0};
    if (!self || !request) {
        policy_decide (decision, &deny, "bad-input", "no policy or no request");
        return;
    }
    eval_t e;
    //  the big buffers are written before they are read; clear the rest
    e.policy = self;
    e.req = request;
    e.tool = request->tool ? request->tool : "";
    e.tool_len = strlen (e.tool);
    e.role = request->role;
    e.ncwd = 0;
    e.cwd_unknown = false;
    e.nfind = 0;
    e.find_unknown = false;
    e.downloads.count = 0;
    e.downloads.lost = false;
    e.written.count = 0;
    e.written.lost = false;
    e.fork_bomb = false;
    e.dotglob = false;
    e.nocaseglob = false;
    e.glob_depth = false;
    e.nplain = 0;
    e.cwd_mask_key = 0;
    e.run_in_background = false;
    e.depth = 0;
    e.extra_count = 0;
    e.have = false;
    e.done = false;
    memset (&e.best, 0, sizeof (e.best));

    if (!request->tool || !request->tool[0]) {
        policy_offer (&e, &self->bad_input, "bad-input", "the request names no tool");
        *decision = e.best;
        return;
    }
    if (!s_norm_dir (request->cwd, e.cwds[0], &e.cwd_lens[0])) {
        policy_offer_bad_input (&e, "cwd must be an absolute path");
        *decision = e.best;
        return;
    }
    e.ncwd = 1;
    if (!s_norm_dir (request->home ? request->home : "/root", e.home, &e.home_len)) {
        policy_offer_bad_input (&e, "home must be an absolute path");
        *decision = e.best;
        return;
    }
    if (!s_norm_dir (request->project ? request->project : request->cwd, e.project,
                     &e.project_len)) {
        policy_offer_bad_input (&e, "project must be an absolute path");
        *decision = e.best;
        return;
    }
    //  A project root of /, the home directory or one of its parents
    //  would make everything "project": no project then
    e.project_on =
        !(e.project_len == 1 || policy_path_under (e.home, e.home_len, e.project, e.project_len));

    bool file_tool =
        s_in_list (e.tool, e.tool_len, s_file_tools,
                   sizeof (s_file_tools) / sizeof (s_file_tools[0])) ||
        s_in_list (e.tool, e.tool_len, s_fs_tools, sizeof (s_fs_tools) / sizeof (s_fs_tools[0]));
    bool other_tool = s_in_list (e.tool, e.tool_len, s_other_tools,
                                 sizeof (s_other_tools) / sizeof (s_other_tools[0]));
    if (strcmp (e.tool, "Bash") == 0)
        policy_eval_bash (&e);
    else
        policy_eval_tool (&e, file_tool || other_tool, file_tool);
    if (!e.have) //  cannot happen; fail closed all the same
        policy_offer (&e, &deny, "internal", "no decision");
    *decision = e.best;
}

#define MAX_COMMAND (256 * 1024) //  longer Bash input is a parse error

const char *const policy_shells[7] = {"sh", "bash", "zsh", "dash", "ksh", "ash", "mksh"};
//  The wrapper (rule key `wrapper`) the commands of a shell's re-parsed
//  stdin run under, in the order of policy_shells
static const char *s_shell_wrappers[] = {"sh <<",  "bash <<", "zsh <<", "dash <<",
                                         "ksh <<", "ash <<",  "mksh <<"};

//  --------------------------------------------------------------------------
//  Evaluation context

//  Bounded copy of clean text (no UTF-8 cut: the sources fit)
static void
s_copy (char *dst, size_t size, const char *src)
{
    size_t n = strnlen (src, size - 1);
    memcpy (dst, src, n);
    dst[n] = 0;
}

//  rule and reason are clean (checked at load, or built by policy_text_format)
void
policy_decide (policy_decision_t *d, const action_t *act, const char *rule, const char *reason)
{
    d->action = act->action;
    d->risk = act->risk;
    s_copy (d->capability, sizeof (d->capability),
            act->action == POLICY_ESCALATE ? act->capability : "");
    d->quorum = act->action == POLICY_ESCALATE ? (act->quorum ? act->quorum : 1) : 0;
    s_copy (d->rule, sizeof (d->rule), rule);
    s_copy (d->reason, sizeof (d->reason), reason);
}

//  Offers one outcome: kept when more severe than what we have (the first
//  of equals wins)
void
policy_offer (eval_t *e, const action_t *act, const char *rule, const char *reason)
{
    if (e->have && act->action <= e->best.action)
        return;
    policy_decide (&e->best, act, rule, reason);
    e->have = true;
    if (act->action == POLICY_DENY)
        e->done = true;
}

//  --------------------------------------------------------------------------
//  Bash evaluation

static void s_eval_shell (eval_t *e, const shell_t *sh);

static void
s_eval_view (eval_t *e, view_t *v, bool dynamic_name)
{
    const policy_t *p = e->policy;
    const bucket_t *bucket = policy_index_find (&p->cmd_index, v->name, v->name_len);
    const rule_t *r = policy_index_first_match (e, bucket, &p->bash_scan, v, false);
    if (r)
        policy_offer (e, &r->act, r->name, r->reason);
    if (dynamic_name && (!r || r->act.action < p->dynamic_command.action)) {
        char reason[256];
        char ex[64];
        policy_text_excerpt (ex, sizeof (ex), v->word0, v->word0_len);
        policy_text_format (
            reason, sizeof (reason),
            "the command name '%s' is only known at run time (variable or substitution)", ex);
        policy_offer (e, &p->dynamic_command, "dynamic-command", reason);
    } else if (!r)
        policy_offer (e, &p->dflt, "default", "no rule matched; the policy's default");
}

static bool
s_is_fd_word (const char *t)
{
    if (!t[0])
        return false;
    if (t[0] == '-' && !t[1])
        return true;
    for (const char *c = t; *c; c++)
        if (!isdigit ((unsigned char) *c))
            return false;
    return true;
}

static void
s_flags_from_wrappers (view_t *v, const shell_cmd_t *cmd)
{
    for (size_t i = 0; i < cmd->wrappers_count; i++) {
        const char *w = cmd->wrappers[i];
        if (!w)
            continue;
        if (strncmp (w, "find", 4) == 0)
            v->find_exec = true;
        if (strcmp (w, "xargs") == 0)
            v->xargs = true;
    }
}

//  Parses text as the program a shell reads on stdin and evaluates it
static void
s_eval_nested (eval_t *e, const char *text, size_t n, const char *shell_name)
{
    if (e->depth >= MAX_NEST) {
        policy_offer (e, &e->policy->parse_error, "parse-error",
                      "shell input nested too deeply (a shell fed by a shell fed by ...)");
        return;
    }
    shell_opts_t opts = {.home = e->home, .max_depth = 0, .max_commands = 0};
    char err[256] = "";
    shell_t *sh = shell_parse (text, n, &opts, err, sizeof (err));
    if (!sh) {
        char reason[256];
        policy_text_format (reason, sizeof (reason), "cannot parse the input piped into %s: %s",
                            shell_name, err[0] ? err : "parse error");
        policy_offer (e, &e->policy->parse_error, "parse-error", reason);
        return;
    }
    const char *wrapper = "sh <<";
    for (size_t i = 0; i < sizeof (policy_shells) / sizeof (policy_shells[0]); i++)
        if (strcmp (shell_name, policy_shells[i]) == 0)
            wrapper = s_shell_wrappers[i];
    e->depth++;
    e->extra_wrapper[e->extra_count++] = wrapper;
    s_eval_shell (e, sh);
    e->extra_count--;
    e->depth--;
    shell_destroy (&sh);
}

//  A shell reading its program from an echo / printf right before it in
//  the pipeline: the echoed words are parsed as the program
static void
s_shell_stdin (eval_t *e, const shell_t *sh, const shell_cmd_t *cmd, view_t *v)
{
    if (!policy_cmd_name_is (cmd, policy_shells,
                             sizeof (policy_shells) / sizeof (policy_shells[0])))
        return;
    if (!policy_cond_no_operand (v))
        return;
    //  -c is handled by the parser; -s, -e, -x, ... leave stdin the program
    for (size_t i = 0; i < v->argc; i++) {
        word_t w = policy_view_arg (v, i);
        if (w.n >= 2 && w.s[0] == '-' && w.s[1] != '-' && memchr (w.s, 'c', w.n))
            return;
    }
    char name[16];
    size_t nlen = v->name_len < sizeof (name) - 1 ? v->name_len : sizeof (name) - 1;
    memcpy (name, v->name, nlen);
    name[nlen] = 0;
    //  (heredocs and here-strings the parser already parses as the program:
    //  their commands come with the wrapper "bash <<")
    const shell_cmd_t *up = shell_upstream (sh, cmd);
    if (!e->done && up && policy_cmd_name_is (up, policy_echoes, 2) && up->argc > 1) {
        //  echo 'rm -rf ~' | sh: the echoed words, joined, are the program
        size_t total = 0;
        bool dynamic = false;
        for (size_t i = 1; i < up->argc; i++) {
            total += strlen (up->argv[i].text) + 1;
            dynamic = dynamic || up->argv[i].dynamic;
        }
        if (total > MAX_COMMAND) {
            policy_offer (e, &e->policy->parse_error, "parse-error",
                          "the program piped into a shell is too long");
            return;
        }
        char *text = (char *) malloc (total + 1);
        if (!text) {
            policy_offer (e, &e->policy->parse_error, "parse-error", "out of memory");
            return;
        }
        size_t len = 0;
        bool escapes = policy_streq_n (up->argv[0].text, strlen (up->argv[0].text), "printf");
        for (size_t i = 1; i < up->argc; i++) {
            const char *t = up->argv[i].text;
            size_t tn = strlen (t);
            //  echo -n / -e and printf's options are not program text
            if (i == 1 && t[0] == '-' && tn > 1 && tn < 4) {
                escapes = escapes || memchr (t, 'e', tn);
                continue;
            }
            for (size_t k = 0; k < tn; k++) {
                //  printf and echo -e turn \n and \t into separators
                if (escapes && t[k] == '\\' && k + 1 < tn && (t[k + 1] == 'n' || t[k + 1] == 't')) {
                    text[len++] = t[k + 1] == 'n' ? '\n' : '\t';
                    k++;
                } else
                    text[len++] = t[k];
            }
            text[len++] = ' ';
        }
        text[len] = 0;
        if (dynamic)
            policy_offer (e, &e->policy->dynamic_command, "dynamic-command",
                          "a shell reads a program built at run time from a pipe");
        s_eval_nested (e, text, len, name);
        free (text);
    }
}

static const char *s_downloaders[] = {"curl", "wget", "fetch", "aria2c", "http", "https", "xh"};

//  Adds text, resolved against each working directory, to set ("-" is
//  stdout, not a file)
static void
s_noted_add (eval_t *e, noted_t *set, const char *text, size_t n)
{
    if (n == 0 || (n == 1 && text[0] == '-'))
        return;
    if (e->cwd_unknown && text[0] != '/')
        set->lost = true; //  relative to a directory we do not know
    char out[PATH_BUF];
    for (size_t c = 0; c < e->ncwd; c++) {
        int len = policy_paths_resolve (e->cwds[c], e->cwd_lens[c], text, n, out);
        if (len < 0 || len >= NOTED_PATH || set->count == MAX_NOTED) {
            set->lost = true;
            continue;
        }
        memcpy (set->path[set->count], out, (size_t) len + 1);
        set->len[set->count++] = (size_t) len;
    }
}

static void
s_note_written (eval_t *e, const char *text, size_t n)
{
    s_noted_add (e, &e->written, text, n);
}

//  What a command writes, for runs_written / reads_written later
static void
s_note_writes (eval_t *e, const shell_cmd_t *cmd, const view_t *v)
{
    for (size_t i = 0; i < cmd->redirs_count; i++) {
        const shell_redir_t *rd = &cmd->redirs[i];
        if ((rd->kind == SHELL_REDIR_OUT || rd->kind == SHELL_REDIR_APPEND ||
             rd->kind == SHELL_REDIR_OUT_ALL || rd->kind == SHELL_REDIR_INOUT) &&
            rd->target.text) {
            if (rd->target.dynamic)
                e->written.lost = true; //  a file named only at run time
            else
                s_note_written (e, rd->target.text, strlen (rd->target.text));
        }
    }
    if (!v || !v->sargs)
        return;
    static const char *copiers[] = {"cp", "mv", "install", "ln", "rsync"};
    static const char *awks[] = {"awk", "gawk"};
    bool tee = policy_streq_n (v->name, v->name_len, "tee");
    bool copier = policy_name_in (v->name, v->name_len, copiers, 5);
    bool dd = policy_streq_n (v->name, v->name_len, "dd");
    bool sed = policy_streq_n (v->name, v->name_len, "sed");
    bool awk = policy_name_in (v->name, v->name_len, awks, 2);
    //  in-place editors write every operand: sed -i (-ni, -i.bak,
    //  --in-place), gawk -i inplace (or an extension named at run time)
    bool inplace = false;
    bool include = false; //  the word before was gawk's -i / --include
    for (size_t i = 0; (sed || awk) && i < v->argc; i++) {
        word_t w = policy_view_arg (v, i);
        if (sed && policy_is_option (w))
            inplace = inplace || (w.s[1] != '-' && memchr (w.s, 'i', w.n)) ||
                      (w.n >= 10 && memcmp (w.s, "--in-place", 10) == 0);
        bool opt = awk && ((w.n >= 2 && memcmp (w.s, "-i", 2) == 0) ||
                           (w.n >= 9 && memcmp (w.s, "--include", 9) == 0));
        if (awk)
            inplace = inplace || policy_mem_contains (w.s, w.n, "inplace", 7, false) ||
                      (w.dynamic && (include || opt));
        include = opt && (w.n == 2 || w.n == 9);
    }
    size_t last = SIZE_MAX;
    for (size_t i = 0; i < v->argc; i++) {
        word_t w = policy_view_arg (v, i);
        bool operand = !policy_is_option (w);
        if (w.dynamic) {
            if ((operand && (tee || inplace)) || (dd && w.n > 3 && memcmp (w.s, "of=", 3) == 0))
                e->written.lost = true;
            if (operand)
                last = i;
            continue;
        }
        if (dd && w.n > 3 && memcmp (w.s, "of=", 3) == 0)
            s_note_written (e, w.s + 3, w.n - 3);
        else if (operand) {
            if (tee || inplace)
                s_note_written (e, w.s, w.n);
            last = i;
        }
    }
    if (copier && last != SIZE_MAX) {
        word_t w = policy_view_arg (v, last);
        if (w.dynamic)
            e->written.lost = true;
        else
            s_note_written (e, w.s, w.n);
    }
}

static void
s_note_download (eval_t *e, const char *text, size_t n)
{
    s_noted_add (e, &e->downloads, text, n);
}

//  The file a URL is saved as by curl -O and plain wget: its last component
static void
s_note_url_name (eval_t *e, const char *t)
{
    const char *scheme = strstr (t, "://");
    if (!scheme)
        return;
    const char *host = scheme + 3;
    const char *end = host + strcspn (host, "?#");
    const char *name = NULL;
    for (const char *c = host; c < end; c++)
        if (*c == '/')
            name = c + 1;
    if (name && name < end)
        s_note_download (e, name, (size_t) (end - name));
}

//  curl -o FILE / -oFILE / --output FILE / -O (remote name), wget -O FILE
//  or the URL's name: remembers where a download lands
static void
s_note_downloads (eval_t *e, const shell_cmd_t *cmd, bool wget)
{
    char opt = wget ? 'O' : 'o';
    bool named = false, remote_name = false;
    for (size_t i = 1; i < cmd->argc; i++) {
        const shell_word_t *w = &cmd->argv[i];
        const char *t = w->text;
        const shell_word_t *next = i + 1 < cmd->argc ? &cmd->argv[i + 1] : NULL;
        if (strcmp (t, "--output") == 0 || strcmp (t, "--output-document") == 0) {
            if (next && !next->dynamic)
                s_note_download (e, next->text, strlen (next->text));
            named = true;
            i++;
        } else if (strncmp (t, "--output=", 9) == 0 || strncmp (t, "--output-document=", 18) == 0) {
            const char *value = strchr (t, '=') + 1;
            if (!w->dynamic)
                s_note_download (e, value, strlen (value));
            named = true;
        } else if (strcmp (t, "--remote-name") == 0 || strcmp (t, "--remote-name-all") == 0)
            remote_name = true;
        else if (t[0] == '-' && t[1] && t[1] != '-') {
            //  a cluster: the option's value is the rest of the word or
            //  the next word
            const char *o = strchr (t + 1, opt);
            if (!wget && strchr (t + 1, 'O') && (!o || strchr (t + 1, 'O') < o))
                remote_name = true;
            if (o) {
                named = true;
                if (o[1] && !w->dynamic)
                    s_note_download (e, o + 1, strlen (o + 1));
                else if (!o[1] && next) {
                    if (!next->dynamic)
                        s_note_download (e, next->text, strlen (next->text));
                    i++;
                }
            }
        }
    }
    if ((wget && !named) || remote_name)
        for (size_t i = 1; i < cmd->argc; i++) {
            //  an unquoted ? or * in a URL stays as written when it
            //  matches no file: only variables make the name unknown
            const char *t = cmd->argv[i].text;
            if (!policy_has_var (t, strlen (t)))
                s_note_url_name (e, t);
        }
}

//  find [-H|-L|-P|-D x|-Ox] ROOT... EXPRESSION: remembers the roots
static void
s_find_roots (eval_t *e, const shell_cmd_t *cmd)
{
    e->nfind = 0;
    e->find_unknown = false;
    size_t i = 1;
    while (i < cmd->argc) {
        const char *t = cmd->argv[i].text;
        if (strcmp (t, "-H") == 0 || strcmp (t, "-L") == 0 || strcmp (t, "-P") == 0 ||
            strncmp (t, "-O", 2) == 0)
            i++;
        else if (strcmp (t, "-D") == 0)
            i += 2;
        else
            break;
    }
    for (; i < cmd->argc; i++) {
        const shell_word_t *w = &cmd->argv[i];
        if (w->text[0] == '-' || strcmp (w->text, "(") == 0 || strcmp (w->text, "!") == 0)
            break;
        if (w->dynamic || e->nfind >= MAX_CWDS) {
            e->find_unknown = true;
            return;
        }
        e->find_roots[e->nfind++] = w;
    }
    if (e->nfind == 0) {
        static const shell_word_t dot = {.text = "."};
        e->find_roots[e->nfind++] = &dot;
    }
}

//  DIR (NULL: home) becomes one more directory that later relative paths
//  may be relative to, resolved against each one known; we do not know
//  where a cd's scope ends, so we keep them all
static void
s_add_cwd (eval_t *e, const char *target, bool dynamic)
{
    if (target && (strcmp (target, "-") == 0 || dynamic || target[0] == 0)) {
        e->cwd_unknown = true;
        return;
    }
    size_t count = e->ncwd;
    for (size_t i = 0; i < count; i++) {
        if (e->ncwd >= MAX_CWDS) {
            e->cwd_unknown = true;
            return;
        }
        char *out = e->cwds[e->ncwd];
        int len =
            target ? policy_paths_resolve (e->cwds[i], e->cwd_lens[i], target, strlen (target), out)
                   : policy_paths_resolve ("/", 1, e->home, e->home_len, out);
        if (len < 0) {
            e->cwd_unknown = true;
            return;
        }
        bool dup = false;
        for (size_t k = 0; k < e->ncwd && !dup; k++)
            dup = e->cwd_lens[k] == (size_t) len && memcmp (e->cwds[k], out, (size_t) len) == 0;
        if (!dup)
            e->cwd_lens[e->ncwd++] = (size_t) len;
        if (!target)
            break;
    }
}

//  cd DIR / pushd DIR
static void
s_chdir (eval_t *e, const shell_cmd_t *cmd)
{
    if (cmd->argc > 2) {
        e->cwd_unknown = true;
        return;
    }
    s_add_cwd (e, cmd->argc == 2 ? cmd->argv[1].text : NULL,
               cmd->argc == 2 && cmd->argv[1].dynamic);
}

//  Programs whose -C DIR (--directory DIR) makes their relative paths
//  relative to DIR: tar -C / -czf x home/dev archives /home/dev
static void
s_dir_options (eval_t *e, const view_t *v)
{
    static const char *progs[] = {"tar", "bsdtar", "gtar", "make", "gmake", "ninja", "git"};
    if (!policy_name_in (v->name, v->name_len, progs, sizeof (progs) / sizeof (progs[0])))
        return;
    for (size_t i = 0; i < v->argc; i++) {
        const shell_word_t *w = &v->sargs[i];
        const char *t = w->text;
        if (strcmp (t, "--") == 0)
            break;
        if ((strcmp (t, "-C") == 0 || strcmp (t, "--directory") == 0) && i + 1 < v->argc) {
            s_add_cwd (e, v->sargs[i + 1].text, v->sargs[i + 1].dynamic);
            i++;
        } else if (strncmp (t, "--directory=", 12) == 0)
            s_add_cwd (e, t + 12, w->dynamic);
        else if (strncmp (t, "-C", 2) == 0 && t[2] && !policy_streq_n (v->name, v->name_len, "git"))
            s_add_cwd (e, t + 2, w->dynamic);
    }
}

static void
s_eval_cmd (eval_t *e, const shell_t *sh, const shell_cmd_t *cmd)
{
    view_t v;
    memset (&v, 0, sizeof (v));
    v.cmd = cmd;
    v.shell = sh;
    s_flags_from_wrappers (&v, cmd);
    if (cmd->argc > 0) {
        const char *w0 = cmd->argv[0].text;
        v.word0 = w0;
        v.word0_len = strlen (w0);
        policy_basename (w0, v.word0_len, &v.name, &v.name_len);
        v.sargs = cmd->argv + 1;
        v.argc = cmd->argc - 1;
        s_dir_options (e, &v);
        s_eval_view (e, &v, cmd->argv[0].dynamic);
        if (e->done)
            return;
        if (policy_streq_n (v.name, v.name_len, "find"))
            s_find_roots (e, cmd);
        bool downloader = false;
        for (size_t i = 0; i < sizeof (s_downloaders) / sizeof (s_downloaders[0]); i++)
            downloader = downloader || policy_streq_n (v.name, v.name_len, s_downloaders[i]);
        if (downloader) {
            s_note_downloads (e, cmd, policy_streq_n (v.name, v.name_len, "wget"));
            for (size_t i = 0; i < cmd->redirs_count; i++) {
                const shell_redir_t *rd = &cmd->redirs[i];
                if ((rd->kind == SHELL_REDIR_OUT || rd->kind == SHELL_REDIR_APPEND ||
                     rd->kind == SHELL_REDIR_OUT_ALL) &&
                    rd->target.text && !rd->target.dynamic)
                    s_note_download (e, rd->target.text, strlen (rd->target.text));
            }
        }
        s_note_writes (e, cmd, &v);
        if (!cmd->argv[0].dynamic && cmd->wrappers_count == 0 &&
            (policy_streq_n (v.name, v.name_len, "cd") ||
             policy_streq_n (v.name, v.name_len, "pushd")))
            s_chdir (e, cmd);
        else if (policy_streq_n (v.name, v.name_len, "popd"))
            e->cwd_unknown = true;
    } else if (cmd->assigns_count > 0) {
        v.name = v.word0 = "";
        v.sargs = cmd->argv;
        v.argc = 0;
        s_eval_view (e, &v, false);
        if (e->done)
            return;
    }
    //  Redirections to files: pseudo commands > and <
    for (size_t i = 0; i < cmd->redirs_count && !e->done; i++) {
        const shell_redir_t *rd = &cmd->redirs[i];
        const char *name = NULL;
        switch (rd->kind) {
        case SHELL_REDIR_OUT:
        case SHELL_REDIR_APPEND:
        case SHELL_REDIR_OUT_ALL:
        case SHELL_REDIR_INOUT:
            name = ">";
            break;
        case SHELL_REDIR_DUP_OUT:
            name = s_is_fd_word (rd->target.text) ? NULL : ">";
            break;
        case SHELL_REDIR_IN:
            name = "<";
            break;
        case SHELL_REDIR_DUP_IN:
            name = s_is_fd_word (rd->target.text) ? NULL : "<";
            break;
        default:
            break;
        }
        if (!name || !rd->target.text)
            continue;
        view_t r;
        memset (&r, 0, sizeof (r));
        r.cmd = cmd;
        r.shell = sh;
        r.pseudo = true;
        r.name = r.word0 = name;
        r.name_len = r.word0_len = 1;
        r.sargs = &rd->target;
        r.argc = 1;
        s_eval_view (e, &r, false);
    }
    if (!e->done && cmd->argc > 0)
        s_shell_stdin (e, sh, cmd, &v);
}

static void
s_eval_shell (eval_t *e, const shell_t *sh)
{
    bool outer_bomb = e->fork_bomb;
    if (shell_has_recursive_function (sh))
        e->fork_bomb = true;
    size_t count = shell_count (sh);
    for (size_t i = 0; i < count && !e->done; i++) {
        const shell_cmd_t *cmd = shell_cmd (sh, i);
        if (cmd)
            s_eval_cmd (e, sh, cmd);
    }
    e->fork_bomb = outer_bomb;
}

//  --------------------------------------------------------------------------
//  Tools

void
policy_offer_bad_input (eval_t *e, const char *what)
{
    char reason[256];
    char tool[64];
    policy_text_excerpt (tool, sizeof (tool), e->tool, e->tool_len);
    policy_text_format (reason, sizeof (reason), "%s: %s", tool, what);
    policy_offer (e, &e->policy->bad_input, "bad-input", reason);
}

//  A str field: absent -> *present false; wrong type -> false
static bool
s_str_field (const msgpack_object *input, const char *key, word_t *w, bool *present)
{
    const msgpack_object *o = codec_map_get (input, key);
    *present = o != NULL;
    if (!o)
        return true;
    if (o->type != MSGPACK_OBJECT_STR)
        return false;
    w->s = o->via.str.size ? o->via.str.ptr : "";
    w->n = o->via.str.size;
    w->dynamic = false;
    w->pattern = NULL;
    w->depth = false;
    return true;
}

void
policy_eval_bash (eval_t *e)
{
    const msgpack_object *input = e->req->input;
    word_t cmd;
    bool present;
    if (!input || input->type != MSGPACK_OBJECT_MAP) {
        policy_offer_bad_input (e, "tool input must be a map");
        return;
    }
    if (!s_str_field (input, "command", &cmd, &present) || !present) {
        policy_offer_bad_input (e, present ? "'command' must be a string" : "'command' is missing");
        return;
    }
    const msgpack_object *bg = codec_map_get (input, "run_in_background");
    if (bg && bg->type == MSGPACK_OBJECT_BOOLEAN)
        e->run_in_background = bg->via.boolean;
    else if (bg && bg->type != MSGPACK_OBJECT_NIL) {
        policy_offer_bad_input (e, "'run_in_background' must be a boolean");
        return;
    }
    if (cmd.n > MAX_COMMAND) {
        char reason[256];
        policy_text_format (reason, sizeof (reason),
                            "command too long to check (%zu bytes; limit %d)", cmd.n, MAX_COMMAND);
        policy_offer (e, &e->policy->parse_error, "parse-error", reason);
        return;
    }
    e->dotglob = memmem (cmd.s, cmd.n, "dotglob", 7) || memmem (cmd.s, cmd.n, "GLOBIGNORE", 10);
    e->nocaseglob = memmem (cmd.s, cmd.n, "nocaseglob", 10) != NULL;
    if (memchr (cmd.s, 0, cmd.n)) {
        policy_offer (e, &e->policy->parse_error, "parse-error", "command contains a NUL byte");
        return;
    }
    if (!policy_text_is_utf8 (cmd.s, cmd.n)) {
        policy_offer (e, &e->policy->parse_error, "parse-error", "command is not valid UTF-8");
        return;
    }
    shell_opts_t opts = {.home = e->home, .max_depth = 0, .max_commands = 0};
    char err[256] = "";
    shell_t *sh = shell_parse (cmd.s, cmd.n, &opts, err, sizeof (err));
    if (!sh) {
        char reason[256];
        policy_text_format (reason, sizeof (reason), "cannot parse the command: %s",
                            err[0] ? err : "parse error");
        policy_offer (e, &e->policy->parse_error, "parse-error", reason);
        return;
    }
    if (shell_count (sh) == 0) {
        //  nothing runs: there is nothing to defer to a person either
        static const action_t nothing = {POLICY_ALLOW, RISK_NONE, "", 0};
        policy_offer (e, &nothing, "empty", "nothing to run");
    } else
        s_eval_shell (e, sh);
    shell_destroy (&sh);
}

void
policy_eval_tool (eval_t *e, bool known, bool file_tool)
{
    const policy_t *p = e->policy;
    const msgpack_object *input = e->req->input;
    view_t v;
    memset (&v, 0, sizeof (v));
    v.name = v.word0 = "";
    //  words[0] is the path (file tools; the path field of the others),
    //  words[1] the main string of the others (url, query, pattern)
    word_t words[3];
    size_t nwords = 0;
    word_t wpaths[2], extra_path = {NULL, 0, false, NULL, false};
    bool grep_glob = false;
    if (known) {
        if (!input || input->type != MSGPACK_OBJECT_MAP) {
            policy_offer_bad_input (e, "tool input must be a map");
            return;
        }
        bool present;
        word_t path, text;
        bool fs_tool = file_tool && e->tool_len > 2 && memcmp (e->tool, "Fs", 2) == 0;
        const char *key =
            fs_tool     ? "path"
            : file_tool ? (policy_streq_n (e->tool, e->tool_len, "NotebookEdit") ? "notebook_path"
                                                                                 : "file_path")
                        : "path";
        char what[64];
        if (!s_str_field (input, key, &path, &present)) {
            snprintf (what, sizeof (what), "'%s' must be a string", key);
            policy_offer_bad_input (e, what);
            return;
        }
        if (file_tool && (!present || path.n == 0)) {
            snprintf (what, sizeof (what), "'%s' is %s", key, present ? "empty" : "missing");
            policy_offer_bad_input (e, what);
            return;
        }
        if (present && path.n > 0) {
            if (memchr (path.s, 0, path.n)) {
                snprintf (what, sizeof (what), "'%s' contains a NUL byte", key);
                policy_offer_bad_input (e, what);
                return;
            }
            if (path.n >= PATH_BUF) {
                snprintf (what, sizeof (what), "'%s' is too long", key);
                policy_offer_bad_input (e, what);
                return;
            }
            words[nwords++] = path;
            v.tool_path = true;
        }
        //  The second path of a workspace rename, link or symlink: a path like
        //  the first, so that classes and rules see both ends
        if (fs_tool) {
            bool two = s_in_list (e->tool, e->tool_len, s_fs_two_paths,
                                  sizeof (s_fs_two_paths) / sizeof (s_fs_two_paths[0]));
            word_t target;
            if (!s_str_field (input, "target", &target, &present) ||
                (two && (!present || target.n == 0)) || (!two && present)) {
                policy_offer_bad_input (e,
                                        two ? "'target' must be a non-empty string"
                                            : "'target' is only for FsRename, FsLink, FsSymlink");
                return;
            }
            if (two) {
                if (memchr (target.s, 0, target.n) || target.n >= PATH_BUF) {
                    policy_offer_bad_input (e, "'target' contains a NUL byte or is too long");
                    return;
                }
                words[nwords++] = target;
                v.tool_paths = 1;
            }
        }
        //  Grep's glob: the files it reads are those below path (or the
        //  working directory) whose names match it, at any depth: PATH/GLOB
        //  and PATH/<anything>/GLOB
        word_t glob;
        static _Thread_local char gtext[2][PATH_BUF * 2], gpat[2][PATH_BUF * 3];
        if (policy_streq_n (e->tool, e->tool_len, "Grep") &&
            s_str_field (input, "glob", &glob, &present) && present && glob.n > 0 && glob.n < 256 &&
            !memchr (glob.s, 0, glob.n)) {
            word_t base = nwords ? words[0] : (word_t){".", 1, false, NULL, false};
            for (int deep = 0; deep < 2 && base.n + glob.n + 8 < sizeof (gtext[0]); deep++) {
                size_t tn = 0, pn;
                memcpy (gtext[deep], base.s, base.n);
                tn = base.n;
                gtext[deep][tn++] = '/';
                memcpy (gtext[deep] + tn, glob.s, glob.n);
                tn += glob.n;
                gtext[deep][tn] = 0;
                pn = policy_paths_escape (base.s, base.n, gpat[deep],
                                          sizeof (gpat[deep]) - glob.n * 2 - 8);
                gpat[deep][pn++] = '/';
                if (deep) {
                    gpat[deep][pn++] = GLOB_ANY_TEXT;
                    gpat[deep][pn++] = '/';
                }
                for (size_t i = 0; i < glob.n; i++) {
                    char c = glob.s[i];
                    if (c == '*' && i + 1 < glob.n && glob.s[i + 1] == '*') {
                        gpat[deep][pn++] = GLOB_ANY_TEXT;
                        i++;
                    } else if (c == '{' || c == '}' || c == ',' || c == GLOB_ANY_TEXT ||
                               c == GLOB_ANY_NAME)
                        gpat[deep][pn++] = GLOB_ANY_NAME; //  alternatives: any name part
                    else if (c == '\\') {
                        gpat[deep][pn++] = '\\';
                        gpat[deep][pn++] = '\\';
                    } else
                        gpat[deep][pn++] = c;
                }
                gpat[deep][pn] = 0;
                wpaths[deep] = (word_t){gtext[deep], tn, true, gpat[deep], true};
            }
            words[0] = wpaths[0];
            extra_path = wpaths[1];
            grep_glob = true;
            if (!nwords)
                nwords = 1;
            v.tool_path = true;
        }
        if (!file_tool) {
            static const char *const arg_keys[] = {"url", "query", "pattern"};
            for (size_t i = 0; i < 3; i++) {
                if (!s_str_field (input, arg_keys[i], &text, &present)) {
                    snprintf (what, sizeof (what), "'%s' must be a string", arg_keys[i]);
                    policy_offer_bad_input (e, what);
                    return;
                }
                if (present) {
                    words[nwords++] = text;
                    break;
                }
            }
        }
    }
    if (grep_glob) {
        //  the deeper glob goes second, before the pattern text
        memmove (words + 2, words + 1, (nwords - 1) * sizeof (word_t));
        words[1] = extra_path;
        nwords++;
        v.tool_paths = 1;
    }
    v.wargs = words;
    v.argc = nwords;
    const bucket_t *bucket = policy_index_find (&p->tool_index, e->tool, e->tool_len);
    const rule_t *r = policy_index_first_match (e, bucket, &p->tool_scan, &v, !known);
    if (r)
        policy_offer (e, &r->act, r->name, r->reason);
    else if (known)
        policy_offer (e, &p->dflt, "default", "no rule matched; the policy's default");
    else {
        char reason[256], tool[64];
        policy_text_excerpt (tool, sizeof (tool), e->tool, e->tool_len);
        policy_text_format (reason, sizeof (reason), "unknown tool '%s': no rule names it", tool);
        policy_offer (e, &p->unknown_tool, "unknown-tool", reason);
    }
}
