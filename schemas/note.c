/*  note -- C2SP signed notes and tlog-checkpoints with Ed25519. See note.h. */
#include "note.h"

#include <inttypes.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define S_ALG_ED25519  0x01
#define S_DASH         "\xe2\x80\x94 " // U+2014 EM DASH, space
#define S_DASH_LEN     4
#define S_PRIVATE      "PRIVATE+KEY+"
#define S_PRIVATE_LEN  12
#define S_KEY_RAW      (1 + 32) // type byte || public key or seed
#define S_KEY_B64_SIZE sodium_base64_ENCODED_LEN (S_KEY_RAW, sodium_base64_VARIANT_ORIGINAL)
#define S_BLOB_SIZE    (4 + crypto_sign_BYTES)
#define S_B64          sodium_base64_VARIANT_ORIGINAL

struct _note_key_t {
    char name[NOTE_MAX_NAME + 1];
    uint32_t id;
    unsigned char pk[crypto_sign_PUBLICKEYBYTES];
    unsigned char sk[crypto_sign_SECRETKEYBYTES]; // valid when can_sign
    bool can_sign;
};

//  One parsed signature line; pointers into the note and into a decode buffer
typedef struct {
    const char *line; // from the dash, newline excluded
    size_t line_len;
    const char *name;
    size_t name_len;
    uint32_t id;
    const unsigned char *sig; // after the key id
    size_t sig_len;
} s_sig_t;

typedef struct {
    size_t body_len;
    size_t nsigs;
    s_sig_t sigs[NOTE_MAX_SIGS];
    unsigned char *decoded; // heap, every decoded signature back to back
} s_note_t;

//  One UTF-8 sequence: its length, or 0 if truncated, overlong, a surrogate or too large
static size_t
s_utf8_next (const unsigned char *p, size_t len, uint32_t *cp)
{
    unsigned char c = p[0];
    size_t n;
    uint32_t value, min;
    if (c < 0x80) {
        *cp = c;
        return 1;
    }
    if ((c & 0xE0) == 0xC0) {
        n = 2;
        value = c & 0x1F;
        min = 0x80;
    } else if ((c & 0xF0) == 0xE0) {
        n = 3;
        value = c & 0x0F;
        min = 0x800;
    } else if ((c & 0xF8) == 0xF0) {
        n = 4;
        value = c & 0x07;
        min = 0x10000;
    } else
        return 0;
    if (len < n)
        return 0;
    for (size_t i = 1; i < n; i++) {
        if ((p[i] & 0xC0) != 0x80)
            return 0;
        value = (value << 6) | (p[i] & 0x3F);
    }
    if (value < min || value > 0x10FFFF || (value >= 0xD800 && value <= 0xDFFF))
        return 0;
    *cp = value;
    return n;
}

//  Valid UTF-8 without ASCII control characters, newline allowed only if asked
static bool
s_text_ok (const char *text, size_t len, bool newlines)
{
    const unsigned char *p = (const unsigned char *) text;
    for (size_t i = 0; i < len;) {
        uint32_t cp;
        size_t n = s_utf8_next (p + i, len - i, &cp);
        if (n == 0 || (cp < 0x20 && !(newlines && cp == '\n')))
            return false;
        i += n;
    }
    return true;
}

//  Unicode White_Space, which is what Go's unicode.IsSpace tests
static bool
s_is_space (uint32_t cp)
{
    return (cp >= 0x09 && cp <= 0x0D) || cp == 0x20 || cp == 0x85 || cp == 0xA0 || cp == 0x1680 ||
           (cp >= 0x2000 && cp <= 0x200A) || cp == 0x2028 || cp == 0x2029 || cp == 0x202F ||
           cp == 0x205F || cp == 0x3000;
}

static bool
s_name_ok (const char *name, size_t len)
{
    if (len == 0 || len > NOTE_MAX_NAME)
        return false;
    const unsigned char *p = (const unsigned char *) name;
    for (size_t i = 0; i < len;) {
        uint32_t cp;
        size_t n = s_utf8_next (p + i, len - i, &cp);
        if (n == 0 || cp < 0x20 || cp == '+' || s_is_space (cp))
            return false;
        i += n;
    }
    return true;
}

//  A note text: non-empty, ends in newline, fits in a note
static bool
s_body_ok (const char *body, size_t len)
{
    return len > 0 && len < NOTE_MAX_SIZE && body[len - 1] == '\n' && s_text_ok (body, len, true);
}

