/*  policy_paths.c -- which classes the paths of a command fall in.

    Every word of a command may name paths: it is resolved lexically
    against the working directories (never through the filesystem, except
    the symlink checks the policy asks for), globs and words only known at
    run time stand for every path they could be, and each candidate is
    classified by the policy's class patterns. The rule conditions path,
    target, tree and file ask here.
*/
#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "policy_internal.h"

//  Resolves text (n bytes) against base (absolute, normalised) into out.
//  Returns the length, or -1 when the result would not fit.
int
policy_paths_resolve (const char *base, size_t base_len, const char *text, size_t n, char *out)
{
    size_t len = 0;
    if (n == 0 || text[0] != '/') {
        if (base_len >= PATH_BUF)
            return -1;
        memcpy (out, base, base_len);
        len = base_len;
        if (len == 1 && out[0] == '/')
            len = 0; //  root is "" while building
    }
    size_t i = 0;
    while (i < n) {
        while (i < n && text[i] == '/')
            i++;
        size_t start = i;
        while (i < n && text[i] != '/')
            i++;
        size_t clen = i - start;
        if (clen == 0 || (clen == 1 && text[start] == '.'))
            continue;
        if (clen == 2 && text[start] == '.' && text[start + 1] == '.') {
            while (len > 0 && out[len - 1] != '/')
                len--;
            if (len > 0)
                len--; //  the slash
            continue;
        }
        if (len + 1 + clen >= PATH_BUF)
            return -1;
        out[len++] = '/';
        memcpy (out + len, text + start, clen);
        len += clen;
    }
    if (len == 0)
        out[len++] = '/';
    out[len] = 0;
    return (int) len;
}

static bool
s_match_path (const eval_t *e, const pattern_t *p, const char *path, size_t n)
{
    switch (p->anchor) {
    case ANCHOR_HOME:
    case ANCHOR_PROJECT: {
        const char *root = p->anchor == ANCHOR_HOME ? e->home : e->project;
        size_t rlen = p->anchor == ANCHOR_HOME ? e->home_len : e->project_len;
        if (p->anchor == ANCHOR_PROJECT && !e->project_on)
            return false;
        if (rlen == 1) //  "/" as root: the rest is the whole path
            return policy_pattern_match_body (p, path, n) || (n == 1 && p->body_len == 0);
        if (!policy_path_under (path, n, root, rlen))
            return false;
        return policy_pattern_match_body (p, path + rlen, n - rlen);
    }
    case ANCHOR_BASENAME: {
        size_t i = n;
        while (i > 0 && path[i - 1] != '/')
            i--;
        return policy_pattern_match_body (p, path + i, n - i);
    }
    default:
        return policy_pattern_match_body (p, path, n);
    }
}

static bool
s_plist_match_path (const eval_t *e, const plist_t *list, const char *path, size_t n)
{
    for (size_t i = 0; i < list->count; i++)
        if (s_match_path (e, &list->items[i], path, n))
            return true;
    return false;
}

static void
s_scan_class_list (const eval_t *e, const cplist_t *list, const char *path, size_t n, uint8_t *best)
{
    for (uint32_t i = 0; i < list->count; i++) {
        const cpat_t *c = &list->items[i];
        if (c->rank >= *best)
            return;
        if (s_match_path (e, c->pat, path, n)) {
            *best = c->rank;
            return;
        }
    }
}

static unsigned
s_key_after_root (const char *rest, size_t n)
{
    return n >= 2 ? (unsigned char) rest[1] : 0;
}

//  The class of a resolved path: the first in check order that matches
static uint8_t
s_classify (const eval_t *e, const char *path, size_t n)
{
    const policy_t *p = e->policy;
    uint8_t best = UINT8_MAX;
    const cplist_t *abs = p->classifier[GRP_ABS];
    unsigned key = s_key_after_root (path, n);
    s_scan_class_list (e, &abs[key], path, n, &best);
    s_scan_class_list (e, &abs[KEY_ANY], path, n, &best);
    if (e->home_len == 1 || policy_path_under (path, n, e->home, e->home_len)) {
        const cplist_t *home = p->classifier[GRP_HOME];
        size_t skip = e->home_len == 1 ? 0 : e->home_len;
        key = s_key_after_root (path + skip, n - skip);
        s_scan_class_list (e, &home[key], path, n, &best);
        s_scan_class_list (e, &home[KEY_ANY], path, n, &best);
    }
    bool in_project = e->project_on && policy_path_under (path, n, e->project, e->project_len);
    if (in_project) {
        const cplist_t *proj = p->classifier[GRP_PROJECT];
        key = s_key_after_root (path + e->project_len, n - e->project_len);
        s_scan_class_list (e, &proj[key], path, n, &best);
        s_scan_class_list (e, &proj[KEY_ANY], path, n, &best);
    }
    const cplist_t *base = p->classifier[GRP_BASE];
    s_scan_class_list (e, &base[n ? (unsigned char) path[n - 1] : 0], path, n, &best);
    s_scan_class_list (e, &base[KEY_ANY], path, n, &best);
    //  the built-in classes, where they are placed
    if (p->rank_project < best && in_project)
        best = p->rank_project;
    if (p->rank_temp < best &&
        (policy_path_under (path, n, "/tmp", 4) || policy_path_under (path, n, "/var/tmp", 8)))
        best = p->rank_temp;
    if (p->rank_home < best && e->home_len > 1 && policy_path_under (path, n, e->home, e->home_len))
        best = p->rank_home;
    return best == UINT8_MAX ? p->cls_other : p->order[best];
}

//  Path candidates. A callback gets each one: a resolved path (kind
//  CAND_PATH), a resolved GLOB_SHELL pattern standing for every path it
//  could be (CAND_GLOB), a last component only known as a pattern in an
//  unknown directory (CAND_BASENAME), or NULL for a path only known at run
//  time; it returns true to stop.
enum { CAND_PATH, CAND_GLOB, CAND_BASENAME, CAND_TREE };
typedef bool (path_fn_t) (eval_t *e, const char *path, size_t n, int kind, void *arg);

#define MAX_GLOB_TOKENS 512

