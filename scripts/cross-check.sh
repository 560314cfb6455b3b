#!/usr/bin/env bash
# Compile-checks session-vault for Windows (x86_64-pc-windows-gnu) and macOS
# (aarch64-apple-darwin) from a Linux machine: `cargo check` and `cargo
# clippy -D warnings`, nothing is linked or run (docs/windows.md).
#
# rustup cannot fetch other targets' std here, so this builds std from
# source (`-Z build-std`) with Debian trixie's rustc-web toolchain and its
# std sources (rust-web-src), inside a trixie chroot kept outside the repo.
# The chroot is made once (debootstrap, about 2.3 GB) and reused; the
# worktree and a cargo home are bind-mounted into it in a private mount
# namespace, so nothing stays mounted when this script ends.
#
# Needs root (debootstrap, chroot, mount) and network on the first run
# (Debian mirror, crates.io for the dependencies and std's own).
#
#   scripts/cross-check.sh            # windows + macos, check + clippy
#   scripts/cross-check.sh windows    # one target
#   SV_CROSS_CHROOT=/var/cache/sv-cross scripts/cross-check.sh
set -euo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
chroot_dir=${SV_CROSS_CHROOT:-$(dirname "$repo")/cross-chroot}
mirror=${SV_CROSS_MIRROR:-http://deb.debian.org/debian}
# gcc-mingw-w64-x86-64 compiles the bundled SQLite and ring (C) for
# windows-gnu; clang and llvm-ar compile and archive ring's C and assembly
# for aarch64-apple-darwin (sv-proxy's TLS).
packages="rustc-web cargo-web rust-web-src rust-web-clippy gcc-mingw-w64-x86-64 clang llvm libc6-dev ca-certificates pkg-config"
stamp="$chroot_dir/.session-vault-cross-ready"
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(windows macos)

die() { echo "cross-check.sh: $*" >&2; exit 1; }
[ "$(id -u)" = 0 ] || die "needs root (debootstrap, chroot, bind mounts); run it with sudo"
for t in "${targets[@]}"; do
    case $t in windows | macos) ;; *) die "unknown target '$t' (windows or macos)" ;; esac
done

setup_chroot() {
    if grep -q " $chroot_dir/" /proc/mounts; then
        die "something is mounted under $chroot_dir; unmount it first"
    fi
    echo "==> setting up the trixie chroot at $chroot_dir (once)"
    command -v debootstrap >/dev/null || apt-get install -y -q debootstrap
    if [ ! -x "$chroot_dir/usr/bin/apt-get" ] || [ ! -f "$chroot_dir/etc/os-release" ]; then
        rm -rf "$chroot_dir"
        debootstrap --variant=minbase trixie "$chroot_dir" "$mirror"
    fi
    cp /etc/resolv.conf "$chroot_dir/etc/resolv.conf"
    # apt (not debootstrap's --include) resolves the virtual libc-dev.
    chroot "$chroot_dir" sh -c "
        export DEBIAN_FRONTEND=noninteractive
        apt-get update -q && apt-get install -y -q -f &&
        apt-get install -y -q --no-install-recommends $packages && apt-get clean"
    mkdir -p "$chroot_dir/src" "$chroot_dir/cargo-home"
    echo "$packages" >"$stamp"
}

if [ "$(cat "$stamp" 2>/dev/null)" != "$packages" ]; then
    t0=$SECONDS
    setup_chroot
    echo "    (chroot set up in $((SECONDS - t0)) s)"
fi
cp /etc/resolv.conf "$chroot_dir/etc/resolv.conf"
# The host's trust store (it may hold a proxy's CA) for cargo's downloads.
cp /etc/ssl/certs/ca-certificates.crt "$chroot_dir/etc/ssl/host-ca-certificates.crt"