static uint32_t
s_key_id (const char *name, const unsigned char pk[crypto_sign_PUBLICKEYBYTES])
{
    static const unsigned char sep[2] = {'\n', S_ALG_ED25519};
    unsigned char hash[crypto_hash_sha256_BYTES];
    crypto_hash_sha256_state state;
    crypto_hash_sha256_init (&state);
    crypto_hash_sha256_update (&state, (const unsigned char *) name, strlen (name));
    crypto_hash_sha256_update (&state, sep, sizeof (sep));
    crypto_hash_sha256_update (&state, pk, crypto_sign_PUBLICKEYBYTES);
    crypto_hash_sha256_final (&state, hash);
    return (uint32_t) hash[0] << 24 | (uint32_t) hash[1] << 16 | (uint32_t) hash[2] << 8 |
           (uint32_t) hash[3];
}

static void
s_put_be32 (unsigned char *out, uint32_t value)
{
    out[0] = (unsigned char) (value >> 24);
    out[1] = (unsigned char) (value >> 16);
    out[2] = (unsigned char) (value >> 8);
    out[3] = (unsigned char) value;
}

//  Strict standard base64 with padding; a non-empty input that fits in bin_max bytes
static bool
s_base64_decode (const char *b64, size_t len, unsigned char *bin, size_t bin_max, size_t *bin_len)
{
    if (len == 0)
        return false;
    return sodium_base642bin (bin, bin_max, b64, len, NULL, bin_len, NULL, S_B64) == 0;
}

//  Exactly 8 hex digits (either case, as Go accepts)
static bool
s_parse_id (const char *hex, size_t len, uint32_t *id)
{
    if (len != 8)
        return false;
    uint32_t value = 0;
    for (size_t i = 0; i < len; i++) {
        char c = hex[i];
        uint32_t digit;
        if (c >= '0' && c <= '9')
            digit = (uint32_t) (c - '0');
        else if (c >= 'a' && c <= 'f')
            digit = (uint32_t) (c - 'a' + 10);
        else if (c >= 'A' && c <= 'F')
            digit = (uint32_t) (c - 'A' + 10);
        else
            return false;
        value = value << 4 | digit;
    }
    *id = value;
    return true;
}

//  "name+hex+base64(0x01 || 32 bytes)"; base64 may itself hold '+', so split twice only
static bool
s_parse_key (const char *text, char name[NOTE_MAX_NAME + 1], uint32_t *id, unsigned char key[32])
{
    const char *plus = strchr (text, '+');
    if (!plus || !s_name_ok (text, (size_t) (plus - text)))
        return false;
    const char *hex = plus + 1;
    const char *plus2 = strchr (hex, '+');
    if (!plus2 || !s_parse_id (hex, (size_t) (plus2 - hex), id))
        return false;
    unsigned char raw[S_KEY_RAW];
    size_t raw_len = 0;
    bool ok = s_base64_decode (plus2 + 1, strlen (plus2 + 1), raw, sizeof (raw), &raw_len) &&
              raw_len == S_KEY_RAW && raw[0] == S_ALG_ED25519;
    if (ok) {
        memcpy (key, raw + 1, 32);
        memcpy (name, text, (size_t) (plus - text));
        name[plus - text] = 0;
    }
    sodium_memzero (raw, sizeof (raw));
    return ok;
}

note_key_t *
note_key_generate (const char *name)
{
    if (!name || !s_name_ok (name, strlen (name)) || sodium_init () < 0)
        return NULL;
    note_key_t *self = calloc (1, sizeof (note_key_t));
    if (!self)
        return NULL;
    strcpy (self->name, name);
    crypto_sign_keypair (self->pk, self->sk);
    self->id = s_key_id (self->name, self->pk);
    self->can_sign = true;
    return self;
}

note_key_t *
note_key_from_signer (const char *skey)
{
    if (!skey || strncmp (skey, S_PRIVATE, S_PRIVATE_LEN) != 0 || sodium_init () < 0)
        return NULL;
    note_key_t *self = calloc (1, sizeof (note_key_t));
    if (!self)
        return NULL;
    unsigned char seed[crypto_sign_SEEDBYTES];
    uint32_t id;
    if (s_parse_key (skey + S_PRIVATE_LEN, self->name, &id, seed)) {
        crypto_sign_seed_keypair (self->pk, self->sk, seed);
        self->id = s_key_id (self->name, self->pk);
        self->can_sign = true;
    }
    sodium_memzero (seed, sizeof (seed));
    //  The id covers the public key, so it also proves the seed is the one meant
    if (!self->can_sign || self->id != id)
        note_key_destroy (&self);
    return self;
}

