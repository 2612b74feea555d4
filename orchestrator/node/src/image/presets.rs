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
    "sh", "httpd", "sleep", "cat", "echo", "wget", "nc", "ls", "env", "true", "false", "nslookup",
    "seq", "hostname", "mkdir", "ps", "kill", "grep", "ip", "ping", "tail", "head", "wc", "sort",
    "uniq", "printf", "sed", "date", "rm", "touch",
];

/// The pause (sandbox) image: `busybox` (a static binary on the host) at
/// `/bin/busybox`, entrypoint [`PAUSE_ENTRYPOINT`], `PATH=/bin`.
pub fn pause_image(busybox: &Path, reference: &str) -> Result<ImageBuilder, ImageError> {
    Ok(ImageBuilder::new(reference)
        .binary(busybox, BUSYBOX_AT)?
        .entrypoint(PAUSE_ENTRYPOINT.iter().copied())
        .env("PATH", "/bin"))
}

/// A small general-purpose image: `busybox` at `/bin/busybox`, the
/// [`BUSYBOX_APPLETS`] as symbolic links to it in `/bin`, `PATH=/bin`,
/// `Cmd ["sh"]`.
pub fn busybox_image(busybox: &Path, reference: &str) -> Result<ImageBuilder, ImageError> {
    let mut image = ImageBuilder::new(reference).binary(busybox, BUSYBOX_AT)?;
    for applet in BUSYBOX_APPLETS {
        image = image.symlink(&format!("/bin/{applet}"), "busybox")?;
    }
    Ok(image.env("PATH", "/bin").cmd(["sh"]))
}
