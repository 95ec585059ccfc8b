/*  codec -- strict, bounded msgpack bodies. See codec.h. */
#include "codec.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const codec_limits_t s_default_limits = {
    .max_size = LH_MAX_BODY,
    .max_depth = LH_MAX_DEPTH,
    .max_str = LH_MAX_STR,
    .max_key = LH_MAX_KEY,
    .max_items = LH_MAX_ITEMS,
};

static const char *s_err_names[LH_E_COUNT] = {
    [LH_OK] = "ok",
    [LH_E_BAD_REQUEST] = "bad_request",
    [LH_E_TOO_LARGE] = "too_large",
    [LH_E_UNKNOWN_SERVICE] = "unknown_service",
    [LH_E_FORBIDDEN] = "forbidden",
    [LH_E_RATE_LIMITED] = "rate_limited",
    [LH_E_OVERLOADED] = "overloaded",
    [LH_E_UNAVAILABLE] = "unavailable",
    [LH_E_TIMEOUT] = "timeout",
    [LH_E_WORKER_LOST] = "worker_lost",
    [LH_E_NOT_FOUND] = "not_found",
    [LH_E_INTERNAL] = "internal",
    [LH_E_UNSUPPORTED] = "unsupported",
};

bool
codec_name_valid (const char *text, size_t len, size_t max)
{
    if (!text || len == 0 || len > max)
        return false;
    for (size_t i = 0; i < len; i++) {
        char c = text[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '_' || c == '-'))
            return false;
    }
    return true;
}

const codec_limits_t *
codec_limits_default (void)
{
    return &s_default_limits;
}

const char *
codec_err_name (lh_err_t code)
{
    if ((int) code < 0 || code >= LH_E_COUNT)
        return "internal";
    return s_err_names[code];
}

lh_err_t
codec_reply_code (const msgpack_object *reply)
{
    const msgpack_object *code = codec_map_get (codec_map_get (reply, "error"), "code");
    lh_err_t err = code && code->type == MSGPACK_OBJECT_STR
                       ? codec_err_from_name (code->via.str.ptr, code->via.str.size)
                       : LH_E_COUNT;
    return err == LH_E_COUNT ? LH_E_INTERNAL : err;
}

lh_err_t
codec_err_from_name (const char *name, size_t len)
{
    for (int code = 0; code < LH_E_COUNT; code++)
        if (strlen (s_err_names[code]) == len && memcmp (s_err_names[code], name, len) == 0)
            return (lh_err_t) code;
    return LH_E_COUNT;
}

//  --------------------------------------------------------------------------
//  Byte walker: validates structure and limits without allocating.

typedef struct {
    const uint8_t *pos;
    const uint8_t *end;
    const codec_limits_t *limits;
    const char *why;
    lh_err_t err;
} walker_t;

static bool
s_fail (walker_t *w, lh_err_t err, const char *why)
{
    w->err = err;
    w->why = why;
    return false;
}

static bool
s_take (walker_t *w, size_t n, const uint8_t **out)
{
    if ((size_t) (w->end - w->pos) < n)
        return s_fail (w, LH_E_BAD_REQUEST, "truncated msgpack");
    *out = w->pos;
    w->pos += n;
    return true;
}

static uint64_t
s_be (const uint8_t *p, size_t n)
{
    uint64_t v = 0;
    for (size_t i = 0; i < n; i++)
        v = (v << 8) | p[i];
    return v;
}

static bool
s_utf8_valid (const uint8_t *s, size_t n)
{
    size_t i = 0;
    while (i < n) {
        uint8_t c = s[i];
        if (c < 0x80) {
            i++;
            continue;
        }
        size_t extra;
        uint32_t cp;
        if (c >= 0xC2 && c <= 0xDF) {
            extra = 1;
            cp = c & 0x1F;
        } else if (c >= 0xE0 && c <= 0xEF) {
            extra = 2;
            cp = c & 0x0F;
        } else if (c >= 0xF0 && c <= 0xF4) {
            extra = 3;
            cp = c & 0x07;
        } else
            return false;
        if (n - i <= extra)
            return false;
        for (size_t k = 1; k <= extra; k++) {
            if ((s[i + k] & 0xC0) != 0x80)
                return false;
            cp = (cp << 6) | (s[i + k] & 0x3F);
        }
        //  Overlong forms, surrogates and values past U+10FFFF
        if ((extra == 2 && cp < 0x800) || (extra == 3 && cp < 0x10000) || cp > 0x10FFFF ||
            (cp >= 0xD800 && cp <= 0xDFFF))
            return false;
        i += extra + 1;
    }
    return true;
}

