// SPDX-License-Identifier: GPL-2.0
/*
 * Issues NVMe passthrough ioctls with deliberately bad arguments and prints the outcome, for
 * the VM test of the driver's ioctl error paths (tests/vm/t-ioctl.sh). Built statically on the
 * host and copied into the guest.
 *
 * usage: nvme-ioctl-probe CASE DEV
 *   id        NVME_IOCTL_ID
 *   identify  a valid Identify Controller
 *   badstruct the command structure itself at an unmapped address
 *   baddata   a valid command whose data buffer is unmapped
 *   biglen    a 16 MiB data length, with a mapped 16 MiB buffer (so only the length is wrong)
 *   meta      a metadata buffer (not supported)
 *   flags     non-zero command flags
 *   unpriv    a valid Identify Controller after dropping to uid/gid 65534 (allowed)
 *   unpriv-log  Get Log Page (SMART) after dropping to uid/gid 65534 (not allowed)
 *   setfeat-nq  Set Features Number of Queues (never allowed: the driver owns it)
 * I/O commands (NVME_IOCTL_IO_CMD; a disk node with 512-byte blocks):
 *   io-read   read 4 KiB at LBA 0 (prints a checksum of the data)
 *   io-write  write a 4 KiB pattern at LBA 2048 (the file is opened read-only)
 *   io-readback  read 4 KiB at LBA 2048 and check the io-write pattern
 *   io-oor    read past the end of the namespace (an NVMe status, returned positive)
 *   io-badstruct, io-baddata, io-biglen, io-meta, io-flags  as above, for an I/O read
 *   io-unpriv-read   io-read after dropping to uid/gid 65534 (allowed)
 *   io-unpriv-write  io-write after dropping to uid/gid 65534 (not allowed: read-only open)
 *   pattern   print the io-write data on stdout (DEV is not used)
 *   vec-io    O_DIRECT pwritev then preadv of 8 x 512 bytes, each piece in its own page at
 *             offset 512: one request whose segments have gaps inside a controller page
 *             (PRPs cannot describe it); prints "ret=0 errno=0 vec=ok" when the data reads back
 * Prints "ret=N errno=E" (E is 0 when the call succeeded).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/uio.h>
#include <unistd.h>

#include "nvme-uapi.h"

static char buf[4096];

/* A mapped, touched 16 MiB buffer: a length that is too large, not a bad pointer. */
static void *big_buffer(void)
{
	void *p = malloc(16 << 20);

	if (!p) {
		perror("malloc");
		exit(2);
	}
	memset(p, 0, 16 << 20);
	return p;
}

static void drop_privileges(void)
{
	if (setgid(65534) || setuid(65534)) {
		perror("setuid");
		exit(2);
	}
}

/* The io-write pattern: a byte function of the offset. */
static char pattern(int i)
{
	return (char)(i * 7 + 3);
}

static int vec_io(const char *dev)
{
	static char out[8][4096] __attribute__((aligned(4096)));
	static char in[8][4096] __attribute__((aligned(4096)));
	struct iovec wv[8], rv[8];
	ssize_t n;
	int fd, i, j;

	fd = open(dev, O_RDWR | O_DIRECT);
	if (fd < 0) {
		printf("ret=-1 errno=%d (open)\n", errno);
		return 0;
	}
	for (i = 0; i < 8; i++) {
		for (j = 0; j < 512; j++)
			out[i][512 + j] = (char)(i * 31 + j);
		wv[i].iov_base = &out[i][512];
		wv[i].iov_len = 512;
		rv[i].iov_base = &in[i][512];
		rv[i].iov_len = 512;
	}
	n = pwritev(fd, wv, 8, 1 << 20);
	if (n != 4096) {
		printf("ret=%zd errno=%d (pwritev)\n", n, n < 0 ? errno : 0);
		return 0;
	}
	n = preadv(fd, rv, 8, 1 << 20);
	if (n != 4096) {
		printf("ret=%zd errno=%d (preadv)\n", n, n < 0 ? errno : 0);
		return 0;
	}
	for (i = 0; i < 8; i++)
		if (memcmp(&in[i][512], &out[i][512], 512)) {
			printf("ret=0 errno=0 vec=bad (piece %d)\n", i);
			return 0;
		}
	printf("ret=0 errno=0 vec=ok\n");
	return 0;
}

