/*  policy -- the Lighthouse policy engine (see policy.h, POLICY.md).

    Loading turns the ZPL text into rules with pre-compiled patterns and
    two indexes: rules naming literal commands are found through a hash
    table keyed by command name, rules naming literal tools (for the file
    and other tools) through a second one; every other rule sits on a
    scan list. Evaluating one command merges its bucket with the scan
    list in rule order, so the first matching rule is found without
    looking at the rules written for other commands.

    Evaluation uses the stack only (the shell parser allocates its
    result; a shell fed from a pipe or heredoc gets its input parsed
    again). Paths are resolved lexically, never through the filesystem.
*/
#include <czmq.h>
#include <ctype.h>
#include <stdint.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <sys/stat.h>
#include <arpa/inet.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "codec.h"
#include "glob.h"
#include "policy.h"
#include "shell.h"

#define MAX_COMMAND     (256 * 1024) //  longer Bash input is a parse error
#define MAX_POLICY_FILE (4 * 1024 * 1024)
#define MAX_ZPL_LINE    1024 //  zconfig cuts longer lines silently; we refuse them
//  zconfig finds each line's parent by walking all earlier siblings, so a
//  file's load time grows with (lines x siblings): these caps keep it
//  well under a second
#define MAX_SECTIONS  64
#define MAX_ENTRIES   10000 //  rules (or classes) in one section
#define MAX_KEYS      64    //  keys under one rule
#define PATH_BUF      4096
#define MAX_CLASSES   32 //  class sets are uint32_t masks
#define MAX_TOKENS    63 //  wildcard section of one pattern (uint64_t NFA)
#define MAX_PATTERN   255
#define MAX_LIST      512 //  patterns in one list
#define MAX_CWDS      4   //  working directories tracked through `cd`
#define MAX_NEST      4   //  shells fed from heredocs or echo, parsed again
#define MAX_NOTED     8   //  files noted as downloaded / written earlier in the call
#define NOTED_PATH    512

//  --------------------------------------------------------------------------
//  Patterns

typedef enum { TOK_LIT, TOK_ANY, TOK_STAR, TOK_DSTAR } tok_kind_t;

typedef enum {
    ANCHOR_NONE,     //  text pattern: the whole word
    ANCHOR_ABS,      //  path pattern from /
    ANCHOR_HOME,     //  ~/ or $HOME/
    ANCHOR_PROJECT,  //  $PROJECT/
    ANCHOR_BASENAME, //  no slash: the last path component
} anchor_t;

typedef enum { FLAG_NONE, FLAG_SHORT, FLAG_LONG, FLAG_WORD } flag_kind_t;

typedef struct {
    char *text;        //  as written, for messages
    const char *body;  //  after the anchor (points into text or into owned)
    char *owned;       //  body when it had to be rewritten (**/ prefix)
    size_t prefix_len; //  literal characters before the first wildcard
    size_t suffix_len; //  literal characters after the last wildcard
    size_t body_len;
    uint8_t ntok;
    uint8_t kinds[MAX_TOKENS];
    char lits[MAX_TOKENS];
    uint64_t star_mask;
    uint8_t lead_run; //  path: * then a literal run from '/': its length
    uint8_t run_off;  //  longest literal run inside the wildcard section
    uint8_t run_len;  //  (a quick memmem before the NFA); 0: none
    bool literal;     //  no wildcard at all
    bool slash;       //  the text holds a '/'
    bool path;        //  * and ? stop at /
    bool nocase;      //  ASCII case-insensitive
    uint8_t anchor;
    uint8_t fkind; //  for flag lists
    char fch;      //  FLAG_SHORT: the letter
} pattern_t;

typedef struct {
    pattern_t *items;
    size_t count;
} plist_t;

//  --------------------------------------------------------------------------
//  Classes, rules, the policy

typedef enum {
    CLASS_USER,
    CLASS_PROJECT,
    CLASS_TEMP,
    CLASS_HOME,
    CLASS_OTHER,
    CLASS_UNKNOWN
} class_kind_t;

typedef struct {
    char *name;
    class_kind_t kind;
    plist_t patterns;
} class_t;

typedef enum {
    WHEN_FORK_BOMB = 1 << 0,
    WHEN_BACKGROUND = 1 << 1,
    WHEN_DYNAMIC_COMMAND = 1 << 2,
    WHEN_DYNAMIC_ARG = 1 << 3,
    WHEN_NO_OPERAND = 1 << 4,
    WHEN_IN_FUNCTION = 1 << 5,
    WHEN_NO_ARGS = 1 << 6,
    WHEN_RUNS_DOWNLOAD = 1 << 7,
    WHEN_READS_DOWNLOAD = 1 << 8,
    WHEN_NO_COMMAND = 1 << 9,
    WHEN_IN_LOOP = 1 << 10,
    WHEN_RUNS_WRITTEN = 1 << 11,
    WHEN_READS_WRITTEN = 1 << 12,
    WHEN_METADATA_HOST = 1 << 13,
} when_t;

static const struct {
    const char *name;
    uint32_t bit;
} s_whens[] = {{"fork_bomb", WHEN_FORK_BOMB},
               {"background", WHEN_BACKGROUND},
               {"dynamic_command", WHEN_DYNAMIC_COMMAND},
               {"dynamic_arg", WHEN_DYNAMIC_ARG},
               {"no_operand", WHEN_NO_OPERAND},
               {"in_function", WHEN_IN_FUNCTION},
               {"no_args", WHEN_NO_ARGS},
               {"runs_download", WHEN_RUNS_DOWNLOAD},
               {"reads_download", WHEN_READS_DOWNLOAD},
               {"no_command", WHEN_NO_COMMAND},
               {"in_loop", WHEN_IN_LOOP},
               {"runs_written", WHEN_RUNS_WRITTEN},
               {"reads_written", WHEN_READS_WRITTEN},
               {"metadata_host", WHEN_METADATA_HOST}};

typedef struct {
    policy_action_t action;
    policy_risk_t risk;
    char capability[32];
} action_t;

typedef struct {
    char name[64];
    char reason[256];
    action_t act;
    bool nocase;
    bool bash_only; //  has command, or tool lists only Bash
    plist_t tool, command, subcommand, flag, arg, file, wrapper, upstream, role, assign, input;
    plist_t not_flag, not_arg, not_assign; //  hold when no option / argument / assignment matches
    plist_t pre_flag;                      //  an option before the subcommand
    uint32_t path_mask;
    uint32_t target_mask;
    uint32_t tree_mask;
    bool has_path, has_target, has_tree;
    uint32_t when;
} rule_t;

typedef struct {
    uint32_t *items;
    size_t count;
} idlist_t;

typedef struct {
    char *key;
    idlist_t rules; //  rule ids in file order
} bucket_t;

typedef struct {
    bucket_t *slots;
    size_t cap; //  power of two, or 0
} index_t;

//  Class patterns by anchor and by one character, for s_classify: the
//  character after the leading '/' (absolute, ~ and $PROJECT anchors) or
//  the last one (basename patterns); KEY_ANY holds the patterns with a
//  wildcard there. Each list is in class order.
typedef struct {
    const pattern_t *pat;
    uint8_t rank; //  place of its class in the check order
} cpat_t;

typedef struct {
    cpat_t *items;
    uint32_t count;
} cplist_t;

enum { GRP_ABS, GRP_HOME, GRP_PROJECT, GRP_BASE, GRP_COUNT };
#define KEY_ANY 256

struct _policy_t {
    char *version;
    char *name;
    action_t dflt, unknown_tool, parse_error, dynamic_command, bad_input;
    class_t classes[MAX_CLASSES];
    size_t class_count;
    uint8_t order[MAX_CLASSES]; //  classes checked in this order
    size_t order_count;
    uint8_t cls_project, cls_temp, cls_home, cls_other, cls_unknown;
    rule_t *rules;
    size_t rule_count;
    index_t cmd_index;  //  literal command name -> rules (Bash)
    index_t tool_index; //  literal tool name -> rules (other tools)
    idlist_t bash_scan; //  Bash rules every command must try
    idlist_t tool_scan; //  non-Bash rules every tool must try
    cplist_t classifier[GRP_COUNT][KEY_ANY + 1];
    uint8_t rank_project, rank_temp, rank_home;
    bool symlinks;  //  resolve symlinks on this filesystem (policy/symlinks)
    uint32_t trees; //  the classes some rule's `tree` names
};

//  Tools the engine knows
static const char *s_file_tools[] = {"Write", "Edit", "MultiEdit", "NotebookEdit", "Read"};
static const char *s_other_tools[] = {"Glob",       "Grep",     "LS",        "WebFetch",
                                      "WebSearch",  "Task",     "TodoWrite", "ExitPlanMode",
                                      "BashOutput", "KillShell"};
//  Shells whose stdin program (heredoc, here-string, echo | sh) is parsed again
static const char *s_shells[] = {"sh", "bash", "zsh", "dash", "ksh", "ash", "mksh"};
static const char *s_shell_wrappers[] = {"sh <<",  "bash <<", "zsh <<", "dash <<",
                                         "ksh <<", "ash <<",  "mksh <<"};

//  --------------------------------------------------------------------------
//  Small helpers

static int
s_lower (int c)
{
    return c >= 'A' && c <= 'Z' ? c + 32 : c;
}

static bool
s_ch_eq (char a, char b, bool nocase)
{
    return nocase ? s_lower ((unsigned char) a) == s_lower ((unsigned char) b) : a == b;
}

static bool
s_mem_eq (const char *a, const char *b, size_t n, bool nocase)
{
    if (!nocase)
        return n == 0 || memcmp (a, b, n) == 0;
    for (size_t i = 0; i < n; i++)
        if (!s_ch_eq (a[i], b[i], true))
            return false;
    return true;
}

static bool
s_streq_n (const char *a, size_t alen, const char *b)
{
    size_t blen = strlen (b);
    return alen == blen && (alen == 0 || memcmp (a, b, alen) == 0);
}

static bool
s_name_in (const char *name, size_t n, const char *const *names, size_t count)
{
    for (size_t i = 0; i < count; i++)
        if (s_streq_n (name, n, names[i]))
            return true;
    return false;
}

//  Length of the valid UTF-8 sequence at s (1..4), or 0 if invalid
static size_t
s_utf8_seq (const unsigned char *s, size_t n)
{
    if (s[0] < 0x80)
        return 1;
    size_t len;
    uint32_t cp;
    if ((s[0] & 0xE0) == 0xC0) {
        len = 2;
        cp = s[0] & 0x1F;
    } else if ((s[0] & 0xF0) == 0xE0) {
        len = 3;
        cp = s[0] & 0x0F;
    } else if ((s[0] & 0xF8) == 0xF0) {
        len = 4;
        cp = s[0] & 0x07;
    } else
        return 0;
    if (n < len)
        return 0;
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xC0) != 0x80)
            return 0;
        cp = (cp << 6) | (s[i] & 0x3F);
    }
    if ((len == 2 && cp < 0x80) || (len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) ||
        cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
        return 0;
    return len;
}

static bool
s_utf8_valid (const char *s, size_t n)
{
    const unsigned char *p = (const unsigned char *) s;
    size_t i = 0;
    while (i < n) {
        size_t k = s_utf8_seq (p + i, n - i);
        if (!k)
            return false;
        i += k;
    }
    return true;
}

