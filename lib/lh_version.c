/*  lh_version.c -- the version the library was built as. */
#include "lh_version.h"

const char *
lh_version (void)
{
    return LH_VERSION_STRING;
}
