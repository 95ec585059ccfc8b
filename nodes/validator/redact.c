/*  redact -- secrets out of what the validator logs. See redact.h. */
#include "redact.h"

#include "codec.h"

#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define MAX_NAME 64 //  bytes of an assignment's name looked at

struct _redact_t {
    uint8_t key[REDACT_KEY_SIZE];
};

redact_t *
redact_new (const uint8_t *key)
{
    if (!key || sodium_init () < 0)
        return NULL;
    redact_t *self = (redact_t *) calloc (1, sizeof (redact_t));
    if (self)
        memcpy (self->key, key, REDACT_KEY_SIZE);
    return self;
}

void
redact_destroy (redact_t **self_p)
{
    if (self_p && *self_p) {
        sodium_memzero ((*self_p)->key, REDACT_KEY_SIZE);
        free (*self_p);
        *self_p = NULL;
    }
}

//  Creates path with a fresh key: written to a temporary file first and
//  linked into place, so a validator starting beside this one never reads a
//  half-written key. EEXIST when another process won.
static int
s_create_key (const char *path)
{
    char tmp[4200];
    if (snprintf (tmp, sizeof (tmp), "%s.%ld.tmp", path, (long) getpid ()) >= (int) sizeof (tmp))
        return ENAMETOOLONG;
    uint8_t key[REDACT_KEY_SIZE];
    char hex[REDACT_KEY_SIZE * 2 + 2];
    randombytes_buf (key, sizeof (key));
    sodium_bin2hex (hex, sizeof (hex), key, sizeof (key));
    sodium_memzero (key, sizeof (key));
    strcat (hex, "\n");
    int fd = open (tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0)
        return errno;
    size_t len = strlen (hex);
    int rc = write (fd, hex, len) == (ssize_t) len && fsync (fd) == 0 ? 0 : errno ? errno : EIO;
    sodium_memzero (hex, sizeof (hex));
    close (fd);
    if (rc == 0 && link (tmp, path) != 0)
        rc = errno;
    unlink (tmp);
    return rc;
}

redact_t *
redact_open (const char *path, char *err, size_t err_size)
{
    if (!path || !*path) {
        snprintf (err, err_size, "no redaction key path");
        return NULL;
    }
    if (sodium_init () < 0) {
        snprintf (err, err_size, "libsodium failed to initialise");
        return NULL;
    }
    struct stat st;
    if (stat (path, &st) != 0) {
        int rc = errno == ENOENT ? s_create_key (path) : errno;
        if (rc != 0 && rc != EEXIST) {
            snprintf (err, err_size, "cannot create the redaction key %s: %s", path, strerror (rc));
            return NULL;
        }
    }
    int fd = open (path, O_RDONLY | O_CLOEXEC);
    if (fd < 0 || fstat (fd, &st) != 0) {
        snprintf (err, err_size, "cannot read the redaction key %s: %s", path, strerror (errno));
        if (fd >= 0)
            close (fd);
        return NULL;
    }
    if (st.st_mode & 077) {
        close (fd);
        snprintf (err, err_size,
                  "the redaction key %s may be read by others (mode %03o): chmod 600", path,
                  (unsigned) (st.st_mode & 0777));
        return NULL;
    }
    char hex[REDACT_KEY_SIZE * 2 + 8];
    ssize_t got = read (fd, hex, sizeof (hex) - 1);
    close (fd);
    uint8_t key[REDACT_KEY_SIZE];
    size_t bin_len = 0;
    const char *end = NULL;
    bool ok = got >= REDACT_KEY_SIZE * 2;
    if (ok) {
        hex[got] = 0;
        ok = sodium_hex2bin (key, sizeof (key), hex, (size_t) got, NULL, &bin_len, &end) == 0 &&
             bin_len == REDACT_KEY_SIZE && (*end == 0 || *end == '\n' || *end == '\r');
    }
    sodium_memzero (hex, sizeof (hex));
    if (!ok) {
        snprintf (err, err_size, "the redaction key %s is not 64 hex digits", path);
        return NULL;
    }
    redact_t *self = redact_new (key);
    sodium_memzero (key, sizeof (key));
    if (!self)
        snprintf (err, err_size, "out of memory");
    return self;
}

