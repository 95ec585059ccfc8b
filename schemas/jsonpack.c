/*  jsonpack -- JSON <-> msgpack conversion. See jsonpack.h. */
#include "jsonpack.h"

#include <jansson.h>
#include <math.h>
#include <sodium.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void
s_pack_json (msgpack_packer *pk, const json_t *json)
{
    switch (json_typeof (json)) {
    case JSON_OBJECT: {
        msgpack_pack_map (pk, json_object_size (json));
        const char *key;
        json_t *value;
        json_object_foreach ((json_t *) json, key, value)
        {
            size_t len = strlen (key);
            msgpack_pack_str (pk, len);
            msgpack_pack_str_body (pk, key, len);
            s_pack_json (pk, value);
        }
        break;
    }
    case JSON_ARRAY: {
        msgpack_pack_array (pk, json_array_size (json));
        size_t index;
        json_t *value;
        json_array_foreach (json, index, value) s_pack_json (pk, value);
        break;
    }
    case JSON_STRING:
        msgpack_pack_str (pk, json_string_length (json));
        msgpack_pack_str_body (pk, json_string_value (json), json_string_length (json));
        break;
    case JSON_INTEGER:
        msgpack_pack_int64 (pk, json_integer_value (json));
        break;
    case JSON_REAL:
        msgpack_pack_double (pk, json_real_value (json));
        break;
    case JSON_TRUE:
        msgpack_pack_true (pk);
        break;
    case JSON_FALSE:
        msgpack_pack_false (pk);
        break;
    case JSON_NULL:
        msgpack_pack_nil (pk);
        break;
    }
}

int
jsonpack_from_json (const char *text, size_t len, msgpack_sbuffer *out, char *why, size_t why_size)
{
    json_error_t error;
    json_t *json =
        json_loadb (text, len, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY | JSON_ALLOW_NUL, &error);
    if (!json) {
        snprintf (why, why_size, "invalid JSON at line %d column %d: %s", error.line, error.column,
                  error.text);
        return -1;
    }
    msgpack_packer pk;
    msgpack_packer_init (&pk, out, msgpack_sbuffer_write);
    s_pack_json (&pk, json);
    json_decref (json);
    return 0;
}

//  msgpack-c gives zero-length strings a NULL pointer; jansson wants a real one
static const char *
s_ptr (const char *ptr)
{
    return ptr ? ptr : "";
}

//  NULL when any part cannot be converted: nothing is silently dropped.
static json_t *
s_to_json (const msgpack_object *obj)
{
    switch (obj->type) {
    case MSGPACK_OBJECT_NIL:
        return json_null ();
    case MSGPACK_OBJECT_BOOLEAN:
        return json_boolean (obj->via.boolean);
    case MSGPACK_OBJECT_POSITIVE_INTEGER:
        if (obj->via.u64 > (uint64_t) INT64_MAX)
            return json_real ((double) obj->via.u64);
        return json_integer ((json_int_t) obj->via.u64);
    case MSGPACK_OBJECT_NEGATIVE_INTEGER:
        return json_integer ((json_int_t) obj->via.i64);
    case MSGPACK_OBJECT_FLOAT32:
    case MSGPACK_OBJECT_FLOAT64:
        //  JSON has no NaN or infinities: name them as strings
        if (isnan (obj->via.f64))
            return json_string ("NaN");
        if (isinf (obj->via.f64))
            return json_string (obj->via.f64 > 0 ? "Infinity" : "-Infinity");
        return json_real (obj->via.f64);
    case MSGPACK_OBJECT_STR:
        return json_stringn_nocheck (s_ptr (obj->via.str.ptr), obj->via.str.size);
    case MSGPACK_OBJECT_BIN: {
        size_t size = sodium_base64_encoded_len (obj->via.bin.size, sodium_base64_VARIANT_ORIGINAL);
        char *text = malloc (size);
        if (!text)
            return NULL;
        sodium_bin2base64 (text, size, (const unsigned char *) s_ptr (obj->via.bin.ptr),
                           obj->via.bin.size, sodium_base64_VARIANT_ORIGINAL);
        json_t *json = json_string (text);
        free (text);
        return json;
    }
    case MSGPACK_OBJECT_ARRAY: {
        json_t *array = json_array ();
        for (uint32_t i = 0; array && i < obj->via.array.size; i++) {
            json_t *item = s_to_json (&obj->via.array.ptr[i]);
            if (!item || json_array_append_new (array, item) != 0) {
                json_decref (array);
                array = NULL;
            }
        }
        return array;
    }
    case MSGPACK_OBJECT_MAP: {
        json_t *map = json_object ();
        for (uint32_t i = 0; map && i < obj->via.map.size; i++) {
            const msgpack_object_kv *kv = &obj->via.map.ptr[i];
            char fallback[16];
            const char *key = fallback;
            size_t key_len;
            if (kv->key.type == MSGPACK_OBJECT_STR) {
                key = s_ptr (kv->key.via.str.ptr);
                key_len = kv->key.via.str.size;
                //  JSON parsers (jansson among them) refuse NUL in keys
                if (memchr (key, 0, key_len)) {
                    json_decref (map);
                    return NULL;
                }
            } else
                key_len = (size_t) snprintf (fallback, sizeof (fallback), "#%u", i);
            json_t *value = s_to_json (&kv->val);
            if (!value || json_object_setn_new_nocheck (map, key, key_len, value) != 0) {
                json_decref (map);
                map = NULL;
            }
        }
        return map;
    }
    default:
        return NULL;
    }
}

json_t *
jsonpack_to_value (const msgpack_object *obj)
{
    return obj ? s_to_json (obj) : NULL;
}

char *
jsonpack_to_json (const msgpack_object *obj, bool pretty)
{
    json_t *json = s_to_json (obj);
    if (!json)
        return NULL;
    size_t flags =
        JSON_ENCODE_ANY | JSON_PRESERVE_ORDER | (pretty ? JSON_INDENT (2) : JSON_COMPACT);
    char *text = json_dumps (json, flags);
    json_decref (json);
    return text;
}