static bool s_walk_value (walker_t *w, size_t depth, bool as_key);

static bool
s_walk_str (walker_t *w, size_t len, bool as_key)
{
    const uint8_t *data;
    if (len > (as_key ? w->limits->max_key : w->limits->max_str))
        return s_fail (w, LH_E_TOO_LARGE, as_key ? "map key too long" : "string too long");
    if (!s_take (w, len, &data))
        return false;
    if (!s_utf8_valid (data, len))
        return s_fail (w, LH_E_BAD_REQUEST, "string is not valid UTF-8");
    return true;
}

static bool
s_walk_container (walker_t *w, size_t depth, uint64_t count, bool is_map)
{
    if (depth >= w->limits->max_depth)
        return s_fail (w, LH_E_TOO_LARGE, "nesting too deep");
    if (count > w->limits->max_items)
        return s_fail (w, LH_E_TOO_LARGE, "too many entries in a map or array");
    //  Every entry takes at least one byte: a count past the end is a lie
    if (count * (is_map ? 2 : 1) > (uint64_t) (w->end - w->pos))
        return s_fail (w, LH_E_BAD_REQUEST, "truncated msgpack");
    for (uint64_t i = 0; i < count; i++) {
        if (is_map && !s_walk_value (w, depth + 1, true))
            return false;
        if (!s_walk_value (w, depth + 1, false))
            return false;
    }
    return true;
}

static bool
s_walk_value (walker_t *w, size_t depth, bool as_key)
{
    const uint8_t *p;
    if (!s_take (w, 1, &p))
        return false;
    uint8_t t = *p;
    size_t len_bytes = 0;

    //  Strings are the only type allowed as map keys
    bool is_str = (t >= 0xA0 && t <= 0xBF) || t == 0xD9 || t == 0xDA || t == 0xDB;
    if (as_key && !is_str)
        return s_fail (w, LH_E_BAD_REQUEST, "map key is not a string");

    if (t <= 0x7F || t >= 0xE0)
        return true; //  fixint
    if (t >= 0xA0 && t <= 0xBF)
        return s_walk_str (w, t & 0x1F, as_key);
    if (t >= 0x80 && t <= 0x8F)
        return s_walk_container (w, depth, t & 0x0F, true);
    if (t >= 0x90 && t <= 0x9F)
        return s_walk_container (w, depth, t & 0x0F, false);

    switch (t) {
    case 0xC0: //  nil
    case 0xC2: //  false
    case 0xC3: //  true
        return true;
    case 0xCC:
    case 0xD0:
        return s_take (w, 1, &p);
    case 0xCD:
    case 0xD1:
        return s_take (w, 2, &p);
    case 0xCE:
    case 0xD2:
    case 0xCA: //  float32
        return s_take (w, 4, &p);
    case 0xCF:
    case 0xD3:
    case 0xCB: //  float64
        return s_take (w, 8, &p);
    case 0xD9:
    case 0xC4:
        len_bytes = 1;
        break;
    case 0xDA:
    case 0xC5:
    case 0xDC:
    case 0xDE:
        len_bytes = 2;
        break;
    case 0xDB:
    case 0xC6:
    case 0xDD:
    case 0xDF:
        len_bytes = 4;
        break;
    default: //  0xC1 (never used) and every ext type
        return s_fail (w, LH_E_BAD_REQUEST, "unsupported msgpack type");
    }
    if (!s_take (w, len_bytes, &p))
        return false;
    uint64_t n = s_be (p, len_bytes);
    if (t == 0xD9 || t == 0xDA || t == 0xDB)
        return s_walk_str (w, n, as_key);
    if (t == 0xDC || t == 0xDD)
        return s_walk_container (w, depth, n, false);
    if (t == 0xDE || t == 0xDF)
        return s_walk_container (w, depth, n, true);
    //  bin
    if (n > w->limits->max_str)
        return s_fail (w, LH_E_TOO_LARGE, "binary value too long");
    return s_take (w, n, &p);
}