//  The glob form (GLOB_SHELL) of a word's text: $NAME, ${..}, $(..), `..`
//  and $((..)) become one GLOB_ANY_TEXT, * ? [ stay operators, \ is
//  escaped. The parser's own pattern (which knows what was quoted) wins
//  when it has one. False when it does not fit.
static bool
s_glob_of_word (const char *s, size_t n, char *out, size_t size, size_t *len)
{
    size_t o = 0;
    for (size_t i = 0; i < n;) {
        if (o + 3 >= size)
            return false;
        char c = s[i];
        if (c == '$' && i + 1 < n &&
            (s[i + 1] == '{' || s[i + 1] == '(' || s[i + 1] == '_' ||
             isalnum ((unsigned char) s[i + 1]) || strchr ("@*#?$!-", s[i + 1]))) {
            size_t j = i + 1;
            if (s[j] == '{' || s[j] == '(') {
                char open = s[j], close = open == '{' ? '}' : ')';
                int depth = 0;
                for (; j < n; j++) {
                    if (s[j] == open)
                        depth++;
                    else if (s[j] == close && --depth == 0)
                        break;
                }
                j = j < n ? j + 1 : n;
            } else if (s[j] == '_' || isalpha ((unsigned char) s[j])) {
                while (j < n && (s[j] == '_' || isalnum ((unsigned char) s[j])))
                    j++;
            } else
                j++;
            if (!o || out[o - 1] != GLOB_ANY_TEXT)
                out[o++] = GLOB_ANY_TEXT;
            i = j;
        } else if (c == '`') {
            const char *end = (const char *) memchr (s + i + 1, '`', n - i - 1);
            i = end ? (size_t) (end - s) + 1 : n;
            if (!o || out[o - 1] != GLOB_ANY_TEXT)
                out[o++] = GLOB_ANY_TEXT;
        } else {
            if (c == '\\' || c == GLOB_ANY_TEXT || c == GLOB_ANY_NAME)
                out[o++] = '\\';
            out[o++] = c;
            i++;
        }
    }
    out[o] = 0;
    *len = o;
    return true;
}

//  True for a component of a GLOB_SHELL pattern that is only *, ? and
//  values known at run time: it names "some entry" of its directory
static bool
s_glob_all_wild (const char *c, size_t n)
{
    if (!n)
        return false;
    for (size_t i = 0; i < n; i++)
        if (c[i] != '*' && c[i] != '?' && c[i] != GLOB_ANY_TEXT)
            return false;
    return true;
}

//  /proc/PID/{cwd,root,exe}, /proc/PID/{fd,map_files}/N (and the same
//  under task/TID), /dev/fd/N: links to whatever another process has open
//  or wherever it runs, which the validator cannot see. A process's own
//  stdin, stdout and stderr are not counted (redirections are judged on
//  their own).
static bool
s_magic_link (const char *p, size_t n)
{
    const char *comp[8];
    size_t lens[8];
    size_t k = 0;
    for (size_t i = 0; i < n && k < 8;) {
        while (i < n && p[i] == '/')
            i++;
        if (i >= n)
            break;
        size_t start = i;
        while (i < n && p[i] != '/')
            i++;
        comp[k] = p + start;
        lens[k++] = i - start;
    }
#define IS(I, S) (lens[I] == strlen (S) && memcmp (comp[I], S, lens[I]) == 0)
    bool self_std = false;
    if (k == 3 && IS (0, "dev") && IS (1, "fd"))
        return !(lens[2] == 1 && comp[2][0] >= '0' && comp[2][0] <= '2');
    if (k < 3 || !IS (0, "proc"))
        return false;
    size_t base = 2;
    bool self = IS (1, "self") || IS (1, "thread-self");
    if (k >= 5 && IS (2, "task"))
        base = 4;
    if (k == base + 1)
        return IS (base, "cwd") || IS (base, "root") || IS (base, "exe");
    if (k == base + 2 && (IS (base, "fd") || IS (base, "map_files"))) {
        self_std = self && base == 2 && IS (base, "fd") && lens[base + 1] == 1 &&
                   comp[base + 1][0] >= '0' && comp[base + 1][0] <= '2';
        return !self_std;
    }
#undef IS
    return false;
}

//  Resolves a GLOB_SHELL pattern against base (absolute, normalised): .
//  and .. lexically (.. after a magic link stays inside its "anything"),
//  dynamic parts read as one component each (their "could be ../.." is
//  the caller's unknown), magic links as GLOB_ANY_TEXT. Returns the
//  length or -1.
//  A literal path in GLOB_SHELL form (wildcards escaped) into out
size_t
policy_paths_escape (const char *path, size_t n, char *out, size_t size)
{
    size_t o = 0;
    for (size_t i = 0; i < n && o + 2 < size; i++) {
        if (strchr ("*?[]\\", path[i]) || path[i] == GLOB_ANY_TEXT || path[i] == GLOB_ANY_NAME)
            out[o++] = '\\';
        out[o++] = path[i];
    }
    out[o] = 0;
    return o;
}

//  Appends the components of text (n bytes, GLOB_SHELL; escaped when
//  literal) to out (len bytes): `.` skipped, `..` lexical, dynamic parts
//  read as one component each, a magic link becoming GLOB_ANY_TEXT (any
//  path, / itself included). False when out is full.
static bool
s_glob_components (const char *g, size_t n, char *out, size_t size, size_t *len_p)
{
    size_t len = *len_p;
    size_t i = 0;
    while (i < n) {
        while (i < n && g[i] == '/')
            i++;
        size_t start = i;
        while (i < n && g[i] != '/') {
            if (g[i] == '\\' && i + 1 < n)
                i++;
            i++;
        }
        size_t clen = i - start;
        if (clen == 0 || (clen == 1 && g[start] == '.'))
            continue;
        if (clen == 2 && g[start] == '.' && g[start + 1] == '.') {
            //  .. of "any path" is still any path
            if (len && out[len - 1] == GLOB_ANY_TEXT && (len == 1 || out[len - 2] == '/'))
                continue;
            while (len > 0 && out[len - 1] != '/')
                len--;
            if (len > 0)
                len--;
            continue;
        }
        if (len + 1 + clen * 2 >= size)
            return false;
        out[len++] = '/';
        for (size_t j = start; j < start + clen; j++)
            out[len++] = g[j] == GLOB_ANY_TEXT ? GLOB_ANY_NAME : g[j];
        if (s_magic_link (out, len)) {
            out[0] = GLOB_ANY_TEXT;
            len = 1;
        }
    }
    *len_p = len;
    return true;
}

//  Resolves a GLOB_SHELL pattern against base (absolute, normalised): .
//  and .. lexically (.. after a magic link stays inside its "anything"),
//  dynamic parts read as one component each (their "could be ../.." is
//  the caller's unknown), magic links (in g or in base) as GLOB_ANY_TEXT.
//  Returns the length or -1.
static int
s_resolve_glob (const char *base, size_t base_len, const char *g, size_t n, char *out, size_t size)
{
    size_t len = 0;
    if (n == 0 || g[0] != '/') {
        char lit[PATH_BUF * 2];
        size_t ln = policy_paths_escape (base, base_len, lit, sizeof (lit));
        if (ln >= sizeof (lit) - 2 || !s_glob_components (lit, ln, out, size, &len))
            return -1;
    }
    if (!s_glob_components (g, n, out, size, &len))
        return -1;
    if (len == 0)
        out[len++] = '/';
    out[len] = 0;
    return (int) len;
}

