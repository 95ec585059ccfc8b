/*  uvzmq -- ZeroMQ sockets watched by a libuv loop.

    A ZeroMQ socket's ZMQ_FD is no data descriptor: it signals, edge-
    triggered, that the socket's state changed. Messages can wait with the
    descriptor silent: when a send on the socket took the edge, or when a
    reader stopped before the socket was empty. So a watcher calls back
    when the descriptor polls readable and again before every poll of the
    loop, and a callback reads without waiting until nothing is left (or
    stops early: it is called again before the loop sleeps).

    Two ways to watch:
      uvzmq_watch     a zsock_t: callbacks come only while ZMQ_EVENTS shows
                      POLLIN, and the loop does not sleep while it does;
      uvzmq_watch_fd  the ZMQ_FD of a socket a library keeps to itself
                      (lh_worker_fd): ZMQ_EVENTS is out of reach, so the
                      before-poll callback comes every turn of the loop.
                      Such a descriptor changes when the library opens a new
                      socket: call uvzmq_watch_fd again after reading.

    Everything runs on the loop's thread; callbacks may call any function
    here on their own watcher except uvzmq_destroy.
*/
#ifndef LH_UVZMQ_H_INCLUDED
#define LH_UVZMQ_H_INCLUDED

#include <czmq.h>
#include <uv.h>

typedef struct _uvzmq_t uvzmq_t;
typedef void (uvzmq_fn) (uvzmq_t *watch, void *arg);

//  A watcher that watches nothing yet. NULL when out of memory.
uvzmq_t *uvzmq_new (uv_loop_t *loop, uvzmq_fn *readable, void *arg);
//  Stops watching and frees the watcher once the loop has closed its
//  handles (on the loop's next turn): the loop must run again.
void uvzmq_destroy (uvzmq_t **self_p);

//  Watches sock, which stays the caller's (NULL: nothing). 0, or a libuv
//  error code, after which the watcher watches nothing.
int uvzmq_watch (uvzmq_t *self, zsock_t *sock);
//  Watches the descriptor fd (-1: nothing); the same fd again is a no-op.
//  0, or a libuv error code, after which the watcher watches nothing.
int uvzmq_watch_fd (uvzmq_t *self, int fd);
//  Watches nothing.
void uvzmq_stop (uvzmq_t *self);

#endif