//  Appends n bytes of src to dst (size, current length *len) as valid
//  UTF-8 without control characters: invalid bytes and controls become
//  '?'; never cuts a character in half; dst stays NUL-terminated.
static void
s_append_clean (char *dst, size_t size, size_t *len, const char *src, size_t n)
{
    const unsigned char *p = (const unsigned char *) src;
    size_t i = 0;
    while (i < n && *len + 1 < size) {
        size_t k = s_utf8_seq (p + i, n - i);
        if (k == 0 || (k == 1 && (p[i] < 0x20 || p[i] == 0x7F))) {
            dst[(*len)++] = '?';
            i++;
            continue;
        }
        if (*len + k >= size)
            break;
        memcpy (dst + *len, p + i, k);
        *len += k;
        i += k;
    }
    dst[*len] = 0;
}

static void
s_set_text (char *dst, size_t size, const char *src)
{
    size_t len = 0;
    dst[0] = 0;
    s_append_clean (dst, size, &len, src, strlen (src));
}

//  Formats into dst, then cleans it to UTF-8; args already cleaned where
//  they come from outside.
static void
s_textf (char *dst, size_t size, const char *format, ...)
{
    char raw[1024];
    va_list args;
    va_start (args, format);
    vsnprintf (raw, sizeof (raw), format, args);
    va_end (args);
    s_set_text (dst, size, raw);
}

//  A short printable excerpt of untrusted bytes for a message
static void
s_excerpt (char *dst, size_t size, const char *src, size_t n)
{
    size_t len = 0;
    dst[0] = 0;
    bool cut = n > 40;
    s_append_clean (dst, size > 48 ? 48 : size, &len, src, cut ? 40 : n);
    if (cut && len + 4 < size) {
        memcpy (dst + len, "...", 4);
    }
}

//  --------------------------------------------------------------------------
//  Pattern compilation and matching

static bool
s_is_wild (char c)
{
    return c == '*' || c == '?';
}

//  Compiles pat (path: * and ? stop at '/', anchors apply). Returns NULL
//  or a static error.
static const char *
s_pattern_compile (pattern_t *self, const char *text, bool path, bool nocase)
{
    memset (self, 0, sizeof (*self));
    size_t len = strlen (text);
    if (len == 0)
        return "empty pattern";
    if (len > MAX_PATTERN)
        return "pattern longer than 255 characters";
    self->text = strdup (text);
    if (!self->text)
        return "out of memory";
    self->path = path;
    self->nocase = nocase;
    self->slash = strchr (text, '/') != NULL;
    self->body = self->text;
    self->anchor = ANCHOR_NONE;
    if (path) {
        if (text[0] == '~' && (text[1] == 0 || text[1] == '/')) {
            self->anchor = ANCHOR_HOME;
            self->body = self->text + 1;
        } else if (strncmp (text, "$HOME", 5) == 0 && (text[5] == 0 || text[5] == '/')) {
            self->anchor = ANCHOR_HOME;
            self->body = self->text + 5;
        } else if (strncmp (text, "$PROJECT", 8) == 0 && (text[8] == 0 || text[8] == '/')) {
            self->anchor = ANCHOR_PROJECT;
            self->body = self->text + 8;
        } else if (text[0] == '/')
            self->anchor = ANCHOR_ABS;
        else if (!strchr (text, '/'))
            self->anchor = ANCHOR_BASENAME;
        else {
            //  relative with a slash: at any depth
            self->anchor = ANCHOR_ABS;
            size_t olen = len + 4;
            self->owned = (char *) malloc (olen);
            if (!self->owned)
                return "out of memory";
            snprintf (self->owned, olen, "**/%s", text);
            self->body = self->owned;
        }
        if (text[0] == '~' && self->anchor != ANCHOR_HOME)
            return "~user is not supported: use ~/ (the caller's home) or an absolute path";
        if (self->anchor != ANCHOR_HOME && self->anchor != ANCHOR_PROJECT && text[0] == '$')
            return "only $HOME and $PROJECT may start a path pattern";
    }
    const char *b = self->body;
    size_t blen = strlen (b);
    self->body_len = blen;
    size_t first = blen, last = 0;
    for (size_t i = 0; i < blen; i++)
        if (s_is_wild (b[i])) {
            if (first == blen)
                first = i;
            last = i;
        }
    if (first == blen) {
        self->literal = true;
        self->prefix_len = blen;
        return NULL;
    }
    self->prefix_len = first;
    self->suffix_len = blen - last - 1;
    for (size_t i = first; i <= last; i++) {
        if (self->ntok >= MAX_TOKENS)
            return "pattern too complex (more than 63 characters between its first and last "
                   "wildcard)";
        uint8_t k;
        if (b[i] == '*') {
            if (i + 1 <= last && b[i + 1] == '*') {
                while (i + 1 <= last && b[i + 1] == '*')
                    i++;
                k = TOK_DSTAR;
            } else
                k = path ? TOK_STAR : TOK_DSTAR;
            //  a star right after a star adds nothing
            if (self->ntok && (self->kinds[self->ntok - 1] == TOK_STAR ||
                               self->kinds[self->ntok - 1] == TOK_DSTAR)) {
                if (k == TOK_DSTAR)
                    self->kinds[self->ntok - 1] = TOK_DSTAR;
                continue;
            }
            self->star_mask |= (uint64_t) 1 << self->ntok;
        } else if (b[i] == '?')
            k = TOK_ANY;
        else
            k = TOK_LIT;
        self->kinds[self->ntok] = k;
        self->lits[self->ntok] = b[i];
        self->ntok++;
    }
    for (uint8_t i = 0; i < self->ntok;) {
        uint8_t j = i;
        while (j < self->ntok && self->kinds[j] == TOK_LIT)
            j++;
        if (j - i > self->run_len) {
            self->run_off = i;
            self->run_len = (uint8_t) (j - i);
        }
        i = j > i ? j : (uint8_t) (i + 1);
    }
    if (self->run_len < 2)
        self->run_len = 0;
    //  "*/rest" in a path: the star ends at the first '/', so the literal
    //  run from that '/' can be checked in place
    if (path && self->ntok > 1 && self->kinds[0] == TOK_STAR && self->kinds[1] == TOK_LIT &&
        self->lits[1] == '/') {
        uint8_t j = 1;
        while (j < self->ntok && self->kinds[j] == TOK_LIT)
            j++;
        self->lead_run = (uint8_t) (j - 1);
    }
    return NULL;
}

static void
s_pattern_free (pattern_t *self)
{
    free (self->text);
    free (self->owned);
    self->text = self->owned = NULL;
}

static uint64_t
s_closure (const pattern_t *p, uint64_t s)
{
    while (true) {
        uint64_t t = s | ((s & p->star_mask) << 1);
        if (t == s)
            return s;
        s = t;
    }
}

//  The wildcard section against text (NFA over at most 63 tokens)
//  True if the n bytes at t contain the run (ASCII case folded when nocase)
static bool
s_contains (const char *t, size_t n, const char *run, size_t rn, bool nocase)
{
    if (rn > n)
        return false;
    if (!nocase)
        return memmem (t, n, run, rn) != NULL;
    int first = s_lower ((unsigned char) run[0]);
    for (size_t i = 0; i + rn <= n; i++)
        if (s_lower ((unsigned char) t[i]) == first && s_mem_eq (t + i + 1, run + 1, rn - 1, true))
            return true;
    return false;
}

static bool
s_match_middle (const pattern_t *p, const char *t, size_t n)
{
    if (p->ntok == 1 && p->kinds[0] == TOK_DSTAR)
        return true;
    if (p->ntok == 1 && p->kinds[0] == TOK_STAR)
        return memchr (t, '/', n) == NULL;
    if (p->lead_run) {
        const char *slash = (const char *) memchr (t, '/', n);
        if (!slash || (size_t) (t + n - slash) < p->lead_run ||
            !s_mem_eq (slash, p->lits + 1, p->lead_run, p->nocase))
            return false;
    }
    if (p->run_len && !s_contains (t, n, p->lits + p->run_off, p->run_len, p->nocase))
        return false;
    uint64_t accept = (uint64_t) 1 << p->ntok;
    uint64_t s = s_closure (p, 1);
    for (size_t i = 0; i < n && s; i++) {
        char c = t[i];
        uint64_t next = 0;
        uint64_t bits = s & (accept - 1);
        while (bits) {
            int k = __builtin_ctzll (bits);
            bits &= bits - 1;
            switch (p->kinds[k]) {
            case TOK_LIT:
                if (s_ch_eq (p->lits[k], c, p->nocase))
                    next |= (uint64_t) 1 << (k + 1);
                break;
            case TOK_ANY:
                if (!(p->path && c == '/'))
                    next |= (uint64_t) 1 << (k + 1);
                break;
            case TOK_STAR:
                if (c != '/')
                    next |= (uint64_t) 1 << k;
                break;
            default:
                next |= (uint64_t) 1 << k;
                break;
            }
        }
        s = s_closure (p, next);
    }
    return (s & accept) != 0;
}

//  The pattern body (after its anchor) against text
static bool
s_match_body (const pattern_t *p, const char *t, size_t n)
{
    const char *b = p->body;
    if (p->literal)
        return n == p->body_len && (n == 0 || s_ch_eq (b[0], t[0], p->nocase)) &&
               s_mem_eq (b, t, n, p->nocase);
    if (n < p->prefix_len + p->suffix_len)
        return false;
    //  first and last characters inline: most patterns fail there
    if (p->prefix_len && !s_ch_eq (b[0], t[0], p->nocase))
        return false;
    if (p->suffix_len && !s_ch_eq (b[p->body_len - 1], t[n - 1], p->nocase))
        return false;
    if (!s_mem_eq (b, t, p->prefix_len, p->nocase))
        return false;
    if (!s_mem_eq (b + p->body_len - p->suffix_len, t + n - p->suffix_len, p->suffix_len,
                   p->nocase))
        return false;
    return s_match_middle (p, t + p->prefix_len, n - p->prefix_len - p->suffix_len);
}

//  A text pattern against a word
static bool
s_match_text (const pattern_t *p, const char *t, size_t n)
{
    return s_match_body (p, t, n);
}

static bool
s_plist_match_text (const plist_t *list, const char *t, size_t n)
{
    for (size_t i = 0; i < list->count; i++)
        if (s_match_text (&list->items[i], t, n))
            return true;
    return false;
}

static void
s_plist_free (plist_t *list)
{
    for (size_t i = 0; i < list->count; i++)
        s_pattern_free (&list->items[i]);
    free (list->items);
    list->items = NULL;
    list->count = 0;
}

//  --------------------------------------------------------------------------
//  Evaluation context

typedef struct {
    const char *s;
    size_t n;
    bool dynamic;
    const char *pattern; //  the parser's glob form of a dynamic word, or NULL
    bool depth;          //  its 0x01 parts are "any directories", not run-time values
} word_t;

typedef struct _eval_t eval_t;

//  Resolved paths noted earlier in the call. A path that could not be
//  noted (set full, too long) sets lost: from then on every question
//  "is this one of them?" answers yes, since allowing needs certainty.
typedef struct {
    char path[MAX_NOTED][NOTED_PATH];
    size_t len[MAX_NOTED];
    size_t count;
    bool lost;
} noted_t;

//  What one rule is tested against: a simple command, a redirection, or a
//  file tool's path
typedef struct {
    const char *name; //  command basename; ">" / "<"; "" for tools and assignments
    size_t name_len;
    const char *word0; //  argv[0] as written
    size_t word0_len;
    const shell_cmd_t *cmd;    //  Bash: the simple command (also for redirections)
    const shell_t *shell;      //  the parse it belongs to
    const shell_word_t *sargs; //  Bash arguments (argv + 1) ...
    const word_t *wargs;       //  ... or these
    size_t argc;
    bool pseudo;       //  redirection: its only argument is the path
    bool tool_path;    //  file tool: wargs[0] is the path, ~ expanded ...
    size_t tool_paths; //  ... and this many words after it too (Grep's glob)
    bool find_exec;    //  ran through find -exec: {} is below the find's roots
    bool xargs;        //  ran through xargs: more, unknown arguments follow
    //  lazily computed
    bool classes_done;
    uint32_t classes;
    uint32_t target_classes;
    bool tree_done;
    uint32_t tree_classes; //  classes of the paths and of everything below them
} view_t;

