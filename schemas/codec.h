/*  codec -- strict, bounded msgpack bodies.

    Every body on the wire is one msgpack map. codec_check walks the bytes
    without allocating and rejects anything outside PROTOCOL.md's limits
    before msgpack-c ever sees it, so a forged length cannot make us
    allocate. codec_doc_t owns a decoded body; the field getters turn a
    missing or mistyped field into an lh_err_t and a message.
*/
#ifndef LH_CODEC_H_INCLUDED
#define LH_CODEC_H_INCLUDED

#include <msgpack.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lh_proto.h"

typedef struct {
    size_t max_size;  //  whole body, bytes
    size_t max_depth; //  container nesting
    size_t max_str;   //  one str or bin value
    size_t max_key;   //  one map key
    size_t max_items; //  entries in one container
} codec_limits_t;

//  The protocol's limits (LH_MAX_*).
const codec_limits_t *codec_limits_default (void);

//  Wire name of an error code ("bad_request", ...); "internal" if out of range.
const char *codec_err_name (lh_err_t code);
//  Inverse of codec_err_name; LH_E_COUNT if the name is not on the list.
lh_err_t codec_err_from_name (const char *name, size_t len);
//  The code of a reply map's error: {error: {code: str}}; LH_E_INTERNAL
//  when it is missing, not a str, or not on the list.
lh_err_t codec_reply_code (const msgpack_object *reply);

//  Checks that buf holds exactly one msgpack map within limits: known types
//  only, string keys, valid UTF-8 in str, no trailing bytes. Returns LH_OK or
//  LH_E_BAD_REQUEST / LH_E_TOO_LARGE with *why set to a static message.
lh_err_t codec_check (const void *buf, size_t size, const codec_limits_t *limits, const char **why);

//  codec_check with the protocol's limits, and the body must carry a valid
//  top-level "id" (see codec_id_valid): what the broker requires of requests.
lh_err_t codec_check_request (const void *buf, size_t size, const char **why);

typedef struct _codec_doc_t codec_doc_t;

//  Checks and decodes a body; also rejects duplicate map keys. The doc keeps
//  its own copy of the bytes, so buf may be freed at once. NULL on failure,
//  with *err and *why (static) set.
codec_doc_t *codec_doc_decode (const void *buf, size_t size, lh_err_t *err, const char **why);
//  The same within other limits (for documents that are not wire bodies,
//  such as a Raft entry gathering many requests).
codec_doc_t *codec_doc_decode_limits (const void *buf, size_t size, const codec_limits_t *limits,
                                      lh_err_t *err, const char **why);
void codec_doc_destroy (codec_doc_t **self_p);
//  The root map.
const msgpack_object *codec_doc_root (const codec_doc_t *self);

//  Field lookup in a map object; NULL if absent or obj is not a map.
const msgpack_object *codec_map_get (const msgpack_object *map, const char *key);

//  Typed getters. Return LH_OK; LH_E_BAD_REQUEST when the field is
//  required and absent, has the wrong type or is out of range;
//  LH_E_TOO_LARGE when a string is over max_len. *why then names the field. When optional and
//  absent, return LH_OK and leave the out-parameters untouched.
lh_err_t codec_get_str (const msgpack_object *map, const char *key, bool required, size_t max_len,
                        const char **str, size_t *len, char *why, size_t why_size);
lh_err_t codec_get_int (const msgpack_object *map, const char *key, bool required, int64_t min,
                        int64_t max, int64_t *value, char *why, size_t why_size);
lh_err_t codec_get_bool (const msgpack_object *map, const char *key, bool required, bool *value,
                         char *why, size_t why_size);
lh_err_t codec_get_map (const msgpack_object *map, const char *key, bool required,
                        const msgpack_object **value, char *why, size_t why_size);

//  A name (service, agent id): 1 to max bytes of [A-Za-z0-9._-] (PROTOCOL.md 7, 11.3).
bool codec_name_valid (const char *text, size_t len, size_t max);

//  A request id must be a non-negative integer or a str of at most LH_MAX_ID bytes.
bool codec_id_valid (const msgpack_object *id);

//  Copies a str object into a NUL-terminated buffer; false if it does not fit.
bool codec_str_copy (const msgpack_object *obj, char *buf, size_t size);
//  True if obj is a str equal to text.
bool codec_str_eq (const msgpack_object *obj, const char *text);

//  A msgpack buffer with its packer: pack through &self->pk, read
//  self->sbuf.data and .size. The packer points into the struct, so it
//  must not be copied or moved after codec_buf_init.
typedef struct {
    msgpack_sbuffer sbuf;
    msgpack_packer pk;
} codec_buf_t;

void codec_buf_init (codec_buf_t *self);
void codec_buf_destroy (codec_buf_t *self);

//  Packing helpers
void codec_pack_str (msgpack_packer *pk, const char *text);
void codec_pack_strn (msgpack_packer *pk, const char *text, size_t len);
//  Key/value pairs of a map: the key a str, then the value
void codec_pack_kv_str (msgpack_packer *pk, const char *key, const char *value);
void codec_pack_kv_u64 (msgpack_packer *pk, const char *key, uint64_t value);
void codec_pack_kv_i64 (msgpack_packer *pk, const char *key, int64_t value);
void codec_pack_kv_bool (msgpack_packer *pk, const char *key, bool value);
void codec_pack_kv_bin (msgpack_packer *pk, const char *key, const void *data, size_t size);
//  Packs id (nil when NULL) as the value of "id".
void codec_pack_id (msgpack_packer *pk, const msgpack_object *id);
//  Packs the head of a reply map: {id, ok: true} plus room for extra pairs
//  the caller packs next.
void codec_pack_ok_head (msgpack_packer *pk, const msgpack_object *id, size_t extra);
//  Packs a whole error reply: {id, ok: false, error: {code, message}}.
void codec_pack_error (msgpack_packer *pk, const msgpack_object *id, lh_err_t code,
                       const char *message);

//  A u64 as 8 big-endian bytes: LMDB compares keys with memcmp, so these
//  keys sort in numeric order
void codec_put_be64 (uint8_t *out, uint64_t value);
uint64_t codec_get_be64 (const uint8_t *in);

//  Appends to out a body that is map + {"id": id}: copies the map's entries
//  after a new header. Fails (LH_E_BAD_REQUEST) when map already has "id",
//  LH_E_TOO_LARGE when the result would pass a limit; out is then unchanged.
lh_err_t codec_with_id (const void *map, size_t size, uint64_t id, msgpack_sbuffer *out,
                        const char **why);

#endif
