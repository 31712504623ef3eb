//! Links the system libunbound. Debian and Ubuntu: `apt-get install libunbound-dev` (its
//! pkg-config file names libevent's, so `libevent-dev` comes with it; without pkg-config the
//! library is linked by name if it is in a standard directory).

fn main() {
    println!("cargo:rerun-if-env-changed=PKG_CONFIG_PATH");
    if pkg_config::Config::new()
        .atleast_version("1.13")
        .probe("libunbound")
        .is_ok()
    {
        return;
    }
    let dirs = [
        "/usr/lib/x86_64-linux-gnu",
        "/usr/lib/aarch64-linux-gnu",
        "/usr/lib64",
        "/usr/lib",
        "/usr/local/lib",
    ];
    if dirs
        .iter()
        .any(|d| std::path::Path::new(d).join("libunbound.so").exists())
    {
        println!("cargo:rustc-link-lib=unbound");
        return;
    }
    panic!(
        "\n\nmxdane needs libunbound (NLnet Labs' DNSSEC validator library), version 1.13 or newer.\n\
         On Debian or Ubuntu: apt-get install libunbound-dev libevent-dev pkg-config\n\
         On Fedora: dnf install unbound-devel; on Alpine: apk add unbound-dev\n\n"
    );
}