struct _eval_t {
    const policy_t *policy;
    const policy_request_t *req;
    const char *tool;
    size_t tool_len;
    const char *role;
    char home[PATH_BUF];
    size_t home_len;
    char project[PATH_BUF];
    size_t project_len;
    bool project_on;
    char cwds[MAX_CWDS][PATH_BUF];
    size_t cwd_lens[MAX_CWDS];
    size_t ncwd;
    bool cwd_unknown;
    //  the roots of the last find command, for the {} of its -exec
    const shell_word_t *find_roots[MAX_CWDS];
    size_t nfind;
    bool find_unknown;
    //  files that curl / wget write in this call (resolved)
    noted_t downloads;
    //  files that commands earlier in the call wrote (redirections, tee,
    //  cp/mv/install targets, dd of=): a script written and run in one go
    noted_t written;
    bool fork_bomb;
    bool dotglob;    //  the input may turn on dotglob: globs may match dot files
    bool nocaseglob; //  ... or nocaseglob: globs may match either case
    bool glob_depth; //  the candidate's 0x01 parts are directories, not values
    //  raw paths already found to hold no symlink (the same path is asked
    //  for by every rule with a path condition); short ones only
    char plain[16][256];
    size_t nplain;
    uint32_t cwd_mask;   //  classes of the working directories ...
    size_t cwd_mask_key; //  ... for this many of them (0: none yet)
    bool run_in_background;
    int depth;
    const char *extra_wrapper[MAX_NEST]; //  "bash <<" chain of re-parsed input
    size_t extra_count;
    bool have;
    bool done; //  a deny was found: nothing can be more severe
    policy_decision_t best;
};

//  Bounded copy of clean text (no UTF-8 cut: the sources fit)
static void
s_copy (char *dst, size_t size, const char *src)
{
    size_t n = strnlen (src, size - 1);
    memcpy (dst, src, n);
    dst[n] = 0;
}

//  rule and reason are clean (checked at load, or built by s_textf)
static void
s_decide (policy_decision_t *d, const action_t *act, const char *rule, const char *reason)
{
    d->action = act->action;
    d->risk = act->risk;
    s_copy (d->capability, sizeof (d->capability),
            act->action == POLICY_ESCALATE ? act->capability : "");
    s_copy (d->rule, sizeof (d->rule), rule);
    s_copy (d->reason, sizeof (d->reason), reason);
}

//  Offers one outcome: kept when more severe than what we have (the first
//  of equals wins)
static void
s_offer (eval_t *e, const action_t *act, const char *rule, const char *reason)
{
    if (e->have && act->action <= e->best.action)
        return;
    s_decide (&e->best, act, rule, reason);
    e->have = true;
    if (act->action == POLICY_DENY)
        e->done = true;
}

//  --------------------------------------------------------------------------
//  Paths

//  Resolves text (n bytes) against base (absolute, normalised) into out.
//  Returns the length, or -1 when the result would not fit.
static int
s_resolve (const char *base, size_t base_len, const char *text, size_t n, char *out)
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

//  True if path is dir or below it (dir normalised, len 0 means disabled)
static bool
s_under (const char *path, size_t n, const char *dir, size_t dlen)
{
    if (dlen == 0)
        return false;
    if (dlen == 1 && dir[0] == '/')
        return true;
    return n >= dlen && memcmp (path, dir, dlen) == 0 && (n == dlen || path[dlen] == '/');
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
            return s_match_body (p, path, n) || (n == 1 && p->body_len == 0);
        if (!s_under (path, n, root, rlen))
            return false;
        return s_match_body (p, path + rlen, n - rlen);
    }
    case ANCHOR_BASENAME: {
        size_t i = n;
        while (i > 0 && path[i - 1] != '/')
            i--;
        return s_match_body (p, path + i, n - i);
    }
    default:
        return s_match_body (p, path, n);
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
    if (e->home_len == 1 || s_under (path, n, e->home, e->home_len)) {
        const cplist_t *home = p->classifier[GRP_HOME];
        size_t skip = e->home_len == 1 ? 0 : e->home_len;
        key = s_key_after_root (path + skip, n - skip);
        s_scan_class_list (e, &home[key], path, n, &best);
        s_scan_class_list (e, &home[KEY_ANY], path, n, &best);
    }
    bool in_project = e->project_on && s_under (path, n, e->project, e->project_len);
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
    if (p->rank_temp < best && (s_under (path, n, "/tmp", 4) || s_under (path, n, "/var/tmp", 8)))
        best = p->rank_temp;
    if (p->rank_home < best && e->home_len > 1 && s_under (path, n, e->home, e->home_len))
        best = p->rank_home;
    return best == UINT8_MAX ? p->cls_other : p->order[best];
}

