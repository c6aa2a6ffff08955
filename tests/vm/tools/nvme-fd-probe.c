// SPDX-License-Identifier: GPL-2.0
/*
 * One NVMe passthrough ioctl (or block ioctl, or read) on a descriptor, with every field
 * chosen on the command line, and a one-word outcome: for the VM tests of who may send what
 * (tests/vm/t-passthru-rules.sh) and of descriptors held open across the removal of their
 * disk or controller (tests/vm/t-handle-lifetime.sh). Built statically on the host and copied
 * into the guest.
 *
 * usage: nvme-fd-probe [-u UID] (-f FD | -o PATH | -w PATH) ACTION [FIELD=VALUE...]
 *        nvme-fd-probe [-u UID] exec COMMAND [ARG...]
 *   -u UID   setgid/setuid to UID first (no capabilities left), before any open
 *   -f FD    use descriptor FD inherited from the shell ('exec 3</dev/rnvme0n1'): the file
 *            that was opened then, not a new open of the same path
 *   -o PATH  open PATH read-only; -w PATH  open PATH read-write
 * ACTION:
 *   id       NVME_IOCTL_ID                        prints "ok id=N"
 *   size     BLKGETSIZE64                         prints "ok size=BYTES"
 *   read     pread() of 4 KiB at offset 0         prints "ok bytes=N"
 *   io io64 admin admin64
 *            NVME_IOCTL_IO_CMD, NVME_IOCTL_IO64_CMD, NVME_IOCTL_ADMIN_CMD, NVME_IOCTL_ADMIN64_CMD
 *            with FIELDS opc= nsid= cdw2= cdw3= cdw10= ... cdw15= (numbers, 0x for hex),
 *            len= (data_len and the size of the data buffer; 0: no buffer, addr 0),
 *            fill=BYTE (the buffer's contents before the call; default 0),
 *            check=BYTE (after the call the first len bytes must all be BYTE: " data=ok"
 *            or " data=bad"). The buffer starts a page of its own and the rest of that page
 *            is filled with 0x5a: when the device wrote past len, " spill=N" says how many
 *            of those bytes changed.
 *   exec     run COMMAND (after -u), for nvme-cli as an unprivileged user
 * Outcome, one line: "ok" (ioctl returned 0), "status=0xNNNN" (a positive NVMe status),
 * "ret=N" (another positive value), or the errno's name ("EACCES", "EINVAL", "ENODEV", ...).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include "nvme-uapi.h"

#define BLKGETSIZE64_ _IOR(0x12, 114, size_t)

#define GUARD 0x5a
#define REGION (64 << 10)

static const char *errname(int e)
{
	static char other[32];

	switch (e) {
	case EACCES: return "EACCES";
	case EPERM: return "EPERM";
	case EINVAL: return "EINVAL";
	case ENODEV: return "ENODEV";
	case ENXIO: return "ENXIO";
	case EIO: return "EIO";
	case EFAULT: return "EFAULT";
	case ENOTTY: return "ENOTTY";
	case EBADF: return "EBADF";
	case ENOENT: return "ENOENT";
	case ENODATA: return "ENODATA";
	case ETIMEDOUT: return "ETIMEDOUT";
	case EINTR: return "EINTR";
	case EBUSY: return "EBUSY";
	case EOPNOTSUPP: return "EOPNOTSUPP";
	}
	snprintf(other, sizeof(other), "errno=%d", e);
	return other;
}

static void usage(void)
{
	fprintf(stderr, "usage: nvme-fd-probe [-u UID] (-f FD | -o PATH | -w PATH) ACTION [FIELD=VALUE...]\n"
			"       nvme-fd-probe [-u UID] exec COMMAND [ARG...]\n");
	exit(2);
}

static uint32_t number(const char *s)
{
	char *end;
	unsigned long long v = strtoull(s, &end, 0);

	if (!*s || *end || v > 0xffffffffull) {
		fprintf(stderr, "not a 32-bit number: %s\n", s);
		exit(2);
	}
	return (uint32_t)v;
}

int main(int argc, char **argv)
{
	struct passthru64 c = { 0 };
	int fd = -1, opt, ret, fill = 0, check = -1;
	uint32_t len = 0;
	const char *action;
	unsigned char *buf;

	while ((opt = getopt(argc, argv, "+u:f:o:w:")) != -1) {
		switch (opt) {
		case 'u':
			if (setgroups(0, NULL) || setgid(number(optarg)) || setuid(number(optarg))) {
				perror("setuid");
				return 2;
			}
			break;
		case 'f':
			fd = (int)number(optarg);
			break;
		case 'o':
		case 'w':
			fd = open(optarg, opt == 'o' ? O_RDONLY : O_RDWR);
			if (fd < 0) {
				printf("open %s\n", errname(errno));
				return 0;
			}
			break;
		default:
			usage();
		}
	}
	if (optind >= argc)
		usage();
	action = argv[optind++];
	if (!strcmp(action, "exec")) {
		if (optind >= argc)
			usage();
		execv(argv[optind], &argv[optind]);
		perror(argv[optind]);
		return 127;
	}
	if (fd < 0)
		usage();
	for (; optind < argc; optind++) {
		char *k = argv[optind], *v = strchr(k, '=');

		if (!v)
			usage();
		*v++ = 0;
		if (!strcmp(k, "opc")) c.opcode = (uint8_t)number(v);
		else if (!strcmp(k, "nsid")) c.nsid = number(v);
		else if (!strcmp(k, "cdw2")) c.cdw2 = number(v);
		else if (!strcmp(k, "cdw3")) c.cdw3 = number(v);
		else if (!strcmp(k, "cdw10")) c.cdw10 = number(v);
		else if (!strcmp(k, "cdw11")) c.cdw11 = number(v);
		else if (!strcmp(k, "cdw12")) c.cdw12 = number(v);
		else if (!strcmp(k, "cdw13")) c.cdw13 = number(v);
		else if (!strcmp(k, "cdw14")) c.cdw14 = number(v);
		else if (!strcmp(k, "cdw15")) c.cdw15 = number(v);
		else if (!strcmp(k, "len")) len = number(v);
		else if (!strcmp(k, "fill")) fill = (int)number(v) & 0xff;
		else if (!strcmp(k, "check")) check = (int)number(v) & 0xff;
		else {
			fprintf(stderr, "unknown field %s\n", k);
			return 2;
		}
	}
	if (len > REGION - 4096) {
		fprintf(stderr, "len %u is more than this tool's buffer\n", len);
		return 2;
	}
	buf = mmap(NULL, REGION, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (buf == MAP_FAILED) {
		perror("mmap");
		return 2;
	}
	memset(buf, fill, len);
	memset(buf + len, GUARD, REGION - len);

	if (!strcmp(action, "id")) {
		ret = ioctl(fd, IOCTL_ID);
		if (ret < 0)
			printf("%s\n", errname(errno));
		else
			printf("ok id=%d\n", ret);
		return 0;
	}
	if (!strcmp(action, "size")) {
		uint64_t size;

		if (ioctl(fd, BLKGETSIZE64_, &size) < 0)
			printf("%s\n", errname(errno));
		else
			printf("ok size=%llu\n", (unsigned long long)size);
		return 0;
	}
	if (!strcmp(action, "read")) {
		ssize_t n = pread(fd, buf, 4096, 0);

		if (n < 0)
			printf("%s\n", errname(errno));
		else
			printf("ok bytes=%zd\n", n);
		return 0;
	}

	c.data_len = len;
	c.addr = len ? (uintptr_t)buf : 0;
	if (!strcmp(action, "io64")) {
		ret = ioctl(fd, IOCTL_IO64, &c);
	} else if (!strcmp(action, "admin64")) {
		ret = ioctl(fd, IOCTL_ADMIN64, &c);
	} else if (!strcmp(action, "io") || !strcmp(action, "admin")) {
		struct passthru s;

		memcpy(&s, &c, offsetof(struct passthru, timeout_ms));
		s.timeout_ms = 0;
		s.result = 0;
		ret = ioctl(fd, !strcmp(action, "io") ? IOCTL_IO : IOCTL_ADMIN, &s);
	} else {
		fprintf(stderr, "unknown action %s\n", action);
		return 2;
	}
	if (ret < 0)
		printf("%s", errname(errno));
	else if (ret == 0)
		printf("ok");
	else if (ret < 0x10000)
		printf("status=0x%04x", ret);
	else
		printf("ret=%d", ret);
	if (ret >= 0 && check >= 0) {
		uint32_t i;

		for (i = 0; i < len && buf[i] == check; i++)
			;
		printf(" data=%s", i == len ? "ok" : "bad");
	}
	if (ret >= 0) {
		/* Bytes of the buffer's page (and the next page) past len that the device wrote. */
		uint32_t i, spill = 0, end = (len / 4096 + 2) * 4096;

		for (i = len; i < end; i++)
			spill += buf[i] != GUARD;
		if (spill)
			printf(" spill=%u", spill);
	}
	printf("\n");
	return 0;
}