lh_err_t
codec_check (const void *buf, size_t size, const codec_limits_t *limits, const char **why)
{
    const char *dummy;
    if (!why)
        why = &dummy;
    if (!limits)
        limits = &s_default_limits;
    if (size > limits->max_size) {
        *why = "body too large";
        return LH_E_TOO_LARGE;
    }
    if (size == 0) {
        *why = "empty body";
        return LH_E_BAD_REQUEST;
    }
    const uint8_t *b = (const uint8_t *) buf;
    if (!((b[0] >= 0x80 && b[0] <= 0x8F) || b[0] == 0xDE || b[0] == 0xDF)) {
        *why = "body is not a msgpack map";
        return LH_E_BAD_REQUEST;
    }
    walker_t w = {.pos = b, .end = b + size, .limits = limits, .err = LH_OK};
    if (!s_walk_value (&w, 0, false)) {
        *why = w.why;
        return w.err;
    }
    if (w.pos != w.end) {
        *why = "trailing bytes after the body map";
        return LH_E_BAD_REQUEST;
    }
    return LH_OK;
}

//  Reads a str header at *pos (the body was checked: it is well formed).
static const uint8_t *
s_str_at (walker_t *w, size_t *len)
{
    const uint8_t *p = w->pos;
    s_take (w, 1, &p);
    uint8_t t = *p;
    size_t len_bytes = t == 0xD9 ? 1 : t == 0xDA ? 2 : t == 0xDB ? 4 : 0;
    *len = len_bytes ? 0 : (size_t) (t & 0x1F);
    if (len_bytes) {
        s_take (w, len_bytes, &p);
        *len = (size_t) s_be (p, len_bytes);
    }
    s_take (w, *len, &p);
    return p;
}

lh_err_t
codec_check_request (const void *buf, size_t size, const char **why)
{
    lh_err_t rc = codec_check (buf, size, &s_default_limits, why);
    if (rc != LH_OK)
        return rc;
    const uint8_t *b = (const uint8_t *) buf;
    walker_t w = {.pos = b, .end = b + size, .limits = &s_default_limits};
    const uint8_t *p = b;
    s_take (&w, 1, &p);
    uint64_t count = b[0] <= 0x8F ? (uint64_t) (b[0] & 0x0F) : 0;
    if (b[0] == 0xDE || b[0] == 0xDF) {
        size_t n = b[0] == 0xDE ? 2 : 4;
        s_take (&w, n, &p);
        count = s_be (p, n);
    }
    for (uint64_t i = 0; i < count; i++) {
        size_t len;
        const uint8_t *key = s_str_at (&w, &len);
        const uint8_t *value = w.pos;
        s_walk_value (&w, 1, false);
        if (len != 2 || memcmp (key, "id", 2) != 0)
            continue;
        uint8_t t = *value;
        //  Non-negative integers in any width, signed encodings included
        size_t int_bytes = t == 0xD0 ? 1 : t == 0xD1 ? 2 : t == 0xD2 ? 4 : t == 0xD3 ? 8 : 0;
        bool is_uint = t <= 0x7F || (t >= 0xCC && t <= 0xCF) || (int_bytes && !(value[1] & 0x80));
        size_t len_bytes = t == 0xD9 ? 1 : t == 0xDA ? 2 : t == 0xDB ? 4 : 0;
        bool is_short_str =
            (t >= 0xA0 && t <= 0xBF) || (len_bytes && s_be (value + 1, len_bytes) <= LH_MAX_ID);
        if (is_uint || is_short_str)
            return LH_OK;
        break;
    }
    *why = "request needs an 'id': a non-negative integer or a string of at most 64 bytes";
    return LH_E_BAD_REQUEST;
}

//  --------------------------------------------------------------------------
//  Decoded documents

struct _codec_doc_t {
    msgpack_zone zone;
    msgpack_object root;
    char *bytes; //  msgpack-c points str/bin objects into its input: we own a copy
};

static int
s_str_cmp (const msgpack_object_str *x, const msgpack_object_str *y)
{
    size_t n = x->size < y->size ? x->size : y->size;
    //  msgpack-c leaves ptr NULL for empty strings; memcmp must not see it
    int c = n ? memcmp (x->ptr, y->ptr, n) : 0;
    if (c)
        return c;
    return (x->size > y->size) - (x->size < y->size);
}

static int
s_key_cmp (const void *a, const void *b)
{
    return s_str_cmp (*(const msgpack_object_str *const *) a,
                      *(const msgpack_object_str *const *) b);
}

