/*  lh_mountinfo -- see lh_mountinfo.h */
#include "lh_mountinfo.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

//  A mountinfo field unescaped in place (\040 for a space, \011, \012, \134)
static void
s_unescape (char *field)
{
    char *out = field;
    for (char *in = field; *in; in++) {
        if (in[0] == '\\' && in[1] >= '0' && in[1] <= '3' && in[2] >= '0' && in[2] <= '7' &&
            in[3] >= '0' && in[3] <= '7') {
            *out++ = (char) ((in[1] - '0') * 64 + (in[2] - '0') * 8 + (in[3] - '0'));
            in += 3;
        } else
            *out++ = *in;
    }
    *out = 0;
}

bool
lh_mounted (const char *mountpoint, const char *source)
{
    FILE *f = fopen ("/proc/self/mountinfo", "r");
    if (!f)
        return false;
    char *line = NULL;
    size_t cap = 0;
    bool found = false;
    //  ID PARENT MAJ:MIN ROOT MOUNTPOINT OPTIONS [OPTIONAL...] - FSTYPE SOURCE SUPER
    while (!found && getline (&line, &cap, f) > 0) {
        char *save = NULL, *field = strtok_r (line, " \n", &save);
        char *point = NULL, *src = NULL;
        bool dash = false;
        for (int i = 0; field; i++, field = strtok_r (NULL, " \n", &save)) {
            if (i == 4)
                point = field;
            else if (dash) {
                field = strtok_r (NULL, " \n", &save); //  after the type, the source
                src = field;
                break;
            } else if (i > 5 && strcmp (field, "-") == 0)
                dash = true;
        }
        if (!point)
            continue;
        s_unescape (point);
        if (strcmp (point, mountpoint) != 0)
            continue;
        if (src)
            s_unescape (src);
        found = !source || (src && strcmp (src, source) == 0);
    }
    free (line);
    fclose (f);
    return found;
}
