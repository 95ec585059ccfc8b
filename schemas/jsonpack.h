/*  jsonpack -- JSON <-> msgpack conversion for people and scripts.

    The wire speaks msgpack only; JSON exists at the edges (lh call, the
    Claude Code hook, files in the FUSE mount). Conversion is exact for
    nil/bool/int/float/str/map/array; bin becomes a base64 string.
*/
#ifndef LH_JSONPACK_H_INCLUDED
#define LH_JSONPACK_H_INCLUDED

#include <jansson.h>
#include <msgpack.h>
#include <stdbool.h>
#include <stddef.h>

//  Parses JSON text (duplicate keys rejected) and appends its msgpack form
//  to out. Returns 0, or -1 with a message in why.
int jsonpack_from_json (const char *text, size_t len, msgpack_sbuffer *out, char *why,
                        size_t why_size);

//  Renders obj as JSON. pretty: indented over several lines. Returns a
//  heap string the caller frees, NULL on failure.
char *jsonpack_to_json (const msgpack_object *obj, bool pretty);

//  The same as a jansson value (a new reference; NULL for NULL or on
//  failure), for programs that build JSON of their own around it.
json_t *jsonpack_to_value (const msgpack_object *obj);

#endif
