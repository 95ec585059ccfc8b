/*  shell_internal.h -- what the pieces of the shell parser share.

    shell.h is the public API; this header is for the shell_*.c files only.
    It holds the types they pass to each other (the shell_t itself, the
    syntax tree, tokens and the parse context, the emission context, the
    wrapper tables) and the functions one file calls in another. Anything
    used in one file stays static there. Type names keep their s_ prefix
    from when the parser was one file; functions shared across files are
    shell_*.

    A parse: shell_parse (shell.c) runs shell_parse_program (shell_parser.c,
    reading tokens and words from shell_lexer.c), then shell_emit
    (shell_emit.c), which hands each command it appends to shell_unwrap
    (shell_wrappers.c, with its tables in shell_wrappers_table.c); strings
    a wrapper runs as shell go round again through shell_parse_text. All of
    it allocates from the arena in shell_arena.c.
*/
#ifndef LH_SHELL_INTERNAL_H_INCLUDED
#define LH_SHELL_INTERNAL_H_INCLUDED

#include "shell.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define S_NONE             SIZE_MAX
#define S_DEPTH_DEFAULT    32
#define S_DEPTH_MAX        256
#define S_COMMANDS_DEFAULT 4096
#define S_INPUT_MAX        ((size_t) 16 << 20)
#define S_CHUNK            ((size_t) 64 << 10)
#define S_CHUNK_MIN        ((size_t) 4 << 10)
#define S_ALIGN            ((size_t) 16)
#define S_MEM_BASE         ((size_t) 32 << 20)
#define S_MEM_PER_BYTE     64
#define S_MEM_PER_COMMAND  2048
#define S_REDIRS_MAX       256
#define S_ASSIGNS_MAX      256
#define S_WORK_BASE        ((size_t) 64 << 10)
#define S_WORK_PER_BYTE    16
#define S_BRACE_WORDS_MAX  4096

//  How each byte of a word's text came to be (s_word_t.marks)
#define M_LIT    'L' //  unquoted literal: may be a glob or brace operator
#define M_QUOTED 'Q' //  quoted or escaped literal, or ~ and $HOME expanded
#define M_DYN    'D' //  part of an expansion the parser cannot resolve

//  --------------------------------------------------------------------------
//  The shell_t and the arena's containers

typedef struct s_chunk_t {
    struct s_chunk_t *next;
    size_t size; //  bytes at mem
    size_t used;
    char *mem;
} s_chunk_t;

//  A command as the caller sees it, plus what shell_upstream needs
typedef struct {
    shell_cmd_t pub;
    size_t upstream; //  index of the command feeding it, or S_NONE
} s_rec_t;

typedef struct {
    void *data;
    size_t n, cap;
} s_vec_t;

typedef struct {
    char *data;
    size_t n, cap;
} s_str_t;

typedef struct {
    size_t func;        //  index into funcs
    const char *callee; //  argv[0] of a command in its body
} s_call_t;

typedef struct {
    const char *name;
    const char *value; //  NULL: defined with a value that is not static
    bool removed;
} s_alias_t;

//  A for or select loop of the parse, for binding "$NAME" in its body to
//  the pattern of its word list (see shell.h)
typedef struct s_loop_t {
    const char *name;
    size_t nlen;
    const char *bind;        //  the pattern "$name" stands for; NULL: none
    struct s_loop_t *parent; //  the loop it is in, in the same parser
    bool tainted;            //  something in its body may assign name
    int verdict;             //  0 not known yet, 1 bound, -1 not
} s_loop_t;

//  Something that may assign variables and runs where it is not seen:
//  inside a function, or a trap, eval or alias string. A loop whose name
//  text holds loses its binding, unless owner is that loop or one around
//  it (owner: the loop whose header this is)
typedef struct {
    const char *text;
    size_t len;
    const s_loop_t *owner;
} s_gevent_t;

struct _shell_t {
    s_chunk_t *chunks;
    size_t mem, mem_limit;
    void *last; //  last allocation in the head chunk (grows in place)
    s_rec_t *recs;
    size_t nrecs, caprecs;
    bool recursive;

    //  Options, valid while parsing
    const char *home;
    size_t home_len;
    size_t max_depth, max_commands;

