/*  event -- the integrity log's event model (docs/EVENTS.md).

    An event travels in three forms:
    - in an append request, a map the caller wrote ({type, data, ...});
    - in a Raft entry, the "body": the canonical map without its sequence
      number, written by the leader once it has checked the request and
      stamped the time and the authenticated appender;
    - in the log, the "leaf": {seq, <body's pairs>}, the bytes the Merkle
      tree hashes. event_leaf turns a body into a leaf without re-encoding.
*/
#ifndef LH_EVENT_H_INCLUDED
#define LH_EVENT_H_INCLUDED

#include "codec.h"

#define EVENT_VERSION   1
#define EVENT_MAX_REF   64           //  bytes in client_id, correlation, causation
#define EVENT_MAX_DATA  (256 * 1024) //  bytes of the packed data map
#define EVENT_MAX_BATCH 256          //  events in one append request
#define EVENT_MAX_PATH  4096         //  bytes in a file.* event's data.path

typedef enum {
    EVENT_COMMAND_RECEIVED,
    EVENT_COMMAND_VALIDATED,
    EVENT_COMMAND_EXECUTED,
    EVENT_DECISION,
    EVENT_ESCALATION, //  escalation.requested: a case handed to experts (lh-expert)
    EVENT_VERDICT,    //  expert.verdict: an expert's verdict (lh-expert)
    EVENT_FILE_WRITE,
    EVENT_SESSION_START,
    EVENT_SESSION_END,
    EVENT_AGENT_JOIN,
    EVENT_AGENT_LEAVE,
    EVENT_INTEGRITY_ALERT,
    EVENT_CUSTOM,
    EVENT_POLICY_LOADED,       //  a validator loaded its policy (node, admin)
    EVENT_ESCALATION_ASSIGNED, //  lh-expert offered an escalation to an automated expert
    EVENT_ESCALATION_EXPIRED,  //  an escalation's life ended without a verdict
    EVENT_VERDICT_REVOKED,     //  a remembered verdict was revoked
    EVENT_VERDICT_USED,        //  a validator allowed a request on a remembered verdict
    //  What a guarded workspace (lh-fuse) saw change, besides file.write; each
    //  needs data.path as file.write does. New types go last: the store
    //  indexes events by these numbers
    EVENT_FILE_DELETE, //  a file or directory removed
    EVENT_FILE_RENAME, //  renamed: data.path the old name, data.target the new
    EVENT_FILE_MKDIR,  //  a directory made
    EVENT_FILE_LINK,   //  a hard or symbolic link made (data.kind)
    EVENT_FILE_ATTR,   //  mode, owner or extended attributes changed (data.op)
    EVENT_TYPE_COUNT
} event_type_t;

typedef struct {
    uint64_t seq; //  leaves only
    int64_t ts;   //  wall clock, ns since the epoch, stamped by the leader
    event_type_t type;
    char agent[LH_MAX_AGENT + 1]; //  whom the event is about
    char by[LH_MAX_AGENT + 1];    //  who appended it (the broker's caller frame)
    char role[16];                //  the appender's role
    char client_id[EVENT_MAX_REF + 1];
    char correlation[EVENT_MAX_REF + 1];
    char causation[EVENT_MAX_REF + 1];
    const msgpack_object *data; //  a map, borrowed from the decoded document
} event_t;

//  Wire name ("file.write"); NULL out of range.
const char *event_type_name (event_type_t type);
//  Inverse of event_type_name; -1 when unknown.
int event_type_parse (const char *name, size_t len);
//  Whether a caller with this role may append events of this type.
bool event_type_allowed (event_type_t type, const char *role);
//  True when text[0..len) is a valid client_id, correlation or causation:
//  1..EVENT_MAX_REF bytes of printable ASCII without spaces.
bool event_ref_valid (const char *text, size_t len);

//  Checks one event map of an append request from the authenticated caller
//  and fills *ev (ts left 0). Returns LH_OK or an error with why set:
//  unknown keys or wrong types are bad_request, an agent other than the
//  caller's from a role that may only speak for itself or a type the role
//  may not append is forbidden, over-long fields are too_large.
lh_err_t event_check (const msgpack_object *obj, const char *caller_agent, const char *caller_role,
                      event_t *ev, char *why, size_t why_size);

//  Packs the head of an append request: {op: "append", events: [ with
//  room for count event maps, which the caller packs next.
void event_pack_append (msgpack_packer *pk, size_t count);

//  Packs ev as an entry body. Returns the packed size of its data map, so
//  that the caller can hold it to EVENT_MAX_DATA.
size_t event_pack_body (msgpack_packer *pk, const event_t *ev);

//  Appends to out the leaf for body at seq. -1 if body is not a map.
int event_leaf (const void *body, size_t size, uint64_t seq, msgpack_sbuffer *out);

//  Decodes a leaf strictly into *ev; *doc_p owns what ev->data points to.
//  Returns LH_OK or LH_E_BAD_REQUEST with why set.
lh_err_t event_decode (const void *leaf, size_t size, event_t *ev, codec_doc_t **doc_p, char *why,
                       size_t why_size);

#endif