void
redact_marker (const redact_t *self, const char *secret, size_t len,
               char marker[REDACT_MARKER_SZ + 1])
{
    uint8_t hash[crypto_generichash_BYTES_MIN];
    crypto_generichash (hash, sizeof (hash), (const uint8_t *) secret, len, self->key,
                        REDACT_KEY_SIZE);
    char hex[sizeof (hash) * 2 + 1];
    sodium_bin2hex (hex, sizeof (hex), hash, sizeof (hash));
    snprintf (marker, REDACT_MARKER_SZ + 1, "%s%.*s]", REDACT_MARKER, REDACT_HASH_HEX, hex);
}

//  --------------------------------------------------------------------------
//  The scanner

typedef struct {
    const redact_t *r;
    const char *t;
    size_t n;
    msgpack_sbuffer *out;
    size_t copied; //  t[0..copied) is in out
    size_t count;
    //  The command segment (between ; | & and newlines) runs one of these
    bool mysql, curl, sshpass;
} scan_t;

static bool
s_alnum (char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

static bool
s_space (char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

static bool
s_starts (const scan_t *s, size_t i, const char *prefix)
{
    size_t len = strlen (prefix);
    return i + len <= s->n && memcmp (s->t + i, prefix, len) == 0;
}

//  Whether t[a..b) is worth replacing: not empty, a variable, or a marker.
static bool
s_secret (const scan_t *s, size_t a, size_t b)
{
    if (b <= a || s->t[a] == '$')
        return false;
    size_t mlen = strlen (REDACT_MARKER);
    return !(b - a >= mlen && memcmp (s->t + a, REDACT_MARKER, mlen) == 0);
}

//  Replaces t[a..b) (a >= copied) and returns b.
static size_t
s_emit (scan_t *s, size_t a, size_t b)
{
    if (a > s->copied) //  msgpack's write does pointer arithmetic on an empty buffer
        msgpack_sbuffer_write (s->out, s->t + s->copied, a - s->copied);
    char marker[REDACT_MARKER_SZ + 1];
    redact_marker (s->r, s->t + a, b - a, marker);
    msgpack_sbuffer_write (s->out, marker, REDACT_MARKER_SZ);
    s->copied = b;
    s->count++;
    return b;
}

//  A value starting at a: a quoted string (its inside), or a word up to a
//  space, quote or shell operator. Sets [*va, *vb).
static void
s_value (const scan_t *s, size_t a, bool quotes, size_t *va, size_t *vb)
{
    if (quotes && a < s->n && (s->t[a] == '"' || s->t[a] == '\'')) {
        char q = s->t[a];
        size_t b = a + 1;
        while (b < s->n && s->t[b] != q && !(q == '"' && s->t[b] == '\\' && ++b >= s->n))
            b++;
        *va = a + 1;
        *vb = b > s->n ? s->n : b;
        return;
    }
    size_t b = a;
    while (b < s->n && !s_space (s->t[b]) && !strchr ("\"'`;&|()<>,}", s->t[b]))
        b++;
    *va = a;
    *vb = b;
}

//  The next word after position a (skipping blanks): its value range.
static bool
s_next_word (const scan_t *s, size_t a, size_t *va, size_t *vb)
{
    while (a < s->n && (s->t[a] == ' ' || s->t[a] == '\t'))
        a++;
    if (a >= s->n || s->t[a] == '\n')
        return false;
    s_value (s, a, true, va, vb);
    return true;
}

//  Name suffixes that make an assignment's value a secret (lower case, no
//  '-', '_' or '.')
static const char *s_keywords[] = {"password", "passwd",    "passphrase", "secret",    "token",
                                   "apikey",   "secretkey", "accesskey",  "privatekey"};

//  Normalises name[0..len) into out; false when too long.
static bool
s_normalise (const char *name, size_t len, char *out, size_t size)
{
    size_t k = 0;
    for (size_t i = 0; i < len; i++) {
        char c = name[i];
        if (c == '-' || c == '_' || c == '.')
            continue;
        if (k + 1 >= size)
            return false;
        out[k++] = (char) (c >= 'A' && c <= 'Z' ? c + 32 : c);
    }
    out[k] = 0;
    return true;
}

static bool
s_secret_name (const char *name, size_t len)
{
    char norm[MAX_NAME + 1];
    if (len == 0 || len > MAX_NAME || !s_normalise (name, len, norm, sizeof (norm)))
        return false;
    size_t nlen = strlen (norm);
    for (size_t i = 0; i < sizeof (s_keywords) / sizeof (s_keywords[0]); i++) {
        size_t klen = strlen (s_keywords[i]);
        if (nlen >= klen && memcmp (norm + nlen - klen, s_keywords[i], klen) == 0)
            return true;
    }
    return false;
}

static bool
s_auth_name (const char *name, size_t len)
{
    char norm[MAX_NAME + 1];
    return len <= MAX_NAME && s_normalise (name, len, norm, sizeof (norm)) &&
           (strcmp (norm, "authorization") == 0 || strcmp (norm, "proxyauthorization") == 0);
}

//  Provider tokens: prefix, then at least min characters of the class.
typedef enum { CLS_UPPER_DIGIT, CLS_ALNUM, CLS_ALNUM_UNDER, CLS_ALNUM_DASH } cls_t;
typedef struct {
    const char *prefix;
    cls_t cls;
    size_t min, max; //  body length; max 0: unbounded
    bool mixed;      //  the body must hold an upper case letter, a lower case one and a digit
} token_t;

static const token_t s_tokens[] = {
    {"AKIA", CLS_UPPER_DIGIT, 16, 16, false},
    {"ASIA", CLS_UPPER_DIGIT, 16, 16, false},
    {"ABIA", CLS_UPPER_DIGIT, 16, 16, false},
    {"ACCA", CLS_UPPER_DIGIT, 16, 16, false},
    {"AGPA", CLS_UPPER_DIGIT, 16, 16, false},
    {"AIDA", CLS_UPPER_DIGIT, 16, 16, false},
    {"AROA", CLS_UPPER_DIGIT, 16, 16, false},
    {"AIPA", CLS_UPPER_DIGIT, 16, 16, false},
    {"ANPA", CLS_UPPER_DIGIT, 16, 16, false},
    {"ANVA", CLS_UPPER_DIGIT, 16, 16, false},
    {"APKA", CLS_UPPER_DIGIT, 16, 16, false},
    {"ghp_", CLS_ALNUM, 30, 0, false},
    {"gho_", CLS_ALNUM, 30, 0, false},
    {"ghs_", CLS_ALNUM, 30, 0, false},
    {"ghu_", CLS_ALNUM, 30, 0, false},
    {"ghr_", CLS_ALNUM, 30, 0, false},
    {"github_pat_", CLS_ALNUM_UNDER, 20, 0, false},
    {"glpat-", CLS_ALNUM_DASH, 20, 0, false},
    {"xoxa-", CLS_ALNUM_DASH, 10, 0, false},
    {"xoxb-", CLS_ALNUM_DASH, 10, 0, false},
    {"xoxe-", CLS_ALNUM_DASH, 10, 0, false},
    {"xoxo-", CLS_ALNUM_DASH, 10, 0, false},
    {"xoxp-", CLS_ALNUM_DASH, 10, 0, false},
    {"xoxr-", CLS_ALNUM_DASH, 10, 0, false},
    {"xoxs-", CLS_ALNUM_DASH, 10, 0, false},
    {"sk_live_", CLS_ALNUM, 16, 0, false},
    {"rk_live_", CLS_ALNUM, 16, 0, false},
    {"sk_test_", CLS_ALNUM, 16, 0, false},
    {"rk_test_", CLS_ALNUM, 16, 0, false},
    {"sk-", CLS_ALNUM_DASH, 20, 0, true},
    {"AIza", CLS_ALNUM_DASH, 30, 0, false},
    {"npm_", CLS_ALNUM, 30, 0, false},
    {"pypi-", CLS_ALNUM_DASH, 50, 0, false},
};

static bool
s_in_class (char c, cls_t cls)
{
    switch (cls) {
    case CLS_UPPER_DIGIT:
        return (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
    case CLS_ALNUM:
        return s_alnum (c);
    case CLS_ALNUM_UNDER:
        return s_alnum (c) || c == '_';
    case CLS_ALNUM_DASH:
        return s_alnum (c) || c == '_' || c == '-';
    }
    return false;
}

//  A provider token starting at i (a word boundary): its end, or i.
static size_t
s_token (const scan_t *s, size_t i)
{
    for (size_t k = 0; k < sizeof (s_tokens) / sizeof (s_tokens[0]); k++) {
        const token_t *tok = &s_tokens[k];
        if (!s_starts (s, i, tok->prefix))
            continue;
        size_t a = i + strlen (tok->prefix), b = a;
        bool upper = false, lower = false, digit = false;
        while (b < s->n && s_in_class (s->t[b], tok->cls)) {
            char c = s->t[b++];
            upper |= c >= 'A' && c <= 'Z';
            lower |= c >= 'a' && c <= 'z';
            digit |= c >= '0' && c <= '9';
        }
        size_t len = b - a;
        if (len < tok->min || (tok->max && len != tok->max) ||
            (tok->mixed && !(upper && lower && digit)))
            continue;
        if (tok->max && b < s->n && s_alnum (s->t[b]))
            continue;
        return b;
    }
    return i;
}

//  A JWT (header.payload.signature, both first parts JSON objects) at i.
static size_t
s_jwt (const scan_t *s, size_t i)
{
    size_t b = i;
    for (int part = 0; part < 3; part++) {
        if (part < 2 && !s_starts (s, b, "eyJ"))
            return i;
        size_t a = b;
        while (b < s->n && s_in_class (s->t[b], CLS_ALNUM_DASH))
            b++;
        if (part < 2 && (b - a < 10 || b >= s->n || s->t[b] != '.'))
            return i;
        if (part < 2)
            b++;
    }
    return b;
}

//  A PEM private key block at i: its end (the text's end without END).
static size_t
s_pem (const scan_t *s, size_t i)
{
    if (!s_starts (s, i, "-----BEGIN "))
        return i;
    size_t eol = i;
    while (eol < s->n && s->t[eol] != '\n' && eol - i < 80)
        eol++;
    const char *tag = "PRIVATE KEY-----";
    size_t tlen = strlen (tag);
    bool key = false;
    for (size_t k = i; k + tlen <= eol && !key; k++)
        key = memcmp (s->t + k, tag, tlen) == 0;
    if (!key)
        return i;
    for (size_t k = eol; k + 9 <= s->n; k++)
        if (memcmp (s->t + k, "-----END ", 9) == 0) {
            for (size_t e = k + 9; e + tlen <= s->n && e < k + 80; e++)
                if (memcmp (s->t + e, tag, tlen) == 0)
                    return e + tlen;
            break;
        }
    return s->n;
}

//  "Bearer <token>" at i (a word boundary, any case): the token's range.
static bool
s_bearer (const scan_t *s, size_t i, size_t *va, size_t *vb)
{
    if (i + 7 > s->n || strncasecmp (s->t + i, "bearer", 6) != 0 || !s_space (s->t[i + 6]))
        return false;
    size_t a = i + 6;
    while (a < s->n && (s->t[a] == ' ' || s->t[a] == '\t'))
        a++;
    size_t b = a;
    while (b < s->n && (s_alnum (s->t[b]) || strchr ("._~+/=-", s->t[b])))
        b++;
    *va = a;
    *vb = b;
    return b - a >= 8;
}

//  scheme://user:SECRET@ at i (the "://"): the secret's range.
static bool
s_url (const scan_t *s, size_t i, size_t *va, size_t *vb)
{
    if (!s_starts (s, i, "://"))
        return false;
    size_t a = i + 3, b = a, colon = 0;
    //  A token already replaced where the user name goes: its marker's ':' is no separator
    if (s_starts (s, a, REDACT_MARKER))
        b = a + REDACT_MARKER_SZ;
    while (b < s->n && !s_space (s->t[b]) && !strchr ("/@?#\"'", s->t[b])) {
        if (s->t[b] == ':' && !colon)
            colon = b;
        b++;
    }
    if (b >= s->n || s->t[b] != '@' || !colon)
        return false;
    *va = colon + 1;
    *vb = b;
    return true;
}

//  NAME=VALUE, NAME: VALUE, "NAME": "VALUE" with t[i] the '=' or ':'.
static bool
s_assignment (const scan_t *s, size_t i, size_t *va, size_t *vb)
{
    char op = s->t[i];
    if (op != '=' && op != ':')
        return false;
    size_t end = i;
    bool quoted = false;
    //  "name = value" as in ini files
    while (op == '=' && end > 0 && s->t[end - 1] == ' ' && i - end < 4)
        end--;
    if (op == ':' && i > 0 && (s->t[i - 1] == '"' || s->t[i - 1] == '\'')) {
        quoted = true;
        end = i - 1;
    }
    size_t start = end;
    while (start > 0 && end - start < MAX_NAME &&
           (s_alnum (s->t[start - 1]) || strchr ("_.-", s->t[start - 1])))
        start--;
    if (start == end || (quoted && (start == 0 || s->t[start - 1] != s->t[end])))
        return false;
    const char *name = s->t + start;
    size_t len = end - start;
    size_t a = i + 1;
    if (op == '=' && end < i)
        while (a < s->n && s->t[a] == ' ')
            a++;
    if (op == ':') {
        if (s_starts (s, a, "//"))
            return false;
        while (a < s->n && (s->t[a] == ' ' || s->t[a] == '\t'))
            a++;
        //  An unquoted "name: " is only a header or YAML key when a plain value follows
        if (!quoted && a < s->n && (s->t[a] == '"' || s->t[a] == '\''))
            return false;
    }
    if (s_auth_name (name, len)) {
        //  Keep the scheme word (Basic, Bearer, token, ...)
        size_t w = a;
        bool q = a < s->n && (s->t[a] == '"' || s->t[a] == '\'');
        w += q;
        size_t k = w;
        while (k < s->n &&
               ((s->t[k] >= 'a' && s->t[k] <= 'z') || (s->t[k] >= 'A' && s->t[k] <= 'Z')))
            k++;
        if (k > w && k < s->n && s->t[k] == ' ') {
            while (k < s->n && s->t[k] == ' ')
                k++;
            size_t b = k;
            while (b < s->n && !s_space (s->t[b]) && !strchr ("\"'`;&|<>", s->t[b]))
                b++;
            *va = k;
            *vb = b;
            return true;
        }
        s_value (s, a, true, va, vb);
        return true;
    }
    if (!s_secret_name (name, len))
        return false;
    s_value (s, a, op == '=' || quoted, va, vb);
    return true;
}

static bool
s_word_start (const scan_t *s, size_t i)
{
    return i == 0 || s_space (s->t[i - 1]) || strchr (";|&(\"'`", s->t[i - 1]);
}

//  Programs whose command segment changes what -p and -u mean
static void
s_note_program (scan_t *s, size_t i)
{
    size_t b = i;
    while (b < s->n && !s_space (s->t[b]) && !strchr ("\"'`;&|()<>", s->t[b]))
        b++;
    size_t a = b;
    while (a > i && s->t[a - 1] != '/')
        a--;
    size_t len = b - a;
    static const char *mysql[] = {"mysql",     "mysqldump",    "mysqladmin",    "mysqlimport",
                                  "mysqlshow", "mysqlcheck",   "mysqlbinlog",   "mysqlpump",
                                  "mariadb",   "mariadb-dump", "mariadb-admin", "mysqlsh"};
    for (size_t k = 0; k < sizeof (mysql) / sizeof (mysql[0]); k++)
        if (len == strlen (mysql[k]) && memcmp (s->t + a, mysql[k], len) == 0)
            s->mysql = true;
    if (len == 4 && memcmp (s->t + a, "curl", 4) == 0)
        s->curl = true;
    if (len == 7 && memcmp (s->t + a, "sshpass", 7) == 0)
        s->sshpass = true;
}

//  Options of command-line programs at a word start i: a secret's range.
static bool
s_option (scan_t *s, size_t i, size_t *va, size_t *vb)
{
    size_t we = i;
    while (we < s->n && !s_space (s->t[we]) && !strchr ("\"'`;&|()<>", s->t[we]))
        we++;
    size_t len = we - i;
    const char *w = s->t + i;
    if ((len == 10 && memcmp (w, "--password", 10) == 0) ||
        (len == 8 && memcmp (w, "--passwd", 8) == 0))
        return we < s->n && s->t[we] != '\n' && s_next_word (s, we, va, vb);
    bool dash_p = len >= 2 && w[0] == '-' && w[1] == 'p';
    bool attached = i + 2 < s->n && !s_space (s->t[i + 2]) && !strchr (";&|()<>", s->t[i + 2]);
    if ((s->mysql || s->sshpass) && dash_p && attached) {
        s_value (s, i + 2, true, va, vb);
        return true;
    }
    if (s->sshpass && dash_p && len == 2 && !attached)
        return s_next_word (s, we, va, vb);
    if (s->curl) {
        size_t a = 0, b = 0;
        if ((len == 2 && memcmp (w, "-u", 2) == 0) || (len == 6 && memcmp (w, "--user", 6) == 0)) {
            if (!s_next_word (s, we, &a, &b))
                return false;
        } else if (len > 2 && memcmp (w, "-u", 2) == 0)
            s_value (s, i + 2, true, &a, &b);
        else
            return false;
        const char *colon = memchr (s->t + a, ':', b - a);
        if (!colon)
            return false;
        *va = (size_t) (colon - s->t) + 1;
        *vb = b;
        return true;
    }
    return false;
}

size_t
redact_text (const redact_t *self, const char *text, size_t len, msgpack_sbuffer *out)
{
    scan_t s = {.r = self, .t = text, .n = len, .out = out};
    size_t i = 0;
    bool first_word = true; //  the next word starts a command
    while (i < len) {
        char c = text[i];
        if (c == ';' || c == '|' || c == '&' || c == '\n' || c == '(') {
            s.mysql = s.curl = s.sshpass = false;
            first_word = true;
            i++;
            continue;
        }
        size_t va = 0, vb = 0, end = i;
        bool boundary = i == 0 || !(s_alnum (text[i - 1]) || text[i - 1] == '_');
        if (s_word_start (&s, i) && !s_space (c)) {
            if (first_word)
                s_note_program (&s, i);
            //  sudo, env, nice... : the program comes later; any word may name it
            else if (!s.mysql && !s.curl && !s.sshpass)
                s_note_program (&s, i);
            first_word = false;
            if (s_option (&s, i, &va, &vb) && s_secret (&s, va, vb)) {
                i = s_emit (&s, va, vb);
                continue;
            }
        }
        if (boundary) {
            if ((end = s_pem (&s, i)) > i || (end = s_token (&s, i)) > i ||
                (end = s_jwt (&s, i)) > i) {
                if (s_secret (&s, i, end)) {
                    i = s_emit (&s, i, end);
                    continue;
                }
            }
            if (s_bearer (&s, i, &va, &vb) && s_secret (&s, va, vb)) {
                i = s_emit (&s, va, vb);
                continue;
            }
        }
        if ((s_url (&s, i, &va, &vb) || s_assignment (&s, i, &va, &vb)) && s_secret (&s, va, vb)) {
            i = s_emit (&s, va, vb);
            continue;
        }
        i++;
    }
    if (len > s.copied) //  msgpack's write does pointer arithmetic on an empty buffer
        msgpack_sbuffer_write (out, text + s.copied, len - s.copied);
    return s.count;
}

size_t
redact_pack (const redact_t *self, const msgpack_object *obj, msgpack_packer *pk)
{
    size_t count = 0;
    switch (obj->type) {
    case MSGPACK_OBJECT_STR: {
        msgpack_sbuffer buf;
        msgpack_sbuffer_init (&buf);
        count = redact_text (self, obj->via.str.ptr, obj->via.str.size, &buf);
        msgpack_pack_str (pk, buf.size);
        msgpack_pack_str_body (pk, buf.data ? buf.data : "", buf.size);
        msgpack_sbuffer_destroy (&buf);
        break;
    }
    case MSGPACK_OBJECT_ARRAY:
        msgpack_pack_array (pk, obj->via.array.size);
        for (uint32_t i = 0; i < obj->via.array.size; i++)
            count += redact_pack (self, &obj->via.array.ptr[i], pk);
        break;
    case MSGPACK_OBJECT_MAP:
        msgpack_pack_map (pk, obj->via.map.size);
        for (uint32_t i = 0; i < obj->via.map.size; i++) {
            const msgpack_object *k = &obj->via.map.ptr[i].key;
            const msgpack_object *v = &obj->via.map.ptr[i].val;
            msgpack_pack_object (pk, *k);
            const char *name = k->type == MSGPACK_OBJECT_STR ? k->via.str.ptr : NULL;
            size_t nlen = name ? k->via.str.size : 0;
            scan_t s = {.t = v->via.str.ptr, .n = v->via.str.size};
            if (name && v->type == MSGPACK_OBJECT_STR &&
                (s_secret_name (name, nlen) || s_auth_name (name, nlen)) &&
                s_secret (&s, 0, v->via.str.size)) {
                char marker[REDACT_MARKER_SZ + 1];
                redact_marker (self, v->via.str.ptr, v->via.str.size, marker);
                codec_pack_str (pk, marker);
                count++;
            } else
                count += redact_pack (self, v, pk);
        }
        break;
    default:
        msgpack_pack_object (pk, *obj);
    }
    return count;
}
