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
 *   biglen    a 16 MiB data length
 *   meta      a metadata buffer (not supported)
 *   flags     non-zero command flags
 *   unpriv    a valid Identify after dropping to uid/gid 65534
 * Prints "ret=N errno=E" (E is 0 when the call succeeded).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

struct passthru {
	uint8_t opcode, flags;
	uint16_t rsvd1;
	uint32_t nsid, cdw2, cdw3;
	uint64_t metadata, addr;
	uint32_t metadata_len, data_len;
	uint32_t cdw10, cdw11, cdw12, cdw13, cdw14, cdw15;
	uint32_t timeout_ms, result;
};

#define IOCTL_ID _IO('N', 0x40)
#define IOCTL_ADMIN _IOWR('N', 0x41, struct passthru)

static char buf[4096];

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

	if (!strcmp(what, "id")) {
		ret = ioctl(fd, IOCTL_ID);
	} else if (!strcmp(what, "badstruct")) {
		ret = ioctl(fd, IOCTL_ADMIN, (void *)16);
	} else {
		if (!strcmp(what, "baddata"))
			c.addr = 16;
		else if (!strcmp(what, "biglen"))
			c.data_len = 16 << 20;
		else if (!strcmp(what, "meta"))
			c.metadata_len = 16, c.metadata = (uintptr_t)buf;
		else if (!strcmp(what, "flags"))
			c.flags = 1;
		else if (!strcmp(what, "unpriv")) {
			if (setgid(65534) || setuid(65534)) {
				perror("setuid");
				return 2;
			}
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