    //  Parse and emission state
    size_t nsimple; //  simple commands in the trees parsed so far
    size_t next_pipeline;
    size_t work, work_limit; //  words scanned by wrappers, bytes parsed again
    s_vec_t funcs;           //  const char *: names of function definitions
    s_vec_t calls;           //  s_call_t
    s_vec_t aliases;         //  s_alias_t, in the order they were defined
    s_vec_t gevents;         //  s_gevent_t
    bool gwild;              //  some variable, unknown which, may be assigned anywhere
    bool bind_off;           //  binding work over its budget: no loop binds
    size_t bind_work, bind_limit;
    bool failed;
    char msg[256];
};

//  --------------------------------------------------------------------------
//  Syntax tree

typedef struct s_node_t s_node_t;

typedef enum { SUB_CMD, SUB_PROCIN, SUB_PROCOUT } s_subkind_t;

typedef struct {
    s_subkind_t kind;
    s_node_t *body;
} s_sub_t;

typedef struct {
    s_sub_t *v;
    size_t n;
} s_subs_t;

typedef struct {
    shell_word_t w;
    const char *marks; //  one per byte of w.text: M_LIT, M_QUOTED or M_DYN
    const char *raw;   //  the word as written in the source (rawlen bytes)
    size_t rawlen;
    s_subs_t subs;              //  substitutions inside it, in order
    const struct s_ref_t *refs; //  "$NAME" of loops around it, in order
    size_t nrefs;
    bool noglob;    //  its pattern was made as an assignment value's
    bool plain;     //  no quoting and no expansion: may be a reserved word
    bool assign;    //  NAME=, NAME+= or NAME[..]= prefix, unquoted
    bool subscript; //  NAME[..] in that prefix: a glob unless assigned
} s_word_t;

//  "$NAME" or "${NAME}" in double quotes, at bytes [at, at + len) of a
//  word's text, inside the body of a for loop over NAME
typedef struct s_ref_t {
    size_t at, len;
    s_loop_t *loop;
} s_ref_t;

//  The references of one word, and what its pattern is made from
typedef struct {
    const s_ref_t *v;
    size_t n;
    const char *marks;
    bool noglob;
} s_wrefs_t;

typedef struct {
    shell_redir_t r;
    s_subs_t subs;
    s_wrefs_t refs;
} s_redir_t;

typedef enum {
    N_LIST,     //  kids: and-or lists
    N_ANDOR,    //  kids: pipelines
    N_PIPELINE, //  kids: commands
    N_SIMPLE,   //  argv, assigns, redirs
    N_COMPOUND, //  kids in execution order, redirs
    N_FUNC,     //  name, kids[0] the body
    N_WORDS     //  argv: words whose substitutions run (for lists, case words, (( )))
} s_nkind_t;

struct s_node_t {
    s_nkind_t kind;
    bool background; //  N_ANDOR ends with &; coproc
    bool compound;   //  [[ ]] and (( )): may be a function body
    bool loop;       //  while, until, for, select: kids from loop_from on repeat
    size_t loop_from;
    s_vec_t kids; //  s_node_t *
    shell_word_t *argv;
    s_subs_t *argv_subs;
    s_wrefs_t *argv_refs; //  NULL when no word has references
    size_t argc;
    shell_word_t *assigns;
    s_subs_t *assign_subs;
    s_wrefs_t *assign_refs;
    size_t nassigns;
    s_vec_t redirs; //  s_redir_t *
    const char *name;
};

//  --------------------------------------------------------------------------
//  Tokens and the parse context

typedef enum {
    T_EOF,
    T_NEWLINE,
    T_WORD,
    T_SEMI,
    T_AMP,
    T_AND,
    T_OR,
    T_PIPE,
    T_PIPEAMP,
    T_DSEMI,
    T_SEMIAMP,
    T_DSEMIAMP,
    T_LPAREN,
    T_RPAREN,
    T_REDIR
} s_ttype_t;

typedef enum {
    R_LESS,
    R_GREAT,
    R_DGREAT,
    R_CLOBBER,
    R_LESSGREAT,
    R_LESSAND,
    R_GREATAND,
    R_ANDGREAT,
    R_ANDDGREAT,
    R_DLESS,
    R_DLESSDASH,
    R_TLESS
} s_rop_t;

