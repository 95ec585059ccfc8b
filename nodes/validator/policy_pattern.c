/*  policy_pattern.c -- compiling the policy's patterns and matching them.

    A pattern is compiled once at load into its literal prefix and suffix
    and a wildcard section of at most 63 tokens, matched as a bit-parallel
    NFA. Matching runs for every rule a command meets, so the common
    failures (first or last character, a missing literal run) are found
    before the NFA starts. Anchored path patterns (~, $PROJECT) are matched
    in policy_paths.c, which knows the evaluation's directories.
*/
#include "policy_internal.h"

//  Compiles pat (path: * and ? stop at '/', anchors apply). Returns NULL
//  or a static error.
const char *
policy_pattern_compile (pattern_t *self, const char *text, bool path, bool nocase)
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
        if (policy_is_wild (b[i])) {
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

void
policy_pattern_free (pattern_t *self)
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
bool
policy_mem_contains (const char *t, size_t n, const char *run, size_t rn, bool nocase)
{
    if (rn > n)
        return false;
    if (!nocase)
        return memmem (t, n, run, rn) != NULL;
    int first = policy_lower ((unsigned char) run[0]);
    for (size_t i = 0; i + rn <= n; i++)
        if (policy_lower ((unsigned char) t[i]) == first &&
            policy_mem_eq (t + i + 1, run + 1, rn - 1, true))
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
            !policy_mem_eq (slash, p->lits + 1, p->lead_run, p->nocase))
            return false;
    }
    if (p->run_len && !policy_mem_contains (t, n, p->lits + p->run_off, p->run_len, p->nocase))
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
                if (policy_ch_eq (p->lits[k], c, p->nocase))
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
bool
policy_pattern_match_body (const pattern_t *p, const char *t, size_t n)
{
    const char *b = p->body;
    if (p->literal)
        return n == p->body_len && (n == 0 || policy_ch_eq (b[0], t[0], p->nocase)) &&
               policy_mem_eq (b, t, n, p->nocase);
    if (n < p->prefix_len + p->suffix_len)
        return false;
    //  first and last characters inline: most patterns fail there
    if (p->prefix_len && !policy_ch_eq (b[0], t[0], p->nocase))
        return false;
    if (p->suffix_len && !policy_ch_eq (b[p->body_len - 1], t[n - 1], p->nocase))
        return false;
    if (!policy_mem_eq (b, t, p->prefix_len, p->nocase))
        return false;
    if (!policy_mem_eq (b + p->body_len - p->suffix_len, t + n - p->suffix_len, p->suffix_len,
                        p->nocase))
        return false;
    return s_match_middle (p, t + p->prefix_len, n - p->prefix_len - p->suffix_len);
}

//  A text pattern against a word
bool
policy_pattern_match (const pattern_t *p, const char *t, size_t n)
{
    return policy_pattern_match_body (p, t, n);
}

bool
policy_plist_match (const plist_t *list, const char *t, size_t n)
{
    for (size_t i = 0; i < list->count; i++)
        if (policy_pattern_match (&list->items[i], t, n))
            return true;
    return false;
}

void
policy_plist_free (plist_t *list)
{
    for (size_t i = 0; i < list->count; i++)
        policy_pattern_free (&list->items[i]);
    free (list->items);
    list->items = NULL;
    list->count = 0;
}
