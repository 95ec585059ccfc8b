/*  policy_load.c -- loading a policy from its ZPL text, and freeing it.

    Checks the text (zconfig accepts more than POLICY.md allows, and says
    little about what it refuses), compiles every rule's patterns, and
    builds the indexes and the classifier that evaluation relies on. A
    policy that loads is complete: evaluation never finds a malformed rule.
*/
#include <errno.h>

#include "policy_internal.h"

#include <stddef.h>

#define MAX_POLICY_FILE (4 * 1024 * 1024)
#define MAX_ZPL_LINE    1024 //  zconfig cuts longer lines silently; we refuse them
//  zconfig finds each line's parent by walking all earlier siblings, so a
//  file's load time grows with (lines x siblings): these caps keep it
//  well under a second
#define MAX_SECTIONS 64
#define MAX_ENTRIES  10000 //  rules (or classes) in one section
#define MAX_KEYS     64    //  keys under one rule
#define MAX_LIST     512   //  patterns in one list

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

//  --------------------------------------------------------------------------
//  Loading

typedef struct {
    const char *name; //  file name for messages
    char *err;
    size_t err_size;
    bool failed;
} loader_t;

static void s_fail (loader_t *l, const char *where, const char *format, ...)
    __attribute__ ((format (printf, 3, 4)));

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
        policy_text_set (l->err, l->err_size, raw);
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
    if (!policy_text_is_utf8 (text, size)) {
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
        const char *why = policy_pattern_compile (&out->items[out->count], item, path, nocase);
        if (why) {
            policy_pattern_free (&out->items[out->count]);
            s_fail (l, where, "'%s': %s", item, why);
            return false;
        }
        out->count++;
        //  a/** also matches a itself
        if (path && len >= 3 && strcmp (item + len - 3, "/**") == 0 && len > 3) {
            item[len - 3] = 0;
            why = policy_pattern_compile (&out->items[out->count], item, path, nocase);
            if (why) {
                policy_pattern_free (&out->items[out->count]);
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
        //  escalate:CAPABILITY or escalate:CAPABILITY/N (a quorum of N experts)
        const char *slash = strchr (cap, '/');
        size_t n = slash ? (size_t) (slash - cap) : strlen (cap);
        act->quorum = 1;
        if (slash) {
            if (!(slash[1] >= '1' && slash[1] <= '0' + POLICY_QUORUM_MAX) || slash[2]) {
                s_fail (l, where, "quorum must be /1 to /%d: '%s'", POLICY_QUORUM_MAX, value);
                return false;
            }
            act->quorum = (uint8_t) (slash[1] - '0');
        }
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
        memcpy (act->capability, cap, n);
        act->capability[n] = 0;
    } else {
        s_fail (l, where, "bad action '%s' (allow, defer, deny or escalate:CAPABILITY[/N])", value);
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
        if (policy_streq_n (name, n, self->classes[i].name))
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
        else if (n == 2 && !policy_is_wild (f->text[1])) {
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

//  The rule keys that hold a pattern list: where it goes, whether its
//  patterns are paths, whether the rule's nocase applies to them
typedef struct {
    const char *key;
    size_t offset;
    bool paths;
    bool nocase;
} s_list_key_t;

static const s_list_key_t s_list_keys[] = {
    {"tool", offsetof (rule_t, tool), false, false},
    {"command", offsetof (rule_t, command), false, true},
    {"subcommand", offsetof (rule_t, subcommand), false, true},
    {"arg", offsetof (rule_t, arg), false, true},
    {"file", offsetof (rule_t, file), true, true},
    {"wrapper", offsetof (rule_t, wrapper), false, false},
    {"upstream", offsetof (rule_t, upstream), false, true},
    {"role", offsetof (rule_t, role), false, false},
    {"assign", offsetof (rule_t, assign), false, true},
    {"input", offsetof (rule_t, input), false, true},
    {"not_arg", offsetof (rule_t, not_arg), false, true},
    {"not_assign", offsetof (rule_t, not_assign), false, true},
};

static const s_list_key_t *
s_list_key (const char *key)
{
    for (size_t i = 0; i < sizeof (s_list_keys) / sizeof (s_list_keys[0]); i++)
        if (strcmp (key, s_list_keys[i].key) == 0)
            return &s_list_keys[i];
    return NULL;
}

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
        const s_list_key_t *list = s_list_key (key);
        if (list)
            ok = s_parse_list (l, kwhere, value, list->paths, list->nocase && r->nocase,
                               (plist_t *) ((char *) r + list->offset));
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
                    if (policy_streq_n (start, (size_t) (p - start), s_whens[i].name)) {
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
        if (policy_pattern_match (t, "Bash", 4))
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
    size_t i = policy_hash (key, n) & mask;
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
            bash = policy_pattern_match (&r->tool.items[i], "Bash", 4);
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
                key = policy_is_wild (b[n - 1]) ? KEY_ANY : (unsigned char) b[n - 1];
            } else {
                grp = pat->anchor == ANCHOR_HOME      ? GRP_HOME
                      : pat->anchor == ANCHOR_PROJECT ? GRP_PROJECT
                                                      : GRP_ABS;
                key = n < 2 ? 0 : policy_is_wild (b[1]) ? KEY_ANY : (unsigned char) b[1];
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
    self->dflt = (action_t){POLICY_DENY, RISK_CRITICAL, "", 0};
    self->unknown_tool = (action_t){POLICY_DENY, RISK_CRITICAL, "", 0};
    self->parse_error = (action_t){POLICY_DENY, RISK_CRITICAL, "", 0};
    self->bad_input = (action_t){POLICY_DENY, RISK_CRITICAL, "", 0};
    self->dynamic_command = (action_t){POLICY_ESCALATE, RISK_HIGH, "security", 1};
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
        policy_plist_free (lists[i]);
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
        policy_plist_free (&self->classes[i].patterns);
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
        policy_plist_free (&extra);
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
            policy_plist_free (&extra);
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
        policy_plist_free (&extra);
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