static bool
s_has_var (const char *s, size_t n)
{
    return memchr (s, '$', n) != NULL || memchr (s, '`', n) != NULL;
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
static size_t
s_escape_path (const char *path, size_t n, char *out, size_t size)
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
        size_t ln = s_escape_path (base, base_len, lit, sizeof (lit));
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
        if (trees[t].on && s_under (g, dir_len, trees[t].root, trees[t].len) &&
            (container == SIZE_MAX || trees[t].rank < trees[container].rank))
            container = t;
    for (size_t t = 0; t < ntrees; t++) {
        if (!trees[t].on)
            continue;
        if (container != SIZE_MAX && t != container && trees[container].rank < trees[t].rank &&
            s_under (trees[container].root, trees[container].len, trees[t].root, trees[t].len))
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
    return s_resolve ("/", 1, cur[0] ? cur : "/", cur[0] ? cn : 1, out);
}

static bool
s_fs_skip (const char *p, size_t n)
{
    return s_under (p, n, "/proc", 5) || s_under (p, n, "/dev", 4) || s_under (p, n, "/sys", 4);
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
        size_t gn = s_escape_path (s, n, g, sizeof (g));
        int len = gn < sizeof (g) - 2 ? s_resolve_glob (base, blen, g, gn, out, sizeof (out)) : -1;
        if (len < 0)
            return fn (e, NULL, 0, CAND_PATH, arg);
        if (memchr (out, GLOB_ANY_TEXT, (size_t) len))
            return fn (e, out, (size_t) len, CAND_GLOB, arg);
    }
    int len = s_resolve (base, blen, s, n, out);
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
        if (s[0] == '~' && !s_has_var (s, n)) {
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

static word_t
s_arg (const view_t *v, size_t i)
{
    word_t w;
    if (v->sargs) {
        w.s = v->sargs[i].text;
        w.n = strlen (w.s);
        w.dynamic = v->sargs[i].dynamic;
        w.pattern = v->sargs[i].pattern;
        w.depth = false;
    } else
        w = v->wargs[i];
    return w;
}

static bool
s_is_option (word_t w)
{
    return w.n > 1 && w.s[0] == '-';
}

//  Every path candidate of the view; target_only: just the last operand's
static bool
s_view_paths (eval_t *e, view_t *v, bool target_only, path_fn_t *fn, void *arg)
{
    if (v->pseudo || v->tool_path) {
        for (size_t i = 0; i <= v->tool_paths; i++) {
            word_t w = s_arg (v, i);
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
        word_t w = s_arg (v, i);
        if (options && w.n == 2 && w.s[0] == '-' && w.s[1] == '-') {
            options = false;
            continue;
        }
        bool operand = !options || !s_is_option (w);
        if (operand && !(w.n == 1 && w.s[0] == '-'))
            last = i;
        if (!target_only && s_word_paths (e, v, w, operand, fn, arg))
            return true;
    }
    if (target_only && last != SIZE_MAX)
        if (s_word_paths (e, v, s_arg (v, last), true, fn, arg))
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
        size_t gn = s_escape_path (path, n, g, sizeof (g));
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

static void
s_view_tree (eval_t *e, view_t *v)
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

static void
s_view_classes (eval_t *e, view_t *v)
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
        word_t w = s_arg (v, i);
        if (options && w.n == 2 && w.s[0] == '-' && w.s[1] == '-') {
            options = false;
            continue;
        }
        bool operand = !options || !s_is_option (w);
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
    if (s_name_in (v->name, v->name_len, targeted, 4))
        for (size_t i = 0; i < v->argc; i++) {
            word_t w = s_arg (v, i);
            const char *dir = NULL;
            size_t dn = 0;
            if ((s_streq_n (w.s, w.n, "-t") || s_streq_n (w.s, w.n, "--target-directory")) &&
                i + 1 < v->argc) {
                word_t d = s_arg (v, i + 1);
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
                    word_t d = s_arg (v, i + 1);
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

//  --------------------------------------------------------------------------
//  Rule conditions

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
            if (s_ch_eq (s[i], f->fch, f->nocase))
                return true;
        return false;
    case FLAG_LONG: {
        if (n < 3 || s[0] != '-' || s[1] != '-')
            return false;
        const char *eq = (const char *) memchr (s, '=', n);
        size_t name_len = eq ? (size_t) (eq - s) : n;
        if (s_match_text (f, s, name_len))
            return true;
        //  GNU-style abbreviation: --recur for --recursive (3+ letters)
        //  (not when the word stops at a '-' of the flag: --export is its
        //  own option, not --export-secret-keys cut short)
        if (f->literal && name_len >= 5 && name_len < f->body_len && f->body[name_len] != '-' &&
            s_mem_eq (f->body, s, name_len, f->nocase))
            return true;
        return false;
    }
    default:
        return s_match_text (f, s, n);
    }
}

static bool
s_cond_flag (const plist_t *flags, const view_t *v)
{
    if (v->pseudo || !v->sargs)
        return false;
    for (size_t i = 0; i < v->argc; i++) {
        word_t w = s_arg (v, i);
        if (w.n == 2 && w.s[0] == '-' && w.s[1] == '-')
            return false;
        if (!s_is_option (w))
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
        word_t w = s_arg (v, i);
        if (s_plist_match_text (args, w.s, w.n))
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
        if (s_streq_n (name, n, s_value_opts[i].prog))
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
        word_t w = s_arg (v, i);
        if (w.n == 2 && w.s[0] == '-' && w.s[1] == '-')
            break;
        if (s_is_option (w)) {
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
        word_t w = s_arg (v, i);
        if (!s_is_option (w) || (w.n == 2 && w.s[1] == '-'))
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
        bool hit = s_plist_match_text (&r->subcommand, subs[i].s, subs[i].n);
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
    if (s_plist_match_text (list, wrapper, n))
        return true;
    const char *space = (const char *) memchr (wrapper, ' ', n);
    return space && s_plist_match_text (list, wrapper, (size_t) (space - wrapper));
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

static void
s_basename (const char *s, size_t n, const char **base, size_t *blen)
{
    size_t i = n;
    while (i > 0 && s[i - 1] != '/')
        i--;
    *base = s + i;
    *blen = n - i;
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
            s_basename (up->argv[0].text, strlen (up->argv[0].text), &b, &bn);
            if (s_plist_match_text (&r->upstream, b, bn))
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
        if (s_plist_match_text (assigns, t, strlen (t)))
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
            if (t && s_plist_match_text (&r->input, t, strlen (t)))
                return true;
        }
    }
    return false;
}

static bool
s_name_is (const shell_cmd_t *cmd, const char *const *names, size_t count)
{
    if (cmd->argc == 0)
        return false;
    const char *b;
    size_t bn;
    s_basename (cmd->argv[0].text, strlen (cmd->argv[0].text), &b, &bn);
    for (size_t i = 0; i < count; i++)
        if (s_streq_n (b, bn, names[i]))
            return true;
    return false;
}

static const char *s_echoes[] = {"echo", "printf", "cat"};

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
    if (!up || !s_name_is (up, s_echoes, 3))
        return false;
    for (size_t i = 1; i < up->argc; i++) {
        const char *t = up->argv[i].text;
        if (s_plist_match_text (&r->input, t, strlen (t)))
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
        if (s_streq_n (w.s, w.n, names[i]))
            return true;
    return false;
}

//  The program comes from stdin: no operand, `-` or /dev/stdin first, or
//  a shell's -s (read commands from stdin, operands are its arguments)
static bool
s_no_operand (const view_t *v)
{
    if (!v->sargs || v->pseudo)
        return false;
    bool shell =
        s_name_in (v->name, v->name_len, s_shells, sizeof (s_shells) / sizeof (s_shells[0]));
    for (size_t i = 0; i < v->argc; i++) {
        word_t w = s_arg (v, i);
        if (w.n == 2 && w.s[0] == '-' && w.s[1] == '-')
            return i + 1 >= v->argc || s_stdin_name (s_arg (v, i + 1));
        if (s_stdin_name (w))
            return true;
        if (!s_is_option (w))
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
        int len = s_resolve (e->cwds[c], e->cwd_lens[c], text, n, out);
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
        word_t w = s_arg (v, i);
        const char *eq = s_is_option (w) ? (const char *) memchr (w.s, '=', w.n) : NULL;
        if (eq && s_noted_has (e, &e->written, eq + 1, (size_t) (w.s + w.n - eq - 1)))
            return true;
        //  -fFILE, -SFILE: a value glued to a short option
        if (!eq && s_is_option (w) && w.s[1] != '-' && w.n > 2 &&
            s_noted_has (e, &e->written, w.s + 2, w.n - 2))
            return true;
        if (!s_is_option (w) && !w.dynamic && s_noted_has (e, &e->written, w.s, w.n))
            return true;
    }
    //  make reads a makefile of the directory without being told
    static const char *makes[] = {"make", "gmake"};
    if (!s_name_in (v->name, v->name_len, makes, 2))
        return false;
    static const char *makefiles[] = {"GNUmakefile", "makefile", "Makefile"};
    for (size_t i = 0; i < 3; i++)
        if (s_noted_has (e, &e->written, makefiles[i], strlen (makefiles[i])))
            return true;
    for (size_t i = 0; v->sargs && i < v->argc; i++) {
        word_t w = s_arg (v, i);
        if (s_is_option (w) && ((w.s[1] != '-' && memchr (w.s, 'C', w.n)) ||
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
        word_t w = s_arg (v, i);
        if (w.n == 2 && w.s[0] == '-' && w.s[1] == '-')
            continue;
        if (s_is_option (w))
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
        h[i] = (char) s_lower ((unsigned char) h[i]);
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
        word_t w = s_arg (v, i);
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
            any = s_arg (v, i).dynamic;
        if (!any)
            return false;
    }
    if ((w & WHEN_NO_OPERAND) && !s_no_operand (v))
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
        if (s_streq_n (v->word0, dn, dirs[i]))
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
        if (p->slash && s_match_text (p, v->word0, v->word0_len))
            return true;
    }
    return false;
}

//  All conditions of rule r against view v. Cheap tests first.
static bool
s_rule_matches (eval_t *e, const rule_t *r, view_t *v, bool indexed)
{
    if (r->tool.count && !s_plist_match_text (&r->tool, e->tool, e->tool_len))
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
                hit = s_match_text (p, v->word0, v->word0_len);
            else
                hit = s_match_text (p, v->name, v->name_len);
        }
        if (!hit)
            return false;
    }
    //  An allow for `git` is no allow for /tmp/x/git: a command given by
    //  path matches a bare name only from the system's own directories
    if (r->act.action == POLICY_ALLOW && r->command.count && v->cmd && !s_trusted_path (v) &&
        !s_command_by_path_matches (r, v))
        return false;
    if (r->role.count && !(e->role && s_plist_match_text (&r->role, e->role, strlen (e->role))))
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
        s_view_classes (e, v);
        if (r->has_path &&
            (certain ? (v->classes & ~r->path_mask) != 0 : !(v->classes & r->path_mask)))
            return false;
        if (r->has_target && (certain ? (v->target_classes & ~r->target_mask) != 0
                                      : !(v->target_classes & r->target_mask)))
            return false;
    }
    if (r->has_tree) {
        s_view_tree (e, v);
        if (certain ? (v->tree_classes & ~r->tree_mask) != 0 : !(v->tree_classes & r->tree_mask))
            return false;
    }
    if (r->file.count) {
        file_probe_t probe = {&r->file, false, false, certain};
        s_view_paths (e, v, false, s_probe_file, &probe);
        if (certain ? probe.miss || !probe.hit : !probe.hit)
            return false;
    }
    return true;
}

//  --------------------------------------------------------------------------
//  Index lookups

static uint64_t
s_hash (const char *s, size_t n)
{
    uint64_t h = 1469598103934665603ULL;
    for (size_t i = 0; i < n; i++) {
        h ^= (unsigned char) s[i];
        h *= 1099511628211ULL;
    }
    return h;
}

static const bucket_t *
s_index_find (const index_t *index, const char *key, size_t n)
{
    if (!index->cap)
        return NULL;
    size_t mask = index->cap - 1;
    for (size_t i = s_hash (key, n) & mask;; i = (i + 1) & mask) {
        const bucket_t *b = &index->slots[i];
        if (!b->key)
            return NULL;
        if (s_streq_n (key, n, b->key))
            return b;
    }
}

//  The first rule (in file order) among bucket + scan that matches v
static const rule_t *
s_first_match (eval_t *e, const bucket_t *bucket, const idlist_t *scan, view_t *v,
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

//  --------------------------------------------------------------------------
//  Bash evaluation

static void s_eval_shell (eval_t *e, const shell_t *sh);

static void
s_eval_view (eval_t *e, view_t *v, bool dynamic_name)
{
    const policy_t *p = e->policy;
    const bucket_t *bucket = s_index_find (&p->cmd_index, v->name, v->name_len);
    const rule_t *r = s_first_match (e, bucket, &p->bash_scan, v, false);
    if (r)
        s_offer (e, &r->act, r->name, r->reason);
    if (dynamic_name && (!r || r->act.action < p->dynamic_command.action)) {
        char reason[256];
        char ex[64];
        s_excerpt (ex, sizeof (ex), v->word0, v->word0_len);
        s_textf (reason, sizeof (reason),
                 "the command name '%s' is only known at run time (variable or substitution)", ex);
        s_offer (e, &p->dynamic_command, "dynamic-command", reason);
    } else if (!r)
        s_offer (e, &p->dflt, "default", "no rule matched; the policy's default");
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
        s_offer (e, &e->policy->parse_error, "parse-error",
                 "shell input nested too deeply (a shell fed by a shell fed by ...)");
        return;
    }
    shell_opts_t opts = {.home = e->home, .max_depth = 0, .max_commands = 0};
    char err[256] = "";
    shell_t *sh = shell_parse (text, n, &opts, err, sizeof (err));
    if (!sh) {
        char reason[256];
        s_textf (reason, sizeof (reason), "cannot parse the input piped into %s: %s", shell_name,
                 err[0] ? err : "parse error");
        s_offer (e, &e->policy->parse_error, "parse-error", reason);
        return;
    }
    const char *wrapper = "sh <<";
    for (size_t i = 0; i < sizeof (s_shells) / sizeof (s_shells[0]); i++)
        if (strcmp (shell_name, s_shells[i]) == 0)
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
    if (!s_name_is (cmd, s_shells, sizeof (s_shells) / sizeof (s_shells[0])))
        return;
    if (!s_no_operand (v))
        return;
    //  -c is handled by the parser; -s, -e, -x, ... leave stdin the program
    for (size_t i = 0; i < v->argc; i++) {
        word_t w = s_arg (v, i);
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
    if (!e->done && up && s_name_is (up, s_echoes, 2) && up->argc > 1) {
        //  echo 'rm -rf ~' | sh: the echoed words, joined, are the program
        size_t total = 0;
        bool dynamic = false;
        for (size_t i = 1; i < up->argc; i++) {
            total += strlen (up->argv[i].text) + 1;
            dynamic = dynamic || up->argv[i].dynamic;
        }
        if (total > MAX_COMMAND) {
            s_offer (e, &e->policy->parse_error, "parse-error",
                     "the program piped into a shell is too long");
            return;
        }
        char *text = (char *) malloc (total + 1);
        if (!text) {
            s_offer (e, &e->policy->parse_error, "parse-error", "out of memory");
            return;
        }
        size_t len = 0;
        bool escapes = s_streq_n (up->argv[0].text, strlen (up->argv[0].text), "printf");
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
            s_offer (e, &e->policy->dynamic_command, "dynamic-command",
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
        int len = s_resolve (e->cwds[c], e->cwd_lens[c], text, n, out);
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
    bool tee = s_streq_n (v->name, v->name_len, "tee");
    bool copier = s_name_in (v->name, v->name_len, copiers, 5);
    bool dd = s_streq_n (v->name, v->name_len, "dd");
    bool sed = s_streq_n (v->name, v->name_len, "sed");
    bool awk = s_name_in (v->name, v->name_len, awks, 2);
    //  in-place editors write every operand: sed -i (-ni, -i.bak,
    //  --in-place), gawk -i inplace (or an extension named at run time)
    bool inplace = false;
    bool include = false; //  the word before was gawk's -i / --include
    for (size_t i = 0; (sed || awk) && i < v->argc; i++) {
        word_t w = s_arg (v, i);
        if (sed && s_is_option (w))
            inplace = inplace || (w.s[1] != '-' && memchr (w.s, 'i', w.n)) ||
                      (w.n >= 10 && memcmp (w.s, "--in-place", 10) == 0);
        bool opt = awk && ((w.n >= 2 && memcmp (w.s, "-i", 2) == 0) ||
                           (w.n >= 9 && memcmp (w.s, "--include", 9) == 0));
        if (awk)
            inplace = inplace || s_contains (w.s, w.n, "inplace", 7, false) ||
                      (w.dynamic && (include || opt));
        include = opt && (w.n == 2 || w.n == 9);
    }
    size_t last = SIZE_MAX;
    for (size_t i = 0; i < v->argc; i++) {
        word_t w = s_arg (v, i);
        bool operand = !s_is_option (w);
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
        word_t w = s_arg (v, last);
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
            if (!s_has_var (t, strlen (t)))
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
        int len = target ? s_resolve (e->cwds[i], e->cwd_lens[i], target, strlen (target), out)
                         : s_resolve ("/", 1, e->home, e->home_len, out);
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
    if (!s_name_in (v->name, v->name_len, progs, sizeof (progs) / sizeof (progs[0])))
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
        else if (strncmp (t, "-C", 2) == 0 && t[2] && !s_streq_n (v->name, v->name_len, "git"))
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
        s_basename (w0, v.word0_len, &v.name, &v.name_len);
        v.sargs = cmd->argv + 1;
        v.argc = cmd->argc - 1;
        s_dir_options (e, &v);
        s_eval_view (e, &v, cmd->argv[0].dynamic);
        if (e->done)
            return;
        if (s_streq_n (v.name, v.name_len, "find"))
            s_find_roots (e, cmd);
        bool downloader = false;
        for (size_t i = 0; i < sizeof (s_downloaders) / sizeof (s_downloaders[0]); i++)
            downloader = downloader || s_streq_n (v.name, v.name_len, s_downloaders[i]);
        if (downloader) {
            s_note_downloads (e, cmd, s_streq_n (v.name, v.name_len, "wget"));
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
            (s_streq_n (v.name, v.name_len, "cd") || s_streq_n (v.name, v.name_len, "pushd")))
            s_chdir (e, cmd);
        else if (s_streq_n (v.name, v.name_len, "popd"))
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

static bool
s_in_list (const char *s, size_t n, const char *const *list, size_t count)
{
    for (size_t i = 0; i < count; i++)
        if (s_streq_n (s, n, list[i]))
            return true;
    return false;
}

static void
s_bad_input (eval_t *e, const char *what)
{
    char reason[256];
    char tool[64];
    s_excerpt (tool, sizeof (tool), e->tool, e->tool_len);
    s_textf (reason, sizeof (reason), "%s: %s", tool, what);
    s_offer (e, &e->policy->bad_input, "bad-input", reason);
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

static void
s_eval_bash (eval_t *e)
{
    const msgpack_object *input = e->req->input;
    word_t cmd;
    bool present;
    if (!input || input->type != MSGPACK_OBJECT_MAP) {
        s_bad_input (e, "tool input must be a map");
        return;
    }
    if (!s_str_field (input, "command", &cmd, &present) || !present) {
        s_bad_input (e, present ? "'command' must be a string" : "'command' is missing");
        return;
    }
    const msgpack_object *bg = codec_map_get (input, "run_in_background");
    if (bg && bg->type == MSGPACK_OBJECT_BOOLEAN)
        e->run_in_background = bg->via.boolean;
    else if (bg && bg->type != MSGPACK_OBJECT_NIL) {
        s_bad_input (e, "'run_in_background' must be a boolean");
        return;
    }
    if (cmd.n > MAX_COMMAND) {
        char reason[256];
        s_textf (reason, sizeof (reason), "command too long to check (%zu bytes; limit %d)", cmd.n,
                 MAX_COMMAND);
        s_offer (e, &e->policy->parse_error, "parse-error", reason);
        return;
    }
    e->dotglob = memmem (cmd.s, cmd.n, "dotglob", 7) || memmem (cmd.s, cmd.n, "GLOBIGNORE", 10);
    e->nocaseglob = memmem (cmd.s, cmd.n, "nocaseglob", 10) != NULL;
    if (memchr (cmd.s, 0, cmd.n)) {
        s_offer (e, &e->policy->parse_error, "parse-error", "command contains a NUL byte");
        return;
    }
    if (!s_utf8_valid (cmd.s, cmd.n)) {
        s_offer (e, &e->policy->parse_error, "parse-error", "command is not valid UTF-8");
        return;
    }
    shell_opts_t opts = {.home = e->home, .max_depth = 0, .max_commands = 0};
    char err[256] = "";
    shell_t *sh = shell_parse (cmd.s, cmd.n, &opts, err, sizeof (err));
    if (!sh) {
        char reason[256];
        s_textf (reason, sizeof (reason), "cannot parse the command: %s",
                 err[0] ? err : "parse error");
        s_offer (e, &e->policy->parse_error, "parse-error", reason);
        return;
    }
    if (shell_count (sh) == 0) {
        //  nothing runs: there is nothing to defer to a person either
        static const action_t nothing = {POLICY_ALLOW, RISK_NONE, ""};
        s_offer (e, &nothing, "empty", "nothing to run");
    } else
        s_eval_shell (e, sh);
    shell_destroy (&sh);
}

static void
s_eval_tool (eval_t *e, bool known, bool file_tool)
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
            s_bad_input (e, "tool input must be a map");
            return;
        }
        bool present;
        word_t path, text;
        const char *key =
            file_tool
                ? (s_streq_n (e->tool, e->tool_len, "NotebookEdit") ? "notebook_path" : "file_path")
                : "path";
        char what[64];
        if (!s_str_field (input, key, &path, &present)) {
            snprintf (what, sizeof (what), "'%s' must be a string", key);
            s_bad_input (e, what);
            return;
        }
        if (file_tool && (!present || path.n == 0)) {
            snprintf (what, sizeof (what), "'%s' is %s", key, present ? "empty" : "missing");
            s_bad_input (e, what);
            return;
        }
        if (present && path.n > 0) {
            if (memchr (path.s, 0, path.n)) {
                snprintf (what, sizeof (what), "'%s' contains a NUL byte", key);
                s_bad_input (e, what);
                return;
            }
            if (path.n >= PATH_BUF) {
                snprintf (what, sizeof (what), "'%s' is too long", key);
                s_bad_input (e, what);
                return;
            }
            words[nwords++] = path;
            v.tool_path = true;
        }
        //  Grep's glob: the files it reads are those below path (or the
        //  working directory) whose names match it, at any depth: PATH/GLOB
        //  and PATH/<anything>/GLOB
        word_t glob;
        static _Thread_local char gtext[2][PATH_BUF * 2], gpat[2][PATH_BUF * 3];
        if (s_streq_n (e->tool, e->tool_len, "Grep") &&
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
                pn = s_escape_path (base.s, base.n, gpat[deep],
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
                    s_bad_input (e, what);
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
    const bucket_t *bucket = s_index_find (&p->tool_index, e->tool, e->tool_len);
    const rule_t *r = s_first_match (e, bucket, &p->tool_scan, &v, !known);
    if (r)
        s_offer (e, &r->act, r->name, r->reason);
    else if (known)
        s_offer (e, &p->dflt, "default", "no rule matched; the policy's default");
    else {
        char reason[256], tool[64];
        s_excerpt (tool, sizeof (tool), e->tool, e->tool_len);
        s_textf (reason, sizeof (reason), "unknown tool '%s': no rule names it", tool);
        s_offer (e, &p->unknown_tool, "unknown-tool", reason);
    }
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
    int r = s_resolve ("/", 1, in, n, out);
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
    static const action_t deny = {POLICY_DENY, RISK_CRITICAL, ""};
    if (!self || !request) {
        s_decide (decision, &deny, "bad-input", "no policy or no request");
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
        s_offer (&e, &self->bad_input, "bad-input", "the request names no tool");
        *decision = e.best;
        return;
    }
    if (!s_norm_dir (request->cwd, e.cwds[0], &e.cwd_lens[0])) {
        s_bad_input (&e, "cwd must be an absolute path");
        *decision = e.best;
        return;
    }
    e.ncwd = 1;
    if (!s_norm_dir (request->home ? request->home : "/root", e.home, &e.home_len)) {
        s_bad_input (&e, "home must be an absolute path");
        *decision = e.best;
        return;
    }
    if (!s_norm_dir (request->project ? request->project : request->cwd, e.project,
                     &e.project_len)) {
        s_bad_input (&e, "project must be an absolute path");
        *decision = e.best;
        return;
    }
    //  A project root of /, the home directory or one of its parents
    //  would make everything "project": no project then
    e.project_on = !(e.project_len == 1 || s_under (e.home, e.home_len, e.project, e.project_len));

    bool file_tool = s_in_list (e.tool, e.tool_len, s_file_tools,
                                sizeof (s_file_tools) / sizeof (s_file_tools[0]));
    bool other_tool = s_in_list (e.tool, e.tool_len, s_other_tools,
                                 sizeof (s_other_tools) / sizeof (s_other_tools[0]));
    if (strcmp (e.tool, "Bash") == 0)
        s_eval_bash (&e);
    else
        s_eval_tool (&e, file_tool || other_tool, file_tool);
    if (!e.have) //  cannot happen; fail closed all the same
        s_offer (&e, &deny, "internal", "no decision");
    *decision = e.best;
}

//  --------------------------------------------------------------------------
//  Loading

typedef struct {
    const char *name; //  file name for messages
    char *err;
    size_t err_size;
    bool failed;
} loader_t;

static void
s_fail (loader_t *l, const char *where, const char *format, ...)
{
    if (l->failed)
        return;
    l->failed = true;
    char what[512];
    va_list args;
    va_start (args, format);
    vsnprintf (what, sizeof (what), format, args);
    va_end (args);
    if (l->err && l->err_size) {
        char raw[1024];
        snprintf (raw, sizeof (raw), "%s: %s%s%s", l->name, where ? where : "", where ? ": " : "",
                  what);
        s_set_text (l->err, l->err_size, raw);
    }
}

//  Mirrors zconfig's line rules so that errors carry a line number
//  (zconfig itself only logs them)
static bool
s_zpl_precheck (loader_t *l, const char *text, size_t size)
{
    if (memchr (text, 0, size)) {
        s_fail (l, NULL, "the file contains a NUL byte");
        return false;
    }
    if (!s_utf8_valid (text, size)) {
        s_fail (l, NULL, "the file is not valid UTF-8");
        return false;
    }
    int lineno = 0;
    int last_level = -1;
    size_t counts[3] = {0, 0, 0}; //  names at levels 0, 1, 2 under the current parents
    size_t entries = 0;           //  level 1 names in the whole file
    const char *p = text;
    const char *end = text + size;
    char where[32];
    while (p < end) {
        const char *eol = (const char *) memchr (p, '\n', (size_t) (end - p));
        size_t n = eol ? (size_t) (eol - p) : (size_t) (end - p);
        lineno++;
        snprintf (where, sizeof (where), "line %d", lineno);
        if (n > MAX_ZPL_LINE) {
            s_fail (l, where, "line longer than %d characters", MAX_ZPL_LINE);
            return false;
        }
        while (n && isspace ((unsigned char) p[n - 1]))
            n--;
        size_t i = 0;
        while (i < n && p[i] == ' ')
            i++;
        if (i < n && p[i] == '\t') {
            s_fail (l, where, "indent with spaces (4 per level), not tabs");
            return false;
        }
        int level = (int) (i / 4);
        if (i % 4 && i < n && p[i] != '#') {
            s_fail (l, where, "indent by 4 spaces per level");
            return false;
        }
        if (i % 4) {
            s_fail (l, where, "indent by 4 spaces per level");
            return false;
        }
        size_t name_start = i;
        while (i < n && (isalnum ((unsigned char) p[i]) || strchr ("$-_@.&+/", p[i])))
            i++;
        size_t name_len = i - name_start;
        if (name_len && (p[name_start] == '/' || p[i - 1] == '/')) {
            s_fail (l, where, "'/' not valid at the start or end of a name");
            return false;
        }
        while (i < n && isspace ((unsigned char) p[i]))
            i++;
        if (name_len == 0) {
            if (i < n && p[i] != '#') {
                s_fail (l, where, "expected a name, found '%c'", p[i]);
                return false;
            }
        } else {
            if (level > last_level + 1) {
                s_fail (l, where, "indented too far (one level at a time)");
                return false;
            }
            last_level = level;
            if (level < 3) {
                static const size_t caps[3] = {MAX_SECTIONS, MAX_ENTRIES, MAX_KEYS};
                static const char *what[3] = {"sections", "entries in one section",
                                              "keys in one entry"};
                for (int k = level + 1; k < 3; k++)
                    counts[k] = 0;
                if (++counts[level] > caps[level]) {
                    s_fail (l, where, "too many %s (at most %zu)", what[level], caps[level]);
                    return false;
                }
                if (level == 1 && ++entries > MAX_ENTRIES) {
                    s_fail (l, where, "too many rules, classes and policy keys (at most %d)",
                            MAX_ENTRIES);
                    return false;
                }
            }
            if (i < n && p[i] == '=') {
                i++;
                while (i < n && isspace ((unsigned char) p[i]))
                    i++;
                if (i < n && (p[i] == '"' || p[i] == '\'')) {
                    const char *close = (const char *) memchr (p + i + 1, p[i], n - i - 1);
                    if (!close) {
                        s_fail (l, where, "missing closing %c", p[i]);
                        return false;
                    }
                    i = (size_t) (close - p) + 1;
                    while (i < n && isspace ((unsigned char) p[i]))
                        i++;
                    if (i < n && p[i] != '#') {
                        s_fail (l, where, "text after the quoted value");
                        return false;
                    }
                }
            } else if (i < n && p[i] != '#') {
                s_fail (l, where, "expected '=' after the name");
                return false;
            }
        }
        p = eol ? eol + 1 : end;
    }
    return true;
}

//  Splits a list value: whitespace separates, '...' groups
static bool
s_parse_list (loader_t *l, const char *where, const char *value, bool path, bool nocase,
              plist_t *out)
{
    size_t cap = out->count; //  the list may have items already (a class named again)
    size_t first = out->count;
    char item[MAX_PATTERN + 2];
    const char *p = value;
    while (*p) {
        while (*p && isspace ((unsigned char) *p))
            p++;
        if (!*p)
            break;
        size_t len = 0;
        bool too_long = false;
        while (*p && !isspace ((unsigned char) *p)) {
            if (*p == '\'') {
                const char *close = strchr (p + 1, '\'');
                if (!close) {
                    s_fail (l, where, "missing closing ' in the list");
                    return false;
                }
                for (const char *c = p + 1; c < close; c++)
                    if (len <= MAX_PATTERN)
                        item[len++] = *c;
                    else
                        too_long = true;
                p = close + 1;
            } else {
                if (len <= MAX_PATTERN)
                    item[len++] = *p;
                else
                    too_long = true;
                p++;
            }
        }
        item[len] = 0;
        if (too_long || len > MAX_PATTERN) {
            s_fail (l, where, "pattern longer than %d characters", MAX_PATTERN);
            return false;
        }
        if (out->count >= MAX_LIST) {
            s_fail (l, where, "more than %d patterns in one list", MAX_LIST);
            return false;
        }
        if (out->count + 2 > cap) {
            cap = (out->count + 2) * 2;
            pattern_t *grown = (pattern_t *) realloc (out->items, cap * sizeof (pattern_t));
            if (!grown) {
                s_fail (l, where, "out of memory");
                return false;
            }
            out->items = grown;
        }
        const char *why = s_pattern_compile (&out->items[out->count], item, path, nocase);
        if (why) {
            s_pattern_free (&out->items[out->count]);
            s_fail (l, where, "'%s': %s", item, why);
            return false;
        }
        out->count++;
        //  a/** also matches a itself
        if (path && len >= 3 && strcmp (item + len - 3, "/**") == 0 && len > 3) {
            item[len - 3] = 0;
            why = s_pattern_compile (&out->items[out->count], item, path, nocase);
            if (why) {
                s_pattern_free (&out->items[out->count]);
                s_fail (l, where, "'%s': %s", item, why);
                return false;
            }
            out->count++;
        }
    }
    if (out->count == first) {
        s_fail (l, where, "empty list");
        return false;
    }
    return true;
}

static bool
s_parse_action (loader_t *l, const char *where, const char *value, action_t *act)
{
    memset (act, 0, sizeof (*act));
    if (strcmp (value, "allow") == 0) {
        act->action = POLICY_ALLOW;
        act->risk = RISK_LOW;
    } else if (strcmp (value, "deny") == 0) {
        act->action = POLICY_DENY;
        act->risk = RISK_CRITICAL;
    } else if (strcmp (value, "defer") == 0) {
        act->action = POLICY_DEFER;
        act->risk = RISK_MEDIUM;
    } else if (strncmp (value, "escalate:", 9) == 0) {
        const char *cap = value + 9;
        size_t n = strlen (cap);
        if (n == 0 || n >= sizeof (act->capability)) {
            s_fail (l, where, "capability must be 1 to 31 characters: '%s'", value);
            return false;
        }
        for (size_t i = 0; i < n; i++)
            if (!(islower ((unsigned char) cap[i]) || isdigit ((unsigned char) cap[i]) ||
                  cap[i] == '-' || cap[i] == '_')) {
                s_fail (l, where, "capability may use a-z 0-9 - _ only: '%s'", value);
                return false;
            }
        act->action = POLICY_ESCALATE;
        act->risk = RISK_HIGH;
        memcpy (act->capability, cap, n + 1);
    } else {
        s_fail (l, where, "bad action '%s' (allow, defer, deny or escalate:CAPABILITY)", value);
        return false;
    }
    return true;
}

static bool
s_parse_risk (loader_t *l, const char *where, const char *value, policy_risk_t *risk)
{
    static const char *names[] = {"none", "low", "medium", "high", "critical"};
    for (int i = 1; i < 5; i++)
        if (strcmp (value, names[i]) == 0) {
            *risk = (policy_risk_t) i;
            return true;
        }
    s_fail (l, where, "bad risk '%s' (low, medium, high or critical)", value);
    return false;
}

static bool
s_name_ok (const char *name, size_t max, bool underscore)
{
    size_t n = strlen (name);
    if (n == 0 || n > max)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!(islower ((unsigned char) name[i]) || isdigit ((unsigned char) name[i]) ||
              name[i] == '-' || (underscore && name[i] == '_')))
            return false;
    return true;
}

static int
s_class_find (const policy_t *self, const char *name, size_t n)
{
    for (size_t i = 0; i < self->class_count; i++)
        if (s_streq_n (name, n, self->classes[i].name))
            return (int) i;
    return -1;
}

static bool
s_parse_classes (loader_t *l, policy_t *self, const char *where, const char *value, uint32_t *mask)
{
    *mask = 0;
    const char *p = value;
    int count = 0;
    while (*p) {
        while (*p && isspace ((unsigned char) *p))
            p++;
        const char *start = p;
        while (*p && !isspace ((unsigned char) *p))
            p++;
        if (p == start)
            break;
        int id = s_class_find (self, start, (size_t) (p - start));
        if (id < 0) {
            s_fail (l, where, "unknown class '%.*s'", (int) (p - start > 64 ? 64 : p - start),
                    start);
            return false;
        }
        *mask |= (uint32_t) 1 << id;
        count++;
    }
    if (!count) {
        s_fail (l, where, "empty list");
        return false;
    }
    return true;
}

static int
s_add_class (policy_t *self, const char *name, class_kind_t kind)
{
    if (self->class_count >= MAX_CLASSES)
        return -1;
    class_t *c = &self->classes[self->class_count];
    memset (c, 0, sizeof (*c));
    c->name = strdup (name);
    c->kind = kind;
    return c->name ? (int) self->class_count++ : -1;
}

//  A list of flags: -x (also inside a cluster), --long (abbreviations),
//  or a whole word (-delete)
static bool
s_parse_flags (loader_t *l, const char *where, const char *value, bool nocase, plist_t *out)
{
    if (!s_parse_list (l, where, value, false, nocase, out))
        return false;
    for (size_t i = 0; i < out->count; i++) {
        pattern_t *f = &out->items[i];
        size_t n = strlen (f->text);
        if (f->text[0] != '-' || n < 2) {
            s_fail (l, where, "'%s': a flag starts with - or --", f->text);
            return false;
        } else if (f->text[1] == '-')
            f->fkind = n > 2 ? FLAG_LONG : FLAG_WORD;
        else if (n == 2 && !s_is_wild (f->text[1])) {
            f->fkind = FLAG_SHORT;
            f->fch = f->text[1];
        } else
            f->fkind = FLAG_WORD;
    }
    return true;
}

static const char *s_rule_keys[] = {
    "tool",    "command",  "subcommand", "flag",    "arg",        "path",  "target",  "file",
    "wrapper", "upstream", "role",       "when",    "assign",     "input", "nocase",  "action",
    "risk",    "reason",   "not_flag",   "not_arg", "not_assign", "tree",  "pre_flag"};

static bool
s_load_rule (loader_t *l, policy_t *self, zconfig_t *item, rule_t *r)
{
    const char *name = zconfig_name (item);
    char where[160];
    snprintf (where, sizeof (where), "rule/%.60s", name);
    if (!s_name_ok (name, 63, false)) {
        s_fail (l, where, "rule names use a-z 0-9 - and at most 63 characters");
        return false;
    }
    if (zconfig_value (item) && *zconfig_value (item)) {
        s_fail (l, where, "a rule takes its conditions on indented lines, not a value");
        return false;
    }
    snprintf (r->name, sizeof (r->name), "%s", name);
    //  Pass 1: unknown and duplicate keys, nocase
    const char *action = NULL;
    for (zconfig_t *k = zconfig_child (item); k; k = zconfig_next (k)) {
        const char *key = zconfig_name (k);
        char kwhere[200];
        snprintf (kwhere, sizeof (kwhere), "%s/%.30s", where, key);
        bool known = false;
        for (size_t i = 0; i < sizeof (s_rule_keys) / sizeof (s_rule_keys[0]); i++)
            known = known || strcmp (key, s_rule_keys[i]) == 0;
        if (!known) {
            s_fail (l, kwhere, "unknown key");
            return false;
        }
        if (zconfig_child (k)) {
            s_fail (l, kwhere, "a key has no indented lines under it");
            return false;
        }
        for (zconfig_t *o = zconfig_child (item); o != k; o = zconfig_next (o))
            if (strcmp (zconfig_name (o), key) == 0) {
                s_fail (l, kwhere, "duplicate key (write the alternatives in one list)");
                return false;
            }
        if (strcmp (key, "nocase") == 0) {
            const char *v = zconfig_value (k);
            if (strcmp (v, "true") == 0)
                r->nocase = true;
            else if (strcmp (v, "false") != 0) {
                s_fail (l, kwhere, "nocase is true or false");
                return false;
            }
        }
        if (strcmp (key, "action") == 0)
            action = zconfig_value (k);
    }
    if (!action) {
        snprintf (where + strlen (where), sizeof (where) - strlen (where), "/action");
        s_fail (l, where, "missing");
        return false;
    }
    char awhere[200];
    snprintf (awhere, sizeof (awhere), "%s/action", where);
    if (!s_parse_action (l, awhere, action, &r->act))
        return false;
    bool has_reason = false;
    for (zconfig_t *k = zconfig_child (item); k; k = zconfig_next (k)) {
        const char *key = zconfig_name (k);
        const char *value = zconfig_value (k);
        char kwhere[200];
        snprintf (kwhere, sizeof (kwhere), "%s/%s", where, key);
        bool ok = true;
        if (strcmp (key, "tool") == 0)
            ok = s_parse_list (l, kwhere, value, false, false, &r->tool);
        else if (strcmp (key, "command") == 0)
            ok = s_parse_list (l, kwhere, value, false, r->nocase, &r->command);
        else if (strcmp (key, "subcommand") == 0)
            ok = s_parse_list (l, kwhere, value, false, r->nocase, &r->subcommand);
        else if (strcmp (key, "arg") == 0)
            ok = s_parse_list (l, kwhere, value, false, r->nocase, &r->arg);
        else if (strcmp (key, "file") == 0)
            ok = s_parse_list (l, kwhere, value, true, r->nocase, &r->file);
        else if (strcmp (key, "wrapper") == 0)
            ok = s_parse_list (l, kwhere, value, false, false, &r->wrapper);
        else if (strcmp (key, "upstream") == 0)
            ok = s_parse_list (l, kwhere, value, false, r->nocase, &r->upstream);
        else if (strcmp (key, "role") == 0)
            ok = s_parse_list (l, kwhere, value, false, false, &r->role);
        else if (strcmp (key, "assign") == 0)
            ok = s_parse_list (l, kwhere, value, false, r->nocase, &r->assign);
        else if (strcmp (key, "input") == 0)
            ok = s_parse_list (l, kwhere, value, false, r->nocase, &r->input);
        else if (strcmp (key, "not_arg") == 0)
            ok = s_parse_list (l, kwhere, value, false, r->nocase, &r->not_arg);
        else if (strcmp (key, "not_assign") == 0)
            ok = s_parse_list (l, kwhere, value, false, r->nocase, &r->not_assign);
        else if (strcmp (key, "flag") == 0 || strcmp (key, "not_flag") == 0 ||
                 strcmp (key, "pre_flag") == 0) {
            ok = s_parse_flags (l, kwhere, value, r->nocase,
                                strcmp (key, "flag") == 0       ? &r->flag
                                : strcmp (key, "not_flag") == 0 ? &r->not_flag
                                                                : &r->pre_flag);
        } else if (strcmp (key, "path") == 0) {
            ok = s_parse_classes (l, self, kwhere, value, &r->path_mask);
            r->has_path = true;
        } else if (strcmp (key, "target") == 0) {
            ok = s_parse_classes (l, self, kwhere, value, &r->target_mask);
            r->has_target = true;
        } else if (strcmp (key, "tree") == 0) {
            ok = s_parse_classes (l, self, kwhere, value, &r->tree_mask);
            r->has_tree = true;
            self->trees |= r->tree_mask;
        } else if (strcmp (key, "when") == 0) {
            const char *p = value;
            while (ok && *p) {
                while (*p && isspace ((unsigned char) *p))
                    p++;
                const char *start = p;
                while (*p && !isspace ((unsigned char) *p))
                    p++;
                if (p == start)
                    break;
                bool found = false;
                for (size_t i = 0; i < sizeof (s_whens) / sizeof (s_whens[0]); i++)
                    if (s_streq_n (start, (size_t) (p - start), s_whens[i].name)) {
                        r->when |= s_whens[i].bit;
                        found = true;
                    }
                if (!found) {
                    s_fail (l, kwhere,
                            "unknown predicate '%.*s' (fork_bomb, background, dynamic_command, "
                            "dynamic_arg, no_operand, no_args, in_function, runs_download, "
                            "reads_download, no_command, in_loop, runs_written, reads_written, "
                            "metadata_host)",
                            (int) (p - start > 40 ? 40 : p - start), start);
                    ok = false;
                }
            }
            if (ok && !r->when) {
                s_fail (l, kwhere, "empty list");
                ok = false;
            }
        } else if (strcmp (key, "risk") == 0)
            ok = s_parse_risk (l, kwhere, value, &r->act.risk);
        else if (strcmp (key, "reason") == 0) {
            if (strlen (value) > 255) {
                s_fail (l, kwhere, "longer than 255 characters");
                ok = false;
            }
            for (const char *c = value; ok && *c; c++)
                if ((unsigned char) *c < 0x20 || *c == 0x7F) {
                    s_fail (l, kwhere, "control character");
                    ok = false;
                }
            snprintf (r->reason, sizeof (r->reason), "%s", value);
            has_reason = value[0] != 0;
        }
        if (!ok)
            return false;
    }
    if (!has_reason && r->act.action != POLICY_ALLOW) {
        snprintf (where + strlen (where), sizeof (where) - strlen (where), "/reason");
        s_fail (l, where, "required for deny and escalate");
        return false;
    }
    //  Which tools can this rule apply to?
    bool tool_has_bash = !r->tool.count;
    bool tool_non_bash = !r->tool.count;
    for (size_t i = 0; i < r->tool.count; i++) {
        const pattern_t *t = &r->tool.items[i];
        if (s_match_text (t, "Bash", 4))
            tool_has_bash = true;
        if (!(t->literal && strcmp (t->text, "Bash") == 0))
            tool_non_bash = true;
    }
    if (r->command.count && !tool_has_bash) {
        snprintf (where + strlen (where), sizeof (where) - strlen (where), "/command");
        s_fail (l, where, "command only applies to Bash, and tool does not include Bash");
        return false;
    }
    r->bash_only = r->command.count || (r->tool.count && !tool_non_bash);
    return true;
}

static bool
s_list_push (idlist_t *list, uint32_t id)
{
    if (list->count && list->items[list->count - 1] == id)
        return true;
    uint32_t *grown = (uint32_t *) realloc (list->items, (list->count + 1) * sizeof (uint32_t));
    if (!grown)
        return false;
    list->items = grown;
    list->items[list->count++] = id;
    return true;
}

static bool
s_index_add (index_t *index, const char *key, uint32_t id)
{
    size_t n = strlen (key);
    size_t mask = index->cap - 1;
    size_t i = s_hash (key, n) & mask;
    while (index->slots[i].key && strcmp (index->slots[i].key, key) != 0)
        i = (i + 1) & mask;
    bucket_t *b = &index->slots[i];
    if (!b->key) {
        b->key = strdup (key);
        if (!b->key)
            return false;
    }
    return s_list_push (&b->rules, id);
}

static bool
s_index_init (index_t *index, size_t keys)
{
    size_t cap = 16;
    while (cap < keys * 2 + 1)
        cap *= 2;
    index->slots = (bucket_t *) calloc (cap, sizeof (bucket_t));
    index->cap = index->slots ? cap : 0;
    return index->slots != NULL;
}

static void
s_index_free (index_t *index)
{
    for (size_t i = 0; i < index->cap; i++) {
        free (index->slots[i].key);
        free (index->slots[i].rules.items);
    }
    free (index->slots);
    index->slots = NULL;
    index->cap = 0;
}

static bool
s_build_index (policy_t *self)
{
    size_t cmd_keys = 0, tool_keys = 0;
    for (size_t i = 0; i < self->rule_count; i++) {
        cmd_keys += self->rules[i].command.count;
        tool_keys += self->rules[i].tool.count;
    }
    if (!s_index_init (&self->cmd_index, cmd_keys) || !s_index_init (&self->tool_index, tool_keys))
        return false;
    for (uint32_t id = 0; id < self->rule_count; id++) {
        const rule_t *r = &self->rules[id];
        //  Bash
        bool bash = r->bash_only || !r->tool.count;
        for (size_t i = 0; i < r->tool.count && !bash; i++)
            bash = s_match_text (&r->tool.items[i], "Bash", 4);
        if (bash) {
            bool literal = r->command.count > 0;
            for (size_t i = 0; i < r->command.count; i++)
                if (!r->command.items[i].literal || strchr (r->command.items[i].text, '/'))
                    literal = false;
            if (literal) {
                for (size_t i = 0; i < r->command.count; i++)
                    if (!s_index_add (&self->cmd_index, r->command.items[i].text, id))
                        return false;
            } else if (!s_list_push (&self->bash_scan, id))
                return false;
        }
        //  Other tools
        if (!r->bash_only) {
            bool literal = r->tool.count > 0;
            for (size_t i = 0; i < r->tool.count; i++)
                if (!r->tool.items[i].literal)
                    literal = false;
            if (literal) {
                for (size_t i = 0; i < r->tool.count; i++)
                    if (strcmp (r->tool.items[i].text, "Bash") != 0 &&
                        !s_index_add (&self->tool_index, r->tool.items[i].text, id))
                        return false;
            } else if (!s_list_push (&self->tool_scan, id))
                return false;
        }
    }
    return true;
}

static bool
s_cplist_push (cplist_t *list, const pattern_t *pat, uint8_t rank)
{
    cpat_t *grown = (cpat_t *) realloc (list->items, (list->count + 1) * sizeof (cpat_t));
    if (!grown)
        return false;
    list->items = grown;
    list->items[list->count].pat = pat;
    list->items[list->count].rank = rank;
    list->count++;
    return true;
}

static bool
s_build_classifier (policy_t *self)
{
    for (size_t rank = 0; rank < self->order_count; rank++) {
        uint8_t id = self->order[rank];
        const class_t *c = &self->classes[id];
        if (id == self->cls_project)
            self->rank_project = (uint8_t) rank;
        else if (id == self->cls_temp)
            self->rank_temp = (uint8_t) rank;
        else if (id == self->cls_home)
            self->rank_home = (uint8_t) rank;
        for (size_t i = 0; i < c->patterns.count; i++) {
            const pattern_t *pat = &c->patterns.items[i];
            const char *b = pat->body;
            size_t n = pat->body_len;
            int grp;
            unsigned key;
            if (pat->anchor == ANCHOR_BASENAME) {
                grp = GRP_BASE;
                key = s_is_wild (b[n - 1]) ? KEY_ANY : (unsigned char) b[n - 1];
            } else {
                grp = pat->anchor == ANCHOR_HOME      ? GRP_HOME
                      : pat->anchor == ANCHOR_PROJECT ? GRP_PROJECT
                                                      : GRP_ABS;
                key = n < 2 ? 0 : s_is_wild (b[1]) ? KEY_ANY : (unsigned char) b[1];
            }
            if (!s_cplist_push (&self->classifier[grp][key], pat, (uint8_t) rank))
                return false;
        }
    }
    return true;
}

static bool
s_load_policy_section (loader_t *l, policy_t *self, zconfig_t *sec)
{
    static const char *keys[] = {"version",         "default",   "unknown_tool", "parse_error",
                                 "dynamic_command", "bad_input", "symlinks"};
    action_t *acts[] = {NULL,
                        &self->dflt,
                        &self->unknown_tool,
                        &self->parse_error,
                        &self->dynamic_command,
                        &self->bad_input,
                        NULL};
    for (zconfig_t *k = zconfig_child (sec); k; k = zconfig_next (k)) {
        const char *key = zconfig_name (k);
        char where[100];
        snprintf (where, sizeof (where), "policy/%.60s", key);
        size_t idx = SIZE_MAX;
        for (size_t i = 0; i < sizeof (keys) / sizeof (keys[0]); i++)
            if (strcmp (key, keys[i]) == 0)
                idx = i;
        if (idx == SIZE_MAX) {
            s_fail (l, where, "unknown key");
            return false;
        }
        for (zconfig_t *o = zconfig_child (sec); o != k; o = zconfig_next (o))
            if (strcmp (zconfig_name (o), key) == 0) {
                s_fail (l, where, "duplicate key");
                return false;
            }
        if (zconfig_child (k)) {
            s_fail (l, where, "a key has no indented lines under it");
            return false;
        }
        const char *value = zconfig_value (k);
        if (idx == 0) {
            if (!value[0] || strlen (value) > 64) {
                s_fail (l, where, "1 to 64 characters");
                return false;
            }
            for (const char *c = value; *c; c++)
                if ((unsigned char) *c < 0x21 || (unsigned char) *c > 0x7E) {
                    s_fail (l, where, "printable ASCII without spaces");
                    return false;
                }
            free (self->version);
            self->version = strdup (value);
        } else if (!acts[idx]) {
            if (strcmp (value, "resolve") != 0 && strcmp (value, "lexical") != 0) {
                s_fail (l, where, "resolve or lexical");
                return false;
            }
            self->symlinks = strcmp (value, "resolve") == 0;
        } else if (!s_parse_action (l, where, value, acts[idx]))
            return false;
    }
    if (!self->version) {
        s_fail (l, "policy/version", "missing (required)");
        return false;
    }
    return true;
}

static bool
s_load_class_section (loader_t *l, policy_t *self, zconfig_t *sec)
{
    for (zconfig_t *c = zconfig_child (sec); c; c = zconfig_next (c)) {
        const char *name = zconfig_name (c);
        const char *value = zconfig_value (c);
        char where[100];
        snprintf (where, sizeof (where), "class/%.60s", name);
        if (zconfig_child (c)) {
            s_fail (l, where, "a class has no indented lines under it");
            return false;
        }
        int id = s_class_find (self, name, strlen (name));
        class_kind_t kind = CLASS_USER;
        if (strcmp (name, "project") == 0)
            kind = CLASS_PROJECT;
        else if (strcmp (name, "temp") == 0)
            kind = CLASS_TEMP;
        else if (strcmp (name, "home") == 0)
            kind = CLASS_HOME;
        else if (strcmp (name, "other") == 0 || strcmp (name, "unknown") == 0) {
            s_fail (l, where, "'%s' is built in and always last", name);
            return false;
        }
        if (kind != CLASS_USER) {
            //  a built-in named without a value: checked at this place
            if (value[0]) {
                s_fail (l, where, "built-in class: name it without a value to place it");
                return false;
            }
            for (size_t i = 0; i < self->order_count; i++)
                if ((int) self->order[i] == id) {
                    s_fail (l, where, "placed twice");
                    return false;
                }
            self->order[self->order_count++] = (uint8_t) id;
            continue;
        }
        if (!s_name_ok (name, 31, true)) {
            s_fail (l, where, "class names use a-z 0-9 - _ and at most 31 characters");
            return false;
        }
        if (id >= 0) {
            //  named again: more patterns for it, at its first place
            if (!s_parse_list (l, where, value, true, false, &self->classes[id].patterns))
                return false;
            continue;
        }
        id = s_add_class (self, name, CLASS_USER);
        if (id < 0) {
            s_fail (l, where, "too many classes (at most %d with the 5 built-in)", MAX_CLASSES);
            return false;
        }
        if (!s_parse_list (l, where, value, true, false, &self->classes[id].patterns))
            return false;
        self->order[self->order_count++] = (uint8_t) id;
    }
    return true;
}

policy_t *
policy_load_text (const char *text, const char *name, char *err, size_t err_size)
{
    loader_t l = {name ? name : "policy", err, err_size, false};
    if (err && err_size)
        err[0] = 0;
    if (!text) {
        s_fail (&l, NULL, "no text");
        return NULL;
    }
    size_t size = strlen (text);
    if (size > MAX_POLICY_FILE) {
        s_fail (&l, NULL, "larger than %d bytes", MAX_POLICY_FILE);
        return NULL;
    }
    if (!s_zpl_precheck (&l, text, size))
        return NULL;
    zconfig_t *root = zconfig_str_load (text);
    if (!root) {
        s_fail (&l, NULL, "not valid ZPL");
        return NULL;
    }
    policy_t *self = (policy_t *) calloc (1, sizeof (policy_t));
    if (!self) {
        zconfig_destroy (&root);
        s_fail (&l, NULL, "out of memory");
        return NULL;
    }
    self->name = strdup (l.name);
    //  fail-closed defaults for the policy's own actions
    self->dflt = (action_t){POLICY_DENY, RISK_CRITICAL, ""};
    self->unknown_tool = (action_t){POLICY_DENY, RISK_CRITICAL, ""};
    self->parse_error = (action_t){POLICY_DENY, RISK_CRITICAL, ""};
    self->bad_input = (action_t){POLICY_DENY, RISK_CRITICAL, ""};
    self->dynamic_command = (action_t){POLICY_ESCALATE, RISK_HIGH, "security"};
    self->symlinks = true;
    //  built-in classes first in the table, placed at the end of the order
    //  unless the class section places them
    self->cls_project = (uint8_t) s_add_class (self, "project", CLASS_PROJECT);
    self->cls_temp = (uint8_t) s_add_class (self, "temp", CLASS_TEMP);
    self->cls_home = (uint8_t) s_add_class (self, "home", CLASS_HOME);
    self->cls_other = (uint8_t) s_add_class (self, "other", CLASS_OTHER);
    self->cls_unknown = (uint8_t) s_add_class (self, "unknown", CLASS_UNKNOWN);
    self->rank_project = self->rank_temp = self->rank_home = UINT8_MAX;

    size_t rules_cap = 0;
    bool seen_policy = false;
    zhashx_t *names = zhashx_new (); //  rule names seen
    if (!names) {
        zconfig_destroy (&root);
        policy_destroy (&self);
        s_fail (&l, NULL, "out of memory");
        return NULL;
    }
    for (zconfig_t *sec = zconfig_child (root); sec && !l.failed; sec = zconfig_next (sec)) {
        const char *sname = zconfig_name (sec);
        if (zconfig_value (sec) && *zconfig_value (sec)) {
            s_fail (&l, sname, "a section takes no value");
            break;
        }
        if (strcmp (sname, "policy") == 0) {
            if (seen_policy) {
                s_fail (&l, "policy", "duplicate section");
                break;
            }
            seen_policy = true;
            s_load_policy_section (&l, self, sec);
        } else if (strcmp (sname, "class") == 0)
            s_load_class_section (&l, self, sec);
        else if (strcmp (sname, "rule") == 0) {
            for (zconfig_t *item = zconfig_child (sec); item && !l.failed;
                 item = zconfig_next (item)) {
                if (self->rule_count == rules_cap) {
                    rules_cap = rules_cap ? rules_cap * 2 : 64;
                    rule_t *grown = (rule_t *) realloc (self->rules, rules_cap * sizeof (rule_t));
                    if (!grown) {
                        s_fail (&l, "rule", "out of memory");
                        break;
                    }
                    self->rules = grown;
                }
                rule_t *r = &self->rules[self->rule_count];
                memset (r, 0, sizeof (*r));
                self->rule_count++;
                if (!s_load_rule (&l, self, item, r))
                    break;
                if (zhashx_insert (names, r->name, r) != 0) {
                    char where[80];
                    snprintf (where, sizeof (where), "rule/%s", r->name);
                    s_fail (&l, where, "duplicate rule name");
                }
            }
        } else
            s_fail (&l, sname, "unknown section (policy, class, rule)");
    }
    zconfig_destroy (&root);
    zhashx_destroy (&names);
    if (!l.failed && !seen_policy)
        s_fail (&l, "policy", "missing section (version is required)");
    if (!l.failed && self->rule_count > UINT32_MAX / 2)
        s_fail (&l, "rule", "too many rules");
    if (!l.failed) {
        //  built-ins not placed: after the named classes, in this order
        uint8_t builtins[] = {self->cls_project, self->cls_temp, self->cls_home};
        for (size_t b = 0; b < 3; b++) {
            bool placed = false;
            for (size_t i = 0; i < self->order_count; i++)
                placed = placed || self->order[i] == builtins[b];
            if (!placed)
                self->order[self->order_count++] = builtins[b];
        }
        if (!s_build_index (self) || !s_build_classifier (self))
            s_fail (&l, NULL, "out of memory");
    }
    if (l.failed) {
        policy_destroy (&self);
        return NULL;
    }
    return self;
}

policy_t *
policy_load (const char *path, char *err, size_t err_size)
{
    loader_t l = {path ? path : "(null)", err, err_size, false};
    if (err && err_size)
        err[0] = 0;
    FILE *file = path ? fopen (path, "rb") : NULL;
    if (!file) {
        s_fail (&l, NULL, "cannot open: %s", path ? strerror (errno) : "no path");
        return NULL;
    }
    char *text = (char *) malloc (MAX_POLICY_FILE + 2);
    size_t size = text ? fread (text, 1, MAX_POLICY_FILE + 1, file) : 0;
    bool read_error = text && ferror (file);
    fclose (file);
    if (!text || read_error) {
        free (text);
        s_fail (&l, NULL, "cannot read the file");
        return NULL;
    }
    if (size > MAX_POLICY_FILE) {
        free (text);
        s_fail (&l, NULL, "larger than %d bytes", MAX_POLICY_FILE);
        return NULL;
    }
    if (memchr (text, 0, size)) {
        free (text);
        s_fail (&l, NULL, "the file contains a NUL byte");
        return NULL;
    }
    text[size] = 0;
    policy_t *self = policy_load_text (text, path, err, err_size);
    free (text);
    return self;
}

static void
s_rule_free (rule_t *r)
{
    plist_t *lists[] = {&r->tool,  &r->command,  &r->subcommand, &r->flag,       &r->arg,
                        &r->file,  &r->wrapper,  &r->upstream,   &r->role,       &r->assign,
                        &r->input, &r->not_flag, &r->not_arg,    &r->not_assign, &r->pre_flag};
    for (size_t i = 0; i < sizeof (lists) / sizeof (lists[0]); i++)
        s_plist_free (lists[i]);
}

static void
s_classifier_free (policy_t *self)
{
    for (int g = 0; g < GRP_COUNT; g++)
        for (int k = 0; k <= KEY_ANY; k++) {
            free (self->classifier[g][k].items);
            self->classifier[g][k].items = NULL;
            self->classifier[g][k].count = 0;
        }
}

void
policy_destroy (policy_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    policy_t *self = *self_p;
    for (size_t i = 0; i < self->rule_count; i++)
        s_rule_free (&self->rules[i]);
    free (self->rules);
    for (size_t i = 0; i < self->class_count; i++) {
        free (self->classes[i].name);
        s_plist_free (&self->classes[i].patterns);
    }
    s_classifier_free (self);
    s_index_free (&self->cmd_index);
    s_index_free (&self->tool_index);
    free (self->bash_scan.items);
    free (self->tool_scan.items);
    free (self->version);
    free (self->name);
    free (self);
    *self_p = NULL;
}

bool
policy_protect (policy_t *self, const char *patterns, char *err, size_t err_size)
{
    loader_t l = {"protect", err, err_size, false};
    if (err_size)
        err[0] = 0;
    plist_t extra = {NULL, 0};
    if (!patterns || !*patterns)
        return true;
    if (!s_parse_list (&l, "lighthouse", patterns, true, false, &extra)) {
        s_plist_free (&extra);
        return false;
    }
    int id = s_class_find (self, "lighthouse", 10);
    if (id < 0) {
        //  a policy without the class: it goes after the policy's own
        //  classes, so that it takes no path from them (no rule names it,
        //  and a path of theirs must keep meeting their rules); the paths
        //  it takes from project, temp or home then meet no allow written
        //  for those
        if (self->order_count >= MAX_CLASSES ||
            (id = s_add_class (self, "lighthouse", CLASS_USER)) < 0) {
            s_fail (&l, NULL, "too many classes for 'lighthouse'");
            s_plist_free (&extra);
            return false;
        }
        size_t at = 0;
        for (size_t i = 0; i < self->order_count; i++)
            if (self->classes[self->order[i]].kind == CLASS_USER)
                at = i + 1;
        memmove (self->order + at + 1, self->order + at, self->order_count - at);
        self->order[at] = (uint8_t) id;
        self->order_count++;
    }
    plist_t *list = &self->classes[id].patterns;
    pattern_t *grown =
        (pattern_t *) realloc (list->items, (list->count + extra.count) * sizeof (pattern_t));
    if (!grown) {
        s_fail (&l, NULL, "out of memory");
        s_plist_free (&extra);
        return false;
    }
    //  the classifier points into the lists: build it again
    list->items = grown;
    memcpy (list->items + list->count, extra.items, extra.count * sizeof (pattern_t));
    list->count += extra.count;
    free (extra.items);
    s_classifier_free (self);
    if (!s_build_classifier (self)) {
        s_fail (&l, NULL, "out of memory");
        return false;
    }
    return true;
}

const char *
policy_version (const policy_t *self)
{
    return self && self->version ? self->version : "";
}

size_t
policy_rule_count (const policy_t *self)
{
    return self ? self->rule_count : 0;
}

const char *
policy_action_name (policy_action_t action)
{
    switch (action) {
    case POLICY_ALLOW:
        return "allow";
    case POLICY_DEFER:
        return "defer";
    case POLICY_ESCALATE:
        return "escalate";
    case POLICY_DENY:
        return "deny";
    }
    return "deny";
}

const char *
policy_risk_name (policy_risk_t risk)
{
    switch (risk) {
    case RISK_NONE:
        return "none";
    case RISK_LOW:
        return "low";
    case RISK_MEDIUM:
        return "medium";
    case RISK_HIGH:
        return "high";
    case RISK_CRITICAL:
        return "critical";
    }
    return "critical";
}
