// SPDX-License-Identifier: GPL-2.0

//! Tests of the Namespace Identification Descriptor list parsing.

use crate::nvme::ident::*;

fn desc(b: &mut [u8; IDENTIFY_SIZE], off: usize, nidt: u8, id: &[u8]) -> usize {
    b[off] = nidt;
    // CAST: test identifiers are short.
    b[off + 1] = id.len() as u8;
    b[off + 4..off + 4 + id.len()].copy_from_slice(id);
    off + 4 + id.len()
}

#[test]
fn descriptors_fill_every_identifier() {
    let mut b = [0u8; IDENTIFY_SIZE];
    let eui = [0x52, 0x54, 0, 0, 0, 0, 0, 1];
    let nguid = [7u8; 16];
    let uuid: [u8; 16] = core::array::from_fn(|i| i as u8 + 1);
    let mut off = desc(&mut b, 0, NIDT_EUI64, &eui);
    off = desc(&mut b, off, NIDT_NGUID, &nguid);
    desc(&mut b, off, NIDT_UUID, &uuid);
    let mut ids = NsIds::default();
    assert!(!ids.has_eui64() && !ids.has_nguid() && !ids.has_uuid());
    ids.add_descriptors(&b);
    assert_eq!(ids.eui64, eui);
    assert_eq!(ids.nguid, nguid);
    assert_eq!(ids.uuid, uuid);
    assert!(ids.has_eui64() && ids.has_nguid() && ids.has_uuid());
}

#[test]
fn descriptors_stop_and_skip() {
    let mut b = [0u8; IDENTIFY_SIZE];
    // A UUID descriptor with a wrong length is skipped, the list goes on after it.
    let mut off = desc(&mut b, 0, NIDT_UUID, &[1u8; 8]);
    off = desc(&mut b, off, 0x7f, &[9u8; 12]);
    let end = desc(&mut b, off, NIDT_UUID, &[3u8; 16]);
    // After a zero NIDT nothing is read.
    desc(&mut b, end + 4, NIDT_EUI64, &[5u8; 8]);
    let mut ids = NsIds::default();
    ids.add_descriptors(&b);
    assert_eq!(ids.uuid, [3u8; 16]);
    assert!(!ids.has_eui64());
}

#[test]
fn descriptor_running_off_the_end_is_ignored() {
    let mut b = [0u8; IDENTIFY_SIZE];
    b[IDENTIFY_SIZE - 6] = NIDT_NGUID;
    b[IDENTIFY_SIZE - 5] = 16;
    let mut ids = NsIds::default();
    ids.add_descriptors(&b);
    assert!(!ids.has_nguid());
}

#[test]
fn identifiers_print_as_linux_does() {
    struct S(std::string::String);
    impl core::fmt::Write for S {
        fn write_str(&mut self, s: &str) -> core::fmt::Result {
            self.0.push_str(s);
            Ok(())
        }
    }
    let mut s = S(std::string::String::new());
    write_hex(
        &mut s,
        &[0x52, 0x54, 0, 0x11, 0x22, 0x33, 0x44, 0x55],
        Some('-'),
    )
    .unwrap();
    assert_eq!(s.0, "52-54-00-11-22-33-44-55");
    s.0.clear();
    write_hex(&mut s, &[0xab, 0x01], None).unwrap();
    assert_eq!(s.0, "ab01");
    s.0.clear();
    let uuid = [
        0x6f, 0x2c, 0x5e, 0x0a, 0x1b, 0x2c, 0x4d, 0x3e, 0x8f, 0x90, 0xa1, 0xb2, 0xc3, 0xd4, 0xe5,
        0xf6,
    ];
    write_uuid(&mut s, &uuid).unwrap();
    assert_eq!(s.0, "6f2c5e0a-1b2c-4d3e-8f90-a1b2c3d4e5f6");
}

#[test]
fn command_set_identifier() {
    let mut b = [0u8; IDENTIFY_SIZE];
    let off = desc(&mut b, 0, NIDT_UUID, &[9u8; 16]);
    let off = desc(&mut b, off, NIDT_CSI, &[CSI_ZNS]);
    // A CSI descriptor of the wrong length is skipped.
    desc(&mut b, off, NIDT_CSI, &[CSI_KV, 0]);
    let mut ids = NsIds::default();
    ids.add_descriptors(&b);
    assert_eq!(ids.csi, Some(CSI_ZNS));
    assert_eq!(NsIds::default().csi, None);
}
