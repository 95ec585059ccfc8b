/*  glob -- could two path patterns match the same path? (see glob.h) */
#include "glob.h"

#include <string.h>

#define MAX_PAIRS  32768           //  position pairs searched at most
#define MAX_STATES (3 * MAX_PAIRS) //  each in three places in a component

static void
s_set_add (glob_tok_t *t, unsigned char c)
{
    t->set[c >> 6] |= (uint64_t) 1 << (c & 63);
}

static void
s_set_all (glob_tok_t *t, bool slash)
{
    memset (t->set, 0xff, sizeof (t->set));
    if (!slash)
        t->set['/' >> 6] &= ~((uint64_t) 1 << ('/' & 63));
}

static bool
s_push (glob_tok_t *out, size_t max, size_t *count, glob_tok_t tok)
{
    if (*count >= max)
        return false;
    //  a run next to the same run adds nothing
    if (tok.run && *count && out[*count - 1].run &&
        memcmp (out[*count - 1].set, tok.set, sizeof (tok.set)) == 0)
        return true;
    out[(*count)++] = tok;
    return true;
}

static glob_tok_t
s_one (unsigned char c)
{
    glob_tok_t t = {{0, 0, 0, 0}, false, false};
    s_set_add (&t, c);
    return t;
}

bool
glob_literal (const char *text, size_t n, glob_tok_t *out, size_t max, size_t *count)
{
    for (size_t i = 0; i < n; i++)
        if (!s_push (out, max, count, s_one ((unsigned char) text[i])))
            return false;
    return true;
}

//  A bash bracket expression at text[i] == '['; on success *end is the
//  index after its ']'. False when there is no closing ']' (then '[' is a
//  literal character, as in bash).
static bool
s_bracket (const char *text, size_t n, size_t i, glob_tok_t *tok, size_t *end)
{
    size_t j = i + 1;
    bool negate = j < n && (text[j] == '!' || text[j] == '^');
    if (negate)
        j++;
    glob_tok_t set = {{0, 0, 0, 0}, false, false};
    bool named = false;
    bool first = true;
    while (j < n) {
        unsigned char c = (unsigned char) text[j];
        if (c == ']' && !first)
            break;
        if (c == '/')
            return false; //  bash: a bracket expression never spans a /
        first = false;
        if (c == '[' && j + 1 < n &&
            (text[j + 1] == ':' || text[j + 1] == '=' || text[j + 1] == '.')) {
            //  [:alpha:] [=a=] [.a.]: taken as "any character" (see below)
            char kind = text[j + 1];
            size_t k = j + 2;
            while (k + 1 < n && !(text[k] == kind && text[k + 1] == ']'))
                k++;
            if (k + 1 >= n)
                return false;
            named = true;
            j = k + 2;
            continue;
        }
        if (c == '\\' && j + 1 < n)
            c = (unsigned char) text[++j];
        if (j + 2 < n && text[j + 1] == '-' && text[j + 2] != ']') {
            unsigned char hi = (unsigned char) text[j + 2];
            size_t skip = 3;
            if (hi == '\\' && j + 3 < n) {
                hi = (unsigned char) text[j + 3];
                skip = 4;
            }
            for (unsigned v = c; v <= hi; v++)
                s_set_add (&set, (unsigned char) v);
            j += skip;
            continue;
        }
        s_set_add (&set, c);
        j++;
    }
    if (j >= n)
        return false;
    //  named classes are approximated by "anything but /" both ways, so
    //  the answer stays "could match" whether or not the set is negated
    if (named)
        s_set_all (&set, false);
    else if (negate)
        for (int w = 0; w < 4; w++)
            set.set[w] = ~set.set[w];
    set.set['/' >> 6] &= ~((uint64_t) 1 << ('/' & 63)); //  a glob never matches /
    *tok = set;
    *end = j + 1;
    return true;
}