//  Duplicate keys would let two readers see two different values for one
//  field; maps are small, so short ones compare pairwise, long ones sort.
static bool
s_no_duplicate_keys (const msgpack_object *obj)
{
    if (obj->type == MSGPACK_OBJECT_ARRAY) {
        for (uint32_t i = 0; i < obj->via.array.size; i++)
            if (!s_no_duplicate_keys (&obj->via.array.ptr[i]))
                return false;
        return true;
    }
    if (obj->type != MSGPACK_OBJECT_MAP)
        return true;
    const msgpack_object_map *m = &obj->via.map;
    bool unique = true;
    if (m->size <= 16) {
        for (uint32_t i = 0; i < m->size && unique; i++)
            for (uint32_t j = i + 1; j < m->size && unique; j++)
                if (s_str_cmp (&m->ptr[i].key.via.str, &m->ptr[j].key.via.str) == 0)
                    unique = false;
    } else {
        const msgpack_object_str **keys = malloc (m->size * sizeof (*keys));
        if (!keys)
            return false;
        for (uint32_t i = 0; i < m->size; i++)
            keys[i] = &m->ptr[i].key.via.str;
        qsort (keys, m->size, sizeof (*keys), s_key_cmp);
        for (uint32_t i = 1; i < m->size && unique; i++)
            if (s_str_cmp (keys[i - 1], keys[i]) == 0)
                unique = false;
        free (keys);
    }
    for (uint32_t i = 0; i < m->size && unique; i++)
        unique = s_no_duplicate_keys (&m->ptr[i].val);
    return unique;
}

codec_doc_t *
codec_doc_decode (const void *buf, size_t size, lh_err_t *err, const char **why)
{
    return codec_doc_decode_limits (buf, size, &s_default_limits, err, why);
}

codec_doc_t *
codec_doc_decode_limits (const void *buf, size_t size, const codec_limits_t *limits, lh_err_t *err,
                         const char **why)
{
    lh_err_t dummy_err;
    const char *dummy_why;
    if (!err)
        err = &dummy_err;
    if (!why)
        why = &dummy_why;
    *err = codec_check (buf, size, limits, why);
    if (*err != LH_OK)
        return NULL;

    codec_doc_t *self = calloc (1, sizeof (*self));
    char *bytes = malloc (size);
    if (!self || !bytes || !msgpack_zone_init (&self->zone, 2048)) {
        free (self);
        free (bytes);
        *err = LH_E_INTERNAL;
        *why = "out of memory";
        return NULL;
    }
    memcpy (bytes, buf, size);
    self->bytes = bytes;
    size_t off = 0;
    msgpack_unpack_return rc = msgpack_unpack (bytes, size, &off, &self->zone, &self->root);
    if (rc != MSGPACK_UNPACK_SUCCESS || off != size) {
        *err = LH_E_BAD_REQUEST;
        *why = "malformed msgpack";
        codec_doc_destroy (&self);
        return NULL;
    }
    if (!s_no_duplicate_keys (&self->root)) {
        *err = LH_E_BAD_REQUEST;
        *why = "duplicate map key";
        codec_doc_destroy (&self);
        return NULL;
    }
    return self;
}

void
codec_doc_destroy (codec_doc_t **self_p)
{
    if (self_p && *self_p) {
        msgpack_zone_destroy (&(*self_p)->zone);
        free ((*self_p)->bytes);
        free (*self_p);
        *self_p = NULL;
    }
}

const msgpack_object *
codec_doc_root (const codec_doc_t *self)
{
    return &self->root;
}

//  --------------------------------------------------------------------------
//  Field access

bool
codec_str_eq (const msgpack_object *obj, const char *text)
{
    size_t n = strlen (text);
    return obj && obj->type == MSGPACK_OBJECT_STR && obj->via.str.size == n &&
           (n == 0 || memcmp (obj->via.str.ptr, text, n) == 0);
}

bool
codec_str_copy (const msgpack_object *obj, char *buf, size_t size)
{
    if (!obj || obj->type != MSGPACK_OBJECT_STR || obj->via.str.size >= size)
        return false;
    if (obj->via.str.size)
        memcpy (buf, obj->via.str.ptr, obj->via.str.size);
    buf[obj->via.str.size] = 0;
    return true;
}

const msgpack_object *
codec_map_get (const msgpack_object *map, const char *key)
{
    if (!map || map->type != MSGPACK_OBJECT_MAP)
        return NULL;
    for (uint32_t i = 0; i < map->via.map.size; i++)
        if (codec_str_eq (&map->via.map.ptr[i].key, key))
            return &map->via.map.ptr[i].val;
    return NULL;
}

