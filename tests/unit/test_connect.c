/*  lh_connect_endpoints: the broker lists every peer reads (PROTOCOL.md 12.6),
    and what the SDK makes of a bad one. */
#include "lh_client.h"
#include "lh_connect.h"
#include "lh_worker.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

static void
s_expect (const char *list, size_t count, const char *first, const char *last)
{
    zlistx_t *endpoints = lh_connect_endpoints (list);
    assert_non_null (endpoints);
    assert_int_equal (zlistx_size (endpoints), count);
    assert_string_equal ((const char *) zlistx_first (endpoints), first);
    assert_string_equal ((const char *) zlistx_last (endpoints), last);
    zlistx_destroy (&endpoints);
}

static void
test_lists (void **state)
{
    (void) state;
    s_expect ("tcp://a:5555", 1, "tcp://a:5555", "tcp://a:5555");
    s_expect ("tcp://a:5555,tcp://b:5555", 2, "tcp://a:5555", "tcp://b:5555");
    s_expect (" tcp://a:1 ,\ttcp://b:2 , ipc:///run/c ", 3, "tcp://a:1", "ipc:///run/c");
    char list[16 * 16 + 1] = "";
    for (int i = 0; i < LH_MAX_BROKERS; i++)
        snprintf (list + strlen (list), sizeof (list) - strlen (list), "%stcp://h:%d", i ? "," : "",
                  1000 + i);
    s_expect (list, LH_MAX_BROKERS, "tcp://h:1000", "tcp://h:1015");
}

static void
test_bad_lists (void **state)
{
    (void) state;
    const char *bad[] = {
        "", " ", ",", "tcp://a:1,", ",tcp://a:1", "tcp://a:1,,tcp://b:2", "tcp://a:1, ,tcp://b:2"};
    for (size_t i = 0; i < sizeof (bad) / sizeof (bad[0]); i++)
        assert_null (lh_connect_endpoints (bad[i]));
    assert_null (lh_connect_endpoints (NULL));
    char list[17 * 16 + 1] = "";
    for (int i = 0; i <= LH_MAX_BROKERS; i++)
        snprintf (list + strlen (list), sizeof (list) - strlen (list), "%stcp://h:%d", i ? "," : "",
                  1000 + i);
    assert_null (lh_connect_endpoints (list));
    //  The SDK refuses them too, rather than connect to part of a list
    lh_connect_t conn = {.endpoint = "tcp://127.0.0.1:1,"};
    assert_null (lh_client_new (&conn));
    assert_null (lh_worker_new (&conn, "echo", 1));
    assert_null (lh_connect_sub (&conn));
}

//  A client of three brokers, none of them there: it holds, then fails
//  closed on its deadline like a client of one
static void
test_client_of_nobody (void **state)
{
    (void) state;
    lh_connect_t conn = {.endpoint = "tcp://127.0.0.1:1,tcp://127.0.0.1:2,tcp://127.0.0.1:3"};
    lh_client_t *client = lh_client_new (&conn);
    assert_non_null (client);
    assert_int_equal (lh_client_brokers (client), 3);
    assert_int_equal (lh_client_brokers_up (client), 0);
    lh_client_set_timeout (client, 200);
    lh_client_set_retries (client, 1);
    lh_reply_t *reply = lh_client_call (client, "echo", "\x80", 1);
    assert_non_null (reply);
    assert_int_equal (lh_reply_code (reply), LH_E_TIMEOUT);
    lh_reply_destroy (&reply);
    assert_int_equal (lh_client_pending (client), 0);
    lh_client_destroy (&client);
}

int
main (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_lists),
        cmocka_unit_test (test_bad_lists),
        cmocka_unit_test (test_client_of_nobody),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