# What each target checks. Windows: every crate but sv-bench (a load
# generator for the Unix socket that reads /proc) and sv-testkit (test tools
# that drive agents as Unix process groups); the tpm2 feature links libtss2
# and is Linux-only. macOS: every crate too, but the bundled
# SQLite's C needs the macOS SDK, so libsqlite3-sys is told to link a system
# library instead (LIBSQLITE3_SYS_USE_PKG_CONFIG=1): its Rust is checked,
# its C is not compiled (nothing is linked by `check` anyway). ring's C and
# assembly (sv-proxy's TLS) are compiled for real, by clang and llvm-ar,
# against clang's own headers and a stand-in TargetConditionals.h.
inner=$(
    cat <<'EOF'
set -euo pipefail
cd /src
export CARGO_HOME=/cargo-home CARGO_TARGET_DIR=/src/target/cross RUSTC_BOOTSTRAP=1
export CARGO_TERM_COLOR=never CARGO_HTTP_CAINFO=/etc/ssl/host-ca-certificates.crt
zflags=(-Z build-std=std,panic_abort)
run() { echo "==> $*"; local t0=$SECONDS; "$@"; echo "    ($((SECONDS - t0)) s)"; }
for t in $TARGETS; do
    case $t in
    windows) triple=x86_64-pc-windows-gnu; pkgs=(--workspace --exclude sv-bench --exclude sv-testkit) ;;
    macos)
        # ring's build script compiles its C and assembly for the target:
        # clang (which cross-compiles to Apple targets; gcc does not) with
        # llvm-ar, which writes the Mach-O symbol index GNU ar cannot. With
        # no macOS SDK, clang gets no system headers (-nostdlibinc; ring
        # then uses compiler builtins for memcpy and friends, as it does for
        # wasm) and one stand-in: the SDK's TargetConditionals.h, which
        # ring's base.h includes for the TARGET_OS_* macros that clang
        # (since 18) defines itself for Apple targets.
        triple=aarch64-apple-darwin; pkgs=(--workspace)
        export LIBSQLITE3_SYS_USE_PKG_CONFIG=1 PKG_CONFIG_ALLOW_CROSS=1
        stub=/usr/local/share/session-vault-macos-stub
        mkdir -p $stub
        printf '%s\n' '/* Stand-in for the macOS SDK header (scripts/cross-check.sh). */' \
            '#if !defined(TARGET_OS_OSX)' \
            '#error "clang did not define TARGET_OS_*; the macOS SDK is needed"' \
            '#endif' >$stub/TargetConditionals.h
        export CC_aarch64_apple_darwin=clang AR_aarch64_apple_darwin=llvm-ar MACOSX_DEPLOYMENT_TARGET=11.0
        export CFLAGS_aarch64_apple_darwin="-nostdlibinc -DRING_CORE_NOSTDLIBINC=1 -isystem $stub"
        ;;
    esac
    run cargo check --locked "${zflags[@]}" --target $triple "${pkgs[@]}"
    run cargo clippy --locked "${zflags[@]}" --target $triple "${pkgs[@]}" -- -D warnings
    unset LIBSQLITE3_SYS_USE_PKG_CONFIG PKG_CONFIG_ALLOW_CROSS MACOSX_DEPLOYMENT_TARGET \
        CC_aarch64_apple_darwin AR_aarch64_apple_darwin CFLAGS_aarch64_apple_darwin
done
EOF
)

start=$SECONDS
# The single-quoted script expands inside the new namespace, on purpose.
# shellcheck disable=SC2016
unshare --mount --propagation private env \
    CHROOT="$chroot_dir" REPO="$repo" INNER="$inner" TARGETS="${targets[*]}" \
    bash -euc '
        mount --bind "$REPO" "$CHROOT/src"
        mount -t proc proc "$CHROOT/proc"
        exec chroot "$CHROOT" /usr/bin/env -i HOME=/root TARGETS="$TARGETS" \
            PATH=/usr/local/bin:/usr/bin:/bin LANG=C.UTF-8 bash -c "$INNER"
    '
echo "==> cross-check passed for: ${targets[*]} ($((SECONDS - start)) s)"
