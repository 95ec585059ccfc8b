/*  transport -- raft_uv's TCP transport with Nagle's algorithm turned off.

    libraft 0.15's TCP transport leaves TCP_NODELAY off, so a second
    AppendEntries on a connection waits for the peer's delayed ACK (about
    40 ms on Linux) and every commit with more than one entry in flight
    pays for it. This wraps raft_uv_tcp and sets TCP_NODELAY on every
    connection it makes or accepts; everything else is delegated.
*/
#ifndef LH_TRANSPORT_H_INCLUDED
#define LH_TRANSPORT_H_INCLUDED

#include <raft.h>
#include <raft/uv.h>
#include <uv.h>

typedef struct {
    struct raft_uv_transport outer; //  hand this one to raft_uv_init
    struct raft_uv_transport tcp;   //  raft_uv_tcp, doing the work
    raft_uv_accept_cb accept_cb;
    raft_uv_connect_cb connect_cb;
    raft_uv_transport_close_cb close_cb;
} transport_t;

//  Returns 0 or a raft error code. The struct must stay put until closed.
int transport_init (transport_t *self, uv_loop_t *loop);
//  After raft_uv_close: releases the TCP transport's memory.
void transport_close (transport_t *self);

#endif
