# SPDX-License-Identifier: GPL-2.0
#
# rust-nvme: an NVMe PCIe block driver in Rust, built out of tree.
#
#   make            build rust_nvme.ko against KDIR (default: the cached test kernel)
#   make setup      install tools and build the cached test kernel (idempotent)
#   make demo       set up if needed, boot QEMU with an emulated NVMe, load the module
#   make test       host tests, clippy, rustfmt and the VM tests
#   make test-debug the same on the debug kernel (KASAN, lockdep, DMA-API debug, kmemleak)
#   make kunit-module  the module with its KUnit suites, in build/kunit (make test loads it)
#   make clippy     build with clippy, warnings are errors
#   make fmt        rustfmt the sources (FMT_CHECK=1: check only)
#   make profile    guest kernel instructions per I/O, nvme vs rust_nvme (bench/profile/README.md)
#   make scale      bring-up time and memory at 1 to 256 namespaces, 1 to 8 vCPUs, nvme vs rust_nvme
#   make print-kdir print the kernel build directory in use
#   make install-udev  install udev/61-rust-nvme.rules (/dev/disk/by-id links; DESTDIR= honoured)
#   make uninstall-udev  remove them
#   make matrix     make test on every supported kernel (7.2, 7.3), one summary line each
#   make proptest   host property tests of the device data parsers, 1000000 inputs each (release)
#   make fuzz-passthru  300000 random passthrough ioctls, ours and C's (FUZZ_COUNT=, FUZZ_SEED=)
#   make blktests BLKTESTS=/path/to/blktests
#                   blktests' block and nvme device tests on our disk and on the C driver's
#
# KVER=7.2 selects the Linux 7.2 test kernel for make, setup, demo, test, clippy, fmt and
# print-kdir (default 7.3; scripts read it as RNVME_KVER).

LLVM ?= -19
KVER ?= $(or $(RNVME_KVER),7.3)
export RNVME_KVER := $(KVER)
KDIR ?= $(shell RNVME_KVER=$(KVER) $(CURDIR)/scripts/kdir.sh)
SRCS := $(wildcard *.rs glue/*.rs glue/*/*.rs glue/*/*/*.rs nvme/*.rs)

.PHONY: all module kunit-module setup demo test test-debug matrix clippy fmt print-kdir clean check-kdir bench scale soak profile blktests fuzz-passthru proptest install-udev uninstall-udev

all: module

check-kdir:
	@$(CURDIR)/scripts/check-kdir.sh "$(KDIR)"

module: check-kdir
	$(MAKE) -C "$(KDIR)" M="$(CURDIR)" LLVM=$(LLVM) modules

# A copy of the sources (modification times kept, so only changes rebuild), built in place:
# Kbuild's separate output directory (MO=) wants a source tree without build products.
kunit-module: check-kdir
	@mkdir -p build/kunit
	@cp -p Kbuild *.rs build/kunit/ && cp -rp glue nvme build/kunit/
	$(MAKE) -C "$(KDIR)" M="$(CURDIR)/build/kunit" LLVM=$(LLVM) RNVME_KUNIT=1 modules

clippy: check-kdir
	@rm -f rust_nvme.o
	$(MAKE) -C "$(KDIR)" M="$(CURDIR)" LLVM=$(LLVM) CLIPPY=1 KRUSTFLAGS=-Dwarnings modules

fmt:
	@$(CURDIR)/scripts/fmt.sh $(if $(FMT_CHECK),--check)

setup:
	@$(CURDIR)/scripts/setup.sh

demo:
	@$(CURDIR)/scripts/demo.sh

test:
	@$(CURDIR)/tests/run.sh

test-debug:
	@RNVME_VARIANT=debug $(CURDIR)/tests/run.sh

install-udev:
	@$(CURDIR)/scripts/udev-rules.sh install

uninstall-udev:
	@$(CURDIR)/scripts/udev-rules.sh remove

matrix:
	@$(CURDIR)/tests/matrix.sh

bench:
	@$(CURDIR)/bench/bench.sh

scale:
	@$(CURDIR)/bench/scale.sh

soak: module
	@HOTUNPLUG_ROUNDS=$${HOTUNPLUG_ROUNDS:-10} $(CURDIR)/tests/vm/t-hotunplug.sh
	@SUSPEND_S3=1 SUSPEND_CYCLES=$${SUSPEND_CYCLES:-20} $(CURDIR)/tests/vm/t-suspend.sh
	@$(CURDIR)/bench/soak.sh

profile:
	@$(CURDIR)/bench/profile.sh

# Not part of 'make test': it needs a blktests checkout (BLKTESTS=) and takes minutes.
blktests:
	@BLKTESTS="$(BLKTESTS)" KDIR="$(KDIR)" $(CURDIR)/tests/blktests.sh

# Not part of 'make test' (which runs the same test with 30000 calls and seed 1): a new seed
# each run unless FUZZ_SEED= is given; the test prints it. RNVME_VARIANT=debug: the debug kernel.
fuzz-passthru:
	@$(MAKE) --no-print-directory module
	@FUZZ_COUNT=$${FUZZ_COUNT:-300000} FUZZ_SEED=$${FUZZ_SEED:-$$(date +%s)} \
		$(CURDIR)/tests/vm/t-passthru-fuzz.sh

# Not part of 'make test' (whose host tests run 20000 inputs per parser in debug): a million
# random and adversarial inputs per parser of device data, in release mode with overflow checks;
# prints per parser the inputs run and the time taken. RNVME_PROP_ITERS= sets the count.
proptest:
	@RNVME_PROP_ITERS=$${RNVME_PROP_ITERS:-1000000} cargo test --release \
		--manifest-path $(CURDIR)/tests/host/Cargo.toml prop_ -- --nocapture

print-kdir:
	@echo "$(KDIR)"

clean:
	@if [ -d "$(KDIR)" ]; then $(MAKE) -C "$(KDIR)" M="$(CURDIR)" LLVM=$(LLVM) clean; fi
	rm -rf tests/host/target