note_key_t *
note_key_from_verifier (const char *vkey)
{
    if (!vkey || sodium_init () < 0)
        return NULL;
    note_key_t *self = calloc (1, sizeof (note_key_t));
    if (!self)
        return NULL;
    uint32_t id;
    if (!s_parse_key (vkey, self->name, &id, self->pk) ||
        (self->id = s_key_id (self->name, self->pk)) != id)
        note_key_destroy (&self);
    return self;
}

void
note_key_destroy (note_key_t **self_p)
{
    if (self_p && *self_p) {
        sodium_memzero (*self_p, sizeof (note_key_t));
        free (*self_p);
        *self_p = NULL;
    }
}

//  prefix || name+hex+base64(0x01 || key)
static char *
s_key_string (const char *prefix, const note_key_t *self, const unsigned char key[32])
{
    unsigned char raw[S_KEY_RAW];
    char b64[S_KEY_B64_SIZE];
    raw[0] = S_ALG_ED25519;
    memcpy (raw + 1, key, 32);
    sodium_bin2base64 (b64, sizeof (b64), raw, sizeof (raw), S_B64);
    size_t size = strlen (prefix) + strlen (self->name) + 1 + 8 + 1 + strlen (b64) + 1;
    char *text = malloc (size);
    if (text)
        snprintf (text, size, "%s%s+%08" PRIx32 "+%s", prefix, self->name, self->id, b64);
    sodium_memzero (raw, sizeof (raw));
    sodium_memzero (b64, sizeof (b64));
    return text;
}

char *
note_key_signer_string (const note_key_t *self)
{
    if (!self || !self->can_sign)
        return NULL;
    unsigned char seed[crypto_sign_SEEDBYTES];
    crypto_sign_ed25519_sk_to_seed (seed, self->sk);
    char *text = s_key_string (S_PRIVATE, self, seed);
    sodium_memzero (seed, sizeof (seed));
    return text;
}

char *
note_key_verifier_string (const note_key_t *self)
{
    return self ? s_key_string ("", self, self->pk) : NULL;
}

const char *
note_key_name (const note_key_t *self)
{
    return self ? self->name : NULL;
}

uint32_t
note_key_id (const note_key_t *self)
{
    return self ? self->id : 0;
}

bool
note_key_can_sign (const note_key_t *self)
{
    return self && self->can_sign;
}

char *
note_checkpoint_body (const char *origin, uint64_t size, const uint8_t root[32])
{
    if (!origin || !root)
        return NULL;
    size_t origin_len = strlen (origin);
    if (origin_len == 0 || origin_len >= NOTE_MAX_SIZE || !s_text_ok (origin, origin_len, false))
        return NULL;
    char b64[sodium_base64_ENCODED_LEN (32, S_B64)];
    sodium_bin2base64 (b64, sizeof (b64), root, 32, S_B64);
    size_t cap = origin_len + 1 + 20 + 1 + sizeof (b64) + 1;
    char *body = malloc (cap);
    if (body)
        snprintf (body, cap, "%s\n%" PRIu64 "\n%s\n", origin, size, b64);
    return body;
}

//  Decimal tree size: no sign, no leading zero unless "0", fits in 64 bits
static bool
s_parse_size (const char *text, size_t len, uint64_t *size)
{
    if (len == 0 || len > 20 || (len > 1 && text[0] == '0'))
        return false;
    uint64_t value = 0;
    for (size_t i = 0; i < len; i++) {
        if (text[i] < '0' || text[i] > '9')
            return false;
        uint64_t digit = (uint64_t) (text[i] - '0');
        if (value > (UINT64_MAX - digit) / 10)
            return false;
        value = value * 10 + digit;
    }
    *size = value;
    return true;
}