//  The tokens of a class or file pattern as the caller sees it (its
//  anchor filled in); with_dir: a trailing /** also matching the
//  directory itself is dropped. False when the anchor does not apply.
static bool
s_pattern_tokens (const eval_t *e, const pattern_t *p, bool dir_form, glob_tok_t *out,
                  size_t *count)
{
    *count = 0;
    const char *body = p->body;
    size_t blen = p->body_len;
    if (dir_form) {
        if (blen < 3 || memcmp (body + blen - 3, "/**", 3) != 0)
            return false;
        blen -= 3;
    }
    switch (p->anchor) {
    case ANCHOR_HOME:
        if (e->home_len > 1 && !glob_literal (e->home, e->home_len, out, MAX_GLOB_TOKENS, count))
            return false;
        break;
    case ANCHOR_PROJECT:
        if (!e->project_on)
            return false;
        if (e->project_len > 1 &&
            !glob_literal (e->project, e->project_len, out, MAX_GLOB_TOKENS, count))
            return false;
        break;
    case ANCHOR_BASENAME:
        if (!glob_compile ("**/", 3, GLOB_POLICY, out, MAX_GLOB_TOKENS, count))
            return false;
        break;
    default:
        break;
    }
    return glob_compile (body, blen, GLOB_POLICY, out, MAX_GLOB_TOKENS, count);
}

//  Under nocaseglob a wildcard matches letters of either case: so may
//  the glob's tokens (the literal ones too: bash compares the whole name)
static void
s_fold_case (const eval_t *e, glob_tok_t *toks, size_t nt)
{
    if (!e->nocaseglob)
        return;
    for (size_t i = 0; i < nt; i++)
        for (int c = 'A'; c <= 'Z'; c++) {
            int l = c + 32;
            bool up = toks[i].set[c >> 6] & ((uint64_t) 1 << (c & 63));
            bool lo = toks[i].set[l >> 6] & ((uint64_t) 1 << (l & 63));
            if (up || lo) {
                toks[i].set[c >> 6] |= (uint64_t) 1 << (c & 63);
                toks[i].set[l >> 6] |= (uint64_t) 1 << (l & 63);
            }
        }
}

//  The literal text a glob starts and ends with (a cheap first test)
typedef struct {
    const char *pre, *suf;
    size_t pre_n, suf_n;
} glob_ends_t;

static glob_ends_t
s_glob_ends (const char *g, size_t n, bool basename_only)
{
    glob_ends_t ends = {g, g + n, 0, 0};
    while (!basename_only && ends.pre_n < n && !strchr ("*?[\\", g[ends.pre_n]) &&
           g[ends.pre_n] != GLOB_ANY_TEXT && g[ends.pre_n] != GLOB_ANY_NAME)
        ends.pre_n++;
    while (ends.suf_n < n && !strchr ("*?]\\", g[n - 1 - ends.suf_n]) &&
           g[n - 1 - ends.suf_n] != GLOB_ANY_TEXT && g[n - 1 - ends.suf_n] != GLOB_ANY_NAME)
        ends.suf_n++;
    //  an escaped character ends the run (its backslash is not text)
    if (ends.suf_n < n && g[n - 1 - ends.suf_n] == '\\' && ends.suf_n)
        ends.suf_n--;
    ends.suf = g + n - ends.suf_n;
    return ends;
}

//  False when the literal start or end of pattern p (its anchor filled in)
//  cannot agree with the glob's: then they cannot overlap
static bool
s_ends_agree (const eval_t *e, const pattern_t *p, const glob_ends_t *ends)
{
    if (p->nocase)
        return true;
    const char *root = "";
    size_t rlen = 0;
    if (p->anchor == ANCHOR_HOME && e->home_len > 1) {
        root = e->home;
        rlen = e->home_len;
    } else if (p->anchor == ANCHOR_PROJECT && e->project_len > 1) {
        root = e->project;
        rlen = e->project_len;
    }
    if (p->anchor != ANCHOR_BASENAME) {
        size_t plen = rlen + p->prefix_len;
        for (size_t i = 0; i < plen && i < ends->pre_n; i++) {
            char c = i < rlen ? root[i] : p->body[i - rlen];
            if (c != ends->pre[i])
                return false;
        }
    }
    //  the directory form (a trailing /** dropped) ends elsewhere
    bool dir_form = p->body_len >= 3 && memcmp (p->body + p->body_len - 3, "/**", 3) == 0;
    if (!dir_form)
        for (size_t i = 0; i < p->suffix_len && i < ends->suf_n; i++)
            if (p->body[p->body_len - 1 - i] != ends->suf[ends->suf_n - 1 - i])
                return false;
    return true;
}

//  Could some path of the glob (tokens g) match pattern p?
static bool
s_pattern_overlap (const eval_t *e, const pattern_t *p, const glob_tok_t *g, size_t gn,
                   bool basename_only, const glob_ends_t *ends)
{
    if (basename_only && p->anchor != ANCHOR_BASENAME)
        return false;
    if (ends && !s_ends_agree (e, p, ends))
        return false;
    glob_tok_t q[MAX_GLOB_TOKENS];
    size_t qn;
    if (s_pattern_tokens (e, p, false, q, &qn) && glob_overlap (g, gn, q, qn, e->dotglob))
        return true;
    return s_pattern_tokens (e, p, true, q, &qn) && glob_overlap (g, gn, q, qn, e->dotglob);
}

//  The classes a tree could hold below a path or glob (GLOB_SHELL, escaped
//  when literal): those with a pattern anchored at /, ~ or $PROJECT that
//  could match something under it. Patterns that match at any depth
//  (basenames, **/x) are left out: every tree "could" hold them.
//  A pattern that matches at any depth (**/.claude/**, **/.git/hooks/**)
//  names a directory of the tree when that directory exists right below
//  its root: find . -delete takes .claude/ with it. Only where the
//  validator sees the agent's files (symlinks = resolve).
static bool
s_tree_holds (const eval_t *e, const pattern_t *pat, const char *root, size_t rn)
{
    if (!e->policy->symlinks || !root || rn + 2 >= PATH_BUF)
        return false;
    const char *rest = pat->body;
    while (strncmp (rest, "**/", 3) == 0)
        rest += 3;
    //  a literal basename (.env, id_rsa) names a file right below the root
    if (rest == pat->body && !(pat->anchor == ANCHOR_BASENAME && pat->literal))
        return false;
    size_t lit = 0;
    while (rest[lit] && rest[lit] != '*' && rest[lit] != '?')
        lit++;
    while (lit > 0 && rest[lit - 1] == '/')
        lit--;
    if (lit == 0 || rn + 1 + lit >= PATH_BUF)
        return false;
    char path[PATH_BUF];
    memcpy (path, root, rn);
    path[rn] = '/';
    memcpy (path + rn + 1, rest, lit);
    path[rn + 1 + lit] = 0;
    struct stat st;
    return lstat (path, &st) == 0;
}

