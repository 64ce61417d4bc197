//! Just enough of the zip format to check what makes a release zip reproducible (entry names and order,
//! timestamps, modes, extra fields, read from the central directory and the local headers), and to write a
//! one-entry stored zip (a package with other contents).

/// One entry as the central directory (and its local header) describes it.
#[derive(Debug, PartialEq, Eq)]
pub struct Entry {
    pub name: String,
    /// High byte of "version made by": 3 = Unix (so `mode` is honoured on extraction).
    pub made_by_os: u8,
    /// 8 = deflate.
    pub method: u16,
    pub dos_date: u16,
    pub dos_time: u16,
    /// Unix mode (`external attributes >> 16`).
    pub mode: u32,
    pub central_extra_len: u16,
    pub local_extra_len: u16,
}

fn u16_at(b: &[u8], at: usize) -> u16 {
    u16::from_le_bytes([b[at], b[at + 1]])
}

fn u32_at(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

/// The entries of a zip archive, in central-directory order. Panics on anything but a plain zip.
pub fn entries(zip: &[u8]) -> Vec<Entry> {
    let eocd = (0..=zip.len().saturating_sub(22))
        .rev()
        .find(|&i| u32_at(zip, i) == 0x0605_4b50)
        .expect("end of central directory record");
    let count = usize::from(u16_at(zip, eocd + 10));
    let mut at = u32_at(zip, eocd + 16) as usize;
    let mut out = Vec::with_capacity(count);
    for _ in 0..count {
        assert_eq!(u32_at(zip, at), 0x0201_4b50, "central directory entry signature at {at}");
        let name_len = usize::from(u16_at(zip, at + 28));
        let extra_len = u16_at(zip, at + 30);
        let comment_len = usize::from(u16_at(zip, at + 32));
        let local = u32_at(zip, at + 42) as usize;
        assert_eq!(u32_at(zip, local), 0x0403_4b50, "local header signature at {local}");
        out.push(Entry {
            name: String::from_utf8_lossy(&zip[at + 46..at + 46 + name_len]).into_owned(),
            made_by_os: zip[at + 5],
            method: u16_at(zip, at + 10),
            dos_time: u16_at(zip, at + 12),
            dos_date: u16_at(zip, at + 14),
            mode: u32_at(zip, at + 38) >> 16,
            central_extra_len: extra_len,
            local_extra_len: u16_at(zip, local + 28),
        });
        at += 46 + name_len + usize::from(extra_len) + comment_len;
    }
    out
}

fn crc32(data: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &byte in data {
        crc ^= u32::from(byte);
        for _ in 0..8 {
            crc = if crc & 1 == 1 { (crc >> 1) ^ 0xedb8_8320 } else { crc >> 1 };
        }
    }
    !crc
}

/// A zip holding one stored (uncompressed) executable entry: keep `data` small (bitwise CRC).
pub fn stored_zip(name: &str, data: &[u8], epoch: i64) -> Vec<u8> {
    let (date, time) = dos_date_time(epoch);
    let crc = crc32(data);
    let size = u32::try_from(data.len()).expect("small entry");
    let name_len = u16::try_from(name.len()).expect("short name");
    let common = |out: &mut Vec<u8>| {
        for v in [20u16, 0, 0, time, date] {
            out.extend_from_slice(&v.to_le_bytes()); // version needed, flags, method (stored), time, date
        }
        for v in [crc, size, size] {
            out.extend_from_slice(&v.to_le_bytes());
        }
        out.extend_from_slice(&name_len.to_le_bytes());
        out.extend_from_slice(&0u16.to_le_bytes()); // extra length
    };
    let mut zip = 0x0403_4b50u32.to_le_bytes().to_vec();
    common(&mut zip);
    zip.extend_from_slice(name.as_bytes());
    zip.extend_from_slice(data);
    let central = u32::try_from(zip.len()).expect("small zip");
    zip.extend_from_slice(&0x0201_4b50u32.to_le_bytes());
    zip.extend_from_slice(&((3u16 << 8) | 20).to_le_bytes()); // made by Unix, zip 2.0
    common(&mut zip);
    for v in [0u16, 0, 0] {
        zip.extend_from_slice(&v.to_le_bytes()); // comment length, disk, internal attributes
    }
    zip.extend_from_slice(&(0o100755u32 << 16).to_le_bytes());
    zip.extend_from_slice(&0u32.to_le_bytes()); // local header offset
    zip.extend_from_slice(name.as_bytes());
    let central_len = u32::try_from(zip.len()).expect("small zip") - central;
    zip.extend_from_slice(&0x0605_4b50u32.to_le_bytes());
    for v in [0u16, 0, 1, 1] {
        zip.extend_from_slice(&v.to_le_bytes()); // disk, central directory disk, entries here, entries
    }
    zip.extend_from_slice(&central_len.to_le_bytes());
    zip.extend_from_slice(&central.to_le_bytes());
    zip.extend_from_slice(&0u16.to_le_bytes()); // comment length
    zip
}

/// The MS-DOS (date, time) a zip stores for a UTC Unix time (2-second resolution).
pub fn dos_date_time(epoch: i64) -> (u16, u16) {
    let days = epoch.div_euclid(86_400);
    let secs = epoch.rem_euclid(86_400);
    // Civil date from days since 1970-01-01 (H. Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    let date = ((year - 1980) << 9) | (month << 5) | day;
    let time = ((secs / 3600) << 11) | (((secs / 60) % 60) << 5) | ((secs % 60) / 2);
    (u16::try_from(date).expect("date after 1980"), u16::try_from(time).expect("time of day"))
}

#[test]
fn dos_date_time_of_known_instants() {
    // 1980-01-01T00:00:00Z, the first representable instant.
    assert_eq!(dos_date_time(315_532_800), ((1 << 5) | 1, 0));
    // 2024-02-29T13:45:58Z
    assert_eq!(dos_date_time(1_709_214_358), ((44 << 9) | (2 << 5) | 29, (13 << 11) | (45 << 5) | 29));
}

#[test]
fn crc32_check_value() {
    assert_eq!(crc32(b"123456789"), 0xcbf4_3926);
}

#[test]
fn stored_zip_reads_back() {
    let zip = stored_zip("a", b"hello", 315_532_800);
    let entries = entries(&zip);
    assert_eq!(entries.len(), 1);
    assert_eq!((entries[0].name.as_str(), entries[0].method, entries[0].mode), ("a", 0, 0o100755));
}