bool
glob_compile (const char *text, size_t n, glob_syntax_t syntax, glob_tok_t *out, size_t max,
              size_t *count)
{
    size_t i = 0;
    while (i < n) {
        unsigned char c = (unsigned char) text[i];
        glob_tok_t tok = {{0, 0, 0, 0}, false, false};
        if (c == '*') {
            bool twice = syntax == GLOB_POLICY && i + 1 < n && text[i + 1] == '*';
            s_set_all (&tok, twice);
            tok.run = true;
            tok.wild = syntax == GLOB_SHELL;
            i += twice ? 2 : 1;
        } else if (c == '?') {
            s_set_all (&tok, false);
            tok.wild = syntax == GLOB_SHELL;
            i++;
        } else if (syntax == GLOB_SHELL &&
                   (c == (unsigned char) GLOB_ANY_TEXT || c == (unsigned char) GLOB_ANY_NAME)) {
            s_set_all (&tok, c == (unsigned char) GLOB_ANY_TEXT);
            tok.run = true;
            i++;
        } else if (syntax == GLOB_SHELL && c == '\\' && i + 1 < n) {
            tok = s_one ((unsigned char) text[i + 1]);
            i += 2;
        } else if (syntax == GLOB_SHELL && c == '[') {
            size_t end;
            if (s_bracket (text, n, i, &tok, &end)) {
                tok.wild = true;
                i = end;
            } else {
                tok = s_one (c);
                i++;
            }
        } else {
            tok = s_one (c);
            i++;
        }
        if (!s_push (out, max, count, tok))
            return false;
    }
    return true;
}

bool
glob_overlap (const glob_tok_t *a, size_t na, const glob_tok_t *b, size_t nb, bool dotglob)
{
    //  A state is (position in a, position in b, where in a component we
    //  are): 0 inside, 1 at its start, 2 at its start after a's wildcard
    //  matched nothing there. Without dotglob a component of a that starts
    //  with a wildcard matches no name that starts with '.' (bash): so at
    //  1 a wildcard of a, and at 2 anything of a, may not put a '.' there.
    size_t width = nb + 1;
    size_t pairs = (na + 1) * width;
    if (pairs > MAX_PAIRS)
        return true;
    uint64_t seen[MAX_STATES / 64];
    memset (seen, 0, (pairs * 3 + 63) / 64 * sizeof (uint64_t));
    //  each state is pushed at most once: the stack never outgrows them
    static _Thread_local uint32_t stack[MAX_STATES];
    size_t top = 0;
#define VISIT(I, J, F)                                                                             \
    do {                                                                                           \
        size_t k_ = ((I) *width + (J)) * 3 + (F);                                                  \
        if (!(seen[k_ >> 6] & ((uint64_t) 1 << (k_ & 63)))) {                                      \
            seen[k_ >> 6] |= (uint64_t) 1 << (k_ & 63);                                            \
            stack[top++] = (uint32_t) k_;                                                          \
        }                                                                                          \
    } while (0)
    VISIT (0, 0, 1); //  the text starts a component
    while (top) {
        size_t k = stack[--top];
        size_t where = k % 3;
        k /= 3;
        size_t i = k / width, j = k % width;
        if (i == na && j == nb)
            return true;
        if (i < na && a[i].run)
            VISIT (i + 1, j, where == 1 && a[i].wild && !dotglob ? 2 : where);
        if (j < nb && b[j].run)
            VISIT (i, j + 1, where);
        if (i < na && j < nb) {
            glob_tok_t meet;
            for (int w = 0; w < 4; w++)
                meet.set[w] = a[i].set[w] & b[j].set[w];
            if (!dotglob && ((where == 1 && a[i].wild) || where == 2))
                meet.set['.' >> 6] &= ~((uint64_t) 1 << ('.' & 63));
            bool slash = meet.set['/' >> 6] & ((uint64_t) 1 << ('/' & 63));
            meet.set['/' >> 6] &= ~((uint64_t) 1 << ('/' & 63));
            bool other = meet.set[0] || meet.set[1] || meet.set[2] || meet.set[3];
            size_t ni = a[i].run ? i : i + 1;
            size_t nj = b[j].run ? j : j + 1;
            if (slash)
                VISIT (ni, nj, 1);
            if (other)
                VISIT (ni, nj, 0);
        }
    }
#undef VISIT
    return false;
}

bool
glob_is_wild (const char *text, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        char c = text[i];
        if (c == '\\') {
            i++;
            continue;
        }
        if (c == '*' || c == '?' || c == '[' || c == GLOB_ANY_TEXT || c == GLOB_ANY_NAME)
            return true;
    }
    return false;
}