static uint32_t
s_classify_subtree (const eval_t *e, const char *g, size_t n, const char *root, size_t rn)
{
    const policy_t *p = e->policy;
    glob_tok_t toks[MAX_GLOB_TOKENS];
    size_t nt = 0;
    static const char any[] = {'/', GLOB_ANY_TEXT};
    if (!glob_compile (g, n, GLOB_SHELL, toks, MAX_GLOB_TOKENS, &nt) ||
        !glob_compile (any, 2, GLOB_SHELL, toks, MAX_GLOB_TOKENS, &nt))
        return ~(uint32_t) 0 >> (32 - p->class_count);
    uint32_t mask = 0;
    glob_ends_t ends = s_glob_ends (g, n, false);
    ends.suf_n = 0; //  the tree ends in "anything"
    //  what lies right below the root is only looked for in a directory
    struct stat st;
    if (root && (!p->symlinks || !p->trees || lstat (root, &st) != 0 || !S_ISDIR (st.st_mode)))
        root = NULL;
    for (size_t c = 0; c < p->class_count; c++) {
        const plist_t *list = &p->classes[c].patterns;
        for (size_t i = 0; i < list->count; i++) {
            const pattern_t *pat = &list->items[i];
            if (pat->anchor == ANCHOR_BASENAME || pat->owned || pat->body[0] == '*') {
                if ((p->trees & ((uint32_t) 1 << c)) && s_tree_holds (e, pat, root, rn)) {
                    mask |= (uint32_t) 1 << c;
                    break;
                }
                continue;
            }
            if (s_pattern_overlap (e, pat, toks, nt, false, &ends)) {
                mask |= (uint32_t) 1 << c;
                break;
            }
        }
    }
    return mask;
}

//  Every class a glob (resolved, or a basename in an unknown directory)
//  could fall in: each class with a pattern it could match, and the
//  built-in classes whose trees it could reach. Over-approximates (it
//  ignores that an earlier class takes a path first): safe both ways, as
//  deny rules ask "could" and allow rules "only".
static uint32_t
s_classify_glob (const eval_t *e, const char *g, size_t n, bool basename_only)
{
    const policy_t *p = e->policy;
    uint32_t all = 0;
    for (size_t c = 0; c < p->class_count; c++)
        all |= (uint32_t) 1 << c;
    glob_tok_t toks[MAX_GLOB_TOKENS];
    size_t nt = 0;
    if (basename_only) {
        if (!glob_compile ("/", 1, GLOB_SHELL, toks, MAX_GLOB_TOKENS, &nt))
            return all;
        toks[0].run = true; //  any directory: a run of anything
        memset (toks[0].set, 0xff, sizeof (toks[0].set));
        if (!glob_literal ("/", 1, toks, MAX_GLOB_TOKENS, &nt))
            return all;
    }
    if (!glob_compile (g, n, GLOB_SHELL, toks, MAX_GLOB_TOKENS, &nt))
        return all;
    s_fold_case (e, toks, nt);
    uint32_t mask = 0;
    glob_ends_t ends = s_glob_ends (g, n, basename_only);
    if (e->nocaseglob)
        ends.pre_n = ends.suf_n = 0;
    for (size_t c = 0; c < p->class_count; c++) {
        const plist_t *list = &p->classes[c].patterns;
        for (size_t i = 0; i < list->count; i++)
            if (s_pattern_overlap (e, &list->items[i], toks, nt, basename_only, &ends)) {
                mask |= (uint32_t) 1 << c;
                break;
            }
    }
    if (basename_only)
        return mask;
    //  the built-in trees: could the glob be one of them, or below it? Its
    //  literal directory (before the first wildcard) may already lie in
    //  one: then a tree that holds that one but comes later in the check
    //  order cannot take it (project before home)
    size_t lit = 0;
    while (lit < n && g[lit] != '*' && g[lit] != '?' && g[lit] != '[' && g[lit] != '\\' &&
           g[lit] != GLOB_ANY_TEXT && g[lit] != GLOB_ANY_NAME)
        lit++;
    while (lit > 1 && g[lit - 1] != '/')
        lit--;
    size_t dir_len = lit > 1 ? lit - 1 : 1;
    struct {
        const char *root;
        size_t len;
        uint8_t cls, rank;
        bool on;
    } trees[] = {{e->project, e->project_len, p->cls_project, p->rank_project, e->project_on},
                 {"/tmp", 4, p->cls_temp, p->rank_temp, true},
                 {"/var/tmp", 8, p->cls_temp, p->rank_temp, true},
                 {e->home, e->home_len, p->cls_home, p->rank_home, e->home_len > 1}};
    size_t ntrees = sizeof (trees) / sizeof (trees[0]);
    size_t container = SIZE_MAX;
    for (size_t t = 0; t < ntrees; t++)
        if (trees[t].on && policy_path_under (g, dir_len, trees[t].root, trees[t].len) &&
            (container == SIZE_MAX || trees[t].rank < trees[container].rank))
            container = t;
    for (size_t t = 0; t < ntrees; t++) {
        if (!trees[t].on)
            continue;
        if (container != SIZE_MAX && t != container && trees[container].rank < trees[t].rank &&
            policy_path_under (trees[container].root, trees[container].len, trees[t].root,
                               trees[t].len))
            continue;
        glob_tok_t q[MAX_GLOB_TOKENS];
        size_t qn = 0;
        if (!glob_literal (trees[t].root, trees[t].len, q, MAX_GLOB_TOKENS, &qn))
            continue;
        bool exact = glob_overlap (toks, nt, q, qn, e->dotglob);
        if (!glob_compile ("/**", 3, GLOB_POLICY, q, MAX_GLOB_TOKENS, &qn))
            continue;
        if (exact || glob_overlap (toks, nt, q, qn, e->dotglob))
            mask |= (uint32_t) 1 << trees[t].cls;
    }
    if (container == SIZE_MAX)
        mask |= (uint32_t) 1 << p->cls_other;
    return mask;
}

