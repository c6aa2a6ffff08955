/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The NVMe passthrough ioctl ABI of Linux (include/uapi/linux/nvme_ioctl.h), for the test
 * tools: the command structures and the ioctl numbers. Written out here so the tools build
 * with any libc headers.
 */
#ifndef RNVME_TEST_UAPI_H
#define RNVME_TEST_UAPI_H

#include <stdint.h>
#include <sys/ioctl.h>

/* struct nvme_passthru_cmd (struct nvme_admin_cmd) */
struct passthru {
	uint8_t opcode, flags;
	uint16_t rsvd1;
	uint32_t nsid, cdw2, cdw3;
	uint64_t metadata, addr;
	uint32_t metadata_len, data_len;
	uint32_t cdw10, cdw11, cdw12, cdw13, cdw14, cdw15;
	uint32_t timeout_ms, result;
};

/* struct nvme_passthru_cmd64 */
struct passthru64 {
	uint8_t opcode, flags;
	uint16_t rsvd1;
	uint32_t nsid, cdw2, cdw3;
	uint64_t metadata, addr;
	uint32_t metadata_len, data_len;
	uint32_t cdw10, cdw11, cdw12, cdw13, cdw14, cdw15;
	uint32_t timeout_ms, rsvd2;
	uint64_t result;
};

/* struct nvme_user_io */
struct user_io {
	uint8_t opcode, flags;
	uint16_t control, nblocks, rsvd;
	uint64_t metadata, addr, slba;
	uint32_t dsmgmt, reftag;
	uint16_t apptag, appmask;
};


_Static_assert(sizeof(struct passthru) == 72, "struct nvme_passthru_cmd is 72 bytes");
_Static_assert(sizeof(struct passthru64) == 80, "struct nvme_passthru_cmd64 is 80 bytes");
_Static_assert(sizeof(struct user_io) == 48, "struct nvme_user_io is 48 bytes");

#define IOCTL_ID _IO('N', 0x40)
#define IOCTL_ADMIN _IOWR('N', 0x41, struct passthru)
#define IOCTL_SUBMIT_IO _IOW('N', 0x42, struct user_io)
#define IOCTL_IO _IOWR('N', 0x43, struct passthru)
#define IOCTL_RESET _IO('N', 0x44)
#define IOCTL_SUBSYS_RESET _IO('N', 0x45)
#define IOCTL_RESCAN _IO('N', 0x46)
#define IOCTL_ADMIN64 _IOWR('N', 0x47, struct passthru64)
#define IOCTL_IO64 _IOWR('N', 0x48, struct passthru64)
#define IOCTL_IO64_VEC _IOWR('N', 0x49, struct passthru64)

#endif
