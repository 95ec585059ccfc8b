/*  policy_internal.h -- what the policy engine's source files share.

    Not part of the API (that is policy.h): the types of a loaded policy
    and of one evaluation, the small helpers every file needs inline (the
    matching loops call them per character), and the functions one file of
    the engine offers the others. What only one file uses stays static
    there. The files are listed in policy.c.
*/
#ifndef LH_POLICY_INTERNAL_H_INCLUDED
#define LH_POLICY_INTERNAL_H_INCLUDED

#include <czmq.h>
#include <ctype.h>
#include <stdint.h>

#include "codec.h"
#include "glob.h"
#include "policy.h"
#include "shell.h"

#define PATH_BUF    4096
#define MAX_CLASSES 32 //  class sets are uint32_t masks
#define MAX_TOKENS  63 //  wildcard section of one pattern (uint64_t NFA)
#define MAX_PATTERN 255
#define MAX_CWDS    4 //  working directories tracked through `cd`
#define MAX_NEST    4 //  shells fed from heredocs or echo, parsed again
#define MAX_NOTED   8 //  files noted as downloaded / written earlier in the call
#define NOTED_PATH  512

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

typedef struct {
    policy_action_t action;
    policy_risk_t risk;
    char capability[32];
    uint8_t quorum; //  escalate: distinct experts who must allow (1..POLICY_QUORUM_MAX)
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

//  Class patterns by anchor and by one character, for s_classify
//  (policy_paths.c): the character after the leading '/' (absolute, ~ and
//  $PROJECT anchors) or the last one (basename patterns); KEY_ANY holds
//  the patterns with a wildcard there. Each list is in class order.
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

//  Shells whose stdin program (heredoc, here-string, echo | sh) is parsed
//  again (policy_eval.c), and the commands whose output feeds the next
//  one's stdin as data (policy_conditions.c; the first two print their
//  arguments)
extern const char *const policy_shells[7];
extern const char *const policy_echoes[3];

//  --------------------------------------------------------------------------
//  Small helpers

static inline int
policy_lower (int c)
{
    return c >= 'A' && c <= 'Z' ? c + 32 : c;
}

static inline bool
policy_ch_eq (char a, char b, bool nocase)
{
    return nocase ? policy_lower ((unsigned char) a) == policy_lower ((unsigned char) b) : a == b;
}

static inline bool
policy_mem_eq (const char *a, const char *b, size_t n, bool nocase)
{
    if (!nocase)
        return n == 0 || memcmp (a, b, n) == 0;
    for (size_t i = 0; i < n; i++)
        if (!policy_ch_eq (a[i], b[i], true))
            return false;
    return true;
}

static inline bool
policy_streq_n (const char *a, size_t alen, const char *b)
{
    size_t blen = strlen (b);
    return alen == blen && (alen == 0 || memcmp (a, b, alen) == 0);
}

static inline bool
policy_name_in (const char *name, size_t n, const char *const *names, size_t count)
{
    for (size_t i = 0; i < count; i++)
        if (policy_streq_n (name, n, names[i]))
            return true;
    return false;
}

static inline bool
policy_is_wild (char c)
{
    return c == '*' || c == '?';
}

//  True if path is dir or below it (dir normalised, len 0 means disabled)
static inline bool
policy_path_under (const char *path, size_t n, const char *dir, size_t dlen)
{
    if (dlen == 0)
        return false;
    if (dlen == 1 && dir[0] == '/')
        return true;
    return n >= dlen && memcmp (path, dir, dlen) == 0 && (n == dlen || path[dlen] == '/');
}

static inline bool
policy_has_var (const char *s, size_t n)
{
    return memchr (s, '$', n) != NULL || memchr (s, '`', n) != NULL;
}

static inline word_t
policy_view_arg (const view_t *v, size_t i)
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

static inline bool
policy_is_option (word_t w)
{
    return w.n > 1 && w.s[0] == '-';
}

static inline void
policy_basename (const char *s, size_t n, const char **base, size_t *blen)
{
    size_t i = n;
    while (i > 0 && s[i - 1] != '/')
        i--;
    *base = s + i;
    *blen = n - i;
}

static inline uint64_t
policy_hash (const char *s, size_t n)
{
    uint64_t h = 1469598103934665603ULL;
    for (size_t i = 0; i < n; i++) {
        h ^= (unsigned char) s[i];
        h *= 1099511628211ULL;
    }
    return h;
}

//  --------------------------------------------------------------------------
//  policy_text.c: clean UTF-8 text for messages and decisions

bool policy_text_is_utf8 (const char *s, size_t n);
void policy_text_set (char *dst, size_t size, const char *src);
void policy_text_format (char *dst, size_t size, const char *format, ...)
    __attribute__ ((format (printf, 3, 4)));
void policy_text_excerpt (char *dst, size_t size, const char *src, size_t n);

//  --------------------------------------------------------------------------
//  policy_pattern.c: pattern compilation and matching

const char *policy_pattern_compile (pattern_t *self, const char *text, bool path, bool nocase);
void policy_pattern_free (pattern_t *self);
bool policy_mem_contains (const char *t, size_t n, const char *run, size_t rn, bool nocase);
bool policy_pattern_match_body (const pattern_t *p, const char *t, size_t n);
bool policy_pattern_match (const pattern_t *p, const char *t, size_t n);
bool policy_plist_match (const plist_t *list, const char *t, size_t n);
void policy_plist_free (plist_t *list);

//  --------------------------------------------------------------------------
//  policy_paths.c: path resolution and classification

int policy_paths_resolve (const char *base, size_t base_len, const char *text, size_t n, char *out);
size_t policy_paths_escape (const char *path, size_t n, char *out, size_t size);
void policy_paths_classify (eval_t *e, view_t *v);
void policy_paths_classify_tree (eval_t *e, view_t *v);
void policy_paths_probe_files (eval_t *e, view_t *v, const plist_t *list, bool all, bool *hit,
                               bool *miss);

//  --------------------------------------------------------------------------
//  policy_conditions.c: rule conditions and the rule indexes

bool policy_cmd_name_is (const shell_cmd_t *cmd, const char *const *names, size_t count);
bool policy_cond_no_operand (const view_t *v);
const bucket_t *policy_index_find (const index_t *index, const char *key, size_t n);
const rule_t *policy_index_first_match (eval_t *e, const bucket_t *bucket, const idlist_t *scan,
                                        view_t *v, bool tool_given_only);

//  --------------------------------------------------------------------------
//  policy_eval.c: decisions, Bash evaluation, the other tools

void policy_decide (policy_decision_t *d, const action_t *act, const char *rule,
                    const char *reason);
void policy_offer (eval_t *e, const action_t *act, const char *rule, const char *reason);
void policy_offer_bad_input (eval_t *e, const char *what);
void policy_eval_bash (eval_t *e);
void policy_eval_tool (eval_t *e, bool known, bool file_tool);

#endif