//  Common head of the getters: LH_OK with *found false when optional and absent.
static lh_err_t
s_lookup (const msgpack_object *map, const char *key, bool required, const msgpack_object **val,
          char *why, size_t why_size)
{
    *val = codec_map_get (map, key);
    if (!*val && required) {
        snprintf (why, why_size, "missing field '%s'", key);
        return LH_E_BAD_REQUEST;
    }
    return LH_OK;
}

static lh_err_t
s_wrong_type (const char *key, const char *expected, char *why, size_t why_size)
{
    snprintf (why, why_size, "field '%s' must be %s", key, expected);
    return LH_E_BAD_REQUEST;
}

lh_err_t
codec_get_str (const msgpack_object *map, const char *key, bool required, size_t max_len,
               const char **str, size_t *len, char *why, size_t why_size)
{
    const msgpack_object *v;
    lh_err_t rc = s_lookup (map, key, required, &v, why, why_size);
    if (rc != LH_OK || !v)
        return rc;
    if (v->type != MSGPACK_OBJECT_STR)
        return s_wrong_type (key, "a string", why, why_size);
    if (v->via.str.size > max_len) {
        snprintf (why, why_size, "field '%s' is longer than %zu bytes", key, max_len);
        return LH_E_TOO_LARGE;
    }
    *str = v->via.str.ptr;
    if (len)
        *len = v->via.str.size;
    return LH_OK;
}

lh_err_t
codec_get_int (const msgpack_object *map, const char *key, bool required, int64_t min, int64_t max,
               int64_t *value, char *why, size_t why_size)
{
    const msgpack_object *v;
    lh_err_t rc = s_lookup (map, key, required, &v, why, why_size);
    if (rc != LH_OK || !v)
        return rc;
    int64_t n;
    if (v->type == MSGPACK_OBJECT_POSITIVE_INTEGER && v->via.u64 <= INT64_MAX)
        n = (int64_t) v->via.u64;
    else if (v->type == MSGPACK_OBJECT_NEGATIVE_INTEGER)
        n = v->via.i64;
    else
        return s_wrong_type (key, "an integer", why, why_size);
    if (n < min || n > max) {
        snprintf (why, why_size, "field '%s' must be between %lld and %lld", key, (long long) min,
                  (long long) max);
        return LH_E_BAD_REQUEST;
    }
    *value = n;
    return LH_OK;
}

lh_err_t
codec_get_bool (const msgpack_object *map, const char *key, bool required, bool *value, char *why,
                size_t why_size)
{
    const msgpack_object *v;
    lh_err_t rc = s_lookup (map, key, required, &v, why, why_size);
    if (rc != LH_OK || !v)
        return rc;
    if (v->type != MSGPACK_OBJECT_BOOLEAN)
        return s_wrong_type (key, "a boolean", why, why_size);
    *value = v->via.boolean;
    return LH_OK;
}

lh_err_t
codec_get_map (const msgpack_object *map, const char *key, bool required,
               const msgpack_object **value, char *why, size_t why_size)
{
    const msgpack_object *v;
    lh_err_t rc = s_lookup (map, key, required, &v, why, why_size);
    if (rc != LH_OK || !v)
        return rc;
    if (v->type != MSGPACK_OBJECT_MAP)
        return s_wrong_type (key, "a map", why, why_size);
    *value = v;
    return LH_OK;
}

bool
codec_id_valid (const msgpack_object *id)
{
    return id && (id->type == MSGPACK_OBJECT_POSITIVE_INTEGER ||
                  (id->type == MSGPACK_OBJECT_STR && id->via.str.size <= LH_MAX_ID));
}

//  --------------------------------------------------------------------------
//  Packing

void
codec_buf_init (codec_buf_t *self)
{
    msgpack_sbuffer_init (&self->sbuf);
    msgpack_packer_init (&self->pk, &self->sbuf, msgpack_sbuffer_write);
}

void
codec_buf_destroy (codec_buf_t *self)
{
    msgpack_sbuffer_destroy (&self->sbuf);
}

void
codec_pack_strn (msgpack_packer *pk, const char *text, size_t len)
{
    msgpack_pack_str (pk, len);
    msgpack_pack_str_body (pk, text, len);
}

void
codec_pack_str (msgpack_packer *pk, const char *text)
{
    codec_pack_strn (pk, text, strlen (text));
}