//  1 when resolving path meets a symlink, 0 when its existing part holds
//  none, -1 when the kernel cannot say (no openat2, a directory we may not
//  search)
static int
s_any_symlink (const char *path)
{
#ifdef SYS_openat2
    struct open_how how = {.flags = O_PATH | O_CLOEXEC,
                           .resolve = RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS};
    long fd = syscall (SYS_openat2, AT_FDCWD, path, &how, sizeof (how));
    if (fd >= 0) {
        close ((int) fd);
        return 0;
    }
    if (errno == ELOOP)
        return 1;
    if (errno == ENOENT || errno == ENOTDIR)
        return 0;
#else
    (void) path;
#endif
    return -1;
}

//  The path the kernel would reach: raw with its symlinks (dangling ones
//  too) followed as far as it exists, then the rest. Only where the validator's
//  filesystem is the agent's (POLICY.md), never under /proc, /dev, /sys
//  (they describe the validator itself). Returns the length, 0 when it
//  is the lexical path anyway, -1 when it cannot tell.
static int
s_physical (const char *raw, size_t n, char *out)
{
    if (n >= PATH_BUF || raw[0] != '/')
        return -1;
    char buf[PATH_BUF];
    memcpy (buf, raw, n);
    buf[n] = 0;
    //  one openat2 that refuses every symlink answers the usual case ("none
    //  on the existing part") in one system call
    if (s_any_symlink (buf) == 0)
        return 0;
    //  else walk it as the kernel does, following each link (a dangling
    //  one too: what it names is where a write would go), then the part
    //  that does not exist yet lexically
    char cur[PATH_BUF] = ""; //  resolved prefix, "" for /
    char rest[PATH_BUF * 2]; //  components still to walk
    size_t cn = 0, rn = n;
    memcpy (rest, buf, n + 1);
    bool link = false;
    for (int links = 0, steps = 0; rn > 0 && steps < 4096; steps++) {
        size_t i = 0;
        while (i < rn && rest[i] == '/')
            i++;
        size_t start = i;
        while (i < rn && rest[i] != '/')
            i++;
        size_t clen = i - start;
        char comp[PATH_BUF];
        memcpy (comp, rest + start, clen);
        comp[clen] = 0;
        memmove (rest, rest + i, rn - i + 1);
        rn -= i;
        if (clen == 0 || strcmp (comp, ".") == 0)
            continue;
        if (strcmp (comp, "..") == 0) {
            while (cn > 0 && cur[cn - 1] != '/')
                cn--;
            if (cn > 0)
                cn--;
            cur[cn] = 0;
            continue;
        }
        if (cn + 1 + clen >= PATH_BUF)
            return -1;
        size_t before = cn;
        cur[cn++] = '/';
        memcpy (cur + cn, comp, clen + 1);
        cn += clen;
        struct stat st;
        if (lstat (cur, &st) != 0) {
            //  the rest does not exist (yet): it stays as written
            if (cn + rn >= PATH_BUF)
                return -1;
            memcpy (cur + cn, rest, rn + 1);
            cn += rn;
            break;
        }
        if (!S_ISLNK (st.st_mode))
            continue;
        char target[PATH_BUF];
        ssize_t tn = readlink (cur, target, sizeof (target) - 1);
        if (tn <= 0 || ++links > 40 || (size_t) tn + 1 + rn >= sizeof (rest))
            return -1;
        link = true;
        //  the link's text replaces it: from / when absolute, else from
        //  the directory that holds it
        memmove (rest + tn + 1, rest, rn + 1);
        memcpy (rest, target, (size_t) tn);
        rest[tn] = '/';
        rn += (size_t) tn + 1;
        cn = target[0] == '/' ? 0 : before;
        cur[cn] = 0;
    }
    if (!link)
        return 0;
    return policy_paths_resolve ("/", 1, cur[0] ? cur : "/", cur[0] ? cn : 1, out);
}

static bool
s_fs_skip (const char *p, size_t n)
{
    return policy_path_under (p, n, "/proc", 5) || policy_path_under (p, n, "/dev", 4) ||
           policy_path_under (p, n, "/sys", 4);
}

//  A literal candidate resolved against one base: its lexical path, and
//  the physical one when a symlink makes them differ
static bool
s_candidate_literal (eval_t *e, const char *base, size_t blen, const char *s, size_t n,
                     path_fn_t *fn, void *arg)
{
    char out[PATH_BUF];
    //  magic links (/proc/self/cwd/.., or a cwd under one) first: lexical
    //  .. would remove them
    if (memmem (s, n, "proc", 4) || memmem (s, n, "/fd", 3) || memmem (base, blen, "/proc", 5) ||
        memmem (base, blen, "/fd", 3)) {
        char g[PATH_BUF * 2];
        size_t gn = policy_paths_escape (s, n, g, sizeof (g));
        int len = gn < sizeof (g) - 2 ? s_resolve_glob (base, blen, g, gn, out, sizeof (out)) : -1;
        if (len < 0)
            return fn (e, NULL, 0, CAND_PATH, arg);
        if (memchr (out, GLOB_ANY_TEXT, (size_t) len))
            return fn (e, out, (size_t) len, CAND_GLOB, arg);
    }
    int len = policy_paths_resolve (base, blen, s, n, out);
    if (len < 0)
        return fn (e, NULL, 0, CAND_PATH, arg);
    if (fn (e, out, (size_t) len, CAND_PATH, arg))
        return true;
    if (!e->policy->symlinks || s_fs_skip (out, (size_t) len))
        return false;
    char raw[PATH_BUF];
    int rn = s[0] == '/' ? snprintf (raw, sizeof (raw), "%.*s", (int) n, s)
                         : snprintf (raw, sizeof (raw), "%.*s/%.*s", (int) blen, base, (int) n, s);
    if (rn < 0 || rn >= (int) sizeof (raw))
        return false;
    size_t cached = e->nplain < 16 ? e->nplain : 16;
    for (size_t i = 0; i < cached; i++)
        if (strcmp (e->plain[i], raw) == 0)
            return false;
    char phys[PATH_BUF];
    int pn = s_physical (raw, (size_t) rn, phys);
    if (pn == 0 && rn < 256)
        memcpy (e->plain[e->nplain++ % 16], raw, (size_t) rn + 1);
    if (pn < 0)
        return fn (e, NULL, 0, CAND_PATH, arg);
    if (pn > 0 && !(pn == len && memcmp (phys, out, (size_t) len) == 0))
        return fn (e, phys, (size_t) pn, CAND_PATH, arg);
    return false;
}

//  A resolved GLOB_SHELL pattern: a glob, or the plain path it may have
//  become (trailing wildcards dropped, escapes removed)
static bool
s_offer_glob (eval_t *e, char *out, int len, path_fn_t *fn, void *arg)
{
    if (len < 0)
        return fn (e, NULL, 0, CAND_PATH, arg);
    if (glob_is_wild (out, (size_t) len))
        return fn (e, out, (size_t) len, CAND_GLOB, arg);
    size_t o = 0;
    for (int i = 0; i < len; i++) {
        if (out[i] == '\\' && i + 1 < len)
            i++;
        out[o++] = out[i];
    }
    out[o] = 0;
    return fn (e, out, o, CAND_PATH, arg);
}

