/*  lh_mountinfo -- is a Lighthouse file system mounted at a path? Read from
    /proc/self/mountinfo: lh, the benches and the tests wait on it.
*/
#ifndef LH_MOUNTINFO_H_INCLUDED
#define LH_MOUNTINFO_H_INCLUDED

#include <stdbool.h>

//  True when a file system whose source (fsname) is source ("lh-workspace",
//  "lh-log"; NULL: any) is mounted exactly at mountpoint (an absolute path
//  as the kernel writes it, without symlinks)
bool lh_mounted (const char *mountpoint, const char *source);

#endif
