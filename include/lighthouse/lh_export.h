/*  lh_export.h -- what liblighthouse exports.

    The library is built with hidden visibility: only declarations marked
    LH_EXPORT (all named lh_*) are visible to a program linking it, shared
    or static, so its internal modules never collide with a user's names.
*/
#ifndef LH_EXPORT_H_INCLUDED
#define LH_EXPORT_H_INCLUDED

#if defined(__GNUC__) || defined(__clang__)
#define LH_EXPORT __attribute__ ((visibility ("default")))
#else
#define LH_EXPORT
#endif

#endif