//  A glob or dynamic candidate (GLOB_SHELL pattern g)
static bool
s_candidate_glob (eval_t *e, const char *g, size_t n, bool expand_tilde, path_fn_t *fn, void *arg)
{
    char buf[PATH_BUF];
    char out[PATH_BUF];
    bool dynamic = false;
    for (size_t i = 0; i < n; i++) {
        if (g[i] == '\\')
            i++;
        else if (g[i] == GLOB_ANY_TEXT)
            dynamic = true;
    }
    //  a value only known at run time could hold ../.., and a wildcard
    //  component starting with '.' or '[' could be .. itself in older
    //  bash (.* matches ..): also "unknown"
    bool dotdot = false;
    for (size_t i = 0; i < n && !dotdot; i++)
        if (i == 0 || g[i - 1] == '/') {
            size_t k = i;
            while (k < n && g[k] != '/')
                k++;
            dotdot = (g[i] == '[' || (g[i] == '.' && glob_is_wild (g + i, k - i)));
        }
    if (((dynamic && !e->glob_depth) || dotdot) && fn (e, NULL, 0, CAND_PATH, arg))
        return true;
    if (g[0] == GLOB_ANY_TEXT) {
        //  no directory known: the last component, when it has some
        //  literal text, still tells a basename class (`$D/id_rsa`)
        size_t last = n;
        while (last > 0 && g[last - 1] != '/')
            last--;
        bool literal_part = false;
        for (size_t i = last; i < n; i++)
            if (g[i] != GLOB_ANY_TEXT && g[i] != '*' && g[i] != '?')
                literal_part = true;
        if (!literal_part || last == 0)
            return n > 1 && literal_part ? fn (e, g, n, CAND_BASENAME, arg) : false;
        return fn (e, g + last, n - last, CAND_BASENAME, arg);
    }
    //  ~ in a value (--opt=~/x)
    if (expand_tilde && g[0] == '~' && (n == 1 || g[1] == '/')) {
        if (e->home_len + n >= PATH_BUF)
            return fn (e, NULL, 0, CAND_PATH, arg);
        memcpy (buf, e->home, e->home_len);
        memcpy (buf + e->home_len, g + 1, n - 1);
        g = buf;
        n = e->home_len + n - 1;
    }
    //  trailing components of only *, ? and run-time values stand for
    //  their directory (rm -rf build/* is about build; cat src/$f about
    //  src, and "unknown" above)
    size_t end = n;
    while (end > 0) {
        size_t k = end;
        while (k > 0 && g[k - 1] == '/')
            k--;
        size_t comp = k;
        while (comp > 0 && g[comp - 1] != '/')
            comp--;
        if (!s_glob_all_wild (g + comp, k - comp))
            break;
        end = comp;
    }
    if (end == 0) {
        g = ".";
        n = 1;
    } else
        n = end;
    if (g[0] == '/') {
        int len = s_resolve_glob ("/", 1, g, n, out, sizeof (out));
        if (len < 0)
            return fn (e, NULL, 0, CAND_PATH, arg);
        return s_offer_glob (e, out, len, fn, arg);
    }
    for (size_t i = 0; i < e->ncwd; i++) {
        int len = s_resolve_glob (e->cwds[i], e->cwd_lens[i], g, n, out, sizeof (out));
        if (s_offer_glob (e, out, len, fn, arg))
            return true;
    }
    if (e->cwd_unknown)
        return fn (e, NULL, 0, CAND_PATH, arg);
    return false;
}

//  One candidate text: resolved against each working directory. pattern:
//  the parser's glob form of the same text, when it is a whole word.
static bool
s_candidate_p (eval_t *e, const char *s, size_t n, bool dynamic, const char *pattern,
               bool expand_tilde, path_fn_t *fn, void *arg)
{
    char buf[PATH_BUF];
    if (n == 0)
        return false;
    if (dynamic) {
        //  ~user, left alone by the parser: /root or /home/user (a lexical
        //  guess; anything odd is unknown)
        if (s[0] == '~' && !policy_has_var (s, n)) {
            size_t u = 1;
            while (u < n &&
                   (isalnum ((unsigned char) s[u]) || s[u] == '_' || s[u] == '-' || s[u] == '.'))
                u++;
            if (u == 1 || (u < n && s[u] != '/') || u > 64 || n - u + 80 >= PATH_BUF)
                return fn (e, NULL, 0, CAND_PATH, arg);
            char user_path[PATH_BUF];
            int len =
                u == 5 && memcmp (s + 1, "root", 4) == 0
                    ? snprintf (user_path, sizeof (user_path), "/root%.*s", (int) (n - u), s + u)
                    : snprintf (user_path, sizeof (user_path), "/home/%.*s%.*s", (int) (u - 1),
                                s + 1, (int) (n - u), s + u);
            return s_candidate_p (e, user_path, (size_t) len, false, NULL, false, fn, arg);
        }
        char g[PATH_BUF];
        size_t gn = pattern ? strlen (pattern) : 0;
        if (pattern && gn < sizeof (g))
            memcpy (g, pattern, gn + 1);
        else if (pattern || !s_glob_of_word (s, n, g, sizeof (g), &gn))
            return fn (e, NULL, 0, CAND_PATH, arg);
        if (glob_is_wild (g, gn))
            return s_candidate_glob (e, g, gn, expand_tilde, fn, arg);
    }
    if (expand_tilde && s[0] == '~' && (n == 1 || s[1] == '/')) {
        if (e->home_len + n >= PATH_BUF)
            return fn (e, NULL, 0, CAND_PATH, arg);
        memcpy (buf, e->home, e->home_len);
        memcpy (buf + e->home_len, s + 1, n - 1);
        s = buf;
        n = e->home_len + n - 1;
    } else if (expand_tilde && n >= 5 && memcmp (s, "$HOME", 5) == 0 && (n == 5 || s[5] == '/')) {
        if (e->home_len + n >= PATH_BUF)
            return fn (e, NULL, 0, CAND_PATH, arg);
        memcpy (buf, e->home, e->home_len);
        memcpy (buf + e->home_len, s + 5, n - 5);
        s = buf;
        n = e->home_len + n - 5;
    }
    if (s[0] == '/')
        return s_candidate_literal (e, "/", 1, s, n, fn, arg);
    for (size_t i = 0; i < e->ncwd; i++)
        if (s_candidate_literal (e, e->cwds[i], e->cwd_lens[i], s, n, fn, arg))
            return true;
    if (e->cwd_unknown)
        return fn (e, NULL, 0, CAND_PATH, arg);
    return false;
}