int
note_checkpoint_parse (const char *text, char *origin, size_t origin_size, uint64_t *size,
                       uint8_t root[32])
{
    if (!text || !origin || origin_size == 0 || !size || !root)
        return -1;
    const char *line1 = text;
    const char *end1 = strchr (line1, '\n');
    if (!end1 || end1 == line1)
        return -1;
    size_t origin_len = (size_t) (end1 - line1);
    if (origin_len >= origin_size || !s_text_ok (line1, origin_len, false))
        return -1;

    const char *line2 = end1 + 1;
    const char *end2 = strchr (line2, '\n');
    uint64_t value;
    if (!end2 || !s_parse_size (line2, (size_t) (end2 - line2), &value))
        return -1;

    const char *line3 = end2 + 1;
    const char *end3 = strchr (line3, '\n');
    uint8_t hash[32];
    size_t hash_len = 0;
    if (!end3 ||
        !s_base64_decode (line3, (size_t) (end3 - line3), hash, sizeof (hash), &hash_len) ||
        hash_len != sizeof (hash))
        return -1;

    memcpy (origin, line1, origin_len);
    origin[origin_len] = 0;
    *size = value;
    memcpy (root, hash, sizeof (hash));
    return 0;
}

//  One signature line of line_len bytes (newline excluded); the decoded signature goes
//  to decoded, which has room for decoded_max bytes
static bool
s_sig_parse (const char *line, size_t line_len, unsigned char *decoded, size_t decoded_max,
             s_sig_t *sig)
{
    if (line_len < S_DASH_LEN || memcmp (line, S_DASH, S_DASH_LEN) != 0)
        return false;
    const char *name = line + S_DASH_LEN;
    const char *space = memchr (name, ' ', line_len - S_DASH_LEN);
    if (!space || !s_name_ok (name, (size_t) (space - name)))
        return false;
    const char *b64 = space + 1;
    size_t b64_len = (size_t) (line + line_len - b64);
    size_t len = 0;
    //  A key id and at least one byte of signature
    if (!s_base64_decode (b64, b64_len, decoded, decoded_max, &len) || len < 5)
        return false;
    sig->line = line;
    sig->line_len = line_len;
    sig->name = name;
    sig->name_len = (size_t) (space - name);
    sig->id = (uint32_t) decoded[0] << 24 | (uint32_t) decoded[1] << 16 |
              (uint32_t) decoded[2] << 8 | (uint32_t) decoded[3];
    sig->sig = decoded + 4;
    sig->sig_len = len - 4;
    return true;
}

static bool
s_same_key (const s_sig_t *a, const s_sig_t *b)
{
    return a->id == b->id && a->name_len == b->name_len &&
           memcmp (a->name, b->name, a->name_len) == 0;
}

static void
s_note_free (s_note_t *parsed)
{
    free (parsed->decoded);
    parsed->decoded = NULL;
}

static int
s_note_parse (const char *note, s_note_t *parsed)
{
    memset (parsed, 0, sizeof (*parsed));
    size_t len = strnlen (note, NOTE_MAX_SIZE + 1);
    if (len < 2 || len > NOTE_MAX_SIZE || !s_text_ok (note, len, true) || note[len - 1] != '\n')
        return -1;
    //  The text ends at the last blank line: signature lines are never empty
    size_t split = len;
    for (size_t i = len - 1; i-- > 0;) {
        if (note[i] == '\n' && note[i + 1] == '\n') {
            split = i;
            break;
        }
    }
    if (split == len || split + 2 == len)
        return -1;
    parsed->body_len = split + 1;

    //  base64 never decodes to more bytes than it has characters
    size_t block_len = len - (split + 2);
    parsed->decoded = malloc (block_len);
    if (!parsed->decoded)
        return -1;
    size_t used = 0;
    for (size_t at = split + 2; at < len;) {
        const char *line = note + at;
        const char *newline = memchr (line, '\n', len - at);
        size_t line_len = (size_t) (newline - line);
        if (parsed->nsigs == NOTE_MAX_SIGS ||
            !s_sig_parse (line, line_len, parsed->decoded + used, block_len - used,
                          &parsed->sigs[parsed->nsigs])) {
            s_note_free (parsed);
            return -1;
        }
        used += 4 + parsed->sigs[parsed->nsigs].sig_len;
        parsed->nsigs++;
        at += line_len + 1;
    }
    return 0;
}

char *
note_sign_line (const note_key_t *signer, const char *body)
{
    if (!signer || !signer->can_sign || !body)
        return NULL;
    size_t len = strnlen (body, NOTE_MAX_SIZE);
    if (!s_body_ok (body, len))
        return NULL;
    unsigned char blob[S_BLOB_SIZE];
    s_put_be32 (blob, signer->id);
    crypto_sign_detached (blob + 4, NULL, (const unsigned char *) body, len, signer->sk);
    char b64[sodium_base64_ENCODED_LEN (S_BLOB_SIZE, S_B64)];
    sodium_bin2base64 (b64, sizeof (b64), blob, sizeof (blob), S_B64);
    size_t size = S_DASH_LEN + strlen (signer->name) + 1 + strlen (b64) + 2;
    char *line = malloc (size);
    if (line)
        snprintf (line, size, S_DASH "%s %s\n", signer->name, b64);
    return line;
}

