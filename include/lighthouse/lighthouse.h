/*  lighthouse.h -- liblighthouse, the Lighthouse SDK.

    #include <lighthouse/lighthouse.h>, and build with
    `pkg-config --cflags --libs lighthouse` (or find_package(lighthouse) in
    CMake: the target lighthouse::lighthouse).

    - lh_client: an agent's side. Ask the broker's services (validate,
      events, events.read...) with pipelined, deadline-bound requests.
    - lh_appender: events to the integrity log, batched, exactly once, with
      a pollable descriptor for event loops.
    - lh_worker: a node's side. Serve a service through the broker.
    - lh_connect: the connection settings both share (endpoint, CURVE keys).
    - lh_proto.h: the wire constants and the closed list of error codes.

    Two libraries are part of this API, by design: request and reply bodies
    are msgpack, read as msgpack-c's msgpack_object (msgpack.h), and CURVE
    certificates are czmq's zcert_t (czmq.h). Their headers come with these.
    Bodies are specified in the repository's docs/PROTOCOL.md.

    Every symbol the library exports is named lh_*.
*/
#ifndef LIGHTHOUSE_H_INCLUDED
#define LIGHTHOUSE_H_INCLUDED

#include "lh_export.h"
#include "lh_version.h"
#include "lh_proto.h"
#include "lh_connect.h"
#include "lh_client.h"
#include "lh_appender.h"
#include "lh_worker.h"

#endif