static bool
s_candidate (eval_t *e, const char *s, size_t n, bool dynamic, bool expand_tilde, path_fn_t *fn,
             void *arg)
{
    return s_candidate_p (e, s, n, dynamic, NULL, expand_tilde, fn, arg);
}

//  Passes literal paths on as trees (find's {}: the root or below it)
typedef struct {
    path_fn_t *fn;
    void *arg;
} tree_fn_t;

static bool
s_as_tree (eval_t *e, const char *path, size_t n, int kind, void *arg)
{
    tree_fn_t *tree = (tree_fn_t *) arg;
    return tree->fn (e, path, n, path && kind == CAND_PATH ? CAND_TREE : kind, tree->arg);
}

//  The candidates of one Bash argument word
static bool
s_word_paths (eval_t *e, const view_t *v, word_t w, bool operand, path_fn_t *fn, void *arg)
{
    const char *s = w.s;
    size_t n = w.n;
    if (v->find_exec && memmem (s, n, "{}", 2)) {
        //  {} is something below one of the find's roots
        if (!e->nfind || e->find_unknown)
            return fn (e, NULL, 0, CAND_PATH, arg);
        char joined[PATH_BUF];
        for (size_t i = 0; i < e->nfind; i++) {
            const char *root = e->find_roots[i]->text;
            size_t rn = strlen (root);
            if (n == 2) {
                //  {} alone: the root or anything below it
                tree_fn_t tree = {fn, arg};
                if (s_candidate (e, root, rn, false, false, s_as_tree, &tree))
                    return true;
                continue;
            }
            if (rn + 1 + n >= PATH_BUF) {
                if (fn (e, NULL, 0, CAND_PATH, arg))
                    return true;
                continue;
            }
            memcpy (joined, root, rn);
            joined[rn] = '/';
            memcpy (joined + rn + 1, s, n);
            if (s_candidate (e, joined, rn + 1 + n, false, false, fn, arg))
                return true;
        }
        return false;
    }
    if (!operand) {
        //  --opt=value: the value
        if (n > 2 && s[0] == '-' && s[1] == '-') {
            const char *eq = (const char *) memchr (s, '=', n);
            if (eq && eq + 1 < s + n) {
                const char *val = eq + 1;
                size_t vn = (size_t) (s + n - val);
                if (s_candidate (e, val, vn, w.dynamic, true, fn, arg))
                    return true;
                if (val[0] == '@' && vn > 1)
                    return s_candidate (e, val + 1, vn - 1, w.dynamic, true, fn, arg);
            }
        }
        return false;
    }
    if (n == 1 && s[0] == '-')
        return false;
    //  <(..) and >(..) are pipes (their commands are judged on their own)
    if (n > 2 && (s[0] == '<' || s[0] == '>') && s[1] == '(')
        return false;
    //  a URL names no local file, except file://
    const char *scheme = (const char *) memmem (s, n, "://", 3);
    if (scheme && scheme > s) {
        bool name = true;
        for (const char *c = s; c < scheme && name; c++)
            name = isalnum ((unsigned char) *c) || *c == '+' || *c == '-' || *c == '.';
        if (name && !(scheme - s == 4 && strncasecmp (s, "file", 4) == 0))
            return false;
        if (name)
            return s_candidate (e, scheme + 2, (size_t) (s + n - scheme - 2), w.dynamic, false, fn,
                                arg);
    }
    if (s_candidate_p (e, s, n, w.dynamic, w.pattern, false, fn, arg))
        return true;
    if (s[0] == '@' && n > 1 && s_candidate (e, s + 1, n - 1, w.dynamic, true, fn, arg))
        return true;
    const char *eq = (const char *) memchr (s, '=', n);
    if (eq && eq > s && eq + 1 < s + n) {
        const char *val = eq + 1;
        size_t vn = (size_t) (s + n - val);
        if (s_candidate (e, val, vn, w.dynamic, true, fn, arg))
            return true;
        if (val[0] == '@' && vn > 1 && s_candidate (e, val + 1, vn - 1, w.dynamic, true, fn, arg))
            return true;
    }
    return false;
}

//  Every path candidate of the view; target_only: just the last operand's
static bool
s_view_paths (eval_t *e, view_t *v, bool target_only, path_fn_t *fn, void *arg)
{
    if (v->pseudo || v->tool_path) {
        for (size_t i = 0; i <= v->tool_paths; i++) {
            word_t w = policy_view_arg (v, i);
            e->glob_depth = w.depth;
            bool stop = s_candidate_p (e, w.s, w.n, w.dynamic, w.pattern, v->tool_path, fn, arg);
            e->glob_depth = false;
            if (stop)
                return true;
        }
        return false;
    }
    if (!v->sargs) {
        //  other tools: their path field is wargs[argc - 1] when flagged
        return false;
    }
    bool options = true;
    size_t last = SIZE_MAX;
    for (size_t i = 0; i < v->argc; i++) {
        word_t w = policy_view_arg (v, i);
        if (options && w.n == 2 && w.s[0] == '-' && w.s[1] == '-') {
            options = false;
            continue;
        }
        bool operand = !options || !policy_is_option (w);
        if (operand && !(w.n == 1 && w.s[0] == '-'))
            last = i;
        if (!target_only && s_word_paths (e, v, w, operand, fn, arg))
            return true;
    }
    if (target_only && last != SIZE_MAX)
        if (s_word_paths (e, v, policy_view_arg (v, last), true, fn, arg))
            return true;
    if (v->xargs && !target_only)
        return fn (e, NULL, 0, CAND_PATH, arg);
    return false;
}

static bool
s_collect_class (eval_t *e, const char *path, size_t n, int kind, void *arg)
{
    uint32_t *mask = (uint32_t *) arg;
    if (!path)
        *mask |= (uint32_t) 1 << e->policy->cls_unknown;
    else if (kind == CAND_PATH)
        *mask |= (uint32_t) 1 << s_classify (e, path, n);
    else if (kind == CAND_TREE) {
        char g[PATH_BUF * 2];
        size_t gn = policy_paths_escape (path, n, g, sizeof (g));
        *mask |= ((uint32_t) 1 << s_classify (e, path, n)) | s_classify_subtree (e, g, gn, path, n);
    } else
        *mask |= s_classify_glob (e, path, n, kind == CAND_BASENAME) |
                 (kind == CAND_BASENAME ? (uint32_t) 1 << e->policy->cls_unknown : 0);
    return false;
}

