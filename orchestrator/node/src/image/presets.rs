//! The two images every node needs, built from the host's static busybox.

use std::path::Path;

use super::{ImageBuilder, ImageError};

/// Where Debian's busybox-static puts its binary.
pub const BUSYBOX_STATIC: &str = "/bin/busybox";

/// Where the images put busybox.
pub const BUSYBOX_AT: &str = "/bin/busybox";

/// The pause image's entrypoint: sleep until killed.
pub const PAUSE_ENTRYPOINT: &[&str] = &["/bin/busybox", "sleep", "infinity"];

/// The applets [`busybox_image`] links in `/bin`.
pub const BUSYBOX_APPLETS: &[&str] = &[
    "sh",
    "httpd",
    "sleep",
    "cat",
    "echo",
    "wget",
    "nc",
    "ls",
    "env",
    "true",
    "false",
    "nslookup",
    "seq",
    "hostname",
    "mkdir",
    "ps",
    "kill",
    "grep",
    "ip",
    "ping",
    "tail",
    "head",
    "wc",
    "sort",
    "uniq",
    "printf",
    "sed",
    "date",
    "rm",
    "touch",
    "id",
    "whoami",
    "chmod",
    "chown",
    "cp",
    "mv",
    "ln",
    "cut",
    "tr",
    "awk",
    "xargs",
    "find",
    "tee",
    "stat",
    "du",
    "df",
    "uname",
    "dd",
    "test",
    "[",
    "expr",
    "basename",
    "dirname",
    "which",
    "vi",
    "mount",
    "tar",
    "gzip",
    "md5sum",
    "sha256sum",
    "nproc",
    "free",
    "uptime",
    "top",
    "netstat",
    "ifconfig",
    "ping6",
    "traceroute",
];

/// The directories of the public busybox image's layout (with their
/// modes) that programs expect: a world-writable, sticky `/tmp`, root's
/// home, `/home`, `/var` with its mail and www directories, `/etc`.
pub const BUSYBOX_DIRS: &[(&str, u32)] = &[
    ("/etc", 0o755),
    ("/home", 0o755),
    ("/root", 0o700),
    ("/tmp", 0o1777),
    ("/var", 0o755),
    ("/var/spool", 0o755),
    ("/var/spool/mail", 0o755),
    ("/var/www", 0o755),
];

/// `/etc/passwd` of [`busybox_image`]: the public busybox image's users.
pub const BUSYBOX_PASSWD: &str = "root:x:0:0:root:/root:/bin/sh
daemon:x:1:1:daemon:/usr/sbin:/bin/false
bin:x:2:2:bin:/bin:/bin/false
sys:x:3:3:sys:/dev:/bin/false
sync:x:4:100:sync:/bin:/bin/sync
mail:x:8:8:mail:/var/spool/mail:/bin/false
www-data:x:33:33:www-data:/var/www:/bin/false
operator:x:37:37:Operator:/var:/bin/false
nobody:x:65534:65534:nobody:/home:/bin/false
";

/// `/etc/group` of [`busybox_image`]: the public busybox image's groups.
pub const BUSYBOX_GROUP: &str = "root:x:0:
daemon:x:1:
bin:x:2:
sys:x:3:
adm:x:4:
tty:x:5:
disk:x:6:
lp:x:7:
mail:x:8:
kmem:x:9:
wheel:x:10:root
cdrom:x:11:
dialout:x:18:
floppy:x:19:
video:x:28:
audio:x:29:
tape:x:32:
www-data:x:33:
operator:x:37:
utmp:x:43:
plugdev:x:46:
staff:x:50:
lock:x:54:
netdev:x:82:
users:x:100:
nogroup:x:65534:
";

/// The pause (sandbox) image: `busybox` (a static binary on the host) at
/// `/bin/busybox`, entrypoint [`PAUSE_ENTRYPOINT`], `PATH=/bin`. Nothing
/// else: it only holds the pod's namespaces.
pub fn pause_image(busybox: &Path, reference: &str) -> Result<ImageBuilder, ImageError> {
    Ok(ImageBuilder::new(reference)
        .binary(busybox, BUSYBOX_AT)?
        .entrypoint(PAUSE_ENTRYPOINT.iter().copied())
        .env("PATH", "/bin"))
}

/// A small general-purpose image with the layout users know from the
/// public busybox image: `busybox` at `/bin/busybox`, the
/// [`BUSYBOX_APPLETS`] as symbolic links to it in `/bin`, the
/// [`BUSYBOX_DIRS`] (`/tmp` mode 1777, `/root` 0700, `/home`, `/var`),
/// `/etc/passwd` and `/etc/group` ([`BUSYBOX_PASSWD`], [`BUSYBOX_GROUP`]),
/// `PATH=/bin`, `Cmd ["sh"]`.
pub fn busybox_image(busybox: &Path, reference: &str) -> Result<ImageBuilder, ImageError> {
    let mut image = ImageBuilder::new(reference).binary(busybox, BUSYBOX_AT)?;
    for applet in BUSYBOX_APPLETS {
        image = image.symlink(&format!("/bin/{applet}"), "busybox")?;
    }
    for (dir, mode) in BUSYBOX_DIRS {
        image = image.dir(dir, *mode)?;
    }
    Ok(image
        .file("/etc/passwd", 0o644, BUSYBOX_PASSWD.as_bytes().to_vec())?
        .file("/etc/group", 0o644, BUSYBOX_GROUP.as_bytes().to_vec())?
        .env("PATH", "/bin")
        .cmd(["sh"]))
}