static int io_case(int fd, const char *what)
{
	struct passthru c;
	unsigned int sum = 0;
	int ret, i, write = 0;

	memset(&c, 0, sizeof(c));
	c.opcode = 0x02; /* Read */
	c.nsid = 1;
	c.addr = (uintptr_t)buf;
	c.data_len = sizeof(buf);
	c.cdw12 = 7; /* 8 blocks of 512 bytes, 0's based */
	if (!strcmp(what, "io-write") || !strcmp(what, "io-unpriv-write")) {
		write = 1;
		c.opcode = 0x01; /* Write */
		c.cdw10 = 2048;
		for (i = 0; i < (int)sizeof(buf); i++)
			buf[i] = pattern(i);
	} else if (!strcmp(what, "io-readback")) {
		c.cdw10 = 2048;
	} else if (!strcmp(what, "io-oor")) {
		c.cdw10 = 0xfffffff0;
	} else if (!strcmp(what, "io-baddata")) {
		c.addr = 16;
	} else if (!strcmp(what, "io-biglen")) {
		c.data_len = 16 << 20;
		c.addr = (uintptr_t)big_buffer();
	} else if (!strcmp(what, "io-meta")) {
		c.metadata_len = 16, c.metadata = (uintptr_t)buf;
	} else if (!strcmp(what, "io-flags")) {
		c.flags = 1;
	} else if (strcmp(what, "io-read") && strcmp(what, "io-unpriv-read") &&
		   strcmp(what, "io-badstruct")) {
		fprintf(stderr, "unknown case %s\n", what);
		exit(2);
	}
	if (!strncmp(what, "io-unpriv", 9))
		drop_privileges();
	if (!strcmp(what, "io-badstruct"))
		ret = ioctl(fd, IOCTL_IO, (void *)16);
	else
		ret = ioctl(fd, IOCTL_IO, &c);
	printf("ret=%d errno=%d", ret, ret < 0 ? errno : 0);
	if (ret == 0 && !write) {
		for (i = 0; i < (int)sizeof(buf); i++)
			sum = sum * 31 + (unsigned char)buf[i];
		printf(" sum=%08x", sum);
	}
	if (ret == 0 && !strcmp(what, "io-readback")) {
		for (i = 0; i < (int)sizeof(buf) && buf[i] == pattern(i); i++)
			;
		printf(" pattern=%s", i == (int)sizeof(buf) ? "ok" : "bad");
	}
	printf("\n");
	return 0;
}

int main(int argc, char **argv)
{
	struct passthru c;
	const char *what;
	int fd, ret;

	if (argc != 3) {
		fprintf(stderr, "usage: %s CASE DEV\n", argv[0]);
		return 2;
	}
	what = argv[1];
	if (!strcmp(what, "pattern")) {
		/* The io-write data, raw on stdout, to compare with what the disk holds. */
		for (int i = 0; i < (int)sizeof(buf); i++)
			buf[i] = pattern(i);
		return fwrite(buf, sizeof(buf), 1, stdout) == 1 ? 0 : 1;
	}
	if (!strcmp(what, "vec-io"))
		return vec_io(argv[2]);
	fd = open(argv[2], O_RDONLY);
	if (fd < 0) {
		perror(argv[2]);
		return 2;
	}
	memset(&c, 0, sizeof(c));
	c.opcode = 0x06; /* Identify */
	c.cdw10 = 1;     /* CNS: controller */
	c.addr = (uintptr_t)buf;
	c.data_len = sizeof(buf);

	if (!strncmp(what, "io-", 3))
		return io_case(fd, what);
	if (!strcmp(what, "id")) {
		ret = ioctl(fd, IOCTL_ID);
	} else if (!strcmp(what, "badstruct")) {
		ret = ioctl(fd, IOCTL_ADMIN, (void *)16);
	} else {
		if (!strcmp(what, "baddata"))
			c.addr = 16;
		else if (!strcmp(what, "biglen")) {
			c.data_len = 16 << 20;
			c.addr = (uintptr_t)big_buffer();
		}
		else if (!strcmp(what, "meta"))
			c.metadata_len = 16, c.metadata = (uintptr_t)buf;
		else if (!strcmp(what, "flags"))
			c.flags = 1;
		else if (!strcmp(what, "unpriv"))
			drop_privileges();
		else if (!strcmp(what, "unpriv-log")) {
			drop_privileges();
			c.opcode = 0x02; /* Get Log Page */
			c.nsid = 0xffffffff;
			c.cdw10 = 0x02 | (127 << 16); /* SMART / Health, 512 bytes */
			c.data_len = 512;
		} else if (!strcmp(what, "setfeat-nq")) {
			c.opcode = 0x09; /* Set Features */
			c.cdw10 = 0x07;  /* Number of Queues */
			c.cdw11 = 0;
			c.addr = 0;
			c.data_len = 0;
		} else if (strcmp(what, "identify")) {
			fprintf(stderr, "unknown case %s\n", what);
			return 2;
		}
		ret = ioctl(fd, IOCTL_ADMIN, &c);
	}
	printf("ret=%d errno=%d", ret, ret < 0 ? errno : 0);
	if (!strcmp(what, "identify") && ret == 0)
		printf(" vid=%02x%02x", (unsigned char)buf[1], (unsigned char)buf[0]);
	printf("\n");
	return 0;
}
