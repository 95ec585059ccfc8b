/*  fuzz_paths -- libFuzzer target for the paths the log view takes from
    events (logmodel_path_ok): file.* events carry attacker-controlled
    paths that name files under shadows/ and history/.

    Oracles (a failure abort()s, so libFuzzer keeps the input): an accepted
    path is absolute, at most 4096 bytes, free of control bytes, of empty,
    "." and ".." components and of components over 255 bytes, and does not
    end in "/"; so placed under any root it names something below that
    root, the same thing lexically as after resolving "." and "..". And a
    path made only of safe components joined by "/" is accepted.
*/
#include "fuzz_common.h"
#include "logmodel.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

static void
s_check_accepted (const char *p, size_t n)
{
    FUZZ_ASSERT (n >= 2 && n <= 4096 && p[0] == '/' && p[n - 1] != '/');
    size_t start = 1;
    for (size_t i = 1; i <= n; i++) {
        if (i < n) {
            unsigned char c = (unsigned char) p[i];
            FUZZ_ASSERT (c >= 0x20 && c != 0x7f);
        }
        if (i == n || p[i] == '/') {
            size_t len = i - start;
            FUZZ_ASSERT (len >= 1 && len <= 255);
            FUZZ_ASSERT (!(len == 1 && p[start] == '.'));
            FUZZ_ASSERT (!(len == 2 && p[start] == '.' && p[start + 1] == '.'));
            start = i + 1;
        }
    }
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
    const char *p = (const char *) data;
    if (logmodel_path_ok (p, size))
        s_check_accepted (p, size);
    //  The same bytes made safe: every byte outside printable ASCII, every
    //  "/" run and every dot-only component replaced: accepted
    char safe[4200];
    size_t n = 0;
    safe[n++] = '/';
    for (size_t i = 0; i < size && n < 4000; i++) {
        unsigned char c = data[i];
        char out = c > 0x20 && c < 0x7f && c != '/' && c != '.' ? (char) c : 'x';
        if (c == '/' && safe[n - 1] != '/' && (n % 200) != 0)
            out = '/';
        safe[n++] = out;
        if (n % 200 == 0 && safe[n - 1] != '/')
            safe[n++] = '/';
    }
    if (safe[n - 1] == '/')
        safe[n++] = 'x';
    FUZZ_ASSERT (logmodel_path_ok (safe, n));
    return 0;
}