char *
note_assemble (const char *body, const char **sig_lines, size_t n)
{
    if (!body || !sig_lines || n == 0)
        return NULL;
    size_t body_len = strnlen (body, NOTE_MAX_SIZE);
    if (!s_body_ok (body, body_len))
        return NULL;

    s_sig_t kept[NOTE_MAX_SIGS];
    size_t nkept = 0;
    size_t total = body_len + 1;
    unsigned char *scratch = NULL;
    char *note = NULL;
    for (size_t i = 0; i < n; i++) {
        const char *line = sig_lines[i];
        if (!line)
            goto done;
        size_t len = strnlen (line, NOTE_MAX_SIZE);
        if (len < 2 || line[len - 1] != '\n' || !s_text_ok (line, len - 1, false))
            goto done;
        unsigned char *grown = realloc (scratch, len);
        if (!grown)
            goto done;
        scratch = grown;
        s_sig_t sig;
        if (!s_sig_parse (line, len - 1, scratch, len, &sig))
            goto done;
        bool seen = false;
        for (size_t j = 0; j < nkept && !seen; j++)
            seen = s_same_key (&kept[j], &sig);
        if (seen)
            continue;
        if (nkept == NOTE_MAX_SIGS)
            goto done;
        kept[nkept++] = sig;
        total += len;
    }
    if (total > NOTE_MAX_SIZE)
        goto done;
    note = malloc (total + 1);
    if (!note)
        goto done;
    memcpy (note, body, body_len);
    note[body_len] = '\n';
    size_t at = body_len + 1;
    for (size_t j = 0; j < nkept; j++) {
        memcpy (note + at, kept[j].line, kept[j].line_len + 1);
        at += kept[j].line_len + 1;
    }
    note[at] = 0;
done:
    free (scratch);
    return note;
}

int
note_verify (const char *note, note_key_t *const *keys, size_t nkeys, bool *verified,
             char **body_out)
{
    if (verified)
        for (size_t i = 0; i < nkeys; i++)
            verified[i] = false;
    if (body_out)
        *body_out = NULL;
    if (!note || (nkeys && !keys))
        return -1;
    s_note_t parsed;
    if (s_note_parse (note, &parsed) != 0)
        return -1;
    bool *signed_by = calloc (nkeys ? nkeys : 1, sizeof (bool));
    int rc = signed_by ? 0 : -1;
    for (size_t s = 0; s < parsed.nsigs && rc == 0; s++) {
        const s_sig_t *sig = &parsed.sigs[s];
        for (size_t i = 0; i < nkeys && rc == 0; i++) {
            const note_key_t *key = keys[i];
            if (!key || key->id != sig->id || strlen (key->name) != sig->name_len ||
                memcmp (key->name, sig->name, sig->name_len) != 0)
                continue;
            //  A known key that does not verify condemns the whole note
            if (sig->sig_len != crypto_sign_BYTES ||
                crypto_sign_verify_detached (sig->sig, (const unsigned char *) note,
                                             parsed.body_len, key->pk) != 0)
                rc = -1;
            else
                signed_by[i] = true;
        }
    }
    if (rc == 0 && body_out) {
        *body_out = strndup (note, parsed.body_len);
        if (!*body_out)
            rc = -1;
    }
    if (rc == 0)
        for (size_t i = 0; i < nkeys; i++) {
            if (signed_by[i])
                rc++;
            if (verified)
                verified[i] = signed_by[i];
        }
    free (signed_by);
    s_note_free (&parsed);
    return rc;
}

int
note_signature_lines (const char *note, char **lines, size_t max)
{
    if (!note || (max && !lines))
        return -1;
    s_note_t parsed;
    if (s_note_parse (note, &parsed) != 0)
        return -1;
    size_t count = 0;
    for (; count < parsed.nsigs && count < max; count++) {
        lines[count] = strndup (parsed.sigs[count].line, parsed.sigs[count].line_len + 1);
        if (!lines[count]) {
            while (count > 0)
                free (lines[--count]);
            s_note_free (&parsed);
            return -1;
        }
    }
    s_note_free (&parsed);
    return (int) count;
}