//  The classes of the working directories the command may run in
static uint32_t
s_cwd_classes (eval_t *e)
{
    //  the directories only grow (cd adds, never removes): their count
    //  tells whether the last answer still holds
    size_t key = e->ncwd * 2 + (e->cwd_unknown ? 1 : 0);
    if (e->cwd_mask_key == key + 1)
        return e->cwd_mask;
    uint32_t mask = 0;
    for (size_t i = 0; i < e->ncwd; i++)
        s_candidate_literal (e, "/", 1, e->cwds[i], e->cwd_lens[i], s_collect_class, &mask);
    if (e->cwd_unknown || !e->ncwd)
        mask |= (uint32_t) 1 << e->policy->cls_unknown;
    e->cwd_mask = mask;
    e->cwd_mask_key = key + 1;
    return mask;
}

//  Every candidate read as a tree: itself and whatever lies below it
static bool
s_collect_tree (eval_t *e, const char *path, size_t n, int kind, void *arg)
{
    uint32_t *mask = (uint32_t *) arg;
    if (path && kind == CAND_PATH)
        return s_collect_class (e, path, n, CAND_TREE, arg);
    if (path && kind == CAND_GLOB)
        *mask |= s_classify_subtree (e, path, n, NULL, 0);
    return s_collect_class (e, path, n, kind, arg);
}

void
policy_paths_classify_tree (eval_t *e, view_t *v)
{
    if (v->tree_done)
        return;
    v->tree_done = true;
    v->tree_classes = 0;
    s_view_paths (e, v, false, s_collect_tree, &v->tree_classes);
    for (size_t i = 0; !v->tree_classes && i < e->ncwd; i++)
        s_collect_class (e, e->cwds[i], e->cwd_lens[i], CAND_TREE, &v->tree_classes);
    if (!v->tree_classes)
        v->tree_classes = s_cwd_classes (e);
}

void
policy_paths_classify (eval_t *e, view_t *v)
{
    if (v->classes_done)
        return;
    v->classes = 0;
    v->target_classes = 0;
    v->classes_done = true;
    if (v->pseudo || v->tool_path || !v->sargs) {
        s_view_paths (e, v, false, s_collect_class, &v->classes);
        v->target_classes = v->classes;
        if (!v->classes)
            v->classes = s_cwd_classes (e);
        return;
    }
    //  one pass: every word's classes, and the last operand's apart
    bool options = true;
    for (size_t i = 0; i < v->argc; i++) {
        word_t w = policy_view_arg (v, i);
        if (options && w.n == 2 && w.s[0] == '-' && w.s[1] == '-') {
            options = false;
            continue;
        }
        bool operand = !options || !policy_is_option (w);
        uint32_t mask = 0;
        s_word_paths (e, v, w, operand, s_collect_class, &mask);
        v->classes |= mask;
        if (operand && !(w.n == 1 && w.s[0] == '-'))
            v->target_classes = mask;
    }
    if (v->xargs) {
        v->classes |= (uint32_t) 1 << e->policy->cls_unknown;
        v->target_classes |= (uint32_t) 1 << e->policy->cls_unknown;
    }
    //  cp / mv / ln / install -t DIR: the target is DIR, not the last word
    static const char *targeted[] = {"cp", "mv", "ln", "install"};
    if (policy_name_in (v->name, v->name_len, targeted, 4))
        for (size_t i = 0; i < v->argc; i++) {
            word_t w = policy_view_arg (v, i);
            const char *dir = NULL;
            size_t dn = 0;
            if ((policy_streq_n (w.s, w.n, "-t") ||
                 policy_streq_n (w.s, w.n, "--target-directory")) &&
                i + 1 < v->argc) {
                word_t d = policy_view_arg (v, i + 1);
                dir = d.s;
                dn = d.n;
            } else if (w.n > 19 && memcmp (w.s, "--target-directory=", 19) == 0) {
                dir = w.s + 19;
                dn = w.n - 19;
            } else if (w.n > 2 && w.s[0] == '-' && w.s[1] != '-' && memchr (w.s, 't', w.n)) {
                //  a cluster holding t (-rt DIR, -tDIR): the value follows t
                const char *t = (const char *) memchr (w.s, 't', w.n);
                if (t + 1 < w.s + w.n) {
                    dir = t + 1;
                    dn = (size_t) (w.s + w.n - dir);
                } else if (i + 1 < v->argc) {
                    word_t d = policy_view_arg (v, i + 1);
                    dir = d.s;
                    dn = d.n;
                }
            }
            if (dir) {
                uint32_t mask = 0;
                s_candidate (e, dir, dn, w.dynamic || memchr (dir, '$', dn), false, s_collect_class,
                             &mask);
                v->target_classes = mask ? mask : (uint32_t) 1 << e->policy->cls_unknown;
                v->classes |= v->target_classes;
            }
        }
    //  a command naming no path works where it runs (find -delete, git
    //  clean, Grep without a path): the working directory is its path
    if (!v->classes)
        v->classes = s_cwd_classes (e);
}

typedef struct {
    const plist_t *list;
    bool hit;  //  some candidate matches (or could)
    bool miss; //  some candidate does not (or might not)
    bool all;  //  allow rules: look at every candidate
} file_probe_t;

static bool
s_probe_file (eval_t *e, const char *path, size_t n, int kind, void *arg)
{
    file_probe_t *probe = (file_probe_t *) arg;
    if (!path)
        probe->miss = true;
    else if (kind == CAND_TREE)
        probe->miss = true; //  what lies below a root names no file pattern by itself
    else if (kind == CAND_PATH) {
        if (s_plist_match_path (e, probe->list, path, n))
            probe->hit = true;
        else
            probe->miss = true;
    } else {
        probe->miss = true;
        glob_tok_t toks[MAX_GLOB_TOKENS];
        size_t nt = 0;
        if (kind == CAND_BASENAME)
            glob_compile ("**/", 3, GLOB_POLICY, toks, MAX_GLOB_TOKENS, &nt);
        if (!glob_compile (path, n, GLOB_SHELL, toks, MAX_GLOB_TOKENS, &nt))
            probe->hit = true;
        for (size_t i = 0; i < probe->list->count && !probe->hit; i++)
            probe->hit = s_pattern_overlap (e, &probe->list->items[i], toks, nt, false, NULL);
    }
    return probe->all ? false : probe->hit;
}

//  The view's path candidates against the file patterns of list: *hit when
//  some candidate matches (or could), *miss when some does not (or might
//  not); all: look at every candidate, else stop at the first hit
void
policy_paths_probe_files (eval_t *e, view_t *v, const plist_t *list, bool all, bool *hit,
                          bool *miss)
{
    file_probe_t probe = {list, false, false, all};
    s_view_paths (e, v, false, s_probe_file, &probe);
    *hit = probe.hit;
    *miss = probe.miss;
}