typedef struct {
    s_ttype_t type;
    size_t start, end; //  source span
    s_word_t word;     //  T_WORD
    s_rop_t op;        //  T_REDIR
    int fd;            //  T_REDIR: -2 default, -1 {name}
} s_tok_t;

typedef struct s_heredoc_t {
    struct s_heredoc_t *next;
    s_redir_t *redir;
    const char *delim;
    size_t dlen;
    bool strip;  //  <<-
    bool quoted; //  delimiter quoted: body is literal
} s_heredoc_t;

typedef struct {
    shell_t *sh;
    const char *buf;
    size_t len, pos;
    size_t depth;
    const char *what; //  NULL for the command itself, else e.g. "bash -c string"
    s_tok_t tok;
    bool have;
    s_heredoc_t *hd_head, *hd_tail;
    size_t hd_unquoted;   //  heredocs in that list whose body expands
    bool cond;            //  inside [[ ]]
    bool regex;           //  the next word is the right side of =~
    s_loop_t *loop;       //  innermost for or select loop being parsed
    s_loop_t *loop_floor; //  loop around the function being parsed: "$NAME" does not reach it
    size_t in_func;       //  function bodies being parsed
} s_parser_t;

//  Word builder (shell_lexer.c; the parser builds array words with it too)

typedef enum {
    A_NAME,     //  reading what could be NAME
    A_SUB,      //  inside NAME[...]
    A_AFTERSUB, //  after NAME[...]
    A_PLUS,     //  after NAME+ (before =)
    A_VALUE,    //  after NAME= : an assignment-like word
    A_NONE      //  not an assignment
} s_astate_t;

typedef struct {
    s_parser_t *p;
    s_str_t text;
    s_vec_t subs; //  s_sub_t
    bool dynamic, quoted, plain;
    s_astate_t astate;
    bool assign;
    bool sub_glob;  //  a [...] that is a glob unless the word is an assignment
    bool subscript; //  NAME[...]= seen
    bool tilde_ok;  //  a ~ at this point starts a tilde prefix
    bool bracket;   //  unquoted [ seen
    s_str_t marks;  //  parallel to text: how each byte came to be
    char mode;      //  the mark of bytes added now
    s_vec_t refs;   //  s_ref_t
} s_wb_t;

//  --------------------------------------------------------------------------
//  Emission context: where a command being emitted sits

typedef struct {
    size_t depth;
    size_t upstream; //  what stdin of commands here comes from
    bool has_pipe;   //  inside an element of a pipeline
    size_t pipe_id, pipe_pos, pipe_len;
    bool background, in_function, in_loop;
    size_t func; //  innermost function being defined, or S_NONE
    bool calls;  //  commands here can call shell functions
    const char *const *wrappers;
    size_t nwrappers;
    const shell_redir_t *redirs; //  from enclosing compound commands
    size_t nredirs;
    const shell_word_t *assigns;  //  environment a wrapper set for a shell it runs
    const char *const *expanding; //  aliases whose expansion this is
    size_t nexpanding;
    size_t nassigns;
} s_ectx_t;

//  --------------------------------------------------------------------------
//  Wrapper tables (data in shell_wrappers_table.c, read by shell_wrappers.c)

typedef struct {
    const char *name; //  without the leading --
    char arg;         //  0 none, ':' required, '?' only as --name=value
    char alias;       //  short option it is, '!' for help/version, 0 none
} s_long_t;

typedef struct {
    const char *shorts;    //  getopt style: "u:" takes an argument, "h::" optionally attached
    const char *nocmd;     //  options after which nothing runs
    const s_long_t *longs; //  ends with {NULL}
    bool numeric;          //  -N is an option (nice -10)
    bool longeq;           //  long options take values only as --name=value
} s_opts_t;

