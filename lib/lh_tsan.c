/*  lh_tsan.c -- ThreadSanitizer suppressions, built into every program of
    a -DLH_TSAN=ON build (so that they hold in processes started with a
    clean environment, such as lh hook under test).

    libzmq, czmq and libsodium come uninstrumented from Debian: ZeroMQ's
    I/O thread decrypts (libsodium) and hands messages to application
    threads through lock-free pipes TSan cannot see, so every message looks
    like a race. Races with a frame in those libraries, or memory they
    touch through intercepted calls, are theirs; races between our own
    threads (the replica's libuv work threads, the validator's) are still
    reported. czmq's fork handlers unlock in the child what the parent
    locked. LMDB's copy thread (mdb_env_copy2 with compaction, the
    replica's snapshots) writes to a file descriptor whose number a libuv
    work thread used before, and libuv's loop registers with epoll a file
    that its thread pool opened (Raft's disk I/O): TSan sees one fd passed
    between threads it cannot see synchronise, the kernel two files.
*/
const char *__tsan_default_suppressions (void);

const char *
__tsan_default_suppressions (void)
{
    return "race:libzmq.so\n"
           "race:libczmq.so\n"
           "race:libsodium.so\n"
           "race:libstdc++.so\n"
           "race:liblmdb.so\n"
           "race:epoll_ctl\n"
           "called_from_lib:libzmq.so.5\n"
           "called_from_lib:libsodium.so.23\n"
           "mutex:__run_postfork_handlers\n";
}
