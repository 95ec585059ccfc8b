#!/usr/bin/env bash
# The SDK as a user gets it: cmake --install into a temporary prefix, then
# build examples/agent against the *installed* headers and libraries with
# pkg-config (shared and static) and with find_package, run it against a
# live broker and validator started from the installed binaries (the
# validator finding the installed default policy without --policy), and
# check what the install holds: only lh_* exported, SONAME, man pages,
# --version from every binary.
#
#   test_install.sh BUILD_DIR SOURCE_DIR
set -euo pipefail
build=$1
src=$2
tmp=$(mktemp -d /tmp/lh-install.XXXXXX)
pids=()
cleanup() {
    for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
    for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
    rm -rf "$tmp"
}
trap cleanup EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

prefix=$tmp/prefix
# The prefix must be the one the build was configured with for the
# compiled-in policy path; a DESTDIR install under $tmp keeps it.
configured=$(sed -n 's/^CMAKE_INSTALL_PREFIX:PATH=//p' "$build/CMakeCache.txt")
DESTDIR=$tmp/dest cmake --install "$build" >/dev/null
root=$tmp/dest$configured
[ -d "$root" ] || fail "nothing installed under $root"
libdir=$(sed -n 's/^CMAKE_INSTALL_LIBDIR:PATH=//p' "$build/CMakeCache.txt")
[ -e "$root/$libdir/liblighthouse.so" ] || fail "liblighthouse.so not installed in $libdir"
echo "installed under $root ($libdir)"

# What is installed
for f in include/lighthouse/lighthouse.h include/lighthouse/lh_version.h \
         "$libdir/liblighthouse.a" "$libdir/pkgconfig/lighthouse.pc" \
         "$libdir/cmake/lighthouse/lighthouseConfig.cmake" share/lighthouse/default.policy \
         bin/lh bin/lh-broker bin/lh-validator bin/lh-integrity bin/lh-echo bin/lh-cache bin/lh-expert \
         bin/lh-hook bin/lh-hookd \
         share/lighthouse/config/broker.cfg share/lighthouse/config/validator.cfg \
         share/lighthouse/config/integrity.cfg share/lighthouse/config/echo.cfg \
         share/lighthouse/config/hookd.cfg; do
    [ -e "$root/$f" ] || fail "missing $f"
done
for prog in lh lh-broker lh-validator lh-integrity lh-echo lh-cache lh-expert; do
    [ -s "$root/share/man/man1/$prog.1" ] || fail "no man page for $prog"
    out=$("$root/bin/$prog" --version) || fail "$prog --version failed"
    [[ "$out" == "$prog "[0-9]* ]] || fail "$prog --version said '$out'"
done
# lh COMMAND --help for every command and subcommand: usage, exit 0, no cluster
# (lh hook --help exits 2: a hook command that only printed help must still block)
set +e
out=$("$root/bin/lh" hook --help 2>&1)
status=$?
set -e
[ "$status" -eq 2 ] && grep -q '^Usage: lh ' <<<"$out" || fail "lh hook --help: exit $status: $out"
# lh-hook's --version exits 2 as its --help does; both have a man page, as lh-hookd has
for prog in lh-hook lh-hookd; do
    [ -s "$root/share/man/man1/$prog.1" ] || fail "no man page for $prog"
done
set +e
out=$("$root/bin/lh-hook" --version </dev/null 2>&1)
status=$?
set -e
[ "$status" -eq 2 ] && [[ "$out" == "lh-hook "[0-9]* ]] || fail "lh-hook --version: exit $status: $out"
for cmd in keygen status call ping validate policy "policy check" "policy reload" event \
    "event append" "event get" "event range" "event tail" "event query" "event proof" \
    "event export" checkpoint consistency verify version review "review list" approve expert \
    "expert serve"; do
    # shellcheck disable=SC2086
    out=$("$root/bin/lh" $cmd --help 2>&1) || fail "lh $cmd --help exited $?: $out"
    grep -q '^Usage: lh ' <<<"$out" || fail "lh $cmd --help printed no usage: $out"