void
codec_pack_kv_str (msgpack_packer *pk, const char *key, const char *value)
{
    codec_pack_str (pk, key);
    codec_pack_str (pk, value);
}

void
codec_pack_kv_u64 (msgpack_packer *pk, const char *key, uint64_t value)
{
    codec_pack_str (pk, key);
    msgpack_pack_uint64 (pk, value);
}

void
codec_pack_kv_i64 (msgpack_packer *pk, const char *key, int64_t value)
{
    codec_pack_str (pk, key);
    msgpack_pack_int64 (pk, value);
}

void
codec_pack_kv_bool (msgpack_packer *pk, const char *key, bool value)
{
    codec_pack_str (pk, key);
    if (value)
        msgpack_pack_true (pk);
    else
        msgpack_pack_false (pk);
}

void
codec_pack_kv_bin (msgpack_packer *pk, const char *key, const void *data, size_t size)
{
    codec_pack_str (pk, key);
    msgpack_pack_bin (pk, size);
    msgpack_pack_bin_body (pk, data, size);
}

void
codec_pack_id (msgpack_packer *pk, const msgpack_object *id)
{
    codec_pack_str (pk, "id");
    if (codec_id_valid (id))
        msgpack_pack_object (pk, *id);
    else
        msgpack_pack_nil (pk);
}

void
codec_pack_ok_head (msgpack_packer *pk, const msgpack_object *id, size_t extra)
{
    msgpack_pack_map (pk, 2 + extra);
    codec_pack_id (pk, id);
    codec_pack_str (pk, "ok");
    msgpack_pack_true (pk);
}

void
codec_pack_error (msgpack_packer *pk, const msgpack_object *id, lh_err_t code, const char *message)
{
    msgpack_pack_map (pk, 3);
    codec_pack_id (pk, id);
    codec_pack_str (pk, "ok");
    msgpack_pack_false (pk);
    codec_pack_str (pk, "error");
    msgpack_pack_map (pk, 2);
    codec_pack_kv_str (pk, "code", codec_err_name (code));
    codec_pack_str (pk, "message");
    //  Cut at a character boundary, and never send a message the strict
    //  decoder on the other side would reject
    size_t len = strlen (message);
    if (len > LH_MAX_MESSAGE) {
        len = LH_MAX_MESSAGE;
        while (len > 0 && ((uint8_t) message[len] & 0xC0) == 0x80)
            len--;
    }
    if (!s_utf8_valid ((const uint8_t *) message, len)) {
        message = "(error message was not valid UTF-8)";
        len = strlen (message);
    }
    codec_pack_strn (pk, message, len);
}

lh_err_t
codec_with_id (const void *map, size_t size, uint64_t id, msgpack_sbuffer *out, const char **why)
{
    lh_err_t dummy_err;
    codec_doc_t *doc = codec_doc_decode (map, size, &dummy_err, why);
    if (!doc)
        return dummy_err;
    const msgpack_object *root = codec_doc_root (doc);
    if (codec_map_get (root, "id")) {
        codec_doc_destroy (&doc);
        *why = "body already has an 'id': the client library assigns it";
        return LH_E_BAD_REQUEST;
    }
    uint32_t entries = root->via.map.size;
    codec_doc_destroy (&doc);
    if (entries + 1 > LH_MAX_ITEMS) {
        *why = "too many entries in a map or array";
        return LH_E_TOO_LARGE;
    }

    //  Skip the original map header and append its entries unchanged
    const uint8_t *b = (const uint8_t *) map;
    size_t header = b[0] == 0xDE ? 3 : b[0] == 0xDF ? 5 : 1;
    size_t start = out->size;
    msgpack_packer pk;
    msgpack_packer_init (&pk, out, msgpack_sbuffer_write);
    msgpack_pack_map (&pk, entries + 1);
    codec_pack_kv_u64 (&pk, "id", id);
    msgpack_sbuffer_write (out, (const char *) b + header, size - header);
    if (out->size - start > LH_MAX_BODY) {
        out->size = start;
        *why = "body too large";
        return LH_E_TOO_LARGE;
    }
    return LH_OK;
}

void
codec_put_be64 (uint8_t *out, uint64_t value)
{
    for (int i = 7; i >= 0; i--, value >>= 8)
        out[i] = (uint8_t) value;
}

uint64_t
codec_get_be64 (const uint8_t *in)
{
    uint64_t value = 0;
    for (int i = 0; i < 8; i++)
        value = value << 8 | in[i];
    return value;
}