typedef enum {
    W_EXEC,       //  options, then the command (sudo, nice, timeout, ...)
    W_ENV,        //  env: options, -S, NAME=value, command
    W_FIND,       //  find -exec ... ;
    W_EVAL,       //  eval ARGS
    W_TRAP,       //  trap ACTION SIGNALS
    W_SU,         //  su -c STRING
    W_RUNUSER,    //  runuser -u USER CMD, runuser -c STRING
    W_SG,         //  sg GROUP [-c] STRING
    W_SSH,        //  ssh HOST COMMAND...
    W_WATCH,      //  watch COMMAND... (through sh -c unless -x)
    W_FLOCK,      //  flock FILE CMD / flock FILE -c STRING
    W_SCRIPT,     //  script -c STRING
    W_GDB,        //  gdb --args CMD
    W_BUSYBOX,    //  busybox APPLET
    W_SOURCE,     //  source /dev/stdin <<EOF
    W_TMUX,       //  tmux [-c STRING] new|neww|splitw|run|send-keys|... STRING
    W_SCREEN,     //  screen CMD, screen -X stuff TEXT
    W_GIT,        //  git -c alias.X=!CMD X, rebase --exec, bisect run, submodule foreach
    W_VIM,        //  vim -c '!CMD', +!CMD
    W_XTERM,      //  xterm ... -e CMD
    W_BWRAP,      //  bwrap OPTIONS CMD
    W_IPNETNS,    //  ip netns exec NAME CMD
    W_CAPSH,      //  capsh ... -- ARGS (bash ARGS)
    W_AT,         //  at/batch reading commands from a heredoc
    W_SHJOIN,     //  watchexec OPTIONS CMD... (joined, run by a shell)
    W_NODEMON,    //  nodemon --exec STRING
    W_ENTR,       //  entr [-s STRING | CMD]
    W_PARALLEL,   //  parallel TEMPLATE ::: ARGS
    W_MACHINECTL, //  machinectl shell MACHINE CMD
    W_NPX,        //  npx [-c STRING | PKG ARGS]
    W_NPM,        //  npm exec|x ...
    W_PNPM,       //  pnpm exec|dlx ...
    W_YARN,       //  yarn dlx|exec ...
    W_BUN         //  bun x ...
} s_wtype_t;

typedef struct {
    const char *name;
    s_wtype_t type;
    s_opts_t opts;
    size_t positional; //  operands before the command (timeout DURATION, chroot DIR)
    bool assigns;      //  NAME=value operands before the command (sudo)
    bool calls;        //  the inner command may be a shell function (time)
    const char *dflt;  //  the command when none is given (xargs)
    const char *shell; //  options that start a shell reading stdin when no command is given
} s_wrap_t;

#define S_HELP                                                                                     \
    {"help", 0, '!'},                                                                              \
    {                                                                                              \
        "version", 0, '!'                                                                          \
    }

//  tmux: the commands (separated by ";" words) that run shell commands
typedef struct {
    const char *name, *alias;
    const char *shorts;
    char kind; //  's' shell-command operands, 'k' send-keys, 'i' if-shell
} s_tmux_cmd_t;

typedef struct {
    const char *prog;          //  argv[0] (basename)
    const char *verbs[3];      //  the subcommand's words (NULL-terminated)
    const s_opts_t *before[3]; //  options before each verb
    const s_opts_t *opts;      //  options of the subcommand
    size_t positional;         //  operands before the command (docker exec CONTAINER)
    char mode;                 //  see s_unwrap_runner
    char latest;               //  short option (long "latest") that drops the positional
    const char *name;          //  wrapper name
} s_runner_t;

//  npx, npm exec, pnpm exec|dlx, yarn dlx|exec, bun x: options, then -c
//  STRING or the package's binary
typedef struct {
    s_wtype_t type;
    const char *verbs[3]; //  the subcommand's words, NULL-terminated; none: argv[0]'s options
    const char *names[2]; //  wrapper name for each verb
    const s_long_t *longs;
    const char *shorts;
} s_pkgexec_t;

//  --------------------------------------------------------------------------
//  Functions shared between the files

//  shell_arena.c: the arena, and failing
void shell_fail (shell_t *sh, const char *fmt, ...) __attribute__ ((format (printf, 2, 3)));
bool shell_charge (shell_t *sh, size_t units);
void *shell_arena_alloc (shell_t *sh, size_t size);
void *shell_arena_realloc (shell_t *sh, void *ptr, size_t old, size_t size);
void *shell_vec_push (shell_t *sh, s_vec_t *vec, size_t size);
void shell_vec_pushp (shell_t *sh, s_vec_t *vec, const void *item);
bool shell_str_reserve (shell_t *sh, s_str_t *str, size_t extra);
void shell_str_putc (shell_t *sh, s_str_t *str, char c);
void shell_str_put (shell_t *sh, s_str_t *str, const char *src, size_t len);
const char *shell_str_cstr (shell_t *sh, s_str_t *str);
const char *shell_strndup (shell_t *sh, const char *src, size_t len);