done
# A value that looks like --help is a value, not a request for help
set +e
out=$("$root/bin/lh" --broker ipc:///nonexistent --timeout 200 validate --tool Bash --command --help 2>&1)
status=$?
set -e
[ "$status" -ne 0 ] || fail "lh validate --command --help exited 0 (an allow): $out"

soname=$(objdump -p "$root/$libdir/liblighthouse.so" | awk '/SONAME/ {print $2}')
[[ "$soname" == liblighthouse.so.[0-9]* ]] || fail "SONAME is '$soname'"
leaks=$(nm -D --defined-only "$root/$libdir/liblighthouse.so" | awk '{print $3}' | grep -v '^lh_' || true)
[ -z "$leaks" ] || fail "liblighthouse.so exports non-lh_ symbols: $(echo $leaks | head -c 300)"
leaks=$(nm -g --defined-only "$root/$libdir/liblighthouse.a" | awk 'NF == 3 {print $3}' | grep -v '^lh_' || true)
[ -z "$leaks" ] || fail "liblighthouse.a exports non-lh_ symbols: $(echo $leaks | head -c 300)"

# Fix the prefix in the .pc file and the CMake package to the DESTDIR copy
export PKG_CONFIG_PATH=$tmp/pc
mkdir -p "$tmp/pc"
for pc in lighthouse lighthouse-static; do
    sed "s|^prefix=.*|prefix=$root|" "$root/$libdir/pkgconfig/$pc.pc" > "$tmp/pc/$pc.pc"
done
pkg-config --exists lighthouse || fail "pkg-config cannot find lighthouse"
[ "$(pkg-config --modversion lighthouse)" = "$("$root/bin/lh" --version | cut -d' ' -f2)" ] ||
    fail "pkg-config version differs from lh --version"

# Build the example three ways, from a copy outside the source tree
cp -r "$src/examples/agent" "$tmp/agent"
make -s -C "$tmp/agent" >/dev/null || fail "make (shared) failed"
mv "$tmp/agent/agent" "$tmp/agent-shared"
make -s -C "$tmp/agent" LINK=static >/dev/null || fail "make LINK=static failed"
mv "$tmp/agent/agent" "$tmp/agent-static"
# (ldd's output taken whole: grep -q closing the pipe early fails the pipeline under pipefail)
deps=$(LD_LIBRARY_PATH=$root/$libdir ldd "$tmp/agent-static")
! grep -q liblighthouse <<<"$deps" || fail "the static build links liblighthouse.so"
deps=$(LD_LIBRARY_PATH=$root/$libdir ldd "$tmp/agent-shared")
grep -q 'liblighthouse.so' <<<"$deps" || fail "the shared build does not use liblighthouse.so"
cmake -S "$tmp/agent" -B "$tmp/agent-cmake" -DCMAKE_PREFIX_PATH="$root" >/dev/null ||
    fail "find_package(lighthouse) failed"
cmake --build "$tmp/agent-cmake" >/dev/null || fail "cmake build of the example failed"

export LD_LIBRARY_PATH=$root/$libdir

# A live cluster from the installed binaries: broker + validator, CURVE, ipc
keys=$tmp/keys
lh=$root/bin/lh
"$lh" keygen broker --dir "$keys" >/dev/null
"$lh" keygen validator --dir "$keys" --role node --roster "$keys/roster.zpl" >/dev/null
"$lh" keygen agent-1 --dir "$keys" --role agent --roster "$keys/roster.zpl" >/dev/null
broker_key=$(sed -n 's/^ *public-key = "\(.*\)"$/\1/p' "$keys/broker.cert")
front=ipc://$tmp/front back=ipc://$tmp/back pub=ipc://$tmp/pub
# The installed example configuration, with this test's endpoints and keys
"$root/bin/lh-broker" -c "$root/share/lighthouse/config/broker.cfg" \
    --frontend "$front" --backend "$back" --pub "$pub" \
    --cert "$keys/broker.cert_secret" --roster "$keys/roster.zpl" >"$tmp/broker.log" 2>&1 &
pids+=($!)
# No --policy: the installed default policy
"$root/bin/lh-validator" --broker "$back" --broker-key "$broker_key" \
    --cert "$keys/validator.cert_secret" --run-dir "$tmp/run" --home /home/dev \
    >"$tmp/validator.log" 2>&1 &
pids+=($!)
export LH_BROKER=$front LH_BROKER_KEY=$broker_key LH_CERT=$keys/agent-1.cert_secret
for _ in $(seq 100); do
    "$tmp/agent-shared" 'ls -la' /home/dev/project >/dev/null 2>&1 && break
    sleep 0.1
done
grep -q "share/lighthouse/default.policy" "$tmp/validator.log" ||
    fail "the validator did not load the installed policy: $(tail -3 "$tmp/validator.log")"

check() { # BINARY EXPECTED_STATUS COMMAND
    set +e
    out=$("$1" "$3" /home/dev/project 2>&1)
    status=$?
    set -e
    [ "$status" -eq "$2" ] || fail "$(basename "$1") '$3' exited $status, not $2: $out"
    echo "ok: $(basename "$1") '$3' -> $out"
}
for agent in "$tmp/agent-shared" "$tmp/agent-static" "$tmp/agent-cmake/agent"; do
    check "$agent" 0 'ls -la'
    check "$agent" 2 'rm -rf /'
done
# No cluster: no decision, never an allow
kill -TERM "${pids[0]}"
wait "${pids[0]}" 2>/dev/null || true
check "$tmp/agent-shared" 1 'ls -la'
echo "test_install: passed"
