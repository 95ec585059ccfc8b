/*  lh_proto.h -- wire constants of the Lighthouse protocol.

    Normative text: docs/PROTOCOL.md. Every number here is quoted there;
    change both together and bump LH_PROTO_VERSION when a change is not
    backwards compatible.
*/
#ifndef LH_PROTO_H_INCLUDED
#define LH_PROTO_H_INCLUDED

#define LH_PROTO_VERSION 1

//  7/MDP protocol headers and worker commands
#define MDPC_CLIENT     "MDPC01"
#define MDPW_WORKER     "MDPW01"
#define MDPW_READY      0x01
#define MDPW_REQUEST    0x02
#define MDPW_REPLY      0x03
#define MDPW_HEARTBEAT  0x04
#define MDPW_DISCONNECT 0x05
//  Lighthouse extension: [topic, body] from a worker, re-published by the
//  broker on its PUB socket when topic is the worker's service name or
//  starts with it and a dot ("validate.decisions").
#define MDPW_PUBLISH 0x06

//  Limits, enforced by the broker and the codec
#define LH_MAX_BODY     (1024 * 1024) //  bytes in one body frame
#define LH_MAX_FRAMES   8             //  frames in one message, envelope included
#define LH_MAX_DEPTH    16            //  nesting of maps and arrays
#define LH_MAX_STR      (512 * 1024)  //  bytes in one str or bin value
#define LH_MAX_KEY      64            //  bytes in one map key
#define LH_MAX_ITEMS    4096          //  entries in one map or array
#define LH_MAX_SERVICE  64            //  bytes in a service name
#define LH_MAX_ID       64            //  bytes in a string request id
#define LH_MAX_MESSAGE  512           //  bytes in an error message
#define LH_MAX_AGENT    64            //  bytes in an agent id
#define LH_MAX_CAPACITY 1024          //  requests in flight per worker
#define LH_MAX_TOPIC    128           //  bytes in a PUB topic

//  Error codes: a closed list. Order is ABI (lh_err_t), names are wire.
typedef enum {
    LH_OK = 0,
    LH_E_BAD_REQUEST,     //  malformed frames or body, wrong field types
    LH_E_TOO_LARGE,       //  a limit above was exceeded
    LH_E_UNKNOWN_SERVICE, //  no such service is known to the broker
    LH_E_FORBIDDEN,       //  the caller's role may not call this service
    LH_E_RATE_LIMITED,    //  the caller exceeded its request rate
    LH_E_OVERLOADED,      //  a queue or peer buffer is full
    LH_E_UNAVAILABLE,     //  no worker took the request before its deadline
    LH_E_TIMEOUT,         //  a worker took the request but did not answer in time
    LH_E_WORKER_LOST,     //  the worker died holding the request, no retry possible
    LH_E_NOT_FOUND,       //  the service found nothing under that key
    LH_E_INTERNAL,        //  a bug or resource failure inside Lighthouse
    LH_E_UNSUPPORTED,     //  the request asks for something this version lacks
    LH_E_COUNT
} lh_err_t;

#endif