//  shell_lexer.c: characters, errors, nesting
bool shell_is_meta (char c);
bool shell_is_name_start (char c);
bool shell_is_name_char (char c);
bool shell_is_all_digits (const char *text);
bool shell_is_assignment (const char *text);
void shell_perr (s_parser_t *p, size_t at, const char *fmt, ...)
    __attribute__ ((format (printf, 3, 4)));
void shell_syntax_error (s_parser_t *p, const s_tok_t *tok);
bool shell_enter (s_parser_t *p);
void shell_leave (s_parser_t *p);

//  shell_lexer.c: loop variables
void shell_bind_event (s_parser_t *p, const char *text, size_t len, bool global,
                       const s_loop_t *owner);
void shell_bind_event_str (s_parser_t *p, const char *text, bool global);
bool shell_loop_bound (shell_t *sh, s_loop_t *loop);
bool shell_is_special_var (const char *name);

//  shell_lexer.c: words
void shell_wb_init (s_wb_t *wb, s_parser_t *p);
void shell_wb_putm (s_wb_t *wb, char mode, const char *src, size_t len);
void shell_wb_putcm (s_wb_t *wb, char mode, char c);
void shell_wb_sub (s_wb_t *wb, s_subkind_t kind, s_node_t *body);
s_word_t shell_wb_done (s_wb_t *wb);
const char *shell_make_pattern_refs (shell_t *sh, const char *text, const char *marks, size_t n,
                                     bool glob, bool force, const s_wrefs_t *refs);
const char *shell_make_pattern (shell_t *sh, const char *text, const char *marks, size_t n,
                                bool glob, bool force);
void shell_word_glob (shell_t *sh, s_word_t *word);
size_t shell_find_arith_end (const s_parser_t *p, size_t i);
void shell_scan_arith (s_parser_t *p, s_wb_t *wb, size_t body, size_t end);
s_node_t *shell_parse_text (shell_t *sh, const char *text, size_t len, size_t depth,
                            const char *what);
bool shell_is_brace_candidate (const s_word_t *word);
size_t shell_brace_words (s_parser_t *p, const s_word_t *word, s_word_t **words);
s_word_t shell_make_word (const char *text);

//  shell_lexer.c: tokens
s_tok_t shell_lex (s_parser_t *p);

//  shell_parser.c
s_node_t *shell_parse_list (s_parser_t *p);
s_node_t *shell_parse_program (s_parser_t *p);

//  shell_emit.c
bool shell_emit_deeper (shell_t *sh, s_ectx_t *ctx);
const char *const *shell_add_wrapper (shell_t *sh, const char *const *list, size_t n,
                                      const char *name);
size_t shell_push_rec (shell_t *sh, const s_rec_t *rec);
void shell_note_call (shell_t *sh, const s_ectx_t *ctx, size_t index);
const shell_word_t *shell_merge_assigns (shell_t *sh, const shell_word_t *first, size_t nfirst,
                                         const shell_word_t *second, size_t nsecond, size_t *count);
void shell_emit (shell_t *sh, const s_node_t *node, const s_ectx_t *ctx);
void shell_find_recursion (shell_t *sh);

//  shell_wrappers.c
void shell_unwrap (shell_t *sh, const s_ectx_t *ctx, size_t index);

//  shell_wrappers_table.c: lookups (NULL or -1 when it is not there)
const s_wrap_t *shell_find_wrap (const char *name);
const char *shell_find_shell (const char *name);
const s_runner_t *shell_find_runner (const char *prog, const s_runner_t *prev);
const s_tmux_cmd_t *shell_find_tmux_cmd (const char *name);
const s_pkgexec_t *shell_find_pkgexec (s_wtype_t type);
int shell_bwrap_nargs (const char *opt);

#endif
