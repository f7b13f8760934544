# daxfs — a DAX filesystem for persistent memory, in Rust for Linux.
#
#   make run    build everything, boot the VM with daxfs mounted -o dax on /mnt
#               (CMD="..." runs a command there instead of a shell)
#   make test   host tests + the in-VM suite + 20 power-cut cycles (what CI runs)
#   make crashtest   the power-cut test alone, CYCLES=200 by default
#   make crashstates every crash state of every 1- and 2-operation workload
#               (recorder module; docs/testing.md "Crash states")
#   make fuzz   the structure-aware fuzzer alone (VM test 042), N=2000 images
#               from SEED=1 by default, SKIP=seed,seed... to get past known bugs
#   make bench  daxfs vs ext4-DAX, XFS-DAX and raw pmem in one VM run
#               (results/bench.md, .csv, .json, bench-ratios.png; docs/bench.md)
#   make xfstests    run YOUR xfstests build in the VM (XFSTESTS=/host/...,
#               ARGS="generic/074" or ARGS="-g dax"; see tests/xfstests/)
#
# DEBUG=1 uses the KASAN + lockdep kernel variant.  KERNEL_SRC=/path builds
# against your own Linux 7.3 tree.  Everything expensive is cached in
# $${XDG_CACHE_HOME:-~/.cache}/daxfs (see docs/build.md).
SHELL := /bin/bash
DEBUG ?= 0
KVARIANT := $(if $(filter 1,$(DEBUG)),debug,release)
export KVARIANT CMD KERNEL_SRC DAXFS_CACHE

.PHONY: all toolchain kernel module tools rootfs run test crashtest crashstates fuzz xfstests bench clean distclean

all: module tools

toolchain:
	@scripts/toolchain.sh

kernel: toolchain
	@scripts/kernel.sh $(KVARIANT)

module: kernel
	@scripts/module.sh

tools: toolchain
	@scripts/tools.sh build

rootfs:
	@scripts/rootfs.sh >/dev/null

run: all rootfs
	@scripts/vm.sh run

test: all rootfs
	@scripts/test.sh

# The power-cut test alone, long: CYCLES=200 SEED=1 by default.
crashtest: all rootfs
	@scripts/crashtest.sh $${CYCLES:-200} $${SEED:-1}

# Crash states of every 1- and 2-operation workload (scripts/crashstates.sh;
# make test runs a bounded share).  BUDGET: states per crash point.
crashstates: all rootfs
	@CS_BUDGET=$${BUDGET:-256} scripts/crashstates.sh full

# Hostile images that pass their checksums, long: VM test 042 alone with
# N images from SEED but SKIP (the guest gets them on the kernel command line).
fuzz: all rootfs
	@n=$${N:-2000}; DAXFS_TESTS=042 KERNEL_CMDLINE="FUZZ_N=$$n FUZZ_SEED=$${SEED:-1} FUZZ_SKIP=$${SKIP:-}" \
	  VM_TIMEOUT=$${VM_TIMEOUT:-$$((900 + n * 10))} scripts/vm.sh test

bench: all rootfs
	@scripts/bench.sh

# xfstests is not part of this project: point XFSTESTS at an installation
# visible in the guest (the project directory is /host there).
xfstests: all rootfs
	@VM_TIMEOUT=$${VM_TIMEOUT:-36000} CMD="cd / && XFSTESTS=$${XFSTESTS:-/host/build/xfstests} CONFIG=$${CONFIG:-local.config} bash /host/tests/xfstests/run.sh $${ARGS:--g dax}" scripts/vm.sh run

clean:
	rm -rf build target dax_fs.ko *.o fs/*.o rust/*.o rust/bindings_generated.rs \
	  .*.cmd fs/.*.cmd rust/.*.cmd *.mod *.mod.c modules.order Module.symvers

# Also forget the cached toolchain, kernel builds and guest images.
distclean: clean
	rm -rf "$${DAXFS_CACHE:-$${XDG_CACHE_HOME:-$$HOME/.cache}/daxfs}"
