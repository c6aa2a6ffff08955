// SPDX-License-Identifier: GPL-2.0
/*
 * Loads a kernel and an initramfs with kexec_file_load() and reboots into them
 * (LINUX_REBOOT_CMD_KEXEC), for tests/vm/t-poweroff.sh: the guest has no kexec-tools. The
 * kernel then runs every device's shutdown callback before it jumps, as at a reboot.
 *
 * usage: kexec-reboot KERNEL INITRD CMDLINE
 * Returns only on failure (exit 1, the failing call on stderr).
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <linux/reboot.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	int kfd, ifd;

	if (argc != 4) {
		fprintf(stderr, "usage: kexec-reboot KERNEL INITRD CMDLINE\n");
		return 2;
	}
	kfd = open(argv[1], O_RDONLY | O_CLOEXEC);
	ifd = open(argv[2], O_RDONLY | O_CLOEXEC);
	if (kfd < 0 || ifd < 0) {
		perror("open");
		return 1;
	}
	/* The command line's length counts its terminating NUL. */
	if (syscall(SYS_kexec_file_load, kfd, ifd, strlen(argv[3]) + 1, argv[3], 0UL)) {
		perror("kexec_file_load");
		return 1;
	}
	sync();
	syscall(SYS_reboot, LINUX_REBOOT_MAGIC1, LINUX_REBOOT_MAGIC2, LINUX_REBOOT_CMD_KEXEC, NULL);
	perror("reboot(LINUX_REBOOT_CMD_KEXEC)");
	return 1;
}
